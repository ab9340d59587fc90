/**
 * The documented limits of `repro sbom` (README, "repro sbom", Limits). Real images stay far below each:
 * Debian's whole archive is ~65,000 binary packages and a full desktop's dpkg status is ~10 MiB.
 */
export const SBOM_LIMITS = {
  /** bytes of one package database file (dpkg status, apk installed, one pacman desc) */
  maxDatabaseFileBytes: 64 * 1024 * 1024,
  /** bytes of all package database files of one image, across its layers */
  maxDatabaseBytes: 256 * 1024 * 1024,
  /** packages listed for one image */
  maxPackages: 200_000,
  /** characters of one field kept (name, version, architecture, source); a longer one skips the package */
  maxFieldLength: 256,
  /** warnings listed one by one; the rest are counted in one more */
  maxWarnings: 50,
} as const

export type SbomLimits = {[K in keyof typeof SBOM_LIMITS]: number}
