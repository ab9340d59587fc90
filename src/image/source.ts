/**
 * Image sources: random access to the files of an image archive or layout, one interface for all.
 * - tar: headers indexed by seeking (src/image/tar.ts), data read in place;
 * - tar+gzip, tar+zstd: one streaming pass at open keeps the member table, the first bytes of every file
 *   and the JSON-looking entries (up to LIMITS.maxKeptJsonBytes); layers are streamed by another pass;
 * - directory: an OCI layout directory, paths never leaving it.
 * Registry and daemon sources implement the same interface (src/image/registry/).
 */
import {createReadStream} from 'node:fs'
import {lstat, open, readFile, realpath, stat, type FileHandle} from 'node:fs/promises'
import path from 'node:path'
import {PassThrough, Readable} from 'node:stream'

import {InvalidArchiveError, ReproError} from '../errors.js'
import {decompressed} from './compression.js'
import {createDigester, type Digester} from './digest.js'
import {ArchiveLimitError, LIMITS} from './limits.js'
import type {Compression} from './media-types.js'
import {
  type ArchiveMember,
  ArchiveMembers,
  type EntrySink,
  indexTarFile,
  normalizeEntryName,
  TarEntryParser,
  TarFormatError,
  type TarEntry,
} from './tar.js'
import {BLOCK} from './tar-header.js'
import {mapLimit} from '../pool.js'

export {normalizeEntryName} from './tar.js'

export type SourceKind = 'daemon' | 'directory' | 'registry' | 'tar' | 'tar+gzip' | 'tar+zstd'

export type EntryHandler = (name: string, stream: AsyncIterable<Buffer>) => Promise<void>

export interface ImageSource {
  readonly path: string
  readonly kind: SourceKind
  /** size on disk of the archive file (0 for a directory or a remote source) */
  readonly fileSize: number
  has(name: string): Promise<boolean>
  size(name: string): Promise<number | undefined>
  /** whole content of a small entry; throws when missing or larger than maxBytes */
  readFile(name: string, maxBytes: number): Promise<Buffer>
  /** each named entry once, as a byte stream; handlers run with up to `concurrency` at once where the source allows */
  streamEntries(names: string[], handler: EntryHandler, concurrency?: number): Promise<void>
  /** the first n bytes of an entry (for sniffing compression); undefined when not cheaply available */
  readHead(name: string, n: number): Promise<Buffer | undefined>
  /** every regular-file name (archives); undefined for directories and remote sources */
  listNames(): string[] | undefined
  close(): Promise<void>
}

/** The former name of ImageSource. */
export type ArchiveSource = ImageSource

function tooLarge(file: string, name: string, size: number, maxBytes: number): ReproError {
  return new ArchiveLimitError(
    file,
    'maxJsonBytes',
    `'${name}' is ${size} bytes, more than ${maxBytes} for a JSON document`,
  )
}

const CHUNK = 4 * 1024 * 1024

/**
 * Read a byte range with one read always in flight ahead of the consumer, so hashing on the main thread
 * overlaps with the disk (bench/analyze.ts: createReadStream's 64 KiB-1 MiB chunks reached 0.6x openssl).
 * Chunks are fresh buffers: consumers such as zlib may keep them.
 */
export async function* readRange(fh: FileHandle, offset: number, size: number): AsyncGenerator<Buffer> {
  let pos = offset
  const end = offset + size
  const readAt = async (at: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - at))
    let got = 0
    while (got < buf.length) {
      const {bytesRead} = await fh.read(buf, got, buf.length - got, at + got)
      if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${at + got}`)
      got += bytesRead
    }
    return buf
  }
  let pending = pos < end ? readAt(pos) : undefined
  while (pending) {
    const buf = await pending
    pos += buf.length
    pending = pos < end ? readAt(pos) : undefined
    yield buf
  }
}

/** Do two byte ranges of a file hold the same bytes? (Only for duplicate archive members: rare.) */
async function sameBytes(fh: FileHandle, a: number, b: number, size: number): Promise<boolean> {
  const step = 1024 * 1024
  const ba = Buffer.alloc(Math.min(step, size))
  const bb = Buffer.alloc(ba.length)
  for (let done = 0; done < size; done += step) {
    const n = Math.min(step, size - done)
    await fh.read(ba, 0, n, a + done)
    await fh.read(bb, 0, n, b + done)
    if (!ba.subarray(0, n).equals(bb.subarray(0, n))) return false
  }
  return true
}

function missing(file: string, members: ArchiveMembers, name: string): InvalidArchiveError {
  return new InvalidArchiveError(file, members.problem(name) ?? `missing blob or file '${name}'`)
}

class TarFileSource implements ImageSource {
  readonly kind = 'tar' as const
  private constructor(
    readonly path: string,
    readonly fileSize: number,
    private readonly fh: FileHandle,
    private readonly members: ArchiveMembers,
  ) {}

  static async open(file: string, fileSize: number): Promise<TarFileSource> {
    const fh = await open(file, 'r')
    try {
      const members = await indexTarFile(file, fh, fileSize)
      for (const d of members.sameSizeDuplicates) {
        if (!(await sameBytes(fh, d.first.offset, d.second.offset, d.first.size)))
          throw members.ambiguousDuplicate(d.name, 'with different content')
      }
      return new TarFileSource(file, fileSize, fh, members)
    } catch (error) {
      await fh.close()
      throw error
    }
  }

  async has(name: string): Promise<boolean> {
    return this.members.lookup(name) !== undefined
  }

  async size(name: string): Promise<number | undefined> {
    return this.members.lookup(name)?.size
  }

  async readHead(name: string, n: number): Promise<Buffer | undefined> {
    const e = this.members.lookup(name)
    if (!e) return undefined
    const buf = Buffer.alloc(Math.min(n, e.size))
    await this.fh.read(buf, 0, buf.length, e.offset)
    return buf
  }

  listNames(): string[] {
    return this.members.fileNames()
  }

  private entry(name: string): {offset: number; size: number} {
    const e = this.members.lookup(name)
    if (!e) throw missing(this.path, this.members, name)
    return e
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const e = this.entry(name)
    if (e.size > maxBytes) throw tooLarge(this.path, name, e.size, maxBytes)
    const buf = Buffer.alloc(e.size)
    const {bytesRead} = await this.fh.read(buf, 0, e.size, e.offset)
    if (bytesRead !== e.size) throw new InvalidArchiveError(this.path, `truncated tar archive: '${name}' is cut short`)
    return buf
  }

  async streamEntries(names: string[], handler: EntryHandler, concurrency = 2): Promise<void> {
    await mapLimit(names, concurrency, async (name) => {
      const e = this.entry(name)
      await handler(name, e.size === 0 ? Readable.from([]) : readRange(this.fh, e.offset, e.size))
    })
  }

  async close(): Promise<void> {
    await this.fh.close()
  }
}

interface PassOptions {
  tap: (e: TarEntry) => EntrySink | undefined
  /** awaited after each decompressed chunk (backpressure from consumers) */
  drain?: () => Promise<void>
  /** stop reading when this returns true (checked after each chunk) */
  done?: () => boolean
}

/** One streaming pass over a compressed tar, through the one tar parser. */
async function tarPass(file: string, compression: Compression, options: PassOptions): Promise<void> {
  const parser = new TarEntryParser({layer: 0, hash: false, tap: options.tap, onEntry: () => {}})
  let first = true
  try {
    for await (const chunk of decompressed(createReadStream(file, {highWaterMark: 1024 * 1024}), compression, file)) {
      first = false
      parser.write(chunk)
      if (options.drain) await options.drain()
      if (options.done?.()) return
    }
    if (first) throw new TarFormatError(`empty ${compression} stream`)
    parser.end()
  } catch (error) {
    if (error instanceof ReproError) throw error
    const message = (error as Error).message
    if (error instanceof TarFormatError)
      throw new InvalidArchiveError(file, `not a valid tar inside ${compression}: ${message}`)
    throw new InvalidArchiveError(file, `corrupt ${compression} stream: ${message}`)
  }
}

const JSON_START = new Set([0x7b, 0x5b]) // { [
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d])

/**
 * A sink for one file entry that keeps its bytes only while they look like one JSON document within the
 * size limit (layers are tars or gzip/zstd streams: never kept), and its first bytes (compression sniffing).
 */
function jsonSink(e: TarEntry, onEnd: (json: Buffer | undefined, head: Buffer) => void): EntrySink {
  let chunks: Buffer[] | undefined = e.size <= LIMITS.maxJsonBytes ? [] : undefined
  let decided = false
  let head = Buffer.alloc(0)
  return {
    write(chunk: Buffer): void {
      if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)])
      if (!chunks) return
      if (!decided) {
        let i = 0
        while (i < chunk.length && WHITESPACE.has(chunk[i])) i++
        if (i < chunk.length) {
          decided = true
          if (!JSON_START.has(chunk[i])) {
            chunks = undefined
            return
          }
        }
      }
      chunks.push(Buffer.from(chunk))
    },
    end(): void {
      onEnd(chunks ? Buffer.concat(chunks) : undefined, head)
    },
  }
}

/** A gzip- or zstd-compressed tar: no random access, so passes over the stream. */
class StreamTarSource implements ImageSource {
  /** passes made to re-read JSON documents that did not fit in memory */
  private refills = 0

  private constructor(
    readonly path: string,
    readonly fileSize: number,
    readonly kind: 'tar+gzip' | 'tar+zstd',
    private readonly compression: Compression,
    private readonly members: ArchiveMembers,
    private kept: Map<string, Buffer>,
    private readonly heads: Map<string, Buffer>,
  ) {}

  static async open(file: string, fileSize: number, compression: 'gzip' | 'zstd'): Promise<StreamTarSource> {
    const members = new ArchiveMembers(file)
    const kept = new Map<string, Buffer>()
    const heads = new Map<string, Buffer>()
    let keptBytes = 0
    await tarPass(file, compression, {
      tap: (e) => {
        const name = members.add(e, 0)
        if (name === undefined) return undefined
        keptBytes -= kept.get(name)?.length ?? 0
        kept.delete(name)
        heads.delete(name)
        if (e.type !== 'file') return undefined
        return jsonSink(e, (json, head) => {
          heads.set(name, head)
          if (!json || keptBytes + json.length > LIMITS.maxKeptJsonBytes) return
          keptBytes += json.length
          kept.set(name, json)
        })
      },
    })
    if (members.sameSizeDuplicates.length > 0) {
      // a second pass hashes the copies of names stored twice (rare): they must be the same bytes
      const positions = new Map<number, Digester>()
      for (const d of members.sameSizeDuplicates) {
        positions.set(d.first.position, createDigester())
        positions.set(d.second.position, createDigester())
      }
      await tarPass(file, compression, {
        tap: (e) => {
          const h = positions.get(e.position)
          return h ? {write: (c: Buffer) => h.update(c), end: () => {}} : undefined
        },
      })
      const sums = new Map([...positions].map(([position, h]) => [position, h.digest()]))
      for (const d of members.sameSizeDuplicates) {
        if (sums.get(d.first.position) !== sums.get(d.second.position))
          throw members.ambiguousDuplicate(d.name, 'with different content')
      }
    }
    if (members.count === 0)
      throw new InvalidArchiveError(file, `not a tar archive inside the ${compression} stream (no entries)`)
    members.finish()
    return new StreamTarSource(
      file,
      fileSize,
      compression === 'gzip' ? 'tar+gzip' : 'tar+zstd',
      compression,
      members,
      kept,
      heads,
    )
  }

  async has(name: string): Promise<boolean> {
    return this.members.lookup(name) !== undefined
  }

  async size(name: string): Promise<number | undefined> {
    return this.members.lookup(name)?.size
  }

  async readHead(name: string, n: number): Promise<Buffer | undefined> {
    const m = this.members.lookup(name)
    return m ? this.heads.get(m.name)?.subarray(0, n) : undefined
  }

  listNames(): string[] {
    return this.members.fileNames()
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const m = this.members.lookup(name)
    if (!m) throw missing(this.path, this.members, name)
    if (m.size > maxBytes) throw tooLarge(this.path, name, m.size, maxBytes)
    const kept = this.kept.get(m.name) ?? (await this.refill(m))
    if (kept) return kept
    const chunks: Buffer[] = []
    await this.streamEntries([name], async (_n, stream) => {
      for await (const c of stream) chunks.push(c)
    })
    return Buffer.concat(chunks)
  }

  /**
   * The JSON documents did not all fit in memory: one pass keeps those from `m` on (archive order) up to
   * the budget, replacing what was kept (the walker reads each document once). At most LIMITS.maxJsonPasses.
   */
  private async refill(m: ArchiveMember): Promise<Buffer | undefined> {
    if (++this.refills > LIMITS.maxJsonPasses)
      throw new ArchiveLimitError(
        this.path,
        'maxJsonPasses',
        `its JSON documents do not fit in memory (limit maxKeptJsonBytes = ${LIMITS.maxKeptJsonBytes}): decompress it and analyze the .tar`,
      )
    const kept = new Map<string, Buffer>()
    let keptBytes = 0
    await tarPass(this.path, this.compression, {
      tap: (e) => {
        if (e.position < m.position || e.type !== 'file') return undefined
        const name = normalizeEntryName(e.name)
        const holder = name ? this.members.lookup(name) : undefined
        if (!name || holder?.position !== e.position) return undefined // not the copy that counts
        return jsonSink(e, (json) => {
          if (!json || (e.position !== m.position && keptBytes + json.length > LIMITS.maxKeptJsonBytes)) return
          keptBytes += json.length
          kept.set(name, json)
        })
      },
      done: () => keptBytes >= LIMITS.maxKeptJsonBytes && kept.has(m.name),
    })
    this.kept = kept
    return kept.get(m.name)
  }

  async streamEntries(names: string[], handler: EntryHandler): Promise<void> {
    // requested names by the position of the entry that holds their bytes (links and duplicates resolved)
    const wanted = new Map<number, string[]>()
    for (const name of new Set(names)) {
      const m = this.members.lookup(name)
      if (!m) throw missing(this.path, this.members, name)
      const kept = this.kept.get(m.name)
      if (kept) {
        await handler(name, Readable.from([kept]))
        continue
      }
      const list = wanted.get(m.position)
      if (list) list.push(name)
      else wanted.set(m.position, [name])
    }
    if (wanted.size === 0) return
    const running: Array<Promise<void>> = []
    let failure: unknown
    let waiting: Array<Promise<void>> = []
    let finished = 0
    await tarPass(this.path, this.compression, {
      tap: (e) => {
        const requested = wanted.get(e.position)
        if (!requested || e.type !== 'file') return undefined
        const streams = requested.map(() => new PassThrough({highWaterMark: 1024 * 1024}))
        requested.forEach((n, i) => {
          const p = handler(n, streams[i])
            .catch((error) => void (failure ??= error))
            // a handler that stopped reading (or failed): discard the rest, keep the pass flowing
            .finally(() => streams[i].resume())
          running.push(p)
        })
        return {
          write(chunk: Buffer): void {
            for (const s of streams) {
              if (!s.write(chunk)) waiting.push(new Promise((resolve) => s.once('drain', resolve)))
            }
          },
          end(): void {
            for (const s of streams) s.end()
            finished++
          },
        }
      },
      drain: async () => {
        if (waiting.length === 0) return
        const w = waiting
        waiting = []
        // a handler that fails stops reading: do not wait on it forever
        await Promise.race([Promise.all(w), Promise.all(running)])
      },
      done: () => failure !== undefined || finished === wanted.size,
    })
    await Promise.all(running)
    if (failure) throw failure
  }

  async close(): Promise<void> {}
}

/** An OCI image layout (or extracted archive) directory. Paths never leave the directory. */
class DirSource implements ImageSource {
  readonly kind = 'directory' as const
  readonly fileSize = 0
  private constructor(
    readonly path: string,
    private readonly root: string,
  ) {}

  static async open(dir: string): Promise<DirSource> {
    return new DirSource(dir, await realpath(dir))
  }

  private async resolve(name: string): Promise<string | undefined> {
    const n = normalizeEntryName(name)
    if (n === undefined || n === '')
      throw new InvalidArchiveError(this.path, `path '${name}' points outside the layout`)
    const full = path.join(this.root, n)
    let real: string
    try {
      real = await realpath(full)
    } catch {
      return undefined
    }
    if (real !== this.root && !real.startsWith(this.root + path.sep)) {
      throw new InvalidArchiveError(this.path, `'${name}' is a link that points outside the layout`)
    }
    const st = await stat(real).catch(() => undefined)
    if (st && !st.isFile() && !st.isDirectory())
      throw new InvalidArchiveError(this.path, `'${name}' is not a regular file (a device, FIFO or socket)`)
    return st?.isFile() ? real : undefined
  }

  async has(name: string): Promise<boolean> {
    return (await this.resolve(name)) !== undefined
  }

  async size(name: string): Promise<number | undefined> {
    const p = await this.resolve(name)
    return p === undefined ? undefined : (await lstat(p)).size
  }

  async readHead(name: string, n: number): Promise<Buffer | undefined> {
    const p = await this.resolve(name)
    if (p === undefined) return undefined
    const fh = await open(p, 'r')
    try {
      const buf = Buffer.alloc(n)
      const {bytesRead} = await fh.read(buf, 0, n, 0)
      return buf.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
  }

  listNames(): undefined {
    return undefined
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const p = await this.resolve(name)
    if (p === undefined) throw new InvalidArchiveError(this.path, `missing blob or file '${name}'`)
    const size = (await stat(p)).size
    if (size > maxBytes) throw tooLarge(this.path, name, size, maxBytes)
    const bytes = await readFile(p)
    if (bytes.length > maxBytes) throw tooLarge(this.path, name, bytes.length, maxBytes)
    return bytes
  }

  async streamEntries(names: string[], handler: EntryHandler, concurrency = 2): Promise<void> {
    await mapLimit(names, concurrency, async (name) => {
      const p = await this.resolve(name)
      if (p === undefined) throw new InvalidArchiveError(this.path, `missing blob or file '${name}'`)
      const fh = await open(p, 'r')
      try {
        await handler(name, readRange(fh, 0, (await fh.stat()).size))
      } finally {
        await fh.close()
      }
    })
  }

  async close(): Promise<void> {}
}

/** Open any supported local source: a directory, a tar, or a gzip- or zstd-compressed tar. */
export async function openSource(file: string): Promise<ImageSource> {
  let st
  try {
    st = await stat(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new InvalidArchiveError(file, code === 'ENOENT' ? 'no such file or directory' : `cannot read (${code})`)
  }
  if (st.isDirectory()) return DirSource.open(file)
  if (!st.isFile()) throw new InvalidArchiveError(file, 'not a regular file or directory')
  if (st.size === 0) throw new InvalidArchiveError(file, 'empty file')
  const head = Buffer.alloc(4)
  const fh = await open(file, 'r')
  try {
    await fh.read(head, 0, 4, 0)
  } finally {
    await fh.close()
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return StreamTarSource.open(file, st.size, 'gzip')
  if (head.readUInt32LE(0) === 0xfd2fb528) return StreamTarSource.open(file, st.size, 'zstd')
  if (st.size < BLOCK)
    throw new InvalidArchiveError(file, `not a tar archive (${st.size} bytes, smaller than one tar block)`)
  return TarFileSource.open(file, st.size)
}
