/**
 * Parallel, verified downloads into the cache. Per entry: cached → done; else providers in order, falling
 * through on ANY failure (template without a value, HTTP status, timeout, network error, checksum mismatch).
 * Each attempt streams into a temp file in the cache while hashing; only a verified file is renamed into
 * blobs/. Transient failures (5xx, 429, resets, timeouts) are retried with exponential backoff.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {open, rm} from 'node:fs/promises'
import {fileURLToPath} from 'node:url'

import {DownloadError} from '../errors.js'
import type {Logger} from '../log.js'
import type {PackageCache} from './cache.js'
import type {HashEntry} from './hash-file.js'
import {openOciRepository, type Repository} from '../image/registry/index.js'
import {type Provider, providerUrl} from './providers.js'

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

/** Run `fn` over items with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, () => worker()))
  return results
}

export async function downloadEntries(entries: HashEntry[], options: DownloadOptions): Promise<DownloadResult> {
  const {cache, logger} = options
  await cache.init()
  if (options.providers.length === 0)
    throw new DownloadError('no providers: use --provider TEMPLATE or REPRO_PROVIDERS')
  const cachedFlags = await Promise.all(entries.map((e) => cache.has(e.sha256)))
  options.events?.start?.(entries.length, cachedFlags.filter(Boolean).length)
  const registries = new Map<string, Repository>()
  const failures: {index: number; message: string}[] = []
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
      message: `${entry.source.file}:${entry.source.line}: ${entry.name}: every provider failed (${reasons.join('; ')})`,
    })
    return undefined
  })
  if (failures.length) {
    // report in hash-file order, whatever order the parallel downloads failed in
    failures.sort((a, b) => a.index - b.index)
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
  let url: string
  let client: Repository | undefined
  try {
    if (provider.kind === 'oci') {
      client = registries.get(provider.source)
      if (!client) {
        client = openOciRepository(provider.oci, {fetch: options.fetchImpl})
        registries.set(provider.source, client)
      }
      url = client.blobUrl(`sha256:${entry.sha256}`)
    } else {
      url = providerUrl(provider, entry, options.epochFor(entry))
    }
  } catch (error) {
    return {ok: false, reason: (error as Error).message, attempts: 0}
  }
  const retries = options.retries ?? 3
  let attempt = 0
  for (;;) {
    attempt++
    try {
      await fetchInto(entry, url, client, options, onBytes)
      return {ok: true, url, attempts: attempt}
    } catch (error) {
      const e = error instanceof AttemptError ? error : new AttemptError((error as Error).message, false)
      if (!e.transient || attempt > retries) return {ok: false, reason: e.message, attempts: attempt}
      const delay = (options.backoffMs ?? 250) * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5)
      options.logger.debug(
        `${entry.basename}: ${url}: ${e.message}; retry ${attempt}/${retries} in ${Math.round(delay)} ms`,
      )
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}

async function fetchInto(
  entry: HashEntry,
  url: string,
  client: Repository | undefined,
  options: DownloadOptions,
  onBytes: (n: number) => void,
): Promise<void> {
  const idleMs = options.idleTimeoutMs ?? 30_000
  const connectMs = options.connectTimeoutMs ?? 30_000
  let body: AsyncIterable<Uint8Array>
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
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
  try {
    if (url.startsWith('file://')) {
      let path: string
      try {
        path = fileURLToPath(url)
      } catch (error) {
        throw new AttemptError((error as Error).message, false)
      }
      body = createReadStream(path)
    } else {
      arm(connectMs, `no response within ${connectMs} ms`)
      let res: Response
      try {
        res = client
          ? await client.openBlob(`sha256:${entry.sha256}`, controller.signal)
          : await (options.fetchImpl ?? fetch)(url, {signal: controller.signal, redirect: 'follow'})
      } catch (error) {
        throw new AttemptError(timedOut || networkMessage(error), true)
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {})
        throw new AttemptError(`HTTP ${res.status}`, res.status >= 500 || res.status === 429 || res.status === 408)
      }
      if (!res.body) throw new AttemptError('empty response', true)
      body = res.body as unknown as AsyncIterable<Uint8Array>
    }
    const tmp = options.cache.tempPath(entry.sha256)
    const hash = createHash('sha256')
    // chunks are gathered and written in batches of up to 4 MiB (one writev), which costs far fewer
    // syscalls than a write stream for the typical package of a few hundred KB
    const out = await open(tmp, 'w')
    let pending: Buffer[] = []
    let pendingBytes = 0
    const flush = async (): Promise<void> => {
      if (pending.length) await out.writev(pending)
      pending = []
      pendingBytes = 0
    }
    try {
      for await (const chunk of body) {
        if (!url.startsWith('file://')) arm(idleMs, `no data for ${idleMs} ms`)
        hash.update(chunk)
        onBytes(chunk.length)
        pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        pendingBytes += chunk.length
        if (pendingBytes >= 4 << 20) await flush()
      }
      await flush()
      await out.close()
    } catch (error) {
      await out.close().catch(() => {})
      await rm(tmp, {force: true})
      if (url.startsWith('file://'))
        throw new AttemptError(
          (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message,
          false,
        )
      throw new AttemptError(timedOut || networkMessage(error), true)
    }
    const actual = hash.digest('hex')
    if (actual !== entry.sha256) {
      await rm(tmp, {force: true})
      throw new AttemptError(`sha256 mismatch (got ${actual})`, false)
    }
    await options.cache.commit(tmp, entry.sha256, actual, {basename: entry.basename})
  } finally {
    clearTimeout(timer)
  }
}

function networkMessage(error: unknown): string {
  const e = error as Error & {cause?: {code?: string; message?: string}}
  return e.cause?.code ? `${e.cause.code}${e.cause.message ? ` (${e.cause.message})` : ''}` : e.message
}
