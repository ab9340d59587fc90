import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {buildFlags, buildInputFromFlags} from '../engine/cli-flags.js'
import {build, type BuildResult} from '../engine/run.js'
import {realExec} from '../exec.js'
import {dockerConfigDir} from '../image/registry/credentials.js'
import {pushBuilt, type PushResult} from '../push/index.js'
import {renderBuild} from '../ui/build-text.js'
import {lifecycle} from '../lifecycle.js'
import {sbomFlags, writeBuildSbom} from '../sbom/flags.js'

export default class Build extends BaseCommand<typeof Build> {
  static override summary = 'Build a container image bit-for-bit reproducibly with a pinned BuildKit.'
  static override description = `Runs a pinned BuildKit through Docker (a docker-container buildx builder), Podman (BuildKit in a
container) or an existing BuildKit daemon, with SOURCE_DATE_EPOCH, rewrite-timestamp=true and provenance off,
and writes a docker-format tarball (or an OCI archive with --format oci). The same inputs give the same bytes.
--runtime buildah builds natively instead (buildah >= 1.41: --source-date-epoch, --rewrite-timestamp).
--dry prints the exact commands instead of running them.`

  static override examples = [
    '<%= config.bin %> build --sde 0 .',
    '<%= config.bin %> build --sde-from-git -t app:1.0 -o dist/app.tar .',
    '<%= config.bin %> build --datetime 2024-01-31 --platform linux/amd64,linux/arm64 .',
    '<%= config.bin %> build --sde 0 --build-context base=oci-layout://./base-layout .',
    '<%= config.bin %> build --sde 0 --runtime podman --rootless --dry .',
  ]

  static override args = {
    context: Args.string({description: 'build context directory', default: '.'}),
  }

  static override flags = {
    ...buildFlags,
    push: Flags.string({
      description: 'then push the image to this registry reference (HOST/REPO:TAG): see `repro push`',
      helpGroup: 'OUTPUT',
    }),
    'plain-http': Flags.boolean({
      description: '--push: use http (no TLS) for the registry (default: only localhost)',
      dependsOn: ['push'],
      helpGroup: 'OUTPUT',
    }),
    ...sbomFlags,
  }

  async run(): Promise<BuildResult & {push?: PushResult}> {
    const {flags, args} = this
    const input = buildInputFromFlags(flags, args.context, process.cwd(), process.env)
    const result = await build(input, {exec: realExec, logger: this.logger})
    if (flags.sbom && !result.dry) await writeBuildSbom(flags, input, result, this.config.version, this.logger)
    if (!this.jsonEnabled()) this.out(renderBuild(result))
    if (flags.push && !result.dry) {
      const push = await pushBuilt(result.outputs, {
        ref: flags.push,
        plainHttp: flags['plain-http'],
        dockerConfigDir: dockerConfigDir(process.env),
        exec: realExec,
        logger: this.logger,
        signal: lifecycle.signal,
      })
      if (!this.jsonEnabled()) this.out(push.reference)
      return {...result, push}
    }
    return result
  }
}
