/**
 * Compare two image archives: archive format, index.json (its annotations are index.json-only), nested
 * indexes, manifests matched by platform, configs as whole raw JSON trees, and layers. Layers with equal
 * diff IDs are skipped without decompressing; others are compared file by file while both sides stream;
 * when the layer counts differ, the flattened file systems (whiteouts applied) are compared.
 */
import {createTwoFilesPatch} from 'diff'

import {InvalidArgumentError, shown} from '../errors.js'
import {type ImageArchive, type ImageInfo, type IndexInfo, type LayerInfo, platformImages} from '../image/archive.js'
import {LIMITS} from '../image/limits.js'
import type {Logger} from '../log.js'
import {looksLikeZip} from '../hazards/detectors.js'
import {CAUSES, type CauseContext, contentCause, epochOf, explain, type RawEvent} from './causes.js'
import {type IgnoreOptions, makeIgnorePredicate} from './ignore.js'
import {diffJson} from './json-tree.js'
import {compareEntries, CONTENT_CAP, flatten, movedEntries, scanLayers, type TarEntry, type LayerJob} from './layers.js'
import type {ReportDir} from './report.js'
import type {DiffEvent} from './types.js'

export interface CompareOptions {
  ignore: IgnoreOptions
  platform?: string
  /** layer streams per side at once */
  concurrency?: number
  reportDir?: ReportDir
  logger?: Logger
}

export interface CompareOutcome {
  events: DiffEvent[]
  stats: {filesCompared: number; ignored: number; layersCompared: number; layersSkipped: number}
  warnings: string[]
}

type Side = 'a' | 'b'

/** Bytes of small-file content held while waiting for the other side's entry. */
const PENDING_BUDGET = 48 * 1024 * 1024
/** First bytes of every file kept for the content detectors (gzip and .pyc headers) */
const HEAD_BYTES = 16
/** Last bytes of a zip-looking file larger than CONTENT_CAP kept for its central directory (zip entry times) */
const ZIP_TAIL_BYTES = 1024 * 1024

/** Heads and zip tails of entries, for the content detectors of src/hazards (entries are the keys). */
interface Edges {
  head: Buffer
  tail?: Buffer
}

function isText(b: Buffer): boolean {
  return !b.includes(0) && Buffer.from(b.toString('utf8'), 'utf8').equals(b)
}

function annotationPath(where: string, key: string): string {
  return `${where}.annotations[${JSON.stringify(key)}]`
}

/** The SOURCE_DATE_EPOCH a side was built with: rewritten-timestamp annotation, else config created, else history. */
export function inferSde(img: ImageInfo): {sde?: number; source?: string} {
  for (const l of img.layers) {
    const v = l.annotations['buildkit/rewritten-timestamp']
    if (v !== undefined && /^\d+$/.test(v))
      return {sde: Number(v), source: 'the buildkit/rewritten-timestamp annotation'}
  }
  const created = epochOf(img.config.created)
  if (created !== undefined) return {sde: created, source: 'the config created time'}
  const history = img.config.json.history
  if (Array.isArray(history)) {
    const times = history
      .map((h) => epochOf((h as {created?: string})?.created))
      .filter((t): t is number => t !== undefined)
    if (times.length > 0) return {sde: times.reduce((m, t) => Math.max(m, t)), source: 'the history created times'}
  }
  return {}
}

interface ContentNeed {
  event: DiffEvent
  side: Side
  entry: TarEntry
  /** both sides' small contents, filled by the second pass, for a unified diff */
  texts?: {a?: Buffer; b?: Buffer}
  ctx?: CauseContext
}

class Comparison {
  readonly events: DiffEvent[] = []
  readonly warnings: string[] = []
  readonly stats = {filesCompared: 0, ignored: 0, layersCompared: 0, layersSkipped: 0}
  private readonly ignored: (e: DiffEvent) => boolean
  private readonly needs: ContentNeed[] = []
  private pendingBytes = 0

  constructor(
    readonly a: ImageArchive,
    readonly b: ImageArchive,
    readonly options: CompareOptions,
  ) {
    this.ignored = makeIgnorePredicate(options.ignore)
  }

  /** Explain and keep an event unless an ignore rule drops it. Returns the event when kept. */
  emit(raw: RawEvent, ctx: CauseContext = {}): DiffEvent | undefined {
    const e = explain(raw, ctx)
    if (this.ignored(e)) {
      this.stats.ignored++
      return undefined
    }
    this.events.push(e)
    return e
  }

  annotations(
    kind: DiffEvent['kind'],
    platform: string,
    where: string,
    a: Record<string, string>,
    b: Record<string, string>,
  ): void {
    let listed = 0
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (a[k] === b[k]) continue
      if (++listed > LIMITS.maxListedDifferences) {
        this.unlisted(`${platform ? `${platform} ` : ''}${where}.annotations`)
        return
      }
      this.emit({
        kind,
        platform,
        path: annotationPath(where, k),
        field: 'annotation',
        a: a[k] ?? null,
        b: b[k] ?? null,
      })
    }
  }

  /** One event instead of the differences past LIMITS.maxListedDifferences in one document. */
  private unlisted(where: string): void {
    this.warnings.push(
      `${where}: more than ${LIMITS.maxListedDifferences} differences; the rest are not listed (limit maxListedDifferences)`,
    )
  }

  index(): void {
    const {a, b} = this
    if (a.format !== b.format) {
      this.emit({
        kind: 'archive',
        platform: '',
        path: 'archive',
        field: 'format',
        a: a.format,
        b: b.format,
        cause: 'archive-format',
      })
    }
    if (a.index && b.index) {
      this.indexInfo('index', 'index.json', a.index, b.index)
      // descriptor annotations in index.json are not part of any digest (io.containerd.image.name, created)
      const ma = a.index.manifests
      const mb = b.index.manifests
      if (ma.length === 1 && mb.length === 1) {
        this.annotations('index', '', 'index.json/manifests[0]', ma[0].annotations, mb[0].annotations)
      } else {
        const byLabel = (list: typeof ma) => new Map(list.map((d) => [descriptorLabel(d), d]))
        const la = byLabel(ma)
        const lb = byLabel(mb)
        for (const label of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
          const x = la.get(label)
          const y = lb.get(label)
          if (x && y) this.annotations('index', '', `index.json/manifests[${label}]`, x.annotations, y.annotations)
        }
      }
    }
    const na = a.nestedIndexes[0]
    const nb = b.nestedIndexes[0]
    if (na && nb && na.digest !== nb.digest) this.indexInfo('index', 'index', na, nb)
    else if ((na === undefined) !== (nb === undefined)) {
      this.emit({
        kind: 'index',
        platform: '',
        path: 'index',
        field: 'digest',
        a: na?.digest ?? null,
        b: nb?.digest ?? null,
        cause: 'archive-format',
        hint: 'one side is a multi-platform image index, the other a single manifest',
      })
    }
    const attA = a.images.filter((i) => i.attestationFor).length
    const attB = b.images.filter((i) => i.attestationFor).length
    if (attA !== attB) {
      this.emit({
        kind: 'index',
        platform: '',
        path: 'attestations',
        field: 'count',
        a: String(attA),
        b: String(attB),
        cause: 'provenance',
      })
    }
  }

  private indexInfo(kind: DiffEvent['kind'], where: string, a: IndexInfo, b: IndexInfo): void {
    if ((a.mediaType ?? null) !== (b.mediaType ?? null)) {
      this.emit({kind, platform: '', path: where, field: 'mediaType', a: a.mediaType ?? null, b: b.mediaType ?? null})
    }
    this.annotations(kind, '', where, a.annotations, b.annotations)
  }

  /** Pair images by platform; a lone image on each side is paired whatever its platform. */
  pairs(): Array<{platform: string; a?: ImageInfo; b?: ImageInfo}> {
    let ia = platformImages(this.a)
    let ib = platformImages(this.b)
    const want = this.options.platform
    if (want) {
      ia = ia.filter((i) => i.platform === want)
      ib = ib.filter((i) => i.platform === want)
      for (const [side, list, arch] of [
        ['first', ia, this.a],
        ['second', ib, this.b],
      ] as const) {
        if (list.length === 0) {
          throw new InvalidArgumentError(
            `--platform ${shown(want)}: the ${side} image (${arch.path}) has no such platform (it has ${platformImages(
              arch,
            )
              .map((i) => i.platform)
              .join(', ')})`,
          )
        }
      }
    }
    if (ia.length === 1 && ib.length === 1) {
      const p = ia[0].platform === ib[0].platform ? ia[0].platform : `${ia[0].platform},${ib[0].platform}`
      return [{platform: p, a: ia[0], b: ib[0]}]
    }
    const out: Array<{platform: string; a?: ImageInfo; b?: ImageInfo}> = []
    const platforms = [...new Set([...ia, ...ib].map((i) => i.platform))].sort()
    for (const p of platforms) {
      const la = ia.filter((i) => i.platform === p)
      const lb = ib.filter((i) => i.platform === p)
      for (let k = 0; k < Math.max(la.length, lb.length); k++) {
        out.push({platform: k === 0 ? p : `${p}#${k + 1}`, a: la[k], b: lb[k]})
      }
    }
    return out
  }

  async image(platform: string, a: ImageInfo, b: ImageInfo): Promise<void> {
    if (a.manifest && b.manifest && a.manifest.digest === b.manifest.digest) {
      this.stats.layersSkipped += a.layers.length
      this.repoTags(platform, a, b)
      return
    }
    this.repoTags(platform, a, b)
    if (a.manifest && b.manifest) {
      const ma = a.manifest
      const mb = b.manifest
      if ((ma.mediaType ?? null) !== (mb.mediaType ?? null)) {
        this.emit({
          kind: 'manifest',
          platform,
          path: 'manifest',
          field: 'mediaType',
          a: ma.mediaType ?? null,
          b: mb.mediaType ?? null,
        })
      }
      this.annotations('manifest', platform, 'manifest', ma.annotations, mb.annotations)
      // descriptor annotations held by a nested index are hashed; index.json ones were compared with the index
      const hashedA = ma.describedBy === 'index.json' ? {} : ma.descriptorAnnotations
      const hashedB = mb.describedBy === 'index.json' ? {} : mb.descriptorAnnotations
      this.annotations('manifest', platform, 'index/manifests', hashedA, hashedB)
    }
    if (a.config.mediaType !== b.config.mediaType) {
      this.emit({
        kind: 'manifest',
        platform,
        path: 'config',
        field: 'mediaType',
        a: a.config.mediaType,
        b: b.config.mediaType,
      })
    }
    if (a.config.digest !== b.config.digest) {
      const max = LIMITS.maxListedDifferences
      const diffs = diffJson(a.config.json, b.config.json, (p) => p === '.rootfs.diff_ids', '', [], max)
      for (const d of diffs.slice(0, max)) {
        this.emit({kind: 'config', platform, path: d.path, field: 'value', a: d.a, b: d.b})
      }
      if (diffs.length > max) this.unlisted(`${platform} config`)
    }
    await this.layers(platform, a, b)
  }

  private repoTags(platform: string, a: ImageInfo, b: ImageInfo): void {
    const ta = [...a.repoTags].sort().join(', ')
    const tb = [...b.repoTags].sort().join(', ')
    if (ta !== tb && (a.repoTags.length > 0 || b.repoTags.length > 0)) {
      this.emit({kind: 'index', platform, path: 'manifest.json', field: 'repoTags', a: ta || null, b: tb || null})
    }
  }

  private ctx(a: ImageInfo, b: ImageInfo): CauseContext {
    const sa = inferSde(a)
    const sb = inferSde(b)
    return {sdeA: sa.sde, sdeB: sb.sde, sdeSourceA: sa.source, sdeSourceB: sb.source}
  }

  private async layers(platform: string, a: ImageInfo, b: ImageInfo): Promise<void> {
    const ctx = this.ctx(a, b)
    if (a.layers.length !== b.layers.length) {
      this.emit({
        kind: 'layer',
        platform,
        path: 'layers',
        field: 'count',
        a: String(a.layers.length),
        b: String(b.layers.length),
        cause: 'layer-count',
      })
      await this.flattened(platform, a, b, ctx)
      return
    }
    const jobs: Array<{n: number; la: LayerInfo; lb: LayerInfo}> = []
    for (let i = 0; i < a.layers.length; i++) {
      const la = a.layers[i]
      const lb = b.layers[i]
      const n = i + 1
      const where = `layers[${n}]`
      this.annotations('layer', platform, where, la.annotations, lb.annotations)
      if (la.diffId && lb.diffId && la.diffId === lb.diffId) {
        this.stats.layersSkipped++
        if (la.mediaType !== lb.mediaType) {
          this.emit({
            kind: 'layer',
            platform,
            layer: n,
            path: where,
            field: 'mediaType',
            a: la.mediaType,
            b: lb.mediaType,
            cause: 'compression',
          })
        }
        if (la.digest !== lb.digest) {
          this.emit({
            kind: 'layer',
            platform,
            layer: n,
            path: where,
            field: 'digest',
            a: `${la.digest ?? 'unknown'} (${la.compression}, ${la.size} bytes)`,
            b: `${lb.digest ?? 'unknown'} (${lb.compression}, ${lb.size} bytes)`,
            cause: 'compression',
          })
        }
        continue
      }
      jobs.push({n, la, lb})
    }
    if (jobs.length > 0) await this.pairwise(platform, jobs, ctx)
  }

  private readonly edges = new WeakMap<TarEntry, Edges>()

  /** A sink that keeps an entry's first bytes (and a zip's last bytes) for the content detectors. */
  private edgeTap = (e: TarEntry): {write(chunk: Buffer): void; end(): void} | undefined => {
    if (e.type !== 'file' || e.size === 0) return undefined
    const head: Buffer[] = []
    let headLen = 0
    const tailMax =
      e.size > CONTENT_CAP &&
      looksLikeZip(e.key, Buffer.alloc(0)) &&
      this.pendingBytes + ZIP_TAIL_BYTES <= PENDING_BUDGET
        ? ZIP_TAIL_BYTES
        : 0
    if (tailMax > 0) this.pendingBytes += tailMax
    const tail: Buffer[] = []
    let tailLen = 0
    return {
      write: (chunk) => {
        if (headLen < HEAD_BYTES) {
          const part = Buffer.from(chunk.subarray(0, HEAD_BYTES - headLen))
          head.push(part)
          headLen += part.length
        }
        if (tailMax > 0) {
          tail.push(Buffer.from(chunk))
          tailLen += chunk.length
          while (tail.length > 1 && tailLen - tail[0].length >= tailMax) tailLen -= tail.shift()!.length
        }
      },
      end: () => {
        const t = tailMax > 0 ? Buffer.concat(tail) : undefined
        this.edges.set(e, {
          head: Buffer.concat(head),
          tail: t && t.length > tailMax ? t.subarray(t.length - tailMax) : t,
        })
        // a tail stays charged to the pending budget until the entry is released (matched or reported)
      },
    }
  }

  private keepContent = (e: TarEntry): boolean => {
    if (this.pendingBytes + e.size > PENDING_BUDGET) return false
    this.pendingBytes += e.size
    return true
  }

  private release(e: TarEntry | undefined): void {
    if (e?.content) {
      this.pendingBytes -= e.size
      e.content = undefined
    }
    const edges = e && this.edges.get(e)
    if (edges?.tail) {
      this.pendingBytes -= ZIP_TAIL_BYTES
      edges.tail = undefined
    }
  }

  /** Layers compared one to one, both sides streaming at once; entries paired by (layer, path, k-th occurrence). */
  private async pairwise(
    platform: string,
    jobs: Array<{n: number; la: LayerInfo; lb: LayerInfo}>,
    ctx: CauseContext,
  ): Promise<void> {
    this.stats.layersCompared += jobs.length
    const pending = jobs.map(() => new Map<string, {a?: TarEntry; b?: TarEntry}>())
    const order = jobs.map(() => [] as Array<{a: number; b: number; path: string}>)
    const onEntry = (side: Side, j: number) => (e: TarEntry) => {
      const k = `${e.key}\0${e.occurrence}`
      const map = pending[j]
      const slot = map.get(k)
      const other = side === 'a' ? slot?.b : slot?.a
      if (!slot || !other) {
        if (slot) slot[side] = e
        else map.set(k, {[side]: e})
        return
      }
      map.delete(k)
      const [ea, eb] = side === 'a' ? [e, other] : [other, e]
      this.stats.filesCompared++
      order[j].push({a: ea.position, b: eb.position, path: ea.key || '.'})
      this.matched(platform, jobs[j].n, ea, eb, ctx, false)
      this.release(ea)
      this.release(eb)
    }
    const sideJobs = (side: Side): LayerJob[] =>
      jobs.map((job, j) => ({
        layer: side === 'a' ? job.la : job.lb,
        options: {layer: job.n - 1, keepContent: this.keepContent, tap: this.edgeTap, onEntry: onEntry(side, j)},
      }))
    const c = this.options.concurrency ?? 2
    await Promise.all([
      scanLayers(this.a.source, this.a.path, sideJobs('a'), c),
      scanLayers(this.b.source, this.b.path, sideJobs('b'), c),
    ])
    for (const [j, job] of jobs.entries()) {
      const rest = [...pending[j].values()].sort((x, y) => ((x.a ?? x.b)!.key < (y.a ?? y.b)!.key ? -1 : 1))
      for (const slot of rest) this.presence(platform, job.n, slot.a, slot.b)
      const moved = movedEntries(order[j])
      for (const o of order[j]) {
        if (!moved.has(o.a)) continue
        this.emit(
          {kind: 'file', platform, layer: job.n, path: o.path, field: 'position', a: String(o.a), b: String(o.b)},
          ctx,
        )
      }
      if (moved.size === 0 && !this.layerHadFileEvents(platform, job.n)) {
        this.emit({
          kind: 'layer',
          platform,
          layer: job.n,
          path: `layers[${job.n}]`,
          field: 'diffId',
          a: job.la.diffId ?? null,
          b: job.lb.diffId ?? null,
          cause: 'tar-format',
          hint: 'every entry is equal but the tar bytes differ (header encoding, padding or end-of-archive blocks): the tar writers differ',
        })
      }
    }
  }

  private fileEventsPerLayer = new Map<string, number>()
  private layerHadFileEvents(platform: string, layer: number): boolean {
    return (this.fileEventsPerLayer.get(`${platform}\0${layer}`) ?? 0) > 0
  }

  private noteFileEvent(platform: string, layer: number | undefined): void {
    if (layer === undefined) return
    const k = `${platform}\0${layer}`
    this.fileEventsPerLayer.set(k, (this.fileEventsPerLayer.get(k) ?? 0) + 1)
  }

  /** Compare a matched pair of entries, emit their differences, and note content to fetch for diffs/reports. */
  private matched(
    platform: string,
    layer: number | undefined,
    ea: TarEntry,
    eb: TarEntry,
    ctx: CauseContext,
    flat: boolean,
  ): void {
    const diffs = compareEntries(ea, eb)
    for (const d of diffs) {
      this.noteFileEvent(platform, layer)
      const explained = d.field === 'content' ? this.contentCause(ea, eb, ctx) : undefined
      const e = this.emit(
        {
          kind: 'file',
          platform,
          layer: flat ? undefined : layer,
          path: ea.key || '.',
          field: d.field,
          a: d.a,
          b: d.b,
          ...(explained ? {cause: explained.cause, detail: explained.detail} : {}),
        },
        ctx,
      )
      if (!e || d.field !== 'content') continue
      const text = ea.size <= CONTENT_CAP && eb.size <= CONTENT_CAP
      if (ea.content && eb.content && isText(ea.content) && isText(eb.content)) {
        e.diff = unified(e.path, ea.content, eb.content)
      }
      const report = this.options.reportDir
      if (report) {
        if (ea.content) report.writeFile('a', e.path, ea.content)
        if (eb.content) report.writeFile('b', e.path, eb.content)
      }
      const wantText = text && e.diff === undefined && (!ea.content || !eb.content)
      const texts = wantText ? {a: ea.content, b: eb.content} : undefined
      if ((wantText && !ea.content) || (report && !ea.content))
        this.needs.push({event: e, side: 'a', entry: ea, texts, ctx})
      if ((wantText && !eb.content) || (report && !eb.content))
        this.needs.push({event: e, side: 'b', entry: eb, texts, ctx})
    }
  }

  /** A detector of src/hazards that explains a content difference, from what is held of both entries. */
  private contentCause(
    ea: TarEntry,
    eb: TarEntry,
    ctx: CauseContext,
  ): {cause: DiffEvent['cause']; detail: string} | undefined {
    const view = (e: TarEntry) => {
      const edges = this.edges.get(e)
      return {
        path: e.key,
        size: e.size,
        head: e.content ?? edges?.head ?? Buffer.alloc(0),
        content: e.content,
        tail: edges?.tail,
      }
    }
    return contentCause(ea.key, {a: view(ea), b: view(eb)}, ctx)
  }

  private presence(
    platform: string,
    layer: number | undefined,
    ea: TarEntry | undefined,
    eb: TarEntry | undefined,
  ): void {
    const e0 = (ea ?? eb)!
    this.noteFileEvent(platform, layer)
    const show = (e: TarEntry | undefined): string | null =>
      e
        ? `${e.type}${e.type === 'file' ? ` ${e.sha256} (${e.size} bytes)` : e.linkname ? ` -> ${e.linkname}` : ''}`
        : null
    const e = this.emit({
      kind: 'file',
      platform,
      layer,
      path: e0.key || '.',
      field: 'presence',
      a: show(ea),
      b: show(eb),
    })
    const report = this.options.reportDir
    if (e && report && e0.type === 'file') {
      const side: Side = ea ? 'a' : 'b'
      if (e0.content) report.writeFile(side, e.path, e0.content)
      else this.needs.push({event: e, side, entry: e0})
    }
    this.release(ea)
    this.release(eb)
  }

  /** Compare flattened file systems (layer counts differ). Positions are meaningless across layers. */
  private async flattened(platform: string, a: ImageInfo, b: ImageInfo, ctx: CauseContext): Promise<void> {
    const collect = async (side: Side, img: ImageInfo): Promise<Map<string, TarEntry>> => {
      const perLayer: TarEntry[][] = img.layers.map(() => [])
      const arch = side === 'a' ? this.a : this.b
      await scanLayers(
        arch.source,
        arch.path,
        img.layers.map((layer, i) => ({
          layer,
          options: {layer: i, tap: this.edgeTap, onEntry: (e: TarEntry) => void perLayer[i].push(e)},
        })),
        this.options.concurrency ?? 2,
      )
      return flatten(perLayer)
    }
    const [fa, fb] = await Promise.all([collect('a', a), collect('b', b)])
    this.stats.layersCompared += a.layers.length + b.layers.length
    const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort()
    for (const k of keys) {
      const ea = fa.get(k)
      const eb = fb.get(k)
      if (ea && eb) {
        this.stats.filesCompared++
        this.matched(platform, undefined, ea, eb, ctx, true)
        this.release(ea)
        this.release(eb)
      } else {
        this.presence(platform, undefined, ea, eb)
      }
    }
  }

  /** Second pass over the layers that hold content we still need (unified diffs, report files). */
  async fetchContent(images: Map<string, {a: ImageInfo; b: ImageInfo}>): Promise<void> {
    if (this.needs.length === 0) return
    const byImageSide = new Map<string, ContentNeed[]>()
    for (const n of this.needs) {
      const k = `${n.event.platform}\0${n.side}`
      const list = byImageSide.get(k)
      if (list) list.push(n)
      else byImageSide.set(k, [n])
    }
    const report = this.options.reportDir
    for (const [k, needs] of byImageSide) {
      const [platform, side] = k.split('\0') as [string, Side]
      const img = images.get(platform)?.[side]
      if (!img) continue
      const arch = side === 'a' ? this.a : this.b
      const wanted = new Map<string, ContentNeed>()
      for (const n of needs) wanted.set(`${n.entry.layer}\0${n.entry.key}\0${n.entry.occurrence}`, n)
      const layers = [...new Set(needs.map((n) => n.entry.layer))]
      await scanLayers(
        arch.source,
        arch.path,
        layers.map((i) => ({
          layer: img.layers[i],
          options: {
            layer: i,
            hash: false,
            keepContent: (e) => wanted.get(`${i}\0${e.key}\0${e.occurrence}`)?.texts !== undefined,
            tap: (e) => {
              const n = wanted.get(`${i}\0${e.key}\0${e.occurrence}`)
              return n && report && e.type === 'file' ? report.sink(side, n.event.path) : undefined
            },
            onEntry: (e) => {
              const n = wanted.get(`${i}\0${e.key}\0${e.occurrence}`)
              if (n?.texts && e.content) n.texts[side] = e.content
            },
          },
        })),
        this.options.concurrency ?? 2,
      )
    }
    for (const n of this.needs) {
      const t = n.texts
      if (t?.a && t.b && n.event.diff === undefined && isText(t.a) && isText(t.b)) {
        n.event.diff = unified(n.event.path, t.a, t.b)
      }
      if (t?.a && t.b && n.event.cause === 'file-content' && n.event.detail === undefined) {
        // the contents came in the second pass: the detectors get their turn now
        const view = (c: Buffer) => ({path: n.event.path, size: c.length, head: c, content: c})
        const found = contentCause(n.event.path, {a: view(t.a), b: view(t.b)}, n.ctx ?? {})
        if (found) {
          n.event.cause = found.cause
          n.event.hint = CAUSES[found.cause].hint
          n.event.detail = found.detail
        }
      }
    }
    this.needs.length = 0
  }
}

function descriptorLabel(d: IndexInfo['manifests'][number]): string {
  if (d.platform?.os && d.platform.architecture)
    return [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/')
  return d.digest
}

function unified(path: string, a: Buffer, b: Buffer): string {
  return createTwoFilesPatch(`a/${path}`, `b/${path}`, a.toString('utf8'), b.toString('utf8'), undefined, undefined, {
    context: 3,
  })
}

/** Compare two archives; the caller owns (and closes) them. */
export async function compareArchives(
  a: ImageArchive,
  b: ImageArchive,
  options: CompareOptions,
): Promise<CompareOutcome> {
  const c = new Comparison(a, b, options)
  c.index()
  const images = new Map<string, {a: ImageInfo; b: ImageInfo}>()
  for (const p of c.pairs()) {
    if (!p.a || !p.b) {
      c.emit({
        kind: 'platform',
        platform: p.platform,
        path: p.platform,
        field: 'presence',
        a: p.a ? 'present' : null,
        b: p.b ? 'present' : null,
      })
      continue
    }
    images.set(p.platform, {a: p.a, b: p.b})
    options.logger?.verbose(`comparing ${p.platform}`)
    await c.image(p.platform, p.a, p.b)
  }
  await c.fetchContent(images)
  for (const w of [...a.warnings.map((w) => `A: ${w}`), ...b.warnings.map((w) => `B: ${w}`)]) c.warnings.push(w)
  if (options.reportDir) c.warnings.push(...options.reportDir.warnings)
  return {events: c.events, stats: c.stats, warnings: c.warnings}
}
