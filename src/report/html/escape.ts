/**
 * Escaping for the HTML reports. Every string that comes from an image (file names, contents, labels,
 * annotations) or from the user (input names) goes through `text()` or `attr()`; nothing else is written raw.
 * Besides the five HTML metacharacters, characters that would hide or disguise text are shown as visible
 * escapes: C0/C1 controls and DEL, bidirectional overrides and isolates (a name like "txt.exe" spelled
 * backwards), zero-width characters, and lone surrogates (from invalid UTF-8 or hostile JSON).
 */

const HTML: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}

// controls (except tab and newline), DEL and C1, bidi controls, zero-width and BOM, line/paragraph separators,
// and any surrogate (pairs are re-joined below, lone ones are replaced)
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B-\u200F\u2028-\u202E\u2060-\u2069\uFEFF\uD800-\uDFFF]/g

function visible(ch: string, s: string, i: number): {out: string; skip: number} {
  const c = ch.charCodeAt(0)
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = s.charCodeAt(i + 1)
    if (next >= 0xdc00 && next <= 0xdfff) return {out: s.slice(i, i + 2), skip: 1}
    return {out: '\uFFFD', skip: 0}
  }
  if (c >= 0xdc00 && c <= 0xdfff) return {out: '\uFFFD', skip: 0}
  return {out: c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`, skip: 0}
}

/** Make control, invisible and bidi characters visible as escapes; replace lone surrogates. */
export function printable(s: string): string {
  UNSAFE.lastIndex = 0
  if (!UNSAFE.test(s)) return s
  let out = ''
  let last = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const unsafe =
      c <= 0x08 ||
      (c >= 0x0b && c <= 0x1f) ||
      (c >= 0x7f && c <= 0x9f) ||
      (c >= 0x200b && c <= 0x200f) ||
      (c >= 0x2028 && c <= 0x202e) ||
      (c >= 0x2060 && c <= 0x2069) ||
      c === 0xfeff ||
      (c >= 0xd800 && c <= 0xdfff)
    if (!unsafe) continue
    const v = visible(s[i], s, i)
    out += s.slice(last, i) + v.out
    i += v.skip
    last = i + 1
  }
  return out + s.slice(last)
}

/** Text content: printable, then the HTML metacharacters escaped. */
export function text(s: string): string {
  return printable(s).replace(/[&<>"']/g, (c) => HTML[c])
}

/** An attribute value (always written inside double quotes): the same as text, newlines and tabs too. */
export function attr(s: string): string {
  return text(s).replace(/[\t\n]/g, (c) => (c === '\n' ? '&#10;' : '&#9;'))
}

/** An id fragment from anything: [a-z0-9-] only, so it never needs escaping (collisions are harmless here). */
export function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'x'
  )
}

/** A relative URL from path segments: every segment percent-encoded, so a name cannot change the URL's shape. */
export function hrefOf(segments: string[]): string {
  return segments.map((s) => (s === '..' ? '..' : encodeURIComponent(s))).join('/')
}

/** Shorten in the middle to at most max code units (HTML pages keep the whole value up to this cap). */
export function cap(s: string, max: number): string {
  if (s.length <= max) return s
  const head = s.slice(0, Math.floor(max * 0.75))
  const tail = s.slice(s.length - Math.floor(max * 0.2))
  return `${head}… (${s.length - head.length - tail.length} more characters) …${tail}`
}

/** A link taken from a report: only relative URLs (no scheme, no //host), else undefined. */
export function safeHref(url: string | undefined): string | undefined {
  if (!url) return undefined
  // eslint-disable-next-line no-control-regex
  const t = url.replace(/[\u0000-\u0020\u007F-\u009F]/g, '')
  if (/^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('//') || t.startsWith('\\\\') || t.startsWith('/\\'))
    return undefined
  return url
}
