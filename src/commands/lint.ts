import {writeFileSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {InvalidArgumentError} from '../errors.js'
import {realExec} from '../exec.js'
import {lintTargets, type LintResult} from '../lint/index.js'
import {renderLint} from '../lint/render.js'
import {toSarif} from '../lint/sarif.js'

export default class Lint extends BaseCommand<typeof Lint> {
  static override summary =
    'Find what will make a build irreproducible: in the Dockerfile before the build, in the image after it.'
  static override description = `Reads each CONTEXT (its Dockerfile or Containerfile) or Dockerfile with one Dockerfile parser and reports
reproducibility hazards with stable rule ids (RL001-RL014), file:line:column, a message and a fix: unpinned
base images and # syntax=, package installs without a snapshot, pins or a hash file, unpinned pip/npm/yarn,
unchecked downloads and git clones, build-time values (date, $RANDOM, hostname), useradd, COPY . with .git,
caches and logs left in layers, timestamp .pyc. Disable a rule inline (# repro-lint ignore=RL003), in
.repro-lint.yaml (disable: [RL012]) or with --disable.
An IMAGE target (an image archive or OCI layout, docker://, podman://, registry://; --image for a bare registry
reference) is scanned layer by layer for content that will not reproduce (RL101-RL110): times later than
SOURCE_DATE_EPOCH in text, gzip header mtimes, zip entry times, timestamp .pyc, logs, ldconfig's aux-cache,
/etc/machine-id, /etc/shadow change days, the build host name. Exit 0: nothing at or above --fail-on; 1:
findings at or above it; 2: an error (a Dockerfile that cannot be parsed, an image that cannot be read).`

  static override examples = [
    '<%= config.bin %> lint .',
    '<%= config.bin %> lint --sarif lint.sarif .',
    '<%= config.bin %> lint --build-context base=oci-layout:///srv/base@sha256:0123... --fail-on error app/',
    '<%= config.bin %> lint --json --disable RL012 Dockerfile.prod',
    '<%= config.bin %> lint image.tar',
    '<%= config.bin %> lint --base base.tar --sarif image.sarif docker://app:1',
  ]

  static override strict = false

  static override args = {
    target: Args.string({description: 'build context directory or Dockerfile (several allowed)', default: '.'}),
  }

  static override flags = {
    file: Flags.string({
      char: 'f',
      description: 'the Dockerfile inside a CONTEXT target (default: Dockerfile, then Containerfile)',
    }),
    'build-context': Flags.string({
      description:
        'NAME=VALUE as repro build takes it: FROM NAME is pinned when VALUE has @sha256: (or is a local directory); repeatable',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'build-arg': Flags.string({
      description:
        'NAME=VALUE: an ARG value, as repro build takes it (overrides the default in the Dockerfile); repeatable',
      multiple: true,
      multipleNonGreedy: true,
    }),
    disable: Flags.string({
      description: 'a rule id or name to skip; repeatable',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'fail-on': Flags.string({
      description: 'exit 1 when a finding has this severity or above (default: warning, or failOn in .repro-lint.yaml)',
      options: ['error', 'warning', 'info', 'none'],
    }),
    format: Flags.string({description: 'what stdout gets', options: ['text', 'json', 'sarif'], default: 'text'}),
    sarif: Flags.string({description: 'also write SARIF 2.1.0 (GitHub code scanning) to this file'}),
    image: Flags.boolean({
      description: 'every target is an image input (needed for a registry reference without registry://)',
    }),
    sde: Flags.integer({
      description: 'images: SOURCE_DATE_EPOCH to judge times against (default: the image config created time)',
      min: 0,
    }),
    base: Flags.string({
      description: 'images: the base image (any input); as many layers at the bottom are not scanned',
      exclusive: ['all-layers'],
    }),
    'all-layers': Flags.boolean({
      description:
        'images: scan every layer (default: leading layers without the buildkit/rewritten-timestamp annotation, below one with it, are the base image and skipped)',
    }),
    hostname: Flags.string({
      description:
        'images: a build host name to look for in text (buildkitsandbox and the config Hostname always are); repeatable',
      multiple: true,
      multipleNonGreedy: true,
    }),
    platform: Flags.string({description: 'images: scan only this platform (os/arch[/variant])'}),
    'plain-http': Flags.boolean({description: 'images: use http for registry references'}),
  }

  async run(): Promise<LintResult> {
    const {flags} = this
    // strict = false: every argument is a target (oclif's argv holds them all, flags removed)
    const {argv} = await this.parse(Lint)
    const targets = argv.map(String)
    if (flags.sarif === '') throw new InvalidArgumentError('--sarif: give a file name')
    const result = await lintTargets({
      targets: targets.length > 0 ? targets : [this.args.target ?? '.'],
      cwd: process.cwd(),
      file: flags.file,
      buildContexts: flags['build-context'] ?? [],
      buildArgs: flags['build-arg'] ?? [],
      disable: flags.disable ?? [],
      failOn: flags['fail-on'] as LintResult['failOn'] | undefined,
      forceImage: flags.image,
      sde: flags.sde,
      base: flags.base,
      allLayers: flags['all-layers'],
      hostnames: flags.hostname,
      platform: flags.platform,
      plainHttp: flags['plain-http'],
      exec: realExec,
      logger: this.logger,
    })
    if (flags.sarif) writeFileSync(flags.sarif, `${JSON.stringify(toSarif(result, this.config.version), null, 2)}\n`)
    if (result.failed) process.exitCode = 1
    if (!this.jsonEnabled()) {
      if (flags.format === 'sarif') this.out(JSON.stringify(toSarif(result, this.config.version), null, 2))
      else if (flags.format === 'json') this.out(JSON.stringify(result, null, 2))
      else this.out(renderLint(result))
    }
    return result
  }
}
