/**
 * Resolve the inputs a build names into pins: images through the one registry client (tag → index digest
 * and per-platform manifests), ADD URLs fetched once (bounded) → sha256, git refs → commit (`git ls-remote`
 * through the Exec seam), local-store images → their registry digest, OCI layouts → their manifest digest.
 */
import {createHash} from 'node:crypto'
import path from 'node:path'

import {type DockerfileInputs, dockerfileInputs, type ImageInput, readDockerfile} from '../dockerfile/inputs.js'
import {parseBuildContext} from '../engine/args.js'
import {ociLayoutDigest} from '../engine/detect.js'
import {sha256File} from '../engine/run.js'
import {ReproError} from '../errors.js'
import {PKGS_CONTEXT, SNAPSHOT_CONTEXT} from '../hermetic/installer.js'
import {lifecycle} from '../lifecycle.js'
import type {Exec} from '../exec.js'
import {isIndexMediaType} from '../image/media-types.js'
import {openRepository, type RegistryOptions} from '../image/registry/index.js'
import {parseReference} from '../image/registry/reference.js'
import type {Logger} from '../log.js'
import type {Sde} from '../sde.js'
import {
  LockError,
  type LockedContext,
  type LockedGit,
  type LockedImage,
  type LockedUrl,
  type LockFile,
  LOCK_SCHEMA_VERSION,
} from './format.js'

export interface LockLimits {
  /** largest ADD URL body hashed */
  maxUrlBytes: number
  /** whole time for one URL */
  urlTimeoutMs: number
  /** one `git ls-remote` */
  gitTimeoutMs: number
}

export const DEFAULT_LOCK_LIMITS: LockLimits = {
  maxUrlBytes: 2 * 1024 * 1024 * 1024,
  urlTimeoutMs: 10 * 60_000,
  gitTimeoutMs: 60_000,
}

/** What a build is, for locking: the same shape `repro build` validates. */
export interface LockTarget {
  /** absolute */
  context: string
  /** absolute */
  dockerfile: string
  /** KEY=VALUE */
  buildArgs: string[]
  platforms: string[]
  target?: string
  /** NAME=VALUE as given to --build-context */
  buildContexts: string[]
  /** absolute paths */
  hashfiles: string[]
  sde: Sde | null
  buildkitImage: string
}

export interface ResolveDeps {
  exec: Exec
  registry?: RegistryOptions
  fetch?: typeof fetch
  limits?: Partial<LockLimits>
  logger?: Logger
}

/** One input of the build, with how to resolve it. */
export interface WantedInput {
  section: 'contexts' | 'frontend' | 'git' | 'hashfiles' | 'images' | 'urls'
  key: string
  uses: string[]
  resolve: () => Promise<LockedContext | LockedGit | LockedImage | LockedUrl | string>
}

/** Parse --build-arg KEY=VALUE (a bare KEY: no value). */
export function buildArgMap(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const a of args) {
    const eq = a.indexOf('=')
    if (eq > 0) out[a.slice(0, eq)] = a.slice(eq + 1)
  }
  return out
}

/** The Dockerfile's inputs for this build. */
export async function targetInputs(t: LockTarget): Promise<DockerfileInputs> {
  const parsed = await readDockerfile(t.dockerfile)
  // repro's staged contexts (--hashfile, --snapshot-sources) are local: never images to resolve
  const contexts: Record<string, string> = {[PKGS_CONTEXT]: 'repro-staged', [SNAPSHOT_CONTEXT]: 'repro-staged'}
  for (const c of t.buildContexts) {
    const eq = c.indexOf('=')
    if (eq > 0) contexts[c.slice(0, eq)] = c.slice(eq + 1)
  }
  return dockerfileInputs(parsed, {
    buildArgs: buildArgMap(t.buildArgs),
    platforms: t.platforms,
    target: t.target,
    buildContexts: contexts,
  })
}

const useText = (i: ImageInput): string =>
  i.use === 'from'
    ? `FROM line ${i.line}`
    : i.use === 'copy-from'
      ? `COPY --from line ${i.line}`
      : i.use === 'run-mount'
        ? `RUN --mount line ${i.line}`
        : `# syntax line ${i.line}`

/** Every input of the build, keyed as the lock keys it. */
export function wantedInputs(
  t: LockTarget,
  inputs: DockerfileInputs,
  lockDir: string,
  deps: ResolveDeps,
): WantedInput[] {
  const byKey = new Map<string, WantedInput>()
  const add = (w: Omit<WantedInput, 'uses'>, use: string): void => {
    const id = `${w.section}\0${w.key}`
    const have = byKey.get(id)
    if (have) {
      if (!have.uses.includes(use)) have.uses.push(use)
    } else byKey.set(id, {...w, uses: [use]})
  }
  if (inputs.syntax)
    add(
      {section: 'frontend', key: inputs.syntax.ref, resolve: () => resolveImage(inputs.syntax!.ref, deps)},
      useText(inputs.syntax),
    )
  for (const i of inputs.images)
    add({section: 'images', key: i.ref, resolve: () => resolveImage(i.ref, deps)}, useText(i))
  for (const u of inputs.urls) {
    add({section: 'urls', key: u.url, resolve: () => resolveUrl(u.url, deps)}, `ADD line ${u.line}`)
  }
  for (const g of inputs.gits) {
    const key = gitKey(g.url, g.ref, g.subdir)
    add({section: 'git', key, resolve: () => resolveGit(g.url, g.ref, g.subdir, deps)}, `ADD line ${g.line}`)
  }
  for (const text of t.buildContexts) {
    const c = parseBuildContext(text, t.context)
    if (!inputs.contextsUsed.includes(c.name)) continue
    if (c.kind === 'oci-layout') {
      const source = `oci-layout://${relative(lockDir, c.path)}`
      add(
        {
          section: 'contexts',
          key: c.name,
          resolve: async () => ({source, pinned: c.digest ?? (await ociLayoutDigest(c.path, c.name))}),
        },
        `--build-context ${c.name}`,
      )
    } else if (c.kind === 'other') {
      const m = /^(docker|podman):\/\/(.+)$/.exec(c.value)
      if (m) {
        add(
          {
            section: 'contexts',
            key: c.name,
            resolve: () => resolveStoreImage(c.name, m[1] as 'docker' | 'podman', m[2], deps),
          },
          `--build-context ${c.name}`,
        )
      } else if (c.value.startsWith('docker-image://')) {
        const ref = c.value.slice('docker-image://'.length)
        add({section: 'images', key: ref, resolve: () => resolveImage(ref, deps)}, `--build-context ${c.name}`)
      }
    }
  }
  for (const h of t.hashfiles) {
    add({section: 'hashfiles', key: relative(lockDir, h), resolve: () => sha256File(h)}, '--hashfile')
  }
  for (const w of byKey.values()) w.uses.sort()
  return [...byKey.values()]
}

export function gitKey(url: string, ref: string | null, subdir: string | null): string {
  return ref === null && subdir === null ? url : `${url}#${ref ?? ''}${subdir === null ? '' : `:${subdir}`}`
}

function relative(from: string, to: string): string {
  const r = path.relative(from, to).split(path.sep).join('/')
  return r === '' ? '.' : r
}

/** The lock's fixed part (everything but the resolved sections). */
export function lockHeader(
  t: LockTarget,
  inputs: DockerfileInputs,
  lockDir: string,
): Omit<LockFile, 'contexts' | 'frontend' | 'git' | 'hashfiles' | 'images' | 'urls'> {
  // the value each arg that selects an input had: --build-arg, else the Dockerfile's default
  const buildArgs = {...inputs.argValues}
  return {
    schemaVersion: LOCK_SCHEMA_VERSION,
    dockerfile: relative(lockDir, t.dockerfile),
    target: t.target ?? null,
    platforms: [...t.platforms].sort(),
    buildArgs,
    sourceDateEpoch: t.sde ? {epoch: t.sde.epoch, source: t.sde.origin} : null,
    buildkit: {image: t.buildkitImage},
  }
}

/** A reference → its digest, and for an index the manifest digest of each platform. */
export async function resolveImage(ref: string, deps: ResolveDeps): Promise<LockedImage> {
  const parsed = parseReference(ref)
  const repo = openRepository(parsed, {
    exec: deps.exec,
    logger: deps.logger,
    signal: lifecycle.signal,
    ...deps.registry,
  })
  const desc = await repo.resolve(parsed.digest ?? parsed.tag ?? 'latest')
  const out: LockedImage = {digest: desc.digest, mediaType: desc.mediaType, uses: []}
  if (isIndexMediaType(desc.mediaType)) {
    const index = await repo.getManifest(desc.digest)
    const manifests = Array.isArray(index.json.manifests) ? (index.json.manifests as unknown[]) : []
    const platforms: Record<string, string> = {}
    for (const m of manifests) {
      const d = m as {digest?: unknown; platform?: {os?: unknown; architecture?: unknown; variant?: unknown}}
      const os = d.platform?.os
      const arch = d.platform?.architecture
      if (typeof d.digest !== 'string' || typeof os !== 'string' || typeof arch !== 'string') continue
      if (os === 'unknown' && arch === 'unknown') continue // attestation manifests
      const key = `${os}/${arch}${typeof d.platform?.variant === 'string' && d.platform.variant ? `/${d.platform.variant}` : ''}`
      platforms[key] ??= d.digest
    }
    out.platforms = platforms
  }
  return out
}

/** GET a URL once, bounded in size and time, hashing the body as it streams. */
export async function resolveUrl(url: string, deps: ResolveDeps): Promise<LockedUrl> {
  const limits = {...DEFAULT_LOCK_LIMITS, ...deps.limits}
  const fetchImpl = deps.fetch ?? fetch
  // bounded in time, and cancelled with the rest of repro on SIGINT/SIGTERM
  const signal = AbortSignal.any([AbortSignal.timeout(limits.urlTimeoutMs), lifecycle.signal])
  let res: Response
  try {
    res = await fetchImpl(url, {signal, redirect: 'follow'})
  } catch (error) {
    throw new LockError(`ADD ${url}: cannot fetch (${reason(error)})`)
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {})
    throw new LockError(`ADD ${url}: HTTP ${res.status}`)
  }
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > limits.maxUrlBytes) {
    await res.body?.cancel().catch(() => {})
    throw new LockError(`ADD ${url}: ${declared} bytes, more than the ${limits.maxUrlBytes} a lock fetches`)
  }
  const hash = createHash('sha256')
  let size = 0
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length
        if (size > limits.maxUrlBytes) {
          throw new LockError(`ADD ${url}: more than the ${limits.maxUrlBytes} bytes a lock fetches`)
        }
        hash.update(chunk)
      }
    }
  } catch (error) {
    if (error instanceof ReproError) throw error
    throw new LockError(`ADD ${url}: download failed (${reason(error)})`)
  }
  return {checksum: `sha256:${hash.digest('hex')}`, size, uses: []}
}

function reason(error: unknown): string {
  const e = error as {name?: string; cause?: {code?: string; message?: string}; message?: string}
  if (e.name === 'TimeoutError') return 'timed out'
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error)
}

/** `git ls-remote URL [REF]` → the commit (a peeled tag wins over the tag object). */
export async function resolveGit(
  url: string,
  ref: string | null,
  subdir: string | null,
  deps: ResolveDeps,
): Promise<LockedGit> {
  const base = {url, ref, subdir, uses: []}
  if (ref !== null && /^[a-f0-9]{40}$/.test(ref)) return {...base, commit: ref}
  const limits = {...DEFAULT_LOCK_LIMITS, ...deps.limits}
  const want = ref ?? 'HEAD'
  // an annotated tag is listed as the tag object; its commit is the peeled `REF^{}` line, which only
  // matches a pattern of its own
  const patterns = want === 'HEAD' ? [want] : [want, `${want}^{}`]
  const result = await deps.exec(['git', 'ls-remote', '--', url, ...patterns], {
    reject: false,
    timeoutMs: limits.gitTimeoutMs,
    env: {GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true'},
  })
  if (result.notFound)
    throw new LockError(`ADD ${gitKey(url, ref, subdir)}: git is not installed (needed to lock git sources)`)
  if (result.exitCode !== 0) {
    const why = result.stderr.trim().split('\n').at(-1) ?? `exit code ${result.exitCode}`
    throw new LockError(`ADD ${gitKey(url, ref, subdir)}: git ls-remote failed: ${why}`)
  }
  const refs = new Map<string, string>()
  for (const line of result.stdout.split('\n')) {
    const m = /^([a-f0-9]{40}(?:[a-f0-9]{24})?)\t(\S+)$/.exec(line.trim())
    if (m) refs.set(m[2], m[1])
  }
  const commit =
    want === 'HEAD'
      ? refs.get('HEAD')
      : (refs.get(`refs/tags/${want}^{}`) ??
        refs.get(`refs/tags/${want}`) ??
        refs.get(`refs/heads/${want}`) ??
        refs.get(want))
  if (!commit) throw new LockError(`ADD ${gitKey(url, ref, subdir)}: the remote has no ref "${want}"`)
  return {...base, commit}
}

/**
 * An image in docker's or podman's store: locked only by a registry digest (RepoDigests), since an image ID
 * cannot be pulled by anyone else.
 */
export async function resolveStoreImage(
  name: string,
  store: 'docker' | 'podman',
  ref: string,
  deps: ResolveDeps,
): Promise<LockedContext> {
  const source = `${store}://${ref}`
  const result = await deps.exec([store, 'image', 'inspect', '--format', '{{json .RepoDigests}}', ref], {
    reject: false,
    timeoutMs: 60_000,
  })
  if (result.notFound) throw new LockError(`--build-context ${name}=${source}: ${store} is not installed`)
  if (result.exitCode !== 0) {
    throw new LockError(
      `--build-context ${name}=${source}: ${store} image inspect failed: ${result.stderr.trim().split('\n').at(-1) ?? ''}`,
    )
  }
  let digests: unknown
  try {
    digests = JSON.parse(result.stdout.trim().split('\n')[0] || 'null')
  } catch {
    digests = null
  }
  // podman records `localhost/NAME@sha256:...` for images that never saw a registry: not pullable, not a pin
  const list = Array.isArray(digests)
    ? digests
        .filter((d): d is string => typeof d === 'string' && /@sha256:[a-f0-9]{64}$/.test(d))
        .filter((d) => d.split('/')[0] !== 'localhost')
        .sort()
    : []
  if (list.length === 0) {
    throw new LockError(
      `--build-context ${name}=${source}: the image has no registry digest (no RepoDigests outside localhost/), so nobody else could pull what was built: push it to a registry and name it by that reference`,
      [`${store} push ${ref}`],
    )
  }
  return {source, pinned: list[0]}
}
