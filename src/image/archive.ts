/**
 * Read any supported image archive or layout into one model: format, index.json, nested indexes,
 * per-platform images (manifest, config, layers). Small JSON blobs are always checked against their
 * digests (we print digests computed from those bytes); layer blobs are only checked by verify.ts.
 */
import {InvalidArchiveError} from '../errors.js'
import {blobPath, digestOf, parseDigest, requireDigest, sha256Digest} from './digest.js'
import {ArchiveLimitError, jsonDepthExceeds, LIMITS, WorkBudget} from './limits.js'
import {
  type Compression,
  compressionOfMediaType,
  isIndexMediaType,
  isManifestMediaType,
  MT,
  sniffCompression,
} from './media-types.js'
import {type ImageSource, normalizeEntryName, openSource, type SourceKind} from './source.js'

export type ArchiveFormat = 'docker-archive' | 'docker-exporter' | 'docker-save-oci' | 'oci-archive' | 'oci-layout-dir'

export const FORMAT_LABELS: Record<ArchiveFormat, string> = {
  'docker-archive': 'Docker archive without index.json (legacy docker save <= 24, podman save --format docker-archive)',
  'docker-exporter': 'OCI layout + manifest.json (BuildKit docker exporter)',
  'docker-save-oci': 'OCI layout + manifest.json + repositories (docker save, Docker >= 25)',
  'oci-archive': 'OCI image layout archive (BuildKit oci exporter, podman save --format oci-archive)',
  'oci-layout-dir': 'OCI image layout directory',
}

/** JSON documents larger than this are refused (a manifest or config is a few KB). */
export const MAX_JSON_BYTES = LIMITS.maxJsonBytes

export type Json = Record<string, unknown>

export interface Platform {
  architecture?: string
  os?: string
  variant?: string
  'os.version'?: string
}

export interface DescriptorInfo {
  annotations: Record<string, string>
  artifactType?: string
  digest: string
  mediaType?: string
  platform?: Platform
  size: number
}

export interface IndexInfo {
  annotations: Record<string, string>
  bytes: Buffer
  /** sha256 of the index bytes (for index.json itself: a fact about the file, not an image digest) */
  digest: string
  json: Json
  manifests: DescriptorInfo[]
  mediaType?: string
  /** index.json without mediaType (podman) */
  mediaTypeMissing: boolean
  path: string
  size: number
}

export interface ConfigInfo {
  bytes: Buffer
  created?: string
  diffIds: string[]
  /** why rootfs.diff_ids cannot be checked against the layers (wrong JSON type, wrong count): --verify fails */
  diffIdsProblem?: string
  digest: string
  historyCount: number
  json: Json
  labels: Record<string, string>
  mediaType: string
  path: string
  platform: string
  size: number
}

export interface LayerInfo {
  annotations: Record<string, string>
  compression: Compression
  diffId?: string
  /** unknown for legacy archives until verified (layer.tar files are named by layer ID, not digest) */
  digest?: string
  mediaType: string
  path: string
  size: number
}

export interface ManifestInfo {
  annotations: Record<string, string>
  bytes: Buffer
  /** annotations on the descriptor that points to this manifest (index.json ones are not hashed) */
  descriptorAnnotations: Record<string, string>
  /** which index holds the descriptor: 'index.json' or a blob path */
  describedBy: string
  digest: string
  json: Json
  mediaType?: string
  path: string
  size: number
}

export interface ImageInfo {
  /** for attestation manifests: the manifest digest they attest */
  attestationFor?: string
  config: ConfigInfo
  layers: LayerInfo[]
  /** undefined for archives that hold no registry manifest (legacy docker save / docker-archive) */
  manifest?: ManifestInfo
  platform: string
  /** RepoTags of manifest.json (docker archives) */
  repoTags: string[]
  /**
   * every name of the image: manifest.json RepoTags and the names index.json gives the descriptors of this
   * manifest (`repro build -t a -t b`: BuildKit writes one descriptor per name for one manifest)
   */
  tags: string[]
}

export interface DockerManifestEntry {
  Config: string
  Layers: string[]
  RepoTags: string[]
}

export interface ImageArchive {
  dockerManifest?: DockerManifestEntry[]
  format: ArchiveFormat
  formatLabel: string
  images: ImageInfo[]
  index?: IndexInfo
  /** index blobs reached from index.json (multi-platform images) */
  nestedIndexes: IndexInfo[]
  ociLayoutVersion?: string
  path: string
  source: ImageSource
  sourceKind: SourceKind
  warnings: string[]
}

export function platformString(p: Platform | undefined): string {
  if (!p || !p.os || !p.architecture) return 'unknown'
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The string values of an object: the object itself when all are strings (no copy of a 100,000-key map). */
function stringMap(v: unknown): Record<string, string> {
  if (!isObject(v)) return {}
  let all = true
  for (const k in v) if (typeof v[k] !== 'string') all = false
  if (all) return v as Record<string, string>
  const out: Record<string, string> = {}
  for (const k in v) if (typeof v[k] === 'string') out[k] = v[k] as string
  return out
}

function parseJsonValue(file: string, what: string, bytes: Buffer): unknown {
  if (jsonDepthExceeds(bytes, LIMITS.maxJsonDepth))
    throw new ArchiveLimitError(file, 'maxJsonDepth', `${what} nests objects or arrays too deep`)
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    throw new InvalidArchiveError(file, `${what} is not valid JSON (${(error as Error).message.slice(0, 200)})`)
  }
}

function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

/** Image names from an index descriptor's annotations (BuildKit and containerd write one descriptor per name). */
export function descriptorNames(annotations: Record<string, string>): string[] {
  const full = annotations['io.containerd.image.name']
  if (full) return [full]
  const ref = annotations['org.opencontainers.image.ref.name']
  return ref ? [ref] : []
}

const IMAGE_CONFIG_TYPES = new Set<string>([MT.ociConfig, MT.dockerConfig])

function parseJson(file: string, what: string, bytes: Buffer): Json {
  const value = parseJsonValue(file, what, bytes)
  if (!isObject(value)) throw new InvalidArchiveError(file, `${what} is not a JSON object`)
  return value
}

class Reader {
  readonly warnings: string[] = []
  readonly budget: WorkBudget
  /** what each digest visited so far became (each digest is read and walked once) */
  private readonly seen = new Map<string, ImageInfo | IndexInfo | 'skipped'>()

  constructor(
    readonly file: string,
    readonly source: ImageSource,
  ) {
    this.budget = new WorkBudget(file)
  }

  /** A document's own mediaType: absent, or a string (OCI: "MUST" be the media type when present). */
  mediaTypeField(json: Json, where: string): string | undefined {
    if (json.mediaType === undefined) return undefined
    if (typeof json.mediaType !== 'string')
      throw new InvalidArchiveError(
        this.file,
        `${where} has a mediaType that is ${jsonType(json.mediaType)}, not a string`,
      )
    return json.mediaType
  }

  /** Validate a descriptor found in `where`. */
  descriptor(value: unknown, where: string): DescriptorInfo {
    if (!isObject(value)) throw new InvalidArchiveError(this.file, `${where} is not a descriptor object`)
    const {digest, size, mediaType} = value
    requireDigest(this.file, digest, where)
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new InvalidArchiveError(this.file, `${where} has an absurd size ${JSON.stringify(size)?.slice(0, 100)}`)
    }
    if (this.source.fileSize > 0 && size > this.source.fileSize && this.source.kind === 'tar') {
      throw new InvalidArchiveError(
        this.file,
        `${where} claims ${size} bytes, more than the whole archive (${this.source.fileSize})`,
      )
    }
    if (mediaType !== undefined && typeof mediaType !== 'string') {
      throw new InvalidArchiveError(this.file, `${where} has a non-string mediaType`)
    }
    return {
      annotations: stringMap(value.annotations),
      artifactType: typeof value.artifactType === 'string' ? value.artifactType : undefined,
      digest: digest as string,
      mediaType,
      platform: isObject(value.platform) ? (value.platform as Platform) : undefined,
      size,
    }
  }

  /** Read a JSON blob named by a descriptor, checking size and digest (with the digest's own algorithm). */
  async blob(d: DescriptorInfo, what: string): Promise<{bytes: Buffer; path: string}> {
    const parsed = requireDigest(this.file, d.digest, what)
    const p = blobPath(parsed)
    if (!(await this.source.has(p))) throw new InvalidArchiveError(this.file, `missing blob ${p} (${what})`)
    if (d.size > MAX_JSON_BYTES)
      throw new ArchiveLimitError(
        this.file,
        'maxJsonBytes',
        `${what} claims ${d.size} bytes: absurd for a JSON document`,
      )
    this.budget.documentRead(what)
    const bytes = await this.source.readFile(p, MAX_JSON_BYTES)
    if (bytes.length !== d.size) {
      throw new InvalidArchiveError(this.file, `${p} (${what}) is ${bytes.length} bytes, its descriptor says ${d.size}`)
    }
    const actual = digestOf(bytes, parsed.algorithm)
    if (actual !== d.digest)
      throw new InvalidArchiveError(this.file, `${p} (${what}) does not match its digest: got ${actual}`)
    return {bytes, path: p}
  }

  index(path: string, bytes: Buffer, digest: string): IndexInfo {
    const json = parseJson(this.file, path, bytes)
    if (!Array.isArray(json.manifests)) throw new InvalidArchiveError(this.file, `${path} has no "manifests" array`)
    this.budget.descriptorsRead(json.manifests.length, path)
    const manifests = json.manifests.map((m, i) => this.descriptor(m, `${path} manifests[${i}]`))
    const mediaType = this.mediaTypeField(json, path)
    return {
      annotations: stringMap(json.annotations),
      bytes,
      digest,
      json,
      manifests,
      mediaType,
      mediaTypeMissing: mediaType === undefined,
      path,
      size: bytes.length,
    }
  }

  async config(d: DescriptorInfo, where: string): Promise<ConfigInfo> {
    const {bytes, path} = await this.blob(d, `config of ${where}`)
    return this.configFromBytes(bytes, path, d.mediaType ?? MT.ociConfig, d.digest)
  }

  configFromBytes(bytes: Buffer, path: string, mediaType: string, digest = sha256Digest(bytes)): ConfigInfo {
    const json = parseJson(this.file, `config ${path}`, bytes)
    const imageConfig = IMAGE_CONFIG_TYPES.has(mediaType)
    const diffIds: string[] = []
    let diffIdsProblem: string | undefined
    const rootfs = json.rootfs
    if (!isObject(rootfs)) {
      if (imageConfig) diffIdsProblem = `config ${path}: rootfs is ${jsonType(rootfs)}, not an object with diff_ids`
    } else if (!Array.isArray(rootfs.diff_ids)) {
      if (imageConfig) diffIdsProblem = `config ${path}: rootfs.diff_ids is ${jsonType(rootfs.diff_ids)}, not an array`
    } else {
      this.budget.descriptorsRead(rootfs.diff_ids.length, `config ${path} rootfs.diff_ids`)
      for (const [i, id] of rootfs.diff_ids.entries()) {
        if (typeof id !== 'string') {
          diffIdsProblem ??= `config ${path}: rootfs.diff_ids[${i}] is ${jsonType(id)}, not a digest string`
          continue
        }
        requireDigest(this.file, id, `config ${path} rootfs.diff_ids[${i}]`)
        diffIds.push(id)
      }
    }
    const cfg = isObject(json.config) ? json.config : {}
    return {
      bytes,
      created: typeof json.created === 'string' ? json.created : undefined,
      diffIds,
      diffIdsProblem,
      digest,
      historyCount: Array.isArray(json.history) ? json.history.length : 0,
      json,
      labels: stringMap(cfg.Labels),
      mediaType,
      path,
      platform: platformString({
        architecture: json.architecture as string,
        os: json.os as string,
        variant: json.variant as string,
      }),
      size: bytes.length,
    }
  }

  /** After the layers are known: a config whose diff IDs do not pair with them cannot be verified. */
  checkDiffIdCount(config: ConfigInfo, layerCount: number, where: string): void {
    if (config.diffIdsProblem || !IMAGE_CONFIG_TYPES.has(config.mediaType)) return
    if (config.diffIds.length !== layerCount)
      config.diffIdsProblem = `${where}: ${layerCount} layers but the config lists ${config.diffIds.length} diff IDs`
  }

  /** the compression sniffed from each blob's first bytes, read once per blob however often it is listed */
  private readonly sniffed = new Map<string, Compression | undefined>()
  private readonly warned = new Set<string>()

  async sniff(path: string): Promise<Compression | undefined> {
    if (this.sniffed.has(path)) return this.sniffed.get(path)
    const head = await this.source.readHead(path, 4)
    const c = head ? sniffCompression(head) : undefined
    this.sniffed.set(path, c)
    return c
  }

  async layerCompression(path: string, mediaType: string): Promise<Compression> {
    const byType = compressionOfMediaType(mediaType)
    const sniffed = await this.sniff(path)
    if (!sniffed) return byType
    const warning = `${path}: media type ${mediaType} says ${byType}, the bytes are ${sniffed}`
    if (byType !== 'unknown' && byType !== sniffed && !this.warned.has(warning)) {
      this.warned.add(warning)
      this.warnings.push(warning)
    }
    return sniffed
  }

  async manifestImage(d: DescriptorInfo, describedBy: string, bytes: Buffer, path: string): Promise<ImageInfo> {
    const json = parseJson(this.file, `manifest ${path}`, bytes)
    const mediaType = this.mediaTypeField(json, `manifest ${path}`) ?? d.mediaType
    const configDesc = this.descriptor(json.config, `manifest ${path} config`)
    const config = await this.config(configDesc, path)
    if (!Array.isArray(json.layers)) throw new InvalidArchiveError(this.file, `manifest ${path} has no "layers" array`)
    this.budget.descriptorsRead(json.layers.length, `manifest ${path}`)
    const layers: LayerInfo[] = []
    for (const [i, raw] of json.layers.entries()) {
      const ld = this.descriptor(raw, `manifest ${path} layers[${i}]`)
      const lp = blobPath(parseDigest(ld.digest)!)
      const actualSize = await this.source.size(lp)
      if (actualSize === undefined)
        throw new InvalidArchiveError(this.file, `missing blob ${lp} (layer ${i + 1} of manifest ${d.digest})`)
      if (actualSize !== ld.size) {
        throw new InvalidArchiveError(
          this.file,
          `${lp} (layer ${i + 1}) is ${actualSize} bytes, its descriptor says ${ld.size}`,
        )
      }
      const lmt = ld.mediaType ?? MT.ociLayer
      layers.push({
        annotations: ld.annotations,
        compression: await this.layerCompression(lp, lmt),
        diffId: config.diffIds[i],
        digest: ld.digest,
        mediaType: lmt,
        path: lp,
        size: ld.size,
      })
    }
    this.checkDiffIdCount(config, layers.length, `manifest ${d.digest}`)
    if (config.diffIdsProblem) this.warnings.push(config.diffIdsProblem)
    const refType = d.annotations['vnd.docker.reference.type']
    return {
      attestationFor: refType === 'attestation-manifest' ? d.annotations['vnd.docker.reference.digest'] : undefined,
      config,
      layers,
      manifest: {
        annotations: stringMap(json.annotations),
        bytes,
        descriptorAnnotations: d.annotations,
        describedBy,
        digest: d.digest,
        json,
        mediaType,
        path,
        size: bytes.length,
      },
      platform: d.platform ? platformString(d.platform) : config.platform,
      repoTags: [],
      tags: [],
    }
  }

  /**
   * Walk an index: descriptors with the same digest are merged (one image, the names of all of them),
   * each digest is read once however many indexes list it, nested indexes are followed up to
   * LIMITS.maxIndexDepth.
   */
  async walk(index: IndexInfo, depth: number, images: ImageInfo[], nested: IndexInfo[]): Promise<void> {
    if (depth > LIMITS.maxIndexDepth)
      throw new ArchiveLimitError(this.file, 'maxIndexDepth', `${index.path}: indexes nested too deep`)
    const groups = new Map<string, {descriptors: DescriptorInfo[]; first: number}>()
    for (const [i, d] of index.manifests.entries()) {
      const g = groups.get(d.digest)
      if (!g) groups.set(d.digest, {descriptors: [d], first: i})
      else {
        if (g.descriptors[0].size !== d.size)
          throw new InvalidArchiveError(
            this.file,
            `${index.path} lists ${d.digest} with two sizes (${g.descriptors[0].size} and ${d.size})`,
          )
        g.descriptors.push(d)
      }
    }
    for (const [digest, {descriptors, first}] of groups) {
      const d = descriptors[0]
      const names = [...new Set(descriptors.flatMap((x) => descriptorNames(x.annotations)))]
      const where = `${index.path} manifests[${first}]`
      const done = this.seen.get(digest)
      if (done !== undefined) {
        if (done !== 'skipped' && 'config' in done) for (const n of names) if (!done.tags.includes(n)) done.tags.push(n)
        continue
      }
      const p = blobPath(parseDigest(digest)!)
      if (!(await this.source.has(p))) {
        if (index.path !== 'index.json') {
          // docker save (containerd store) keeps the multi-platform index but only the saved platform's blobs
          this.warnings.push(
            `manifest ${digest} (${platformString(d.platform)}) is listed in ${index.path} but not stored in the archive`,
          )
          this.seen.set(digest, 'skipped')
          continue
        }
        throw new InvalidArchiveError(this.file, `missing blob ${p} (${where})`)
      }
      const {bytes, path} = await this.blob(d, where)
      let mediaType = d.mediaType
      if (mediaType === undefined) {
        // podman's index.json descriptors may lack mediaType: look at the blob itself
        const peek = parseJson(this.file, p, bytes)
        mediaType =
          typeof peek.mediaType === 'string'
            ? peek.mediaType
            : Array.isArray(peek.manifests)
              ? MT.ociIndex
              : MT.ociManifest
      }
      if (isIndexMediaType(mediaType)) {
        const child = this.index(path, bytes, digest)
        this.seen.set(digest, child)
        nested.push(child)
        await this.walk(child, depth + 1, images, nested)
      } else if (isManifestMediaType(mediaType)) {
        const img = await this.manifestImage({...d, mediaType}, index.path, bytes, path)
        img.tags = names
        this.seen.set(digest, img)
        images.push(img)
      } else {
        this.seen.set(digest, 'skipped')
        this.warnings.push(`${where}: skipped descriptor of media type ${mediaType.slice(0, 200)}`)
      }
    }
  }

  dockerManifest(bytes: Buffer): DockerManifestEntry[] {
    const value = parseJsonValue(this.file, 'manifest.json', bytes)
    if (!Array.isArray(value) || value.length === 0)
      throw new InvalidArchiveError(this.file, 'manifest.json is not a non-empty array')
    this.budget.descriptorsRead(value.length, 'manifest.json')
    return value.map((e, i) => {
      if (!isObject(e) || typeof e.Config !== 'string' || !Array.isArray(e.Layers)) {
        throw new InvalidArchiveError(this.file, `manifest.json entry ${i} lacks Config or Layers`)
      }
      this.budget.descriptorsRead(e.Layers.length, `manifest.json entry ${i}`)
      const check = (p: unknown): string => {
        const n = typeof p === 'string' ? normalizeEntryName(p) : undefined
        if (n === undefined || n === '')
          throw new InvalidArchiveError(
            this.file,
            `manifest.json entry ${i} names a path outside the archive: ${JSON.stringify(p)?.slice(0, 200)}`,
          )
        return n
      }
      return {
        Config: check(e.Config),
        Layers: e.Layers.map(check),
        RepoTags: Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : [],
      }
    })
  }

  /** Images of a legacy archive: manifest.json paths, no registry manifest. */
  async legacyImages(entries: DockerManifestEntry[]): Promise<ImageInfo[]> {
    const images: ImageInfo[] = []
    for (const e of entries) {
      if (!(await this.source.has(e.Config)))
        throw new InvalidArchiveError(this.file, `missing config ${e.Config} named in manifest.json`)
      this.budget.documentRead(e.Config)
      const bytes = await this.source.readFile(e.Config, MAX_JSON_BYTES)
      const config = this.configFromBytes(bytes, e.Config, MT.dockerConfig)
      const hexFromName = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(e.Config)?.[1]
      if (hexFromName && `sha256:${hexFromName}` !== config.digest) {
        throw new InvalidArchiveError(this.file, `${e.Config} does not match its digest: got ${config.digest}`)
      }
      const layers: LayerInfo[] = []
      for (const [i, lp] of e.Layers.entries()) {
        const size = await this.source.size(lp)
        if (size === undefined) throw new InvalidArchiveError(this.file, `missing layer ${lp} named in manifest.json`)
        const compression = (await this.sniff(lp)) ?? 'none'
        const hex = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(lp)?.[1]
        layers.push({
          annotations: {},
          compression,
          diffId: config.diffIds[i],
          digest: hex ? `sha256:${hex}` : compression === 'none' ? config.diffIds[i] : undefined,
          mediaType: compression === 'gzip' ? MT.dockerLayerGzip : MT.dockerLayer,
          path: lp,
          size,
        })
      }
      this.checkDiffIdCount(config, layers.length, `manifest.json entry for ${e.Config}`)
      if (config.diffIdsProblem) this.warnings.push(config.diffIdsProblem)
      images.push({config, layers, platform: config.platform, repoTags: e.RepoTags, tags: [...new Set(e.RepoTags)]})
    }
    return images
  }
}

/** Open and read an image archive or layout. Throws one clear line (exit 2) on bad input. */
export async function readImageArchive(file: string): Promise<ImageArchive> {
  const source = await openSource(file)
  try {
    return await readFromSource(file, source)
  } catch (error) {
    await source.close()
    throw error
  }
}

/** Read an image from any source (archive, layout, or a registry/daemon source that serves the same names). */
export async function readFromSource(file: string, source: ImageSource): Promise<ImageArchive> {
  const r = new Reader(file, source)
  const [hasIndex, hasManifest, hasLayout, hasRepos] = await Promise.all(
    ['index.json', 'manifest.json', 'oci-layout', 'repositories'].map((n) => source.has(n)),
  )
  if (!hasIndex && !hasManifest) {
    const names = source.listNames()?.slice(0, 5)
    const found = names?.length
      ? ` (found ${names.join(', ')}${(source.listNames()?.length ?? 0) > 5 ? ', ...' : ''})`
      : ''
    throw new InvalidArchiveError(file, `not a container image archive: no index.json or manifest.json${found}`)
  }
  let ociLayoutVersion: string | undefined
  if (hasLayout) {
    const layout = parseJson(file, 'oci-layout', await source.readFile('oci-layout', MAX_JSON_BYTES))
    ociLayoutVersion = typeof layout.imageLayoutVersion === 'string' ? layout.imageLayoutVersion : undefined
  } else if (hasIndex) {
    // read all the same (the image is fully described by index.json), but say it
    r.warnings.push('index.json without an oci-layout file: the OCI image layout spec requires one')
  }
  const dockerManifest = hasManifest
    ? r.dockerManifest(await source.readFile('manifest.json', MAX_JSON_BYTES))
    : undefined
  let format: ArchiveFormat
  let index: IndexInfo | undefined
  const nestedIndexes: IndexInfo[] = []
  let images: ImageInfo[] = []
  if (hasIndex) {
    const bytes = await source.readFile('index.json', MAX_JSON_BYTES)
    index = r.index('index.json', bytes, sha256Digest(bytes))
    await r.walk(index, 1, images, nestedIndexes)
    if (images.length === 0)
      throw new InvalidArchiveError(file, 'index.json leads to no image manifest stored in the archive')
    format =
      source.kind === 'directory'
        ? 'oci-layout-dir'
        : hasManifest
          ? hasRepos
            ? 'docker-save-oci'
            : 'docker-exporter'
          : 'oci-archive'
    // docker load reads manifest.json, containerd reads index.json: both must describe the same images
    for (const [i, e] of (dockerManifest ?? []).entries()) {
      const img = images.find((im) => im.config.path === e.Config)
      const where = `manifest.json entry ${i}`
      if (!img)
        throw new InvalidArchiveError(
          file,
          `${where} names config ${JSON.stringify(e.Config.slice(0, 200))}, which is not the config of any manifest index.json reaches (docker load and containerd would load different images)`,
        )
      const layers = img.layers.map((l) => l.path)
      const k = layers.findIndex((p, n) => p !== e.Layers[n])
      if (layers.length !== e.Layers.length || k !== -1) {
        const differ =
          k === -1
            ? `${e.Layers.length} layers, the manifest has ${layers.length}`
            : `layer ${k + 1} ${JSON.stringify(e.Layers[k]?.slice(0, 200) ?? null)}, the manifest's is ${layers[k]}`
        throw new InvalidArchiveError(
          file,
          `${where} disagrees with manifest ${img.manifest?.digest} in index.json: ${differ} (docker load and containerd would load different images)`,
        )
      }
      img.repoTags = e.RepoTags
      img.tags = [...new Set([...e.RepoTags, ...img.tags])]
    }
  } else {
    format = 'docker-archive'
    images = await r.legacyImages(dockerManifest!)
  }
  return {
    dockerManifest,
    format,
    formatLabel: FORMAT_LABELS[format],
    images,
    index,
    nestedIndexes,
    ociLayoutVersion,
    path: file,
    source,
    sourceKind: source.kind,
    warnings: r.warnings,
  }
}

/** The images that are not attestations, in archive order. */
export function platformImages(archive: ImageArchive): ImageInfo[] {
  return archive.images.filter((i) => !i.attestationFor)
}

/** The digest a registry would report for the whole archive: a nested index's, else the single manifest's. */
export function topImageDigest(archive: ImageArchive): string | undefined {
  const top = archive.index ? [...new Set(archive.index.manifests.map((d) => d.digest))] : []
  if (top.length === 1 && archive.nestedIndexes.some((n) => n.digest === top[0])) return top[0]
  const imgs = platformImages(archive)
  return imgs.length === 1 ? imgs[0].manifest?.digest : undefined
}
