/** The docker runtime: a docker-container buildx builder running the pinned BuildKit image. */
import {createHash} from 'node:crypto'

import {formatCsvPairs} from './args.js'
import {secretArg} from './buildkit.js'
import {
  type Arg,
  BUILDKITD_CONFIG,
  type BuildOptions,
  type EngineFiles,
  execStep,
  exporterAttrs,
  type Facts,
  type PlannedOutput,
  type Step,
} from './types.js'

/** One builder per BuildKit image, reused across builds (its cache lives in the builder's state volume). */
export function builderName(image: string): string {
  // the buildkitd.toml and host networking are part of the identity: a changed config makes another builder
  return `repro-${createHash('sha256').update(`${image}\n${BUILDKITD_CONFIG}\nnetwork=host`).digest('hex').slice(0, 12)}`
}

/** buildx's message when `create --name NAME` finds the name taken */
export const BUILDER_EXISTS = 'existing instance for|already exists'

export function builderNeedsRecreate(_options: BuildOptions, facts: Facts): boolean {
  return Boolean(facts.builder?.exists && facts.builder.stale)
}

export interface BuilderFound {
  driver?: string
  image?: string
  endpoint?: string
  buildkitVersion?: string
  status?: string
}

/**
 * Why a builder of our name cannot be reused: another driver, another BuildKit image, or created against
 * another docker daemon (buildx records the endpoint; DOCKER_HOST may have changed since).
 */
export function builderStaleReason(found: BuilderFound, image: string, dockerHost?: string): string | undefined {
  if (found.driver !== undefined && found.driver !== 'docker-container') return `it uses the ${found.driver} driver`
  if (found.image !== image) return `it runs ${found.image ?? 'another image'}`
  if (dockerHost && found.endpoint && found.endpoint !== dockerHost && /^[a-z]+:\/\//.test(found.endpoint)) {
    return `it was created on ${found.endpoint}, not ${dockerHost}`
  }
  return undefined
}

/** buildx's own record of a builder ($DOCKER_CONFIG/buildx/instances/NAME): read instead of a slower inspect. */
export function parseBuildxInstance(text: string): BuilderFound | undefined {
  try {
    const j = JSON.parse(text) as {
      Driver?: string
      Nodes?: Array<{Endpoint?: string; DriverOpts?: Record<string, string>}>
    }
    const node = j.Nodes?.[0]
    if (typeof j.Driver !== 'string' || !node) return undefined
    return {driver: j.Driver, image: node.DriverOpts?.image, endpoint: node.Endpoint}
  } catch {
    return undefined
  }
}

export function dockerSteps(
  options: BuildOptions,
  facts: Facts,
  outputs: PlannedOutput[],
  files: EngineFiles = {},
): Step[] {
  // --builder NAME: someone else's builder (remote, kubernetes, ...): used as it is, never created or removed
  const name = options.builder ?? facts.builder?.name ?? builderName(options.buildkitImage)
  const steps: Step[] = []
  const recreate = !options.builder && builderNeedsRecreate(options, facts)
  if (recreate) steps.push(execStep(['docker', 'buildx', 'rm', name], `remove the builder: ${facts.builder?.stale}`))
  if (!options.builder && (!facts.builder?.exists || recreate)) {
    steps.push(
      execStep(
        [
          'docker',
          'buildx',
          'create',
          '--name',
          name,
          '--driver',
          'docker-container',
          '--driver-opt',
          `image=${options.buildkitImage}`,
          // host networking: the builder reaches what the lock names on 127.0.0.1 (a local registry, servers)
          '--driver-opt',
          'network=host',
          ...(files.buildkitdConfig ? ['--buildkitd-config', files.buildkitdConfig] : []),
          '--bootstrap',
        ],
        'create the builder with the pinned BuildKit',
        // a concurrent build may have created it first: buildx says `existing instance for "NAME"`
        {tolerate: BUILDER_EXISTS},
      ),
    )
  }
  for (const o of outputs) {
    const args: Arg[] = [
      'docker',
      'buildx',
      'build',
      '--builder',
      name,
      '--file',
      options.dockerfile,
      '--build-arg',
      `SOURCE_DATE_EPOCH=${options.sde.epoch}`,
    ]
    for (const a of options.buildArgs) args.push('--build-arg', a)
    if (o.platforms.length > 0) args.push('--platform', o.platforms.join(','))
    if (options.target) args.push('--target', options.target)
    for (const c of options.buildContexts) {
      if (c.kind === 'dir') args.push('--build-context', `${c.name}=${c.path}`)
      else if (c.kind === 'other') args.push('--build-context', `${c.name}=${c.value}`)
      else {
        const digest = c.digest ?? facts.ociLayoutDigests[c.name]
        args.push('--build-context', `${c.name}=oci-layout://${c.path}${digest ? `@${digest}` : ''}`)
      }
    }
    for (const s of options.secrets) args.push('--secret', secretArg(s, s.src))
    if (options.noCache) args.push('--no-cache')
    args.push(
      '--provenance',
      'false',
      '--sbom',
      'false',
      '--output',
      formatCsvPairs(exporterAttrs(options, o.partial)),
      ...options.buildxArgs,
      options.context,
    )
    steps.push(
      execStep(args, `build${o.platform ? ` ${o.platform}` : ''} with buildx${options.builder ? ` on ${name}` : ''}`, {
        // buildx reads the source policy from this variable (buildx >= 0.10, BuildKit >= 0.11)
        ...(files.policy ? {env: {EXPERIMENTAL_BUILDKIT_SOURCE_POLICY: files.policy}} : {}),
      }),
    )
  }
  return steps
}

/** `docker buildx version`: "github.com/docker/buildx v0.19.3 48d6a39" */
export function parseBuildxVersion(stdout: string): string | undefined {
  return /\bv?\d+\.\d+\.\d+[\w.+-]*/.exec(stdout.replace(/^\S*buildx\S*\s+/, ''))?.[0]
}

/** `docker buildx inspect NAME` (text): driver, driver-opt image, status and BuildKit version of the first node. */
export function parseBuildxInspect(stdout: string): BuilderFound {
  const driver = /^Driver:\s*(\S+)/m.exec(stdout)?.[1]
  const opts = /^Driver Options:\s*(.*)$/m.exec(stdout)?.[1] ?? ''
  const image = /(?:^|\s)image="([^"]*)"/.exec(opts)?.[1] ?? /(?:^|\s)image=(\S+)/.exec(opts)?.[1]
  const buildkitVersion = /^(?:BuildKit version|BuildKit|Buildkit):\s*(v?\d\S*)/m.exec(stdout)?.[1]
  const status = /^Status:\s*(\S+)/m.exec(stdout)?.[1]
  const endpoint = /^Endpoint:\s*(\S+)/m.exec(stdout)?.[1]
  return {driver, image, endpoint, buildkitVersion, status}
}
