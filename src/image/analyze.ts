/**
 * `repro analyze`: the facts of an image archive as plain data (what --json prints and the text renderer shows).
 */
import {InvalidArgumentError, shown} from '../errors.js'
import {
  type DescriptorInfo,
  type ImageArchive,
  type ImageInfo,
  type IndexInfo,
  platformImages,
  readImageArchive,
  topImageDigest,
} from './archive.js'
import {normalizeUserDigest} from './digest.js'
import {verifyImageArchive, type VerifyResult} from './verify.js'

export const ANALYZE_SCHEMA_VERSION = 1

export interface AnalyzeOptions {
  expectedImageDigest?: string
  platform?: string
  verify?: boolean
  /** include the raw JSON documents in the result */
  contents?: boolean
}

export interface DescriptorReport {
  annotations: Record<string, string>
  digest: string
  mediaType: string | null
  platform: string | null
  size: number
}

export interface IndexReport {
  /** annotations on the index and its descriptors live only here: they are not part of any image digest */
  annotationsAreIndexOnly: boolean
  annotations: Record<string, string>
  contents?: unknown
  digest: string
  manifests: DescriptorReport[]
  mediaType: string | null
  mediaTypeMissing: boolean
  path: string
  size: number
}

export interface ImageReport {
  attestationFor: string | null
  config: {
    contents?: unknown
    created: string | null
    diffIds: string[]
    digest: string
    historyCount: number
    labels: Record<string, string>
    mediaType: string
    path: string
    size: number
  }
  /** the manifest digest (what a registry reports for this platform); null when the archive has no manifest */
  imageDigest: string | null
  /** the config digest: the classic image ID */
  imageId: string
  layers: Array<{
    annotations: Record<string, string>
    compression: string
    diffId: string | null
    digest: string | null
    mediaType: string
    path: string
    size: number
  }>
  manifest: {
    annotations: Record<string, string>
    contents?: unknown
    describedBy: string
    descriptorAnnotations: Record<string, string>
    digest: string
    mediaType: string | null
    path: string
    size: number
  } | null
  platform: string
  repoTags: string[]
  /** every name of the image: manifest.json RepoTags and the index.json names of its descriptors */
  tags: string[]
}

export interface ExpectedDigestReport {
  actual: string
  comparedWith: 'config (no manifest in this archive)' | 'index' | 'manifest'
  expected: string
  matched: boolean
  platform: string | null
}

export interface AnalyzeResult {
  dockerManifest: unknown
  expected?: ExpectedDigestReport
  format: string
  formatLabel: string
  /** the digest a registry would report for the whole archive (multi-platform index or single manifest) */
  imageDigest: string | null
  images: ImageReport[]
  index: IndexReport | null
  nestedIndexes: IndexReport[]
  ociLayoutVersion: string | null
  path: string
  schemaVersion: number
  source: string
  verification?: VerifyResult
  warnings: string[]
}

function descriptorReport(d: DescriptorInfo): DescriptorReport {
  const p = d.platform
  return {
    annotations: d.annotations,
    digest: d.digest,
    mediaType: d.mediaType ?? null,
    platform: p?.os && p.architecture ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : null,
    size: d.size,
  }
}

function indexReport(i: IndexInfo, top: boolean, contents: boolean): IndexReport {
  return {
    annotations: i.annotations,
    annotationsAreIndexOnly: top,
    ...(contents ? {contents: i.json} : {}),
    digest: i.digest,
    manifests: i.manifests.map((d) => descriptorReport(d)),
    mediaType: i.mediaType ?? null,
    mediaTypeMissing: i.mediaTypeMissing,
    path: i.path,
    size: i.size,
  }
}

function imageReport(img: ImageInfo, contents: boolean): ImageReport {
  const m = img.manifest
  return {
    attestationFor: img.attestationFor ?? null,
    config: {
      ...(contents ? {contents: img.config.json} : {}),
      created: img.config.created ?? null,
      diffIds: img.config.diffIds,
      digest: img.config.digest,
      historyCount: img.config.historyCount,
      labels: img.config.labels,
      mediaType: img.config.mediaType,
      path: img.config.path,
      size: img.config.size,
    },
    imageDigest: m?.digest ?? null,
    imageId: img.config.digest,
    layers: img.layers.map((l) => ({
      annotations: l.annotations,
      compression: l.compression,
      diffId: l.diffId ?? null,
      digest: l.digest ?? null,
      mediaType: l.mediaType,
      path: l.path,
      size: l.size,
    })),
    manifest: m
      ? {
          annotations: m.annotations,
          ...(contents ? {contents: m.json} : {}),
          describedBy: m.describedBy,
          descriptorAnnotations: m.descriptorAnnotations,
          digest: m.digest,
          mediaType: m.mediaType ?? null,
          path: m.path,
          size: m.size,
        }
      : null,
    platform: img.platform,
    repoTags: img.repoTags,
    tags: img.tags,
  }
}

/** Pick the image a platform string names: exact match first, then os/arch ignoring the variant. */
export function selectPlatform(images: ImageInfo[], platform: string, file: string): ImageInfo {
  const want = platform.trim().toLowerCase()
  const exact = images.filter((i) => i.platform === want)
  if (exact.length === 1) return exact[0]
  const loose = images.filter(
    (i) => i.platform.split('/').slice(0, 2).join('/') === want.split('/').slice(0, 2).join('/'),
  )
  if (loose.length === 1) return loose[0]
  throw new InvalidArgumentError(
    `--platform ${shown(platform)}: ${loose.length > 1 ? 'matches several images' : 'no image for that platform'} in ${file} (platforms: ${images.map((i) => i.platform).join(', ')})`,
  )
}

export function compareExpected(archive: ImageArchive, expectedInput: string, platform?: string): ExpectedDigestReport {
  const expected = normalizeUserDigest(expectedInput)
  if (!expected)
    throw new InvalidArgumentError(
      `--expected-image-digest ${shown(expectedInput)}: not a digest (sha256: and 64 hex digits, the 64 hex digits alone, or sha512: and 128)`,
    )
  const images = platformImages(archive)
  let img: ImageInfo | undefined
  if (platform) img = selectPlatform(images, platform, archive.path)
  else if (images.length === 1) img = images[0]
  if (!img) {
    const top = topImageDigest(archive)
    if (!top) {
      throw new InvalidArgumentError(
        `${archive.path} holds several images: choose one with --platform (platforms: ${images.map((i) => i.platform).join(', ')})`,
      )
    }
    return {actual: top, comparedWith: 'index', expected, matched: top === expected, platform: null}
  }
  const actual = img.manifest?.digest ?? img.config.digest
  return {
    actual,
    comparedWith: img.manifest ? 'manifest' : 'config (no manifest in this archive)',
    expected,
    matched: actual === expected,
    platform: img.platform,
  }
}

export async function analyzeImage(file: string, options: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const archive = await readImageArchive(file)
  try {
    const contents = options.contents ?? false
    const expected = options.expectedImageDigest
      ? compareExpected(archive, options.expectedImageDigest, options.platform)
      : undefined
    if (options.platform && !expected) selectPlatform(platformImages(archive), options.platform, file)
    const verification = options.verify ? await verifyImageArchive(archive) : undefined
    return {
      dockerManifest: contents ? (archive.dockerManifest ?? null) : undefined,
      ...(expected ? {expected} : {}),
      format: archive.format,
      formatLabel: archive.formatLabel,
      imageDigest: topImageDigest(archive) ?? null,
      images: archive.images.map((i) => imageReport(i, contents)),
      index: archive.index ? indexReport(archive.index, true, contents) : null,
      nestedIndexes: archive.nestedIndexes.map((i) => indexReport(i, false, contents)),
      ociLayoutVersion: archive.ociLayoutVersion ?? null,
      path: file,
      schemaVersion: ANALYZE_SCHEMA_VERSION,
      source: archive.sourceKind,
      ...(verification ? {verification} : {}),
      warnings: archive.warnings,
    }
  } finally {
    await archive.source.close()
  }
}
