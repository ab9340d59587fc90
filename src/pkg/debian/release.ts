/**
 * Debian Release files (the text an InRelease signs): the fields apt checks (Suite, Codename, Date,
 * Valid-Until) and the SHA256 list of the indexes (`<sha256> <size> <path>` lines). Pure parsers over text;
 * a malformed file is a ChainError naming it.
 */
import {ChainError} from '../../errors.js'
import {parseDeb822} from '../deb822.js'

export interface ReleaseIndexEntry {
  sha256: string
  size: number
}

export interface ReleaseFile {
  origin?: string
  label?: string
  suite?: string
  codename?: string
  date?: Date
  validUntil?: Date
  /** index path (main/binary-amd64/Packages, main/binary-amd64/Packages.xz, ...) → digest */
  sha256: Map<string, ReleaseIndexEntry>
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * An RFC 1123 / RFC 2822 date as Release files write it: `Sat, 11 Jul 2026 10:16:37 UTC` (UTC, GMT, Z or a
 * numeric offset). Strict, unlike Date.parse, which takes "2026" for a date.
 */
export function parseReleaseDate(value: string): Date | undefined {
  const m =
    /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (UTC|GMT|Z|[+-]\d{4})$/.exec(
      value.trim(),
    )
  if (!m) return undefined
  const month = MONTHS.indexOf(m[2])
  if (month < 0) return undefined
  const [day, year, h, min, s] = [m[1], m[3], m[4], m[5], m[6]].map(Number)
  if (day < 1 || day > 31 || h > 23 || min > 59 || s > 60) return undefined
  let t = Date.UTC(year, month, day, h, min, Math.min(s, 59))
  const zone = m[7]
  if (/^[+-]/.test(zone)) {
    const sign = zone[0] === '+' ? 1 : -1
    t -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000
  }
  return new Date(t)
}

/** Parse the signed text of an InRelease (or a Release file). `where` names the file in errors. */
export function parseRelease(text: string, where: string): ReleaseFile {
  if (text.includes('\0')) throw new ChainError(`${where}: not a Release file (it contains NUL bytes)`)
  const paragraphs = parseDeb822(text)
  const p = paragraphs[0]
  if (!p || !('SHA256' in p))
    throw new ChainError(`${where}: not a Release file: no SHA256 field`, [
      'repro verifies sha256 chains only (MD5Sum/SHA1 lists are not enough)',
    ])
  const date = (field: string): Date | undefined => {
    const v = p[field]
    if (v === undefined) return undefined
    const d = parseReleaseDate(v)
    if (!d) throw new ChainError(`${where}: ${field}: not an RFC 2822 date: ${JSON.stringify(v.slice(0, 80))}`)
    return d
  }
  const sha256 = new Map<string, ReleaseIndexEntry>()
  const lines = p.SHA256.split('\n')
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' && i === 0) continue
    const m = /^([0-9a-fA-F]{64})\s+(\d{1,15})\s+(\S+)$/.exec(line)
    if (!m)
      throw new ChainError(
        `${where}: SHA256 line ${i}: expected "<sha256> <size> <path>": ${JSON.stringify(line.slice(0, 100))}`,
      )
    sha256.set(m[3], {sha256: m[1].toLowerCase(), size: Number(m[2])})
  }
  return {
    origin: p.Origin,
    label: p.Label,
    suite: p.Suite,
    codename: p.Codename,
    date: date('Date'),
    validUntil: date('Valid-Until'),
    sha256,
  }
}

/**
 * The shape of a clear-signed message, as apt insists on (apt-pkg/contrib/gpgv.cc SplitClearSignedFile):
 * one signed message at the very start, one signature block, nothing but blank lines after it. gpgv alone
 * would accept text around the message that apt, and we, must never read as signed.
 */
export function checkClearSigned(text: string, where: string): void {
  const begin = '-----BEGIN PGP SIGNED MESSAGE-----'
  if (!text.startsWith(`${begin}\n`) && !text.startsWith(`${begin}\r\n`))
    throw new ChainError(`${where}: not a clear-signed InRelease (it does not start with "${begin}")`)
  const count = (s: string): number => text.split(s).length - 1
  if (count(begin) !== 1) throw new ChainError(`${where}: more than one signed message`)
  if (count('-----BEGIN PGP SIGNATURE-----') !== 1 || count('-----END PGP SIGNATURE-----') !== 1)
    throw new ChainError(`${where}: expected exactly one signature block`)
  const end = text.indexOf('-----END PGP SIGNATURE-----') + '-----END PGP SIGNATURE-----'.length
  if (text.slice(end).trim() !== '') throw new ChainError(`${where}: text after the signature block`)
}
