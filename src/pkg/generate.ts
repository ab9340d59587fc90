/**
 * `hash generate`: the hash file of the INSTALLED packages of a root filesystem, from metadata that already
 * carries sha256 checksums, without downloading packages:
 *   debian/ubuntu  dpkg status + apt lists (Packages, .lz4/.gz/.xz/.zst)
 *   fedora         `rpm -qa` (through Exec, with --root) + repodata primary.xml in dnf's caches
 *   arch           pacman local db + sync dbs (%SHA256SUM%, and %PGPSIG% gives the .sig file)
 *   alpine         APKINDEX only has a SHA-1 of the control segment, so the .apk files themselves are hashed
 *                  from apk's local cache; a package with no cached file is an error naming it.
 */
import {createHash} from 'node:crypto'
import {readdir, readFile, stat} from 'node:fs/promises'
import {join, posix} from 'node:path'

import {ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import type {Logger} from '../log.js'
import {parseApkIndex} from './apk-meta.js'
import {sha256File} from './cache.js'
import {aptKey, indexPackages, parseDpkgStatus} from './deb822.js'
import {listNames, scanAptLists} from './debian/apt-lists.js'
import {type FoundPackage, recordChain} from './debian/chain.js'
import type {ChainFile} from './debian/chain-file.js'
import {decompressByName} from './decompress.js'
import type {Distro} from './distro.js'
import type {GeneratedEntry} from './hash-file.js'
import {checkEntryName, quoteName} from './hash-file.js'
import {rpmDbPath, rpmRootArgs} from './install.js'
import {archArchiveName, checkPacmanDesc, type PacmanDesc} from './pacman-meta.js'
import {kojiName, parsePrimaryXml, parseRpmQa, RPM_QA_FORMAT, type RpmRepoPackage} from './rpm-meta.js'
import {readTar} from './tar-entries.js'
import {sha256Hex} from '../image/digest.js'

export class GenerateError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_HASH_GENERATE', message, {suggestions})
  }
}

export interface GenerateOptions {
  root: string
  distro: Distro
  /** package names to include (default: every installed package); `name:arch` accepted for dpkg */
  packages: string[]
  exec: Exec
  logger: Logger
  /** debian/ubuntu: also record each package's signature chain (the result's `chain`) */
  chain?: boolean
  /** debian/ubuntu: the apt lists to read (saved indexes); default ROOT/var/lib/apt/lists */
  indexes?: string
  /** fedora/arch: at most this many bytes of one metadata file, compressed or not (default 1 GiB) */
  maxMetadataBytes?: number
}

const MAX_METADATA_BYTES = 1 << 30
/** a local desc is a few hundred bytes; 1 MiB is far above any real one */
const MAX_DESC_BYTES = 1 << 20

/** Read a metadata file of at most max bytes (checked before reading), or fail naming it. */
async function readBounded(file: string, max: number): Promise<Buffer> {
  let size: number
  try {
    const st = await stat(file)
    if (!st.isFile()) throw new GenerateError(`${file}: not a regular file`)
    size = st.size
  } catch (error) {
    if (error instanceof GenerateError) throw error
    throw new GenerateError(
      `${file}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  if (size > max) throw new GenerateError(`${file}: ${size} bytes, over the ${max}-byte limit for metadata`)
  return readFile(file)
}

/** A generated hash-file name must pass the grammar every reader applies; say which metadata made it. */
function checkedName(name: string, file: string): string {
  const problem = checkEntryName(name)
  if (problem) throw new GenerateError(`${file}: ${problem}`)
  return name
}

export interface GenerateResult {
  distro: Distro
  root: string
  entries: GeneratedEntry[]
  /** metadata files read, relative to root */
  sources: string[]
  /** debian/ubuntu with `chain`: the chain file describing `entries` */
  chain?: ChainFile
}

export async function generateHashes(o: GenerateOptions): Promise<GenerateResult> {
  switch (o.distro) {
    case 'debian':
    case 'ubuntu':
      return generateDpkg(o)
    case 'fedora':
      return generateRpm(o)
    case 'arch':
      return generatePacman(o)
    case 'alpine':
      return generateApk(o)
  }
}

const rel = (root: string, p: string): string => `/${posix.relative(root, p)}`

async function readRoot(root: string, path: string, what: string, hint?: string): Promise<string> {
  try {
    return await readFile(join(root, path), 'utf8')
  } catch (error) {
    throw new GenerateError(
      `${join(root, path)}: cannot read the ${what}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      hint ? [hint] : [],
    )
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

/** Select requested names from the installed set; unknown names are an error, never skipped. */
function select<T>(installed: T[], wanted: string[], keys: (t: T) => string[], root: string): T[] {
  if (wanted.length === 0) return installed
  const out: T[] = []
  const missing: string[] = []
  for (const w of wanted) {
    const hits = installed.filter((t) => keys(t).includes(w))
    if (hits.length === 0) missing.push(w)
    for (const h of hits) if (!out.includes(h)) out.push(h)
  }
  if (missing.length)
    throw new GenerateError(`package${missing.length > 1 ? 's' : ''} not installed in ${root}: ${missing.join(', ')}`, [
      'install them first, then run hash generate',
    ])
  return out
}

function missingError(what: string[], where: string, hint: string): GenerateError {
  const shown = what.slice(0, 10).join(', ') + (what.length > 10 ? `, ... (${what.length} in all)` : '')
  return new GenerateError(`installed package${what.length > 1 ? 's' : ''} not found in ${where}: ${shown}`, [hint])
}

async function generateDpkg(o: GenerateOptions): Promise<GenerateResult> {
  const status = parseDpkgStatus(await readRoot(o.root, 'var/lib/dpkg/status', 'dpkg status database'))
  const chosen = select(status, o.packages, (p) => [p.package, `${p.package}:${p.architecture}`], o.root)
  const listsDir = o.indexes ?? join(o.root, 'var/lib/apt/lists')
  const apt = scanAptLists(listsDir, (await listNames(listsDir)) ?? [])
  if (apt.packages.length === 0)
    throw new GenerateError(`${listsDir}: no apt lists (*_Packages)`, ['run apt-get update in the root first'])
  const wanted = new Set(chosen.map((p) => p.package))
  const perList = await Promise.all(
    apt.packages.map(async (list) => {
      const text = await decompressByName(list.file, await readFile(list.file), o.exec)
      return {list, text, index: indexPackages(text, new Map(), wanted)}
    }),
  )
  // the first list (in file-name order) that has a version wins
  const index = new Map<string, FoundPackage>()
  for (const {list, text, index: one} of perList)
    for (const [k, hit] of one) if (!index.has(k)) index.set(k, {filename: hit.filename, hit, list, text})
  const found = new Map<string, FoundPackage>()
  const missing: string[] = []
  for (const p of chosen) {
    const hit = index.get(aptKey(p.package, p.version, p.architecture))
    if (hit) found.set(hit.filename, hit)
    else missing.push(`${p.package}=${p.version} (${p.architecture})`)
  }
  if (missing.length)
    throw missingError(
      missing,
      `${listsDir}/*_Packages`,
      'the installed version is no longer in the lists: point apt at a snapshot of the date it was installed, apt-get update, then retry',
    )
  const entries = [...found.values()].map((f) => ({sha256: f.hit.sha256, name: f.filename}))
  return {
    distro: o.distro,
    root: o.root,
    entries: uniq(entries),
    sources: ['/var/lib/dpkg/status', ...apt.packages.map((l) => (o.indexes ? l.file : rel(o.root, l.file)))],
    chain: o.chain ? await recordChain(apt, [...found.values()], o.distro as 'debian' | 'ubuntu') : undefined,
  }
}

async function generateRpm(o: GenerateOptions): Promise<GenerateResult> {
  const max = o.maxMetadataBytes ?? MAX_METADATA_BYTES
  const dbpath = await rpmDbPath(o.root)
  // rpm would create an empty database in a root without one: a read-only command must not
  if (
    dbpath &&
    !(await stat(join(o.root, dbpath)).then(
      (st) => st.isDirectory(),
      () => false,
    ))
  )
    throw new GenerateError(`${o.root}: no rpm database (neither usr/lib/sysimage/rpm nor var/lib/rpm)`, [
      'is this a Fedora root filesystem? pass --root',
    ])
  const argv = ['rpm', ...rpmRootArgs(o.root, dbpath), '-qa', '--queryformat', RPM_QA_FORMAT]
  const r = await o.exec(argv, {reject: false})
  if (r.notFound)
    throw new GenerateError('rpm: not found; hash generate for fedora reads the installed set with rpm -qa', [
      'install rpm',
    ])
  if (r.exitCode !== 0) throw new GenerateError(`rpm -qa failed: ${r.stderr.trim().split('\n').at(-1) ?? ''}`)
  const installed = parseRpmQa(r.stdout)
  const chosen = select(installed, o.packages, (p) => [p.name, `${p.name}.${p.arch}`], o.root)
  const repodirs: string[] = []
  for (const cacheRoot of ['var/cache/dnf', 'var/cache/libdnf5', 'var/cache/yum']) {
    for (const repo of await listDir(join(o.root, cacheRoot))) {
      const dir = join(o.root, cacheRoot, repo, 'repodata')
      for (const n of await listDir(dir)) if (/primary\.xml(\.(gz|zst|xz|bz2))?$/.test(n)) repodirs.push(join(dir, n))
    }
  }
  if (repodirs.length === 0)
    throw new GenerateError(`${join(o.root, 'var/cache/dnf')}: no repodata primary.xml found`, [
      'run dnf makecache in the root first',
    ])
  const index = new Map<string, {p: RpmRepoPackage; file: string}>()
  for (const file of repodirs) {
    const xml = (await decompressByName(file, await readBounded(file, max), o.exec, {maxBytes: max})).toString('utf8')
    for (const p of parsePrimaryXml(xml, file)) {
      const k = `${p.name}\0${p.epoch}\0${p.version}\0${p.release}\0${p.arch}`
      if (!index.has(k)) index.set(k, {p, file})
    }
  }
  const entries: GeneratedEntry[] = []
  const missing: string[] = []
  for (const p of chosen) {
    const found = index.get(`${p.name}\0${p.epoch}\0${p.version}\0${p.release}\0${p.arch}`)
    if (!found) {
      missing.push(`${p.name}-${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}.${p.arch}`)
      continue
    }
    const hit = found.p
    if (hit.checksumType !== 'sha256')
      throw new GenerateError(
        `${found.file}: ${hit.name}: the repodata checksum is ${hit.checksumType}, not sha256; cannot make a hash file from it`,
      )
    entries.push({sha256: hit.checksum, name: checkedName(kojiName(hit), found.file)})
  }
  if (missing.length)
    throw missingError(
      missing,
      'the repodata',
      'run dnf makecache (with the repositories the packages came from) and retry',
    )
  return {distro: o.distro, root: o.root, entries: uniq(entries), sources: repodirs.map((f) => rel(o.root, f))}
}

async function generatePacman(o: GenerateOptions): Promise<GenerateResult> {
  const max = o.maxMetadataBytes ?? MAX_METADATA_BYTES
  const localDir = join(o.root, 'var/lib/pacman/local')
  const installed: PacmanDesc[] = []
  for (const n of await listDir(localDir)) {
    const file = join(localDir, n, 'desc')
    let st
    try {
      st = await stat(file)
    } catch {
      continue // ALPM_DB_VERSION and other non-package entries
    }
    if (!st.isFile()) throw new GenerateError(`${file}: not a regular file`)
    const text = (await readBounded(file, MAX_DESC_BYTES)).toString('utf8')
    installed.push(checkPacmanDesc(text, file, false))
  }
  if (installed.length === 0) throw new GenerateError(`${localDir}: no installed packages found`)
  const chosen = select(installed, o.packages, (p) => [p.name], o.root)
  const syncDir = join(o.root, 'var/lib/pacman/sync')
  const dbs = (await listDir(syncDir)).filter((n) => n.endsWith('.db'))
  if (dbs.length === 0)
    throw new GenerateError(`${syncDir}: no sync databases (*.db)`, ['run pacman -Sy in the root first'])
  const index = new Map<string, {desc: PacmanDesc & {filename: string; sha256: string}; sig?: Buffer; file: string}>()
  for (const db of dbs) {
    const file = join(syncDir, db)
    const raw = await readBounded(file, max)
    // sync dbs are gzip or zstd tars whatever their extension says: look at the magic
    const kind =
      raw[0] === 0x1f && raw[1] === 0x8b
        ? '.gz'
        : raw.length >= 4 && raw.readUInt32LE(0) === 0xfd2fb528
          ? '.zst'
          : raw[0] === 0xfd
            ? '.xz'
            : ''
    const tar = await decompressByName(`${file}${kind}`, raw, o.exec, {maxBytes: max})
    if (tar.length < 1024 || tar.length % 512 !== 0)
      throw new GenerateError(`${file}: not a tar archive (${tar.length} bytes; truncated?)`)
    for (const e of readTar(tar)) {
      if (!e.path.endsWith('/desc')) continue
      const text = e.data.toString('utf8')
      const entry = `${file}: ${quoteName(e.path, 80)}`
      const d = checkPacmanDesc(text, entry, true)
      const sigB64 = /%PGPSIG%\n([^\n]*)/.exec(text)?.[1]
      if (sigB64 !== undefined && (sigB64.length > 65536 || !/^[A-Za-z0-9+/]+={0,2}$/.test(sigB64)))
        throw new GenerateError(`${entry}: %PGPSIG% is not base64 of at most 64 KiB`)
      const k = `${d.name}\0${d.version}`
      if (!index.has(k))
        index.set(k, {
          desc: d as PacmanDesc & {filename: string; sha256: string},
          sig: sigB64 ? Buffer.from(sigB64, 'base64') : undefined,
          file,
        })
    }
  }
  const entries: GeneratedEntry[] = []
  const missing: string[] = []
  for (const p of chosen) {
    const hit = index.get(`${p.name}\0${p.version}`)
    if (!hit) {
      missing.push(`${p.name} ${p.version}`)
      continue
    }
    const name = checkedName(archArchiveName(hit.desc), hit.file)
    entries.push({sha256: hit.desc.sha256, name})
    // the detached signature's bytes are the sync db's %PGPSIG%, so its hash is known too
    if (hit.sig) entries.push({sha256: sha256Hex(hit.sig), name: `${name}.sig`})
  }
  if (missing.length)
    throw missingError(
      missing,
      `${syncDir}/*.db`,
      'run pacman -Sy against the repositories of the installed versions (e.g. an archive snapshot) and retry',
    )
  return {
    distro: o.distro,
    root: o.root,
    entries: uniq(entries),
    sources: dbs.map((n) => rel(o.root, join(syncDir, n))),
  }
}

async function generateApk(o: GenerateOptions): Promise<GenerateResult> {
  const installed = parseApkIndex(await readRoot(o.root, 'lib/apk/db/installed', 'apk installed database'))
  const chosen = select(installed, o.packages, (p) => [p.package], o.root)
  const arch = (await readRoot(o.root, 'etc/apk/arch', 'apk architecture', 'echo x86_64 > ROOT/etc/apk/arch')).trim()
  const repos = (await readRoot(o.root, 'etc/apk/repositories', 'apk repositories'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('@'))
  // apk names its cached index APKINDEX.<hex of the first 4 bytes of sha1(repository line)>.tar.gz
  // (apk-tools database.c apk_repo_format_cache_index)
  const cacheDirs = ['etc/apk/cache', 'var/cache/apk'].map((d) => join(o.root, d))
  const cachedFiles = new Map<string, string>()
  const indexes: {repo: string; records: Set<string>}[] = []
  for (const dir of cacheDirs) {
    for (const n of await listDir(dir)) {
      if (n.endsWith('.apk')) {
        // cached packages are named <name>-<version>.<8 hex>.apk
        const m = /^(.+)\.[0-9a-f]{8}\.apk$/.exec(n)
        cachedFiles.set(m ? m[1] : n.slice(0, -4), join(dir, n))
      }
    }
    for (const repo of repos) {
      const id = createHash('sha1').update(repo).digest('hex').slice(0, 8)
      let raw: Buffer
      try {
        raw = await readFile(join(dir, `APKINDEX.${id}.tar.gz`))
      } catch {
        continue
      }
      const tar = readTar(await decompressByName('APKINDEX.tar.gz', raw))
      const text = tar.find((e) => e.path === 'APKINDEX')?.data.toString('utf8') ?? ''
      indexes.push({
        repo,
        records: new Set(parseApkIndex(text).map((r) => `${r.package}\0${r.version}\0${r.checksum}`)),
      })
    }
  }
  const entries: GeneratedEntry[] = []
  const missing: string[] = []
  for (const p of chosen) {
    const base = `${p.package}-${p.version}`
    const file = cachedFiles.get(base)
    const repo =
      indexes.find((ix) => ix.records.has(`${p.package}\0${p.version}\0${p.checksum}`))?.repo ??
      (repos.length === 1 ? repos[0] : undefined)
    if (!file || !repo) {
      missing.push(`${base}${file ? ' (no repository index lists it)' : ''}`)
      continue
    }
    // the default provider template is <mirror>/alpine/{{.Name}}: keep the path after "/alpine/"
    const repoPath = /\/alpine\/(.+)$/.exec(repo.replace(/\/+$/, ''))?.[1] ?? posix.basename(repo)
    entries.push({sha256: await sha256File(file), name: `${repoPath}/${arch}/${base}.apk`})
  }
  if (missing.length)
    throw new GenerateError(
      `alpine: no cached .apk file to hash for: ${missing.join(', ')} (APKINDEX only carries a SHA-1 of each package's control segment, not a sha256 of the file, so repro hashes the files themselves)`,
      [
        "enable apk's cache (ln -s /var/cache/apk /etc/apk/cache) and run apk cache download, or apk fetch the packages into /etc/apk/cache",
      ],
    )
  return {distro: o.distro, root: o.root, entries: uniq(entries), sources: ['/lib/apk/db/installed']}
}

function uniq(entries: GeneratedEntry[]): GeneratedEntry[] {
  const m = new Map<string, GeneratedEntry>()
  for (const e of entries) m.set(e.name, e)
  return [...m.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
