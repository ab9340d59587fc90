/**
 * Random access to the files of an image archive: a tar file (headers indexed by seeking), a gzip-compressed
 * tar (one streaming pass; small entries kept in memory), or an OCI layout directory.
 */
import {createReadStream} from 'node:fs'
import {lstat, open, readFile, realpath, stat, type FileHandle} from 'node:fs/promises'
import path from 'node:path'
import {Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import type {ReadEntry} from 'tar'

import {InvalidArchiveError} from '../errors.js'
import {BLOCK, paddedSize, parsePax, parseTarHeader} from './tar-header.js'

export interface SourceEntry {
  name: string
  size: number
  /** byte offset of the entry's data in the tar file (tar sources only) */
  offset: number
  type: 'dir' | 'file' | 'other'
}

export type SourceKind = 'directory' | 'tar' | 'tar+gzip'

export interface ArchiveSource {
  readonly path: string
  readonly kind: SourceKind
  /** size on disk of the archive file (0 for a directory) */
  readonly fileSize: number
  has(name: string): Promise<boolean>
  size(name: string): Promise<number | undefined>
  /** whole content of a small entry; throws InvalidArchiveError when missing or larger than maxBytes */
  readFile(name: string, maxBytes: number): Promise<Buffer>
  /** each named entry once, as a byte stream; handlers run with up to `concurrency` at once where the source allows */
  streamEntries(
    names: string[],
    handler: (name: string, stream: AsyncIterable<Buffer>) => Promise<void>,
    concurrency?: number,
  ): Promise<void>
  /** the first n bytes of an entry (for sniffing compression); undefined when not cheaply available */
  readHead(name: string, n: number): Promise<Buffer | undefined>
  /** every regular-file name (tar sources); undefined for directories */
  listNames(): string[] | undefined
  close(): Promise<void>
}

/** Normalize an in-archive path: strip './' and trailing '/', refuse absolute and '..' paths. */
export function normalizeEntryName(name: string): string | undefined {
  let n = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '')
  n = path.posix.normalize(n)
  if (n === '.' || n === '') return ''
  if (n.startsWith('/') || n === '..' || n.startsWith('../')) return undefined
  return n
}

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({length: Math.max(1, Math.min(limit, items.length))}, async () => {
    while (next < items.length) {
      const item = items[next++]
      await fn(item)
    }
  })
  await Promise.all(workers)
}

const MAX_PAX = 1024 * 1024

class TarFileSource implements ArchiveSource {
  readonly kind = 'tar' as const
  private constructor(
    readonly path: string,
    readonly fileSize: number,
    private readonly fh: FileHandle,
    private readonly entries: Map<string, SourceEntry>,
  ) {}

  static async open(file: string, fileSize: number): Promise<TarFileSource> {
    const fh = await open(file, 'r')
    try {
      const entries = await indexTar(file, fh, fileSize)
      return new TarFileSource(file, fileSize, fh, entries)
    } catch (error) {
      await fh.close()
      throw error
    }
  }

  async has(name: string): Promise<boolean> {
    return this.entries.has(name)
  }

  async size(name: string): Promise<number | undefined> {
    return this.entries.get(name)?.size
  }

  async readHead(name: string, n: number): Promise<Buffer | undefined> {
    const e = this.entries.get(name)
    if (!e || e.type !== 'file') return undefined
    const buf = Buffer.alloc(Math.min(n, e.size))
    await this.fh.read(buf, 0, buf.length, e.offset)
    return buf
  }

  listNames(): string[] {
    return [...this.entries.values()].filter((e) => e.type === 'file').map((e) => e.name)
  }

  private entry(name: string): SourceEntry {
    const e = this.entries.get(name)
    if (!e || e.type !== 'file') throw new InvalidArchiveError(this.path, `missing blob or file '${name}'`)
    return e
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const e = this.entry(name)
    if (e.size > maxBytes)
      throw new InvalidArchiveError(
        this.path,
        `'${name}' is ${e.size} bytes, more than the ${maxBytes} allowed for a JSON document`,
      )
    const buf = Buffer.alloc(e.size)
    const {bytesRead} = await this.fh.read(buf, 0, e.size, e.offset)
    if (bytesRead !== e.size) throw new InvalidArchiveError(this.path, `truncated tar archive: '${name}' is cut short`)
    return buf
  }

  async streamEntries(
    names: string[],
    handler: (name: string, stream: AsyncIterable<Buffer>) => Promise<void>,
    concurrency = 2,
  ): Promise<void> {
    await runLimited(names, concurrency, async (name) => {
      const e = this.entry(name)
      if (e.size === 0) {
        await handler(name, Readable.from([]))
        return
      }
      const stream = createReadStream(this.path, {
        start: e.offset,
        end: e.offset + e.size - 1,
        highWaterMark: 1024 * 1024,
      })
      await handler(name, stream)
    })
  }

  async close(): Promise<void> {
    await this.fh.close()
  }
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

/** Walk the tar headers, seeking past entry data. Resolves symlinks and hardlinks between entries. */
async function indexTar(file: string, fh: FileHandle, fileSize: number): Promise<Map<string, SourceEntry>> {
  const entries = new Map<string, SourceEntry>()
  const links: Array<{name: string; target: string; hard: boolean}> = []
  const block = Buffer.alloc(BLOCK)
  let pos = 0
  let pax: Record<string, string> = {}
  let longName: string | undefined
  let longLink: string | undefined
  let first = true
  const readExact = async (buf: Buffer, at: number): Promise<number> => {
    const {bytesRead} = await fh.read(buf, 0, buf.length, at)
    return bytesRead
  }

  for (;;) {
    if (pos >= fileSize) break // tolerate a missing end-of-archive marker at a block boundary
    const n = await readExact(block, pos)
    if (n < BLOCK)
      throw new InvalidArchiveError(
        file,
        first ? 'not a tar archive (too short)' : `truncated tar archive: header at byte ${pos} is cut short`,
      )
    const parsed = parseTarHeader(block)
    if (parsed.kind === 'end') break
    if (parsed.kind === 'invalid') {
      throw new InvalidArchiveError(
        file,
        first
          ? 'not a tar archive (no valid tar header at the start)'
          : `corrupt tar archive: ${parsed.reason} at byte ${pos}`,
      )
    }
    first = false
    const h = parsed.header
    const dataStart = pos + BLOCK
    const size =
      h.type === 'x' || h.type === 'g' || h.type === 'L' || h.type === 'K' ? h.size : Number(pax.size ?? h.size)
    if (!Number.isSafeInteger(size) || size < 0)
      throw new InvalidArchiveError(file, `corrupt tar archive: absurd size for '${h.name}'`)
    const hasData =
      h.type === '0' || h.type === '7' || h.type === 'x' || h.type === 'g' || h.type === 'L' || h.type === 'K'
    const dataSize = hasData ? size : 0
    if (dataStart + dataSize > fileSize) {
      throw new InvalidArchiveError(
        file,
        `truncated tar archive: '${longName ?? pax.path ?? h.name}' needs ${dataSize} bytes at byte ${dataStart}, but the file has ${fileSize}`,
      )
    }
    if (h.type === 'x' || h.type === 'L' || h.type === 'K') {
      if (size > MAX_PAX) throw new InvalidArchiveError(file, `corrupt tar archive: extended header of ${size} bytes`)
      const data = Buffer.alloc(size)
      await readExact(data, dataStart)
      if (h.type === 'x') {
        try {
          pax = parsePax(data)
        } catch {
          throw new InvalidArchiveError(file, `corrupt tar archive: malformed pax header at byte ${pos}`)
        }
      } else {
        const text = data.toString('utf8').replace(/\0+$/, '')
        if (h.type === 'L') longName = text
        else longLink = text
      }
      pos = dataStart + paddedSize(size)
      continue
    }
    if (h.type === 'g') {
      pos = dataStart + paddedSize(size)
      continue
    }
    const rawName = longName ?? pax.path ?? h.name
    const linkTarget = longLink ?? pax.linkpath ?? h.linkname
    pax = {}
    longName = undefined
    longLink = undefined
    const name = normalizeEntryName(rawName)
    if (name === undefined) throw new InvalidArchiveError(file, `entry '${rawName}' points outside the archive`)
    const type: SourceEntry['type'] = h.type === '0' || h.type === '7' ? 'file' : h.type === '5' ? 'dir' : 'other'
    if (name !== '') entries.set(name, {name, offset: dataStart, size: dataSize, type})
    if (h.type === '2' || h.type === '1') links.push({name, target: linkTarget, hard: h.type === '1'})
    pos = dataStart + paddedSize(dataSize)
  }
  if (first) throw new InvalidArchiveError(file, 'not a tar archive (no entries)')
  // links inside the archive (legacy docker save links repeated layers): resolve, staying inside
  for (const link of links) {
    const target = normalizeEntryName(
      link.hard ? link.target : path.posix.join(path.posix.dirname(link.name), link.target),
    )
    const resolved = target === undefined ? undefined : entries.get(target)
    if (resolved && resolved.type === 'file') entries.set(link.name, {...resolved, name: link.name})
  }
  return entries
}

const MAX_MEMORY_ENTRY = 16 * 1024 * 1024

/** A gzip-compressed tar: one streaming pass at open keeps small entries; streaming re-reads the file. */
class GzipTarSource implements ArchiveSource {
  readonly kind = 'tar+gzip' as const
  private constructor(
    readonly path: string,
    readonly fileSize: number,
    private readonly sizes: Map<string, number>,
    private readonly small: Map<string, Buffer>,
  ) {}

  static async open(file: string, fileSize: number): Promise<GzipTarSource> {
    const sizes = new Map<string, number>()
    const small = new Map<string, Buffer>()
    await GzipTarSource.pass(file, async (name, entry) => {
      sizes.set(name, entry.size)
      if (entry.size <= MAX_MEMORY_ENTRY) {
        const chunks: Buffer[] = []
        for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c)
        small.set(name, Buffer.concat(chunks))
      } else {
        entry.resume()
      }
    })
    if (sizes.size === 0) throw new InvalidArchiveError(file, 'not a tar archive inside the gzip stream (no entries)')
    return new GzipTarSource(file, fileSize, sizes, small)
  }

  private static async pass(file: string, onEntry: (name: string, entry: ReadEntry) => Promise<void>): Promise<void> {
    // loaded here, not at start-up: only gzip-compressed archives need a streaming tar parser
    const {Parser} = await import('tar')
    const pending: Promise<void>[] = []
    let failure: unknown
    await new Promise<void>((resolve, reject) => {
      const parser = new Parser({
        strict: true,
        onwarn: (_code: string, message: string | Error) => {
          failure ??= new InvalidArchiveError(
            file,
            `corrupt tar inside gzip: ${typeof message === 'string' ? message : message.message}`,
          )
        },
      })
      parser.on('entry', (entry: ReadEntry) => {
        const name = normalizeEntryName(entry.path)
        if (name === undefined) {
          failure ??= new InvalidArchiveError(file, `entry '${entry.path}' points outside the archive`)
          entry.resume()
          return
        }
        if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
          entry.resume()
          return
        }
        pending.push(onEntry(name, entry).catch((error) => void (failure ??= error)))
      })
      parser.on('error', (error: Error) =>
        reject(new InvalidArchiveError(file, `corrupt tar inside gzip: ${error.message}`)),
      )
      const gunzip = createGunzip()
      gunzip.on('error', (error: Error) =>
        reject(new InvalidArchiveError(file, `corrupt gzip stream: ${error.message}`)),
      )
      parser.on('end', () => resolve())
      parser.on('close', () => resolve())
      const input = createReadStream(file)
      input.on('error', reject)
      input.pipe(gunzip).pipe(parser as unknown as NodeJS.WritableStream)
    })
    await Promise.all(pending)
    if (failure) throw failure
  }

  async has(name: string): Promise<boolean> {
    return this.sizes.has(name)
  }

  async size(name: string): Promise<number | undefined> {
    return this.sizes.get(name)
  }

  async readHead(name: string, n: number): Promise<Buffer | undefined> {
    return this.small.get(name)?.subarray(0, n)
  }

  listNames(): string[] {
    return [...this.sizes.keys()]
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const size = this.sizes.get(name)
    if (size === undefined) throw new InvalidArchiveError(this.path, `missing blob or file '${name}'`)
    if (size > maxBytes)
      throw new InvalidArchiveError(
        this.path,
        `'${name}' is ${size} bytes, more than the ${maxBytes} allowed for a JSON document`,
      )
    return this.small.get(name) as Buffer
  }

  async streamEntries(
    names: string[],
    handler: (name: string, stream: AsyncIterable<Buffer>) => Promise<void>,
  ): Promise<void> {
    const wanted = new Set(names)
    for (const n of wanted)
      if (!this.sizes.has(n)) throw new InvalidArchiveError(this.path, `missing blob or file '${n}'`)
    const inMemory = [...wanted].filter((n) => this.small.has(n))
    for (const n of inMemory) {
      await handler(n, Readable.from([this.small.get(n) as Buffer]))
      wanted.delete(n)
    }
    if (wanted.size === 0) return
    await GzipTarSource.pass(this.path, async (name, entry) => {
      if (wanted.has(name)) {
        wanted.delete(name)
        await handler(name, entry as unknown as AsyncIterable<Buffer>)
      } else {
        entry.resume()
      }
    })
  }

  async close(): Promise<void> {}
}

/** An OCI image layout (or extracted archive) directory. Paths never leave the directory. */
class DirSource implements ArchiveSource {
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
    try {
      const real = await realpath(full)
      if (real !== this.root && !real.startsWith(this.root + path.sep)) {
        throw new InvalidArchiveError(this.path, `'${name}' is a link that points outside the layout`)
      }
      const st = await stat(real)
      return st.isFile() ? real : undefined
    } catch (error) {
      if (error instanceof InvalidArchiveError) throw error
      return undefined
    }
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
    if (size > maxBytes)
      throw new InvalidArchiveError(
        this.path,
        `'${name}' is ${size} bytes, more than the ${maxBytes} allowed for a JSON document`,
      )
    return readFile(p)
  }

  async streamEntries(
    names: string[],
    handler: (name: string, stream: AsyncIterable<Buffer>) => Promise<void>,
    concurrency = 2,
  ): Promise<void> {
    await runLimited(names, concurrency, async (name) => {
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

/** Open any supported container: a directory, a tar, or a gzip-compressed tar. */
export async function openSource(file: string): Promise<ArchiveSource> {
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
  if (head[0] === 0x1f && head[1] === 0x8b) return GzipTarSource.open(file, st.size)
  if (head.readUInt32LE(0) === 0xfd2fb528) {
    throw new InvalidArchiveError(
      file,
      'a zstd-compressed archive: decompress it first (zstd -d), then analyze the .tar',
    )
  }
  if (st.size < BLOCK)
    throw new InvalidArchiveError(file, `not a tar archive (${st.size} bytes, smaller than one tar block)`)
  return TarFileSource.open(file, st.size)
}
