/**
 * Distros: detection from os-release (ID, then ID_LIKE in order), their package format, and the
 * default providers. The default provider table is the only place package hosts are named.
 */
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

import {ReproError, UnsupportedDistroError} from '../errors.js'
import type {PackageFormat} from './filename.js'
import {quoteName} from './hash-file.js'

/** Distro metadata (repodata, sync or local databases) that is malformed, truncated or oversized. */
export class PackageMetadataError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_PKG_METADATA', message, {suggestions})
  }
}

/** Bounds on single metadata fields (names, versions, file names): far above any real one. */
export const MAX_FIELD = 256

/** A field of distro metadata: present, at most MAX_FIELD characters, printable ASCII without blanks. */
export function checkField(value: string | undefined, field: string, what: string): string {
  if (value === undefined || value === '') throw new PackageMetadataError(`${what}: ${field} is missing or empty`)
  if (value.length > MAX_FIELD)
    throw new PackageMetadataError(`${what}: ${field} is ${value.length} characters long (at most ${MAX_FIELD})`)

  const bad = /[^\x21-\x7e]/.exec(value)
  if (bad)
    throw new PackageMetadataError(
      `${what}: ${field} ${quoteName(value, 40)} has the character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`,
    )
  return value
}

export const DISTROS = ['debian', 'ubuntu', 'fedora', 'alpine', 'arch'] as const
export type Distro = (typeof DISTROS)[number]

export const DISTRO_FORMAT: Record<Distro, PackageFormat> = {
  debian: 'deb',
  ubuntu: 'deb',
  fedora: 'rpm',
  alpine: 'apk',
  arch: 'pacman',
}

/**
 * Default providers, tried in order (user-facing defaults; plain http because integrity comes from the
 * sha256; the snapshot archives are persistent but slow, so they come after the live archives).
 */
export const DEFAULT_PROVIDERS: Record<Distro, readonly string[]> = {
  debian: [
    'http://deb.debian.org/debian/{{.Name}}',
    'http://deb.debian.org/debian-security/{{.Name}}',
    'http://snapshot.debian.org/archive/debian/{{timeToDebianSnapshot .Epoch}}/{{.Name}}',
    'http://snapshot.debian.org/archive/debian-security/{{timeToDebianSnapshot .Epoch}}/{{.Name}}',
    'http://archive.debian.org/debian/{{.Name}}',
  ],
  ubuntu: [
    'http://archive.ubuntu.com/ubuntu/{{.Name}}',
    'http://security.ubuntu.com/ubuntu/{{.Name}}',
    'http://ports.ubuntu.com/ubuntu-ports/{{.Name}}',
    'https://launchpad.net/ubuntu/+archive/primary/+files/{{.Basename}}',
    'http://old-releases.ubuntu.com/ubuntu/{{.Name}}',
  ],
  fedora: ['https://kojipkgs.fedoraproject.org/packages/{{.Name}}'],
  alpine: ['https://dl-cdn.alpinelinux.org/alpine/{{.Name}}'],
  arch: ['https://archive.archlinux.org/packages/{{.Name}}'],
}

/** Parse os-release: KEY=value lines, values optionally quoted with shell-style escapes. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!m) continue
    let v = m[2].trim()
    if (
      (v.startsWith('"') && v.endsWith('"') && v.length >= 2) ||
      (v.startsWith("'") && v.endsWith("'") && v.length >= 2)
    ) {
      const q = v[0]
      v = v.slice(1, -1)
      if (q === '"') v = v.replaceAll(/\\([$"`\\])/g, '$1')
    }
    out[m[1]] = v
  }
  return out
}

/** The supported distro for an os-release: ID exactly, else the first supported ID_LIKE word. */
export function distroFromOsRelease(osr: Record<string, string>): Distro | undefined {
  const candidates = [osr.ID, ...(osr.ID_LIKE ?? '').split(/\s+/)].filter(Boolean).map((s) => s.toLowerCase())
  for (const c of candidates) {
    if ((DISTROS as readonly string[]).includes(c)) return c as Distro
    if (c === 'archlinux') return 'arch'
  }
  return undefined
}

export function parseDistro(value: string, origin: string): Distro {
  const v = value.toLowerCase()
  if ((DISTROS as readonly string[]).includes(v)) return v as Distro
  throw new UnsupportedDistroError(`${origin}: unknown distro "${value}" (supported: ${DISTROS.join(', ')})`)
}

/** Read ROOT/etc/os-release (or ROOT/usr/lib/os-release) and detect the distro. */
export async function detectDistro(
  root: string,
): Promise<{distro: Distro; osRelease: Record<string, string>; file: string}> {
  for (const rel of ['etc/os-release', 'usr/lib/os-release']) {
    const file = join(root, rel)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      continue
    }
    const osRelease = parseOsRelease(text)
    const distro = distroFromOsRelease(osRelease)
    if (!distro)
      throw new UnsupportedDistroError(
        `${file}: distro "${osRelease.ID ?? '?'}"${osRelease.ID_LIKE ? ` (like "${osRelease.ID_LIKE}")` : ''} is not supported; use --distro (${DISTROS.join(', ')})`,
      )
    return {distro, osRelease, file}
  }
  throw new UnsupportedDistroError(`${join(root, 'etc/os-release')}: not found; use --distro (${DISTROS.join(', ')})`)
}
