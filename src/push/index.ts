/**
 * `repro push IMAGE REF`: publish an image archive or layout with the digest it has on disk.
 *
 * Every blob, manifest and index goes up byte-for-byte as the archive holds it (no JSON is re-serialized,
 * no layer recompressed), through the one registry client: blobs the repository has are skipped (HEAD),
 * blobs another repository of the same registry has are mounted, the rest are streamed out of the archive
 * (hashed on the way: a blob that does not match its digest never leaves) and uploaded. Then the manifests
 * by digest, children before the index that lists them, and the tag LAST: a push that fails or is killed
 * midway leaves no tag pointing at a partial image (only unreferenced blobs, which the registry's garbage
 * collection removes).
 */
import {createHash} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

import {DigestMismatchError, InvalidArgumentError, InvalidArchiveError, ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import {
  type ArchiveFormat,
  type ImageArchive,
  platformImages,
  readImageArchive,
  topImageDigest,
} from '../image/archive.js'
import type {ArchiveSource} from '../image/source.js'
import {blobPath, parseDigest} from '../image/digest.js'
import {MT} from '../image/media-types.js'
import {openRepository} from '../image/registry/index.js'
import {formatReference, type ImageReference, parseReference} from '../image/registry/reference.js'
import {lifecycle} from '../lifecycle.js'
import type {Logger} from '../log.js'
import {mapLimit} from '../pool.js'

export const PUSH_SCHEMA_VERSION = 1
const BASE_NAME_ANNOTATION = 'org.opencontainers.image.base.name'

/** The archive cannot be pushed as it is (legacy format, several images without an index, missing parts). */
export class PushInputError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_PUSH_INPUT', message, {suggestions})
  }
}

export interface PushOptions {
  /** an image archive (tar, tar.gz) or OCI layout directory */
  input: string
  /** HOST/REPO:TAG, HOST/REPO@DIGEST or HOST/REPO:TAG@DIGEST (the digest must be the archive's) */
  ref: string
  /** repositories of the same registry to mount blobs from (REPO or HOST/REPO) */
  mountFrom?: string[]
  plainHttp?: boolean
  dockerConfigDir?: string
  /** runs docker-credential-* helpers */
  exec?: Exec
  fetch?: typeof fetch
  logger: Logger
  signal?: AbortSignal
  /** blobs in flight at once (default 4) */
  concurrency?: number
  /** blobs above this many bytes go up in chunks of this size (the client's default: 64 MiB) */
  chunkSize?: number
}

export interface PushedBlob {
  digest: string
  size: number
  action: 'exists' | 'mounted' | 'uploaded'
  /** the repository a mounted blob came from */
  from?: string
}

export interface PushedManifest {
  digest: string
  mediaType: string
  size: number
  platform?: string
  action: 'exists' | 'pushed'
}

export interface PushResult {
  schemaVersion: typeof PUSH_SCHEMA_VERSION
  /** HOST/REPO[:TAG]@DIGEST: what to pull, pinned */
  reference: string
  repository: string
  tag?: string
  /** the image digest: the same `repro analyze` reports for the archive */
  digest: string
  mediaType: string
  format: ArchiveFormat
  blobs: PushedBlob[]
  manifests: PushedManifest[]
  uploadedBytes: number
}

interface PlannedManifest {
  digest: string
  mediaType: string
  bytes: Buffer
  platform?: string
}

interface PlannedBlob {
  digest: string
  size: number
  /** the entry in the archive */
  path: string
}

export interface PushPlan {
  digest: string
  /** children first, the top manifest or index last */
  manifests: PlannedManifest[]
  /** sorted by digest, each once */
  blobs: PlannedBlob[]
  /** base images named in manifest annotations (mount candidates) */
  baseNames: string[]
}

/**
 * What a push sends, from the archive as read: the top image (the digest `repro analyze` reports), its
 * indexes and manifests (children first) and every config and layer blob.
 */
export function planPush(archive: ImageArchive): PushPlan {
  const file = archive.path
  if (archive.format === 'docker-archive')
    throw new PushInputError(
      `${file}: a legacy docker archive holds no registry manifest; pushing it would mean writing a new manifest with a digest nobody built`,
      [
        'push the archive `repro build` writes (docker or oci format), `docker save` of Docker >= 25, or `podman save --format oci-archive`',
      ],
    )
  const top = topImageDigest(archive)
  if (!top) {
    const n = platformImages(archive).length
    throw new PushInputError(`${file}: holds ${n} images and no index over them: there is no one digest to push`, [
      'build several platforms into one OCI archive: `repro build --platform A,B --format oci`',
    ])
  }
  const indexes = new Map(archive.nestedIndexes.map((i) => [i.digest, i]))
  const images = new Map(archive.images.filter((i) => i.manifest).map((i) => [i.manifest!.digest, i]))
  const manifests: PlannedManifest[] = []
  const blobs = new Map<string, PlannedBlob>()
  const baseNames = new Set<string>()
  const seen = new Set<string>()
  const addBlob = (digest: string | undefined, size: number, p: string): void => {
    const parsed = parseDigest(digest)
    if (!parsed) throw new InvalidArchiveError(file, `${p}: a blob without a valid digest cannot be pushed`)
    const known = blobs.get(digest!)
    if (known && known.size !== size)
      throw new InvalidArchiveError(file, `blob ${digest} is listed with two sizes (${known.size}, ${size})`)
    blobs.set(digest!, {digest: digest!, size, path: blobPath(parsed)})
  }
  const visit = (digest: string, via: string, platform?: string): void => {
    if (seen.has(digest)) return
    seen.add(digest)
    const index = indexes.get(digest)
    if (index) {
      for (const d of index.manifests) {
        const p = d.platform?.os && d.platform.architecture ? `${d.platform.os}/${d.platform.architecture}` : undefined
        const plat = p && d.platform?.variant ? `${p}/${d.platform.variant}` : p
        if (!indexes.has(d.digest) && !images.has(d.digest))
          throw new PushInputError(
            `${file}: index ${digest} lists ${d.digest}${plat ? ` (${plat})` : ''}, which the archive does not hold: the image is incomplete`,
            [
              'docker save keeps one platform of a multi-platform image; push the archive `repro build --format oci` wrote',
            ],
          )
        visit(d.digest, index.path, plat)
      }
      manifests.push({digest, mediaType: index.mediaType ?? MT.ociIndex, bytes: index.bytes})
      return
    }
    const image = images.get(digest)!
    const m = image.manifest!
    if (!m.mediaType)
      throw new InvalidArchiveError(file, `manifest ${digest} (in ${via}) says no mediaType and its descriptor neither`)
    addBlob(image.config.digest, image.config.size, image.config.path)
    for (const l of image.layers) addBlob(l.digest, l.size, l.path)
    const base = m.annotations[BASE_NAME_ANNOTATION]
    if (base) baseNames.add(base)
    manifests.push({digest, mediaType: m.mediaType, bytes: m.bytes, platform: platform ?? image.platform})
  }
  visit(top, 'index.json')
  return {
    digest: top,
    manifests,
    blobs: [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
    baseNames: [...baseNames].sort(),
  }
}

/** The repositories to try mounting from: --mount-from, and base images of the same registry. */
export function mountSources(target: ImageReference, given: string[], baseNames: string[]): string[] {
  const out: string[] = []
  for (const m of given) {
    const ref = m.includes('/') && /[.:]|^localhost\//.test(m.split('/')[0]) ? parseReference(m) : undefined
    if (ref && ref.registry !== target.registry)
      throw new InvalidArgumentError(
        `--mount-from ${m}: on ${ref.registry}, not ${target.registry}: a registry mounts only its own repositories`,
      )
    const repository = ref ? ref.repository : parseReference(`${target.registry}/${m}`, `--mount-from ${m}`).repository
    out.push(repository)
  }
  for (const b of baseNames) {
    try {
      const ref = parseReference(b)
      if (ref.registry === target.registry) out.push(ref.repository)
    } catch {
      // an annotation we cannot parse is only a hint
    }
  }
  return [...new Set(out)].filter((r) => r !== target.repository)
}

/** Stream one archive entry into `file`, hashing: a blob that is not what its digest says never goes up. */
async function extractVerified(stream: AsyncIterable<Buffer>, file: string, blob: PlannedBlob, archive: string) {
  const parsed = parseDigest(blob.digest)!
  const hash = createHash(parsed.algorithm)
  let n = 0
  await pipeline(
    stream,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        n += chunk.length
        if (n > blob.size)
          throw new InvalidArchiveError(
            archive,
            `${blob.path} is longer than the ${blob.size} bytes its descriptor says`,
          )
        hash.update(chunk)
        yield chunk
      }
    },
    createWriteStream(file, {mode: 0o600}),
  )
  if (n !== blob.size)
    throw new InvalidArchiveError(archive, `${blob.path} is ${n} bytes, its descriptor says ${blob.size}`)
  const actual = `${parsed.algorithm}:${hash.digest('hex')}`
  if (actual !== blob.digest) throw new DigestMismatchError(`${archive}: ${blob.path}`, blob.digest, actual)
}

/**
 * One archive entry as a fresh stream, each time it is called (the registry client re-opens it to retry):
 * streamEntries hands its stream to a callback, this turns that into an async iterable. An entry left
 * unread is drained, so a source that reads in one pass is never left waiting.
 */
async function* openEntry(source: ArchiveSource, name: string): AsyncGenerator<Buffer> {
  let give!: (s: AsyncIterable<Buffer>) => void
  const given = new Promise<AsyncIterable<Buffer>>((resolve) => (give = resolve))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let consumed = false
  const pass = source.streamEntries([name], async (_name, stream) => {
    give(stream)
    await released
    if (!consumed) {
      try {
        for await (const _chunk of stream) {
          // drained: nobody reads it
        }
      } catch {
        // a stream the reader closed early has nothing left to drain
      }
    }
  })
  const ended = pass.then(() => undefined)
  try {
    const stream = await Promise.race([given, ended])
    if (!stream) return
    for await (const chunk of stream) yield chunk
    consumed = true
  } finally {
    release()
    await pass
  }
}

/**
 * Hash a blob while it streams out and hold its last chunk back until the digest is checked: a blob that
 * is not what its descriptor says is cut off before its end, so the registry never receives all of it.
 */
async function* verified(source: AsyncIterable<Buffer>, blob: PlannedBlob, archive: string): AsyncGenerator<Buffer> {
  const parsed = parseDigest(blob.digest)!
  const hash = createHash(parsed.algorithm)
  let n = 0
  let held: Buffer | undefined
  for await (const chunk of source) {
    n += chunk.length
    if (n > blob.size)
      throw new InvalidArchiveError(archive, `${blob.path} is longer than the ${blob.size} bytes its descriptor says`)
    hash.update(chunk)
    if (held) yield held
    held = chunk
  }
  if (n !== blob.size)
    throw new InvalidArchiveError(archive, `${blob.path} is ${n} bytes, its descriptor says ${blob.size}`)
  const actual = `${parsed.algorithm}:${hash.digest('hex')}`
  if (actual !== blob.digest) throw new DigestMismatchError(`${archive}: ${blob.path}`, blob.digest, actual)
  if (held) yield held
}

/** Read the archive, push it, close it. */
export async function pushImage(o: PushOptions): Promise<PushResult> {
  const target = parseReference(o.ref)
  const archive = await readImageArchive(o.input)
  try {
    return await pushArchive(archive, target, o)
  } finally {
    await archive.source.close()
  }
}

/** Push an archive already read (`repro build --push` has one at hand). */
export async function pushArchive(archive: ImageArchive, target: ImageReference, o: PushOptions): Promise<PushResult> {
  const {logger} = o
  const plan = planPush(archive)
  if (target.digest && target.digest !== plan.digest)
    throw new InvalidArgumentError(`${target.input}: names ${target.digest}, but ${archive.path} is ${plan.digest}`, [
      'give a tag, or the digest `repro analyze` reports for the archive',
    ])
  const repo = openRepository(target, {
    plainHttp: o.plainHttp,
    dockerConfigDir: o.dockerConfigDir,
    exec: o.exec,
    fetch: o.fetch,
    logger,
    signal: o.signal,
  })
  const sources = mountSources(target, o.mountFrom ?? [], plan.baseNames)
  const jobs = Math.max(1, o.concurrency ?? 4)

  // 1. blobs: skip what is there, mount what another repository has, upload the rest
  const results = new Map<string, PushedBlob>()
  const uploadUrls = new Map<string, string>()
  await mapLimit(plan.blobs, jobs, async (b) => {
    if ((await repo.blobSize(b.digest)) !== undefined) {
      results.set(b.digest, {digest: b.digest, size: b.size, action: 'exists'})
      return
    }
    for (const from of sources) {
      const other = repo.client.repository(from)
      if ((await other.blobSize(b.digest).catch(() => undefined)) === undefined) continue
      const mounted = await repo.mountBlob(b.digest, from)
      if (mounted === true) {
        logger.verbose(`push: mounted ${b.digest} from ${from}`)
        results.set(b.digest, {digest: b.digest, size: b.size, action: 'mounted', from})
        return
      }
      uploadUrls.set(b.digest, mounted) // the registry opened an upload instead: use it
      break
    }
  })
  const missing = plan.blobs.filter((b) => !results.has(b.digest))
  let uploadedBytes = 0
  const uploaded = (b: PlannedBlob): void => {
    uploadedBytes += b.size
    results.set(b.digest, {digest: b.digest, size: b.size, action: 'uploaded'})
  }
  if (missing.length > 0 && archive.source.kind !== 'tar+gzip') {
    // tar files and layout directories read any entry at once: each blob streams from the archive into its
    // PUT, hashed on the way (bench/push.ts: a temp copy first made the push 1.8-2.6x slower than skopeo)
    await mapLimit(missing, jobs, async (b) => {
      let bad: unknown
      const open = async function* (): AsyncGenerator<Buffer> {
        if (bad) throw bad // a retry of a blob that failed its check fails at once
        try {
          yield* verified(openEntry(archive.source, b.path), b, archive.path)
        } catch (error) {
          if (error instanceof ReproError) bad = error
          throw error
        }
      }
      logger.verbose(`push: uploading ${b.digest} (${b.size} bytes)`)
      try {
        await repo.uploadBlob(b.digest, {size: b.size, open}, {uploadUrl: uploadUrls.get(b.digest)})
      } catch (error) {
        throw bad ?? error // the archive's fault, not the network's: say so
      }
      uploaded(b)
    })
  } else if (missing.length > 0) {
    // a gzip-compressed archive is read in one pass: each blob is copied out (hashed) and uploaded from there
    const byPath = new Map(missing.map((b) => [b.path, b]))
    const work = await mkdtemp(path.join(tmpdir(), 'repro-push-'))
    // SIGINT/SIGTERM mid-upload: the lifecycle removes the extracted blobs
    const unregister = lifecycle.registerPath(work)
    try {
      await archive.source.streamEntries(
        [...byPath.keys()],
        async (name, stream) => {
          const b = byPath.get(name)!
          const file = path.join(work, parseDigest(b.digest)!.hex)
          await extractVerified(stream, file, b, archive.path)
          logger.verbose(`push: uploading ${b.digest} (${b.size} bytes)`)
          await repo.uploadBlob(
            b.digest,
            {file, size: b.size},
            {chunkSize: o.chunkSize, uploadUrl: uploadUrls.get(b.digest)},
          )
          await rm(file, {force: true})
          uploaded(b)
        },
        jobs,
      )
    } finally {
      await rm(work, {recursive: true, force: true})
      unregister()
    }
  }

  // 2. manifests by digest, children before the index that lists them
  const manifests: PushedManifest[] = []
  for (const m of plan.manifests) {
    const there = await repo.headManifest(m.digest)
    if (!there || there.digest !== m.digest) await repo.putManifest(m.digest, m.mediaType, m.bytes)
    manifests.push({
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.bytes.length,
      ...(m.platform && m.digest !== plan.digest ? {platform: m.platform} : {}),
      action: there?.digest === m.digest ? 'exists' : 'pushed',
    })
  }

  // 3. the tag, last: only now does a name point at the image
  const top = plan.manifests.at(-1)!
  if (target.tag) {
    const {digest} = await repo.putManifest(target.tag, top.mediaType, top.bytes)
    if (digest !== plan.digest) throw new DigestMismatchError(`${target.input}: tag`, plan.digest, digest)
  }
  const registryName = `${target.registry}/${target.repository}`
  return {
    schemaVersion: PUSH_SCHEMA_VERSION,
    reference: formatReference({...target, digest: plan.digest}),
    repository: registryName,
    tag: target.tag,
    digest: plan.digest,
    mediaType: top.mediaType,
    format: archive.format,
    blobs: plan.blobs.map((b) => results.get(b.digest)!),
    manifests,
    uploadedBytes,
  }
}

/** `repro build --push REF`: push the one tarball a build wrote (several per-platform tarballs: refused). */
export async function pushBuilt(outputs: Array<{path: string}>, o: Omit<PushOptions, 'input'>): Promise<PushResult> {
  if (outputs.length !== 1)
    throw new InvalidArgumentError(
      `--push ${o.ref}: the build wrote ${outputs.length} tarballs (one per platform); push needs one image`,
      ['build several platforms into one OCI archive with --format oci'],
    )
  return pushImage({...o, input: outputs[0].path})
}
