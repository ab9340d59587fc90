/**
 * The chain sidecar of a hash file (`SHA256SUMS.chain.json`): for each package, the repository it was found in
 * and the digests of the InRelease and the Packages index it was found through, so `hash verify` can re-check
 * keyring → InRelease → Packages → package. The hash file itself stays plain `sha256sum -c` lines.
 *
 * Deterministic: keys sorted, packages sorted by file name, two-space indent, no times and no host paths
 * (origins are apt's scheme-less URIs, e.g. deb.debian.org/debian).
 */
import {randomBytes} from 'node:crypto'
import {rename, rm, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {ChainError} from '../../errors.js'
import {checkEntryName, compareNames} from '../hash-file.js'

export const CHAIN_FORMAT = 'repro-chain/v1'
/** a chain file is refused above this size before it is parsed */
export const MAX_CHAIN_FILE_BYTES = 64 * 1024 * 1024
const MAX_PACKAGES = 200_000
const MAX_STRING = 4096

export interface ChainDigest {
  sha256: string
  size: number
}

export interface ChainPackage {
  /** the name in the hash file (the Filename field of Packages) */
  filename: string
  package: string
  version: string
  architecture: string
  sha256: string
  size: number
  repository: {origin: string; suite: string; component: string; architecture: string}
  /** the signed release file it was found through (InRelease; Release when the signature is detached) */
  inRelease: ChainDigest
  /** the Packages index, uncompressed, at its path in the release */
  packages: ChainDigest & {path: string}
}

export interface ChainFile {
  format: typeof CHAIN_FORMAT
  distro: 'debian' | 'ubuntu'
  packages: ChainPackage[]
}

/** JSON with every object's keys sorted, two-space indent, trailing newline. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v
  return `${JSON.stringify(sort(value), null, 2)}\n`
}

export function formatChainFile(chain: ChainFile): string {
  return canonicalJson({...chain, packages: [...chain.packages].sort((a, b) => compareNames(a.filename, b.filename))})
}

/** Parse and validate a chain file's text; every problem is a ChainError naming the file and the field. */
export function parseChainFile(text: string, file: string): ChainFile {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (error) {
    throw new ChainError(`${file}: chain file is not valid JSON: ${(error as Error).message}`)
  }
  const fail = (at: string, problem: string): never => {
    throw new ChainError(`${file}: chain file: ${at}: ${problem}`)
  }
  const obj = (v: unknown, at: string): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(at, 'not an object')
  const str = (v: unknown, at: string, empty = false): string =>
    typeof v !== 'string'
      ? fail(at, 'not a string')
      : (!empty && v === '') || v.length > MAX_STRING || v.includes('\0') || v.includes('\n')
        ? fail(at, 'empty, too long or with control characters')
        : v
  const sha = (v: unknown, at: string): string =>
    typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : fail(at, 'not a lowercase sha256 (64 hex digits)')
  const size = (v: unknown, at: string): number =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : fail(at, 'not a non-negative integer')
  const top = obj(doc, 'top level')
  if (top.format !== CHAIN_FORMAT) fail('format', `expected "${CHAIN_FORMAT}", got ${JSON.stringify(top.format)}`)
  if (top.distro !== 'debian' && top.distro !== 'ubuntu') fail('distro', 'expected "debian" or "ubuntu"')
  if (!Array.isArray(top.packages)) fail('packages', 'not an array')
  const list = top.packages as unknown[]
  if (list.length > MAX_PACKAGES) fail('packages', `more than ${MAX_PACKAGES} entries`)
  const seen = new Set<string>()
  const packages = list.map((raw, i): ChainPackage => {
    const at = `packages[${i}]`
    const p = obj(raw, at)
    const filename = str(p.filename, `${at}.filename`)
    const bad = checkEntryName(filename)
    if (bad) fail(`${at}.filename`, bad)
    if (seen.has(filename)) fail(`${at}.filename`, `${filename} appears twice`)
    seen.add(filename)
    const repo = obj(p.repository, `${at}.repository`)
    const ir = obj(p.inRelease, `${at}.inRelease`)
    const ix = obj(p.packages, `${at}.packages`)
    const path = str(ix.path, `${at}.packages.path`)
    if (path.startsWith('/') || path.split('/').includes('..')) fail(`${at}.packages.path`, `unsafe path ${path}`)
    return {
      filename,
      package: str(p.package, `${at}.package`),
      version: str(p.version, `${at}.version`),
      architecture: str(p.architecture, `${at}.architecture`),
      sha256: sha(p.sha256, `${at}.sha256`),
      size: size(p.size, `${at}.size`),
      repository: {
        origin: str(repo.origin, `${at}.repository.origin`),
        suite: str(repo.suite, `${at}.repository.suite`, true),
        component: str(repo.component, `${at}.repository.component`, true),
        architecture: str(repo.architecture, `${at}.repository.architecture`, true),
      },
      inRelease: {sha256: sha(ir.sha256, `${at}.inRelease.sha256`), size: size(ir.size, `${at}.inRelease.size`)},
      packages: {path, sha256: sha(ix.sha256, `${at}.packages.sha256`), size: size(ix.size, `${at}.packages.size`)},
    }
  })
  return {format: CHAIN_FORMAT, distro: top.distro as ChainFile['distro'], packages}
}

/**
 * Write files so that none is half-written: every temp file first (beside its target, same filesystem), then
 * the renames; on a failure the temp files are removed and no target is touched.
 */
export async function writeFilesAtomically(files: {path: string; text: string}[]): Promise<void> {
  const temps: string[] = []
  try {
    for (const f of files) {
      const tmp = join(dirname(f.path), `.${basename(f.path)}.${randomBytes(4).toString('hex')}.tmp`)
      temps.push(tmp)
      await writeFile(tmp, f.text)
    }
  } catch (error) {
    await Promise.all(temps.map((t) => rm(t, {force: true})))
    throw new ChainError(
      `cannot write ${files.map((f) => f.path).join(' and ')}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    )
  }
  for (const [i, f] of files.entries()) await rename(temps[i], f.path)
}
