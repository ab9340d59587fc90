/**
 * Layer tars as streams of entries (parsed by the one tar parser, src/image/tar.ts, decompressed by
 * src/image/compression.ts with its limits): compare two entries field by field, and flatten layers with
 * whiteouts.
 */
import {InvalidArchiveError, ReproError} from '../errors.js'
import type {LayerInfo} from '../image/archive.js'
import {decompressed} from '../image/compression.js'
import type {ImageSource} from '../image/source.js'
import {type ParseOptions, type TarEntry, TarEntryParser, TarFormatError} from '../image/tar.js'

export {
  canonicalPath,
  CONTENT_CAP,
  type EntrySink,
  type EntryType,
  type ParseOptions,
  type TarEntry,
  TarEntryParser,
} from '../image/tar.js'

export interface LayerJob {
  layer: LayerInfo
  options: Omit<ParseOptions, 'onEntry'> & {onEntry: (e: TarEntry) => void}
}

/** Parse several layers of one archive, streaming, `concurrency` at a time. */
export async function scanLayers(
  source: ImageSource,
  archivePath: string,
  jobs: LayerJob[],
  concurrency = 2,
): Promise<void> {
  const byPath = new Map<string, LayerJob[]>()
  for (const j of jobs) {
    const list = byPath.get(j.layer.path)
    if (list) list.push(j)
    else byPath.set(j.layer.path, [j])
  }
  await source.streamEntries(
    [...byPath.keys()],
    async (path, stream) => {
      const list = byPath.get(path)!
      // jobs that only collect entries share one parser: an image that lists one blob 10,000 times parses it once
      const plain = list.filter((j) => !j.options.tap && !j.options.keepContent && j.options.hash !== false)
      const own = list.filter((j) => !plain.includes(j))
      const parsers = own.map((j) => new TarEntryParser(j.options))
      if (plain.length > 0)
        parsers.push(
          new TarEntryParser({
            layer: plain[0].options.layer,
            onEntry: (e) => {
              for (const j of plain) j.options.onEntry(j === plain[0] ? e : {...e, layer: j.options.layer})
            },
          }),
        )
      const what = `${archivePath}: layer ${path}`
      try {
        for await (const chunk of decompressed(stream, list[0].layer.compression, what)) {
          for (const p of parsers) p.write(chunk as Buffer)
        }
        for (const p of parsers) p.end()
      } catch (error) {
        if (error instanceof ReproError) throw error
        const why = error instanceof TarFormatError ? 'not a valid tar' : 'does not decompress'
        throw new InvalidArchiveError(archivePath, `layer ${path} ${why}: ${(error as Error).message}`)
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

const parentOf = (key: string): string => {
  const slash = key.lastIndexOf('/')
  return slash === -1 ? '' : key.slice(0, slash)
}

/**
 * The merged filesystem while layers are applied: the entries, and every path's children (directories a
 * layer never listed included), so a whiteout removes its subtree in time proportional to that subtree.
 * Scanning every path per whiteout cost whiteouts x entries: a hostile image of 100,000 whiteouts over 200,000
 * files ran for hours.
 */
class MergedTree {
  readonly entries = new Map<string, TarEntry>()
  private readonly children = new Map<string, Set<string>>()

  set(key: string, entry: TarEntry): void {
    if (!this.entries.has(key)) {
      // register the path under each ancestor, up to the first one already known
      for (let child = key; ;) {
        const parent = parentOf(child)
        let set = this.children.get(parent)
        if (!set) this.children.set(parent, (set = new Set()))
        if (set.has(child)) break
        set.add(child)
        if (parent === '') break
        child = parent
      }
    }
    this.entries.set(key, entry)
  }

  get(key: string): TarEntry | undefined {
    return this.entries.get(key)
  }

  /** KEY's subtree (what is below it), and KEY itself when includeSelf; '' is the root. */
  removeTree(key: string, includeSelf: boolean): void {
    const stack = [...(this.children.get(key) ?? [])]
    this.children.delete(key)
    while (stack.length > 0) {
      const k = stack.pop()!
      this.entries.delete(k)
      const below = this.children.get(k)
      if (below) {
        for (const c of below) stack.push(c)
        this.children.delete(k)
      }
    }
    if (includeSelf && key !== '') {
      this.entries.delete(key)
      this.children.get(parentOf(key))?.delete(key)
    }
  }
}

/**
 * Apply layers in order (OCI image spec "applying changesets"): `.wh.NAME` deletes NAME and what is below
 * it from lower layers, `DIR/.wh..wh..opq` empties DIR of lower-layer entries; a non-directory replacing a
 * directory removes the directory's children. Whiteout entries themselves do not appear in the result.
 */
export function flatten(layers: TarEntry[][]): Map<string, TarEntry> {
  const fs = new MergedTree()
  for (const entries of layers) {
    // whiteouts act on lower layers only: apply them before this layer's own entries
    for (const e of entries) {
      const slash = e.key.lastIndexOf('/')
      const dir = slash === -1 ? '' : e.key.slice(0, slash)
      const base = e.key.slice(slash + 1)
      if (base === OPAQUE_WHITEOUT) fs.removeTree(dir, false)
      else if (base.startsWith(WHITEOUT_PREFIX))
        fs.removeTree((dir ? `${dir}/` : '') + base.slice(WHITEOUT_PREFIX.length), true)
    }
    for (const e of entries) {
      const base = e.key.slice(e.key.lastIndexOf('/') + 1)
      if (base.startsWith(WHITEOUT_PREFIX) || e.key === '') continue
      const old = fs.get(e.key)
      if (old && old.type === 'dir' && e.type !== 'dir') fs.removeTree(e.key, false)
      fs.set(e.key, e)
    }
  }
  return fs.entries
}
