/**
 * The one Dockerfile parser of repro (lint today, lock next): dockerfile-ast underneath, typed stages and
 * instructions with 1-based line/column out. It keeps what the rules and the lock need: parser directives
 * (syntax, escape), lower-case instructions, flags, arguments, exec form, heredocs, ARG/ENV/LABEL
 * properties, stages and their names, and the shell text of each RUN with the position of every character
 * (line continuations and comment lines inside them removed, as BuildKit does).
 */
import {DockerfileParser, type Instruction} from 'dockerfile-ast'

import {ReproError} from '../errors.js'

/** The largest Dockerfile we read (real ones are under 100 KiB): bounds time (dockerfile-ast parses ~1 MiB/s) and memory. */
export const MAX_DOCKERFILE_BYTES = 1024 * 1024

export class DockerfileParseError extends ReproError {
  readonly path: string
  constructor(path: string, problem: string) {
    super('E_DOCKERFILE', `${path}: ${problem}`)
    this.path = path
  }
}

export interface SourceWord {
  value: string
  line: number
  column: number
}

export interface InstructionFlag {
  name: string
  value: string | null
  line: number
  column: number
}

export interface Property {
  name: string
  /** null for `ARG NAME` without a default */
  value: string | null
}

/** Text with the source position of each character (1-based). */
export interface PositionedText {
  text: string
  lines: number[]
  columns: number[]
}

export interface Heredoc {
  name: string
  line: number
  body: string
  bodyLine: number
}

export interface DockerfileInstruction {
  /** upper-case keyword (FROM, RUN, ...), whatever case the file uses */
  keyword: string
  line: number
  column: number
  endLine: number
  flags: InstructionFlag[]
  /** shell-form words after the flags (heredoc bodies excluded) */
  args: SourceWord[]
  /** exec (JSON) form, when used */
  exec: string[] | null
  /** RUN, CMD, ENTRYPOINT in shell form: the script the shell runs (a leading heredoc: its body) */
  shell: PositionedText | null
  heredocs: Heredoc[]
  /** ARG, ENV, LABEL */
  properties: Property[]
  /** index of the stage it belongs to; -1 before the first FROM */
  stage: number
}

export interface DockerfileStage {
  index: number
  /** `AS name`, lower-cased (stage names are case-insensitive) */
  name: string | null
  /** the image reference as written (variables not expanded) */
  image: string
  imageLine: number
  imageColumn: number
  platform: string | null
  line: number
  instructions: DockerfileInstruction[]
}

export interface Directive {
  name: string
  value: string
  line: number
  column: number
}

export interface ParsedDockerfile {
  path: string
  escape: string
  directives: Directive[]
  /** instructions before the first FROM (global ARGs) */
  globalInstructions: DockerfileInstruction[]
  stages: DockerfileStage[]
  instructions: DockerfileInstruction[]
  comments: {line: number; text: string}[]
  /** the source lines, for messages and fingerprints */
  lines: string[]
}

const KNOWN = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
])

/** Decode bytes as a Dockerfile: UTF-8 only, no NUL bytes, bounded size. Errors name the file. */
export function decodeDockerfile(bytes: Uint8Array, path: string): string {
  if (bytes.length > MAX_DOCKERFILE_BYTES) {
    throw new DockerfileParseError(
      path,
      `larger than ${MAX_DOCKERFILE_BYTES / 1024 / 1024} MiB (${bytes.length} bytes)`,
    )
  }
  if (bytes.includes(0)) throw new DockerfileParseError(path, 'contains NUL bytes: not a text file')
  try {
    const text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
    return text.startsWith('\uFEFF') ? text.slice(1) : text
  } catch {
    throw new DockerfileParseError(path, 'is not valid UTF-8')
  }
}

export function parseDockerfile(content: string, path: string): ParsedDockerfile {
  if (content.includes('\0')) throw new DockerfileParseError(path, 'contains NUL bytes: not a text file')
  const text = content.replaceAll('\r\n', '\n')
  const df = DockerfileParser.parse(text)
  const escape = df.getEscapeCharacter()
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1)
  const lines = text.split('\n')
  const offsetOf = (p: {line: number; character: number}): number =>
    Math.min(text.length, (lineStarts[p.line] ?? text.length) + p.character)

  const directives: Directive[] = df.getDirectives().map((d) => ({
    name: d.getName().toLowerCase(),
    value: d.getValue(),
    line: d.getRange().start.line + 1,
    column: d.getValueRange().start.character + 1,
  }))

  const instructions: DockerfileInstruction[] = []
  const stages: DockerfileStage[] = []
  const globalInstructions: DockerfileInstruction[] = []
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword().toUpperCase()
    const range = ins.getRange()
    const line = range.start.line + 1
    if (!KNOWN.has(keyword)) {
      throw new DockerfileParseError(
        path,
        `line ${line}: unknown instruction ${printable(ins.getInstruction().slice(0, 40))}`,
      )
    }
    const heredocs: Heredoc[] = []
    for (const h of getHeredocs(ins)) {
      const contentRange = h.getContentRange()
      if (h.getDelimiterRange() === null) {
        throw new DockerfileParseError(
          path,
          `line ${h.getStartRange().start.line + 1}: unterminated heredoc <<${h.getName()}`,
        )
      }
      heredocs.push({
        name: h.getName(),
        line: h.getStartRange().start.line + 1,
        body: contentRange ? text.slice(offsetOf(contentRange.start), offsetOf(contentRange.end)) : '',
        bodyLine: contentRange ? contentRange.start.line + 1 : h.getStartRange().start.line + 2,
      })
    }
    const heredocSpans = getHeredocs(ins).map((h) => {
      const start = h.getContentRange()?.start ?? h.getDelimiterRange()!.start
      return [offsetOf({line: start.line, character: 0}), offsetOf(h.getDelimiterRange()!.end)] as const
    })
    const flags: InstructionFlag[] = getFlags(ins).map((f) => ({
      name: f.getName().toLowerCase(),
      value: f.getValue(),
      line: f.getRange().start.line + 1,
      column: f.getRange().start.character + 1,
    }))
    const rawArgs = ins.getArguments()
    // words as BuildKit reads them: quotes removed, escapes applied, continuations joined (dockerfile-ast
    // splits `"a b"` in two and keeps the quotes)
    const args: SourceWord[] =
      rawArgs.length === 0
        ? []
        : splitWords(
            shellText(
              text,
              offsetOf(rawArgs[0].getRange().start),
              offsetOf(range.end),
              escape,
              lineStarts,
              heredocSpans,
            ),
            escape,
          )
    const exec = execForm(ins, keyword)
    let shell: PositionedText | null = null
    if ((keyword === 'RUN' || keyword === 'CMD' || keyword === 'ENTRYPOINT') && exec === null && rawArgs.length > 0) {
      const first = args[0]?.value ?? ''
      if (/^<<-?["']?[A-Za-z0-9_]+["']?$/.test(first) && heredocs.length > 0) {
        // RUN <<EOF [interpreter]: the body is the script
        shell = concatPositioned(
          heredocs.map((h) => positioned(h.body, h.bodyLine, 1)),
          '\n',
        )
      } else {
        const start = offsetOf(rawArgs[0].getRange().start)
        const end = offsetOf(range.end)
        shell = shellText(text, start, end, escape, lineStarts, heredocSpans)
      }
    }
    const properties: Property[] =
      keyword === 'ARG' || keyword === 'ENV' || keyword === 'LABEL' ? getProperties(ins, keyword) : []
    const item: DockerfileInstruction = {
      keyword,
      line,
      column: range.start.character + 1,
      endLine: range.end.line + 1,
      flags,
      args,
      exec,
      shell,
      heredocs,
      properties,
      stage: stages.length - 1,
    }
    if (keyword === 'FROM') {
      const words = args
      if (words.length === 0) throw new DockerfileParseError(path, `line ${line}: FROM without an image`)
      const asIndex = words.findIndex((w, i) => i > 0 && w.value.toLowerCase() === 'as')
      const name = asIndex > 0 && words[asIndex + 1] ? words[asIndex + 1].value.toLowerCase() : null
      item.stage = stages.length
      stages.push({
        index: stages.length,
        name,
        image: words[0].value,
        imageLine: words[0].line,
        imageColumn: words[0].column,
        platform: flags.find((f) => f.name === 'platform')?.value ?? null,
        line,
        instructions: [item],
      })
    } else if (stages.length === 0) {
      globalInstructions.push(item)
    } else {
      stages[stages.length - 1].instructions.push(item)
    }
    instructions.push(item)
  }
  if (stages.length === 0) throw new DockerfileParseError(path, 'no FROM instruction: not a Dockerfile')
  const comments = df.getComments().map((c) => ({line: c.getRange().start.line + 1, text: c.getContent()}))
  return {path, escape, directives, globalInstructions, stages, instructions, comments, lines}
}

interface RangeNode {
  start: {line: number; character: number}
  end: {line: number; character: number}
}

interface HeredocNode {
  getName(): string
  getStartRange(): RangeNode
  getContentRange(): RangeNode | null
  getDelimiterRange(): RangeNode | null
}

function getHeredocs(ins: Instruction): HeredocNode[] {
  const fn = (ins as unknown as {getHeredocs?: () => HeredocNode[]}).getHeredocs
  return typeof fn === 'function' ? fn.call(ins) : []
}

interface FlagNode {
  getName(): string
  getValue(): string | null
  getRange(): {start: {line: number; character: number}}
}

function getFlags(ins: Instruction): FlagNode[] {
  const fn = (ins as unknown as {getFlags?: () => FlagNode[]}).getFlags
  return typeof fn === 'function' ? fn.call(ins) : []
}

function execForm(ins: Instruction, keyword: string): string[] | null {
  if (keyword !== 'RUN' && keyword !== 'CMD' && keyword !== 'ENTRYPOINT' && keyword !== 'SHELL') return null
  const fn = (ins as unknown as {getJSONStrings?: () => {getValue(): string}[]}).getJSONStrings
  if (typeof fn !== 'function') return null
  const strings = fn.call(ins)
  if (strings.length === 0) return null
  try {
    return strings.map((s) => JSON.parse(s.getValue()) as string)
  } catch {
    return null
  }
}

function getProperties(ins: Instruction, keyword: string): Property[] {
  const fn = (ins as unknown as {getProperties?: () => {getName(): string; getValue(): string | null}[]}).getProperties
  if (typeof fn !== 'function') return []
  return fn.call(ins).map((p) => {
    const value = p.getValue()
    return {name: p.getName(), value: keyword === 'ARG' ? value : (value ?? '')}
  })
}

export function positioned(text: string, line: number, column: number): PositionedText {
  const lines: number[] = []
  const columns: number[] = []
  let l = line
  let c = column
  for (const ch of text) {
    for (let k = 0; k < ch.length; k++) {
      lines.push(l)
      columns.push(c)
    }
    if (ch === '\n') {
      l++
      c = 1
    } else c++
  }
  return {text, lines, columns}
}

function concatPositioned(parts: PositionedText[], separator: string): PositionedText {
  const out: PositionedText = {text: '', lines: [], columns: []}
  parts.forEach((p, i) => {
    if (i > 0) {
      out.text += separator
      for (let k = 0; k < separator.length; k++) {
        out.lines.push(out.lines.at(-1) ?? 1)
        out.columns.push(out.columns.at(-1) ?? 1)
      }
    }
    out.text += p.text
    // a loop, not push(...): a heredoc body can be longer than a call takes arguments
    for (let k = 0; k < p.lines.length; k++) {
      out.lines.push(p.lines[k])
      out.columns.push(p.columns[k])
    }
  })
  return out
}

/**
 * The shell text of a shell-form instruction: escape+newline removed, comment lines (and empty lines)
 * inside the continuation skipped, heredoc bodies left out; every kept character keeps its position.
 */
function shellText(
  text: string,
  start: number,
  end: number,
  escape: string,
  lineStarts: number[],
  skip: ReadonlyArray<readonly [number, number]>,
): PositionedText {
  let line = lineOf(lineStarts, start)
  const chars: string[] = []
  const lines: number[] = []
  const columns: number[] = []
  let i = start
  let skipIndex = 0
  const spans = [...skip].sort((a, b) => a[0] - b[0])
  while (i < end) {
    while (skipIndex < spans.length && spans[skipIndex][1] <= i) skipIndex++
    if (skipIndex < spans.length && i >= spans[skipIndex][0]) {
      // a heredoc body: keep a newline so the commands around it stay apart
      i = spans[skipIndex][1]
      line = lineOf(lineStarts, i)
      chars.push('\n')
      lines.push(line)
      columns.push(1)
      continue
    }
    const ch = text[i]
    if (ch === escape) {
      // escape, optional trailing blanks, newline: a line continuation
      let j = i + 1
      while (j < end && (text[j] === ' ' || text[j] === '\t')) j++
      if (j >= end || text[j] === '\n') {
        i = j + 1
        line++
        // comment lines and empty lines inside a continuation are not part of the command
        for (;;) {
          let k = i
          while (k < end && (text[k] === ' ' || text[k] === '\t')) k++
          if (k < end && text[k] === '#') {
            const nl = text.indexOf('\n', k)
            if (nl < 0 || nl >= end) {
              i = end
              break
            }
            i = nl + 1
            line++
          } else if (k < end && text[k] === '\n') {
            i = k + 1
            line++
          } else break
        }
        continue
      }
    }
    chars.push(ch)
    lines.push(line)
    columns.push(i - lineStarts[line - 1] + 1)
    if (ch === '\n') line++
    i++
  }
  return {text: chars.join(''), lines, columns}
}

function lineOf(lineStarts: number[], offset: number): number {
  let lo = 0
  let hi = lineStarts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (lineStarts[mid] <= offset) lo = mid
    else hi = mid - 1
  }
  return lo + 1
}

/**
 * Expand Dockerfile variables ($X, ${X}, ${X:-d}, ${X-d}, ${X:+a}, ${X+a}) with the values known; other
 * ${X...} modifiers yield the plain value. Unknown variables expand to '' and are listed in `unresolved`.
 */
/** What expansion needs of a variable table (a Map fits). */
export interface VariableLookup {
  has(name: string): boolean
  get(name: string): string | null | undefined
}

export function expandVariables(input: string, vars: VariableLookup): {value: string; unresolved: string[]} {
  const unresolved: string[] = []
  let out = ''
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]
    if (ch === '\\' && input[i + 1] === '$') {
      out += '$'
      i++
      continue
    }
    if (ch !== '$') {
      out += ch
      continue
    }
    if (input[i + 1] === '{') {
      const close = input.indexOf('}', i + 2)
      if (close < 0) {
        out += input.slice(i)
        break
      }
      const body = input.slice(i + 2, close)
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(.*)$/s.exec(body)
      if (!m) {
        out += input.slice(i, close + 1)
      } else {
        const [, name, rest] = m
        const has = vars.has(name) && vars.get(name) !== null
        const value = has ? (vars.get(name) as string) : ''
        if (rest.startsWith(':-') || rest.startsWith('-')) {
          const d = rest.slice(rest.startsWith(':-') ? 2 : 1)
          out += has && (value !== '' || rest.startsWith('-')) ? value : expandVariables(d, vars).value
        } else if (rest.startsWith(':+') || rest.startsWith('+')) {
          const a = rest.slice(rest.startsWith(':+') ? 2 : 1)
          out += has && (value !== '' || rest.startsWith('+')) ? expandVariables(a, vars).value : ''
        } else {
          if (!has) unresolved.push(name)
          out += value
        }
      }
      i = close
      continue
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(input.slice(i + 1, i + 130))
    if (!m) {
      out += ch
      continue
    }
    const name = m[0]
    if (vars.has(name) && vars.get(name) !== null) out += vars.get(name)
    else unresolved.push(name)
    i += name.length
  }
  return {value: out, unresolved}
}

/**
 * Split instruction arguments into words the way BuildKit's shell-word processing does for FROM, COPY,
 * ADD: blanks separate, single and double quotes group and are removed, the escape character escapes.
 * The JSON form (`COPY ["a", "b"]`) gives its strings.
 */
export function splitWords(src: PositionedText, escape = '\\'): SourceWord[] {
  const trimmed = src.text.trim()
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed)
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) {
        const at = src.text.indexOf('[')
        return parsed.map((value) => ({value, line: src.lines[at] ?? 1, column: src.columns[at] ?? 1}))
      }
    } catch {
      // not JSON: shell words
    }
  }
  const words: SourceWord[] = []
  let value = ''
  let start = -1
  let quote: string | null = null
  const flush = (): void => {
    if (start >= 0) words.push({value, line: src.lines[start], column: src.columns[start]})
    value = ''
    start = -1
  }
  for (let i = 0; i < src.text.length; i++) {
    const ch = src.text[i]
    if (quote === null && (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r')) {
      flush()
      continue
    }
    if (start < 0) start = i
    if (ch === escape && quote !== "'" && i + 1 < src.text.length) {
      value += src.text[++i]
      continue
    }
    if (quote === null && (ch === '"' || ch === "'")) quote = ch
    else if (quote === ch) quote = null
    else value += ch
  }
  flush()
  return words
}

/** A quoted, escaped form of text from the file, safe on one terminal line. */
function printable(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
