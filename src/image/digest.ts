import {createHash} from 'node:crypto'

const ALGORITHMS: Record<string, number> = {sha256: 64, sha512: 128}

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512'
  hex: string
}

/** Parse `alg:hex` strictly: only sha256/sha512 with lowercase hex of the right length. Returns undefined if invalid. */
export function parseDigest(digest: unknown): ParsedDigest | undefined {
  if (typeof digest !== 'string') return undefined
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest)
  if (!m) return undefined
  const [, algorithm, hex] = m
  if (ALGORITHMS[algorithm] !== hex.length) return undefined
  return {algorithm: algorithm as ParsedDigest['algorithm'], hex}
}

/** Accept `sha256:<hex>` or a bare 64-hex string (any case) from a user; return `sha256:<hex>` or undefined. */
export function normalizeUserDigest(input: string): string | undefined {
  const trimmed = input.trim().toLowerCase()
  const full = /^[a-f0-9]{64}$/.test(trimmed) ? `sha256:${trimmed}` : trimmed
  return parseDigest(full) ? full : undefined
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`
}

/** The relative path of a blob inside an OCI layout; the digest must already be validated. */
export function blobPath(d: ParsedDigest): string {
  return `blobs/${d.algorithm}/${d.hex}`
}
