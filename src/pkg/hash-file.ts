/**
 * Hash files (SHA256SUMS) as repro-get writes them: `<sha256><space><mode><name>` where mode is ' ' (text),
 * '*' (binary) or absent; `#` comments and blank lines; `<sha256>  /ipfs/<CID>` lines attach a CID to every
 * entry with that sha256. Several files merge by name; the same name with two different sha256 is an error.
 *
 * Names follow ONE grammar (checkEntryName, documented in README "Hash file format"): a relative path of
 * segments separated by single `/`, each segment 1-255 characters from the set [A-Za-z0-9._+~^:@-], starting
 * with [A-Za-z0-9_+@], 1024 characters in all. That accepts every name `hash generate` writes (Debian/Ubuntu
 * pool paths, koji paths with rpm `^`/`~`, Arch `epoch:` names and `.sig`, Alpine repo paths) and refuses
 * everything that could change a path or a URL: `%`, `#`, `?`, `\\`, blanks, control and invisible characters,
 * `..`, `.`, hidden and `-`/`~` segments, absolute paths.
 */
import {posix} from 'node:path'

import {HashFileError} from '../errors.js'

export interface HashEntry {
  sha256: string
  /** the relative path from the hash file, e.g. pool/main/h/hello/hello_2.10-3_amd64.deb */
  name: string
  basename: string
  /** IPFS CIDs known for this sha256 (from /ipfs/ lines), in file order */
  cids: string[]
  /** where the entry came from, for error messages */
  source: {file: string; line: number}
}

export type HashFileLine =
  | {kind: 'blank' | 'comment'; raw: string}
  | {kind: 'cid'; raw: string; sha256: string; cid: string}
  | {kind: 'entry'; raw: string; sha256: string; name: string; mode: '' | ' ' | '*'}

/** The longest name, in characters (= bytes: names are ASCII). Linux's PATH_MAX is 4096; no distro nears 1024. */
export const NAME_MAX_LENGTH = 1024
/** The longest segment between two `/` (Linux's NAME_MAX). */
export const SEGMENT_MAX_LENGTH = 255
/** The longest /ipfs/ CID (CIDv1 base32 of a sha2-256 multihash is 59 characters). */
export const CID_MAX_LENGTH = 128

// `s` so that a name with U+2028 or a lone CR reaches the name check (and its precise message)
const LINE = /^([0-9a-fA-F]{64}) ([ *]?)(.*)$/s
const SEGMENT = '[A-Za-z0-9_+@][A-Za-z0-9._+~^:@-]{0,254}'
const VALID_NAME = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`)
const ALLOWED = 'A-Z a-z 0-9 . _ - + ~ ^ : @'

/**
 * A string as it may be shown in a one-line message: quoted, every character outside printable ASCII
 * escaped (\xHH, \uHHHH), cut after about `max` characters of output with the full length said.
 */
export function quoteName(s: string, max = 80): string {
  let out = ''
  let used = 0
  // only the shown head is walked: a 1 MB name costs no more than a short one
  for (const ch of s.slice(0, max * 2)) {
    if (out.length >= max) break
    const c = ch.codePointAt(0)!
    used += ch.length
    if (ch === '"' || ch === '\\') out += `\\${ch}`
    else if (c >= 0x20 && c < 0x7f) out += ch
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`
    else out += `\\u{${c.toString(16)}}`
  }
  return used < s.length ? `"${out}"... (${s.length} characters)` : `"${out}"`
}

const codePoint = (ch: string): string => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

/** Why a file name breaks the grammar, or undefined when it is fine. The message quotes the name safely. */
export function checkEntryName(name: string): string | undefined {
  // the grammar in one expression: the fast path for the 100,000 good names of a big hash file
  if (name.length <= NAME_MAX_LENGTH && VALID_NAME.test(name)) return undefined
  return explainName(name) ?? `file name ${quoteName(name)} does not match the grammar`
}

/**
 * Which rule a name breaks, rule by rule, in the order a reader would look; undefined when it breaks none.
 * Exported so a test can hold it to VALID_NAME (the two must agree on every string).
 */
export function explainName(name: string): string | undefined {
  if (name === '') return 'empty file name'
  const q = quoteName(name)
  if (name.length > NAME_MAX_LENGTH) return `file name ${q} is longer than ${NAME_MAX_LENGTH} characters`
  if (/^\s|\s$/u.test(name)) return `file name ${q} has leading or trailing blanks`
  const control = /\p{Cc}/u.exec(name) // C0, DEL and C1
  if (control) return `file name ${q} contains a control character (${codePoint(control[0])})`
  const invisible = /[\p{Cf}\p{Zl}\p{Zp}]/u.exec(name)
  if (invisible) return `file name ${q} contains an invisible or bidirectional character (${codePoint(invisible[0])})`
  const nonAscii = /\P{ASCII}/u.exec(name)
  if (nonAscii) return `file name ${q} contains a non-ASCII character (${codePoint(nonAscii[0])})`
  if (name.includes('%')) return `file name ${q} contains "%" (names are literal; percent-encoding is refused)`
  if (name.includes('\\')) return `file name ${q} contains a backslash`
  if (/[#?]/.test(name)) return `file name ${q} contains "${/[#?]/.exec(name)![0]}" (a URL fragment or query)`
  if (name.startsWith('/')) return `absolute file name ${q} is refused`
  if (name.startsWith('~')) return `file name ${q} starts with "~" (a home directory)`
  for (const seg of name.split('/')) {
    if (seg === '..') return `file name ${q} escapes with ".." and is refused`
    if (seg === '' || seg === '.')
      return `file name ${q} is not clean (use "${posix.normalize(name).replace(/\/$/, '')}")`
    if (seg.length > SEGMENT_MAX_LENGTH)
      return `file name ${q} has a segment longer than ${SEGMENT_MAX_LENGTH} characters`
    if (seg.startsWith('.')) return `file name ${q} has a hidden segment ${quoteName(seg, 20)}`
    const bad = [...seg].find((ch) => !/[A-Za-z0-9._+~^:@-]/.test(ch))
    if (bad !== undefined)
      return `file name ${q} contains ${quoteName(bad)} (allowed: ${ALLOWED}, and / between segments)`
    if (!/[A-Za-z0-9_+@]/.test(seg[0]))
      return `file name ${q} has a segment starting with "${seg[0]}" (segments start with a letter, digit, _, + or @)`
  }
  return undefined
}

interface Seen {
  sha256: string
  file: string
  line: number
}

/** The conflict check shared by one file (parseHashFileLines) and several (parseHashFiles). */
function noteName(seen: Map<string, Seen>, name: string, sha256: string, file: string, line: number): boolean {
  const prev = seen.get(name)
  if (!prev) {
    seen.set(name, {sha256, file, line})
    return true
  }
  if (prev.sha256 !== sha256)
    throw new HashFileError(
      `${file}:${line}: file name ${quoteName(name)} has sha256 ${sha256} here but ${prev.sha256} at ${prev.file}:${prev.line}`,
    )
  return false
}

/** Parse one hash file's text into lines, keeping comments (for `hash update`). Throws on the first bad line. */
export function parseHashFileLines(text: string, file: string): HashFileLine[] {
  const out: HashFileLine[] = []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const shownFile = safeFile(file)
  const seen = new Map<string, Seen>()
  for (const [i, rawLine] of lines.entries()) {
    const raw = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine
    const where = `${shownFile}:${i + 1}`
    if (raw.trim() === '') {
      out.push({kind: 'blank', raw})
      continue
    }
    if (raw.trimStart().startsWith('#')) {
      out.push({kind: 'comment', raw})
      continue
    }
    const m = LINE.exec(raw)
    if (!m) {
      const hex = /^[0-9a-fA-F]+/.exec(raw)?.[0].length ?? 0
      const hint =
        hex === 64
          ? ' (a space must follow the checksum)'
          : hex >= 32 && /^[0-9a-fA-F]+\s/.test(raw)
            ? ` (the checksum must be 64 hex digits, not ${hex})`
            : ''
      throw new HashFileError(`${where}: malformed line, expected "<sha256>  <file>"${hint}: ${quoteName(raw)}`)
    }
    const sha256 = m[1].toLowerCase()
    const name = m[3]
    if (name.startsWith('/ipfs/')) {
      const cid = name.slice('/ipfs/'.length)
      if (!/^[A-Za-z0-9]+$/.test(cid) || cid.length > CID_MAX_LENGTH)
        throw new HashFileError(
          `${where}: malformed IPFS CID ${quoteName(cid)} (1-${CID_MAX_LENGTH} letters and digits)`,
        )
      out.push({kind: 'cid', raw, sha256, cid})
      continue
    }
    const problem = checkEntryName(name)
    if (problem) throw new HashFileError(`${where}: ${problem}`)
    noteName(seen, name, sha256, shownFile, i + 1)
    out.push({kind: 'entry', raw, sha256, name, mode: m[2] as '' | ' ' | '*'})
  }
  return out
}

/** A file path as given by the user, printable on one line (escaped only when it needs to be). */
function safeFile(file: string): string {
  return /^[\x20-\x7e]*$/.test(file) && file.length <= 512 ? file : quoteName(file, 200)
}

export interface HashFileInput {
  file: string
  text: string
}

/**
 * Parse and merge hash files: entries by name (an exact duplicate keeps its first place; the same name with
 * another sha256 is an error naming both lines); CIDs attach by sha256 across all files.
 */
export function parseHashFiles(inputs: HashFileInput[]): HashEntry[] {
  const byName = new Map<string, HashEntry>()
  const seen = new Map<string, Seen>()
  const cids = new Map<string, string[]>()
  for (const {file, text} of inputs) {
    const lines = parseHashFileLines(text, file)
    const shownFile = safeFile(file)
    for (const [i, l] of lines.entries()) {
      if (l.kind === 'entry') {
        if (!noteName(seen, l.name, l.sha256, shownFile, i + 1)) continue
        byName.set(l.name, {
          sha256: l.sha256,
          name: l.name,
          basename: posix.basename(l.name),
          cids: [],
          source: {file, line: i + 1},
        })
      } else if (l.kind === 'cid') {
        const list = cids.get(l.sha256) ?? []
        if (!list.includes(l.cid)) list.push(l.cid)
        cids.set(l.sha256, list)
      }
    }
  }
  const entries = [...byName.values()].sort((a, b) => compareNames(a.name, b.name))
  for (const e of entries) e.cids = cids.get(e.sha256) ?? []
  return entries
}

/** Byte-order comparison (stable across locales), the order `hash generate` writes. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export interface GeneratedEntry {
  sha256: string
  name: string
}

/** Render entries as a hash file: sorted by name, two spaces, trailing newline. */
export function formatHashFile(entries: GeneratedEntry[]): string {
  const sorted = [...entries].sort((a, b) => compareNames(a.name, b.name))
  return sorted.map((e) => `${e.sha256}  ${e.name}\n`).join('')
}

/** Drop entries that appear identically (same sha256 and name) in the old file (`hash generate --dedupe`). */
export function dedupe(entries: GeneratedEntry[], old: HashEntry[]): GeneratedEntry[] {
  const seen = new Set(old.map((e) => `${e.sha256} ${e.name}`))
  return entries.filter((e) => !seen.has(`${e.sha256} ${e.name}`))
}
