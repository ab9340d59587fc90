/**
 * The oclif flags of `repro build`, shared with every command that builds (`repro verify`), and the one
 * mapping from their values to the build domain's input. One definition, so the commands cannot drift.
 */
import {Flags} from '@oclif/core'

import type {BuildInput} from './run.js'

export const buildFlags = {
  // engine
  runtime: Flags.string({
    description:
      'container runtime (default: docker, then podman, then a BuildKit daemon); buildah: a native build, no BuildKit (buildah >= 1.41)',
    options: ['docker', 'podman', 'buildkit', 'buildah'],
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
  'tls-ca': Flags.string({
    description: 'with --buildkit-addr tcp://: CA certificate that signed the daemon (buildctl --tlscacert)',
    helpGroup: 'ENGINE',
  }),
  'tls-cert': Flags.string({
    description: 'with --buildkit-addr tcp://: client certificate for mutual TLS (buildctl --tlscert)',
    helpGroup: 'ENGINE',
  }),
  'tls-key': Flags.string({
    description: 'with --buildkit-addr tcp://: client key for mutual TLS (buildctl --tlskey)',
    helpGroup: 'ENGINE',
  }),
  'tls-server-name': Flags.string({
    description: "with --buildkit-addr tcp://: the name the daemon's certificate must carry (buildctl --tlsservername)",
    helpGroup: 'ENGINE',
  }),
  'tls-dir': Flags.string({
    description:
      'with --buildkit-addr tcp://: directory holding ca.pem, cert.pem and key.pem (each --tls-* flag overrides one)',
    helpGroup: 'ENGINE',
  }),
  builder: Flags.string({
    description:
      'docker: build on this existing buildx builder (any driver: docker-container, remote, kubernetes); never created or removed',
    helpGroup: 'ENGINE',
  }),
  'allow-unpinned-builder': Flags.boolean({
    description:
      'build even when the daemon or --builder serves another BuildKit version than the pin (--buildkit-image); recorded in the result',
    helpGroup: 'ENGINE',
  }),
  rootless: Flags.boolean({
    description: 'podman: run the rootless BuildKit image without --privileged',
    env: 'REPRO_ROOTLESS',
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
    description:
      'secret id=ID,src=FILE or id=ID,env=VAR (repeatable; commands show the path or variable name, never the value)',
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
  // lock (src/lock)
  lock: Flags.string({
    description: 'lock file to follow (default: repro.lock.yaml next to the Dockerfile, when there is one)',
    helpGroup: 'LOCK',
  }),
  locked: Flags.boolean({
    description:
      'like npm ci: deny every remote source the lock does not list, and fail before building when it does not cover the Dockerfile',
    helpGroup: 'LOCK',
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
  // hermetic packages (src/hermetic)
  hashfile: Flags.string({
    description:
      'hash file (SHA256SUMS-<arch>, or SHA256SUMS for every platform) of packages to fetch and verify on the host and stage as the build context repro-pkgs; install them with: RUN --mount=from=repro-pkgs,target=/repro --network=none /repro/install (repeatable)',
    multiple: true,
    multipleNonGreedy: true,
    helpGroup: 'PACKAGES',
  }),
  'snapshot-sources': Flags.boolean({
    description:
      'stage the build context repro-snapshot with a script pointing apt/pacman at the snapshot archive of SOURCE_DATE_EPOCH: RUN --mount=from=repro-snapshot,target=/repro-snapshot /repro-snapshot/sources && apt-get update ...',
    helpGroup: 'PACKAGES',
  }),
  provider: Flags.string({
    description:
      "with --hashfile: where to fetch packages, tried in order (repeatable; default: REPRO_PROVIDERS, else the distro's defaults)",
    multiple: true,
    multipleNonGreedy: true,
    helpGroup: 'PACKAGES',
  }),
  'pkg-cache': Flags.string({
    description:
      'package cache directory; staged contexts live there too (default: REPRO_CACHE, else /var/cache/repro)',
    helpGroup: 'PACKAGES',
  }),
  distro: Flags.string({
    description: 'with --hashfile: distro for the default providers (default: from the package files)',
    helpGroup: 'PACKAGES',
  }),
}

/** Flag values as oclif parsed them (the subset every building command has). */
export interface BuildFlagValues {
  runtime?: string
  'buildkit-image'?: string
  'buildkit-addr'?: string
  'tls-ca'?: string
  'tls-cert'?: string
  'tls-key'?: string
  'tls-server-name'?: string
  'tls-dir'?: string
  builder?: string
  'allow-unpinned-builder'?: boolean
  rootless: boolean
  'no-cache': boolean
  'buildkit-args'?: string
  'buildx-args'?: string
  dry: boolean
  sde?: string
  datetime?: string
  'sde-from-git': boolean
  file?: string
  'build-arg'?: string[]
  'build-context'?: string[]
  secret?: string[]
  target?: string
  platform?: string[]
  output: string
  format: string
  tag?: string[]
  annotation?: string[]
  hashfile?: string[]
  lock?: string
  locked?: boolean
  'snapshot-sources'?: boolean
  provider?: string[]
  'pkg-cache'?: string
  distro?: string
}

/** The build domain's input from flag values, the context argument and the environment. */
export function buildInputFromFlags(
  flags: BuildFlagValues,
  context: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): BuildInput {
  return {
    cwd,
    context,
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
    tlsCa: flags['tls-ca'],
    tlsCert: flags['tls-cert'],
    tlsKey: flags['tls-key'],
    tlsServerName: flags['tls-server-name'],
    tlsDir: flags['tls-dir'],
    builder: flags.builder,
    allowUnpinnedBuilder: flags['allow-unpinned-builder'] ?? false,
    sde: flags.sde,
    datetime: flags.datetime,
    sdeFromGit: flags['sde-from-git'],
    dry: flags.dry ?? false, // oclif leaves an unset boolean flag undefined, and --json would drop the field
    hashfiles: flags.hashfile ?? [],
    lock: flags.lock,
    locked: flags.locked ?? false,
    snapshotSources: flags['snapshot-sources'] ?? false,
    providers: flags.provider,
    pkgCache: flags['pkg-cache'],
    distro: flags.distro,
    env: {
      BUILDKIT_HOST: env.BUILDKIT_HOST,
      DOCKER_CONFIG: env.DOCKER_CONFIG,
      DOCKER_HOST: env.DOCKER_HOST,
      REPRO_SOURCE_DATE_EPOCH: env.REPRO_SOURCE_DATE_EPOCH,
      REPRO_CACHE: env.REPRO_CACHE,
      REPRO_PROVIDERS: env.REPRO_PROVIDERS,
      REPRO_DISTRO: env.REPRO_DISTRO,
    },
  }
}
