/**
 * Small pure helpers for engine arguments: splitting --buildkit-args/--buildx-args like a shell would,
 * CSV fields for `--output` attributes, parsing --build-context and --secret values, naming outputs.
 */
import path from 'node:path'

import {InvalidArgumentError} from '../errors.js'

/**
 * Split a string into words the way a POSIX shell would (quotes and backslashes; no expansion), so
 * `--buildx-args "--network host --label 'a b'"` means what it says. Refuses unbalanced quotes.
 */
export function splitArgs(text: string, what: string): string[] {
  const words: string[] = []
  let cur = ''
  let inWord = false
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === "'") {
      const end = text.indexOf("'", i + 1)
      if (end === -1) throw new InvalidArgumentError(`${what}: unbalanced ' in '${text}'`)
      cur += text.slice(i + 1, end)
      inWord = true
      i = end + 1
    } else if (c === '"') {
      i++
      let closed = false
      while (i < text.length) {
        const d = text[i]
        if (d === '"') {
          closed = true
          i++
          break
        }
        if (d === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) {
          cur += text[i + 1]
          i += 2
          continue
        }
        cur += d
        i++
      }
      if (!closed) throw new InvalidArgumentError(`${what}: unbalanced " in '${text}'`)
      inWord = true
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[i + 1]
      inWord = true
      i += 2
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur)
      cur = ''
      inWord = false
      i++
    } else {
      cur += c
      inWord = true
      i++
    }
  }
  if (inWord) words.push(cur)
  return words
}

/** One field of a CSV attribute list (`--output type=docker,name="a,b"`): quoted only when it must be. */
export function csvField(field: string): string {
  return /[",\n\r]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field
}

/** Parse `k=v,k2="v,2"` into ordered pairs (the syntax buildx and buildctl use for --secret and --output). */
export function parseCsvPairs(text: string): Array<[string, string]> {
  const fields: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"'
        i++
      } else if (c === '"') quoted = false
      else cur += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      fields.push(cur)
      cur = ''
    } else cur += c
  }
  fields.push(cur)
  return fields
    .filter((f) => f !== '')
    .map((f) => {
      const eq = f.indexOf('=')
      return eq === -1 ? [f, ''] : [f.slice(0, eq), f.slice(eq + 1)]
    })
}

export function formatCsvPairs(pairs: Array<[string, string]>): string {
  return pairs.map(([k, v]) => csvField(`${k}=${v}`)).join(',')
}

export type BuildContext =
  | {kind: 'dir'; name: string; path: string}
  | {kind: 'oci-layout'; name: string; path: string; digest?: string}
  /** docker-image://, target:, https://, git URLs: passed to the frontend unchanged */
  | {kind: 'other'; name: string; value: string}

/** `NAME=DIR`, `NAME=oci-layout://DIR[@sha256:HEX]`, or `NAME=<scheme>://...` (passed through). */
export function parseBuildContext(text: string, cwd: string): BuildContext {
  const eq = text.indexOf('=')
  const name = eq === -1 ? '' : text.slice(0, eq)
  const value = eq === -1 ? '' : text.slice(eq + 1)
  if (!name || !value || !/^[\w.:/@-]+$/.test(name)) {
    throw new InvalidArgumentError(`--build-context '${text}': expected NAME=DIR or NAME=oci-layout://DIR[@sha256:...]`)
  }
  if (value.startsWith('oci-layout://')) {
    const rest = value.slice('oci-layout://'.length)
    const at = rest.lastIndexOf('@')
    const dir = at === -1 ? rest : rest.slice(0, at)
    const digest = at === -1 ? undefined : rest.slice(at + 1)
    if (!dir) throw new InvalidArgumentError(`--build-context '${text}': oci-layout:// needs a directory`)
    if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) {
      throw new InvalidArgumentError(`--build-context '${text}': '${digest}' is not a sha256:<64 hex> digest`)
    }
    return {kind: 'oci-layout', name, path: path.resolve(cwd, dir), digest}
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(value) || value.startsWith('target:')) return {kind: 'other', name, value}
  return {kind: 'dir', name, path: path.resolve(cwd, value)}
}

export interface Secret {
  id: string
  /** file on the host */
  src?: string
  /** environment variable on the host */
  env?: string
  /** the other attributes (type=...), kept in order */
  pairs: Array<[string, string]>
}

/** `id=foo,src=FILE` | `id=foo,env=VAR` (also `source=`, `type=file|env`), as buildx and buildctl take it. */
export function parseSecret(text: string, cwd: string): Secret {
  const pairs = parseCsvPairs(text)
  const get = (...keys: string[]) => pairs.find(([k]) => keys.includes(k))?.[1]
  const id = get('id')
  const src = get('src', 'source')
  const env = get('env')
  const type = get('type')
  if (!id) throw new InvalidArgumentError(`--secret: missing id= (expected id=NAME,src=FILE or id=NAME,env=VAR)`)
  if (!src && !env && type !== 'env') {
    throw new InvalidArgumentError(`--secret id=${id}: missing src=FILE or env=VAR`)
  }
  const rest = pairs.filter(([k]) => !['id', 'src', 'source', 'env'].includes(k))
  return {
    id,
    src: src ? path.resolve(cwd, src) : undefined,
    env: env ?? (type === 'env' && !src ? id : undefined),
    pairs: rest,
  }
}

/**
 * The `--secret` value buildx and buildctl take: `id=ID[,type=...],src=PATH` and/or `env=VAR`. Printed as is
 * by --dry: a path and a variable name are not secrets (the engine reads the value; it never enters argv),
 * and a printed command that says `<redacted>` would not run when pasted.
 */
export function secretArg(secret: Secret, src: string | undefined): string {
  const pairs: Array<[string, string]> = [['id', secret.id], ...secret.pairs]
  if (src !== undefined) pairs.push(['src', src])
  if (secret.env !== undefined) pairs.push(['env', secret.env])
  return formatCsvPairs(pairs)
}

/** `linux/arm/v7` → `linux-arm-v7`, for per-platform file names. */
export function platformSlug(platform: string): string {
  return platform.replaceAll('/', '-')
}

/** `image.tar` + `linux/arm64` → `image-linux-arm64.tar` (one docker-format tarball per platform). */
export function perPlatformOutput(output: string, platform: string): string {
  const ext = path.extname(output)
  const stem = ext ? output.slice(0, -ext.length) : output
  return `${stem}-${platformSlug(platform)}${ext}`
}

/** The temp file an engine writes into, next to its destination, renamed only when the build succeeded. */
export function partialPath(output: string): string {
  return path.join(path.dirname(output), `.${path.basename(output)}.repro-partial`)
}

/**
 * The private output directory of one run (podman mounts it into a --privileged container, so it must never
 * be the destination's parent: `-o ~/image.tar` would hand all of $HOME to the container). Named by the
 * run's id (the pid), so concurrent builds never share one and a dead run's leftover is recognisable.
 */
export function privateOutDir(output: string, runId: string): string {
  return path.join(path.dirname(output), `.${path.basename(output)}.repro-out-${runId}`)
}

/** `.NAME.repro-out-PID` → PID, for the private output directories of `output` */
export function privateOutDirPid(output: string, name: string): number | undefined {
  const prefix = `.${path.basename(output)}.repro-out-`
  if (!name.startsWith(prefix)) return undefined
  const rest = name.slice(prefix.length)
  return /^\d+$/.test(rest) ? Number(rest) : undefined
}

/** Split repeated and comma-separated --platform values, dropping duplicates, keeping order. */
export function splitPlatforms(values: readonly string[]): string[] {
  const out: string[] = []
  for (const v of values) {
    for (const p of v.split(',')) {
      const t = p.trim()
      if (!t) continue
      if (!/^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_.]+)?$/i.test(t)) {
        throw new InvalidArgumentError(`--platform '${t}': expected OS/ARCH[/VARIANT], e.g. linux/amd64`)
      }
      if (!out.includes(t)) out.push(t)
    }
  }
  return out
}

/** Build args and annotations are KEY=VALUE. */
export function checkKeyValue(value: string, flag: string): string {
  if (!/^[^=\s]+=/.test(value)) throw new InvalidArgumentError(`${flag} '${value}': expected KEY=VALUE`)
  return value
}
