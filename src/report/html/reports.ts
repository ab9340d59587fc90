/**
 * HTML pages from JSON reports on disk: `repro report html PATH`. PATH is one report (a `repro diff` report.json,
 * a `repro verify --json` result, a `verify --matrix` report.json or a nightly report) or a directory of them.
 * A matrix report also gets the diff page of every job that kept a diff (its `diffReportDir`), and a directory
 * with several matrix runs gets index.html, the history view. Each page goes next to its JSON (X.json → X.html).
 */
import * as fs from 'node:fs'
import path from 'node:path'

import {safeSegments} from '../../diff/report.js'
import type {DiffResult} from '../../diff/types.js'
import {InvalidArgumentError} from '../../errors.js'
import type {VerifyResult} from '../../verify/index.js'
import {hrefOf} from './escape.js'
import {renderDiffHtml} from './diff-page.js'
import {ReportDirFiles} from './files.js'
import {writePage} from './write.js'
import {
  type HistoryRun,
  isMatrixReport,
  type MatrixReportLike,
  renderHistoryHtml,
  renderMatrixHtml,
} from './matrix-page.js'
import {renderVerifyHtml} from './verify-page.js'

export interface ReportHtmlOptions {
  timings?: boolean
}

export interface ReportHtmlResult {
  /** pages written, relative to the directory given (or to the file's directory) */
  pages: string[]
  /** JSON files that are not a report this command knows, relative likewise */
  skipped: string[]
}

type Kind = 'diff' | 'matrix' | 'verify'

function kindOf(x: unknown): Kind | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  if (isMatrixReport(x)) return 'matrix'
  const r = x as Partial<DiffResult & VerifyResult>
  if (Array.isArray(r.differences) && r.summary && r.a && r.b) return 'diff'
  if (Array.isArray(r.checks) && Array.isArray(r.builds) && typeof r.reproduced === 'boolean') return 'verify'
  return undefined
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not a JSON report (${(error as Error).message.split('\n')[0]})`)
  }
}

const htmlOf = (file: string): string => file.replace(/\.json$/, '') + '.html'

/** The diff page of a --report-dir (report.json, a/, b/): DIR/report.html. */
export function writeDiffDirPage(dir: string): string {
  const root = path.resolve(dir)
  const result = readJson(path.join(root, 'report.json'))
  if (kindOf(result) !== 'diff')
    throw new InvalidArgumentError(`${path.join(dir, 'report.json')}: not a repro diff report`)
  const out = path.join(root, 'report.html')
  writePage(out, renderDiffHtml(result as DiffResult, {files: new ReportDirFiles(root, root), reportDirHref: ''}))
  return out
}

/**
 * A matrix run's dashboard and the diff pages of its jobs (DIR/<diffReportDir>/report.html, from the report.json
 * each kept). `dir` is the run's report directory (where the report's relative paths start); `out` the
 * dashboard's file. Returns the pages written, dashboard first.
 */
export function writeMatrixPages(
  dir: string,
  report: MatrixReportLike,
  out: string,
  options: ReportHtmlOptions & {historyHref?: string} = {},
): string[] {
  const root = path.resolve(dir)
  const from = path.dirname(path.resolve(out))
  const written: string[] = []
  const pages = new Map<string, string>()
  const diffDirs = [...(report.jobs ?? report.cells ?? []), ...report.agreements]
    .map((x) => x.diffReportDir)
    .filter((d): d is string => typeof d === 'string')
  for (const rel of [...new Set(diffDirs)].sort()) {
    // the report says where its diffs are: relative, inside the report directory, never followed elsewhere
    const segs = safeSegments(rel)
    if (!segs) continue
    const d = path.join(root, ...segs)
    if (!fs.existsSync(path.join(d, 'report.json')) || fs.lstatSync(d).isSymbolicLink()) continue
    try {
      written.push(writeDiffDirPage(d))
    } catch {
      continue
    }
    pages.set(rel, hrefOf(path.relative(from, path.join(d, 'report.html')).split(path.sep)))
  }
  const diffPage = (j: {diffReportDir?: string}): string | undefined =>
    j.diffReportDir ? pages.get(j.diffReportDir) : undefined
  // job logs are relative to the report directory too
  const logHref = (log: string): string | undefined => {
    const segs = safeSegments(log)
    return segs ? hrefOf(path.relative(from, path.join(root, ...segs)).split(path.sep)) : undefined
  }
  writePage(
    out,
    renderMatrixHtml(report, {timings: options.timings, diffPage, logHref, historyHref: options.historyHref}),
  )
  return [path.resolve(out), ...written]
}

function jsonFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of fs.readdirSync(dir, {withFileTypes: true}).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.isFile() && e.name.endsWith('.json')) out.push(path.join(dir, e.name))
    // a run directory of `verify --matrix` (DIR/RUN/report.json)
    else if (e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'report.json')))
      out.push(path.join(dir, e.name, 'report.json'))
  }
  return out
}

export function writeReportPages(target: string, options: ReportHtmlOptions = {}): ReportHtmlResult {
  let st: fs.Stats
  try {
    st = fs.statSync(target)
  } catch {
    throw new InvalidArgumentError(`${target}: no such file or directory`)
  }
  const base = st.isDirectory() ? path.resolve(target) : path.dirname(path.resolve(target))
  const files = st.isDirectory() ? jsonFiles(base) : [path.resolve(target)]
  const pages: string[] = []
  const skipped: string[] = []
  const runs: Array<{file: string; report: MatrixReportLike}> = []
  for (const f of files) {
    const json = readJson(f)
    const kind = kindOf(json)
    if (kind === 'matrix') runs.push({file: f, report: json as MatrixReportLike})
    else if (kind === 'verify') {
      writePage(htmlOf(f), renderVerifyHtml(json as VerifyResult, {timings: options.timings}))
      pages.push(htmlOf(f))
    } else if (kind === 'diff') {
      const dir = path.dirname(f)
      const out = htmlOf(f)
      writePage(out, renderDiffHtml(json as DiffResult, {files: new ReportDirFiles(dir, dir)}))
      pages.push(out)
    } else skipped.push(f)
  }
  const history = st.isDirectory() && runs.length > 1
  for (const r of runs)
    pages.push(
      ...writeMatrixPages(path.dirname(r.file), r.report, htmlOf(r.file), {
        timings: options.timings,
        historyHref: history
          ? hrefOf([...path.relative(path.dirname(r.file), base).split(path.sep).filter(Boolean), 'index.html'])
          : undefined,
      }),
    )
  if (history) {
    const list: HistoryRun[] = runs.map((r) => {
      const rel = path.relative(base, r.file)
      const name = path.basename(rel) === 'report.json' ? path.dirname(rel) : path.basename(rel, '.json')
      return {name, href: hrefOf(htmlOf(rel).split(path.sep)), report: r.report}
    })
    const out = path.join(base, 'index.html')
    writePage(out, renderHistoryHtml(list, {timings: options.timings}))
    pages.push(out)
  }
  if (pages.length === 0 && skipped.length > 0 && !st.isDirectory())
    throw new InvalidArgumentError(`${target}: not a repro report (diff, verify or matrix JSON)`)
  return {pages: pages.map((p) => path.relative(base, p)).sort(), skipped: skipped.map((p) => path.relative(base, p))}
}
