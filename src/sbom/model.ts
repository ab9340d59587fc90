/** What an SBOM says, before it is written as SPDX or CycloneDX: plain data, sorted, no host paths or times. */
import {createHash} from 'node:crypto'

import type {InstalledPackage, OsRelease, Unsupported} from './packages.js'

export const SBOM_FORMATS = ['spdx', 'cyclonedx'] as const
export type SbomFormat = (typeof SBOM_FORMATS)[number]

export interface SbomImage {
  platform: string
  /** the manifest digest (null for a legacy docker archive, which has none) */
  manifestDigest: string | null
  /** the config digest: the image ID */
  configDigest: string
  os: OsRelease
  packages: InstalledPackage[]
}

export interface BaseImage {
  /** the reference as the Dockerfile or the annotation names it (null when only a digest is known) */
  ref: string | null
  digest: string
  /** where it was learnt: the image's org.opencontainers.image.base.* annotations, the lock, the Dockerfile, a build context */
  from: 'annotation' | 'build-context' | 'dockerfile' | 'lock'
}

export interface SbomModel {
  /** the image's name (its first tag) or "image" */
  name: string
  /** the digest that names the whole image: the index's, the single manifest's, or the config's for a legacy archive */
  digest: string
  images: SbomImage[]
  bases: BaseImage[]
  unsupported: Unsupported[]
  /** creation time, RFC 3339 in seconds, from the image (config created) or SOURCE_DATE_EPOCH */
  created: string
  tool: {name: string; version: string}
}

/** sha256 hex of a string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/**
 * A name-based UUID (RFC 9562 version 8, the custom layout) from a sha256 of the content: the same
 * content gives the same serial number, never a random one.
 */
export function contentUuid(text: string): string {
  const h = sha256Hex(text).slice(0, 32).split('')
  h[12] = '8'
  h[16] = ((Number.parseInt(h[16], 16) & 0x3) | 0x8).toString(16)
  const s = h.join('')
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`
}

/** The model's content as one string (what identifiers are derived from). */
export function fingerprint(model: SbomModel): string {
  return JSON.stringify(model)
}

/** pkg:oci purl of an image: the last path segment of its name, the digest as version, platform qualifiers. */
export function imagePurl(name: string, digest: string, platform?: string): string {
  const noTag = name.replace(/@.*$/, '').replace(/:[^/:]*$/, '')
  const last = (noTag.split('/').pop() || 'image').toLowerCase()
  const q: string[] = []
  if (platform) {
    const [os, arch, variant] = platform.split('/')
    if (arch) q.push(`arch=${encodeURIComponent(variant ? `${arch}/${variant}` : arch)}`)
    if (os) q.push(`os=${encodeURIComponent(os)}`)
  }
  if (noTag.includes('/')) q.push(`repository_url=${encodeURIComponent(noTag)}`)
  return `pkg:oci/${encodeURIComponent(last)}@${encodeURIComponent(digest)}${q.length ? `?${q.sort().join('&')}` : ''}`
}

/** "sha256:HEX" → {algorithm, hex}. */
export function splitDigest(digest: string): {algorithm: string; hex: string} {
  const i = digest.indexOf(':')
  return {algorithm: digest.slice(0, i), hex: digest.slice(i + 1)}
}
