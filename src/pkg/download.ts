/**
 * Parallel, verified downloads into the cache. Per entry: cached → done; else providers in order, falling
 * through on ANY failure (template without a value, missing file, HTTP status, timeout, network error,
 * checksum mismatch, over the size cap). Each attempt streams into a `.part` file in the cache while hashing;
 * only a verified file is renamed into blobs/, and every failure removes its own `.part` (a killed process's
 * stale ones are removed by the cache at the next run). Transient failures (5xx, 429, resets, timeouts) are
 * retried with exponential backoff.
 *
 * Bounds: at most `maxBytes` (2 GiB by default) are read per attempt, whatever the source claims; http has a
 * timeout to the first response, an idle timeout and a total timeout per attempt; file:// reads only regular
 * files under the provider's root (see regular-file.ts), so a FIFO or /dev/zero cannot hang a download.
 */
import {createHash} from 'node:crypto'
import {open, rm} from 'node:fs/promises'

import {DownloadError} from '../errors.js'
import type {Logger} from '../log.js'
import type {PackageCache} from './cache.js'
import type {HashEntry} from './hash-file.js'
import {openOciRepository, type Repository} from '../image/registry/index.js'
import {type Provider, providerTarget, type ProviderTarget} from './providers.js'
import {formatBytes, openConfinedRegularFile, readChunks, RegularFileError} from './regular-file.js'
import {mapLimit} from '../pool.js'

/** The largest package file accepted (the hash file gives no size): 2 GiB. */
export const DEFAULT_MAX_PACKAGE_BYTES = 2 * 2 ** 30
/** No http attempt lasts longer than this (30 min: 2 GiB at 1.2 MB/s), whatever the server does. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 30 * 60_000

export interface DownloadOptions {
  cache: PackageCache
  providers: Provider[]
  /** epoch seconds per hash file (SOURCE_DATE_EPOCH or the file's mtime) */
  epochFor: (entry: HashEntry) => number
  jobs?: number
  /** no response headers within this long → transient failure */
  connectTimeoutMs?: number
  /** no bytes for this long while receiving the body → transient failure */
  idleTimeoutMs?: number
  /** no http attempt lasts longer than this (DEFAULT_ATTEMPT_TIMEOUT_MS) */
  attemptTimeoutMs?: number
  /** the largest file accepted from any provider (DEFAULT_MAX_PACKAGE_BYTES) */
  maxBytes?: number
  retries?: number
  backoffMs?: number
  logger: Logger
  events?: DownloadEvents
  fetchImpl?: typeof fetch
}

export interface DownloadEvents {
  start?(total: number, cached: number): void
  bytes?(n: number): void
  done?(entry: HashEntry, from: string): void
}

export interface DownloadedEntry {
  name: string
  sha256: string
  /** the provider source, or "cache" */
  from: string
  url?: string
  attempts: number
}

export interface DownloadResult {
  entries: DownloadedEntry[]
  downloaded: number
  cached: number
  bytes: number
}

class AttemptError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message)
  }
}

export async function downloadEntries(entries: HashEntry[], options: DownloadOptions): Promise<DownloadResult> {
  const {cache, logger} = options
  await cache.init()
  if (options.providers.length === 0)
    throw new DownloadError('no providers: use --provider TEMPLATE or REPRO_PROVIDERS')
  const cachedFlags = await Promise.all(entries.map((e) => cache.has(e.sha256)))
  options.events?.start?.(entries.length, cachedFlags.filter(Boolean).length)
  const registries = new Map<string, Repository>()
  const failures: {index: number; line: number; message: string}[] = []
  let bytes = 0
  const results = await mapLimit(entries, options.jobs ?? 8, async (entry, i): Promise<DownloadedEntry | undefined> => {
    if (cachedFlags[i]) {
      // a blob whose metadata was lost (e.g. imported before) still gets its name back
      if (!(await cache.readMetadata(entry.sha256))) await cache.writeMetadata(entry.sha256, {basename: entry.basename})
      options.events?.done?.(entry, 'cache')
      return {name: entry.name, sha256: entry.sha256, from: 'cache', attempts: 0}
    }
    const reasons: string[] = []
    let attempts = 0
    for (const provider of options.providers) {
      const r = await tryProvider(entry, provider, options, registries, (n) => {
        bytes += n
        options.events?.bytes?.(n)
      })
      attempts += r.attempts
      if (r.ok) {
        logger.verbose(`${entry.basename}: from ${r.url}`)
        options.events?.done?.(entry, provider.source)
        return {name: entry.name, sha256: entry.sha256, from: provider.source, url: r.url, attempts}
      }
      logger.debug(`${entry.basename}: ${provider.source}: ${r.reason}`)
      reasons.push(`${provider.source}: ${r.reason}`)
    }
    failures.push({
      index: i,
      line: entry.source.line,
      message: `${entry.source.file}:${entry.source.line}: ${entry.name}: every provider failed (${reasons.join('; ')})`,
    })
    return undefined
  })
  if (failures.length) {
    // report the earliest line, whatever order the parallel downloads failed in (entries are sorted by name)
    failures.sort((a, b) => a.line - b.line || a.index - b.index)
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more file(s) failed)` : ''
    throw new DownloadError(`${failures[0].message}${more}`, [
      'add a provider with --provider TEMPLATE (e.g. file:///mnt/pkgs/{{.Basename}})',
    ])
  }
  const done = results.filter((r): r is DownloadedEntry => r !== undefined)
  return {
    entries: done,
    downloaded: done.filter((r) => r.from !== 'cache').length,
    cached: done.filter((r) => r.from === 'cache').length,
    bytes,
  }
}

type AttemptResult = {ok: true; url: string; attempts: number} | {ok: false; reason: string; attempts: number}

async function tryProvider(
  entry: HashEntry,
  provider: Provider,
  options: DownloadOptions,
  registries: Map<string, Repository>,
  onBytes: (n: number) => void,
): Promise<AttemptResult> {
  let target: ProviderTarget
  let client: Repository | undefined
  try {
    if (provider.kind === 'oci') {
      // the digest is the only value in an OCI URL: 64 hex digits, checked again for entries built by hand
      if (!/^[0-9a-f]{64}$/.test(entry.sha256))
        throw new Error(`sha256 "${entry.sha256.slice(0, 80)}" is not 64 hex digits`)
      client = registries.get(provider.source)
      if (!client) {
        client = openOciRepository(provider.oci, {fetch: options.fetchImpl})
        registries.set(provider.source, client)
      }
      target = {kind: 'http', url: client.blobUrl(`sha256:${entry.sha256}`)}
    } else {
      target = providerTarget(provider, entry, options.epochFor(entry))
    }
  } catch (error) {
    return {ok: false, reason: (error as Error).message, attempts: 0}
  }
  const retries = options.retries ?? 3
  let attempt = 0
  for (;;) {
    attempt++
    try {
      await fetchInto(entry, target, client, options, onBytes)
      return {ok: true, url: target.url, attempts: attempt}
    } catch (error) {
      const e = error instanceof AttemptError ? error : new AttemptError((error as Error).message, false)
      if (!e.transient || attempt > retries) return {ok: false, reason: e.message, attempts: attempt}
      const delay = (options.backoffMs ?? 250) * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5)
      options.logger.debug(
        `${entry.basename}: ${target.url}: ${e.message}; retry ${attempt}/${retries} in ${Math.round(delay)} ms`,
      )
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}

/** The bytes of one attempt: an open regular file under the provider's root, or an http response body. */
interface Source {
  body: AsyncIterable<Uint8Array>
  close(): Promise<void>
}

async function openFileSource(target: ProviderTarget & {kind: 'file'}, maxBytes: number): Promise<Source> {
  try {
    const {fh} = await openConfinedRegularFile(target.path, target.root, maxBytes)
    return {body: readChunks(fh, maxBytes), close: () => fh.close()}
  } catch (error) {
    if (error instanceof RegularFileError) throw new AttemptError(error.reason, false)
    throw new AttemptError((error as Error).message, false)
  }
}

async function fetchInto(
  entry: HashEntry,
  target: ProviderTarget,
  client: Repository | undefined,
  options: DownloadOptions,
  onBytes: (n: number) => void,
): Promise<void> {
  const idleMs = options.idleTimeoutMs ?? 30_000
  const connectMs = options.connectTimeoutMs ?? 30_000
  const totalMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PACKAGE_BYTES
  const isHttp = target.kind === 'http'
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let totalTimer: NodeJS.Timeout | undefined
  let timedOut = ''
  let armed = ''
  const arm = (ms: number, what: string): void => {
    // re-arming the same timeout (every chunk) only refreshes it
    if (timer && armed === what) {
      timer.refresh()
      return
    }
    clearTimeout(timer)
    armed = what
    timer = setTimeout(() => {
      timedOut = what
      controller.abort()
    }, ms)
  }
  let source: Source | undefined
  let tmp: string | undefined
  let committed = false
  try {
    if (target.kind === 'file') {
      source = await openFileSource(target, maxBytes)
    } else {
      totalTimer = setTimeout(() => {
        timedOut = `not complete within ${totalMs} ms`
        controller.abort()
      }, totalMs)
      arm(connectMs, `no response within ${connectMs} ms`)
      let res: Response
      try {
        res = client
          ? await client.openBlob(`sha256:${entry.sha256}`, controller.signal)
          : await (options.fetchImpl ?? fetch)(target.url, {signal: controller.signal, redirect: 'follow'})
      } catch (error) {
        throw new AttemptError(timedOut || networkMessage(error), true)
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {})
        throw new AttemptError(`HTTP ${res.status}`, res.status >= 500 || res.status === 429 || res.status === 408)
      }
      const length = Number(res.headers.get('content-length') ?? Number.NaN)
      if (length > maxBytes) {
        await res.body?.cancel().catch(() => {})
        throw new AttemptError(`Content-Length ${length} is over the cap of ${formatBytes(maxBytes)}`, false)
      }
      if (!res.body) throw new AttemptError('empty response', true)
      const body = res.body
      source = {body: body as unknown as AsyncIterable<Uint8Array>, close: async () => controller.abort()}
    }
    tmp = options.cache.tempPath(entry.sha256)
    const hash = createHash('sha256')
    // chunks are gathered and written in batches of up to 4 MiB (one writev), which costs far fewer
    // syscalls than a write stream for the typical package of a few hundred KB
    const out = await open(tmp, 'wx')
    let outClosed = false
    let pending: Buffer[] = []
    let pendingBytes = 0
    let received = 0
    const flush = async (): Promise<void> => {
      if (pending.length) await out.writev(pending)
      pending = []
      pendingBytes = 0
    }
    try {
      for await (const chunk of source.body) {
        if (isHttp) arm(idleMs, `no data for ${idleMs} ms`)
        received += chunk.length
        if (received > maxBytes)
          throw new AttemptError(`more than ${formatBytes(maxBytes)} (the package size cap)`, false)
        hash.update(chunk)
        onBytes(chunk.length)
        pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        pendingBytes += chunk.length
        if (pendingBytes >= 4 << 20) await flush()
      }
      await flush()
      outClosed = true
      await out.close()
    } catch (error) {
      if (error instanceof AttemptError) throw error
      if (error instanceof RegularFileError || !isHttp) throw new AttemptError((error as Error).message, false)
      throw new AttemptError(timedOut || networkMessage(error), true)
    } finally {
      if (!outClosed) await out.close().catch(() => {})
    }
    const actual = hash.digest('hex')
    if (actual !== entry.sha256) throw new AttemptError(`sha256 mismatch (got ${actual})`, false)
    await options.cache.commit(tmp, entry.sha256, actual, {basename: entry.basename})
    committed = true
  } finally {
    clearTimeout(timer)
    clearTimeout(totalTimer)
    await source?.close().catch(() => {})
    // every way out of an attempt but a commit removes its own partial file
    if (tmp && !committed) await rm(tmp, {force: true}).catch(() => {})
  }
}

function networkMessage(error: unknown): string {
  const e = error as Error & {cause?: {code?: string; message?: string}}
  return e.cause?.code ? `${e.cause.code}${e.cause.message ? ` (${e.cause.message})` : ''}` : e.message
}
