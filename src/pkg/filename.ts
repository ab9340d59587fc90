/**
 * What a package file's name says about it, per format. Used for template fields (.Dpkg.*, .RPM.*, ...)
 * and for matching a file against the installed packages.
 */
import {posix} from 'node:path'

export type PackageFormat = 'apk' | 'deb' | 'pacman' | 'rpm'

export interface PackageFileInfo {
  format: PackageFormat
  /** package name */
  name: string
  /** version as the file name carries it (Debian file names drop the epoch; pacman's keep it) */
  version: string
  architecture?: string
  /** rpm only */
  release?: string
  /** detached signatures and the like: downloaded and verified, not installed */
  auxiliary: boolean
}

/** Parse a package file name. Returns undefined for names that are no package (README, .sig handled). */
export function parsePackageFileName(nameOrPath: string): PackageFileInfo | undefined {
  const base = posix.basename(nameOrPath)
  if (base.endsWith('.sig')) {
    const inner = parsePackageFileName(base.slice(0, -4))
    return inner ? {...inner, auxiliary: true} : undefined
  }
  if (base.endsWith('.deb') || base.endsWith('.udeb')) {
    const stem = base.slice(0, base.lastIndexOf('.'))
    const parts = stem.split('_')
    if (parts.length !== 3) return undefined
    return {
      format: 'deb',
      name: parts[0],
      version: decodeVersion(parts[1]),
      architecture: parts[2],
      auxiliary: false,
    }
  }
  if (base.endsWith('.rpm')) {
    const m = /^(.+)-([^-]+)-([^-]+)\.([^.]+)\.rpm$/.exec(base)
    if (!m) return undefined
    return {format: 'rpm', name: m[1], version: m[2], release: m[3], architecture: m[4], auxiliary: false}
  }
  const pac = /^(.+)-([^-]+-[^-]+)-([^-]+)\.pkg\.tar(\.[a-z0-9]+)?$/.exec(base)
  if (pac) return {format: 'pacman', name: pac[1], version: pac[2], architecture: pac[3], auxiliary: false}
  if (base.endsWith('.apk')) {
    const stem = base.slice(0, -4)
    const parts = stem.split('-')
    // the version starts at the first '-'-separated segment that starts with a digit
    const idx = parts.findIndex((p, i) => i > 0 && /^\d/.test(p))
    if (idx < 0) return undefined
    return {format: 'apk', name: parts.slice(0, idx).join('-'), version: parts.slice(idx).join('-'), auxiliary: false}
  }
  return undefined
}

/** Template data for one entry's per-format fields. */
export function formatFields(info: PackageFileInfo | undefined): Record<string, Record<string, string | undefined>> {
  if (!info) return {}
  switch (info.format) {
    case 'deb':
      return {Dpkg: {Package: info.name, Version: info.version, Architecture: info.architecture}}
    case 'rpm':
      return {RPM: {Name: info.name, Version: info.version, Release: info.release, Architecture: info.architecture}}
    case 'apk':
      return {APK: {Package: info.name, Version: info.version}}
    case 'pacman':
      return {Pacman: {Package: info.name, Version: info.version, Architecture: info.architecture}}
  }
}

/**
 * apt names downloaded files with the epoch's ":" as "%3a" (hash files refuse "%", but `cache import` reads
 * any file name); a malformed escape is kept as it is instead of throwing.
 */
function decodeVersion(v: string): string {
  try {
    return decodeURIComponent(v)
  } catch {
    return v
  }
}
