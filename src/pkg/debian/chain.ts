/**
 * Debian's signature chain, from the archive keyring to every package byte:
 *
 *   keyring ──gpgv──▶ InRelease (Valid-Until) ──SHA256+size──▶ Packages ──SHA256+size──▶ package file
 *
 * `recordChain` is what `hash generate` writes beside a hash file (chain-file.ts); `verifyChain` re-checks every
 * link from saved indexes or apt's lists, offline, with gpgv. Any broken link is a ChainError (E_CHAIN, exit 2)
 * naming it: which InRelease, which Packages file, which package.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {basename, join, posix, resolve} from 'node:path'

import {ChainError, HashFileError, InvalidArgumentError, ReproError} from '../../errors.js'
import type {Exec} from '../../exec.js'
import type {Logger} from '../../log.js'
import type {PackageCache} from '../cache.js'
import {aptKey, type AptPackage, indexPackages} from '../deb822.js'
import {decompressByName} from '../decompress.js'
import {type HashEntry, parseHashFiles} from '../hash-file.js'
import {
  type AptLists,
  aptListName,
  baseOf,
  COMPRESSIONS,
  listNames,
  type PackagesList,
  type ReleaseFiles,
  scanAptLists,
} from './apt-lists.js'
import {
  type ChainDigest,
  type ChainFile,
  type ChainPackage,
  MAX_CHAIN_FILE_BYTES,
  parseChainFile,
} from './chain-file.js'
import {gpgvVerify} from './gpgv.js'
import {checkClearSigned, parseRelease, type ReleaseFile} from './release.js'
import {sha256Hex} from '../../image/digest.js'

/** Real InRelease files are 35-300 KB; anything this big is refused before it is read. */
export const MAX_RELEASE_BYTES = 32 * 1024 * 1024
/** Debian's largest Packages index is ~50 MB uncompressed. */
export const MAX_PACKAGES_BYTES = 1024 * 1024 * 1024

export const DEFAULT_KEYRINGS: Record<'debian' | 'ubuntu', string> = {
  debian: '/usr/share/keyrings/debian-archive-keyring.gpg',
  ubuntu: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
}

const sha256 = (b: Buffer | string): string => sha256Hex(b)

async function readBounded(file: string, max: number, what: string): Promise<Buffer> {
  let size: number
  try {
    const st = await stat(file)
    if (!st.isFile()) throw new ChainError(`${what} ${file}: not a regular file`)
    size = st.size
  } catch (error) {
    if (error instanceof ReproError) throw error
    throw new ChainError(`${what} ${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  if (size > max) throw new ChainError(`${what} ${file}: ${size} bytes, more than the ${max} bytes accepted`)
  try {
    return await readFile(file)
  } catch (error) {
    throw new ChainError(`${what} ${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
}

export async function readAptLists(dir: string): Promise<AptLists> {
  const names = await listNames(dir)
  if (!names)
    throw new ChainError(`${dir}: cannot read the indexes directory`, [
      'pass --indexes DIR (saved InRelease and Packages files, named as in /var/lib/apt/lists) or run apt-get update',
    ])
  return scanAptLists(dir, names)
}

/** The signed release file of a release directory: the InRelease, else a Release with its Release.gpg. */
function releaseFileOf(r: ReleaseFiles): string | undefined {
  return r.inRelease ?? r.release
}

/** Decompress a Packages list, bounded (hostile compression), errors naming the file. */
async function decompressList(list: PackagesList, raw: Buffer, exec: Exec, maxBytes: number): Promise<Buffer> {
  try {
    return await decompressByName(list.file, raw, exec, {maxBytes})
  } catch (error) {
    if (error instanceof ReproError)
      throw new ChainError(`Packages ${error.message}`, [
        'the file is truncated, corrupt or not what the InRelease signs',
      ])
    throw new ChainError(`Packages ${list.file}: cannot decompress: ${(error as Error).message}`)
  }
}

// ---- recording (hash generate)

export interface FoundPackage {
  /** the hash-file entry name (Filename) */
  filename: string
  hit: AptPackage
  list: PackagesList
  /** the list's decompressed text (what the digest is taken of) */
  text: Buffer
}

/**
 * The chain file for packages found in apt lists: each package's repository and the digests of the release file
 * and Packages index it came from. A list no signed release file covers cannot be recorded: an error naming it.
 */
export async function recordChain(
  lists: AptLists,
  found: FoundPackage[],
  distro: 'debian' | 'ubuntu',
): Promise<ChainFile> {
  const releaseDigests = new Map<string, {sha256: string; size: number}>()
  const indexDigests = new Map<string, {sha256: string; size: number}>()
  const packages: ChainPackage[] = []
  for (const f of found) {
    const base = f.list.base
    const rel = base === undefined ? undefined : lists.releases.get(base)
    const relFile = rel && releaseFileOf(rel)
    if (!rel || !relFile || base === undefined)
      throw new ChainError(
        `Packages ${f.list.file}: no InRelease (or Release + Release.gpg) in ${lists.dir} covers it, so the chain of ${f.filename} cannot be recorded`,
        ['run apt-get update so apt keeps the signed release files, or leave out -o/--chain'],
      )
    let rd = releaseDigests.get(base)
    if (!rd) {
      const raw = await readBounded(relFile, MAX_RELEASE_BYTES, 'InRelease')
      rd = {sha256: sha256(raw), size: raw.length}
      releaseDigests.set(base, rd)
    }
    let id = indexDigests.get(f.list.file)
    if (!id) {
      id = {sha256: sha256(f.text), size: f.text.length}
      indexDigests.set(f.list.file, id)
    }
    packages.push({
      filename: f.filename,
      package: f.hit.package,
      version: f.hit.version,
      architecture: f.hit.architecture,
      sha256: f.hit.sha256,
      size: f.hit.size ?? 0,
      repository: {
        origin: rel.origin,
        suite: rel.suite,
        component: f.list.component,
        architecture: f.list.architecture,
      },
      inRelease: rd,
      packages: {path: f.list.path, ...id},
    })
  }
  return {format: 'repro-chain/v1', distro, packages}
}

// ---- verification (hash verify, get --verify-chain)

export interface VerifyChainOptions {
  /** hash files, each with the chain file that describes it */
  files: {hashFile: string; chainFile: string}[]
  /** a directory of saved indexes named as in /var/lib/apt/lists (or apt's lists directory itself) */
  indexes: string
  /** keyrings for gpgv; empty: the distro's archive keyring */
  keyrings: string[]
  allowExpired: boolean
  now: Date
  /** directories that may hold the package files, under their hash-file name or their basename */
  debs: string[]
  cache?: PackageCache
  exec: Exec
  logger: Logger
}

export interface VerifiedRelease {
  origin: string
  suite: string
  /** the release file's name in the indexes directory */
  file: string
  sha256: string
  signedBy: string[]
  date?: string
  validUntil?: string
  expired: boolean
  /** the chain file recorded another InRelease digest: the chain was re-established through this one */
  differsFromRecorded: boolean
}

export interface VerifiedIndex {
  origin: string
  suite: string
  path: string
  file: string
  sha256: string
  size: number
}

export interface VerifyChainResult {
  verified: true
  indexes: string
  keyrings: string[]
  allowExpired: boolean
  files: {hashFile: string; chainFile: string; packages: number}[]
  releases: VerifiedRelease[]
  packagesIndexes: VerifiedIndex[]
  packages: number
  /** package files found (--debs, the cache) and hashed against Packages */
  filesHashed: number
  /** names of the hash-file entries whose bytes were not at hand (only their sha256 was checked) */
  filesNotFound: string[]
}

interface LoadedRelease {
  what: string
  parsed: ReleaseFile
  out: VerifiedRelease
}

async function verifyRelease(
  rel: ReleaseFiles,
  o: VerifyChainOptions,
  keyrings: string[],
  recorded: string,
): Promise<LoadedRelease> {
  const file = releaseFileOf(rel)!
  const what = `${rel.inRelease ? 'InRelease' : 'Release'} ${file}`
  const raw = await readBounded(file, MAX_RELEASE_BYTES, rel.inRelease ? 'InRelease' : 'Release')
  let signed: string
  let signers
  if (rel.inRelease) {
    checkClearSigned(raw.toString('utf8'), what)
    ;({signed, signers} = await gpgvVerify({exec: o.exec, keyrings, file, data: raw, what}))
  } else {
    ;({signers} = await gpgvVerify({exec: o.exec, keyrings, file, data: raw, signature: rel.releaseGpg, what}))
    signed = raw.toString('utf8')
  }
  const parsed = parseRelease(signed, what)
  if (rel.suite && parsed.suite !== rel.suite && parsed.codename !== rel.suite)
    throw new ChainError(
      `${what}: signed for suite "${parsed.suite ?? ''}" (codename "${parsed.codename ?? ''}"), not for ${rel.suite}: a release file of another suite`,
    )
  let expired = false
  if (parsed.validUntil && o.now.getTime() > parsed.validUntil.getTime()) {
    if (!o.allowExpired)
      throw new ChainError(
        `${what}: expired: Valid-Until ${parsed.validUntil.toISOString()} is before now (${o.now.toISOString()})`,
        ['for a saved snapshot of the indexes, pass --allow-expired (it is recorded in the result)'],
      )
    expired = true
    o.logger.warn(`${what}: expired on ${parsed.validUntil.toISOString()}, accepted because of --allow-expired`)
  }
  const digest = sha256(raw)
  return {
    what,
    parsed,
    out: {
      origin: rel.origin,
      suite: rel.suite,
      file: basename(file),
      sha256: digest,
      signedBy: signers.map((s) => s.fingerprint).sort(),
      date: parsed.date?.toISOString(),
      validUntil: parsed.validUntil?.toISOString(),
      expired,
      differsFromRecorded: digest !== recorded,
    },
  }
}

/** Check a Packages list against the release's SHA256 list; returns its decompressed text. */
async function verifyPackagesList(
  list: PackagesList,
  release: LoadedRelease,
  exec: Exec,
): Promise<{text: Buffer; out: Omit<VerifiedIndex, 'origin' | 'suite'>}> {
  const plain = release.parsed.sha256.get(list.path)
  const asStored = list.compression ? release.parsed.sha256.get(list.path + list.compression) : undefined
  if (!plain && !asStored)
    throw new ChainError(
      `${release.what} does not list ${list.path}: the Packages file ${list.file} is not covered by its signature`,
    )
  const raw = await readBounded(list.file, MAX_PACKAGES_BYTES, 'Packages')
  const mismatch = (got: ChainDigest, how: string, listed: string, want: ChainDigest): ChainError =>
    new ChainError(
      `Packages ${list.file}: sha256 ${got.sha256} (${got.size} bytes${how}) is not what ${release.what} lists for ${listed}: ${want.sha256} (${want.size} bytes)`,
      [
        'the Packages file was modified, truncated or belongs to another InRelease: run apt-get update, or use the indexes saved with the hash file',
      ],
    )
  const out = (d: ChainDigest): Omit<VerifiedIndex, 'origin' | 'suite'> => ({path: list.path, file: list.name, ...d})
  if (asStored) {
    // the bytes as apt stored them are what the release signs (e.g. a saved Packages.xz)
    const got = {sha256: sha256(raw), size: raw.length}
    if (got.sha256 === asStored.sha256 && got.size === asStored.size)
      return {text: await decompressList(list, raw, exec, plain?.size ?? MAX_PACKAGES_BYTES), out: out(asStored)}
    if (!plain) throw mismatch(got, '', list.path + list.compression, asStored)
  }
  const want = plain!
  const text = await decompressList(list, raw, exec, want.size)
  const got = {sha256: sha256(text), size: text.length}
  if (got.sha256 !== want.sha256 || got.size !== want.size)
    throw mismatch(got, list.compression ? ', decompressed' : '', list.path, want)
  return {text, out: out(got)}
}

async function hashFileStream(path: string): Promise<{sha256: string; size: number}> {
  const h = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return {sha256: h.digest('hex'), size}
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

async function readChainFile(file: string): Promise<ChainFile> {
  if (!(await isFile(file)))
    throw new ChainError(`chain file ${file}: not found`, [
      'write the hash file and its chain with repro hash generate -o FILE (or --chain CHAINFILE), or name it with --chain',
    ])
  return parseChainFile((await readBounded(file, MAX_CHAIN_FILE_BYTES, 'chain file')).toString('utf8'), file)
}

async function readHashFile(file: string): Promise<HashEntry[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new HashFileError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  return parseHashFiles([{file, text}])
}

const describe = (p: ChainPackage): string => `package ${p.package} ${p.version} ${p.architecture} (${p.filename})`

export async function verifyChain(o: VerifyChainOptions): Promise<VerifyChainResult> {
  for (const d of o.debs) {
    const isDir = await stat(d).then(
      (st) => st.isDirectory(),
      () => false,
    )
    if (!isDir) throw new InvalidArgumentError(`--debs ${d}: not a directory`)
  }
  // 1. the hash files and their chain files agree, entry by entry
  const wanted: {entry: HashEntry; record: ChainPackage}[] = []
  const files: VerifyChainResult['files'] = []
  let distro: ChainFile['distro'] | undefined
  for (const {hashFile, chainFile} of o.files) {
    const entries = await readHashFile(hashFile)
    const chain = await readChainFile(chainFile)
    distro ??= chain.distro
    const byName = new Map(chain.packages.map((p) => [p.filename, p]))
    for (const entry of entries) {
      const record = byName.get(entry.name)
      const at = `${hashFile}:${entry.source.line}: ${entry.name}`
      if (!record)
        throw new ChainError(`${at}: no record in the chain file ${chainFile}`, [
          'regenerate both with repro hash generate -o FILE',
        ])
      if (record.sha256 !== entry.sha256)
        throw new ChainError(
          `${at}: sha256 ${entry.sha256} differs from the chain file ${chainFile} (${record.sha256})`,
        )
      wanted.push({entry, record})
    }
    files.push({hashFile, chainFile, packages: entries.length})
  }
  const keyrings = o.keyrings.length ? o.keyrings : [DEFAULT_KEYRINGS[distro ?? 'debian']]
  for (const k of keyrings)
    if (!(await isFile(k)))
      throw new ChainError(`keyring ${k}: not found`, [
        distro === 'ubuntu'
          ? 'apt-get install ubuntu-keyring, or pass --keyring FILE'
          : 'apt-get install debian-archive-keyring, or pass --keyring FILE',
      ])

  // 2. each release once: signature, suite, Valid-Until
  const lists = await readAptLists(o.indexes)
  const releases = new Map<string, LoadedRelease>()
  for (const {record} of wanted) {
    const base = baseOf(record.repository.origin, record.repository.suite)
    if (releases.has(base)) continue
    const rel = lists.releases.get(base)
    if (!rel)
      throw new ChainError(
        `${describe(record)}: no InRelease for ${base} in ${o.indexes} (expected ${aptListName(`${base}/InRelease`)})`,
        ['pass --indexes DIR with the indexes saved when the hash file was generated'],
      )
    releases.set(base, await verifyRelease(rel, o, keyrings, record.inRelease.sha256))
  }

  // 3. each Packages index once: its digest as the release lists it; 4. each package as the index lists it
  const byIndex = new Map<string, {base: string; path: string; records: ChainPackage[]}>()
  for (const {record} of wanted) {
    const base = baseOf(record.repository.origin, record.repository.suite)
    const k = `${base}\0${record.packages.path}`
    const g = byIndex.get(k) ?? {base, path: record.packages.path, records: []}
    g.records.push(record)
    byIndex.set(k, g)
  }
  const packagesIndexes: VerifiedIndex[] = []
  for (const g of [...byIndex.values()].sort((a, b) => (a.base + a.path < b.base + b.path ? -1 : 1))) {
    const release = releases.get(g.base)!
    const candidates = lists.packages.filter((l) => l.base === g.base && l.path === g.path)
    candidates.sort(
      (a, b) => COMPRESSIONS.indexOf(a.compression as never) - COMPRESSIONS.indexOf(b.compression as never),
    )
    const list = candidates[0]
    if (!list)
      throw new ChainError(
        `${describe(g.records[0])}: no Packages file for ${g.path} of ${g.base} in ${o.indexes} (expected ${aptListName(`${g.base}/${g.path}`)}[${COMPRESSIONS.filter(Boolean).join('|')}])`,
      )
    const {text, out} = await verifyPackagesList(list, release, o.exec)
    packagesIndexes.push({origin: release.out.origin, suite: release.out.suite, ...out})
    const index = indexPackages(text, new Map(), new Set(g.records.map((r) => r.package)))
    for (const r of g.records) {
      const hit = index.get(aptKey(r.package, r.version, r.architecture))
      const where = `Packages ${list.file} (signed through ${release.what})`
      if (!hit) throw new ChainError(`${describe(r)}: not listed in ${where}`)
      if (hit.filename !== r.filename)
        throw new ChainError(`${describe(r)}: ${where} lists this version as ${hit.filename}, not ${r.filename}`)
      if (hit.sha256 !== r.sha256)
        throw new ChainError(`${describe(r)}: sha256 ${r.sha256} is not listed in ${where}, which lists ${hit.sha256}`)
      if (hit.size !== undefined && hit.size !== r.size)
        throw new ChainError(`${describe(r)}: size ${r.size} differs from ${where}, which lists ${hit.size}`)
    }
  }

  // 5. the bytes, where the files are at hand
  let filesHashed = 0
  const filesNotFound: string[] = []
  for (const {entry, record} of wanted) {
    const candidates = [
      ...o.debs.flatMap((d) => [join(d, ...entry.name.split('/')), join(d, posix.basename(entry.name))]),
      ...(o.cache ? [o.cache.blobPath(entry.sha256)] : []),
    ]
    let found: string | undefined
    for (const c of candidates) {
      if (await isFile(c)) {
        found = c
        break
      }
    }
    if (!found) {
      filesNotFound.push(entry.name)
      continue
    }
    const got = await hashFileStream(found)
    if (got.sha256 !== record.sha256 || got.size !== record.size)
      throw new ChainError(
        `${describe(record)}: the file ${found} has sha256 ${got.sha256} (${got.size} bytes), Packages lists ${record.sha256} (${record.size} bytes)`,
      )
    filesHashed++
  }
  return {
    verified: true,
    indexes: o.indexes,
    keyrings,
    allowExpired: o.allowExpired,
    files,
    releases: [...releases.values()].map((r) => r.out).sort((a, b) => (a.file < b.file ? -1 : 1)),
    packagesIndexes,
    packages: wanted.length,
    filesHashed,
    filesNotFound,
  }
}

// ---- the commands' entry points (hash verify, get --verify-chain)

export interface ChainFlags {
  root?: string
  indexes?: string
  keyring?: string[]
  allowExpired?: boolean
  /** only with one hash file: its chain file (default FILE.chain.json) */
  chain?: string
  debs?: string[]
}

export interface ChainDeps {
  exec: Exec
  logger: Logger
  cache?: PackageCache
  now?: Date
}

export function chainOptions(hashFiles: string[], flags: ChainFlags, deps: ChainDeps): VerifyChainOptions {
  if (hashFiles.length === 0) throw new InvalidArgumentError('no hash file given')
  if (flags.chain && hashFiles.length > 1)
    throw new InvalidArgumentError(`--chain names one chain file, but ${hashFiles.length} hash files were given`)
  return {
    files: hashFiles.map((f) => ({hashFile: f, chainFile: flags.chain ?? `${f}.chain.json`})),
    indexes: resolve(flags.indexes ?? join(flags.root ?? '/', 'var/lib/apt/lists')),
    keyrings: (flags.keyring ?? []).map((k) => resolve(k)),
    allowExpired: Boolean(flags.allowExpired),
    now: deps.now ?? new Date(),
    debs: (flags.debs ?? []).map((d) => resolve(d)),
    cache: deps.cache,
    exec: deps.exec,
    logger: deps.logger,
  }
}

/** `repro hash verify FILE...`: the chain of every entry, and the bytes of the files at hand. */
export async function hashVerify(hashFiles: string[], flags: ChainFlags, deps: ChainDeps): Promise<VerifyChainResult> {
  return verifyChain(chainOptions(hashFiles, flags, deps))
}
