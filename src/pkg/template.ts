/**
 * A tiny evaluator for the subset of Go's text/template that provider strings use:
 *   literal text, `{{.Field}}`, `{{.Group.Field}}` and `{{func .Field}}` with the functions below.
 * Unknown fields and functions are caught when the template is compiled (before any download);
 * a known field with no value for an entry (e.g. .CID without an /ipfs/ line) fails at render time,
 * which the downloader treats as "this provider cannot serve this entry" and falls through.
 */
import {ReproError} from '../errors.js'

export class TemplateError extends ReproError {
  constructor(message: string) {
    super('E_TEMPLATE', message)
  }
}

/** A field the template names is known but has no value for this entry. */
export class TemplateValueMissingError extends ReproError {
  constructor(message: string) {
    super('E_TEMPLATE_VALUE', message)
  }
}

type Value = number | string | undefined
export type TemplateData = Record<string, Record<string, Value> | Value>

type Arg = {kind: 'field'; path: string[]}
type Node = {kind: 'text'; text: string} | {kind: 'action'; fn?: string; arg: Arg; source: string}

export interface CompiledTemplate {
  source: string
  nodes: Node[]
  /** true when the template has no {{...}} action (e.g. an oci:// provider) */
  isLiteral: boolean
}

/** Known fields: top-level names and per-format groups. */
export const TEMPLATE_FIELDS: Record<string, readonly string[] | true> = {
  Name: true,
  Basename: true,
  SHA256: true,
  CID: true,
  Epoch: true,
  Dpkg: ['Package', 'Version', 'Architecture'],
  RPM: ['Name', 'Version', 'Release', 'Architecture'],
  APK: ['Package', 'Version'],
  Pacman: ['Package', 'Version', 'Architecture'],
}

/** YYYYMMDDThhmmssZ in UTC, the path element of Debian's snapshot archive. */
export function timeToDebianSnapshot(epochSeconds: number): string {
  const date = new Date(epochSeconds * 1000)
  if (Number.isNaN(date.getTime())) throw new TemplateValueMissingError(`epoch ${epochSeconds} is not a date`)
  const iso = date.toISOString() // 2024-01-02T03:04:05.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`
}

const FUNCTIONS: Record<string, (v: Value) => string> = {
  timeToDebianSnapshot: (v) => timeToDebianSnapshot(Number(v)),
  timeToInt: (v) => String(Math.trunc(Number(v))),
}

export function compileTemplate(source: string): CompiledTemplate {
  const nodes: Node[] = []
  let pos = 0
  while (pos < source.length) {
    const open = source.indexOf('{{', pos)
    if (open < 0) {
      nodes.push({kind: 'text', text: source.slice(pos)})
      break
    }
    if (open > pos) nodes.push({kind: 'text', text: source.slice(pos, open)})
    const close = source.indexOf('}}', open + 2)
    if (close < 0) throw new TemplateError(`provider "${source}": unclosed "{{" at column ${open + 1}`)
    const inner = source.slice(open + 2, close).trim()
    nodes.push(parseAction(inner, source))
    pos = close + 2
  }
  if (source.slice(pos).includes('}}') && !nodes.some((n) => n.kind === 'action'))
    throw new TemplateError(`provider "${source}": "}}" without "{{"`)
  return {source, nodes, isLiteral: !nodes.some((n) => n.kind === 'action')}
}

function parseAction(inner: string, source: string): Node {
  const tokens = inner.split(/\s+/).filter(Boolean)
  const where = `provider "${source}": {{${inner}}}`
  if (tokens.length === 1) return {kind: 'action', arg: parseField(tokens[0], where), source: inner}
  if (tokens.length === 2) {
    const [fn, arg] = tokens
    if (!(fn in FUNCTIONS))
      throw new TemplateError(`${where}: unknown function "${fn}" (known: ${Object.keys(FUNCTIONS).join(', ')})`)
    return {kind: 'action', fn, arg: parseField(arg, where), source: inner}
  }
  throw new TemplateError(`${where}: expected {{.Field}} or {{function .Field}}`)
}

function parseField(token: string, where: string): Arg {
  if (!token.startsWith('.') || token === '.')
    throw new TemplateError(`${where}: "${token}" is not a field (fields start with ".")`)
  const path = token.slice(1).split('.')
  const top = TEMPLATE_FIELDS[path[0]]
  const known = Object.entries(TEMPLATE_FIELDS)
    .flatMap(([k, v]) => (v === true ? [`.${k}`] : v.map((s) => `.${k}.${s}`)))
    .join(', ')
  if (top === undefined) throw new TemplateError(`${where}: unknown field "${token}" (known: ${known})`)
  if (top === true ? path.length !== 1 : path.length !== 2 || !top.includes(path[1]))
    throw new TemplateError(`${where}: unknown field "${token}" (known: ${known})`)
  return {kind: 'field', path}
}

/**
 * How a substituted value enters the output: the provider passes one that validates and encodes each value
 * (so no value can add a path segment, a query or a fragment); the identity is for tests and --dry texts.
 * `field` is the dotted field path (e.g. "Dpkg.Version"), after any function was applied to its value.
 */
export type ValueEscaper = (value: string, field: string) => string

export function renderTemplate(t: CompiledTemplate, data: TemplateData, escape?: ValueEscaper): string {
  let out = ''
  for (const n of t.nodes) {
    if (n.kind === 'text') {
      out += n.text
      continue
    }
    const [head, sub] = n.arg.path
    const group = data[head]
    const value = sub === undefined ? group : typeof group === 'object' && group ? group[sub] : undefined
    if (value === undefined || value === '' || typeof value === 'object')
      throw new TemplateValueMissingError(`{{${n.source}}}: this entry has no .${n.arg.path.join('.')}`)
    const text = n.fn ? FUNCTIONS[n.fn](value) : String(value)
    out += escape ? escape(text, n.arg.path.join('.')) : text
  }
  return out
}

/** The literal text before the first {{...}} action (the part of the URL no entry can change). */
export function literalPrefix(t: CompiledTemplate): string {
  let out = ''
  for (const n of t.nodes) {
    if (n.kind !== 'text') break
    out += n.text
  }
  return out
}
