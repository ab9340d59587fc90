/**
 * The installed packages an image's package databases list, with the parsers the rest of repro uses
 * (deb822 paragraphs: src/pkg/deb822.ts; pacman desc: src/pkg/pacman-meta.ts; os-release: src/pkg/distro.ts).
 * Hostile databases: a file is split into paragraphs with indexOf (linear, one paragraph parsed at a time);
 * a paragraph without a name or version is skipped and counted; a field that is too long or not printable
 * skips its package with a warning naming the file and the package; more than maxPackages packages is an
 * E_SBOM_INPUT error (an SBOM cut short would lie). rpm databases are detected and reported, not read.
 */
import {basename} from 'node:path'

import {SbomInputError} from '../errors.js'
import {parseDeb822} from '../pkg/deb822.js'
import {parseOsRelease} from '../pkg/distro.js'
import {parsePackageFileName} from '../pkg/filename.js'
import {type HashEntry, quoteName} from '../pkg/hash-file.js'
import {parsePacmanDescFields} from '../pkg/pacman-meta.js'
import {SBOM_LIMITS, type SbomLimits} from './limits.js'
import {DATABASE_PATHS, type ImageDatabases} from './rootfs.js'
import type {RpmOutcome} from './rpm.js'

export type PackageType = 'apk' | 'deb' | 'pacman' | 'rpm'

export interface PackagePin {
  /** sha256 of the package file the hash file pins */
  sha256: string
  /** the hash file's name (no directory: no host paths in an SBOM) */
  hashFile: string
  /** the entry's path in the distro archive, e.g. pool/main/h/hello/hello_2.10-3_amd64.deb */
  archivePath: string
}

export interface InstalledPackage {
  type: PackageType
  name: string
  version: string
  architecture: string | null
  /** the source package: dpkg Source:, apk origin (o:), pacman %BASE% */
  sourceName: string | null
  sourceVersion: string | null
  /** apk's C: field is a SHA-1 of the package's control segment */
  sha1: string | null
  /** the database that lists it, e.g. var/lib/dpkg/status */
  database: string
  purl: string
  pin: PackagePin | null
}

export interface OsRelease {
  id: string | null
  versionId: string | null
  prettyName: string | null
}

export interface Unsupported {
  type: 'rpm'
  path: string
  why: string
}

export interface PackageScan {
  packages: InstalledPackage[]
  os: OsRelease
  unsupported: Unsupported[]
  warnings: string[]
}

const NAMESPACE: Record<PackageType, string> = {deb: 'debian', apk: 'alpine', pacman: 'arch', rpm: 'rpm'}
const PURL_TYPE: Record<PackageType, string> = {deb: 'deb', apk: 'apk', pacman: 'alpm', rpm: 'rpm'}

/** A package URL (github.com/package-url/purl-spec): type/namespace/name@version?qualifiers, sorted qualifiers. */
export function packageUrl(
  p: Pick<InstalledPackage, 'architecture' | 'name' | 'type' | 'version'>,
  os: OsRelease,
): string {
  const ns = (os.id && /^[a-z0-9._-]+$/.test(os.id) ? os.id : NAMESPACE[p.type]).toLowerCase()
  const name = p.type === 'deb' || p.type === 'pacman' ? p.name.toLowerCase() : p.name
  const q: Array<[string, string]> = []
  let version = p.version
  if (p.architecture) q.push(['arch', p.architecture])
  if (os.id && os.versionId) q.push(['distro', `${os.id}-${os.versionId}`])
  // rpm's purl carries the epoch as a qualifier, the version is VERSION-RELEASE
  const epoch = p.type === 'rpm' ? /^(\d+):(.*)$/.exec(version) : null
  if (epoch) {
    q.splice(1, 0, ['epoch', epoch[1]])
    version = epoch[2]
  }
  const qs = q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')
  return `pkg:${PURL_TYPE[p.type]}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}@${encodeURIComponent(version)}${qs ? `?${qs}` : ''}`
}

class Collector {
  readonly packages: InstalledPackage[] = []
  readonly warnings: string[] = []
  private extraWarnings = 0
  constructor(
    readonly image: string,
    readonly limits: SbomLimits,
  ) {}

  warn(text: string): void {
    if (this.warnings.length < this.limits.maxWarnings) this.warnings.push(text)
    else this.extraWarnings++
  }

  finishWarnings(): string[] {
    return this.extraWarnings ? [...this.warnings, `${this.extraWarnings} more warnings not listed`] : this.warnings
  }

  /** Why a field cannot be used, or undefined when it is fine (bounded, printable, no blanks). */
  bad(value: string, field: string): string | undefined {
    if (value.length > this.limits.maxFieldLength)
      return `${field} is ${value.length} characters long (limit maxFieldLength = ${this.limits.maxFieldLength})`
    const c = /[^\x21-\x7e]/.exec(value)
    if (c)
      return `${field} ${quoteName(value, 40)} has the character U+${c[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
    return undefined
  }

  add(p: Omit<InstalledPackage, 'pin' | 'purl'>, what: string, os: OsRelease): void {
    const fields: Array<[string, string | null]> = [
      ['name', p.name],
      ['version', p.version],
      ['architecture', p.architecture],
      ['source', p.sourceName],
      ['source version', p.sourceVersion],
    ]
    for (const [field, value] of fields) {
      const why = value === null ? undefined : this.bad(value, field)
      if (why) {
        this.warn(`${p.database}: ${what}: ${why}; package skipped`)
        return
      }
    }
    if (this.packages.length >= this.limits.maxPackages)
      throw new SbomInputError(
        `${this.image}: ${p.database} lists more than ${this.limits.maxPackages} packages (limit maxPackages = ${this.limits.maxPackages}); no SBOM written`,
      )
    this.packages.push({...p, purl: packageUrl(p, os), pin: null})
  }
}

/** Paragraphs of a deb822-like text without splitting the whole text into lines at once. */
function* paragraphs(text: string): Generator<{text: string; index: number}> {
  let pos = 0
  let index = 0
  while (pos < text.length) {
    let end = text.indexOf('\n\n', pos)
    if (end < 0) end = text.length
    const para = text.slice(pos, end)
    if (para.trim() !== '') yield {text: para, index: index++}
    pos = end + 2
  }
}

function readOs(db: ImageDatabases): OsRelease {
  for (const p of DATABASE_PATHS.OS_RELEASE) {
    const f = db.files.find((x) => x.path === p)
    if (!f) continue
    const osr = parseOsRelease(f.data.subarray(0, 64 * 1024).toString('utf8'))
    const clean = (v: string | undefined): string | null => (v && /^[A-Za-z0-9._ ()/+-]{1,128}$/.test(v) ? v : null)
    return {
      id: clean(osr.ID)?.toLowerCase() ?? null,
      versionId: clean(osr.VERSION_ID),
      prettyName: clean(osr.PRETTY_NAME),
    }
  }
  return {id: null, versionId: null, prettyName: null}
}

function dpkg(c: Collector, path: string, text: string, os: OsRelease, statusD: boolean): void {
  let junk = 0
  let notInstalled = 0
  for (const chunk of paragraphs(text)) {
    for (const f of parseDeb822(chunk.text)) {
      const name = f.Package
      const version = f.Version
      if (!name || !version) {
        junk++
        continue
      }
      // status.d (distroless) has no Status: every paragraph there is installed
      const status = f.Status ?? (statusD ? 'install ok installed' : '')
      if (!/ installed$/.test(status)) {
        notInstalled++
        continue
      }
      const src = /^(\S+)(?:\s+\((\S+)\))?\s*$/.exec(f.Source ?? '')
      c.add(
        {
          type: 'deb',
          name,
          version,
          architecture: f.Architecture || null,
          sourceName: src ? src[1] : null,
          sourceVersion: src ? (src[2] ?? null) : null,
          sha1: null,
          database: path,
        },
        `paragraph ${chunk.index + 1} (${quoteName(name, 60)})`,
        os,
      )
    }
  }
  if (junk) c.warn(`${path}: ${junk} paragraph(s) without Package or Version skipped`)
  if (notInstalled)
    c.warn(
      `${path}: ${notInstalled} package(s) not in the installed state (config-files, unpacked, half-installed) not listed`,
    )
}

function apk(c: Collector, path: string, text: string, os: OsRelease): void {
  let junk = 0
  for (const chunk of paragraphs(text)) {
    const f: Record<string, string> = {}
    for (const line of chunk.text.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line)
      if (m && !(m[1] in f)) f[m[1]] = m[2]
    }
    if (!f.P || !f.V) {
      junk++
      continue
    }
    // C: "Q1" + base64 of the SHA-1 of the control segment
    const q1 = f.C && /^Q1[A-Za-z0-9+/]{27}=$/.test(f.C) ? Buffer.from(f.C.slice(2), 'base64').toString('hex') : null
    c.add(
      {
        type: 'apk',
        name: f.P,
        version: f.V,
        architecture: f.A || null,
        sourceName: f.o || null,
        sourceVersion: null,
        sha1: q1,
        database: path,
      },
      `paragraph ${chunk.index + 1} (${quoteName(f.P, 60)})`,
      os,
    )
  }
  if (junk) c.warn(`${path}: ${junk} paragraph(s) without P: or V: skipped`)
}

function pacman(c: Collector, path: string, text: string, os: OsRelease): void {
  const f = parsePacmanDescFields(text)
  const name = f.NAME?.[0]
  const version = f.VERSION?.[0]
  if (!name || !version) {
    c.warn(`${path}: no %NAME% or %VERSION%; skipped`)
    return
  }
  c.add(
    {
      type: 'pacman',
      name,
      version,
      architecture: f.ARCH?.[0] || null,
      sourceName: f.BASE?.[0] || null,
      sourceVersion: null,
      sha1: null,
      database: path,
    },
    quoteName(name, 60),
    os,
  )
}

/** The packages of an image's databases, sorted by type, name, architecture, version. */
export function scanPackages(
  image: string,
  db: ImageDatabases,
  limits: SbomLimits = SBOM_LIMITS,
  rpm: RpmOutcome[] = [],
): PackageScan {
  const c = new Collector(image, limits)
  const os = readOs(db)
  const unsupported: Unsupported[] = []
  for (const r of rpm) {
    if ('problem' in r) continue
    for (const p of r.packages)
      c.add(
        {
          type: 'rpm',
          name: p.name,
          version: `${p.epoch ? `${p.epoch}:` : ''}${p.version}-${p.release}`,
          architecture: p.arch || null,
          sourceName: null,
          sourceVersion: null,
          sha1: null,
          database: r.database,
        },
        quoteName(p.name, 60),
        os,
      )
  }
  for (const s of db.skipped) c.warn(`${s.path} is ${s.why}: not followed, its packages are not listed`)
  for (const f of db.files) {
    const dir = f.path.slice(0, f.path.lastIndexOf('/'))
    if (DATABASE_PATHS.OS_RELEASE.includes(f.path)) continue
    if (DATABASE_PATHS.RPM_DIRS.includes(dir)) {
      const read = rpm.find((r) => r.database === f.path)
      if (read && 'packages' in read) continue
      if (f.path.endsWith('-wal')) continue
      unsupported.push({
        type: 'rpm',
        path: f.path,
        why:
          read && 'problem' in read ? read.problem : 'rpm databases are read only through the rpm program: not listed',
      })
      continue
    }
    // latin1 keeps every byte (binary garbage stays bounded and is refused field by field); dpkg and apk
    // databases are UTF-8 only in descriptions, which are not read
    const text = f.data.toString('latin1')
    if (f.path === DATABASE_PATHS.DPKG_STATUS) dpkg(c, f.path, text, os, false)
    else if (dir === DATABASE_PATHS.DPKG_STATUS_D) dpkg(c, f.path, text, os, true)
    else if (f.path === DATABASE_PATHS.APK_INSTALLED) apk(c, f.path, text, os)
    else pacman(c, f.path, text, os)
  }
  for (const u of unsupported) c.warn(`${u.path}: ${u.why}`)
  const packages = dedupe(c.packages).sort(comparePackages)
  return {packages, os, unsupported, warnings: c.finishWarnings()}
}

const cmp = (a: string | null, b: string | null): number => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0)

export function comparePackages(a: InstalledPackage, b: InstalledPackage): number {
  return (
    cmp(a.type, b.type) ||
    cmp(a.name, b.name) ||
    cmp(a.architecture, b.architecture) ||
    cmp(a.version, b.version) ||
    cmp(a.database, b.database)
  )
}

/** The same package listed twice (status and status.d, or a repeated paragraph) is one package. */
function dedupe(list: InstalledPackage[]): InstalledPackage[] {
  const seen = new Map<string, InstalledPackage>()
  for (const p of list) {
    const k = `${p.type}\u0000${p.name}\u0000${p.architecture ?? ''}\u0000${p.version}`
    if (!seen.has(k)) seen.set(k, p)
  }
  return [...seen.values()]
}

const withoutEpoch = (v: string): string => v.replace(/^\d+:/, '')

/**
 * Mark the packages a hash file pins: the entry's package file name (parsePackageFileName) names the same
 * package, version (Debian file names drop the epoch) and architecture. Returns the entries that pin nothing.
 */
export function markPins(packages: InstalledPackage[], entries: HashEntry[]): HashEntry[] {
  const byKey = new Map<string, InstalledPackage[]>()
  const key = (type: string, name: string, version: string): string => `${type}\u0000${name}\u0000${version}`
  for (const p of packages) {
    const k = key(p.type, p.name, p.type === 'deb' || p.type === 'rpm' ? withoutEpoch(p.version) : p.version)
    const list = byKey.get(k)
    if (list) list.push(p)
    else byKey.set(k, [p])
  }
  const unused: HashEntry[] = []
  const sorted = [...entries].sort((a, b) => cmp(a.name, b.name) || cmp(a.source.file, b.source.file))
  for (const e of sorted) {
    const info = parsePackageFileName(e.name)
    if (!info || info.auxiliary) {
      if (!info?.auxiliary) unused.push(e)
      continue
    }
    // Debian and rpm file names drop the epoch; rpm's carry VERSION-RELEASE
    const version =
      info.format === 'deb'
        ? withoutEpoch(info.version)
        : info.format === 'rpm'
          ? `${info.version}-${info.release}`
          : info.version
    const candidates = byKey.get(key(info.format, info.name, version)) ?? []
    const match = candidates.filter(
      (p) => !info.architecture || !p.architecture || p.architecture === info.architecture,
    )
    if (match.length === 0) unused.push(e)
    for (const p of match)
      p.pin ??= {sha256: e.sha256.toLowerCase(), hashFile: basename(e.source.file), archivePath: e.name}
  }
  return unused
}
