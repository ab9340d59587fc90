/**
 * A digest of the build context as the build sees it: every file, directory and symlink under the
 * context that .dockerignore does not exclude (BuildKit's `<Dockerfile>.dockerignore` wins over the
 * context's .dockerignore), one tab-separated line per entry sorted by path, hashed with sha256. Lines hold
 * the type, the permission bits, the content sha256 (files) or the target (symlinks), and the path: the things
 * COPY/ADD carry into an image. Owners and times are left out: rewrite-timestamp and COPY's defaults
 * make them irrelevant, and they differ between checkouts of the same commit.
 */
import {createHash} from 'node:crypto'
import {lstat, readdir, readFile, readlink} from 'node:fs/promises'
import path from 'node:path'

import {InvalidArgumentError} from '../errors.js'
import {sha256File} from '../image/digest.js'

export interface IgnoreRule {
  pattern: string
  negate: boolean
  regex: RegExp
}

/** Docker's cleaning of a pattern: trim, drop a leading '/', resolve '.' and '..' segments. */
function cleanPattern(p: string): string {
  const cleaned = path.posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '')
  return cleaned === '.' ? '' : cleaned
}

/** A .dockerignore glob as a regex over slash-separated relative paths (`*`, `?`, `[...]`, `**`). */
export function globToRegex(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++
        if (pattern[i + 1] === '/') {
          i++
          re += '(?:.*/)?'
        } else re += '.*'
      } else re += '[^/]*'
    } else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1)
      if (end === -1) re += '\\['
      else {
        let body = pattern.slice(i + 1, end)
        if (body.startsWith('^') || body.startsWith('!')) body = `^${body.slice(1)}`
        re += `[${body.replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++
      re += pattern[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = []
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const negate = line.startsWith('!')
    if (negate) line = line.slice(1).trim()
    const pattern = cleanPattern(line)
    if (pattern === '') continue
    rules.push({pattern, negate, regex: globToRegex(pattern)})
  }
  return rules
}

/** Excluded when the last rule matching the path, or one of its parent directories, is not a negation. */
export function isIgnored(rel: string, rules: IgnoreRule[]): boolean {
  const parts = rel.split('/')
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let ignored = false
  for (const r of rules) {
    if (prefixes.some((p) => r.regex.test(p))) ignored = !r.negate
  }
  return ignored
}

/** A negated rule may re-include something under this directory: walk into it even when it is excluded. */
export function mayReinclude(rel: string, rules: IgnoreRule[]): boolean {
  return rules.some((r) => r.negate && (r.pattern.startsWith(`${rel}/`) || r.pattern.includes('*')))
}

export interface ContextDigest {
  digest: string
  files: number
  /** the ignore file that applied, relative to the context (or the Dockerfile's directory), if any */
  ignoreFile?: string
}

export async function readIgnore(context: string, dockerfile?: string): Promise<{rules: IgnoreRule[]; file?: string}> {
  const candidates = [...(dockerfile ? [`${dockerfile}.dockerignore`] : []), path.join(context, '.dockerignore')]
  for (const f of candidates) {
    const text = await readFile(f, 'utf8').catch(() => undefined)
    if (text !== undefined) {
      const rel = path.relative(context, f)
      return {rules: parseDockerignore(text), file: rel.startsWith('..') ? path.basename(f) : rel}
    }
  }
  return {rules: []}
}

/** The sorted listing lines, for tests and for the digest. */
export async function contextLines(
  context: string,
  dockerfile?: string,
): Promise<{lines: string[]; ignoreFile?: string}> {
  const {rules, file} = await readIgnore(context, dockerfile)
  const entries: Array<{rel: string; line: string}> = []
  const add = (kind: string, mode: string, value: string, rel: string) =>
    entries.push({rel, line: `${kind}\t${mode}\t${value}\t${rel}`})
  const walk = async (dirRel: string): Promise<void> => {
    const abs = path.join(context, dirRel)
    let names: string[]
    try {
      names = await readdir(abs)
    } catch (error) {
      throw new InvalidArgumentError(`build context ${abs}: cannot read (${(error as Error).message.split('\n')[0]})`)
    }
    for (const name of names.sort()) {
      const rel = dirRel ? `${dirRel}/${name}` : name
      const full = path.join(context, rel)
      const st = await lstat(full)
      const ignored = isIgnored(rel, rules)
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0')
      if (st.isDirectory()) {
        if (!ignored) add('dir', mode, '-', rel)
        if (!ignored || mayReinclude(rel, rules)) await walk(rel)
      } else if (ignored) {
        continue
      } else if (st.isSymbolicLink()) {
        add('symlink', mode, await readlink(full), rel)
      } else if (st.isFile()) {
        add('file', mode, await sha256File(full), rel)
      } else {
        add('other', mode, '-', rel)
      }
    }
  }
  await walk('')
  // byte order of the paths, independent of the walk and the locale
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)))
  return {lines: entries.map((e) => e.line), ignoreFile: file}
}

export async function contextDigest(context: string, dockerfile?: string): Promise<ContextDigest> {
  const {lines, ignoreFile} = await contextLines(context, dockerfile)
  const hash = createHash('sha256')
  for (const l of lines) hash.update(`${l}\n`)
  return {
    digest: `sha256:${hash.digest('hex')}`,
    files: lines.filter((l) => l.startsWith('file\t')).length,
    ignoreFile,
  }
}
