/**
 * `repro sbom`, and `--sbom FILE` of build and verify: an SPDX 2.3 or CycloneDX 1.6 JSON bill of materials
 * of an image (any input `repro analyze` reads, through the one image core): the image by digest, its base
 * images by digest, and every package its package databases list (dpkg, apk, pacman; rpm detected and
 * reported), read from the merged file system (whiteouts applied), marked when a hash file pins them.
 * Deterministic: the same image (and hash files and bases) gives the same bytes.
 */
import {mkdir, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {InvalidArgumentError} from '../errors.js'
import type {Exec} from '../exec.js'
import {type ImageArchive, type ImageInfo, platformImages, topImageDigest} from '../image/archive.js'
import {sha256Digest} from '../image/digest.js'
import {lifecycle} from '../lifecycle.js'
import type {HashEntry} from '../pkg/hash-file.js'
import {toCycloneDx} from './cyclonedx.js'
import {SBOM_LIMITS, type SbomLimits} from './limits.js'
import type {BaseImage, SbomFormat, SbomImage, SbomModel} from './model.js'
import {markPins, scanPackages, type Unsupported} from './packages.js'
import {readDatabases} from './rootfs.js'
import {readRpmDatabases} from './rpm.js'
import {toSpdx} from './spdx.js'

export type {BaseImage, SbomFormat} from './model.js'

export const SBOM_SCHEMA_VERSION = 1
export {SBOM_FORMATS} from './model.js'
export const SBOM_MEDIA_TYPES = {
  spdx: 'application/spdx+json',
  cyclonedx: 'application/vnd.cyclonedx+json',
} as const

export interface SbomOptions {
  /** the input as the user named it (messages, never written into the document) */
  input: string
  archive: ImageArchive
  format: SbomFormat
  /** os/arch[/variant]: only this platform of a multi-platform image */
  platform?: string
  /** hash file entries: the packages they pin are marked */
  hashEntries?: HashEntry[]
  /** base images known from the build (lock, Dockerfile, build contexts); the image's annotations add theirs */
  bases?: BaseImage[]
  /** the creation time when the image config has none */
  sourceDateEpoch?: number
  tool: {name: string; version: string}
  limits?: SbomLimits
  /** runs the machine's rpm to read rpm databases; without it they are reported as unsupported */
  exec?: Exec
}

export interface SbomPlatformSummary {
  platform: string
  manifestDigest: string | null
  configDigest: string
  /** os-release PRETTY_NAME */
  os: string | null
  packages: number
  pinned: number
}

export interface SbomDocument {
  format: SbomFormat
  mediaType: (typeof SBOM_MEDIA_TYPES)[SbomFormat]
  text: string
  /** sha256:HEX of the document's bytes */
  digest: string
  digestOfImage: string
  platforms: SbomPlatformSummary[]
  bases: BaseImage[]
  unsupported: Unsupported[]
  /** hash file entries that pin no package of the image */
  unusedPins: string[]
  warnings: string[]
}

/** A format named by a file's extension (.spdx.json, .cdx.json, ...), else undefined. */
export function formatFromFileName(file: string): SbomFormat | undefined {
  const base = path.basename(file).toLowerCase()
  if (/\.spdx(\.json)?$/.test(base)) return 'spdx'
  if (/\.(cdx|cyclonedx|bom)(\.json)?$/.test(base)) return 'cyclonedx'
  return undefined
}

/** RFC 3339 in whole seconds, or undefined for a value that is no date. */
function seconds(value: string | number): string | undefined {
  const d = typeof value === 'number' ? new Date(value * 1000) : new Date(value)
  if (Number.isNaN(d.getTime()) || d.getTime() < 0) return undefined
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function annotationBases(img: ImageInfo): BaseImage[] {
  const a = img.manifest?.annotations ?? {}
  const digest = a['org.opencontainers.image.base.digest']
  if (!digest || !/^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/.test(digest)) return []
  return [{ref: a['org.opencontainers.image.base.name'] ?? null, digest, from: 'annotation'}]
}

/** Read the packages of the image and write the document (in memory). */
export async function createSbom(o: SbomOptions): Promise<SbomDocument> {
  const limits = o.limits ?? SBOM_LIMITS
  let images = platformImages(o.archive)
  if (o.platform) {
    images = images.filter((i) => i.platform === o.platform || i.platform.startsWith(`${o.platform}/`))
    if (images.length === 0)
      throw new InvalidArgumentError(
        `--platform ${o.platform}: ${o.input} has no such platform (it has ${platformImages(o.archive)
          .map((i) => i.platform)
          .join(', ')})`,
      )
  }
  const warnings: string[] = [...o.archive.warnings]
  const sbomImages: SbomImage[] = []
  const bases = new Map<string, BaseImage>()
  for (const b of o.bases ?? []) bases.set(`${b.ref}\u0000${b.digest}`, b)
  const unsupported: Unsupported[] = []
  const allPackages = []
  for (const img of images) {
    const db = await readDatabases(o.archive.source, o.input, img, limits)
    const rpm = o.exec ? await readRpmDatabases(db.files, o.exec) : []
    const scan = scanPackages(o.input, db, limits, rpm)
    const where = images.length > 1 ? `${img.platform}: ` : ''
    for (const w of scan.warnings) warnings.push(`${where}${w}`)
    for (const u of scan.unsupported) if (!unsupported.some((x) => x.path === u.path)) unsupported.push(u)
    for (const b of annotationBases(img))
      if (!bases.has(`${b.ref}\u0000${b.digest}`)) bases.set(`${b.ref}\u0000${b.digest}`, b)
    allPackages.push(...scan.packages)
    sbomImages.push({
      platform: img.platform,
      manifestDigest: img.manifest?.digest ?? null,
      configDigest: img.config.digest,
      os: scan.os,
      packages: scan.packages,
    })
  }
  const unused = o.hashEntries?.length ? markPins(allPackages, o.hashEntries) : []
  const digest =
    (images.length === platformImages(o.archive).length ? topImageDigest(o.archive) : undefined) ??
    images[0].manifest?.digest ??
    images[0].config.digest
  const created =
    (images[0].config.created ? seconds(images[0].config.created) : undefined) ??
    (o.sourceDateEpoch === undefined ? undefined : seconds(o.sourceDateEpoch)) ??
    '1970-01-01T00:00:00Z'
  const model: SbomModel = {
    name: images[0].tags[0] ?? 'image',
    digest,
    images: sbomImages,
    bases: [...bases.values()].sort((a, b) => (`${a.ref}\u0000${a.digest}` < `${b.ref}\u0000${b.digest}` ? -1 : 1)),
    unsupported: unsupported.sort((a, b) => (a.path < b.path ? -1 : 1)),
    created,
    tool: o.tool,
  }
  const text = o.format === 'spdx' ? `${JSON.stringify(toSpdx(model), null, 2)}\n` : toCycloneDx(model)
  if (unused.length)
    warnings.push(
      `${unused.length} hash file entr${unused.length === 1 ? 'y pins' : 'ies pin'} no package of the image (first: ${unused[0].name})`,
    )
  return {
    format: o.format,
    mediaType: SBOM_MEDIA_TYPES[o.format],
    text,
    digest: sha256Digest(text),
    digestOfImage: digest,
    platforms: sbomImages.map((i) => ({
      platform: i.platform,
      manifestDigest: i.manifestDigest,
      configDigest: i.configDigest,
      os: i.os.prettyName,
      packages: i.packages.length,
      pinned: i.packages.filter((p) => p.pin).length,
    })),
    bases: model.bases,
    unsupported: model.unsupported,
    unusedPins: unused.map((e) => e.name),
    warnings,
  }
}

/** Write the document: a partial file renamed into place, so a failure leaves nothing half-written. */
export async function writeSbomFile(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.repro-partial`)
  const done = lifecycle.registerPath(partial)
  try {
    await writeFile(partial, text, {mode: 0o644})
    await rename(partial, file)
  } catch (error) {
    await rm(partial, {force: true})
    throw error
  } finally {
    done()
  }
}
