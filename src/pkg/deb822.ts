/**
 * Pure parsers for dpkg's status database and apt's Packages lists (deb822 paragraphs).
 * The lists are large (tens of MB): `indexPackages` scans only the fields it needs, and only for wanted names.
 */

export interface DpkgInstalled {
  package: string
  version: string
  architecture: string
  status: string
}

/** Split deb822 text into paragraphs of fields (continuation lines appended with "\n"). */
export function parseDeb822(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = []
  let cur: Record<string, string> = {}
  let last: string | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(cur).length) out.push(cur)
      cur = {}
      last = undefined
      continue
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last) cur[last] += `\n${line.slice(1)}`
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    last = line.slice(0, colon)
    cur[last] = line.slice(colon + 1).trim()
  }
  if (Object.keys(cur).length) out.push(cur)
  return out
}

/** Installed packages from /var/lib/dpkg/status: Status "install ok installed" (or held, still installed). */
export function parseDpkgStatus(text: string): DpkgInstalled[] {
  const out: DpkgInstalled[] = []
  for (const p of parseDeb822(text)) {
    const status = p.Status ?? ''
    if (!/ installed$/.test(status)) continue
    if (!p.Package || !p.Version) continue
    out.push({package: p.Package, version: p.Version, architecture: p.Architecture ?? 'all', status})
  }
  return out.sort((a, b) =>
    a.package < b.package ? -1 : a.package > b.package ? 1 : a.architecture < b.architecture ? -1 : 1,
  )
}

export interface AptPackage {
  package: string
  version: string
  architecture: string
  filename: string
  sha256: string
  size?: number
}

export function aptKey(pkg: string, version: string, arch: string): string {
  return `${pkg}\u0000${version}\u0000${arch}`
}

/**
 * Index the paragraphs of an apt Packages list by (package, version, architecture).
 * Works on the raw bytes: with `wanted`, only the paragraphs of wanted package names are decoded, so a
 * 50 MB list costs a scan for "Package:" lines rather than a full split.
 */
export function indexPackages(
  data: Buffer | string,
  into = new Map<string, AptPackage>(),
  wanted?: Set<string>,
): Map<string, AptPackage> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data
  let pos = 0
  for (;;) {
    let i: number
    if (pos === 0 && buf.subarray(0, 9).toString('latin1') === 'Package: ') i = 0
    else {
      i = buf.indexOf('\nPackage: ', pos)
      if (i < 0) break
      i += 1
    }
    let nameEnd = buf.indexOf(10, i + 9)
    if (nameEnd < 0) nameEnd = buf.length
    const name = buf.toString('latin1', i + 9, nameEnd).trim()
    pos = nameEnd
    if (wanted && !wanted.has(name)) continue
    const before = i === 0 ? -1 : buf.lastIndexOf('\n\n', i - 1)
    const paraStart = before < 0 ? 0 : before + 2
    let paraEnd = buf.indexOf('\n\n', nameEnd)
    if (paraEnd < 0) paraEnd = buf.length
    pos = paraEnd
    const para = buf.toString('utf8', paraStart, paraEnd)
    const version = field(para, 'Version')
    const architecture = field(para, 'Architecture')
    const filename = field(para, 'Filename')
    const sha256 = field(para, 'SHA256')
    if (!version || !architecture || !filename || !sha256) continue
    const size = field(para, 'Size')
    const key = aptKey(name, version, architecture)
    if (!into.has(key))
      into.set(key, {
        package: name,
        version,
        architecture,
        filename,
        sha256: sha256.toLowerCase(),
        size: size ? Number(size) : undefined,
      })
    if (pos >= buf.length) break
  }
  return into
}

function field(para: string, name: string): string | undefined {
  let i = para.startsWith(`${name}:`) ? 0 : para.indexOf(`\n${name}:`)
  if (i < 0) return undefined
  if (i > 0) i += 1
  const start = i + name.length + 1
  let end = para.indexOf('\n', start)
  if (end < 0) end = para.length
  return para.slice(start, end).trim()
}
