import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {build, type BuildResult} from '../engine/run.js'
import {realExec} from '../exec.js'
import {renderBuild} from '../ui/build-text.js'

export default class Build extends BaseCommand<typeof Build> {
  static override summary = 'Build a container image bit-for-bit reproducibly with a pinned BuildKit.'
  static override description = `Runs a pinned BuildKit through Docker (a docker-container buildx builder), Podman (BuildKit in a
container) or an existing BuildKit daemon, with SOURCE_DATE_EPOCH, rewrite-timestamp=true and provenance off,
and writes a docker-format tarball (or an OCI archive with --format oci). The same inputs give the same bytes.
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
    // engine
    runtime: Flags.string({
      description: 'container runtime (default: docker, then podman, then a BuildKit daemon)',
      options: ['docker', 'podman', 'buildkit'],
      env: 'REPRO_RUNTIME',
      helpGroup: 'ENGINE',
    }),
    'buildkit-image': Flags.string({
      description: 'BuildKit image for docker and podman (default: the pinned moby/buildkit v0.32.2)',
      env: 'REPRO_BUILDKIT_IMAGE',
      helpGroup: 'ENGINE',
    }),
    'buildkit-addr': Flags.string({
      description:
        'address of a BuildKit daemon (unix://, tcp://, kube-pod://...); implies --runtime buildkit (default: $BUILDKIT_HOST)',
      helpGroup: 'ENGINE',
    }),
    rootless: Flags.boolean({
      description: 'podman: run the rootless BuildKit image without --privileged',
      helpGroup: 'ENGINE',
    }),
    'no-cache': Flags.boolean({description: 'do not use the build cache', helpGroup: 'ENGINE'}),
    'buildkit-args': Flags.string({
      description: 'extra buildctl build arguments (podman, buildkit), shell-quoted',
      helpGroup: 'ENGINE',
    }),
    'buildx-args': Flags.string({
      description: 'extra docker buildx build arguments (docker), shell-quoted',
      helpGroup: 'ENGINE',
    }),
    dry: Flags.boolean({
      description: 'print the commands a build would run, one per line, and run nothing',
      helpGroup: 'ENGINE',
    }),
    // SOURCE_DATE_EPOCH
    sde: Flags.string({
      aliases: ['source-date-epoch'],
      description: 'SOURCE_DATE_EPOCH in seconds (or set REPRO_SOURCE_DATE_EPOCH)',
      helpGroup: 'SOURCE_DATE_EPOCH (exactly one)',
    }),
    datetime: Flags.string({
      description: 'SOURCE_DATE_EPOCH as an ISO 8601 date-time (UTC when no zone)',
      helpGroup: 'SOURCE_DATE_EPOCH (exactly one)',
    }),
    'sde-from-git': Flags.boolean({
      description: 'SOURCE_DATE_EPOCH = time of the last commit touching the context',
      helpGroup: 'SOURCE_DATE_EPOCH (exactly one)',
    }),
    // build
    file: Flags.string({char: 'f', description: 'Dockerfile (default: CONTEXT/Dockerfile)', helpGroup: 'BUILD'}),
    'build-arg': Flags.string({
      description: 'build argument KEY=VALUE (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'BUILD',
    }),
    'build-context': Flags.string({
      description: 'extra build context NAME=DIR or NAME=oci-layout://DIR[@sha256:...] (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'BUILD',
    }),
    secret: Flags.string({
      description: 'secret id=ID,src=FILE or id=ID,env=VAR (repeatable; never printed)',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'BUILD',
    }),
    target: Flags.string({description: 'build stage to export', helpGroup: 'BUILD'}),
    platform: Flags.string({
      description: 'target platform(s), e.g. linux/amd64,linux/arm64 (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'BUILD',
    }),
    // output
    output: Flags.string({char: 'o', description: 'output tarball', default: './image.tar', helpGroup: 'OUTPUT'}),
    format: Flags.string({
      description: 'docker: one docker-loadable tarball per platform; oci: one multi-platform OCI archive',
      options: ['docker', 'oci'],
      default: 'docker',
      helpGroup: 'OUTPUT',
    }),
    tag: Flags.string({
      char: 't',
      description: 'image name recorded in the tarball (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'OUTPUT',
    }),
    annotation: Flags.string({
      description: 'manifest annotation KEY=VALUE (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'OUTPUT',
    }),
  }

  async run(): Promise<BuildResult> {
    const {flags, args} = this
    const result = await build(
      {
        cwd: process.cwd(),
        context: args.context,
        file: flags.file,
        output: flags.output,
        format: flags.format as 'docker' | 'oci',
        tags: flags.tag ?? [],
        buildArgs: flags['build-arg'] ?? [],
        annotations: flags.annotation ?? [],
        platforms: flags.platform ?? [],
        target: flags.target,
        noCache: flags['no-cache'],
        buildContexts: flags['build-context'] ?? [],
        secrets: flags.secret ?? [],
        buildkitArgs: flags['buildkit-args'],
        buildxArgs: flags['buildx-args'],
        buildkitImage: flags['buildkit-image'],
        rootless: flags.rootless,
        runtime: flags.runtime,
        buildkitAddr: flags['buildkit-addr'],
        sde: flags.sde,
        datetime: flags.datetime,
        sdeFromGit: flags['sde-from-git'],
        dry: flags.dry,
        env: {BUILDKIT_HOST: process.env.BUILDKIT_HOST, REPRO_SOURCE_DATE_EPOCH: process.env.REPRO_SOURCE_DATE_EPOCH},
      },
      {exec: realExec, logger: this.logger},
    )
    if (!this.jsonEnabled()) this.out(renderBuild(result))
    return result
  }
}
