import path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {InvalidArgumentError} from '../../errors.js'
import {generateFiles, type GenerateResult, writeGenerated} from '../../hermetic/dockerfile.js'
import {resolveEpoch} from '../../hermetic/snapshot.js'

export default class DockerfileGenerate extends BaseCommand<typeof DockerfileGenerate> {
  static override summary =
    'Write a time-travel Dockerfile that pins packages into SHA256SUMS-<arch>, and one that installs them offline.'
  static override description = `Writes into DIR: Dockerfile.generate-hash (points the package manager at the snapshot of SOURCE_DATE_EPOCH,
installs PKG..., writes SHA256SUMS-<arch> of what the install added; needs the network), Dockerfile (installs
exactly those files with RUN --mount=from=repro-pkgs,target=/repro --network=none /repro/install; build it with
repro build --hashfile SHA256SUMS-<arch>), and the two sh scripts they mount (repro-scripts/). Debian, Ubuntu,
Fedora, Alpine, Arch. BASE must be pinned by digest (NAME[:TAG]@sha256:...).`

  static override examples = [
    '<%= config.bin %> dockerfile generate --datetime 2024-01-01 . debian:bookworm-20240110@sha256:<digest> gcc libc6-dev',
    '<%= config.bin %> dockerfile generate --sde 1704067200 out archlinux:base@sha256:<digest> git',
  ]

  static override args = {
    dir: Args.string({description: 'directory to write into (created if missing)', required: true}),
    base: Args.string({description: 'base image, pinned: NAME[:TAG]@sha256:DIGEST', required: true}),
  }

  static override strict = false

  static override flags = {
    sde: Flags.string({
      description: 'SOURCE_DATE_EPOCH in seconds (default: REPRO_SOURCE_DATE_EPOCH, else SOURCE_DATE_EPOCH)',
    }),
    datetime: Flags.string({description: 'SOURCE_DATE_EPOCH as an ISO 8601 date-time (UTC when no zone)'}),
    distro: Flags.string({
      description: 'distro of BASE (default: from the image name)',
      options: ['debian', 'ubuntu', 'fedora', 'alpine', 'arch'],
    }),
    'allow-unpinned': Flags.boolean({description: 'accept a BASE without @sha256: digest'}),
    force: Flags.boolean({description: 'overwrite existing files'}),
  }

  async run(): Promise<GenerateResult> {
    const {argv} = await this.parse(DockerfileGenerate)
    const {flags} = this
    const [dir, base, ...packages] = argv as string[]
    const e = resolveEpoch({
      sde: flags.sde,
      datetime: flags.datetime,
      env: {
        REPRO_SOURCE_DATE_EPOCH: process.env.REPRO_SOURCE_DATE_EPOCH,
        SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH,
      },
    })
    if (!e)
      throw new InvalidArgumentError(
        'no SOURCE_DATE_EPOCH: pass --sde N or --datetime ISO (the snapshot the packages are pinned from)',
      )
    const r = generateFiles({
      dir: path.resolve(dir),
      base,
      packages,
      distro: flags.distro,
      epoch: e.epoch,
      allowUnpinned: flags['allow-unpinned'],
    })
    if (!r.digest) this.logger.warn(`BASE ${base} is not pinned by digest (--allow-unpinned)`)
    await writeGenerated(r, flags.force)
    if (!this.jsonEnabled()) {
      this.out(
        [
          `wrote ${r.files.map((f) => f.path).join(', ')} in ${r.dir} (${r.distro}, SOURCE_DATE_EPOCH=${r.sourceDateEpoch}${r.snapshot ? `, snapshot ${r.snapshot}` : ''})`,
          `next: docker buildx build -f Dockerfile.generate-hash --output type=local,dest=. ${dir}`,
          `then: repro build --sde ${r.sourceDateEpoch} --hashfile ${dir}/SHA256SUMS-amd64 ${dir}`,
        ].join('\n'),
      )
    }
    return r
  }
}
