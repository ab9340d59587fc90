export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  inToto: 'application/vnd.in-toto+json',
} as const

export type Compression = 'gzip' | 'none' | 'unknown' | 'zstd'

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MT.ociIndex || mt === MT.dockerManifestList
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MT.ociManifest || mt === MT.dockerManifest
}

/** Compression implied by a layer media type. */
export function compressionOfMediaType(mt: string | undefined): Compression {
  if (!mt) return 'unknown'
  if (mt.endsWith('+gzip') || mt.endsWith('.tar.gzip') || mt.endsWith('.gzip')) return 'gzip'
  if (mt.endsWith('+zstd') || mt.endsWith('.zstd')) return 'zstd'
  if (mt.endsWith('.tar') || mt === MT.dockerLayer) return 'none'
  return 'unknown'
}

/** Compression sniffed from the first bytes of a blob (gzip 1f8b, zstd 28b52ffd). */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
  return 'none'
}
