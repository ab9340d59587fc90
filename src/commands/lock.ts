import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {buildFlags} from '../engine/cli-flags.js'
import {realExec} from '../exec.js'
import {dockerConfigDir} from '../image/registry/credentials.js'
import {lock, type LockResult} from '../lock/index.js'
import {lockOptionsFrom} from '../lock/options.js'
import {renderLock} from '../ui/lock-text.js'

export default class Lock extends BaseCommand<typeof Lock> {
  static override summary = 'Pin every input of a build (images, ADD URLs, git sources, frontend) in repro.lock.yaml.'
  static override description = `Parses the Dockerfile (all stages the target needs, ARGs with their defaults and --build-arg) and
resolves every external input: images to their index and per-platform digests (from the registry), ADD URLs
to the sha256 of their bytes, ADD git sources to a commit, the # syntax= frontend, named contexts in a local
store to their registry digest. Writes repro.lock.yaml next to the Dockerfile (keeping pins it already has);
\`repro build\` then enforces it. --check exits 1 when an input moved and names it with old -> new;
--update [NAME...] re-resolves all inputs, or the ones named. Exit 0: written / up to date; 1: moved; 2: error.`

  static override examples = [
    '<%= config.bin %> lock .',
    '<%= config.bin %> lock --check .',
    '<%= config.bin %> lock --update . 127.0.0.1:5000/base:1',
    '<%= config.bin %> lock --build-arg TAG=2 --platform linux/amd64,linux/arm64 -f build/Dockerfile .',
  ]

  static override strict = false

  static override args = {
    context: Args.string({
      description: 'build context directory (then, with --update, the inputs to re-resolve)',
      default: '.',
    }),
  }

  static override flags = {
    file: buildFlags.file,
    'build-arg': buildFlags['build-arg'],
    'build-context': buildFlags['build-context'],
    target: buildFlags.target,
    platform: buildFlags.platform,
    hashfile: Flags.string({
      description: 'hash file used by the build (repeatable): its sha256 is locked',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'BUILD',
    }),
    'buildkit-image': buildFlags['buildkit-image'],
    sde: buildFlags.sde,
    datetime: buildFlags.datetime,
    'sde-from-git': buildFlags['sde-from-git'],
    lock: Flags.string({description: 'lock file (default: repro.lock.yaml next to the Dockerfile)', helpGroup: 'LOCK'}),
    check: Flags.boolean({
      description: 'resolve again and compare: exit 1 naming each input that moved (old -> new); writes nothing',
      exclusive: ['update'],
      helpGroup: 'LOCK',
    }),
    'plain-http': Flags.boolean({
      description: 'use http for every registry (default: only for localhost and 127.0.0.0/8)',
      helpGroup: 'LOCK',
    }),
    update: Flags.boolean({
      description: 're-resolve every input, or only the NAMEs given after the context',
      helpGroup: 'LOCK',
    }),
  }

  async run(): Promise<LockResult> {
    const {flags} = this
    // strict = false: the positional words after the context are --update's input names
    const {argv} = await this.parse(Lock)
    const options = await lockOptionsFrom(
      {
        cwd: process.cwd(),
        words: argv as string[],
        file: flags.file,
        lock: flags.lock,
        buildArgs: flags['build-arg'] ?? [],
        platforms: flags.platform ?? [],
        target: flags.target,
        buildContexts: flags['build-context'] ?? [],
        hashfiles: flags.hashfile ?? [],
        buildkitImage: flags['buildkit-image'],
        sde: flags.sde,
        datetime: flags.datetime,
        sdeFromGit: flags['sde-from-git'] ?? false,
        sdeEnv: process.env.REPRO_SOURCE_DATE_EPOCH,
        check: flags.check ?? false,
        update: flags.update ?? false,
      },
      realExec,
    )
    const result = await lock(options, {
      exec: realExec,
      logger: this.logger,
      registry: {dockerConfigDir: dockerConfigDir(process.env), plainHttp: flags['plain-http'] ?? false},
    })
    if (result.mode === 'check' && result.changes.length > 0) process.exitCode = 1
    if (!this.jsonEnabled()) this.out(renderLock(result))
    return result
  }
}
