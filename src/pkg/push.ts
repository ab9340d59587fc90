/**
 * `get push`: upload the cached blobs of a hash file to an OCI registry through the one registry client
 * (HEAD to skip existing blobs; monolithic POST+PUT, chunked PATCHes for files over `chunkSize`), then an
 * OCI manifest listing them (titles = basenames, sorted), so the registry keeps them and
 * `--provider oci://REGISTRY/REPO` can fetch them by digest.
 */
import {stat} from 'node:fs/promises'

import {ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import {sha256Digest} from '../image/digest.js'
import {openOciRepository} from '../image/registry/index.js'
import type {OciRef} from '../image/registry/reference.js'
import type {Logger} from '../log.js'
import type {PackageCache} from './cache.js'
import {mapLimit} from '../pool.js'
import type {HashEntry} from './hash-file.js'

export interface PushResult {
  to: string
  manifestDigest: string
  tag?: string
  blobs: {name: string; digest: string; size: number; action: 'uploaded' | 'exists'}[]
}

export const ARTIFACT_TYPE = 'application/vnd.repro.packages.v1'
const EMPTY = Buffer.from('{}')

export async function pushToRegistry(
  entries: HashEntry[],
  o: {
    cache: PackageCache
    ref: OciRef
    logger: Logger
    jobs?: number
    fetchImpl?: typeof fetch
    /** docker config directory for credentials (default $DOCKER_CONFIG, else ~/.docker) */
    dockerConfigDir?: string
    /** runs docker-credential-* helpers */
    exec?: Exec
    /** files above this many bytes go up in chunks of this size */
    chunkSize?: number
  },
): Promise<PushResult> {
  const missing: string[] = []
  for (const e of entries) if (!(await o.cache.has(e.sha256))) missing.push(e.name)
  if (missing.length)
    throw new ReproError(
      'E_NOT_CACHED',
      `not in the cache ${o.cache.dir}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, ... (${missing.length})` : ''}`,
      {
        suggestions: ['run repro get download FILE first'],
      },
    )
  const repo = openOciRepository(o.ref, {
    dockerConfigDir: o.dockerConfigDir,
    exec: o.exec,
    fetch: o.fetchImpl,
    logger: o.logger,
  })
  const unique = [...new Map(entries.map((e) => [e.sha256, e])).values()]
  const blobs = await mapLimit(unique, o.jobs ?? 4, async (e) => {
    const digest = `sha256:${e.sha256}`
    const file = o.cache.blobPath(e.sha256)
    const {size} = await stat(file)
    if ((await repo.blobSize(digest)) !== undefined) return {name: e.name, digest, size, action: 'exists' as const}
    await repo.uploadBlob(digest, {file, size}, {chunkSize: o.chunkSize})
    o.logger.verbose(`pushed ${e.basename} (${digest})`)
    return {name: e.name, digest, size, action: 'uploaded' as const}
  })
  const emptyDigest = sha256Digest(EMPTY)
  if ((await repo.blobSize(emptyDigest)) === undefined) await repo.uploadBlob(emptyDigest, EMPTY)
  const sorted = [...blobs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: ARTIFACT_TYPE,
    config: {mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: EMPTY.length},
    layers: sorted.map((b) => ({
      mediaType: 'application/octet-stream',
      digest: b.digest,
      size: b.size,
      annotations: {'org.opencontainers.image.title': b.name.split('/').at(-1)},
    })),
  }
  const body = Buffer.from(JSON.stringify(manifest))
  const manifestDigest = sha256Digest(body)
  await repo.putManifest(o.ref.tag ?? manifestDigest, manifest.mediaType, body)
  return {to: `${o.ref.host}/${o.ref.repo}`, manifestDigest, tag: o.ref.tag, blobs: sorted}
}
