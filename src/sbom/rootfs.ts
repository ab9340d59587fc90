/**
 * The package databases of an image, read from its merged file system view: every layer is parsed by the
 * one tar parser (src/image/tar.ts through scanLayers), only the entries that can decide what the databases
 * hold are kept (the database files, their ancestor directories, whiteouts), and the layers are applied with
 * the one whiteout implementation (flatten, src/diff/layers.ts). A database deleted by a whiteout, an opaque
 * directory or a file replacing its directory in a later layer is gone, as in a container.
 */
import {SbomInputError} from '../errors.js'
import {flatten, scanLayers, type LayerJob, type TarEntry} from '../diff/layers.js'
import {formatBytes} from '../pkg/regular-file.js'
import type {ImageInfo} from '../image/archive.js'
import type {ImageSource} from '../image/source.js'
import {SBOM_LIMITS, type SbomLimits} from './limits.js'

/** Roots of the package databases (canonical in-layer paths) and the os-release files. */
const DPKG_STATUS = 'var/lib/dpkg/status'
const DPKG_STATUS_D = 'var/lib/dpkg/status.d'
const APK_INSTALLED = 'lib/apk/db/installed'
const PACMAN_LOCAL = 'var/lib/pacman/local'
const RPM_DIRS = ['var/lib/rpm', 'usr/lib/sysimage/rpm']
const RPM_FILES = new Set(['rpmdb.sqlite', 'rpmdb.sqlite-wal', 'Packages', 'Packages.db'])
const OS_RELEASE = ['etc/os-release', 'usr/lib/os-release']

/** Every directory above a database: a file or whiteout replacing one of them removes the database. */
const ANCESTORS = new Set<string>()
for (const p of [DPKG_STATUS_D, APK_INSTALLED, `${PACMAN_LOCAL}/x`, ...RPM_DIRS.map((d) => `${d}/x`), ...OS_RELEASE]) {
  const parts = p.split('/')
  for (let i = 1; i < parts.length; i++) ANCESTORS.add(parts.slice(0, i).join('/'))
}

/** Is this in-layer path a database file (or os-release) whose bytes we need? */
export function isDatabaseFile(key: string): boolean {
  // a name with "." or ".." segments is not where a container would look (tar names are not resolved)
  if (/(^|\/)\.\.?(\/|$)/.test(key)) return false
  if (key === DPKG_STATUS || key === APK_INSTALLED || OS_RELEASE.includes(key)) return true
  const slash = key.lastIndexOf('/')
  const dir = key.slice(0, slash)
  const base = key.slice(slash + 1)
  // distroless: one deb822 file per package; their .md5sums siblings list files, not packages
  if (dir === DPKG_STATUS_D) return !base.endsWith('.md5sums')
  if (RPM_DIRS.includes(dir)) return RPM_FILES.has(base)
  // var/lib/pacman/local/NAME-VERSION/desc
  return base === 'desc' && dir.startsWith(`${PACMAN_LOCAL}/`) && !dir.slice(PACMAN_LOCAL.length + 1).includes('/')
}

function relevant(key: string): boolean {
  if (ANCESTORS.has(key) || isDatabaseFile(key)) return true
  const base = key.slice(key.lastIndexOf('/') + 1)
  if (base.startsWith('.wh.')) return true
  // pacman's per-package directories: replacing one by a file removes its desc
  return key.startsWith(`${PACMAN_LOCAL}/`) && !key.slice(PACMAN_LOCAL.length + 1).includes('/')
}

export interface DatabaseFile {
  /** canonical path in the image, e.g. var/lib/dpkg/status */
  path: string
  data: Buffer
  /** 0-based index of the layer that holds the file in the merged view */
  layer: number
}

export interface ImageDatabases {
  files: DatabaseFile[]
  /** database files that are present but not read (links), with why */
  skipped: Array<{path: string; why: string}>
}

/**
 * The package database files of one image, as a container of it would see them. Bounded: one file over
 * SBOM_LIMITS.maxDatabaseFileBytes, or all of them over maxDatabaseBytes, is an E_SBOM_INPUT error naming
 * the image, the file and the limit.
 */
export async function readDatabases(
  source: ImageSource,
  archivePath: string,
  image: ImageInfo,
  limits: SbomLimits = SBOM_LIMITS,
): Promise<ImageDatabases> {
  const layers: TarEntry[][] = image.layers.map(() => [])
  // content by layer and key; the last occurrence of a key in a layer wins, as in the tar itself
  const contents: Array<Map<string, Buffer>> = image.layers.map(() => new Map())
  let kept = 0
  const tooBig = (what: string, limit: string): SbomInputError =>
    new SbomInputError(`${archivePath}: ${what} (limit ${limit}); the package database is not read`)
  const jobs: LayerJob[] = image.layers.map((layer, i) => ({
    layer,
    options: {
      layer: i,
      hash: false,
      onEntry: (e) => {
        if (relevant(e.key)) layers[i].push(e)
      },
      tap: (e) => {
        if (e.type !== 'file' || !isDatabaseFile(e.key)) return undefined
        if (e.size > limits.maxDatabaseFileBytes)
          throw tooBig(
            `${e.key} in layer ${i + 1} is ${formatBytes(e.size)}`,
            `maxDatabaseFileBytes = ${formatBytes(limits.maxDatabaseFileBytes)}`,
          )
        kept += e.size
        if (kept > limits.maxDatabaseBytes)
          throw tooBig(
            `the package database files of the image hold more than ${formatBytes(limits.maxDatabaseBytes)}`,
            `maxDatabaseBytes = ${formatBytes(limits.maxDatabaseBytes)}`,
          )
        const chunks: Buffer[] = []
        return {
          write: (chunk) => chunks.push(Buffer.from(chunk)),
          end: () => contents[i].set(e.key, Buffer.concat(chunks)),
        }
      },
    },
  }))
  await scanLayers(source, archivePath, jobs)
  const merged = flatten(layers)
  const files: DatabaseFile[] = []
  const skipped: ImageDatabases['skipped'] = []
  for (const [key, e] of merged) {
    if (!isDatabaseFile(key)) continue
    if (e.type === 'file') {
      const data = contents[e.layer].get(key)
      if (data) files.push({path: key, data, layer: e.layer})
    } else if (e.type === 'symlink' || e.type === 'hardlink') {
      // os-release is a symlink to usr/lib/os-release on most distros: that file is read on its own
      if (!OS_RELEASE.includes(key)) skipped.push({path: key, why: `a ${e.type} to ${JSON.stringify(e.linkname)}`})
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  skipped.sort((a, b) => (a.path < b.path ? -1 : 1))
  return {files, skipped}
}

export const DATABASE_PATHS = {DPKG_STATUS, DPKG_STATUS_D, APK_INSTALLED, PACMAN_LOCAL, RPM_DIRS, OS_RELEASE}
