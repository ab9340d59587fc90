import {writeFileSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {InvalidArgumentError} from '../errors.js'
import {lint, type LintResult} from '../lint/index.js'
import {renderLint} from '../lint/render.js'
import {toSarif} from '../lint/sarif.js'

export default class Lint extends BaseCommand<typeof Lint> {
  static override summary = 'Find what will make a build irreproducible, in the Dockerfile, before the build.'
  static override description = `Reads each CONTEXT (its Dockerfile or Containerfile) or Dockerfile with one Dockerfile parser and reports
reproducibility hazards with stable rule ids (RL001-RL014), file:line:column, a message and a fix: unpinned
base images and # syntax=, package installs without a snapshot, pins or a hash file, unpinned pip/npm/yarn,
unchecked downloads and git clones, build-time values (date, $RANDOM, hostname), useradd, COPY . with .git,
caches and logs left in layers, timestamp .pyc. Disable a rule inline (# repro-lint ignore=RL003), in
.repro-lint.yaml (disable: [RL012]) or with --disable. Exit 0: nothing at or above --fail-on; 1: findings at or
above it; 2: an error (a Dockerfile that cannot be read or parsed).`

  static override examples = [
    '<%= config.bin %> lint .',
    '<%= config.bin %> lint --sarif lint.sarif .',
    '<%= config.bin %> lint --build-context base=oci-layout:///srv/base@sha256:0123... --fail-on error app/',
    '<%= config.bin %> lint --json --disable RL012 Dockerfile.prod',
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
  }

  async run(): Promise<LintResult> {
    const {flags} = this
    // strict = false: every argument is a target (oclif's argv holds them all, flags removed)
    const {argv} = await this.parse(Lint)
    const targets = argv.map(String)
    if (flags.sarif === '') throw new InvalidArgumentError('--sarif: give a file name')
    const result = lint({
      targets: targets.length > 0 ? targets : [this.args.target ?? '.'],
      cwd: process.cwd(),
      file: flags.file,
      buildContexts: flags['build-context'] ?? [],
      buildArgs: flags['build-arg'] ?? [],
      disable: flags.disable ?? [],
      failOn: flags['fail-on'] as LintResult['failOn'] | undefined,
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
