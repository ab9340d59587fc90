/**
 * Timestamps written into file content: ISO-8601 date-times, `date`'s default output, and epoch numbers in
 * seconds (with an optional fraction), milliseconds, microseconds and nanoseconds. Pure functions over text;
 * the callers decide the window (later than SOURCE_DATE_EPOCH, not in the future).
 */

export type TimestampKind =
  'date output' | 'epoch microseconds' | 'epoch milliseconds' | 'epoch nanoseconds' | 'epoch seconds' | 'ISO-8601'

export interface TimestampMatch {
  kind: TimestampKind
  /** the text as written */
  raw: string
  /** seconds since the epoch (fraction kept) */
  seconds: number
  /** 1-based line and column (UTF-16 code units) of the match */
  line: number
  column: number
  /** offset of the match in the text */
  index: number
}

/** 2000-01-01: epoch-looking numbers before it are counts, sizes or ids far more often than times. */
export const EARLIEST_PLAUSIBLE = 946_684_800

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTH_RE = MONTHS.join('|')
const DAY_RE = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun'

// One scanner for all forms, so that the matches are found in one pass and never overlap:
//   1. ISO-8601 date and time (a date alone is too often a version or a changelog entry to count)
//   2. `date`'s default output: "Thu Dec  3 13:09:26 UTC 2026"
//   3. a number of 10, 13, 16 or 19 digits (seconds may carry a fraction), not part of a longer word,
//      a version (1.2.1700000000) or a hex string
const SCANNER = new RegExp(
  [
    String.raw`(?<iso>(?<![0-9A-Za-z])\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}| ?UTC)?(?![0-9]))`,
    String.raw`(?<date>\b(?:${DAY_RE}) (?:${MONTH_RE}) {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?: [A-Z]{2,5}| [+-]\d{4})? \d{4}\b)`,
    String.raw`(?<epoch>(?<![0-9A-Za-z_.+-])(?:\d{19}|\d{16}|\d{13}|\d{10}(?:\.\d{1,9})?)(?![0-9A-Za-z_]|\.\d))`,
  ].join('|'),
  'g',
)

function isoSeconds(raw: string): number | undefined {
  let s = raw.replace(' UTC', 'Z').replace(',', '.')
  s = s.replace(' ', 'T')
  if (/T\d{2}:\d{2}$/.test(s)) s += ':00'
  if (!/(Z|[+-]\d{2}:?\d{2})$/.test(s)) s += 'Z'
  s = s.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')
  const ms = Date.parse(s)
  return Number.isNaN(ms) ? undefined : ms / 1000
}

function dateOutputSeconds(raw: string): number | undefined {
  const m = /^\w{3} (\w{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?: ([A-Z]{2,5}|[+-]\d{4}))? (\d{4})$/.exec(raw)
  if (!m) return undefined
  const month = MONTHS.indexOf(m[1])
  let ms = Date.UTC(Number(m[7]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]))
  const zone = m[6]
  if (zone && /^[+-]\d{4}$/.test(zone)) {
    const sign = zone.startsWith('-') ? -1 : 1
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000
  }
  // a zone name other than UTC/GMT is read as UTC: off by hours at most, still on the build day
  return Number.isNaN(ms) ? undefined : ms / 1000
}

function epochOf(raw: string): {kind: TimestampKind; seconds: number} {
  const digits = raw.split('.')[0].length
  if (digits === 19) return {kind: 'epoch nanoseconds', seconds: Number(raw.slice(0, 10)) + Number(raw.slice(10)) / 1e9}
  if (digits === 16) return {kind: 'epoch microseconds', seconds: Number(raw) / 1e6}
  if (digits === 13) return {kind: 'epoch milliseconds', seconds: Number(raw) / 1e3}
  return {kind: 'epoch seconds', seconds: Number(raw)}
}

/**
 * Every timestamp in `text` whose time lies in (after, notAfter]. `max` bounds the matches returned (a file
 * of a million numbers costs one regex pass, not a million findings).
 */
export function findTimestamps(text: string, window: {after: number; notAfter: number}, max = 1000): TimestampMatch[] {
  const out: TimestampMatch[] = []
  const after = Math.max(window.after, EARLIEST_PLAUSIBLE - 1)
  let line = 1
  let lineStart = 0
  let scanned = 0
  SCANNER.lastIndex = 0
  for (let m = SCANNER.exec(text); m !== null; m = SCANNER.exec(text)) {
    const g = m.groups ?? {}
    let found: {kind: TimestampKind; seconds: number} | undefined
    if (g.iso !== undefined) {
      const s = isoSeconds(g.iso)
      if (s !== undefined) found = {kind: 'ISO-8601', seconds: s}
    } else if (g.date !== undefined) {
      const s = dateOutputSeconds(g.date)
      if (s !== undefined) found = {kind: 'date output', seconds: s}
    } else if (g.epoch !== undefined) found = epochOf(g.epoch)
    if (!found || !(found.seconds > after && found.seconds <= window.notAfter)) continue
    // line and column, counted incrementally from the last match
    for (let i = scanned; i < m.index; i++) {
      if (text.charCodeAt(i) === 10) {
        line++
        lineStart = i + 1
      }
    }
    scanned = m.index
    out.push({...found, raw: m[0], line, column: m.index - lineStart + 1, index: m.index})
    if (out.length >= max) break
  }
  return out
}

/** YYYY-MM-DD HH:MM:SS UTC of epoch seconds. */
export function utc(seconds: number): string {
  const d = new Date(Math.floor(seconds) * 1000)
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString().replace('T', ' ').replace('.000Z', ' UTC')
}

function utcDay(seconds: number): string {
  return utc(seconds).slice(0, 10)
}

/** "2 s", "1.5 ms", "3 h 2 min". */
export function span(seconds: number): string {
  const s = Math.abs(seconds)
  if (s === 0) return '0 s'
  if (s < 1e-3) return `${Number((s * 1e6).toPrecision(3))} µs`
  if (s < 1) return `${Number((s * 1e3).toPrecision(3))} ms`
  if (s < 120) return `${Number(s.toPrecision(4))} s`
  if (s < 7200) return `${Math.round(s / 60)} min`
  if (s < 2 * 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`
  return `${Math.round(s / 86400)} days`
}

/** One timestamp decoded: "1795483984: epoch seconds, 2026-11-23 08:53:04 UTC". */
export function describeTimestamp(t: Pick<TimestampMatch, 'kind' | 'raw' | 'seconds'>): string {
  return `${t.raw}: ${t.kind}, ${utc(t.seconds)}`
}

/**
 * Two values of the same timestamp decoded, for diff: `1795483984 vs 1795483986: epoch seconds 2 s apart,
 * both on 2026-11-23 (UTC), after SOURCE_DATE_EPOCH 0`.
 */
export function describeTimestampPair(
  a: Pick<TimestampMatch, 'kind' | 'raw' | 'seconds'>,
  b: Pick<TimestampMatch, 'kind' | 'raw' | 'seconds'>,
  sde?: number,
): string {
  const kind = a.kind === b.kind ? a.kind : `${a.kind} and ${b.kind}`
  const dayA = utcDay(a.seconds)
  const dayB = utcDay(b.seconds)
  const days = dayA === dayB ? `both on ${dayA} (UTC)` : `on ${dayA} and ${dayB} (UTC)`
  let clock = ''
  if (sde !== undefined) {
    const late = [a, b].filter((t) => t.seconds > sde).length
    clock =
      late === 2
        ? `, both after SOURCE_DATE_EPOCH ${sde}: the build clock`
        : late === 1
          ? `, one after SOURCE_DATE_EPOCH ${sde}`
          : ''
  }
  return `${a.raw} vs ${b.raw}: ${kind} ${span(b.seconds - a.seconds)} apart, ${days}${clock}`
}
