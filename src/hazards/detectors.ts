/**
 * The one set of detectors for content that will not reproduce, used by `repro lint IMAGE` (one file judged
 * against SOURCE_DATE_EPOCH) and by `repro diff` (two versions of a file: which hazard explains the
 * difference, both values decoded).
 */
import {DOS_EPOCH, gzipMtime, pycHeader, zipEntryTimes} from './formats.js'
import {
  describeTimestampPair,
  EARLIEST_PLAUSIBLE,
  findTimestamps,
  span,
  utc,
  type TimestampMatch,
} from './timestamps.js'

export type HazardId =
  | 'build-hostname'
  | 'gzip-mtime'
  | 'ldconfig-cache'
  | 'log-file'
  | 'machine-id'
  | 'package-log'
  | 'pyc-timestamp'
  | 'shadow-last-change'
  | 'timestamp-in-content'
  | 'zip-entry-times'

export interface HazardInfo {
  id: HazardId
  /** the lint rule id (RL1xx: image rules) */
  rule: string
  severity: 'error' | 'warning'
  title: string
  summary: string
  why: string
  fix: string
}

/** Every image hazard; `repro lint` rules RL101… and `repro diff` causes of the same name. Ids never change meaning. */
export const HAZARDS: readonly HazardInfo[] = [
  {
    id: 'timestamp-in-content',
    rule: 'RL101',
    severity: 'error',
    title: 'timestamp in content',
    summary: 'a text file holds a time later than SOURCE_DATE_EPOCH (ISO-8601, date output, epoch s/ms/µs/ns)',
    why: 'A reproducible build clamps every time to SOURCE_DATE_EPOCH; a later one that is not in the future was read from the clock of the build, so every rebuild writes another.',
    fix: 'write SOURCE_DATE_EPOCH instead of the clock (date -u -d @"$SOURCE_DATE_EPOCH"), or leave the value out of the image',
  },
  {
    id: 'build-hostname',
    rule: 'RL102',
    severity: 'error',
    title: 'build host name in content',
    summary: 'a text file holds the host name of the build container (buildkitsandbox, the config Hostname)',
    why: 'The host name of the build container differs between engines and (classic builder) between builds.',
    fix: 'do not write $(hostname) or $HOSTNAME into the image; use a fixed value',
  },
  {
    id: 'gzip-mtime',
    rule: 'RL103',
    severity: 'error',
    title: 'gzip header mtime',
    summary: 'a gzip file whose header MTIME is not 0 and later than SOURCE_DATE_EPOCH',
    why: 'gzip stores the mtime of its input (or the time) in its header unless told not to.',
    fix: 'compress with gzip -n (--no-name), or touch the input to SOURCE_DATE_EPOCH first',
  },
  {
    id: 'zip-entry-times',
    rule: 'RL104',
    severity: 'error',
    title: 'zip entry times',
    summary: 'a zip/jar/wheel whose entries are dated after SOURCE_DATE_EPOCH',
    why: 'zip, jar and wheel writers store each entry with the mtime of its file, usually the time of the build.',
    fix: 'set the entry times (SOURCE_DATE_EPOCH for wheel/zip tools, project.build.outputTimestamp for Maven, preserveFileTimestamps=false for Gradle), or strip-nondeterminism',
  },
  {
    id: 'pyc-timestamp',
    rule: 'RL105',
    severity: 'warning',
    title: 'Python bytecode with embedded timestamps',
    summary: 'a .pyc with timestamp invalidation whose source mtime is later than SOURCE_DATE_EPOCH',
    why: 'Timestamp .pyc files embed the mtime of their source, which a build writes with its own clock.',
    fix: 'compile with SOURCE_DATE_EPOCH set (py_compile then uses checked-hash) or --invalidation-mode checked-hash, or PYTHONDONTWRITEBYTECODE=1',
  },
  {
    id: 'log-file',
    rule: 'RL106',
    severity: 'warning',
    title: 'log files written during the build',
    summary: 'a non-empty file under /var/log',
    why: 'Logs record the time (and often the host) of the build.',
    fix: 'delete /var/log/* at the end of the RUN step that wrote them, or mount a tmpfs on /var/log',
  },
  {
    id: 'package-log',
    rule: 'RL107',
    severity: 'warning',
    title: 'package manager log or cache',
    summary: "dpkg/apt/dnf/yum/pacman logs and apt's binary caches (pkgcache.bin)",
    why: 'Package managers log every action with the time of the build; apt caches embed the times of the package lists.',
    fix: 'rm -rf /var/log/dpkg.log /var/log/apt /var/log/alternatives.log /var/cache/apt/*.bin in the RUN step that installs',
  },
  {
    id: 'ldconfig-cache',
    rule: 'RL108',
    severity: 'warning',
    title: 'ldconfig cache',
    summary: "ldconfig's /var/cache/ldconfig/aux-cache",
    why: 'The aux-cache holds inode numbers and ctimes of the libraries of the build file system.',
    fix: 'rm -f /var/cache/ldconfig/aux-cache in the RUN step that runs ldconfig (or installs libraries)',
  },
  {
    id: 'machine-id',
    rule: 'RL109',
    severity: 'error',
    title: 'machine id',
    summary: '/etc/machine-id (or /var/lib/dbus/machine-id) holds an id',
    why: 'systemd-machine-id-setup and dbus-uuidgen write a random id at build time.',
    fix: 'truncate it: : > /etc/machine-id (systemd fills it at first boot), rm -f /var/lib/dbus/machine-id',
  },
  {
    id: 'shadow-last-change',
    rule: 'RL110',
    severity: 'warning',
    title: '/etc/shadow last password change day',
    summary: '/etc/shadow (or gshadow-, shadow-) has a last-change day after SOURCE_DATE_EPOCH',
    why: 'useradd, passwd and chpasswd write the day of the build into the third field of /etc/shadow.',
    fix: 'chage -d <day of SOURCE_DATE_EPOCH> <user> (or sed the third field) and rm -f /etc/shadow- in the same RUN step',
  },
]

export const HAZARD: Record<HazardId, HazardInfo> = Object.fromEntries(HAZARDS.map((h) => [h.id, h])) as Record<
  HazardId,
  HazardInfo
>

/** The clock window of a build: times later than `sde` and not later than `now` came from the build clock. */
export interface HazardContext {
  sde: number
  now: number
  /** host names of the build container to look for in text (buildkitsandbox, the config's Hostname) */
  hostnames: string[]
}

export interface FileHazard {
  id: HazardId
  /** path in the image, no leading '/' */
  path: string
  line?: number
  column?: number
  message: string
}

/** A file as the scanner saw it: its head always; its whole content or its tail when small enough. */
export interface FileView {
  path: string
  size: number
  /** the first bytes (at least 16 when the file has them) */
  head: Buffer
  /** the whole content (files up to the text cap, within the budget) */
  content?: Buffer
  /** the last bytes (zip central directory), when the file is larger than `content` allows */
  tail?: Buffer
}

const PACKAGE_LOGS = [
  /^var\/log\/dpkg\.log/,
  /^var\/log\/apt\//,
  /^var\/log\/alternatives\.log/,
  /^var\/log\/(yum|dnf[^/]*|hawkey|pacman)\.log/,
  /^var\/log\/(aptitude|bootstrap\.log)/,
  /^var\/cache\/apt\/(src)?pkgcache\.bin$/,
  /^var\/lib\/dnf\/history\.sqlite/,
]

/** Hazards decided by path alone (or path and a non-empty file). */
export function pathHazard(path: string, size: number): HazardId | undefined {
  if (PACKAGE_LOGS.some((r) => r.test(path))) return size > 0 ? 'package-log' : undefined
  if (path.startsWith('var/log/')) return size > 0 ? 'log-file' : undefined
  if (path === 'var/cache/ldconfig/aux-cache') return 'ldconfig-cache'
  return undefined
}

const SHADOW_PATHS = new Set(['etc/shadow', 'etc/shadow-'])
const MACHINE_ID_PATHS = new Set(['etc/machine-id', 'var/lib/dbus/machine-id'])
const ZIP_NAME = /\.(zip|jar|war|ear|aar|whl|egg|nupkg|apk|xpi|crx|odt|docx|xlsx)$/i

export function looksLikeZip(path: string, head: Buffer): boolean {
  return (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) || ZIP_NAME.test(path)
}

/** Text: no NUL byte. (Invalid UTF-8 decodes to U+FFFD and is still scanned: latin-1 logs hold times too.) */
export function isTextContent(b: Buffer): boolean {
  return !b.includes(0)
}

function day(days: number): string {
  return utc(days * 86400).slice(0, 10)
}

/** Users of an /etc/shadow text whose last-change day (field 3) is in (after, notAfter] days. */
export function shadowLateDays(
  text: string,
  afterDay: number,
  notAfterDay: number,
): Array<{user: string; day: number; line: number}> {
  const out: Array<{user: string; day: number; line: number}> = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length && out.length < 1000; i++) {
    const f = lines[i].split(':')
    if (f.length < 3 || !/^\d{1,6}$/.test(f[2])) continue
    const d = Number(f[2])
    if (d > afterDay && d <= notAfterDay) out.push({user: f[0], day: d, line: i + 1})
  }
  return out
}

const HOSTNAME_MIN = 4

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const HOSTNAME_RES = new WeakMap<HazardContext, Array<[string, RegExp]>>()

/** One regular expression per host name (as a word), compiled once per scan. */
function hostnameMatchers(ctx: HazardContext): Array<[string, RegExp]> {
  let list = HOSTNAME_RES.get(ctx)
  if (!list) {
    list = ctx.hostnames
      .filter((h) => h.length >= HOSTNAME_MIN)
      .map((h) => [h, new RegExp(`(?<![A-Za-z0-9_-])${escapeRe(h)}(?![A-Za-z0-9_-])`)])
    HOSTNAME_RES.set(ctx, list)
  }
  return list
}

/** Judge one file of an image against the build's clock window. */
export function judgeFile(file: FileView, ctx: HazardContext): FileHazard[] {
  const out: FileHazard[] = []
  const {path} = file
  const byPath = pathHazard(path, file.size)
  if (byPath) {
    out.push({id: byPath, path, message: `${HAZARD[byPath].title}: /${path} (${file.size} bytes)`})
    return out
  }
  const content = file.content
  if (MACHINE_ID_PATHS.has(path) && content && /^[0-9a-f]{32}\s*$/.test(content.toString('latin1'))) {
    out.push({id: 'machine-id', path, message: `/${path} holds a machine id (${content.toString('latin1').trim()})`})
    return out
  }
  if (SHADOW_PATHS.has(path) && content) {
    const sdeDay = Math.floor(ctx.sde / 86400)
    const late = shadowLateDays(content.toString('utf8'), sdeDay, Math.floor(ctx.now / 86400))
    if (late.length > 0) {
      const l = late[0]
      const users = late.length === 1 ? `user ${l.user}` : `${late.length} users (first ${l.user})`
      out.push({
        id: 'shadow-last-change',
        path,
        line: l.line,
        column: 1,
        message: `${users}: last password change on day ${l.day} (${day(l.day)}), after the day of SOURCE_DATE_EPOCH (${sdeDay}, ${day(sdeDay)})`,
      })
    }
    return out
  }
  const head = file.head
  const gz = gzipMtime(head)
  if (gz !== undefined) {
    if (gz > ctx.sde && gz <= ctx.now && gz >= EARLIEST_PLAUSIBLE)
      out.push({
        id: 'gzip-mtime',
        path,
        message: `gzip header mtime ${gz} (${utc(gz)}) is after SOURCE_DATE_EPOCH ${ctx.sde}`,
      })
    return out
  }
  if (path.endsWith('.pyc') || path.endsWith('.pyo')) {
    const pyc = pycHeader(head)
    if (pyc?.invalidation === 'timestamp' && pyc.sourceMtime! > ctx.sde && pyc.sourceMtime! <= ctx.now)
      out.push({
        id: 'pyc-timestamp',
        path,
        message: `timestamp-invalidated .pyc: source mtime ${pyc.sourceMtime} (${utc(pyc.sourceMtime!)}) is after SOURCE_DATE_EPOCH ${ctx.sde}`,
      })
    return out
  }
  if (looksLikeZip(path, head)) {
    const buf = content ?? file.tail
    const zip = buf ? zipEntryTimes(buf, file.size) : undefined
    if (zip) {
      const late = zip.times.filter((t) => t.seconds > ctx.sde && t.seconds <= ctx.now && t.seconds > DOS_EPOCH + 86400)
      if (late.length > 0) {
        const newest = late.reduce((m, t) => (t.seconds > m.seconds ? t : m))
        out.push({
          id: 'zip-entry-times',
          path,
          message: `${late.length} of ${zip.entries} zip entries dated after SOURCE_DATE_EPOCH ${ctx.sde} (newest: ${newest.name} ${utc(newest.seconds)}, ${newest.source === 'dos' ? 'DOS time' : 'extended timestamp'})`,
        })
      }
    }
    return out
  }
  if (!content || !isTextContent(content)) return out
  const text = content.toString('utf8')
  const stamps = findTimestamps(text, {after: ctx.sde, notAfter: ctx.now}, 100)
  if (stamps.length > 0) {
    const t = stamps[0]
    out.push({
      id: 'timestamp-in-content',
      path,
      line: t.line,
      column: t.column,
      message: `${t.raw}: ${t.kind}, ${utc(t.seconds)}, after SOURCE_DATE_EPOCH ${ctx.sde}${stamps.length > 1 ? ` (${stamps.length >= 100 ? '100 or more' : stamps.length} timestamps in this file)` : ''}`,
    })
  }
  for (const [h, re] of hostnameMatchers(ctx)) {
    const m = re.exec(text)
    if (!m) continue
    const before = text.slice(0, m.index)
    const line = before.split('\n').length
    out.push({
      id: 'build-hostname',
      path,
      line,
      column: m.index - before.lastIndexOf('\n'),
      message: `the build host name "${h}"`,
    })
    break
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// diff: why two versions of one file differ

export interface ContentExplanation {
  id: HazardId
  /** both values decoded, e.g. `1795483984 vs 1795483986: epoch seconds 2 s apart, both on 2026-11-23 (UTC)` */
  detail: string
}

export interface PairContext {
  sdeA?: number
  sdeB?: number
  /** upper bound of plausible times (now, plus a day of clock skew) */
  now: number
}

function differingTimestamps(a: string, b: string, now: number): Array<[TimestampMatch, TimestampMatch]> | undefined {
  const window = {after: EARLIEST_PLAUSIBLE - 1, notAfter: now}
  const ta = findTimestamps(a, window, 10_000)
  const tb = findTimestamps(b, window, 10_000)
  if (ta.length === 0 || ta.length !== tb.length) return undefined
  // the texts with every timestamp cut out must be equal: then the timestamps are the whole difference
  const rest = (text: string, ts: TimestampMatch[]): string => {
    let out = ''
    let at = 0
    for (const t of ts) {
      out += text.slice(at, t.index) + '\0'
      at = t.index + t.raw.length
    }
    return out + text.slice(at)
  }
  if (rest(a, ta) !== rest(b, tb)) return undefined
  const pairs: Array<[TimestampMatch, TimestampMatch]> = []
  for (let i = 0; i < ta.length; i++) if (ta[i].raw !== tb[i].raw) pairs.push([ta[i], tb[i]])
  return pairs.length > 0 ? pairs : undefined
}

function shadowDetail(a: string, b: string): string | undefined {
  const la = a.split('\n')
  const lb = b.split('\n')
  if (la.length !== lb.length) return undefined
  const parts: string[] = []
  for (let i = 0; i < la.length; i++) {
    if (la[i] === lb[i]) continue
    const fa = la[i].split(':')
    const fb = lb[i].split(':')
    if (fa.length !== fb.length || fa.length < 3) return undefined
    for (let f = 0; f < fa.length; f++) if (f !== 2 && fa[f] !== fb[f]) return undefined
    const da = Number(fa[2])
    const db = Number(fb[2])
    parts.push(
      `user ${fa[0]}: day ${fa[2]} vs ${fb[2]}${Number.isFinite(da) && Number.isFinite(db) && fa[2] && fb[2] ? ` (${day(da)} vs ${day(db)})` : ''}`,
    )
  }
  if (parts.length === 0) return undefined
  return `last password change ${parts.slice(0, 3).join('; ')}${parts.length > 3 ? ` and ${parts.length - 3} more` : ''}`
}

function twoTimes(what: string, a: number, b: number): string {
  return `${what} ${a} vs ${b}: ${span(b - a)} apart (${utc(a)} vs ${utc(b)})`
}

/**
 * Which hazard explains why two versions of a file differ, with both values decoded; undefined when none
 * does (the caller keeps its path-based or generic cause). `a`/`b` are whole contents, or at least the head
 * (gzip, pyc) or the tail (zip) the format needs.
 */
export function explainContent(
  path: string,
  a: FileView,
  b: FileView,
  ctx: PairContext,
): ContentExplanation | undefined {
  const ca = a.content
  const cb = b.content
  if (SHADOW_PATHS.has(path) || path === 'etc/gshadow' || path === 'etc/gshadow-') {
    const detail = ca && cb ? shadowDetail(ca.toString('utf8'), cb.toString('utf8')) : undefined
    return detail ? {id: 'shadow-last-change', detail} : undefined
  }
  if (MACHINE_ID_PATHS.has(path)) {
    return {
      id: 'machine-id',
      detail:
        ca && cb
          ? `${ca.toString('latin1').trim() || '(empty)'} vs ${cb.toString('latin1').trim() || '(empty)'}`
          : 'the ids differ',
    }
  }
  const ga = gzipMtime(a.head)
  const gb = gzipMtime(b.head)
  if (ga !== undefined && gb !== undefined && ga !== gb) {
    return {id: 'gzip-mtime', detail: twoTimes('gzip header mtime', ga, gb)}
  }
  if (path.endsWith('.pyc')) {
    const pa = pycHeader(a.head)
    const pb = pycHeader(b.head)
    if (pa?.sourceMtime !== undefined && pb?.sourceMtime !== undefined && pa.sourceMtime !== pb.sourceMtime)
      return {id: 'pyc-timestamp', detail: twoTimes('.pyc source mtime', pa.sourceMtime, pb.sourceMtime)}
  }
  if (looksLikeZip(path, a.head) && looksLikeZip(path, b.head)) {
    const za = (ca ?? a.tail) && zipEntryTimes((ca ?? a.tail)!, a.size)
    const zb = (cb ?? b.tail) && zipEntryTimes((cb ?? b.tail)!, b.size)
    if (za && zb) {
      const byName = new Map(zb.times.map((t) => [t.name, t]))
      const changed = za.times.filter((t) => byName.has(t.name) && byName.get(t.name)!.seconds !== t.seconds)
      if (changed.length > 0) {
        const first = changed[0]
        return {
          id: 'zip-entry-times',
          detail: `${changed.length} of ${za.entries} entries dated differently, e.g. ${first.name}: ${twoTimes('', first.seconds, byName.get(first.name)!.seconds).trim()}`,
        }
      }
    }
  }
  if (ca && cb && isTextContent(ca) && isTextContent(cb)) {
    const pairs = differingTimestamps(ca.toString('utf8'), cb.toString('utf8'), ctx.now)
    if (pairs) {
      const sde = ctx.sdeA !== undefined && ctx.sdeA === ctx.sdeB ? ctx.sdeA : undefined
      const [x, y] = pairs[0]
      const more = pairs.length > 1 ? ` (${pairs.length} timestamps differ)` : ''
      return {id: 'timestamp-in-content', detail: `${describeTimestampPair(x, y, sde)}${more}`}
    }
  }
  return undefined
}
