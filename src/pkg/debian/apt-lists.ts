/**
 * apt's lists directory (/var/lib/apt/lists, or a directory of saved indexes with the same names): which
 * Packages files there are, and which signed release file (InRelease, or Release + Release.gpg) covers each.
 *
 * apt names every file after its URI (apt-pkg/contrib/strutl.cc URItoFileName): the scheme and user info are
 * dropped, the bytes `\|{}[]<>"^~_=!@#$%^&*`, `%`, controls, space and non-ASCII become `%xx` (lowercase hex),
 * then `/` becomes `_`. So `http://deb.debian.org/debian/dists/bookworm/InRelease` is stored as
 * `deb.debian.org_debian_dists_bookworm_InRelease`, and the name decodes back without ambiguity.
 * apt re-compresses the indexes it keeps (lz4 on Debian, gz with Acquire::GzipIndexes, ...): the name then
 * carries that extension, while the signed release lists the uncompressed index (and the ones it serves).
 */
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

const BAD = new Set([...'\\|{}[]<>"^~_=!@#$%^&*'].map((c) => c.charCodeAt(0)))

/** apt's file name for a scheme-less URI (host[:port]/path). */
export function aptListName(uri: string): string {
  let out = ''
  for (const b of Buffer.from(uri, 'utf8')) {
    if (b === 0x2f) out += '_'
    else if (BAD.has(b) || b <= 0x20 || b >= 0x7f) out += `%${b.toString(16).padStart(2, '0')}`
    else out += String.fromCharCode(b)
  }
  return out
}

/** The scheme-less URI an apt list file name stands for. */
export function decodeAptListName(name: string): string {
  const bytes: number[] = []
  for (let i = 0; i < name.length; i++) {
    const c = name[i]
    const hex = c === '%' ? name.slice(i + 1, i + 3) : ''
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16))
      i += 2
    } else bytes.push(...Buffer.from(c === '_' ? '/' : c, 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

export const COMPRESSIONS = ['', '.lz4', '.gz', '.xz', '.zst', '.bz2'] as const
export const PACKAGES_LIST = /_Packages(\.(gz|lz4|xz|zst|bz2))?$/

/** Where a release lives: `deb.debian.org/debian/dists/bookworm` → origin + suite (flat repositories: no suite). */
export interface Repository {
  /** the release's directory URI without scheme, e.g. deb.debian.org/debian/dists/bookworm */
  base: string
  /** the archive root URI without scheme, e.g. deb.debian.org/debian */
  origin: string
  /** the dists/ directory name, e.g. bookworm ('' for a flat repository) */
  suite: string
}

export function repositoryOf(base: string): Repository {
  const i = base.lastIndexOf('/dists/')
  return i < 0 ? {base, origin: base, suite: ''} : {base, origin: base.slice(0, i), suite: base.slice(i + 7)}
}

export function baseOf(origin: string, suite: string): string {
  return suite ? `${origin}/dists/${suite}` : origin
}

export interface ReleaseFiles extends Repository {
  /** absolute path of the InRelease file, when there is one */
  inRelease?: string
  /** absolute paths of Release and Release.gpg, when both exist (a detached signature) */
  release?: string
  releaseGpg?: string
}

export interface PackagesList {
  /** absolute path */
  file: string
  /** the file name in the lists directory */
  name: string
  /** the compression apt stored it with ('' for none) */
  compression: string
  /** the release directory it belongs to (undefined: no release file covers it) */
  base?: string
  /** its path in the release, e.g. main/binary-amd64/Packages */
  path: string
  component: string
  architecture: string
}

export interface AptLists {
  dir: string
  releases: Map<string, ReleaseFiles>
  /** sorted by file name */
  packages: PackagesList[]
}

/** Component and architecture of an index path: `main/binary-amd64/Packages` → main, amd64. */
export function indexPathParts(path: string): {component: string; architecture: string} {
  const m = /^(?:(.+)\/)?binary-([^/]+)\/Packages$/.exec(path)
  return m ? {component: m[1] ?? '', architecture: m[2]} : {component: '', architecture: ''}
}

/** The file names in the directory (sorted), or undefined when it cannot be read. */
export async function listNames(dir: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir, {withFileTypes: true}))
      .filter((d) => d.isFile() || d.isSymbolicLink())
      .map((d) => d.name)
      .sort()
  } catch {
    return undefined
  }
}

/** Scan a lists directory: the release files by release directory, the Packages lists with their release. */
export function scanAptLists(dir: string, names: string[]): AptLists {
  const have = new Set(names)
  const releases = new Map<string, ReleaseFiles>()
  const get = (base: string): ReleaseFiles => {
    let r = releases.get(base)
    if (!r) releases.set(base, (r = repositoryOf(base)))
    return r
  }
  for (const n of names) {
    if (n.endsWith('_InRelease')) get(decodeAptListName(n).slice(0, -'/InRelease'.length)).inRelease = join(dir, n)
    else if (n.endsWith('_Release') && have.has(`${n}.gpg`)) {
      const r = get(decodeAptListName(n).slice(0, -'/Release'.length))
      r.release = join(dir, n)
      r.releaseGpg = join(dir, `${n}.gpg`)
    }
  }
  const bases = [...releases.keys()].sort((a, b) => b.length - a.length)
  const packages: PackagesList[] = []
  for (const n of names) {
    const m = PACKAGES_LIST.exec(n)
    if (!m) continue
    const compression = m[1] ?? ''
    const uri = decodeAptListName(n.slice(0, n.length - compression.length))
    const base = bases.find((b) => uri.startsWith(`${b}/`))
    const path = base ? uri.slice(base.length + 1) : uri
    packages.push({file: join(dir, n), name: n, compression, base, path, ...indexPathParts(path)})
  }
  return {dir, releases, packages}
}
