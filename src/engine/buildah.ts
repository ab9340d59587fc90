/**
 * The buildah runtime: a native build, no BuildKit, the way Arch Linux builds its reproducible base image
 * (`podman build --source-date-epoch=$SDE --rewrite-timestamp`, Buildah >= 1.41 / Podman >= 5.6). One
 * `buildah build` per output writes the archive itself (`--tag docker-archive:FILE` / `oci-archive:FILE`), so
 * no image name of ours ends up in the archive and nothing has to be pushed or removed afterwards.
 *
 * The digests differ from the BuildKit runtimes' (another builder: history text, media types, compression,
 * the directory entries of a layer); two buildah builds of the same inputs give the same bytes.
 */
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import coerce from 'semver/functions/coerce.js'
import lt from 'semver/functions/lt.js'

import {EngineNotFoundError, InvalidArgumentError} from '../errors.js'
import {secretArg} from './args.js'
import {type Arg, type BuildOptions, execStep, type Facts, type PlannedOutput, type Step} from './types.js'

/** --source-date-epoch and --rewrite-timestamp appeared in Buildah 1.41 (Podman 5.6) */
export const MIN_BUILDAH_VERSION = '1.41.0'

/** `buildah --version`: "buildah version 1.43.1 (image-spec 1.1.1, runtime-spec 1.2.1)" */
export function parseBuildahVersion(stdout: string): string | undefined {
  return /^buildah version (\d+\.\d+\.\d+[\w.+~-]*)/m.exec(stdout)?.[1]
}

/** Older buildah has no --source-date-epoch/--rewrite-timestamp: say so before anything runs. */
export function checkBuildahVersion(version: string): void {
  // only a version as buildah prints it (coerce alone would read "5" out of any text)
  const v = /^\d+\.\d+\.\d+/.test(version) ? coerce(version) : null
  if (!v)
    throw new EngineNotFoundError(
      `buildah --version: cannot read a version from ${JSON.stringify(version.slice(0, 80))}`,
    )
  if (lt(v, MIN_BUILDAH_VERSION)) {
    throw new EngineNotFoundError(
      `buildah ${version}: --source-date-epoch and --rewrite-timestamp need buildah >= ${MIN_BUILDAH_VERSION.replace(/\.0$/, '')}`,
      [
        'put a newer buildah first in PATH (Debian 12 ships 1.28; the test bed builds the pinned one: testbed.sh buildah)',
        'or use --runtime docker / podman / buildkit (BuildKit with rewrite-timestamp)',
      ],
    )
  }
}

/** The transports buildah writes to take `TRANSPORT:PATH[:NAME]`: a ':' in the path would be read as the name. */
function checkTransportPath(flag: string, p: string): void {
  if (p.includes(':')) {
    throw new InvalidArgumentError(
      `${flag} ${p}: buildah cannot use a path with ':' (its archive and layout references are TRANSPORT:PATH:NAME)`,
    )
  }
}

/** Options only BuildKit understands are errors here, not silently dropped. */
export function checkBuildahOptions(options: BuildOptions): void {
  if (options.sourcePolicy !== undefined) {
    throw new InvalidArgumentError(
      'the lock file: its source policy is enforced by BuildKit; --runtime buildah cannot follow it: build with docker, podman or buildkit',
    )
  }
  if (options.format === 'oci' && options.platforms.length > 1) {
    throw new InvalidArgumentError(
      `--platform ${options.platforms.join(',')}: --runtime buildah writes one platform per OCI archive; use --format docker (one tarball per platform)`,
    )
  }
  if (options.tags.length > 1) {
    throw new InvalidArgumentError(
      `--tag ${options.tags.join(' --tag ')}: --runtime buildah records one name in the archive; give one --tag`,
    )
  }
  checkTransportPath('--output', options.output)
  for (const c of options.buildContexts) {
    if (c.kind === 'oci-layout') checkTransportPath(`--build-context ${c.name}`, c.path)
  }
}

/**
 * How buildah names each oci-layout build context's pinned image: `oci:DIR` when it is the layout's only
 * image, else `oci:DIR:REF` by its org.opencontainers.image.ref.name (the image transport has no digest form,
 * and buildah's FROM parser refuses the `:@N` index form), so the digest repro pinned picks the name.
 */
export async function ociLayoutRefs(options: BuildOptions, facts: Facts): Promise<Record<string, string>> {
  const refs: Record<string, string> = {}
  for (const c of options.buildContexts) {
    if (c.kind !== 'oci-layout') continue
    const digest = c.digest ?? facts.ociLayoutDigests[c.name]
    const file = path.join(c.path, 'index.json')
    let manifests: Array<{digest?: unknown; annotations?: Record<string, unknown>}> = []
    try {
      const index = JSON.parse(await readFile(file, 'utf8')) as {manifests?: unknown}
      if (Array.isArray(index.manifests)) manifests = index.manifests as typeof manifests
    } catch (error) {
      throw new InvalidArgumentError(
        `--build-context ${c.name}: cannot read ${file} (${(error as Error).message.split('\n')[0]}): not an OCI layout`,
      )
    }
    const entry = manifests.find((m) => m?.digest === digest)
    if (!entry) throw new InvalidArgumentError(`--build-context ${c.name}: ${file} holds no image ${digest}`)
    if (manifests.length === 1) {
      refs[c.name] = ''
      continue
    }
    const ref = entry.annotations?.['org.opencontainers.image.ref.name']
    const named = manifests.filter((m) => m?.annotations?.['org.opencontainers.image.ref.name'] === ref)
    if (typeof ref !== 'string' || !/^[\w][\w.-]{0,127}$/.test(ref) || named.length !== 1) {
      throw new InvalidArgumentError(
        `--build-context ${c.name}: ${file} holds ${manifests.length} images and ${digest} has no ref name of its own: --runtime buildah picks a layout's image by name (org.opencontainers.image.ref.name)`,
      )
    }
    refs[c.name] = ref
  }
  return refs
}

/** `buildah build ...` for one output: the archive is the build's own destination. */
export function buildahBuildArgs(options: BuildOptions, facts: Facts, out: PlannedOutput): Arg[] {
  const args: Arg[] = [
    'buildah',
    'build',
    // SOURCE_DATE_EPOCH: the image's created time and history, and the SOURCE_DATE_EPOCH build argument
    `--source-date-epoch=${options.sde.epoch}`,
    // layer contents: every file time clamped to SOURCE_DATE_EPOCH (BuildKit's rewrite-timestamp)
    '--rewrite-timestamp',
    // one layer per instruction, as BuildKit and `podman build` (buildah's default squashes a stage's steps)
    '--layers',
    // a failed build removes its working container (and unmounts it) instead of leaving it in the store
    '--force-rm',
    // runc as configured (containers.conf), host networking (no CNI/netavark; what the build reaches on
    // 127.0.0.1 stays reachable, as with the BuildKit runtimes); RUN --network=none still gets none
    '--isolation=oci',
    '--network=host',
    // an OCI image, written as a docker archive or an OCI archive below: --format=docker would add Docker's
    // legacy config fields (container_config, Hostname "sandbox", empty Labels/Volumes...) BuildKit never writes
    '--format=oci',
    '--file',
    options.dockerfile,
  ]
  for (const a of options.buildArgs) args.push('--build-arg', a)
  if (out.platforms.length > 0) args.push('--platform', out.platforms.join(','))
  if (options.target) args.push('--target', options.target)
  for (const c of options.buildContexts) {
    if (c.kind === 'dir') args.push('--build-context', `${c.name}=${c.path}`)
    else if (c.kind === 'oci-layout') {
      const ref = facts.ociLayoutRefs?.[c.name]
      args.push('--build-context', `${c.name}=docker-image://oci:${c.path}${ref ? `:${ref}` : ''}`)
    } else args.push('--build-context', `${c.name}=${c.value}`)
  }
  for (const s of options.secrets) args.push('--secret', secretArg(s, s.src))
  for (const a of options.annotations) args.push('--annotation', a)
  if (options.noCache) args.push('--no-cache')
  const transport = options.format === 'docker' ? 'docker-archive' : 'oci-archive'
  const name = options.tags[0]
  args.push('--tag', `${transport}:${out.partial}${name === undefined ? '' : `:${name}`}`, options.context)
  return args
}

export function buildahSteps(options: BuildOptions, facts: Facts, outputs: PlannedOutput[]): Step[] {
  return outputs.map((o) =>
    execStep(buildahBuildArgs(options, facts, o), `build${o.platform ? ` ${o.platform}` : ''} natively with buildah`),
  )
}
