/**
 * The one digest module: parse `algorithm:hex`, hash with the digest's own algorithm (sha256, sha512),
 * refuse every other algorithm, and hash files. Every digest check in src/ goes through here.
 */
import {createHash, type Hash} from 'node:crypto'
import {createReadStream} from 'node:fs'

import {InvalidArchiveError} from '../errors.js'

export type DigestAlgorithm = 'sha256' | 'sha512'

const HEX_LENGTH: Record<DigestAlgorithm, number> = {sha256: 64, sha512: 128}

export interface ParsedDigest {
  algorithm: DigestAlgorithm
  hex: string
}

function isAlgorithm(a: string): a is DigestAlgorithm {
  return Object.hasOwn(HEX_LENGTH, a)
}

/** Parse `alg:hex` strictly: only sha256/sha512 with lowercase hex of the right length. Returns undefined if invalid. */
export function parseDigest(digest: unknown): ParsedDigest | undefined {
  if (typeof digest !== 'string') return undefined
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest)
  if (!m) return undefined
  const [, algorithm, hex] = m
  if (!isAlgorithm(algorithm) || HEX_LENGTH[algorithm] !== hex.length) return undefined
  return {algorithm, hex}
}

/**
 * Parse a digest found in `file` at `where`, or throw one line that says why: an algorithm we do not
 * verify (anything but sha256 and sha512) is refused, never trusted.
 */
export function requireDigest(file: string, value: unknown, where: string): ParsedDigest {
  const parsed = parseDigest(value)
  if (parsed) return parsed
  const alg = typeof value === 'string' ? /^([A-Za-z0-9+._-]+):/.exec(value)?.[1] : undefined
  if (alg !== undefined && !isAlgorithm(alg))
    throw new InvalidArchiveError(
      file,
      `${where} uses the digest algorithm '${alg.slice(0, 32)}', which repro cannot verify (only sha256 and sha512)`,
    )
  const shown = typeof value === 'string' && value.length > 200 ? `${value.slice(0, 200)}...` : JSON.stringify(value)
  throw new InvalidArchiveError(file, `${where} has an invalid digest ${shown}`)
}

/** Accept `sha256:<hex>` or a bare 64-hex string (any case) from a user; return `sha256:<hex>` or undefined. */
export function normalizeUserDigest(input: string): string | undefined {
  const trimmed = input.trim().toLowerCase()
  const full = /^[a-f0-9]{64}$/.test(trimmed) ? `sha256:${trimmed}` : trimmed
  return parseDigest(full) ? full : undefined
}

/** A streaming hash for `algorithm`; `digest()` gives `algorithm:hex`. */
export interface Digester {
  update(chunk: Buffer): void
  digest(): string
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Digester {
  const h: Hash = createHash(algorithm)
  return {
    update: (chunk) => void h.update(chunk),
    digest: () => `${algorithm}:${h.digest('hex')}`,
  }
}

/** `algorithm:hex` of some bytes. */
export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}

/** Does `data` match `digest` (hashed with the digest's own algorithm)? Throws on an unverifiable digest. */
export function matchesDigest(data: Buffer, digest: ParsedDigest): boolean {
  return digestOf(data, digest.algorithm) === `${digest.algorithm}:${digest.hex}`
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`
}

/** `algorithm:hex` of a file, streamed (bounded memory whatever its size). */
export async function fileDigest(file: string, algorithm: DigestAlgorithm = 'sha256'): Promise<string> {
  const d = createDigester(algorithm)
  for await (const chunk of createReadStream(file, {highWaterMark: 1024 * 1024})) d.update(chunk as Buffer)
  return d.digest()
}

/** The bare sha256 hex of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  return (await fileDigest(file, 'sha256')).slice('sha256:'.length)
}

/** The relative path of a blob inside an OCI layout; the digest must already be validated. */
export function blobPath(d: ParsedDigest): string {
  return `blobs/${d.algorithm}/${d.hex}`
}
