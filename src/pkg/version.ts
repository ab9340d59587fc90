/**
 * Version comparison, exactly as the package managers do it: dpkg's verrevcmp (epoch:upstream-revision,
 * '~' sorts before everything, even the end) and rpm's rpmvercmp (alphanumeric segments, '~' and '^').
 */

export interface DebianVersion {
  epoch: number
  upstream: string
  revision: string
}

export function parseDebianVersion(v: string): DebianVersion {
  const s = v.trim()
  const colon = s.indexOf(':')
  let epoch = 0
  let rest = s
  if (colon >= 0) {
    epoch = Number.parseInt(s.slice(0, colon), 10)
    if (!/^\d+$/.test(s.slice(0, colon))) throw new Error(`invalid epoch in version "${v}"`)
    rest = s.slice(colon + 1)
  }
  const dash = rest.lastIndexOf('-')
  return dash >= 0
    ? {epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1)}
    : {epoch, upstream: rest, revision: ''}
}

// dpkg lib/dpkg/version.c order(): '~' < end < digits(0) < letters < other characters
function order(c: string | undefined): number {
  if (c === undefined) return 0
  if (c >= '0' && c <= '9') return 0
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return c.charCodeAt(0)
  if (c === '~') return -1
  return c.charCodeAt(0) + 256
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'

function verrevcmp(a: string, b: string): number {
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    let firstDiff = 0
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i])
      const bc = order(b[j])
      if (ac !== bc) return ac - bc
      i++
      j++
    }
    while (a[i] === '0') i++
    while (b[j] === '0') j++
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j)
      i++
      j++
    }
    if (isDigit(a[i])) return 1
    if (isDigit(b[j])) return -1
    if (firstDiff) return firstDiff
  }
  return 0
}

/** Compare two Debian versions: negative, zero or positive like dpkg --compare-versions. */
export function compareDebianVersions(a: string, b: string): number {
  const va = parseDebianVersion(a)
  const vb = parseDebianVersion(b)
  if (va.epoch !== vb.epoch) return va.epoch > vb.epoch ? 1 : -1
  const u = verrevcmp(va.upstream, vb.upstream)
  if (u) return Math.sign(u)
  return Math.sign(verrevcmp(va.revision, vb.revision))
}

const isAlnum = (c: string | undefined): boolean =>
  c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
const isAlpha = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))

/** rpm's rpmvercmp (rpmio/rpmvercmp.c) for one version or release string: -1, 0 or 1. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0
  let i = 0
  let j = 0
  for (;;) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++
    // tilde sorts before everything else
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1
      if (b[j] !== '~') return -1
      i++
      j++
      continue
    }
    // caret: like tilde, except that the end of a string sorts before it
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1
      if (j >= b.length) return 1
      if (a[i] !== '^') return 1
      if (b[j] !== '^') return -1
      i++
      j++
      continue
    }
    if (!(i < a.length && j < b.length)) break
    const si = i
    const sj = j
    let numeric = false
    if (isDigit(a[i])) {
      while (isDigit(a[i])) i++
      while (isDigit(b[j])) j++
      numeric = true
    } else {
      while (isAlpha(a[i])) i++
      while (isAlpha(b[j])) j++
    }
    let one = a.slice(si, i)
    let two = b.slice(sj, j)
    // segments of different types: numeric is newer
    if (two === '') return numeric ? 1 : -1
    if (numeric) {
      one = one.replace(/^0+/, '')
      two = two.replace(/^0+/, '')
      if (one.length !== two.length) return one.length > two.length ? 1 : -1
    }
    if (one !== two) return one < two ? -1 : 1
  }
  if (i >= a.length && j >= b.length) return 0
  return i >= a.length ? -1 : 1
}

export interface Evr {
  epoch: number
  version: string
  release: string
}

/** Compare rpm EVRs: epoch numerically, then version and release with rpmvercmp. */
export function compareEvr(a: Evr, b: Evr): number {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch ? 1 : -1
  return rpmvercmp(a.version, b.version) || rpmvercmp(a.release, b.release)
}

/** "E:V-R" or "V-R" → Evr (pacman's full versions use the same shape). */
export function parseEvr(s: string): Evr {
  const colon = s.indexOf(':')
  const epoch = colon >= 0 ? Number.parseInt(s.slice(0, colon), 10) : 0
  const rest = colon >= 0 ? s.slice(colon + 1) : s
  const dash = rest.lastIndexOf('-')
  return dash >= 0
    ? {epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1)}
    : {epoch, version: rest, release: ''}
}
