/**
 * Pure parsers for Fedora/RPM metadata: repodata primary.xml (which carries each package's sha256 and
 * location) and the output of `rpm -qa --queryformat` for the installed set.
 */
import {posix} from 'node:path'

import {checkField, MAX_FIELD, PackageMetadataError} from './distro.js'
import {quoteName} from './hash-file.js'

export interface RpmRepoPackage {
  name: string
  arch: string
  epoch: number
  version: string
  release: string
  checksumType: string
  checksum: string
  location: string
  sourceRpm?: string
}

export interface RpmInstalled {
  name: string
  epoch: number
  version: string
  release: string
  arch: string
}

/** The query format `parseRpmQa` reads: one package per line, tab-separated. */
export const RPM_QA_FORMAT = '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n'

export function parseRpmQa(text: string): RpmInstalled[] {
  const out: RpmInstalled[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const [name, epoch, version, release, arch] = line.split('\t')
    if (name === 'gpg-pubkey') continue // keys imported into the rpmdb, not packages
    if (!name || version === undefined || release === undefined || arch === undefined)
      throw new Error(`unexpected rpm -qa line: ${line}`)
    out.push({name, epoch: Number(epoch) || 0, version, release, arch})
  }
  return out
}

/** XML entities; a numeric one outside Unicode is left as it is (then refused as a field with "&"). */
const decode = (s: string): string =>
  s.replaceAll(/&(lt|gt|amp|quot|apos|#\d{1,8}|#x[0-9a-fA-F]{1,6});/g, (m, e: string) => {
    const named: Record<string, string> = {lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"}
    if (named[e]) return named[e]
    const cp = e.startsWith('#x') ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1))
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m
  })

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)
  return m ? decode(m[1]) : undefined
}

const CHECKSUM_HEX: Record<string, number> = {
  sha256: 64,
  sha512: 128,
  sha384: 96,
  sha224: 56,
  sha1: 40,
  sha: 40,
  md5: 32,
}

/**
 * Parse repodata primary.xml: each <package type="rpm"> with name, arch, version, checksum and location.
 * Strict, since its checksums become a hash file: a package without one of those, a field over MAX_FIELD
 * characters or with blanks or control characters, a checksum that is not hex of its type's length, an
 * unterminated <package>, a missing </metadata> or a package count other than packages="N" is an error
 * naming WHAT (the file) and the package. Linear in the input (indexOf and anchored regexes only).
 */
export function parsePrimaryXml(xml: string, what = 'primary.xml'): RpmRepoPackage[] {
  const out: RpmRepoPackage[] = []
  const declared = /<metadata\s[^>]*\bpackages="(\d+)"/.exec(xml.slice(0, 4096))?.[1]
  let pos = 0
  let seen = 0
  for (;;) {
    const start = xml.indexOf('<package ', pos)
    if (start < 0) break
    const end = xml.indexOf('</package>', start)
    seen++
    if (end < 0)
      throw new PackageMetadataError(`${what}: truncated: package #${seen} (byte ${start}) has no </package>`)
    const block = xml.slice(start, end)
    pos = end + 10
    if (!/^<package [^>]*type="rpm"/.test(block)) continue
    const text = (tag: string): string | undefined => {
      const open = block.indexOf(`<${tag}>`)
      if (open < 0) return undefined
      const close = block.indexOf(`</${tag}>`, open)
      return close < 0 ? undefined : decode(block.slice(open + tag.length + 2, close)).trim()
    }
    const rawName = text('name')
    const where = `${what}: package #${seen}${rawName && rawName.length <= MAX_FIELD ? ` (${quoteName(rawName, 60)})` : ''}`
    const name = checkField(rawName, '<name>', where)
    const arch = checkField(text('arch'), '<arch>', where)
    const versionTag = /<version\s[^>]*\/?>/.exec(block)?.[0]
    if (!versionTag) throw new PackageMetadataError(`${where}: no <version>`)
    const checksumOpen = block.indexOf('<checksum ')
    const checksumClose = block.indexOf('</checksum>', checksumOpen)
    if (checksumOpen < 0 || checksumClose < 0) throw new PackageMetadataError(`${where}: no <checksum>`)
    const checksumTagEnd = block.indexOf('>', checksumOpen)
    const checksumTag = block.slice(checksumOpen, checksumTagEnd + 1)
    const checksumType = checkField(attr(checksumTag, 'type'), '<checksum type>', where)
    const checksum = block
      .slice(checksumTagEnd + 1, checksumClose)
      .trim()
      .toLowerCase()
    const hexLength = CHECKSUM_HEX[checksumType]
    if (hexLength !== undefined && !(checksum.length === hexLength && /^[0-9a-f]+$/.test(checksum)))
      throw new PackageMetadataError(
        `${where}: the ${checksumType} checksum is not ${hexLength} hex digits (${quoteName(checksum, 80)})`,
      )
    const locationTag = /<location\s[^>]*\/?>/.exec(block)?.[0]
    const location = locationTag ? attr(locationTag, 'href') : undefined
    if (!location) throw new PackageMetadataError(`${where}: no <location href>`)
    if (location.length > 1024) throw new PackageMetadataError(`${where}: <location href> is over 1024 characters`)
    const epoch = attr(versionTag, 'epoch') ?? '0'
    if (!/^\d{1,9}$/.test(epoch))
      throw new PackageMetadataError(`${where}: epoch ${quoteName(epoch, 40)} is not a number`)
    const sourceRpm = text('rpm:sourcerpm')
    out.push({
      name,
      arch,
      epoch: Number(epoch),
      version: checkField(attr(versionTag, 'ver'), '<version ver>', where),
      release: checkField(attr(versionTag, 'rel'), '<version rel>', where),
      checksumType,
      checksum,
      location,
      sourceRpm: sourceRpm ? checkField(sourceRpm, '<rpm:sourcerpm>', where) : undefined,
    })
  }
  if (declared !== undefined) {
    if (Number(declared) !== seen)
      throw new PackageMetadataError(`${what}: declares packages="${declared}" but holds ${seen} (truncated?)`)
    if (!xml.trimEnd().endsWith('</metadata>'))
      throw new PackageMetadataError(`${what}: truncated: no </metadata> at the end`)
  }
  return out
}

/**
 * The hash-file name of an rpm in koji's layout: <source name>/<version>/<release>/<arch>/<file>, which the
 * default Fedora provider appends to its packages/ URL.
 */
export function kojiName(p: RpmRepoPackage): string {
  const base = posix.basename(p.location)
  const srcName = p.sourceRpm ? p.sourceRpm.replace(/-[^-]+-[^-]+\.src\.rpm$/, '') : p.name
  return `${srcName}/${p.version}/${p.release}/${p.arch}/${base}`
}
