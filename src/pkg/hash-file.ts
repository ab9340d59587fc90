/**
 * Hash files (SHA256SUMS) as repro-get writes them: `<sha256><space><mode><name>` where mode is ' ' (text),
 * '*' (binary) or absent; `#` comments and blank lines; `<sha256>  /ipfs/<CID>` lines attach a CID to every
 * entry with that sha256. Several files merge by name, later files win. Names must be relative and clean.
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

const LINE = /^([0-9a-fA-F]{64}) ([ *]?)(.*)$/

/** Why a file name is unsafe, or undefined when it is fine. */
export function checkEntryName(name: string): string | undefined {
  if (name === '') return 'empty file name'
  if (name.includes('\0')) return 'file name contains a NUL byte'
  if (name.startsWith('/')) return `absolute file name "${name}" is refused`
  if (name.includes('\\')) return `file name "${name}" contains a backslash`
  const parts = name.split('/')
  if (parts.includes('..')) return `file name "${name}" escapes with ".." and is refused`
  if (posix.normalize(name) !== name || parts.includes('.') || name.endsWith('/'))
    return `file name "${name}" is not clean (use "${posix.normalize(name).replace(/\/$/, '')}")`
  if (posix.basename(name).startsWith('.')) return `file name "${name}" has a hidden basename`
  return undefined
}

/** Parse one hash file's text into lines, keeping comments (for `hash update`). Throws on the first bad line. */
export function parseHashFileLines(text: string, file: string): HashFileLine[] {
  const out: HashFileLine[] = []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  for (const [i, rawLine] of lines.entries()) {
    const raw = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine
    const where = `${file}:${i + 1}`
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
      const hint = /^[0-9a-fA-F]+\s/.test(raw) ? ' (the checksum must be 64 hex digits)' : ''
      throw new HashFileError(`${where}: malformed line, expected "<sha256>  <file>"${hint}: ${truncate(raw)}`)
    }
    const sha256 = m[1].toLowerCase()
    const name = m[3]
    if (name.startsWith('/ipfs/')) {
      const cid = name.slice('/ipfs/'.length)
      if (!/^[A-Za-z0-9]+$/.test(cid)) throw new HashFileError(`${where}: malformed IPFS CID "${cid}"`)
      out.push({kind: 'cid', raw, sha256, cid})
      continue
    }
    const problem = checkEntryName(name)
    if (problem) throw new HashFileError(`${where}: ${problem}`)
    out.push({kind: 'entry', raw, sha256, name, mode: m[2] as '' | ' ' | '*'})
  }
  return out
}

export interface HashFileInput {
  file: string
  text: string
}

/** Parse and merge hash files: entries by name, later files win; CIDs attach by sha256 across all files. */
export function parseHashFiles(inputs: HashFileInput[]): HashEntry[] {
  const byName = new Map<string, HashEntry>()
  const cids = new Map<string, string[]>()
  for (const {file, text} of inputs) {
    const lines = parseHashFileLines(text, file)
    let lineNo = 0
    for (const [i, l] of lines.entries()) {
      lineNo = i + 1
      if (l.kind === 'entry') {
        byName.set(l.name, {
          sha256: l.sha256,
          name: l.name,
          basename: posix.basename(l.name),
          cids: [],
          source: {file, line: lineNo},
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

function truncate(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}...` : s
}
