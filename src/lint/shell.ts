/**
 * A small POSIX-shell tokenizer for the text of a RUN: enough to find the simple commands it runs, their
 * arguments (unquoted) and where each starts. It splits on `&&`, `||`, `;`, `|`, `&`, newlines, parentheses,
 * looks into `$(…)`, backticks and `sh -c '…'`, skips comments and here-document bodies, and looks through
 * control keywords (if/then/do/…), leading `VAR=value` assignments and wrappers (sudo, env, xargs, …).
 * Hand-written because no maintained npm shell parser keeps source positions through continuations; it is
 * a tokenizer, not an interpreter: no expansion happens (rules expand ARG/ENV values they know).
 */
import type {PositionedText} from '../dockerfile/parse.js'

export interface ShellWord {
  /** the word with quotes removed (variables and substitutions kept as written) */
  value: string
  line: number
  column: number
  /** some part of the word was quoted */
  quoted: boolean
}

export interface ShellCommand {
  /** basename of the command word after assignments and wrappers; '' for a pure assignment (`A=1 B=2`) */
  name: string
  /** the command word itself */
  word: ShellWord | null
  /** the words after the command word */
  args: ShellWord[]
  assignments: {name: string; value: string}[]
  redirects: {op: string; target: string}[]
  /** position of the command word (or of the first word) */
  line: number
  column: number
  /** commands joined by `|` share a pipeline id; pipeIndex is the position within it */
  pipeline: number
  pipeIndex: number
}

interface Token {
  kind: 'word' | 'op'
  value: string
  line: number
  column: number
  quoted: boolean
}

/** Upper bound of nested substitutions we follow (hostile input: deeply nested `$(`). */
const MAX_DEPTH = 16

export function parseShell(src: PositionedText): ShellCommand[] {
  const out: ShellCommand[] = []
  const state = {pipeline: 0}
  parseInto(src, out, state, 0)
  return out
}

function parseInto(src: PositionedText, out: ShellCommand[], state: {pipeline: number}, depth: number): void {
  const subs: PositionedText[] = []
  const tokens = lex(src, subs, depth)
  let current: Token[] = []
  let pipeIndex = 0
  const flush = (pipe: boolean): void => {
    if (current.length > 0) {
      const cmd = build(current, state.pipeline, pipeIndex)
      if (cmd) {
        out.push(cmd)
        const inner = shellCArgument(cmd)
        if (inner && depth < MAX_DEPTH) {
          state.pipeline++
          parseInto(inner, out, state, depth + 1)
        }
      }
    }
    current = []
    if (pipe) pipeIndex++
    else {
      pipeIndex = 0
      state.pipeline++
    }
  }
  for (const t of tokens) {
    if (t.kind === 'op') {
      if (t.value === '|' || t.value === '|&') flush(true)
      else if (isRedirect(t.value)) current.push(t)
      else flush(false)
    } else current.push(t)
  }
  flush(false)
  for (const sub of subs) {
    if (depth < MAX_DEPTH) parseInto(sub, out, state, depth + 1)
    state.pipeline++
  }
}

const REDIRECTS = new Set(['>', '>>', '<', '<<', '<<-', '<<<', '>&', '<&', '&>', '&>>', '>|', '<>'])
function isRedirect(op: string): boolean {
  return REDIRECTS.has(op.replace(/^\d+/, ''))
}

function lex(src: PositionedText, subs: PositionedText[], depth: number): Token[] {
  const {text} = src
  const tokens: Token[] = []
  let word = ''
  let quoted = false
  let started = -1
  const pendingHeredocs: {delim: string; strip: boolean}[] = []
  let expectHeredocDelim: {strip: boolean} | null = null
  const pos = (i: number): {line: number; column: number} => ({
    line: src.lines[Math.min(i, src.lines.length - 1)] ?? 1,
    column: src.columns[Math.min(i, src.columns.length - 1)] ?? 1,
  })
  const endWord = (): void => {
    if (started >= 0) {
      if (expectHeredocDelim) {
        pendingHeredocs.push({delim: word, strip: expectHeredocDelim.strip})
        expectHeredocDelim = null
      }
      tokens.push({kind: 'word', value: word, quoted, ...pos(started)})
    }
    word = ''
    quoted = false
    started = -1
  }
  const begin = (i: number): void => {
    if (started < 0) started = i
  }
  const slice = (from: number, to: number): PositionedText => ({
    text: text.slice(from, to),
    lines: src.lines.slice(from, to),
    columns: src.columns.slice(from, to),
  })
  let i = 0
  while (i < text.length) {
    const ch = text[i]
    if (ch === '\\') {
      if (text[i + 1] === '\n') {
        i += 2
        continue
      }
      begin(i)
      if (i + 1 < text.length) word += text[i + 1]
      quoted = true
      i += 2
      continue
    }
    if (ch === "'") {
      begin(i)
      quoted = true
      const close = text.indexOf("'", i + 1)
      const end = close < 0 ? text.length : close
      word += text.slice(i + 1, end)
      i = end + 1
      continue
    }
    if (ch === '"') {
      begin(i)
      quoted = true
      let j = i + 1
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length) {
          const n = text[j + 1]
          if (n === '\n') {
            j += 2
            continue
          }
          word += '"\\$`'.includes(n) ? n : `\\${n}`
          j += 2
          continue
        }
        if (text[j] === '$' && text[j + 1] === '(' && text[j + 2] !== '(') {
          const end = matchParen(text, j + 1)
          subs.push(slice(j + 2, end))
          word += text.slice(j, end + 1)
          j = end + 1
          continue
        }
        if (text[j] === '`') {
          const end = matchBacktick(text, j)
          subs.push(slice(j + 1, end))
          word += text.slice(j, end + 1)
          j = end + 1
          continue
        }
        word += text[j]
        j++
      }
      i = j + 1
      continue
    }
    if (ch === '$' && text[i + 1] === '(') {
      begin(i)
      if (text[i + 2] === '(') {
        const end = matchParen(text, i + 1)
        word += text.slice(i, end + 1)
        i = end + 1
        continue
      }
      const end = matchParen(text, i + 1)
      subs.push(slice(i + 2, end))
      word += text.slice(i, end + 1)
      i = end + 1
      continue
    }
    if (ch === '$' && text[i + 1] === '{') {
      begin(i)
      const close = text.indexOf('}', i + 2)
      const end = close < 0 ? text.length - 1 : close
      word += text.slice(i, end + 1)
      i = end + 1
      continue
    }
    if (ch === '`') {
      begin(i)
      const end = matchBacktick(text, i)
      subs.push(slice(i + 1, end))
      word += text.slice(i, end + 1)
      i = end + 1
      continue
    }
    if (ch === '#' && started < 0) {
      const nl = text.indexOf('\n', i)
      i = nl < 0 ? text.length : nl
      continue
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      endWord()
      i++
      continue
    }
    if (ch === '\n') {
      endWord()
      tokens.push({kind: 'op', value: '\n', quoted: false, ...pos(i)})
      i++
      if (pendingHeredocs.length > 0) {
        // skip here-document bodies: they are data, not commands
        for (const h of pendingHeredocs.splice(0)) {
          for (;;) {
            const nl = text.indexOf('\n', i)
            const lineText = text.slice(i, nl < 0 ? text.length : nl)
            i = nl < 0 ? text.length : nl + 1
            if ((h.strip ? lineText.replace(/^\t+/, '') : lineText) === h.delim || nl < 0) break
          }
        }
      }
      continue
    }
    const op = operatorAt(text, i)
    if (op) {
      // a run of digits right before a redirection is its file descriptor: `2>&1`
      let value = op
      if (/^[<>&]/.test(op) && /^\d+$/.test(word) && started >= 0 && !quoted) {
        value = word + op
        word = ''
        started = -1
      } else endWord()
      tokens.push({kind: 'op', value, quoted: false, ...pos(i)})
      if (op === '<<' || op === '<<-') expectHeredocDelim = {strip: op === '<<-'}
      i += op.length
      continue
    }
    begin(i)
    word += ch
    i++
  }
  endWord()
  void depth
  return tokens
}

const OPS = [
  '&>>',
  '<<<',
  '<<-',
  '&&',
  '||',
  ';;',
  '|&',
  '>>',
  '<<',
  '>&',
  '<&',
  '&>',
  '>|',
  '<>',
  '|',
  '&',
  ';',
  '(',
  ')',
  '<',
  '>',
]
function operatorAt(text: string, i: number): string | null {
  for (const op of OPS) if (text.startsWith(op, i)) return op
  return null
}

/** Index of the `)` that closes the `(` at `open`, skipping quotes and nested parentheses. */
function matchParen(text: string, open: number): number {
  let depth = 0
  for (let j = open; j < text.length; j++) {
    const c = text[j]
    if (c === '\\') {
      j++
      continue
    }
    if (c === "'") {
      const close = text.indexOf("'", j + 1)
      if (close < 0) return text.length
      j = close
      continue
    }
    if (c === '"') {
      let k = j + 1
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1
      j = k
      continue
    }
    if (c === '(') depth++
    else if (c === ')') {
      depth--
      if (depth === 0) return j
    }
  }
  return text.length
}

function matchBacktick(text: string, open: number): number {
  for (let j = open + 1; j < text.length; j++) {
    if (text[j] === '\\') j++
    else if (text[j] === '`') return j
  }
  return text.length
}

const SKIP_LEADING = new Set([
  '!',
  '{',
  '}',
  'if',
  'then',
  'else',
  'elif',
  'do',
  'while',
  'until',
  'fi',
  'done',
  'esac',
])
const CONTROL_HEADERS = new Set(['for', 'case', 'select', 'function'])
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s

/** Options of wrapper commands that take a value (the next word). */
const WRAPPERS: Record<string, {valueOptions: Set<string>; positional?: number}> = {
  sudo: {valueOptions: new Set(['-u', '-g', '-C', '-h', '-p', '-U', '-r', '-t', '-D', '--user', '--group'])},
  env: {valueOptions: new Set(['-u', '-C', '-S', '--unset', '--chdir'])},
  xargs: {
    valueOptions: new Set([
      '-I',
      '-n',
      '-P',
      '-d',
      '-L',
      '-s',
      '-a',
      '-E',
      '--max-args',
      '--max-procs',
      '--delimiter',
      '--arg-file',
    ]),
  },
  nice: {valueOptions: new Set(['-n', '--adjustment'])},
  nohup: {valueOptions: new Set()},
  time: {valueOptions: new Set()},
  command: {valueOptions: new Set()},
  exec: {valueOptions: new Set(['-a'])},
  linux32: {valueOptions: new Set()},
  linux64: {valueOptions: new Set()},
  setarch: {valueOptions: new Set(), positional: 1},
  stdbuf: {valueOptions: new Set(['-i', '-o', '-e'])},
  timeout: {valueOptions: new Set(['-s', '-k', '--signal', '--kill-after']), positional: 1},
  chronic: {valueOptions: new Set()},
  eatmydata: {valueOptions: new Set()},
}

function build(tokens: Token[], pipeline: number, pipeIndex: number): ShellCommand | null {
  const words: ShellWord[] = []
  const redirects: {op: string; target: string}[] = []
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]
    if (t.kind === 'op') {
      const next = tokens[k + 1]
      if (next && next.kind === 'word') {
        redirects.push({op: t.value, target: next.value})
        k++
      }
      continue
    }
    words.push({value: t.value, line: t.line, column: t.column, quoted: t.quoted})
  }
  if (words.length === 0 && redirects.length === 0) return null
  const first = words[0] ?? {line: tokens[0].line, column: tokens[0].column}
  let w = 0
  while (w < words.length && !words[w].quoted && SKIP_LEADING.has(words[w].value)) w++
  const base = {redirects, pipeline, pipeIndex, assignments: [] as {name: string; value: string}[]}
  // a loop or case header (`for k in a b`) runs nothing itself
  if (w < words.length && !words[w].quoted && CONTROL_HEADERS.has(words[w].value)) return null
  for (;;) {
    while (w < words.length) {
      const m = ASSIGNMENT.exec(words[w].value)
      if (!m) break
      base.assignments.push({name: m[1], value: m[2]})
      w++
    }
    if (w >= words.length) break
    const name = basename(words[w].value)
    const wrapper = WRAPPERS[name]
    if (!wrapper || w + 1 >= words.length) break
    // `command -v x` looks x up, it does not run it
    if (name === 'command' && words.slice(w + 1).some((x) => x.value === '-v' || x.value === '-V')) return null
    let k = w + 1
    let positional = wrapper.positional ?? 0
    while (k < words.length) {
      const v = words[k].value
      if (v === '--') {
        k++
        break
      }
      if (v.startsWith('-') && v.length > 1) {
        k += wrapper.valueOptions.has(v) ? 2 : 1
        continue
      }
      if (name === 'env' && ASSIGNMENT.test(v)) break
      if (positional > 0) {
        positional--
        k++
        continue
      }
      break
    }
    if (k >= words.length) break
    w = k
  }
  if (w >= words.length) {
    if (base.assignments.length === 0) return null
    return {...base, name: '', word: null, args: [], line: first.line, column: first.column}
  }
  const word = words[w]
  return {...base, name: basename(word.value), word, args: words.slice(w + 1), line: word.line, column: word.column}
}

function basename(value: string): string {
  const i = value.lastIndexOf('/')
  return i >= 0 ? value.slice(i + 1) : value
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh'])

/** `sh -c 'script'`: the script, positioned at its word (characters inside keep the word's position). */
function shellCArgument(cmd: ShellCommand): PositionedText | null {
  if (!SHELLS.has(cmd.name)) return null
  const c = cmd.args.findIndex((a) => /^-[a-z]*c[a-z]*$/.test(a.value))
  const script = c >= 0 ? cmd.args[c + 1] : undefined
  if (!script) return null
  const n = script.value.length
  return {text: script.value, lines: Array(n).fill(script.line), columns: Array(n).fill(script.column)}
}
