/**
 * Human rendering of a `repro diff` result: a table of every differing field with both values, unified diffs
 * of small text files, one summary line per cause (most important first), and the verdict.
 */
import type {CauseSummary, DiffEvent, DiffResult} from '../diff/types.js'

export interface RenderOptions {
  color: boolean
  /** longest value shown in the table (the JSON output always has the full value) */
  maxValue?: number
}

const ANSI = {
  bold: '\u001B[1m',
  dim: '\u001B[2m',
  red: '\u001B[31m',
  green: '\u001B[32m',
  yellow: '\u001B[33m',
  cyan: '\u001B[36m',
  reset: '\u001B[0m',
}

function paint(on: boolean, code: keyof typeof ANSI, s: string): string {
  return on ? `${ANSI[code]}${s}${ANSI.reset}` : s
}

/** Shorten long values in the middle, keeping both ends (digests keep their size suffix). */
export function shorten(v: string | null, max: number): string {
  if (v === null) return '(absent)'
  const one = v.replace(/\n/g, '\\n')
  if (one.length <= max) return one
  const tail = Math.min(22, Math.floor(max / 2.5))
  return `${one.slice(0, max - tail - 1)}…${one.slice(one.length - tail)}`
}

function where(e: DiffEvent): string {
  if (e.kind === 'file') return `${e.layer === undefined ? '' : `layer ${e.layer}: `}/${e.path === '.' ? '' : e.path}`
  return `${e.kind}: ${e.path}`
}

/** Length in code points, without building an array of them. */
function codePoints(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdbff) n++
  }
  return n
}

/** Append without spreading into arguments (100,000+ lines would overflow the stack). */
function append(out: string[], lines: string[]): void {
  for (const l of lines) out.push(l)
}

function pad(s: string, n: number): string {
  const len = codePoints(s)
  return len >= n ? s : s + ' '.repeat(n - len)
}

function table(events: DiffEvent[], o: RenderOptions): string[] {
  const max = o.maxValue ?? 50
  const rows = events.map((e) => [where(e), e.field, shorten(e.a, max), shorten(e.b, max), e.cause])
  const head = ['WHERE', 'FIELD', 'A', 'B', 'CAUSE']
  // a reduce, not Math.max(...rows): spreading 100,000+ rows overflows the stack
  const widths = head.map((h, i) => rows.reduce((w, r) => Math.max(w, codePoints(r[i])), h.length))
  const colors: Array<keyof typeof ANSI | undefined> = [undefined, undefined, 'red', 'green', 'dim']
  const line = (r: string[], header: boolean): string =>
    r
      .map((c, i) => {
        const cell = i === r.length - 1 ? c : pad(c, widths[i])
        const color = header ? 'bold' : colors[i]
        return color ? paint(o.color, color, cell) : cell
      })
      .join('  ')
      .trimEnd()
  const out = [line(head, true)]
  for (const r of rows) out.push(line(r, false))
  return out
}

function groupByPlatform(events: DiffEvent[]): Map<string, DiffEvent[]> {
  const m = new Map<string, DiffEvent[]>()
  for (const e of events) {
    const list = m.get(e.platform)
    if (list) list.push(e)
    else m.set(e.platform, [e])
  }
  return m
}

function colorDiff(diff: string, on: boolean): string {
  if (!on) return diff.trimEnd()
  return diff
    .trimEnd()
    .split('\n')
    .map((l) =>
      l.startsWith('+++') || l.startsWith('---')
        ? paint(true, 'bold', l)
        : l.startsWith('+')
          ? paint(true, 'green', l)
          : l.startsWith('-')
            ? paint(true, 'red', l)
            : l.startsWith('@@')
              ? paint(true, 'cyan', l)
              : l,
    )
    .join('\n')
}

function causeLines(causes: CauseSummary[], o: RenderOptions): string[] {
  return causes.flatMap((c) => [
    `  ${pad(`[${c.category}]`, 12)} ${String(c.count).padStart(4)} × ${paint(o.color, 'bold', c.cause)}: ${c.title}`,
    `  ${' '.repeat(12)}        ${paint(o.color, 'dim', `hint: ${c.hint}`)}`,
  ])
}

function section(title: string, events: DiffEvent[], o: RenderOptions): string[] {
  const out: string[] = [paint(o.color, 'bold', title)]
  for (const [platform, list] of groupByPlatform(events)) {
    out.push('', platform === '' ? 'archive and index:' : `platform ${platform}:`)
    for (const l of table(list, o)) out.push(`  ${l}`)
    // what a detector of src/hazards decoded from both contents (timestamps, gzip and zip times)
    for (const e of list) if (e.detail) out.push(`  ${paint(o.color, 'dim', `${where(e)}: ${e.cause}: ${e.detail}`)}`)
  }
  return out
}

export function renderDiff(r: DiffResult, o: RenderOptions): string {
  const out: string[] = []
  const side = (label: string, s: DiffResult['a']): string =>
    `${label}: ${s.input}  (${s.format}${s.imageDigest ? `, ${s.imageDigest}` : ''}; ${s.platforms.join(', ')})`
  out.push(side('A', r.a), side('B', r.b), '')
  if (r.differences.length > 0) {
    append(out, section('Differences', r.differences, o))
    out.push('')
    const diffs = r.differences.filter((e) => e.diff)
    if (diffs.length > 0) {
      out.push(paint(o.color, 'bold', 'Text files'), '')
      for (const e of diffs) out.push(colorDiff(e.diff!, o.color), '')
    }
    out.push(paint(o.color, 'bold', 'Likely causes (most important first)'), ...causeLines(r.summary.causes, o), '')
  }
  if (r.notes.length > 0) {
    append(out, section('Notes (packaging only: the same image with --semantic)', r.notes, o))
    out.push('')
  }
  for (const w of r.warnings) out.push(paint(o.color, 'yellow', `warning: ${w}`))
  if (r.warnings.length > 0) out.push('')
  const s = r.summary
  const counts = `${s.layersCompared} layer pair(s) compared file by file, ${s.layersSkipped} skipped (same diff ID), ${s.filesCompared} file(s) compared${s.ignored ? `, ${s.ignored} difference(s) ignored` : ''}`
  if (r.same) {
    out.push(
      paint(o.color, 'green', `Same: no difference${r.notes.length ? ` (${r.notes.length} packaging note(s))` : ''}.`) +
        ` ${counts}.`,
    )
  } else {
    const cats = Object.entries(s.byCategory)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${n} ${c}`)
      .join(', ')
    out.push(paint(o.color, 'red', `Different: ${s.differences} difference(s) (${cats}).`) + ` ${counts}.`)
  }
  if (r.reportDir) out.push(`Report written to ${r.reportDir} (report.json, a/, b/)`)
  return out.join('\n')
}
