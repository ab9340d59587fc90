/**
 * Scan the layers of an image for content that will not reproduce (the detectors of detectors.ts), bounded:
 * text files up to SCAN_LIMITS.textMaxBytes are read whole, larger zip-looking files keep their last
 * SCAN_LIMITS.zipTailBytes, every file its first bytes; the bytes kept for judging are counted against a
 * budget per image, after which only path and header checks run. Layers stream through the one layer reader
 * (src/diff/layers.ts: decompression limits, the one tar parser), so a malformed layer is InvalidArchiveError
 * naming the input.
 */
import {createHash, type Hash} from 'node:crypto'

import {inferSde} from '../diff/compare.js'
import {scanLayers} from '../diff/layers.js'
import {type ImageArchive, type ImageInfo, platformImages} from '../image/archive.js'
import type {TarEntry} from '../image/tar.js'
import {type FileHazard, type HazardContext, judgeFile, looksLikeZip} from './detectors.js'

export const SCAN_LIMITS = {
  /** text files (and zips) up to this size are read whole */
  textMaxBytes: 1024 * 1024,
  /** larger zip-looking files: the last bytes kept for the central directory */
  zipTailBytes: 4 * 1024 * 1024,
  /** bytes kept for judging, per image; past it, only path and header checks */
  budgetBytes: 256 * 1024 * 1024,
  /** first bytes of every file (gzip, pyc, zip magic) */
  headBytes: 64,
  /** findings per image; past it, one warning */
  maxFindings: 10_000,
} as const

export interface ImageScanOptions {
  /** SOURCE_DATE_EPOCH to judge against; default: inferred from the image (rewritten-timestamp annotation, config created) */
  sde?: number
  /** "now": later times are in the future and not judged (epoch seconds) */
  now: number
  /** more host names to look for (buildkitsandbox and the config's Hostname always are) */
  hostnames?: string[]
  /** only this platform (os/arch[/variant]) */
  platform?: string
  /** the base image's layers (diff IDs): as many layers at the bottom of the image are not scanned */
  baseLayers?: string[]
  /** scan every layer (default: the leading layers without the buildkit/rewritten-timestamp annotation, when later ones have it, are the base's) */
  allLayers?: boolean
  limits?: Partial<typeof SCAN_LIMITS>
  concurrency?: number
}

export interface ImageHazard extends FileHazard {
  platform: string
  /** 1-based layer number */
  layer: number
  layerDigest: string | null
}

export interface ImageScanStats {
  layers: number
  layersScanned: number
  /** base layers not scanned (--base) */
  layersSkipped: number
  files: number
  /** files read whole (text, zip, shadow…) */
  filesRead: number
  bytesRead: number
  /** files larger than the text cap, judged by path and header only */
  filesOverCap: number
  /** files judged by path and header only because the budget was spent */
  filesOverBudget: number
  /** files with a hazard in their content that are a package's file, byte for byte (dpkg md5sums, apk's installed db): not findings */
  packageFiles: number
}

export interface ImageScanResult {
  platform: string
  sde: number | null
  /** where the SOURCE_DATE_EPOCH came from */
  sdeSource: string
  hostnames: string[]
  hazards: ImageHazard[]
  stats: ImageScanStats
  warnings: string[]
}

const DEFAULT_HOSTNAMES = ['buildkitsandbox']
/** bytes looked at to tell a binary file (a NUL) from text */
const BINARY_SNIFF = 8192

/** Hazards found in a file's bytes (not its path): a package's own file is exempt from them. */
const CONTENT_HAZARDS = new Set(['build-hostname', 'gzip-mtime', 'timestamp-in-content', 'zip-entry-times'])
const DPKG_MD5SUMS = /^var\/lib\/dpkg\/info\/[^/]+\.md5sums$/
const APK_INSTALLED = 'lib/apk/db/installed'
/** package databases are read whole up to this size (an Alpine installed db is a few MiB) */
const PACKAGE_DB_MAX = 16 * 1024 * 1024

/** dpkg's `<md5>  <path>` lines (paths without the leading '/'): path -> `md5:<hex>`. */
export function readMd5sums(text: Buffer, into: Map<string, string>): void {
  for (const line of text.toString('utf8').split('\n')) {
    const m = /^([0-9a-f]{32}) {2}(.+)$/.exec(line)
    if (m) into.set(m[2].replace(/^\/+/, ''), `md5:${m[1]}`)
  }
}

/** apk's installed database: `F:dir`, `R:name`, `Z:Q1<base64 sha1>` -> path -> `sha1:<hex>`. */
export function readApkInstalled(text: Buffer, into: Map<string, string>): void {
  let dir = ''
  let file = ''
  for (const line of text.toString('utf8').split('\n')) {
    if (line.startsWith('P:')) dir = ''
    else if (line.startsWith('F:')) dir = line.slice(2)
    else if (line.startsWith('R:')) file = line.slice(2)
    else if (line.startsWith('Z:Q1') && file) {
      const sha1 = Buffer.from(line.slice(4), 'base64')
      if (sha1.length === 20) into.set(dir ? `${dir}/${file}` : file, `sha1:${sha1.toString('hex')}`)
      file = ''
    }
  }
}

function configHostnames(img: ImageInfo): string[] {
  const out: string[] = []
  for (const key of ['config', 'container_config']) {
    const c = img.config.json[key] as {Hostname?: unknown} | undefined
    if (c && typeof c.Hostname === 'string' && c.Hostname !== '') out.push(c.Hostname)
  }
  return out
}

class Collector {
  private head: Buffer[] = []
  private headLen = 0
  private whole: Buffer[] | undefined
  private tail: Buffer[] | undefined
  private tailLen = 0
  /** md5 of the whole file: matched against dpkg's md5sums */
  readonly md5: Hash = createHash('md5')

  private seen = 0

  constructor(
    readonly entry: TarEntry,
    readonly mode: 'head' | 'tail' | 'whole',
    private readonly tailMax: number,
    private readonly headMax: number,
    /** a file read whole turned out binary (a NUL in its first 8 KiB, not a zip): its budget is given back */
    private readonly onBinary: () => void = () => {},
  ) {
    if (mode === 'whole') this.whole = []
  }

  write(chunk: Buffer): void {
    this.md5.update(chunk)
    if (this.whole && this.seen < BINARY_SNIFF) {
      const start = this.seen === 0 ? chunk : Buffer.concat([...this.head, chunk])
      const zip = start.length >= 4 && start.readUInt32LE(0) === 0x04034b50
      if (!zip && chunk.subarray(0, BINARY_SNIFF - this.seen).includes(0)) {
        // ELF files, images, databases: only their head matters (gzip and .pyc headers)
        this.whole = undefined
        this.onBinary()
      }
    }
    this.seen += chunk.length
    if (this.headLen < this.headMax) {
      const part = chunk.subarray(0, this.headMax - this.headLen)
      this.head.push(Buffer.from(part))
      this.headLen += part.length
    }
    if (this.whole) this.whole.push(Buffer.from(chunk))
    else if (this.mode === 'tail') {
      this.tail ??= []
      this.tail.push(Buffer.from(chunk))
      this.tailLen += chunk.length
      // drop whole chunks from the front while what stays still covers tailMax
      while (this.tail.length > 1 && this.tailLen - this.tail[0].length >= this.tailMax) {
        this.tailLen -= this.tail[0].length
        this.tail.shift()
      }
    }
  }

  result(): {head: Buffer; content?: Buffer; tail?: Buffer} {
    const head = Buffer.concat(this.head)
    if (this.whole) return {head, content: Buffer.concat(this.whole)}
    if (this.tail) {
      const t = Buffer.concat(this.tail)
      return {head, tail: t.length > this.tailMax ? t.subarray(t.length - this.tailMax) : t}
    }
    return {head}
  }
}

async function scanImage(archive: ImageArchive, img: ImageInfo, options: ImageScanOptions): Promise<ImageScanResult> {
  const limits = {...SCAN_LIMITS, ...options.limits}
  const warnings: string[] = []
  const inferred = inferSde(img)
  const sde = options.sde ?? inferred.sde
  const sdeSource = options.sde !== undefined ? '--sde' : (inferred.source ?? 'none')
  if (sde === undefined)
    warnings.push('no SOURCE_DATE_EPOCH known (no config created time, no --sde): times in content were not judged')
  const hostnames = [...new Set([...DEFAULT_HOSTNAMES, ...configHostnames(img), ...(options.hostnames ?? [])])].sort()
  const ctx: HazardContext = {sde: sde ?? options.now, now: options.now, hostnames}
  const stats: ImageScanStats = {
    layers: img.layers.length,
    layersScanned: 0,
    layersSkipped: 0,
    files: 0,
    filesRead: 0,
    bytesRead: 0,
    filesOverCap: 0,
    filesOverBudget: 0,
    packageFiles: 0,
  }
  let skip = 0
  const base = options.baseLayers
  if (base && base.length > 0) {
    skip = Math.min(base.length, img.layers.length)
    const same = img.layers.slice(0, skip).every((l, i) => l.diffId === base[i])
    if (!same)
      warnings.push(
        `the first ${skip} layer(s) are not the base image's (other diff IDs; rewritten timestamps?): skipped by position`,
      )
    if (base.length >= img.layers.length)
      warnings.push('the image has no layer beyond the base image: nothing was scanned')
  }
  if (!base && !options.allLayers) {
    // BuildKit's rewrite-timestamp (repro build uses it) marks the layers this build wrote: those below the
    // first marked one came from the base image, copied as they are
    const first = img.layers.findIndex((l) => l.annotations['buildkit/rewritten-timestamp'] !== undefined)
    if (first > 0) {
      skip = first
      warnings.push(
        `the first ${first} layer(s) have no buildkit/rewritten-timestamp annotation and a later one has: taken as the base image's and not scanned (--all-layers scans them)`,
      )
    }
  }
  stats.layersSkipped = skip
  // per layer, each capped: layers stream concurrently, so a cap over all of them would keep whichever came first
  const perLayer: ImageHazard[][] = img.layers.map(() => [])
  let budget = limits.budgetBytes
  let capped = false
  // dpkg's md5sums and apk's sha1s (path -> 'md5:…' or 'sha1:…') and, per content hazard, its file's digests
  const packageSums = new Map<string, string>()
  const hazardSums = new Map<ImageHazard, string[]>()
  const add = (h: FileHazard, layer: number, sums: string[]): void => {
    const list = perLayer[layer]
    if (list.length >= limits.maxFindings) {
      capped = true
      return
    }
    const l = img.layers[layer]
    const hazard: ImageHazard = {...h, platform: img.platform, layer: layer + 1, layerDigest: l.digest ?? null}
    list.push(hazard)
    if (CONTENT_HAZARDS.has(h.id)) hazardSums.set(hazard, sums)
  }
  const jobs = img.layers.slice(skip).map((layer, k) => {
    const i = k + skip
    return {
      layer,
      options: {
        layer: i,
        hash: false,
        tap: (e: TarEntry) => {
          if (e.type !== 'file') return undefined
          stats.files++
          let mode: Collector['mode'] = 'head'
          const db = e.key === APK_INSTALLED || DPKG_MD5SUMS.test(e.key)
          const small = e.size <= (db ? Math.max(PACKAGE_DB_MAX, limits.textMaxBytes) : limits.textMaxBytes)
          const zipName = looksLikeZip(e.key, Buffer.alloc(0))
          const want = small ? e.size : zipName ? Math.min(e.size, limits.zipTailBytes) : 0
          if (!small && !zipName) stats.filesOverCap++
          else if (want > budget) stats.filesOverBudget++
          else {
            mode = small ? 'whole' : 'tail'
            budget -= want
            stats.filesRead++
            stats.bytesRead += want
          }
          const c = new Collector(e, mode, limits.zipTailBytes, limits.headBytes, () => {
            budget += want
            stats.filesRead--
            stats.bytesRead -= want
          })
          return {
            write: (chunk: Buffer) => c.write(chunk),
            end: () => {
              const r = c.result()
              if (DPKG_MD5SUMS.test(e.key) && r.content) readMd5sums(r.content, packageSums)
              if (e.key === APK_INSTALLED && r.content) readApkInstalled(r.content, packageSums)
              const found = judgeFile({path: e.key, size: e.size, ...r}, ctx)
              if (found.length === 0) return
              // the file's digests, to match a package database read before or after it
              const sums = [`md5:${c.md5.digest('hex')}`]
              if (r.content) sums.push(`sha1:${createHash('sha1').update(r.content).digest('hex')}`)
              for (const h of found) add(h, i, sums)
            },
          }
        },
        onEntry: () => {},
      },
    }
  })
  stats.layersScanned = jobs.length
  await scanLayers(archive.source, archive.path, jobs, options.concurrency ?? 2)
  // a package's file, byte for byte, holds the times of the package's build, not of this one
  let hazards = perLayer.flat().filter((h) => {
    const sums = hazardSums.get(h)
    const listed = packageSums.get(h.path)
    if (sums === undefined || listed === undefined || !sums.includes(listed)) return true
    stats.packageFiles++
    return false
  })
  if (capped || hazards.length > limits.maxFindings) {
    hazards = hazards.slice(0, limits.maxFindings)
    warnings.push(`more than ${limits.maxFindings} hazards: the rest are not listed (the first ones by layer)`)
  }
  if (stats.filesOverBudget > 0)
    warnings.push(
      `${stats.filesOverBudget} file(s) judged by path and header only: the scan budget of ${limits.budgetBytes} bytes per image was spent`,
    )
  hazards.sort(
    (x, y) =>
      x.layer - y.layer ||
      (x.path < y.path ? -1 : x.path > y.path ? 1 : 0) ||
      (x.line ?? 0) - (y.line ?? 0) ||
      (x.id < y.id ? -1 : x.id > y.id ? 1 : 0),
  )
  return {platform: img.platform, sde: sde ?? null, sdeSource, hostnames, hazards, stats, warnings}
}

/** Scan every platform image of an archive (or the one of `options.platform`). */
export async function scanImageHazards(archive: ImageArchive, options: ImageScanOptions): Promise<ImageScanResult[]> {
  let images = platformImages(archive)
  if (options.platform) images = images.filter((i) => i.platform === options.platform)
  const out: ImageScanResult[] = []
  for (const img of images) out.push(await scanImage(archive, img, options))
  return out
}
