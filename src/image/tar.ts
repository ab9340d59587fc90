/**
 * The one tar parser, for image archives and for layer contents alike.
 *
 * - TarHeaderDecoder turns header blocks (ustar, GNU long names, pax records) into entries: every entry
 *   type is mapped and given data (or none) here, once.
 * - Three drivers feed it: indexTarFile seeks from header to header of a tar file (analyze reads only the
 *   headers and the small JSON entries: a 2 GiB archive in ~10 ms); TarEntryParser is pushed the bytes of
 *   a stream (a decompressed layer or archive); readTarBuffer walks a tar held in memory (package metadata).
 * - ArchiveMembers is the member table of an image archive: names kept inside the archive, symlinks and
 *   hardlinks between members resolved in one place, whatever the driver.
 */
import type {FileHandle} from 'node:fs/promises'
import path from 'node:path'

import {InvalidArchiveError} from '../errors.js'
import {createDigester, type Digester} from './digest.js'
import {ArchiveLimitError, LIMITS} from './limits.js'
import {BLOCK, paddedSize, parseNumeric, parsePaxRecords, parseTarHeader} from './tar-header.js'

/** Content of a regular file kept in memory for unified diffs (only files of at most this size). */
export const CONTENT_CAP = 64 * 1024
/** pax and GNU long-name bodies larger than this are refused */
export const MAX_META = 1024 * 1024

export type EntryType = 'block' | 'char' | 'dir' | 'fifo' | 'file' | 'hardlink' | 'symlink' | `other(${string})`

export interface TarEntry {
  /** canonical path: no leading './' or '/', no trailing '/' */
  key: string
  /** the name exactly as stored (after GNU long names and pax path) */
  name: string
  type: EntryType
  linkname: string
  size: number
  mode: number
  uid: number
  gid: number
  uname: string
  gname: string
  /** seconds since the epoch as decimal text (pax keeps sub-second precision) */
  mtime: string
  atime?: string
  ctime?: string
  devmajor: number
  devminor: number
  xattrs: Record<string, Buffer>
  /** pax records other than xattrs */
  pax: Record<string, string>
  /** 'ustar', 'gnu' or 'v7' */
  format: string
  sha256?: string
  content?: Buffer
  /** 0-based index of the entry in its tar */
  position: number
  /** 0-based index of the layer in its image */
  layer: number
  /** k-th entry of this key in the tar (0 for the first) */
  occurrence: number
}

/** A tar that cannot be parsed; drivers wrap it with the input's name. */
export class TarFormatError extends Error {}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
}

/** Entry types that never carry data, whatever their size field says. Every other type does (POSIX: unknown = regular). */
const NO_DATA = new Set<EntryType>(['block', 'char', 'dir', 'fifo', 'hardlink', 'symlink'])
const META_TYPES = new Set(['x', 'g', 'L', 'K'])
const EFFECTIVE_PAX = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime'])

/** Canonical form of an in-layer path (diff keys). */
export function canonicalPath(name: string): string {
  let n = name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '')
  n = n.replace(/\/\.\//g, '/').replace(/\/{2,}/g, '/')
  return n === '.' ? '' : n
}

/** Normalize an archive member name: strip './' and trailing '/', refuse absolute and '..' paths. */
export function normalizeEntryName(name: string): string | undefined {
  let n = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '')
  n = path.posix.normalize(n)
  if (n === '.' || n === '') return ''
  if (n.startsWith('/') || n === '..' || n.startsWith('../')) return undefined
  return n
}

export type HeaderStep =
  | {kind: 'end'}
  /** a pax or long-name header: pass its `size` data bytes to meta() */
  | {kind: 'meta'; size: number}
  | {kind: 'entry'; entry: TarEntry; dataSize: number}

/** Header blocks to entries. Throws TarFormatError on a corrupt header. */
export class TarHeaderDecoder {
  private pax = new Map<string, Buffer>()
  private longName: string | undefined
  private longLink: string | undefined
  private metaType: string | undefined
  private position = 0
  private readonly counts = new Map<string, number>()

  constructor(
    private readonly layer = 0,
    private readonly checksum = true,
  ) {}

  /** the name of the entry being assembled (for messages) */
  get pendingName(): string | undefined {
    return this.longName ?? this.pax.get('path')?.toString('utf8')
  }

  header(block: Buffer, offset: number): HeaderStep {
    const parsed = parseTarHeader(block, {checksum: this.checksum})
    if (parsed.kind === 'end') return {kind: 'end'}
    if (parsed.kind === 'invalid') throw new TarFormatError(`${parsed.reason} at byte ${offset}`)
    const h = parsed.header
    if (META_TYPES.has(h.type)) {
      if (h.size > MAX_META) throw new TarFormatError(`extended header of ${h.size} bytes at byte ${offset}`)
      this.metaType = h.type
      return {kind: 'meta', size: h.size}
    }
    const pax = this.pax
    const text = (k: string): string | undefined => pax.get(k)?.toString('utf8')
    const name = this.longName ?? text('path') ?? h.name
    const linkname = this.longLink ?? text('linkpath') ?? h.linkname
    this.pax = new Map()
    this.longName = undefined
    this.longLink = undefined
    const type = TYPES[h.type] ?? (`other(${h.type})` as EntryType)
    const paxSize = text('size')
    const size = paxSize === undefined ? h.size : /^\d+$/.test(paxSize) ? Number(paxSize) : Number.NaN
    if (!Number.isSafeInteger(size) || size < 0)
      throw new TarFormatError(`absurd size for '${name.slice(0, 200)}' at byte ${offset}`)
    const xattrs: Record<string, Buffer> = {}
    const other: Record<string, string> = {}
    for (const [k, v] of pax) {
      if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice('SCHILY.xattr.'.length)] = v
      else if (!EFFECTIVE_PAX.has(k)) other[k] = v.toString('utf8')
      else if (k !== 'path' && k !== 'linkpath' && k !== 'size') other[k] = v.toString('utf8')
    }
    const num = (k: string, fallback: number): number => {
      const v = text(k)
      const n = v === undefined ? Number.NaN : Number(v)
      return Number.isFinite(n) ? n : fallback
    }
    const key = canonicalPath(name)
    const occurrence = this.counts.get(key) ?? 0
    this.counts.set(key, occurrence + 1)
    const magic = h.magic
    const hasData = !NO_DATA.has(type)
    const entry: TarEntry = {
      key,
      name,
      type,
      linkname,
      size: hasData ? size : 0,
      mode: h.mode,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      uname: text('uname') ?? h.uname,
      gname: text('gname') ?? h.gname,
      mtime: text('mtime') ?? String(h.mtime),
      atime: text('atime'),
      ctime: text('ctime'),
      devmajor: type === 'char' || type === 'block' ? (parseNumeric(block, 329, 8) ?? 0) : 0,
      devminor: type === 'char' || type === 'block' ? (parseNumeric(block, 337, 8) ?? 0) : 0,
      xattrs,
      pax: other,
      format: magic === 'ustar' ? 'ustar' : magic === 'ustar ' ? 'gnu' : magic === '' ? 'v7' : magic,
      position: this.position++,
      layer: this.layer,
      occurrence,
    }
    return {kind: 'entry', entry, dataSize: entry.size}
  }

  /** The data of the meta header announced by the last header(). */
  meta(data: Buffer): void {
    const type = this.metaType
    this.metaType = undefined
    if (type === 'x') {
      try {
        for (const [k, v] of parsePaxRecords(data)) this.pax.set(k, v)
      } catch (error) {
        throw new TarFormatError((error as Error).message)
      }
    } else if (type === 'L') this.longName = data.toString('utf8').replace(/\0+$/, '')
    else if (type === 'K') this.longLink = data.toString('utf8').replace(/\0+$/, '')
    // 'g' (global pax) records change no field repro reads
  }
}

export interface EntrySink {
  write(chunk: Buffer): void
  end(): void
}

export interface ParseOptions {
  layer: number
  /** called once the header is known: keep the content in memory (only called for files <= CONTENT_CAP) */
  keepContent?: (e: TarEntry) => boolean
  /** called once the header is known: a sink that receives the data of this entry (any type with data) */
  tap?: (e: TarEntry) => EntrySink | undefined
  /** hash regular-file contents (default true) */
  hash?: boolean
  /** verify header checksums (default true) */
  checksum?: boolean
  onEntry: (e: TarEntry) => void
}

/** The streaming driver: a push parser over the bytes of an uncompressed tar. Throws TarFormatError on corrupt input. */
export class TarEntryParser {
  private header = Buffer.alloc(BLOCK)
  private headerFill = 0
  private dataRemain = 0
  private padRemain = 0
  private ended = false
  private offset = 0
  private readonly decoder: TarHeaderDecoder
  private current: TarEntry | undefined
  private inMeta = false
  private metaChunks: Buffer[] = []
  private hash: Digester | undefined
  private keep: Buffer[] | undefined
  private sink: EntrySink | undefined

  constructor(private readonly options: ParseOptions) {
    this.decoder = new TarHeaderDecoder(options.layer, options.checksum !== false)
  }

  write(chunk: Buffer): void {
    let off = 0
    while (off < chunk.length) {
      if (this.dataRemain > 0) {
        const take = Math.min(this.dataRemain, chunk.length - off)
        this.data(chunk.subarray(off, off + take))
        off += take
        this.offset += take
        this.dataRemain -= take
        if (this.dataRemain === 0) this.finishData()
        continue
      }
      if (this.padRemain > 0) {
        const take = Math.min(this.padRemain, chunk.length - off)
        off += take
        this.offset += take
        this.padRemain -= take
        continue
      }
      if (this.ended) return
      const take = Math.min(BLOCK - this.headerFill, chunk.length - off)
      chunk.copy(this.header, this.headerFill, off, off + take)
      this.headerFill += take
      off += take
      this.offset += take
      if (this.headerFill === BLOCK) {
        this.headerFill = 0
        this.onHeader()
      }
    }
  }

  /** Call after the last chunk: a tar cut short is an error. */
  end(): void {
    if (this.dataRemain > 0 || this.headerFill > 0 || this.padRemain > 0)
      throw new TarFormatError(`truncated tar: input ends inside an entry at byte ${this.offset}`)
    if (this.current) this.finishData()
  }

  private onHeader(): void {
    let step: HeaderStep
    try {
      step = this.decoder.header(this.header, this.offset - BLOCK)
    } catch (error) {
      throw new TarFormatError(`corrupt tar: ${(error as Error).message}`)
    }
    if (step.kind === 'end') {
      this.ended = true
      return
    }
    if (step.kind === 'meta') {
      this.inMeta = true
      this.metaChunks = []
      this.dataRemain = step.size
      this.padRemain = paddedSize(step.size) - step.size
      if (step.size === 0) this.finishData()
      return
    }
    const {entry, dataSize} = step
    this.current = entry
    const regular = entry.type === 'file'
    this.hash = regular && this.options.hash !== false ? createDigester('sha256') : undefined
    this.keep = regular && dataSize <= CONTENT_CAP && this.options.keepContent?.(entry) ? [] : undefined
    this.sink = this.options.tap?.(entry)
    this.dataRemain = dataSize
    this.padRemain = paddedSize(dataSize) - dataSize
    if (dataSize === 0) this.finishData()
  }

  private data(chunk: Buffer): void {
    if (this.inMeta) {
      this.metaChunks.push(Buffer.from(chunk))
      return
    }
    this.hash?.update(chunk)
    this.keep?.push(Buffer.from(chunk))
    this.sink?.write(chunk)
  }

  private finishData(): void {
    if (this.inMeta) {
      this.inMeta = false
      const data = Buffer.concat(this.metaChunks)
      this.metaChunks = []
      try {
        this.decoder.meta(data)
      } catch (error) {
        throw new TarFormatError(`corrupt tar: ${(error as Error).message}`)
      }
      return
    }
    const e = this.current
    if (!e) return
    this.current = undefined
    if (this.hash) e.sha256 = this.hash.digest()
    if (this.keep) e.content = Buffer.concat(this.keep)
    this.hash = undefined
    this.keep = undefined
    this.sink?.end()
    this.sink = undefined
    this.options.onEntry(e)
  }
}

/** The in-memory driver: every entry of a tar held in a buffer, with its data (a view into `buf`). */
export function readTarBuffer(buf: Buffer, options: {checksum?: boolean} = {}): Array<{data: Buffer; entry: TarEntry}> {
  const decoder = new TarHeaderDecoder(0, options.checksum !== false)
  const out: Array<{data: Buffer; entry: TarEntry}> = []
  let pos = 0
  while (pos + BLOCK <= buf.length) {
    const step = decoder.header(buf.subarray(pos, pos + BLOCK), pos)
    if (step.kind === 'end') break
    const size = step.kind === 'meta' ? step.size : step.dataSize
    const start = pos + BLOCK
    if (start + paddedSize(size) > buf.length)
      throw new TarFormatError(`truncated tar: entry at byte ${pos} is cut short`)
    const data = buf.subarray(start, start + size)
    if (step.kind === 'meta') decoder.meta(data)
    else out.push({data, entry: step.entry})
    pos = start + paddedSize(size)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Image archive members

export interface ArchiveMember {
  /** the member that holds the bytes (a link's target once resolved) */
  name: string
  type: EntryType
  size: number
  /** byte offset of the data in the tar file (seeking driver only) */
  offset: number
  /** position of the entry in the tar (which of duplicate names holds the bytes) */
  position: number
}

const MAX_LINK_HOPS = 16

/**
 * The member table of an image archive. A name stored twice is accepted only when both copies are the same
 * (readers that take the first copy and readers that take the last must see one image): a different type,
 * link target or size is refused here; files of the same size are listed in `sameSizeDuplicates` for the
 * source to compare their bytes (ambiguousDuplicate() is the error when they differ).
 */
export class ArchiveMembers {
  private readonly byName = new Map<string, ArchiveMember & {linkname: string}>()
  private readonly resolved = new Map<string, ArchiveMember>()
  private readonly problems = new Map<string, string>()
  readonly sameSizeDuplicates: Array<{first: ArchiveMember; name: string; second: ArchiveMember}> = []

  constructor(readonly file: string) {}

  ambiguousDuplicate(name: string, why: string): InvalidArchiveError {
    return new InvalidArchiveError(
      this.file,
      `'${name.slice(0, 200)}' is stored twice ${why}: readers disagree on which copy counts`,
    )
  }

  private checkDuplicate(
    name: string,
    a: ArchiveMember & {linkname: string},
    b: ArchiveMember & {linkname: string},
  ): void {
    if (a.type === 'dir' && b.type === 'dir') return
    if (a.type !== b.type) throw this.ambiguousDuplicate(name, `as a ${a.type} and as a ${b.type}`)
    if (a.linkname !== b.linkname) throw this.ambiguousDuplicate(name, 'with different link targets')
    if (a.size !== b.size) throw this.ambiguousDuplicate(name, `with different content (${a.size} and ${b.size} bytes)`)
    if (a.type === 'file' && a.size > 0) this.sameSizeDuplicates.push({first: a, name, second: b})
  }

  /** Add an entry (throws for names that leave the archive or too many members). */
  add(entry: TarEntry, offset: number): string | undefined {
    const name = normalizeEntryName(entry.name)
    if (name === undefined)
      throw new InvalidArchiveError(this.file, `entry '${entry.name.slice(0, 200)}' points outside the archive`)
    if (name === '') return undefined
    const member = {
      name,
      type: entry.type,
      size: entry.size,
      offset,
      position: entry.position,
      linkname: entry.linkname,
    }
    const previous = this.byName.get(name)
    if (previous) this.checkDuplicate(name, previous, member)
    this.byName.set(name, member)
    if (this.byName.size > LIMITS.maxArchiveEntries)
      throw new ArchiveLimitError(this.file, 'maxArchiveEntries', 'too many archive members')
    return name
  }

  /** Resolve links: a symlink relative to its directory, a hardlink from the archive root, staying inside. */
  finish(): void {
    for (const [name, m] of this.byName) {
      if (m.type === 'file') {
        this.resolved.set(name, m)
        continue
      }
      if (m.type !== 'symlink' && m.type !== 'hardlink') continue
      let cur: (ArchiveMember & {linkname: string}) | undefined = m
      let curName = name
      let problem: string | undefined
      for (let hop = 0; cur && (cur.type === 'symlink' || cur.type === 'hardlink'); hop++) {
        if (hop >= MAX_LINK_HOPS) {
          problem = `'${name}' is a chain of links more than ${MAX_LINK_HOPS} long (or a loop)`
          break
        }
        const target = cur.linkname.startsWith('/')
          ? undefined
          : normalizeEntryName(
              cur.type === 'hardlink' ? cur.linkname : path.posix.join(path.posix.dirname(curName), cur.linkname),
            )
        if (target === undefined || target === '') {
          problem = `'${name}' is a link to '${cur.linkname.slice(0, 200)}', outside the archive`
          break
        }
        curName = target
        cur = this.byName.get(target)
      }
      if (problem) this.problems.set(name, problem)
      else if (cur?.type === 'file') this.resolved.set(name, cur)
      else
        this.problems.set(
          name,
          `'${name}' is a link to '${m.linkname.slice(0, 200)}', which is not a file in the archive`,
        )
    }
  }

  /** The regular file a name stands for (through links), or undefined. */
  lookup(name: string): ArchiveMember | undefined {
    return this.resolved.get(name)
  }

  /** Why a name is not a readable file (a link out of the archive, a special file), or undefined. */
  problem(name: string): string | undefined {
    const p = this.problems.get(name)
    if (p) return p
    const m = this.byName.get(name)
    if (m && m.type !== 'file' && m.type !== 'symlink' && m.type !== 'hardlink')
      return `'${name}' is a ${m.type} entry, not a file`
    return undefined
  }

  /** Every name that reads as a regular file, in archive order. */
  fileNames(): string[] {
    return [...this.resolved.keys()]
  }

  get count(): number {
    return this.byName.size
  }
}

/** The seeking driver: index a tar file by reading its headers only. */
export async function indexTarFile(file: string, fh: FileHandle, fileSize: number): Promise<ArchiveMembers> {
  const decoder = new TarHeaderDecoder()
  const members = new ArchiveMembers(file)
  const block = Buffer.alloc(BLOCK)
  let pos = 0
  let first = true
  for (;;) {
    if (pos >= fileSize) break // tolerate a missing end-of-archive marker at a block boundary
    const {bytesRead} = await fh.read(block, 0, BLOCK, pos)
    if (bytesRead < BLOCK)
      throw new InvalidArchiveError(
        file,
        first ? 'not a tar archive (too short)' : `truncated tar archive: header at byte ${pos} is cut short`,
      )
    let step: HeaderStep
    try {
      step = decoder.header(block, pos)
    } catch (error) {
      if (!(error instanceof TarFormatError)) throw error
      throw new InvalidArchiveError(
        file,
        first ? 'not a tar archive (no valid tar header at the start)' : `corrupt tar archive: ${error.message}`,
      )
    }
    if (step.kind === 'end') break
    first = false
    const dataStart = pos + BLOCK
    const size = step.kind === 'meta' ? step.size : step.dataSize
    // the data and its padding must be in the file: a tar ends at a block boundary
    if (dataStart + paddedSize(size) > fileSize) {
      const name = step.kind === 'entry' ? step.entry.name : (decoder.pendingName ?? 'an extended header')
      throw new InvalidArchiveError(
        file,
        `truncated tar archive: '${name.slice(0, 200)}' needs ${size} bytes at byte ${dataStart}, but the file has ${fileSize}`,
      )
    }
    if (step.kind === 'meta') {
      const data = Buffer.alloc(size)
      await fh.read(data, 0, size, dataStart)
      try {
        decoder.meta(data)
      } catch (error) {
        throw new InvalidArchiveError(file, `corrupt tar archive: ${(error as Error).message} at byte ${pos}`)
      }
    } else {
      members.add(step.entry, dataStart)
    }
    pos = dataStart + paddedSize(size)
  }
  if (first) throw new InvalidArchiveError(file, 'not a tar archive (no entries)')
  members.finish()
  return members
}
