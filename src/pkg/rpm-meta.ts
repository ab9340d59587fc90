/**
 * Pure parsers for Fedora/RPM metadata: repodata primary.xml (which carries each package's sha256 and
 * location) and the output of `rpm -qa --queryformat` for the installed set.
 */
import {posix} from 'node:path'

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

const decode = (s: string): string =>
  s.replaceAll(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) =>
    e === 'lt'
      ? '<'
      : e === 'gt'
        ? '>'
        : e === 'amp'
          ? '&'
          : e === 'quot'
            ? '"'
            : e === 'apos'
              ? "'"
              : String.fromCodePoint(e.startsWith('#x') ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1))),
  )

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)
  return m ? decode(m[1]) : undefined
}

/** Parse repodata primary.xml: each <package type="rpm"> with name, arch, version, checksum and location. */
export function parsePrimaryXml(xml: string): RpmRepoPackage[] {
  const out: RpmRepoPackage[] = []
  let pos = 0
  for (;;) {
    const start = xml.indexOf('<package ', pos)
    if (start < 0) break
    const end = xml.indexOf('</package>', start)
    if (end < 0) break
    const block = xml.slice(start, end)
    pos = end + 10
    if (!/^<package [^>]*type="rpm"/.test(block)) continue
    const text = (tag: string): string | undefined => {
      const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(block)
      return m ? decode(m[1]).trim() : undefined
    }
    const versionTag = /<version\s[^>]*\/?>/.exec(block)?.[0] ?? ''
    const checksumTag = /<checksum\s[^>]*>([^<]*)<\/checksum>/.exec(block)
    const locationTag = /<location\s[^>]*\/?>/.exec(block)?.[0] ?? ''
    const name = text('name')
    const arch = text('arch')
    const location = attr(locationTag, 'href')
    if (!name || !arch || !checksumTag || !location) continue
    out.push({
      name,
      arch,
      epoch: Number(attr(versionTag, 'epoch') ?? 0) || 0,
      version: attr(versionTag, 'ver') ?? '',
      release: attr(versionTag, 'rel') ?? '',
      checksumType: attr(checksumTag[0], 'type') ?? '',
      checksum: checksumTag[1].trim().toLowerCase(),
      location,
      sourceRpm: text('rpm:sourcerpm'),
    })
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
