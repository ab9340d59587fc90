/** Pure parser for pacman's `desc` files (sync databases and /var/lib/pacman/local/<pkg>/desc). */
import {checkField, PackageMetadataError} from './distro.js'
import {quoteName} from './hash-file.js'

export interface PacmanDesc {
  name: string
  version: string
  arch?: string
  filename?: string
  sha256?: string
}

/** `%KEY%` followed by value lines until a blank line. */
export function parsePacmanDescFields(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  let key: string | undefined
  for (const line of text.split('\n')) {
    const m = /^%([A-Z0-9_]+)%$/.exec(line.trim())
    if (m) {
      key = m[1]
      out[key] = []
    } else if (line.trim() === '') {
      key = undefined
    } else if (key) {
      out[key].push(line.trim())
    }
  }
  return out
}

export function parsePacmanDesc(text: string): PacmanDesc | undefined {
  const f = parsePacmanDescFields(text)
  const name = f.NAME?.[0]
  const version = f.VERSION?.[0]
  if (!name || !version) return undefined
  return {name, version, arch: f.ARCH?.[0], filename: f.FILENAME?.[0], sha256: f.SHA256SUM?.[0]?.toLowerCase()}
}

/** The hash-file name in the Arch archive's layout: <first letter>/<name>/<file>. */
export function archArchiveName(d: PacmanDesc & {filename: string}): string {
  return `${d.name[0]}/${d.name}/${d.filename}`
}

/**
 * A desc that a hash file will be made from: name, version (and for a sync db entry, the file name and a
 * sha256 of 64 hex digits) present, bounded and printable; anything else is an error naming WHAT.
 */
export function checkPacmanDesc(text: string, what: string, sync: boolean): PacmanDesc {
  const d = parsePacmanDesc(text)
  if (!d) throw new PackageMetadataError(`${what}: no %NAME% or %VERSION% (malformed or truncated desc)`)
  const where = `${what} (${quoteName(checkField(d.name, '%NAME%', what), 60)})`
  checkField(d.version, '%VERSION%', where)
  if (d.arch !== undefined) checkField(d.arch, '%ARCH%', where)
  if (sync) {
    const file = checkField(d.filename, '%FILENAME%', where)
    if (file.includes('/') || file.startsWith('.') || file.startsWith('-'))
      throw new PackageMetadataError(`${where}: %FILENAME% ${quoteName(file, 80)} is not a plain file name`)
    if (!d.sha256 || !/^[0-9a-f]{64}$/.test(d.sha256))
      throw new PackageMetadataError(`${where}: %SHA256SUM% is not 64 hex digits`)
  }
  return d
}
