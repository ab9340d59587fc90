/**
 * Test support: write real image archives of every format we read, from in-memory layer contents,
 * with the tar library and real gzip. Digests are computed here, independently of src/image.
 */
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import * as tar from 'tar'

export interface FileSpec {
  content?: string | Buffer
  linkname?: string
  mode?: number
  mtime?: number
  path: string
  type?: 'dir' | 'file' | 'hardlink' | 'symlink'
  uid?: number
  gid?: number
  uname?: string
  gname?: string
  /** written as SCHILY.xattr.<key> pax records */
  xattrs?: Record<string, string | Buffer>
  /** extra pax records (written in a pax header before the entry) */
  pax?: Record<string, string>
}

/** A pax extended header block (type 'x') with the given records, values as raw bytes. */
function paxBlocks(name: string, records: Array<[string, Buffer]>): Buffer[] {
  const body = Buffer.concat(
    records.map(([k, v]) => {
      const rest = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')])
      let len = rest.length + 1
      while (String(len).length + rest.length !== len) len = String(len).length + rest.length
      return Buffer.concat([Buffer.from(String(len)), rest])
    }),
  )
  const h = new tar.Header({
    path: `PaxHeader/${name}`.slice(0, 99),
    size: body.length,
    type: 'ExtendedHeader',
    mode: 0o644,
    mtime: new Date(0),
  })
  const hb = Buffer.alloc(512)
  h.encode(hb, 0)
  return [hb, body, Buffer.alloc((512 - (body.length % 512)) % 512)]
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

export async function tempDir(prefix = 'repro-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix))
}

/** Deterministic tar of a directory (sorted, fixed mtime, portable headers). */
export async function tarDir(dir: string, out: string, mtime = new Date(0)): Promise<void> {
  const names: string[] = []
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(path.join(dir, rel), {withFileTypes: true})).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name
      names.push(e.isDirectory() ? `${r}/` : r)
      if (e.isDirectory()) await walk(r)
    }
  }
  await walk('')
  await tar.c({cwd: dir, file: out, mtime, noDirRecurse: true, portable: true}, names)
}

/** An uncompressed layer tar from file specs, written via a temp dir with the tar library. */
export async function layerTar(files: FileSpec[]): Promise<Buffer> {
  const {Header} = tar
  const blocks: Buffer[] = []
  for (const f of files) {
    const content = f.type === 'file' || f.type === undefined ? Buffer.from(f.content ?? '') : Buffer.alloc(0)
    const records: Array<[string, Buffer]> = [
      ...Object.entries(f.pax ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v)]),
      ...Object.entries(f.xattrs ?? {}).map(([k, v]): [string, Buffer] => [`SCHILY.xattr.${k}`, Buffer.from(v)]),
    ]
    if (records.length > 0) blocks.push(...paxBlocks(f.path, records))
    const h = new Header({
      gid: f.gid ?? 0,
      gname: f.gname,
      linkpath: f.linkname,
      mode: f.mode ?? (f.type === 'dir' ? 0o755 : 0o644),
      mtime: new Date((f.mtime ?? 0) * 1000),
      path: f.path,
      size: content.length,
      type:
        f.type === 'dir'
          ? 'Directory'
          : f.type === 'symlink'
            ? 'SymbolicLink'
            : f.type === 'hardlink'
              ? 'Link'
              : 'File',
      uid: f.uid ?? 0,
      uname: f.uname,
    })
    const hb = Buffer.alloc(512)
    h.encode(hb, 0)
    blocks.push(hb, content, Buffer.alloc((512 - (content.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

export interface BuiltImage {
  config: Buffer
  configDigest: string
  diffIds: string[]
  layerBlobs: Buffer[]
  layerDigests: string[]
  manifest: Buffer
  manifestDigest: string
  platform: {architecture: string; os: string}
}

export interface ImageSpec {
  architecture?: string
  compression?: 'gzip' | 'none'
  created?: string
  docker?: boolean // docker media types
  layers: FileSpec[][]
  /** gzip level for layer blobs (default 6) */
  gzipLevel?: number
  /** replaces the default history (one COPY entry per layer) */
  history?: Array<Record<string, unknown>>
  /** merged into config.config (e.g. Labels, Env) */
  containerConfig?: Record<string, unknown>
  /** annotations on each layer descriptor (by index) */
  layerAnnotations?: Array<Record<string, string> | undefined>
  /** annotations of the manifest itself */
  manifestAnnotations?: Record<string, string>
}

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const compression = spec.compression ?? 'gzip'
  const raw = await Promise.all(spec.layers.map((l) => layerTar(l)))
  const diffIds = raw.map((b) => sha256(b))
  const layerBlobs = raw.map((b) => (compression === 'gzip' ? gzipSync(b, {level: spec.gzipLevel ?? 6}) : b))
  const layerDigests = layerBlobs.map((b) => sha256(b))
  const architecture = spec.architecture ?? 'amd64'
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      config: {Env: ['PATH=/usr/bin:/bin'], Labels: {'org.example': 'x'}, ...spec.containerConfig},
      created: spec.created ?? '1970-01-01T00:00:00Z',
      history:
        spec.history ??
        spec.layers.map(() => ({created: spec.created ?? '1970-01-01T00:00:00Z', created_by: 'COPY . /'})),
      os: 'linux',
      rootfs: {diff_ids: diffIds, type: 'layers'},
    }),
  )
  const docker = spec.docker ?? false
  const layerMt = docker
    ? compression === 'gzip'
      ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
      : 'application/vnd.docker.image.rootfs.diff.tar'
    : compression === 'gzip'
      ? 'application/vnd.oci.image.layer.v1.tar+gzip'
      : 'application/vnd.oci.image.layer.v1.tar'
  const manifest = Buffer.from(
    JSON.stringify({
      ...(spec.manifestAnnotations ? {annotations: spec.manifestAnnotations} : {}),
      config: {
        digest: sha256(config),
        mediaType: docker
          ? 'application/vnd.docker.container.image.v1+json'
          : 'application/vnd.oci.image.config.v1+json',
        size: config.length,
      },
      layers: layerBlobs.map((b, i) => ({
        ...(spec.layerAnnotations?.[i] ? {annotations: spec.layerAnnotations[i]} : {}),
        digest: layerDigests[i],
        mediaType: layerMt,
        size: b.length,
      })),
      mediaType: docker
        ? 'application/vnd.docker.distribution.manifest.v2+json'
        : 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
    }),
  )
  return {
    config,
    configDigest: sha256(config),
    diffIds,
    layerBlobs,
    layerDigests,
    manifest,
    manifestDigest: sha256(manifest),
    platform: {architecture, os: 'linux'},
  }
}

export type ArchiveKind =
  | 'docker-archive'
  | 'docker-exporter'
  | 'docker-save-oci'
  | 'oci-archive'
  | 'oci-layout-dir'
  | 'oci-multi'
  | 'podman-oci-archive'

async function writeBlob(dir: string, b: Buffer): Promise<void> {
  const hex = sha256(b).slice(7)
  await mkdir(path.join(dir, 'blobs', 'sha256'), {recursive: true})
  await writeFile(path.join(dir, 'blobs', 'sha256', hex), b)
}

export interface WrittenArchive {
  indexDigest?: string
  path: string
}

/**
 * Write images as an archive of `kind` at `out` (a .tar file, or a directory for oci-layout-dir).
 * `gzip` compresses the whole tar afterwards.
 */
export async function writeArchive(
  kind: ArchiveKind,
  images: BuiltImage[],
  out: string,
  options: {
    gzip?: boolean
    tag?: string
    /** replaces the default index.json descriptor annotations ({org.opencontainers.image.created}) */
    descriptorAnnotations?: Record<string, string>
    /** annotations of index.json itself */
    indexAnnotations?: Record<string, string>
  } = {},
): Promise<WrittenArchive> {
  const stage = kind === 'oci-layout-dir' ? out : await tempDir('repro-stage-')
  await mkdir(stage, {recursive: true})
  let indexDigest: string | undefined
  try {
    const tag = options.tag ?? 'example.com/app:1'
    if (kind === 'docker-archive') {
      const entries = []
      for (const img of images) {
        const cfgName = `${img.configDigest.slice(7)}.json`
        await writeFile(path.join(stage, cfgName), img.config)
        const layerPaths: string[] = []
        for (const [i, blob] of img.layerBlobs.entries()) {
          const id = createHash('sha256').update(`${img.configDigest}${i}`).digest('hex')
          await mkdir(path.join(stage, id), {recursive: true})
          await writeFile(path.join(stage, id, 'layer.tar'), blob)
          await writeFile(path.join(stage, id, 'VERSION'), '1.0')
          await writeFile(path.join(stage, id, 'json'), JSON.stringify({id}))
          layerPaths.push(`${id}/layer.tar`)
        }
        entries.push({Config: cfgName, Layers: layerPaths, RepoTags: [tag]})
      }
      await writeFile(path.join(stage, 'manifest.json'), JSON.stringify(entries))
      await writeFile(path.join(stage, 'repositories'), JSON.stringify({}))
    } else {
      await writeFile(path.join(stage, 'oci-layout'), JSON.stringify({imageLayoutVersion: '1.0.0'}))
      for (const img of images) {
        await writeBlob(stage, img.config)
        await writeBlob(stage, img.manifest)
        for (const b of img.layerBlobs) await writeBlob(stage, b)
      }
      const descs = images.map((img) => ({
        annotations: options.descriptorAnnotations ?? {'org.opencontainers.image.created': '1970-01-01T00:00:00Z'},
        digest: img.manifestDigest,
        mediaType: JSON.parse(img.manifest.toString()).mediaType,
        platform: img.platform,
        size: img.manifest.length,
      }))
      let top: unknown[] = descs
      if (kind === 'oci-multi') {
        const nested = Buffer.from(
          JSON.stringify({manifests: descs, mediaType: 'application/vnd.oci.image.index.v1+json', schemaVersion: 2}),
        )
        await writeBlob(stage, nested)
        indexDigest = sha256(nested)
        top = [
          {
            annotations: {'io.containerd.image.name': tag},
            digest: indexDigest,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            size: nested.length,
          },
        ]
      }
      const index: Record<string, unknown> = {manifests: top, schemaVersion: 2}
      if (options.indexAnnotations) index.annotations = options.indexAnnotations
      if (kind !== 'podman-oci-archive') index.mediaType = 'application/vnd.oci.image.index.v1+json'
      if (kind === 'podman-oci-archive') for (const d of top as Array<Record<string, unknown>>) delete d.mediaType
      await writeFile(path.join(stage, 'index.json'), JSON.stringify(index))
      if (kind === 'docker-exporter' || kind === 'docker-save-oci') {
        const entries = images.map((img) => ({
          Config: `blobs/sha256/${img.configDigest.slice(7)}`,
          Layers: img.layerDigests.map((d) => `blobs/sha256/${d.slice(7)}`),
          RepoTags: [tag],
        }))
        await writeFile(path.join(stage, 'manifest.json'), JSON.stringify(entries))
      }
      if (kind === 'docker-save-oci') await writeFile(path.join(stage, 'repositories'), JSON.stringify({}))
    }
    if (kind !== 'oci-layout-dir') {
      if (options.gzip) {
        const plain = `${out}.plain.tar`
        await tarDir(stage, plain)
        const {readFile} = await import('node:fs/promises')
        await writeFile(out, gzipSync(await readFile(plain)))
        await rm(plain)
      } else {
        await tarDir(stage, out)
      }
    }
  } finally {
    if (kind !== 'oci-layout-dir') await rm(stage, {force: true, recursive: true})
  }
  return {indexDigest, path: out}
}
