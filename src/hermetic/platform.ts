/**
 * Platforms and per-architecture hash files. A hash file named `SHA256SUMS-<goarch>[-<variant>]`
 * (SHA256SUMS-amd64, SHA256SUMS-arm64, SHA256SUMS-arm-v7) applies to that architecture only; a file with
 * no architecture suffix applies to every platform. Pure functions.
 */
import path from 'node:path'

import {InvalidArgumentError} from '../errors.js'

export const GOARCHES = [
  '386',
  'amd64',
  'arm',
  'arm64',
  'loong64',
  'mips',
  'mips64',
  'mips64le',
  'mipsle',
  'ppc64',
  'ppc64le',
  'riscv64',
  's390x',
] as const

export interface Platform {
  os: string
  arch: string
  /** normalized: arm defaults to v7, arm64's v8 is dropped (as BuildKit normalizes them) */
  variant?: string
}

/** `linux/arm/v7` → {os: linux, arch: arm, variant: v7}; `linux/arm` → v7; `linux/arm64/v8` → no variant. */
export function parsePlatform(text: string): Platform {
  const [os, arch, variant, extra] = text.split('/')
  if (!os || !arch || extra !== undefined) {
    throw new InvalidArgumentError(`--platform '${text}': expected OS/ARCH[/VARIANT], e.g. linux/amd64`)
  }
  if (arch === 'arm') return {os, arch, variant: variant || 'v7'}
  if (arch === 'arm64' && (variant === 'v8' || !variant)) return {os, arch}
  return variant ? {os, arch, variant} : {os, arch}
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.arch}${p.variant ? `/${p.variant}` : ''}`
}

/** The directory name a platform's packages get in the staged context: amd64, arm64, arm-v7. */
export function platformSlug(p: Platform): string {
  return `${p.arch}${p.variant ? `-${p.variant}` : ''}`
}

/** The platform a build without --platform targets: the host's (node's process.arch, in Go's names). */
export function hostPlatform(nodeArch: string = process.arch): Platform {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm: 'arm',
    arm64: 'arm64',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
  }
  const arch = map[nodeArch] ?? nodeArch
  return parsePlatform(`linux/${arch}`)
}

/** The architecture a hash file's name pins it to, or undefined for a file that applies to all. */
export function hashFileArch(file: string): {arch: string; variant?: string} | undefined {
  const base = path.basename(file)
  const m = new RegExp(`-(${[...GOARCHES].sort((a, b) => b.length - a.length).join('|')})(?:-(v\\d+))?$`).exec(base)
  if (!m) return undefined
  return m[2] ? {arch: m[1], variant: m[2]} : {arch: m[1]}
}

/** Whether a hash file applies to a platform (a file without variant applies to every variant). */
export function hashFileApplies(file: string, p: Platform): boolean {
  const a = hashFileArch(file)
  if (!a) return true
  if (a.arch !== p.arch) return false
  if (!a.variant) return true
  const fileVariant = a.arch === 'arm64' && a.variant === 'v8' ? undefined : a.variant
  return fileVariant === p.variant
}

export interface PlatformHashFiles {
  platform: Platform
  files: string[]
}

/**
 * Pick each platform's hash files. Every platform needs at least one; a file that fits no platform is
 * returned in `unused` (the caller warns: a forgotten --platform, most likely).
 */
export function selectHashFiles(
  files: string[],
  platforms: Platform[],
): {perPlatform: PlatformHashFiles[]; unused: string[]} {
  const perPlatform = platforms.map((platform) => ({
    platform,
    files: files.filter((f) => hashFileApplies(f, platform)),
  }))
  for (const pp of perPlatform) {
    if (pp.files.length === 0) {
      throw new InvalidArgumentError(
        `--hashfile: no hash file for ${formatPlatform(pp.platform)} (given: ${files.join(', ')}); name it SHA256SUMS-${platformSlug(pp.platform)}, or SHA256SUMS for every platform`,
        pp.platform.arch === 'arm' ? [`a file named SHA256SUMS-arm applies to every arm variant`] : [],
      )
    }
  }
  const unused = files.filter((f) => !platforms.some((p) => hashFileApplies(f, p)))
  return {perPlatform, unused}
}
