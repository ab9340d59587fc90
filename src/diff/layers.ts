/**
 * Layer tars as streams of entries: decompress, parse headers (ustar, GNU, pax), hash contents, keep the
 * content of small files when asked, compare two entries field by field, and flatten layers with whiteouts.
 *
 * Why our own streaming parser over the lead's tar-header.ts and not node-tar's Parser: node-tar's Pax
 * drops SCHILY.xattr.* and every record it does not know, masks the mode to 0o7777 (so redundant mode bits
 * would be invisible), and its 'meta' event decodes pax bodies as UTF-8, which loses binary xattr values
 * (security.capability). A difference we cannot see is one we cannot explain.
 */
import {createHash, type Hash} from 'node:crypto'
import {Readable, type Transform} from 'node:stream'
import * as zlib from 'node:zlib'

import {InvalidArchiveError, ReproError} from '../errors.js'
import type {LayerInfo} from '../image/archive.js'
import type {ArchiveSource} from '../image/source.js'
import {BLOCK, paddedSize, parseNumeric, parsePaxRecords, parseTarHeader} from '../image/tar-header.js'

/** Content of a regular file kept in memory for unified diffs (only files of at most this size). */
export const CONTENT_CAP = 64 * 1024
const MAX_META = 1024 * 1024

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
  /** 0-based index of the entry in its layer tar */
  position: number
  /** 0-based index of the layer in its image */
  layer: number
  /** k-th entry of this key in the layer (0 for the first) */
  occurrence: number
}

export interface EntrySink {
  write(chunk: Buffer): void
  end(): void
}

export interface ParseOptions {
  layer: number
  /** called once the header is known: keep the content in memory (only called for files <= CONTENT_CAP) */
  keepContent?: (e: TarEntry) => boolean
  /** called once the header is known: a sink that receives the data of this entry */
  tap?: (e: TarEntry) => EntrySink | undefined
  /** hash regular-file contents (default true) */
  hash?: boolean
  onEntry: (e: TarEntry) => void
}

/** Canonical form of an in-layer path. */
export function canonicalPath(name: string): string {
  let n = name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '')
  n = n.replace(/\/\.\//g, '/').replace(/\/{2,}/g, '/')
  return n === '.' ? '' : n
}

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

const EFFECTIVE_PAX = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime'])

/** A push parser over the bytes of an uncompressed tar. Throws Error on corrupt input. */
export class TarEntryParser {
  private header = Buffer.alloc(BLOCK)
  private headerFill = 0
  private dataRemain = 0
  private padRemain = 0
  private ended = false
  private position = 0
  private offset = 0
  private pax = new Map<string, Buffer>()
  private longName: string | undefined
  private longLink: string | undefined
  private current: TarEntry | undefined
  private metaType: string | undefined
  private metaChunks: Buffer[] = []
  private hash: Hash | undefined
  private keep: Buffer[] | undefined
  private sink: EntrySink | undefined
  private readonly counts = new Map<string, number>()

  constructor(private readonly options: ParseOptions) {}

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
    if (this.dataRemain > 0 || this.headerFill > 0)
      throw new Error(`truncated tar: input ends inside an entry at byte ${this.offset}`)
    if (this.current) this.finishData()
  }

  private onHeader(): void {
    const parsed = parseTarHeader(this.header)
    if (parsed.kind === 'end') {
      this.ended = true
      return
    }
    if (parsed.kind === 'invalid') throw new Error(`corrupt tar: ${parsed.reason} at byte ${this.offset - BLOCK}`)
    const h = parsed.header
    if (h.type === 'x' || h.type === 'g' || h.type === 'L' || h.type === 'K') {
      if (h.size > MAX_META) throw new Error(`corrupt tar: extended header of ${h.size} bytes`)
      this.metaType = h.type
      this.metaChunks = []
      this.dataRemain = h.size
      this.padRemain = paddedSize(h.size) - h.size
      if (h.size === 0) this.finishData()
      return
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
    const size = paxSize === undefined ? h.size : Number(paxSize)
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`corrupt tar: absurd size for '${name}'`)
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
    const entry: TarEntry = {
      key,
      name,
      type,
      linkname,
      size,
      mode: h.mode,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      uname: text('uname') ?? h.uname,
      gname: text('gname') ?? h.gname,
      mtime: text('mtime') ?? String(h.mtime),
      atime: text('atime'),
      ctime: text('ctime'),
      devmajor: type === 'char' || type === 'block' ? (parseNumeric(this.header, 329, 8) ?? 0) : 0,
      devminor: type === 'char' || type === 'block' ? (parseNumeric(this.header, 337, 8) ?? 0) : 0,
      xattrs,
      pax: other,
      format: magic === 'ustar' ? 'ustar' : magic === 'ustar ' ? 'gnu' : magic === '' ? 'v7' : magic,
      position: this.position++,
      layer: this.options.layer,
      occurrence,
    }
    // links, devices, directories and fifos carry no data whatever their size field says
    const hasData = !['hardlink', 'symlink', 'char', 'block', 'dir', 'fifo'].includes(type)
    const dataSize = hasData ? size : 0
    if (!hasData) entry.size = 0
    this.current = entry
    this.metaType = undefined
    const regular = type === 'file'
    this.hash = regular && this.options.hash !== false ? createHash('sha256') : undefined
    this.keep = regular && dataSize <= CONTENT_CAP && this.options.keepContent?.(entry) ? [] : undefined
    this.sink = this.options.tap?.(entry)
    this.dataRemain = dataSize
    this.padRemain = paddedSize(dataSize) - dataSize
    if (dataSize === 0) this.finishData()
  }

  private data(chunk: Buffer): void {
    if (this.metaType !== undefined) {
      this.metaChunks.push(Buffer.from(chunk))
      return
    }
    this.hash?.update(chunk)
    this.keep?.push(Buffer.from(chunk))
    this.sink?.write(chunk)
  }

  private finishData(): void {
    if (this.metaType !== undefined) {
      const data = Buffer.concat(this.metaChunks)
      this.metaChunks = []
      if (this.metaType === 'x') {
        for (const [k, v] of parsePaxRecords(data)) this.pax.set(k, v)
      } else if (this.metaType === 'L') {
        this.longName = data.toString('utf8').replace(/\0+$/, '')
      } else if (this.metaType === 'K') {
        this.longLink = data.toString('utf8').replace(/\0+$/, '')
      }
      this.metaType = undefined
      return
    }
    const e = this.current
    if (!e) return
    this.current = undefined
    if (this.hash) e.sha256 = `sha256:${this.hash.digest('hex')}`
    if (this.keep) e.content = Buffer.concat(this.keep)
    this.hash = undefined
    this.keep = undefined
    this.sink?.end()
    this.sink = undefined
    this.options.onEntry(e)
  }
}

type ZlibWithZstd = typeof zlib & {createZstdDecompress?: () => Transform}

/** The decompressed bytes of a layer blob stream. */
export function decompressed(
  stream: AsyncIterable<Buffer>,
  compression: LayerInfo['compression'],
  what: string,
): AsyncIterable<Buffer> {
  let dec: Transform | undefined
  if (compression === 'gzip') dec = zlib.createGunzip({chunkSize: 256 * 1024})
  else if (compression === 'zstd') {
    const z = zlib as ZlibWithZstd
    if (typeof z.createZstdDecompress !== 'function')
      throw new ReproError(
        'E_UNSUPPORTED',
        `${what}: zstd-compressed layer, and this Node.js has no zstd decompressor`,
        {
          suggestions: ['use Node.js >= 22.15 (zlib zstd support), or convert the image to gzip layers'],
        },
      )
    dec = z.createZstdDecompress()
  }
  if (!dec) return stream
  const d = dec
  const input = stream instanceof Readable ? stream : Readable.from(stream)
  input.on('error', (error) => d.destroy(error))
  return input.pipe(d)
}

export interface LayerJob {
  layer: LayerInfo
  options: Omit<ParseOptions, 'onEntry'> & {onEntry: (e: TarEntry) => void}
}

/** Parse several layers of one archive, streaming, `concurrency` at a time. */
export async function scanLayers(
  source: ArchiveSource,
  archivePath: string,
  jobs: LayerJob[],
  concurrency = 2,
): Promise<void> {
  const byPath = new Map<string, LayerJob[]>()
  for (const j of jobs) byPath.set(j.layer.path, [...(byPath.get(j.layer.path) ?? []), j])
  await source.streamEntries(
    [...byPath.keys()],
    async (path, stream) => {
      const list = byPath.get(path)!
      const parsers = list.map((j) => new TarEntryParser(j.options))
      const what = `${archivePath}: layer ${path}`
      try {
        for await (const chunk of decompressed(stream, list[0].layer.compression, what)) {
          for (const p of parsers) p.write(chunk as Buffer)
        }
        for (const p of parsers) p.end()
      } catch (error) {
        if (error instanceof ReproError) throw error
        throw new InvalidArchiveError(archivePath, `layer ${path}: ${(error as Error).message}`)
      }
    },
    concurrency,
  )
}

// ---------------------------------------------------------------------------------------------------------
// Comparing entries

export interface FieldDifference {
  field: string
  a: string | null
  b: string | null
}

export function formatTime(seconds: string | undefined): string | null {
  if (seconds === undefined) return null
  const n = Number(seconds)
  if (!Number.isFinite(n)) return seconds
  const ms = Math.floor(n * 1000)
  const d = new Date(ms)
  const iso = Number.isNaN(d.getTime()) ? seconds : d.toISOString().replace('.000Z', 'Z')
  return `${iso} (${seconds})`
}

export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`
}

/** An xattr value: text when printable, else 0x-hex. */
export function formatBytes(b: Buffer | undefined): string | null {
  if (b === undefined) return null
  const text = b.toString('utf8')
  // eslint-disable-next-line no-control-regex
  if (Buffer.from(text, 'utf8').equals(b) && !/[\u0000-\u0008\u000e-\u001f\u007f\ufffd]/.test(text.replace(/\0$/, '')))
    return text
  return `0x${b.toString('hex')}`
}

export function formatContent(e: TarEntry): string {
  return `${e.sha256 ?? 'not hashed'} (${e.size} bytes)`
}

export interface CompareEntryOptions {
  /** compare positions in the layer tar */
  position?: boolean
}

/** Every differing field of two entries with the same key, in a fixed order. */
export function compareEntries(a: TarEntry, b: TarEntry, options: CompareEntryOptions = {}): FieldDifference[] {
  const out: FieldDifference[] = []
  const add = (field: string, va: string | null, vb: string | null): void => {
    if (va !== vb) out.push({field, a: va, b: vb})
  }
  add('name', a.name, b.name)
  add('type', a.type, b.type)
  if (a.type === b.type) {
    if (a.type === 'file') add('content', formatContent(a), formatContent(b))
    if (a.type === 'symlink' || a.type === 'hardlink') add('linkname', a.linkname, b.linkname)
    if (a.type === 'char' || a.type === 'block') {
      add('devmajor', String(a.devmajor), String(b.devmajor))
      add('devminor', String(a.devminor), String(b.devminor))
    }
  }
  add('mode', formatMode(a.mode), formatMode(b.mode))
  add('uid', String(a.uid), String(b.uid))
  add('gid', String(a.gid), String(b.gid))
  add('uname', a.uname, b.uname)
  add('gname', a.gname, b.gname)
  add('mtime', formatTime(a.mtime), formatTime(b.mtime))
  add('atime', formatTime(a.atime), formatTime(b.atime))
  add('ctime', formatTime(a.ctime), formatTime(b.ctime))
  for (const k of [...new Set([...Object.keys(a.xattrs), ...Object.keys(b.xattrs)])].sort()) {
    add(`xattr.${k}`, formatBytes(a.xattrs[k]), formatBytes(b.xattrs[k]))
  }
  for (const k of [...new Set([...Object.keys(a.pax), ...Object.keys(b.pax)])].sort()) {
    if (
      k === 'mtime' ||
      k === 'atime' ||
      k === 'ctime' ||
      k === 'uid' ||
      k === 'gid' ||
      k === 'uname' ||
      k === 'gname'
    ) {
      // the value is compared as the field itself; only the record's presence is a format matter
      if (k in a.pax !== k in b.pax) add(`pax.${k}`, a.pax[k] ?? null, b.pax[k] ?? null)
      continue
    }
    add(`pax.${k}`, a.pax[k] ?? null, b.pax[k] ?? null)
  }
  add('format', a.format, b.format)
  if (options.position) add('position', String(a.position), String(b.position))
  return out
}

/**
 * Entries whose relative order differs: pairs (posA, posB) of matched entries, in A's order; those outside a
 * longest increasing subsequence of posB are the ones that moved (the fewest that explain the new order).
 */
export function movedEntries(pairs: Array<{a: number; b: number}>): Set<number> {
  const sorted = [...pairs].sort((x, y) => x.a - y.a)
  const tails: number[] = []
  const tailIdx: number[] = []
  const prev: number[] = new Array(sorted.length).fill(-1)
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i].b
    let lo = 0
    let hi = tails.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (tails[mid] < v) lo = mid + 1
      else hi = mid
    }
    tails[lo] = v
    tailIdx[lo] = i
    prev[i] = lo > 0 ? tailIdx[lo - 1] : -1
  }
  const keep = new Set<number>()
  let k = tails.length > 0 ? tailIdx[tails.length - 1] : -1
  while (k !== -1) {
    keep.add(k)
    k = prev[k]
  }
  const moved = new Set<number>()
  for (let i = 0; i < sorted.length; i++) if (!keep.has(i)) moved.add(sorted[i].a)
  return moved
}

// ---------------------------------------------------------------------------------------------------------
// Flattening

export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_WHITEOUT = '.wh..wh..opq'

function removeTree(fs: Map<string, TarEntry>, key: string, includeSelf: boolean): void {
  if (includeSelf) fs.delete(key)
  const prefix = key === '' ? '' : `${key}/`
  for (const k of fs.keys()) if (k.startsWith(prefix) && k !== key) fs.delete(k)
}

/**
 * Apply layers in order (OCI image spec "applying changesets"): `.wh.NAME` deletes NAME and what is below
 * it from lower layers, `DIR/.wh..wh..opq` empties DIR of lower-layer entries; a non-directory replacing a
 * directory removes the directory's children. Whiteout entries themselves do not appear in the result.
 */
export function flatten(layers: TarEntry[][]): Map<string, TarEntry> {
  const fs = new Map<string, TarEntry>()
  for (const entries of layers) {
    // whiteouts act on lower layers only: apply them before this layer's own entries
    for (const e of entries) {
      const slash = e.key.lastIndexOf('/')
      const dir = slash === -1 ? '' : e.key.slice(0, slash)
      const base = e.key.slice(slash + 1)
      if (base === OPAQUE_WHITEOUT) removeTree(fs, dir, false)
      else if (base.startsWith(WHITEOUT_PREFIX))
        removeTree(fs, (dir ? `${dir}/` : '') + base.slice(WHITEOUT_PREFIX.length), true)
    }
    for (const e of entries) {
      const base = e.key.slice(e.key.lastIndexOf('/') + 1)
      if (base.startsWith(WHITEOUT_PREFIX) || e.key === '') continue
      const old = fs.get(e.key)
      if (old && old.type === 'dir' && e.type !== 'dir') removeTree(fs, e.key, false)
      fs.set(e.key, e)
    }
  }
  return fs
}
