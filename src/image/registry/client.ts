/**
 * The one OCI distribution (registry HTTP API v2) client: reads for analyze, diff and verify, writes for
 * `get push`, blobs for the oci:// package provider.
 *
 * Hand-written over node's fetch. The npm clients looked at: @snyk/docker-registry-v2-client reads only (no
 * uploads, mounts or referrers) and docker-registry-client (Joyent's) is callback-based and unmaintained;
 * neither runs docker's credential helpers nor bounds what a registry sends, which is most of this file.
 *
 * Bounds: JSON answers (manifests, tokens, tag lists, referrers) are read up to a size limit and checked
 * against Content-Length first; blobs are hashed while streaming and cut off at their descriptor's size;
 * every request has a time limit for its headers, for silence in its body and in total (blobs: at least a
 * minimum throughput); redirects, 401 rounds, retries (429/5xx/network, exponential backoff honouring a
 * bounded Retry-After), tag and referrer pages are all counted.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {open, rename, rm} from 'node:fs/promises'

import {DigestMismatchError} from '../../errors.js'
import type {Logger} from '../../log.js'
import {type DigestAlgorithm, digestOf, parseDigest} from '../digest.js'
import {isIndexMediaType, MT} from '../media-types.js'
import {basicHeader, parseChallenge, parseTokenResponse, repositoryScope, tokenRequest} from './auth.js'
import type {Credentials, CredentialStore} from './credentials.js'
import {RegistryError} from './errors.js'
import {registryOrigin} from './reference.js'

export interface RegistryLimits {
  /** largest manifest or index accepted (the OCI distribution spec suggests registries accept 4 MiB) */
  maxManifestBytes: number
  /** largest other JSON answer: tokens, tag lists, referrers pages, error bodies */
  maxJsonBytes: number
  maxRedirects: number
  /** how many times a 401 is answered with (new) credentials before giving up */
  maxAuthRounds: number
  /** retries after a 429, 5xx or network failure (so attempts = retries + 1) */
  retries: number
  backoffMs: number
  maxBackoffMs: number
  /** time until the response headers arrive */
  responseTimeoutMs: number
  /** silence allowed while a body streams */
  idleTimeoutMs: number
  /** whole-request limit for JSON answers and uploads of small bodies */
  requestTimeoutMs: number
  /** blobs get max(requestTimeoutMs, size / minBytesPerSecond): a slow drip cannot hold us forever */
  minBytesPerSecond: number
  maxPages: number
  maxTags: number
}

export const DEFAULT_LIMITS: RegistryLimits = {
  maxManifestBytes: 4 * 1024 * 1024,
  maxJsonBytes: 4 * 1024 * 1024,
  maxRedirects: 5,
  maxAuthRounds: 2,
  retries: 3,
  backoffMs: 250,
  maxBackoffMs: 8000,
  responseTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  requestTimeoutMs: 120_000,
  minBytesPerSecond: 64 * 1024,
  maxPages: 1000,
  maxTags: 100_000,
}

export const MANIFEST_TYPES = [MT.ociIndex, MT.dockerManifestList, MT.ociManifest, MT.dockerManifest] as const
const MANIFEST_ACCEPT = MANIFEST_TYPES.join(', ')
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504])

export interface RegistryClientOptions {
  /** canonical registry host[:port] (see canonicalRegistry) */
  registry: string
  /** force a scheme (oci+http://, oci+https://); else https except localhost, or http with plainHttp */
  scheme?: 'http' | 'https'
  plainHttp?: boolean
  credentials?: CredentialStore
  limits?: Partial<RegistryLimits>
  logger?: Logger
  fetch?: typeof fetch
  /** aborts everything this client does */
  signal?: AbortSignal
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
  artifactType?: string
  platform?: {architecture?: string; os?: string; variant?: string}
}

export interface Manifest {
  bytes: Buffer
  digest: string
  mediaType: string
  json: Record<string, unknown>
}

/** A body to send: bytes, or a factory of fresh streams so a retry can send it again. */
type Body = Buffer | {size: number; open: () => AsyncIterable<Uint8Array>}

interface RequestSpec {
  method: 'DELETE' | 'GET' | 'HEAD' | 'PATCH' | 'POST' | 'PUT'
  url: string
  headers?: Record<string, string>
  body?: Body
  scopes: string[]
  /** names the request in messages: `GET manifest a:1` */
  what: string
  /** whole-request limit; undefined: the JSON default */
  totalMs?: number
  /** false: no timers of ours (the caller keeps its own), only its signal */
  timeouts?: boolean
  signal?: AbortSignal
}

/** A response whose body is read under the request's timers; call `discard()` when the body is not wanted. */
export interface RegistryResponse {
  status: number
  headers: Headers
  url: string
  raw: Response
  chunks(): AsyncGenerator<Buffer>
  discard(): Promise<void>
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(t)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, {once: true})
  })

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
}

function networkReason(error: unknown): string {
  const e = error as {cause?: {code?: string; message?: string}; message?: string}
  const code = e.cause?.code
  if (code) return NETWORK_CODES[code] ? `${NETWORK_CODES[code]} (${code})` : code
  return e.cause?.message ?? e.message ?? String(error)
}

/** `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the bare type. */
function contentType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase()
}

export class RegistryClient {
  readonly registry: string
  readonly origin: string
  readonly limits: RegistryLimits
  private readonly fetchImpl: typeof fetch
  private readonly tokens = new Map<string, {header: string; expires: number}>()
  private basic: string | undefined
  private credentials: Promise<Credentials | undefined> | undefined

  constructor(private readonly options: RegistryClientOptions) {
    this.registry = options.registry
    this.origin =
      options.scheme === undefined
        ? registryOrigin(options.registry, options.plainHttp)
        : `${options.scheme}://${registryOrigin(options.registry).replace(/^https?:\/\//, '')}`
    this.limits = {...DEFAULT_LIMITS, ...options.limits}
    this.fetchImpl = options.fetch ?? fetch
  }

  /** A repository of this registry; `subject` names it in every message (the user's reference). */
  repository(name: string, subject = `${this.registry}/${name}`): Repository {
    return new Repository(this, name, subject)
  }

  private getCredentials(): Promise<Credentials | undefined> {
    return (this.credentials ??= this.options.credentials?.get(this.registry) ?? Promise.resolve(undefined))
  }

  private authorizationFor(scopes: string[]): string | undefined {
    const t = this.tokens.get(scopes.join(' '))
    if (t && t.expires > Date.now()) return t.header
    return this.basic
  }

  /** Answer a 401's challenge: false when there is nothing new to try. */
  private async authorize(subject: string, res: Response, scopes: string[], round: number): Promise<boolean> {
    const header = res.headers.get('www-authenticate') ?? ''
    const challenge = parseChallenge(header)
    const credentials = await this.getCredentials()
    if (challenge.scheme === 'basic') {
      const basic = basicHeader(credentials)
      if (!basic || this.basic === basic) return false
      this.basic = basic
      return true
    }
    if (challenge.scheme !== 'bearer') {
      if (header === '') return false
      throw new RegistryError(
        `${subject}: unsupported authentication challenge ${JSON.stringify(header.slice(0, 100))}`,
      )
    }
    if (!challenge.params.realm)
      throw new RegistryError(`${subject}: bearer challenge without a realm: ${JSON.stringify(header.slice(0, 200))}`)
    if (round >= this.limits.maxAuthRounds) return false
    let req: ReturnType<typeof tokenRequest>
    try {
      req = tokenRequest(challenge, scopes, credentials)
    } catch {
      throw new RegistryError(
        `${subject}: bearer challenge with an invalid realm ${JSON.stringify(challenge.params.realm)}`,
      )
    }
    if (req.url.protocol !== 'https:' && req.url.protocol !== 'http:')
      throw new RegistryError(`${subject}: bearer realm ${req.url.origin} is not http(s)`)
    const where = `${req.url.origin}${req.url.pathname}`
    const tokenRes = await this.send(subject, {
      method: req.method,
      url: req.url.toString(),
      headers: req.headers,
      body: req.body === undefined ? undefined : Buffer.from(req.body),
      scopes: [],
      what: `token request to ${where}`,
    })
    if (tokenRes.status !== 200) {
      await tokenRes.discard()
      const hint =
        tokenRes.status === 401 || tokenRes.status === 403
          ? [
              credentials
                ? `the credentials from ${credentials.source} were refused: log in again with \`docker login ${this.registry}\``
                : `log in with \`docker login ${this.registry}\` (docker config auths, credsStore and credHelpers are read)`,
            ]
          : []
      throw new RegistryError(`${subject}: token request to ${where} failed: HTTP ${tokenRes.status}`, hint, {
        status: tokenRes.status,
      })
    }
    const body = await readJson(subject, tokenRes, this.limits.maxJsonBytes, `token response from ${where}`)
    const token = parseTokenResponse(body)
    if (!token) throw new RegistryError(`${subject}: token response from ${where} has no usable token`)
    this.tokens.set(scopes.join(' '), {
      header: `Bearer ${token.token}`,
      // renew 10 s early, so a token does not expire between the check and the request
      expires: Date.now() + Math.max(1, token.expiresInSeconds - 10) * 1000,
    })
    return true
  }

  /**
   * One request with everything around it: auth (preemptive when known, else on 401), redirects
   * (Authorization dropped when leaving the registry's origin), retries with backoff, timeouts.
   */
  async request(subject: string, spec: RequestSpec): Promise<RegistryResponse> {
    let attempt = 0
    for (;;) {
      let res: RegistryResponse
      try {
        res = await this.withAuth(subject, spec)
      } catch (error) {
        if (!(error instanceof TransientError) || attempt >= this.limits.retries) {
          if (error instanceof TransientError)
            throw new RegistryError(`${subject}: ${spec.what}: ${error.message} (after ${attempt + 1} attempts)`, [
              'check the registry address; use --plain-http for a registry without TLS',
            ])
          throw error
        }
        await this.backoff(subject, spec, attempt++, error.message, undefined)
        continue
      }
      if (RETRYABLE.has(res.status) && attempt < this.limits.retries) {
        const retryAfter = res.headers.get('retry-after')
        await res.discard()
        await this.backoff(subject, spec, attempt++, `HTTP ${res.status}`, retryAfter)
        continue
      }
      return res
    }
  }

  private async backoff(
    subject: string,
    spec: RequestSpec,
    attempt: number,
    why: string,
    retryAfter: string | null | undefined,
  ): Promise<void> {
    const exp = this.limits.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5)
    const asked = retryAfter && /^\d{1,6}$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0
    const delay = Math.min(this.limits.maxBackoffMs, Math.max(exp, asked))
    this.options.logger?.debug(`${subject}: ${spec.what}: ${why}; retry ${attempt + 1} in ${Math.round(delay)} ms`)
    await sleep(delay, spec.signal ?? this.options.signal)
  }

  private async withAuth(subject: string, spec: RequestSpec): Promise<RegistryResponse> {
    for (let round = 0; ; round++) {
      const authorization = this.authorizationFor(spec.scopes)
      const res = await this.send(subject, {...spec, authorization})
      if (res.status !== 401) return res
      await res.discard()
      if (round >= this.limits.maxAuthRounds || !(await this.authorize(subject, res.raw, spec.scopes, round))) {
        const credentials = await this.getCredentials()
        throw new RegistryError(
          `${subject}: ${spec.what}: HTTP 401 unauthorized${round > 0 ? ` (after ${round} authentication round${round > 1 ? 's' : ''})` : ''}`,
          [
            credentials
              ? `the credentials from ${credentials.source} were refused: log in again with \`docker login ${this.registry}\``
              : `log in with \`docker login ${this.registry}\` (docker config auths, credsStore and credHelpers are read)`,
          ],
          {status: 401},
        )
      }
    }
  }

  /** One exchange, following redirects, under the request's timers. */
  private async send(subject: string, spec: RequestSpec & {authorization?: string}): Promise<RegistryResponse> {
    const limits = this.limits
    const controller = new AbortController()
    const signals = [controller.signal, spec.signal, this.options.signal].filter((s): s is AbortSignal => !!s)
    const signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals)
    let timedOut: string | undefined
    const useTimers = spec.timeouts !== false
    const total = spec.totalMs ?? limits.requestTimeoutMs
    const fire = (why: string) => () => {
      timedOut = why
      controller.abort(new Error(why))
    }
    // unref'd: a forgotten response must not keep the process alive (the socket does while it is in use)
    const timer = (why: string, ms: number): NodeJS.Timeout | undefined =>
      useTimers ? setTimeout(fire(why), ms).unref() : undefined
    const totalTimer = timer(`no complete answer within ${total} ms`, total)
    let phaseTimer = timer(`no response within ${limits.responseTimeoutMs} ms`, limits.responseTimeoutMs)
    const clear = (): void => {
      clearTimeout(totalTimer)
      clearTimeout(phaseTimer)
    }
    let url = spec.url
    let method = spec.method
    let body = spec.body
    const origin = new URL(url).origin
    const {authorization: given, ...otherHeaders} = spec.headers ?? {}
    const authorization = spec.authorization ?? given
    try {
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = {'user-agent': 'repro', ...otherHeaders}
        // credentials go to the registry's origin only, never to where it redirects (blob storage)
        if (authorization && new URL(url).origin === origin) headers.authorization = authorization
        // bytes get their length from fetch; a stream is announced so the registry need not take chunked
        if (body !== undefined && !Buffer.isBuffer(body)) headers['content-length'] = String(body.size)
        let raw: Response
        try {
          raw = await this.fetchImpl(url, {
            method,
            headers,
            body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : streamBody(body.open()),
            redirect: 'manual',
            signal,
            ...(body !== undefined && !Buffer.isBuffer(body) ? {duplex: 'half'} : {}),
          } as RequestInit)
        } catch (error) {
          if (timedOut) throw new TransientError(timedOut)
          if (spec.signal?.aborted || this.options.signal?.aborted) throw error
          throw new TransientError(`${method} ${url} failed: ${networkReason(error)}`)
        }
        const location = raw.headers.get('location')
        if ([301, 302, 303, 307, 308].includes(raw.status) && location) {
          await raw.body?.cancel().catch(() => {})
          if (hop >= limits.maxRedirects)
            throw new RegistryError(
              `${subject}: ${spec.what}: more than ${limits.maxRedirects} redirects (last to ${location.slice(0, 200)})`,
            )
          let next: URL
          try {
            next = new URL(location, url)
          } catch {
            throw new RegistryError(
              `${subject}: ${spec.what}: redirect to an invalid URL ${JSON.stringify(location.slice(0, 200))}`,
            )
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:')
            throw new RegistryError(`${subject}: ${spec.what}: redirect to a ${next.protocol} URL`)
          url = next.toString()
          if (raw.status === 303) {
            method = 'GET'
            body = undefined
          }
          continue
        }
        // headers are in: from now on the body may be silent for idleTimeoutMs at most
        clearTimeout(phaseTimer)
        const idle = limits.idleTimeoutMs
        phaseTimer = timer(`no data for ${idle} ms`, idle)
        let finished = false
        const finish = (): void => {
          finished = true
          clear()
        }
        const response: RegistryResponse = {
          status: raw.status,
          headers: raw.headers,
          url,
          raw,
          async *chunks() {
            try {
              if (!raw.body) return
              for await (const chunk of raw.body as unknown as AsyncIterable<Uint8Array>) {
                phaseTimer?.refresh()
                yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
              }
            } catch (error) {
              if (timedOut) throw new RegistryError(`${subject}: ${spec.what}: ${timedOut}`)
              if (error instanceof RegistryError) throw error
              throw new RegistryError(`${subject}: ${spec.what}: reading the answer failed: ${networkReason(error)}`)
            } finally {
              finish()
            }
          },
          async discard() {
            if (!finished) finish()
            await raw.body?.cancel().catch(() => {})
          },
        }
        if (method === 'HEAD' || !raw.body) finish()
        return response
      }
    } catch (error) {
      clear()
      throw error
    }
  }
}

class TransientError extends Error {}

function streamBody(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const {done, value} = await it.next()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    async cancel() {
      await it.return?.()
    },
  })
}

/** Read a whole answer of at most `max` bytes (Content-Length checked first, then counted while reading). */
export async function readBounded(subject: string, res: RegistryResponse, max: number, what: string): Promise<Buffer> {
  const declared = res.headers.get('content-length')
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) {
    await res.discard()
    throw new RegistryError(`${subject}: ${what} is ${declared} bytes, more than the ${max} allowed`)
  }
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of res.chunks()) {
    n += chunk.length
    if (n > max) {
      await res.discard()
      throw new RegistryError(`${subject}: ${what} is more than the ${max} bytes allowed`)
    }
    parts.push(chunk)
  }
  return Buffer.concat(parts, n)
}

async function readJson(subject: string, res: RegistryResponse, max: number, what: string): Promise<unknown> {
  const bytes = await readBounded(subject, res, max, what)
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new RegistryError(`${subject}: ${what} is not valid JSON`)
  }
}

/** The registry's error message (`{"errors":[{"code","message"}]}`), short, for our own one-line error. */
async function errorDetail(subject: string, res: RegistryResponse): Promise<string> {
  if (res.raw.bodyUsed || !res.raw.body) return ''
  try {
    const text = (await readBounded(subject, res, 64 * 1024, 'error body')).toString('utf8')
    try {
      const j = JSON.parse(text) as {errors?: Array<{code?: unknown; message?: unknown}>}
      const e = j.errors?.[0]
      if (e) return `: ${[e.code, e.message].filter((x) => typeof x === 'string').join(' ')}`.slice(0, 200)
    } catch {
      // not JSON: the first line of the text
    }
    const line = text.trim().split('\n')[0]
    return line ? `: ${line.slice(0, 200)}` : ''
  } catch {
    return ''
  }
}

function hashOf(algorithm: DigestAlgorithm, data: Buffer): string {
  return digestOf(data, algorithm)
}

/** The fallback tag of the referrers API: `<alg>-<hex>` (alg cut to 32, hex to 64 characters). */
export function referrersTag(digest: string): string {
  const d = parseDigest(digest)
  if (!d) throw new RegistryError(`invalid digest ${JSON.stringify(digest)}`)
  return `${d.algorithm.slice(0, 32)}-${d.hex.slice(0, 64)}`
}

function validDescriptor(d: unknown): d is Descriptor {
  if (!d || typeof d !== 'object') return false
  const x = d as Descriptor
  return (
    typeof x.mediaType === 'string' &&
    parseDigest(x.digest) !== undefined &&
    Number.isSafeInteger(x.size) &&
    x.size >= 0
  )
}

/** A repository of one registry: every operation the image core needs. */
export class Repository {
  constructor(
    readonly client: RegistryClient,
    readonly name: string,
    /** names this repository (or the user's reference) in messages */
    readonly subject: string,
  ) {}

  private url(path: string): string {
    return `${this.client.origin}/v2/${this.name}/${path}`
  }

  private scopes(push: boolean): string[] {
    return [repositoryScope(this.name, push)]
  }

  private async fail(res: RegistryResponse, what: string): Promise<never> {
    const detail = await errorDetail(this.subject, res)
    await res.discard()
    const hint =
      res.status === 404
        ? ['check the repository, tag and digest']
        : res.status === 403
          ? [`log in with an account that may do this: \`docker login ${this.client.registry}\``]
          : []
    throw new RegistryError(`${this.subject}: ${what}: HTTP ${res.status}${detail}`, hint, {status: res.status})
  }

  /** HEAD a manifest: its descriptor, or undefined when the registry has none. */
  async headManifest(reference: string): Promise<Descriptor | undefined> {
    const what = `HEAD manifest ${reference}`
    const res = await this.client.request(this.subject, {
      method: 'HEAD',
      url: this.url(`manifests/${reference}`),
      headers: {accept: MANIFEST_ACCEPT},
      scopes: this.scopes(false),
      what,
    })
    await res.discard()
    if (res.status === 404) return undefined
    if (res.status !== 200) return this.fail(res, what)
    const digest = res.headers.get('docker-content-digest') ?? ''
    const size = Number(res.headers.get('content-length'))
    if (!parseDigest(digest) || !Number.isSafeInteger(size)) return undefined
    return {mediaType: contentType(res.headers), digest, size}
  }

  /** A tag or digest → the manifest's digest (HEAD; GET when the registry does not say it in HEAD). */
  async resolve(reference: string): Promise<Descriptor> {
    const head = await this.headManifest(reference)
    if (head && (!parseDigest(reference) || head.digest === reference)) return head
    const m = await this.getManifest(reference)
    return {mediaType: m.mediaType, digest: m.digest, size: m.bytes.length}
  }

  /**
   * GET a manifest or index: size-bounded, its digest checked (against the reference when it is one, and
   * against Docker-Content-Digest when the registry sends it), JSON, and a manifest media type.
   */
  async getManifest(reference: string, expected?: Pick<Descriptor, 'digest' | 'size'>): Promise<Manifest> {
    const limits = this.client.limits
    const what = `GET manifest ${reference}`
    const res = await this.client.request(this.subject, {
      method: 'GET',
      url: this.url(`manifests/${reference}`),
      headers: {accept: MANIFEST_ACCEPT},
      scopes: this.scopes(false),
      what,
    })
    if (res.status !== 200) return this.fail(res, what)
    const max = expected ? Math.min(expected.size, limits.maxManifestBytes) : limits.maxManifestBytes
    if (expected && expected.size > limits.maxManifestBytes) {
      await res.discard()
      throw new RegistryError(
        `${this.subject}: manifest ${reference} is ${expected.size} bytes, more than the ${limits.maxManifestBytes} allowed`,
      )
    }
    const bytes = await readBounded(this.subject, res, max, `manifest ${reference}`)
    const byRef = parseDigest(reference)
    const digest = hashOf(byRef?.algorithm ?? 'sha256', bytes)
    if (byRef && digest !== reference)
      throw new DigestMismatchError(`${this.subject}: manifest ${reference}`, reference, digest)
    if (expected && bytes.length !== expected.size)
      throw new RegistryError(
        `${this.subject}: manifest ${reference} is ${bytes.length} bytes, its descriptor says ${expected.size}`,
      )
    const claimed = res.headers.get('docker-content-digest')
    const parsedClaim = claimed ? parseDigest(claimed) : undefined
    if (parsedClaim && hashOf(parsedClaim.algorithm, bytes) !== claimed)
      throw new DigestMismatchError(
        `${this.subject}: manifest ${reference} (Docker-Content-Digest)`,
        claimed!,
        hashOf(parsedClaim.algorithm, bytes),
      )
    let json: Record<string, unknown>
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as unknown
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
      json = parsed as Record<string, unknown>
    } catch {
      throw new RegistryError(`${this.subject}: manifest ${reference} is not a JSON object`)
    }
    if (json.schemaVersion !== 2)
      throw new RegistryError(
        `${this.subject}: manifest ${reference} has schemaVersion ${JSON.stringify(json.schemaVersion)}, not 2 (docker schema 1 is not supported)`,
      )
    const header = contentType(res.headers)
    const inBody = typeof json.mediaType === 'string' ? json.mediaType : undefined
    const known = (MANIFEST_TYPES as readonly string[]).includes(header)
    if (!known && header !== 'application/json' && header !== '' && !(inBody && header === inBody))
      throw new RegistryError(
        `${this.subject}: manifest ${reference} came as ${JSON.stringify(header)}, not a manifest media type`,
      )
    if (known && inBody && inBody !== header)
      throw new RegistryError(`${this.subject}: manifest ${reference} came as ${header} but says it is ${inBody}`)
    const mediaType = inBody ?? (known ? header : Array.isArray(json.manifests) ? MT.ociIndex : MT.ociManifest)
    return {bytes, digest, mediaType, json}
  }

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  async blobSize(digest: string): Promise<number | undefined> {
    const what = `HEAD blob ${digest}`
    const res = await this.client.request(this.subject, {
      method: 'HEAD',
      url: this.url(`blobs/${digest}`),
      scopes: this.scopes(false),
      what,
    })
    await res.discard()
    if (res.status === 404) return undefined
    if (res.status !== 200) return this.fail(res, what)
    const size = Number(res.headers.get('content-length') ?? NaN)
    return Number.isSafeInteger(size) ? size : 0
  }

  /**
   * The raw GET of a blob (auth and redirects done, status not checked, no timers of ours: the caller
   * hashes and times it). For the package downloader, which has its own retries and verification.
   */
  async openBlob(digest: string, signal?: AbortSignal): Promise<Response> {
    const res = await this.client.request(this.subject, {
      method: 'GET',
      url: this.url(`blobs/${digest}`),
      scopes: this.scopes(false),
      what: `GET blob ${digest}`,
      timeouts: false,
      signal,
    })
    return res.raw
  }

  blobUrl(digest: string): string {
    return this.url(`blobs/${digest}`)
  }

  /**
   * Stream a blob into `file` (through `file.partial`, renamed only when verified): Content-Length must
   * agree with the descriptor, the body is cut off past the descriptor's size, and the digest (sha256 or
   * sha512) is computed on the way.
   */
  async fetchBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>, file: string): Promise<void> {
    const {digest, size} = descriptor
    const parsed = parseDigest(digest)
    if (!parsed) throw new RegistryError(`${this.subject}: invalid blob digest ${JSON.stringify(digest)}`)
    if (!Number.isSafeInteger(size) || size < 0)
      throw new RegistryError(`${this.subject}: blob ${digest} has an invalid size ${JSON.stringify(size)}`)
    const limits = this.client.limits
    const what = `GET blob ${digest}`
    const res = await this.client.request(this.subject, {
      method: 'GET',
      url: this.url(`blobs/${digest}`),
      scopes: this.scopes(false),
      what,
      totalMs: Math.max(limits.requestTimeoutMs, Math.ceil((size / limits.minBytesPerSecond) * 1000)),
    })
    if (res.status !== 200) return this.fail(res, what)
    const declared = res.headers.get('content-length')
    if (declared !== null && declared !== String(size)) {
      await res.discard()
      throw new RegistryError(`${this.subject}: blob ${digest} is ${declared} bytes, its descriptor says ${size}`)
    }
    const partial = `${file}.partial`
    const out = await open(partial, 'w', 0o644)
    const hash = createHash(parsed.algorithm)
    let n = 0
    let ok = false
    try {
      let pending: Buffer[] = []
      let pendingBytes = 0
      for await (const chunk of res.chunks()) {
        n += chunk.length
        if (n > size) {
          await res.discard()
          throw new RegistryError(
            `${this.subject}: blob ${digest} is longer than the ${size} bytes its descriptor says`,
          )
        }
        hash.update(chunk)
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes >= 4 << 20) {
          await out.writev(pending)
          pending = []
          pendingBytes = 0
        }
      }
      if (pending.length) await out.writev(pending)
      if (n !== size) throw new RegistryError(`${this.subject}: blob ${digest} ended after ${n} of ${size} bytes`)
      const actual = `${parsed.algorithm}:${hash.digest('hex')}`
      if (actual !== digest) throw new DigestMismatchError(`${this.subject}: blob ${digest}`, digest, actual)
      ok = true
    } finally {
      await out.close()
      if (ok) await rename(partial, file)
      else await rm(partial, {force: true})
    }
  }

  /** Try a cross-repository mount of `digest` from `from`: true when mounted, else an upload URL to use. */
  async mountBlob(digest: string, from: string): Promise<true | string> {
    const what = `mount blob ${digest} from ${from}`
    const q = new URLSearchParams({mount: digest, from})
    const res = await this.client.request(this.subject, {
      method: 'POST',
      url: this.url(`blobs/uploads/?${q}`),
      body: Buffer.alloc(0),
      scopes: [repositoryScope(this.name, true), repositoryScope(from, false)].sort(),
      what,
    })
    if (res.status === 201) {
      await res.discard()
      return true
    }
    if (res.status === 202) {
      await res.discard()
      return this.location(res, what)
    }
    return this.fail(res, what)
  }

  private location(res: RegistryResponse, what: string): string {
    const loc = res.headers.get('location')
    if (!loc) throw new RegistryError(`${this.subject}: ${what}: the registry sent no Location`)
    try {
      const u = new URL(loc, res.url)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme')
      return u.toString()
    } catch {
      throw new RegistryError(`${this.subject}: ${what}: invalid Location ${JSON.stringify(loc.slice(0, 200))}`)
    }
  }

  private async startUpload(what: string): Promise<string> {
    const res = await this.client.request(this.subject, {
      method: 'POST',
      url: this.url('blobs/uploads/'),
      body: Buffer.alloc(0),
      scopes: this.scopes(true),
      what,
    })
    if (res.status !== 202) return this.fail(res, what)
    await res.discard()
    return this.location(res, what)
  }

  /**
   * Upload a blob (bytes, a file of `size` bytes, or a factory of streams of `size` bytes): monolithic (POST,
   * then one PUT) up to `chunkSize`, chunked (POST, PATCH per chunk with Content-Range, PUT) above it; a
   * stream factory always goes up in one PUT (a retry opens a fresh stream). `mountFrom` tries a
   * cross-repository mount first. Returns what happened.
   */
  async uploadBlob(
    digest: string,
    data: Buffer | {file: string; size: number} | {size: number; open: () => AsyncIterable<Uint8Array>},
    options: {chunkSize?: number; mountFrom?: string; uploadUrl?: string} = {},
  ): Promise<'mounted' | 'uploaded'> {
    const size = Buffer.isBuffer(data) ? data.length : data.size
    const what = `upload blob ${digest}`
    let location = options.uploadUrl
    if (options.mountFrom && !location) {
      const mounted = await this.mountBlob(digest, options.mountFrom)
      if (mounted === true) return 'mounted'
      location = mounted
    }
    location ??= await this.startUpload(what)
    const chunkSize = options.chunkSize ?? 64 * 1024 * 1024
    const limits = this.client.limits
    const timeFor = (n: number): number =>
      Math.max(limits.requestTimeoutMs, Math.ceil((n / limits.minBytesPerSecond) * 1000))
    const slice = (start: number, end: number): Body =>
      Buffer.isBuffer(data)
        ? data.subarray(start, end)
        : 'open' in data
          ? data // only ever whole: streams are not chunked
          : {size: end - start, open: () => createReadStream(data.file, {start, end: end - 1})}
    const withDigest = (loc: string): string => {
      const u = new URL(loc)
      u.searchParams.set('digest', digest)
      return u.toString()
    }
    let finalBody: Body | undefined = slice(0, size)
    if (size > chunkSize && (Buffer.isBuffer(data) || !('open' in data))) {
      for (let start = 0; start < size; start += chunkSize) {
        const end = Math.min(size, start + chunkSize)
        const res = await this.client.request(this.subject, {
          method: 'PATCH',
          url: location,
          headers: {'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}`},
          body: slice(start, end),
          scopes: this.scopes(true),
          what: `${what} (bytes ${start}-${end - 1})`,
          totalMs: timeFor(end - start),
        })
        if (res.status !== 202) return this.fail(res, `${what} (bytes ${start}-${end - 1})`)
        await res.discard()
        location = this.location(res, what)
      }
      finalBody = undefined
    }
    const res = await this.client.request(this.subject, {
      method: 'PUT',
      url: withDigest(location),
      headers: {'content-type': 'application/octet-stream'},
      body: finalBody ?? Buffer.alloc(0),
      scopes: this.scopes(true),
      what,
      totalMs: timeFor(finalBody ? size : 0),
    })
    if (res.status !== 201 && res.status !== 204) return this.fail(res, what)
    await res.discard()
    const claimed = res.headers.get('docker-content-digest')
    if (claimed && parseDigest(claimed) && claimed !== digest)
      throw new DigestMismatchError(`${this.subject}: uploaded blob`, digest, claimed)
    return 'uploaded'
  }

  /** PUT a manifest under a tag or its digest; returns its digest (checked against the registry's). */
  async putManifest(
    reference: string,
    mediaType: string,
    bytes: Buffer,
  ): Promise<{digest: string; subjectHeader: string | undefined}> {
    const byRef = parseDigest(reference)
    const digest = hashOf(byRef?.algorithm ?? 'sha256', bytes)
    if (byRef && digest !== reference)
      throw new DigestMismatchError(`${this.subject}: manifest to push as ${reference}`, reference, digest)
    const what = `PUT manifest ${reference}`
    const res = await this.client.request(this.subject, {
      method: 'PUT',
      url: this.url(`manifests/${reference}`),
      headers: {'content-type': mediaType},
      body: bytes,
      scopes: this.scopes(true),
      what,
    })
    if (res.status !== 201 && res.status !== 200) return this.fail(res, what)
    await res.discard()
    const claimed = res.headers.get('docker-content-digest')
    if (claimed && parseDigest(claimed)?.algorithm === (byRef?.algorithm ?? 'sha256') && claimed !== digest)
      throw new DigestMismatchError(`${this.subject}: pushed manifest ${reference}`, digest, claimed)
    return {digest, subjectHeader: res.headers.get('oci-subject') ?? undefined}
  }

  /**
   * DELETE a manifest by digest (the registry drops the tags that point at it); false when it has none.
   * Registries may refuse (Distribution answers 405 unless deletes are enabled): that is an error.
   */
  async deleteManifest(digest: string): Promise<boolean> {
    if (!parseDigest(digest)) throw new RegistryError(`${this.subject}: invalid digest ${JSON.stringify(digest)}`)
    const what = `DELETE manifest ${digest}`
    const res = await this.client.request(this.subject, {
      method: 'DELETE',
      url: this.url(`manifests/${digest}`),
      scopes: [repositoryScope(this.name, true).replace(/push$/, 'delete')],
      what,
    })
    if (res.status === 404) {
      await res.discard()
      return false
    }
    if (res.status !== 202 && res.status !== 200) return this.fail(res, what)
    await res.discard()
    return true
  }

  /** Every tag, sorted, following the Link header's next pages (bounded pages and count). */
  async listTags(pageSize = 1000): Promise<string[]> {
    const limits = this.client.limits
    const tags: string[] = []
    let url: string | undefined = this.url(`tags/list?n=${pageSize}`)
    for (let page = 0; url; page++) {
      if (page >= limits.maxPages)
        throw new RegistryError(`${this.subject}: tag list has more than ${limits.maxPages} pages`)
      const what = `GET tags${page ? ` (page ${page + 1})` : ''}`
      const res = await this.client.request(this.subject, {method: 'GET', url, scopes: this.scopes(false), what})
      if (res.status !== 200) return this.fail(res, what)
      const link = res.headers.get('link')
      const json = (await readJson(this.subject, res, limits.maxJsonBytes, 'tag list')) as {tags?: unknown}
      if (json.tags !== null && json.tags !== undefined && !Array.isArray(json.tags))
        throw new RegistryError(`${this.subject}: tag list has no tags array`)
      for (const t of (json.tags as unknown[] | null | undefined) ?? []) {
        if (typeof t !== 'string' || !/^\w[\w.-]{0,127}$/.test(t))
          throw new RegistryError(`${this.subject}: tag list holds an invalid tag ${JSON.stringify(t).slice(0, 140)}`)
        tags.push(t)
      }
      if (tags.length > limits.maxTags) throw new RegistryError(`${this.subject}: more than ${limits.maxTags} tags`)
      url = nextLink(link, res.url, this.client.origin)
    }
    // registries disagree on the order (Distribution 2.8 answers in storage order): ours is sorted
    return [...new Set(tags)].sort()
  }

  /**
   * The manifests that refer to `digest` (OCI 1.1 referrers API), optionally of one artifact type. A
   * registry without the API (404) is asked for the fallback tag `<alg>-<hex>` instead, as the spec says.
   */
  async referrers(digest: string, artifactType?: string): Promise<Descriptor[]> {
    if (!parseDigest(digest)) throw new RegistryError(`${this.subject}: invalid digest ${JSON.stringify(digest)}`)
    const limits = this.client.limits
    const out: Descriptor[] = []
    let filtered = false
    let url: string | undefined =
      this.url(`referrers/${digest}`) + (artifactType ? `?${new URLSearchParams({artifactType})}` : '')
    for (let page = 0; url; page++) {
      if (page >= limits.maxPages)
        throw new RegistryError(`${this.subject}: referrers of ${digest} have more than ${limits.maxPages} pages`)
      const what = `GET referrers of ${digest}`
      const res = await this.client.request(this.subject, {
        method: 'GET',
        url,
        headers: {accept: MT.ociIndex},
        scopes: this.scopes(false),
        what,
      })
      if (res.status === 404 && page === 0) {
        await res.discard()
        return this.referrersFromTag(digest, artifactType)
      }
      if (res.status !== 200) return this.fail(res, what)
      filtered ||= (res.headers.get('oci-filters-applied') ?? '').split(',').includes('artifactType')
      const link = res.headers.get('link')
      const json = await readJson(this.subject, res, limits.maxManifestBytes, `referrers of ${digest}`)
      out.push(...this.indexDescriptors(json, `referrers of ${digest}`))
      url = nextLink(link, res.url, this.client.origin)
    }
    return artifactType && !filtered ? out.filter((d) => d.artifactType === artifactType) : out
  }

  private indexDescriptors(json: unknown, what: string): Descriptor[] {
    const manifests = (json as {manifests?: unknown})?.manifests
    if (!Array.isArray(manifests)) throw new RegistryError(`${this.subject}: ${what} is not an image index`)
    for (const d of manifests)
      if (!validDescriptor(d))
        throw new RegistryError(
          `${this.subject}: ${what} lists an invalid descriptor ${JSON.stringify(d).slice(0, 200)}`,
        )
    return manifests as Descriptor[]
  }

  /** A manifest, or undefined when the registry answers 404. */
  private async optionalManifest(reference: string): Promise<Manifest | undefined> {
    try {
      return await this.getManifest(reference)
    } catch (error) {
      if (error instanceof RegistryError && error.status === 404) return undefined
      throw error
    }
  }

  private async referrersFromTag(digest: string, artifactType?: string): Promise<Descriptor[]> {
    const tag = referrersTag(digest)
    const index = await this.optionalManifest(tag)
    if (!index) return []
    if (!isIndexMediaType(index.mediaType))
      throw new RegistryError(`${this.subject}: referrers tag ${tag} is not an image index`)
    const all = this.indexDescriptors(index.json, `referrers tag ${tag}`)
    return artifactType ? all.filter((d) => d.artifactType === artifactType) : all
  }

  /**
   * Push a manifest that has a `subject`; when the registry does not take the referrers API (no
   * OCI-Subject in its answer), add it to the fallback tag's index as the spec says.
   */
  async putReferrer(
    mediaType: string,
    bytes: Buffer,
    subjectDigest: string,
  ): Promise<{digest: string; fallback: boolean}> {
    const json = JSON.parse(bytes.toString('utf8')) as {
      artifactType?: unknown
      annotations?: unknown
      config?: {mediaType?: unknown}
    }
    const {digest, subjectHeader} = await this.putManifest(hashOf('sha256', bytes), mediaType, bytes)
    if (subjectHeader) return {digest, fallback: false}
    const tag = referrersTag(subjectDigest)
    const existing = (await this.optionalManifest(tag))?.json
    const manifests = existing ? this.indexDescriptors(existing, `referrers tag ${tag}`) : []
    if (!manifests.some((d) => d.digest === digest)) {
      const artifactType =
        typeof json.artifactType === 'string'
          ? json.artifactType
          : typeof json.config?.mediaType === 'string'
            ? json.config.mediaType
            : undefined
      manifests.push({
        mediaType,
        digest,
        size: bytes.length,
        ...(artifactType ? {artifactType} : {}),
        ...(json.annotations && typeof json.annotations === 'object'
          ? {annotations: json.annotations as Record<string, string>}
          : {}),
      })
    }
    const index = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MT.ociIndex, manifests}))
    await this.putManifest(tag, MT.ociIndex, index)
    return {digest, fallback: true}
  }
}

/** The `rel="next"` target of a Link header, kept on the registry's origin. */
export function nextLink(link: string | null, base: string, origin: string): string | undefined {
  if (!link) return undefined
  const m = /<([^>]*)>\s*;[^,]*\brel="?next"?/i.exec(link)
  if (!m) return undefined
  let u: URL
  try {
    u = new URL(m[1], base)
  } catch {
    return undefined
  }
  return u.origin === origin ? u.toString() : undefined
}
