/**
 * Resolve a `repro diff` input to an image archive, with no daemon import step:
 *   - a path: any archive or layout `repro analyze` reads
 *   - docker://REF, podman://REF: `docker save` / `podman save` into a temp file (through the Exec seam)
 *   - registry://HOST/REPO[:TAG|@DIGEST], or HOST/REPO[:TAG] when it is not a path: the registry HTTP API v2
 *     into a temp OCI layout directory (credentials from ~/.docker/config.json, basic or bearer token flow)
 * Temp files are removed by `cleanup()`.
 */
import {createHash} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {homedir, tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {InvalidArgumentError, ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import {type ImageArchive, readImageArchive} from '../image/archive.js'
import {parseDigest} from '../image/digest.js'
import {isIndexMediaType, MT} from '../image/media-types.js'
import {lifecycle} from '../lifecycle.js'
import type {Logger} from '../log.js'

export type InputKind = 'docker' | 'path' | 'podman' | 'registry'

export class RegistryError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_REGISTRY', message, {suggestions})
  }
}

export interface ImageReference {
  /** as given by the user, for messages */
  input: string
  /** registry host as written (docker.io for Docker Hub) */
  registry: string
  repository: string
  tag?: string
  digest?: string
}

/** Does `s` look like HOST/REPO[:TAG]: a first component with a dot or a port, or localhost? */
export function looksLikeReference(s: string): boolean {
  const first = s.split('/')[0]
  if (!s.includes('/') || s.startsWith('.') || s.startsWith('/')) return false
  return first === 'localhost' || /^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?$/i.test(first) || /^[a-z0-9.-]+:\d+$/i.test(first)
}

export function classifyInput(input: string, pathExists: boolean): {kind: InputKind; ref: string} {
  const m = /^(docker|podman|registry):\/\/(.+)$/.exec(input)
  if (m) return {kind: m[1] as InputKind, ref: m[2]}
  if (!pathExists && looksLikeReference(input)) return {kind: 'registry', ref: input}
  return {kind: 'path', ref: input}
}

/** Parse HOST/REPO[:TAG][@DIGEST]; a name without a registry host means Docker Hub. */
export function parseReference(ref: string, input = ref): ImageReference {
  let rest = ref
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!parseDigest(digest)) throw new InvalidArgumentError(`${input}: invalid digest ${JSON.stringify(digest)}`)
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf('/')
  const colon = rest.lastIndexOf(':')
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
  }
  const parts = rest.split('/')
  let registry = 'docker.io'
  if (parts.length > 1 && (parts[0] === 'localhost' || parts[0].includes('.') || parts[0].includes(':'))) {
    registry = parts.shift()!
  }
  let repository = parts.join('/')
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository))
    throw new InvalidArgumentError(`${input}: invalid repository name ${JSON.stringify(repository)}`)
  if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag))
    throw new InvalidArgumentError(`${input}: invalid tag ${JSON.stringify(tag)}`)
  if (tag === undefined && digest === undefined) tag = 'latest'
  return {input, registry, repository, tag, digest}
}

export interface InputOptions {
  exec: Exec
  logger?: Logger
  /** use http for every registry (default: only localhost / 127.0.0.1 / ::1) */
  plainHttp?: boolean
  /** fetch only this platform's manifests from a registry */
  platform?: string
  /** directory of config.json (default $DOCKER_CONFIG or ~/.docker) */
  dockerConfigDir?: string
  fetch?: typeof fetch
}

export interface ResolvedInput {
  input: string
  kind: InputKind
  archive: ImageArchive
  cleanup(): Promise<void>
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

export async function resolveInput(input: string, options: InputOptions): Promise<ResolvedInput> {
  const {kind, ref} = classifyInput(input, await exists(input))
  if (kind === 'path') {
    const archive = await readImageArchive(input)
    return {input, kind, archive, cleanup: () => archive.source.close()}
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'repro-diff-'))
  // SIGINT/SIGTERM mid-save: the registry ends `docker save` first, then removes the dir
  const unregister = lifecycle.registerPath(dir)
  const cleanupDir = (): Promise<void> => rm(dir, {force: true, recursive: true}).finally(unregister)
  try {
    let target: string
    if (kind === 'docker' || kind === 'podman') {
      if (ref.startsWith('-')) throw new InvalidArgumentError(`${input}: an image reference cannot start with '-'`)
      target = path.join(dir, 'image.tar')
      const argv =
        kind === 'docker'
          ? ['docker', 'save', '-o', target, ref]
          : ['podman', 'save', '--format', 'oci-archive', '-o', target, ref]
      options.logger?.verbose(`saving ${ref} with ${kind}`)
      await options.exec(argv)
    } else {
      target = path.join(dir, 'layout')
      await fetchToLayout(parseReference(ref, input), target, options)
    }
    const archive = await readImageArchive(target)
    return {
      input,
      kind,
      archive,
      cleanup: async () => {
        await archive.source.close()
        await cleanupDir()
      },
    }
  } catch (error) {
    await cleanupDir()
    throw error
  }
}

// ---------------------------------------------------------------------------------------------------------
// Registry HTTP API v2

const ACCEPT = [MT.ociIndex, MT.dockerManifestList, MT.ociManifest, MT.dockerManifest].join(', ')

export function registryBaseUrl(registry: string, plainHttp = false): string {
  const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry
  const local = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(host)
  return `${plainHttp || local ? 'http' : 'https'}://${host}`
}

/** Basic credentials for a registry from a Docker config.json (auths.<host>.auth or username/password). */
export function credentialsFor(config: unknown, registry: string): string | undefined {
  const auths = (config as {auths?: Record<string, {auth?: string; username?: string; password?: string}>})?.auths
  if (!auths || typeof auths !== 'object') return undefined
  const keys =
    registry === 'docker.io'
      ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io']
      : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`]
  for (const k of keys) {
    const e = auths[k]
    if (!e) continue
    if (typeof e.auth === 'string' && e.auth !== '') return e.auth
    if (typeof e.username === 'string' && typeof e.password === 'string')
      return Buffer.from(`${e.username}:${e.password}`).toString('base64')
  }
  return undefined
}

/** Parse `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string): {scheme: string; params: Record<string, string>} {
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim())
  const params: Record<string, string> = {}
  if (!m) return {scheme: '', params}
  for (const p of m[2].matchAll(/(\w+)="([^"]*)"|(\w+)=([^,\s]+)/g)) params[p[1] ?? p[3]] = p[2] ?? p[4]
  return {scheme: m[1].toLowerCase(), params}
}

class RegistryClient {
  private authorization: string | undefined
  constructor(
    private readonly ref: ImageReference,
    private readonly base: string,
    private readonly basic: string | undefined,
    private readonly fetchImpl: typeof fetch,
  ) {}

  private async send(url: string, accept?: string): Promise<Response> {
    const headers: Record<string, string> = {}
    if (accept) headers.Accept = accept
    if (this.authorization) headers.Authorization = this.authorization
    try {
      return await this.fetchImpl(url, {headers, redirect: 'follow'})
    } catch (error) {
      const cause = (error as {cause?: {code?: string; message?: string}}).cause
      throw new RegistryError(
        `${this.ref.input}: GET ${url} failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        ['check the registry address; use --plain-http for a registry without TLS'],
      )
    }
  }

  private async authenticate(res: Response): Promise<boolean> {
    const header = res.headers.get('www-authenticate')
    if (!header || this.authorization) return false
    const {scheme, params} = parseChallenge(header)
    if (scheme === 'basic') {
      if (!this.basic) return false
      this.authorization = `Basic ${this.basic}`
      return true
    }
    if (scheme !== 'bearer' || !params.realm) return false
    const url = new URL(params.realm)
    if (params.service) url.searchParams.set('service', params.service)
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`)
    const headers: Record<string, string> = {}
    if (this.basic) headers.Authorization = `Basic ${this.basic}`
    let tokenRes: Response
    try {
      tokenRes = await this.fetchImpl(url, {headers})
    } catch (error) {
      throw new RegistryError(`${this.ref.input}: token request to ${url.origin} failed: ${(error as Error).message}`)
    }
    if (!tokenRes.ok) {
      throw new RegistryError(
        `${this.ref.input}: token request to ${url.origin} failed: ${tokenRes.status} ${tokenRes.statusText}`,
        ['log in with `docker login` (credentials are read from ~/.docker/config.json)'],
      )
    }
    const body = (await tokenRes.json()) as {token?: string; access_token?: string}
    const token = body.token ?? body.access_token
    if (!token) throw new RegistryError(`${this.ref.input}: token response from ${url.origin} has no token`)
    this.authorization = `Bearer ${token}`
    return true
  }

  async get(kind: 'blobs' | 'manifests', reference: string, accept?: string): Promise<Response> {
    const url = `${this.base}/v2/${this.ref.repository}/${kind}/${reference}`
    let res = await this.send(url, accept)
    if (res.status === 401 && (await this.authenticate(res))) {
      await res.body?.cancel()
      res = await this.send(url, accept)
    }
    if (!res.ok) {
      await res.body?.cancel()
      const hint =
        res.status === 401 || res.status === 403
          ? ['log in with `docker login` (credentials are read from ~/.docker/config.json)']
          : res.status === 404
            ? ['check the repository, tag and digest']
            : []
      throw new RegistryError(`${this.ref.input}: GET ${url}: ${res.status} ${res.statusText}`.trim(), hint)
    }
    return res
  }

  async manifest(reference: string): Promise<{bytes: Buffer; digest: string; mediaType: string}> {
    const res = await this.get('manifests', reference, ACCEPT)
    const bytes = Buffer.from(await res.arrayBuffer())
    if (bytes.length > 16 * 1024 * 1024)
      throw new RegistryError(`${this.ref.input}: manifest ${reference} is absurdly large`)
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    if (reference.startsWith('sha256:') && reference !== digest)
      throw new RegistryError(`${this.ref.input}: manifest ${reference} does not match its digest: got ${digest}`)
    let mediaType = res.headers.get('content-type')?.split(';')[0].trim() ?? ''
    try {
      const json = JSON.parse(bytes.toString('utf8')) as {mediaType?: string; manifests?: unknown}
      if (typeof json.mediaType === 'string') mediaType = json.mediaType
      else if (!mediaType || mediaType === 'application/json')
        mediaType = Array.isArray(json.manifests) ? MT.ociIndex : MT.ociManifest
    } catch {
      throw new RegistryError(`${this.ref.input}: manifest ${reference} is not JSON`)
    }
    return {bytes, digest, mediaType}
  }

  /** Stream a blob to `file`, checking its digest on the way. */
  async blob(digest: string, file: string): Promise<void> {
    const res = await this.get('blobs', digest)
    if (!res.body) throw new RegistryError(`${this.ref.input}: blob ${digest} has no body`)
    const hash = createHash('sha256')
    const body = Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0])
    body.on('data', (c: Buffer) => hash.update(c))
    await pipeline(body, createWriteStream(file, {mode: 0o644}))
    const actual = `sha256:${hash.digest('hex')}`
    if (actual !== digest)
      throw new RegistryError(`${this.ref.input}: blob ${digest} does not match its digest: got ${actual}`)
  }
}

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({length: Math.max(1, Math.min(limit, items.length))}, async () => {
      while (next < items.length) await fn(items[next++])
    }),
  )
}

interface Descriptor {
  annotations?: Record<string, string>
  digest: string
  mediaType?: string
  platform?: {architecture?: string; os?: string; variant?: string}
  size: number
}

function platformOf(d: Descriptor): string {
  const p = d.platform
  return p?.os && p.architecture ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown'
}

/** Fetch an image (every platform, or only `platform` and its attestations) into an OCI layout directory. */
export async function fetchToLayout(ref: ImageReference, dir: string, options: InputOptions): Promise<void> {
  const configDir = options.dockerConfigDir ?? process.env.DOCKER_CONFIG ?? path.join(homedir(), '.docker')
  let dockerConfig: unknown
  try {
    dockerConfig = JSON.parse(await readFile(path.join(configDir, 'config.json'), 'utf8'))
  } catch {
    dockerConfig = undefined
  }
  const client = new RegistryClient(
    ref,
    registryBaseUrl(ref.registry, options.plainHttp),
    credentialsFor(dockerConfig, ref.registry),
    options.fetch ?? fetch,
  )
  const blobs = path.join(dir, 'blobs', 'sha256')
  await mkdir(blobs, {recursive: true})
  const writeBlob = (digest: string, bytes: Buffer): Promise<void> =>
    writeFile(path.join(blobs, digest.slice(7)), bytes)
  const top = await client.manifest(ref.digest ?? ref.tag!)
  if (ref.digest && top.digest !== ref.digest)
    throw new RegistryError(`${ref.input}: the registry returned ${top.digest} for ${ref.digest}`)
  await writeBlob(top.digest, top.bytes)
  const layerDigests = new Set<string>()
  const manifests: Array<{digest: string; bytes: Buffer}> = []
  if (isIndexMediaType(top.mediaType)) {
    const index = JSON.parse(top.bytes.toString('utf8')) as {manifests?: Descriptor[]}
    const children = Array.isArray(index.manifests) ? index.manifests : []
    const wanted = children.filter((d) => !options.platform || platformOf(d) === options.platform)
    const wantedDigests = new Set(wanted.map((d) => d.digest))
    const attestations = children.filter(
      (d) =>
        d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' &&
        wantedDigests.has(d.annotations['vnd.docker.reference.digest']),
    )
    if (wanted.length === 0)
      throw new InvalidArgumentError(
        `--platform ${options.platform}: ${ref.input} has no such platform (it has ${children.map(platformOf).join(', ')})`,
      )
    for (const d of [...new Set([...wanted, ...attestations])]) {
      if (!parseDigest(d.digest))
        throw new RegistryError(`${ref.input}: index lists an invalid digest ${JSON.stringify(d.digest)}`)
      const m = await client.manifest(d.digest)
      if (isIndexMediaType(m.mediaType))
        throw new RegistryError(`${ref.input}: nested indexes deeper than one level are not supported`)
      await writeBlob(m.digest, m.bytes)
      manifests.push(m)
    }
  } else {
    manifests.push(top)
  }
  for (const m of manifests) {
    const json = JSON.parse(m.bytes.toString('utf8')) as {config?: Descriptor; layers?: Descriptor[]}
    for (const d of [json.config, ...(json.layers ?? [])]) {
      if (!d) continue
      if (!parseDigest(d.digest) || !d.digest.startsWith('sha256:'))
        throw new RegistryError(
          `${ref.input}: manifest ${m.digest} lists an unsupported digest ${JSON.stringify(d.digest)}`,
        )
      layerDigests.add(d.digest)
    }
  }
  await runLimited([...layerDigests].sort(), 4, (d) => client.blob(d, path.join(blobs, d.slice(7))))
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [{mediaType: top.mediaType, digest: top.digest, size: top.bytes.length}],
  }
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index))
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({imageLayoutVersion: '1.0.0'}))
}
