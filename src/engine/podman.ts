/**
 * The podman runtime: BuildKit runs inside a container (buildctl-daemonless.sh starts buildkitd and runs
 * buildctl), with the context, Dockerfile, build contexts and output directory mounted in, and a named
 * volume holding BuildKit's state (the cache) between builds.
 */
import {createHash} from 'node:crypto'
import path from 'node:path'

import {buildctlBuildArgs, type BuildctlPaths} from './buildkit.js'
import {
  type Arg,
  type BuildOptions,
  type EngineFiles,
  execStep,
  type Facts,
  type PlannedOutput,
  type Step,
} from './types.js'

const IN = '/tmp/repro'

/** Podman resolves short names through registries.conf (and refuses to prompt without a TTY): qualify them. */
export function qualifyImage(image: string): string {
  const first = image.split('/')[0]
  const hasRegistry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
  return hasRegistry ? image : `docker.io/${image.includes('/') ? image : `library/${image}`}`
}

export function cacheVolumeName(image: string): string {
  return `repro-buildkit-${createHash('sha256').update(image).digest('hex').slice(0, 12)}`
}

/** The name of the BuildKit container of one run and output: known before it starts, so an abort removes it. */
export function buildContainerName(output: string, runId: string): string {
  return `repro-build-${runId}-${createHash('sha256').update(output).digest('hex').slice(0, 12)}`
}

/** podman 4.3's `volume create` has no --ignore; this is its message for a name taken by a concurrent creator */
export const VOLUME_EXISTS = 'already exists'

export function podmanSteps(
  options: BuildOptions,
  facts: Facts,
  outputs: PlannedOutput[],
  runId: string,
  files: EngineFiles = {},
): Step[] {
  const dockerfileDir = path.dirname(options.dockerfile)
  const sameDir = dockerfileDir === options.context
  const paths: BuildctlPaths = {
    context: `${IN}/context`,
    dockerfileDir: sameDir ? `${IN}/context` : `${IN}/dockerfile`,
    dest: (o) => `${IN}/output/${path.basename(o.partial)}`,
    buildContext: (i) => `${IN}/contexts/${i}`,
    secretSrc: (i) => `${IN}/secrets/${i}`,
    policy: files.policy === undefined ? undefined : `${IN}/policy.json`,
  }
  const image = qualifyImage(options.buildkitImage)
  const steps: Step[] = []
  if (!options.noCache) {
    // created up front (not implicitly by `run -v`), tolerating a concurrent build that created it first
    steps.push(
      execStep(['podman', 'volume', 'create', cacheVolumeName(image)], 'create the BuildKit cache volume', {
        tolerate: VOLUME_EXISTS,
      }),
    )
  }
  for (const o of outputs) {
    const name = buildContainerName(o.path, runId)
    const args: Arg[] = ['podman', 'run', '--rm', '--name', name]
    if (options.rootless) {
      // rootless BuildKit in a container: no privileges, no seccomp/apparmor filtering of its user namespaces,
      // no process sandbox (it cannot mount a new /proc), fuse-overlayfs through /dev/fuse when the kernel's
      // overlayfs is not usable in a user namespace (buildkitd picks overlayfs first: Linux >= 5.11 needs no
      // /dev/fuse, and podman passes a root-only 0600 /dev/fuse through without error, tested). Rootless podman
      // maps the image's user 1000 to the calling user, so files in the mounts stay the caller's.
      if (facts.podmanRootless) args.push('--userns', 'keep-id:uid=1000,gid=1000')
      args.push(
        '--security-opt',
        'seccomp=unconfined',
        '--security-opt',
        'apparmor=unconfined',
        // SELinux (Fedora, RHEL): the context, Dockerfile and output mounts keep the user's labels, which
        // container_t may not read; --privileged turns labelling off for the rootful case, this does it here,
        // without relabelling the user's files as `:Z` would (a no-op where SELinux is off)
        '--security-opt',
        'label=disable',
        '--device',
        '/dev/fuse',
        '-e',
        'BUILDKITD_FLAGS=--oci-worker-no-process-sandbox',
      )
    } else {
      args.push('--privileged')
    }
    if (!options.noCache) {
      const state = options.rootless ? '/home/user/.local/share/buildkit' : '/var/lib/buildkit'
      args.push('-v', `${cacheVolumeName(image)}:${state}`)
    }
    // host networking: BuildKit reaches what the lock names on 127.0.0.1 (a local registry, servers)
    args.push('--network', 'host')
    if (files.buildkitdConfig) {
      const config = options.rootless ? '/home/user/.config/buildkit/buildkitd.toml' : '/etc/buildkit/buildkitd.toml'
      args.push('-v', `${files.buildkitdConfig}:${config}:ro`)
    }
    if (files.policy) args.push('-v', `${files.policy}:${IN}/policy.json:ro`)
    args.push('-v', `${options.context}:${IN}/context:ro`)
    if (!sameDir) args.push('-v', `${dockerfileDir}:${IN}/dockerfile:ro`)
    // the run's private directory next to the destination, never the destination's parent
    args.push('-v', `${o.outDir ?? path.dirname(o.partial)}:${IN}/output`)
    options.buildContexts.forEach((c, i) => {
      // BuildKit < 0.15 creates ingest/ inside an OCI layout it reads: an overlay mount (:O) lets it write
      // without touching the user's directory (read-only failed with "mkdir .../ingest: read-only file system")
      if (c.kind === 'oci-layout') args.push('-v', `${c.path}:${IN}/contexts/${i}:O`)
      else if (c.kind !== 'other') args.push('-v', `${c.path}:${IN}/contexts/${i}:ro`)
    })
    options.secrets.forEach((s, i) => {
      if (s.src !== undefined) {
        const mount = `${IN}/secrets/${i}:ro`
        args.push('-v', `${s.src}:${mount}`)
      }
      // `-e NAME` hands the variable from our environment to the container without putting its value in argv
      if (s.env !== undefined) args.push('-e', s.env)
    })
    args.push('--entrypoint', 'buildctl-daemonless.sh', image, ...buildctlBuildArgs(options, facts, o, paths))
    steps.push(
      execStep(args, `build${o.platform ? ` ${o.platform}` : ''} in a BuildKit container`, {
        container: {runtime: 'podman', name},
        cacheVolume: options.noCache ? undefined : cacheVolumeName(image),
      }),
    )
  }
  return steps
}
