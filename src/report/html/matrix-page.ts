/**
 * The verification matrix dashboard: images × runtimes × BuildKit versions, one green or red cell per job with
 * its digest; red cells (and canaries, which must not reproduce) link to the job's diff page. And the history
 * view over several reports in one directory: one row per job, one column per run.
 *
 * It reads the report of `repro verify --matrix` (src/verify/matrix/types.ts, MatrixReport) and, for older
 * runs, the nightly's report (nightly/lib/report.ts, NightlyReport, with `cells`), normalized to one view.
 * Only the fields read here are declared, so reports that gain fields keep rendering. Run-dependent values
 * (start time, durations) appear only with `timings`.
 */
import type {CauseSummary} from '../../diff/types.js'
import {attr, safeHref, slug, text} from './escape.js'
import {page} from './page.js'

export interface CauseCountLike {
  cause: string
  count: number
  title: string
  paths?: string[]
}

/** one job (a matrix report's `jobs[]`, or a nightly `cells[]` entry) */
export interface JobLike {
  id: string
  fixture: string
  runtime: string
  builder?: string
  buildkit?: string
  platform?: string
  status: string
  expect: string
  digest?: string
  builds: Array<{digest: string}>
  reproduced?: boolean
  causes: CauseCountLike[]
  differences?: number
  failures: string[]
  diffReportDir?: string
  log?: string
}

export interface AgreementLike {
  key?: string
  fixture?: string
  buildkit?: string
  platform: string
  agree: boolean
  detail: string
  causes: CauseCountLike[]
  diffReportDir?: string
}

/** MatrixReport and NightlyReport, by the fields both have or either has */
export interface MatrixReportLike {
  ok: boolean
  matrix?: string
  summary?: unknown
  jobs?: JobLike[]
  cells?: JobLike[]
  agreements: AgreementLike[]
  failures: string[]
  timings?: {startedAt: string; seconds: number; jobs?: Record<string, {seconds: number}>}
  /** the nightly's own run-dependent fields */
  startedAt?: string
  seconds?: number
}

export function isMatrixReport(x: unknown): x is MatrixReportLike {
  const r = x as MatrixReportLike
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.ok === 'boolean' &&
    Array.isArray(r.jobs ?? r.cells) &&
    Array.isArray(r.agreements)
  )
}

export interface MatrixHtmlOptions {
  timings?: boolean
  /** the diff page of a job (relative URL from the dashboard), when one exists */
  diffPage?: (job: {diffReportDir?: string}) => string | undefined
  /** a job's log (relative to the report directory) as a link from the dashboard */
  logHref?: (log: string) => string | undefined
  /** a link back to the history page */
  historyHref?: string
}

const short = (d?: string): string => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '')

export function jobsOf(r: MatrixReportLike): JobLike[] {
  return r.jobs ?? r.cells ?? []
}

/** pass, fail, error, or expected (a canary that did not reproduce, as it must) */
export function cellClass(j: JobLike): string {
  if (j.status === 'pass' && j.expect === 'not-reproducible') return 'expected'
  return ['pass', 'fail', 'error'].includes(j.status) ? j.status : 'error'
}

function digestOf(j: JobLike): string | undefined {
  return j.digest ?? (j.reproduced !== false ? j.builds[0]?.digest : undefined)
}

function symbol(cls: string): string {
  return cls === 'pass' ? '✓' : cls === 'expected' ? '◆' : '✗'
}

function label(cls: string): string {
  return cls === 'pass'
    ? 'reproduced'
    : cls === 'expected'
      ? 'not reproduced, as expected (canary)'
      : cls === 'fail'
        ? 'failed'
        : 'error'
}

function causesInline(causes: CauseCountLike[]): string {
  return causes
    .map(
      (c) => `<code>${text(c.cause)}</code> × ${c.count}${c.paths?.length ? ` (${c.paths.map(text).join(', ')})` : ''}`,
    )
    .join(', ')
}

const sortStr = (xs: Iterable<string>): string[] => [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

function jobCell(j: JobLike, o: MatrixHtmlOptions, seconds: number | undefined): string {
  const cls = cellClass(j)
  const d = digestOf(j)
  // a job that did not reproduce shows what its rebuilds gave
  const got = d ? [] : sortStr(j.builds.map((b) => b.digest).filter(Boolean)).slice(0, 3)
  const href = cls === 'pass' ? undefined : (safeHref(o.diffPage?.(j)) ?? `#job-${slug(j.id)}`)
  const inner =
    `<span aria-hidden="true">${symbol(cls)}</span> ${label(cls)}` +
    (d ? `<br><code title="${attr(d)}">${text(short(d))}</code>` : '') +
    (got.length ? `<br>${got.map((g) => `<code title="${attr(g)}">${text(short(g))}</code>`).join(' ≠ ')}` : '') +
    (seconds === undefined ? '' : `<br><span class="muted">${seconds} s</span>`)
  return `<td class="cell ${cls}" data-job="${attr(j.id)}">${href ? `<a href="${attr(href)}" aria-label="${attr(`${j.id}: ${label(cls)}, details`)}">${inner}</a>` : inner}</td>`
}

export function renderMatrixHtml(report: MatrixReportLike, options: MatrixHtmlOptions = {}): string {
  const jobs = jobsOf(report)
  const t = options.timings
  const body: string[] = [`<h1>Verification matrix${report.matrix ? `: ${text(report.matrix)}` : ''}</h1>`]
  if (options.historyHref)
    body.push(`<p><a href="${attr(safeHref(options.historyHref) ?? '#')}">← history of all runs</a></p>`)
  const counts = {pass: 0, expected: 0, fail: 0, error: 0} as Record<string, number>
  for (const j of jobs) counts[cellClass(j)]++
  const disagreements = report.agreements.filter((a) => !a.agree).length
  body.push(
    `<div class="verdict ${report.ok ? 'ok' : 'bad'}" role="status" id="verdict"><strong>${report.ok ? 'All jobs verified' : 'Regressions'}</strong>` +
      `<br>${jobs.length} jobs: ${counts.pass} reproduced, ${counts.expected} canaries not reproduced as expected, ${counts.fail} failed, ${counts.error} errors; ${disagreements} disagreement${disagreements === 1 ? '' : 's'} between runtimes` +
      (t && (report.timings ?? report.startedAt)
        ? `<br><span class="muted">started ${text(report.timings?.startedAt ?? report.startedAt ?? '')}, ${report.timings?.seconds ?? report.seconds ?? 0} s</span>`
        : '') +
      '</div>',
  )
  if (report.failures.length > 0)
    body.push(
      `<h2 id="failures">Failures</h2><ul>${report.failures.map((f) => `<li class="v">${text(f)}</li>`).join('')}</ul>`,
    )
  // the grid: one row per image (fixture) and BuildKit version, one column per runtime
  const runtimes = sortStr(jobs.map((j) => j.runtime))
  const rows = new Map<string, {fixture: string; buildkit: string; byRuntime: Map<string, JobLike[]>}>()
  for (const j of jobs) {
    const key = `${j.fixture}\0${j.buildkit ?? ''}`
    let row = rows.get(key)
    if (!row) {
      row = {fixture: j.fixture, buildkit: j.buildkit ?? '', byRuntime: new Map()}
      rows.set(key, row)
    }
    row.byRuntime.set(j.runtime, [...(row.byRuntime.get(j.runtime) ?? []), j])
  }
  const sortedRows = [...rows.values()].sort((a, b) =>
    a.fixture === b.fixture ? (a.buildkit < b.buildkit ? -1 : 1) : a.fixture < b.fixture ? -1 : 1,
  )
  const secondsOf = (j: JobLike): number | undefined =>
    t ? (report.timings?.jobs?.[j.id]?.seconds ?? (j as {seconds?: number}).seconds) : undefined
  body.push(
    '<h2 id="matrix">Images × runtimes × BuildKit versions</h2>' +
      '<p class="muted">✓ reproduced (green), ✗ failed (red, linked to its diff), ◆ a canary that did not reproduce, as it must.</p>' +
      `<div class="tw"><table class="m"><thead><tr><th scope="col">image</th><th scope="col">BuildKit</th>${runtimes
        .map((r) => `<th scope="col">${text(r)}</th>`)
        .join('')}</tr></thead><tbody>` +
      sortedRows
        .map(
          (row) =>
            `<tr><th scope="row">${text(row.fixture)}</th><td>${text(row.buildkit || '–')}</td>` +
            runtimes
              .map((r) => {
                const js = row.byRuntime.get(r)
                if (!js) return '<td class="cell none">–</td>'
                if (js.length === 1) return jobCell(js[0], options, secondsOf(js[0]))
                // several jobs in one cell (different platforms or builders): a small table of their own
                return `<td class="cell">${js.map((j) => `<table class="m"><tr>${jobCell(j, options, secondsOf(j))}</tr></table>`).join('')}</td>`
              })
              .join('') +
            '</tr>',
        )
        .join('') +
      '</tbody></table></div>',
  )
  const agreementLink = (a: AgreementLike): string => {
    const href = safeHref(options.diffPage?.(a))
    return href ? ` <a href="${attr(href)}">diff page</a>` : ''
  }
  if (report.agreements.length > 0)
    body.push(
      `<h2 id="agreements">Runtimes agree</h2><div class="tw"><table><thead><tr><th scope="col">group</th><th scope="col">platform</th><th scope="col">agree</th><th scope="col">detail</th></tr></thead><tbody>` +
        report.agreements
          .map(
            (a) =>
              `<tr><td>${text(a.key ?? `${a.fixture ?? ''} ${a.buildkit ?? ''}`)}</td><td>${text(a.platform)}</td>` +
              `<td class="${a.agree ? 'st-pass' : 'st-fail'}">${a.agree ? '✓ yes' : '✗ no'}</td><td class="v">${text(a.detail)}${a.causes.length ? `<br>${causesInline(a.causes)}` : ''}${agreementLink(a)}</td></tr>`,
          )
          .join('') +
        '</tbody></table></div>',
    )
  const notable = jobs.filter((j) => cellClass(j) !== 'pass')
  if (notable.length > 0) {
    body.push('<h2 id="jobs">Jobs that did not reproduce</h2>')
    for (const j of notable) {
      const cls = cellClass(j)
      const diff = safeHref(options.diffPage?.(j))
      const log = j.log ? safeHref(options.logHref ? options.logHref(j.log) : j.log) : undefined
      body.push(
        `<section id="job-${slug(j.id)}"><h3><span class="st-${cls}">${symbol(cls)}</span> ${text(j.id)} <span class="muted">${label(cls)}</span></h3>` +
          (j.causes.length ? `<p>causes: ${causesInline(j.causes)}</p>` : '') +
          (j.failures.length ? `<ul>${j.failures.map((f) => `<li class="v">${text(f)}</li>`).join('')}</ul>` : '') +
          `<p>${diff ? `<a href="${attr(diff)}">diff page</a>` : '<span class="muted">no diff page</span>'}${log ? ` · <a href="${attr(log)}">log</a>` : ''}</p></section>`,
      )
    }
  }
  return page({title: `repro matrix: ${report.ok ? 'all verified' : 'regressions'}`, body: body.join('\n')})
}

export interface HistoryRun {
  /** the run's name (its directory or file name): the column header */
  name: string
  /** the run's dashboard, relative to the history page */
  href: string
  report: MatrixReportLike
}

/** Several runs side by side: did each job reproduce, with which digest, run after run. */
export function renderHistoryHtml(runs: HistoryRun[], options: {timings?: boolean} = {}): string {
  const sorted = [...runs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const ids = sortStr(sorted.flatMap((r) => jobsOf(r.report).map((j) => j.id)))
  const latest = sorted.at(-1)
  const body: string[] = ['<h1>repro verification history</h1>']
  body.push(
    `<div class="verdict ${latest?.report.ok ? 'ok' : 'bad'}" role="status" id="verdict"><strong>${
      latest ? `Latest run ${text(latest.name)}: ${latest.report.ok ? 'all verified' : 'regressions'}` : 'No runs'
    }</strong><br>${sorted.length} runs, ${ids.length} jobs</div>`,
  )
  const byRun = sorted.map((r) => new Map(jobsOf(r.report).map((j) => [j.id, j])))
  body.push(
    `<div class="tw"><table class="m"><thead><tr><th scope="col">job</th>${sorted
      .map(
        (r) =>
          `<th scope="col"><a href="${attr(safeHref(r.href) ?? '#')}">${text(r.name)}</a>${options.timings && (r.report.timings ?? r.report.startedAt) ? `<br><span class="muted">${text(r.report.timings?.startedAt ?? r.report.startedAt ?? '')}</span>` : ''}<br><span class="${r.report.ok ? 'st-pass' : 'st-fail'}">${r.report.ok ? '✓ ok' : '✗ regressions'}</span></th>`,
      )
      .join('')}</tr></thead><tbody>` +
      ids
        .map(
          (id) =>
            `<tr><th scope="row">${text(id)}</th>` +
            sorted
              .map((r, i) => {
                const j = byRun[i].get(id)
                if (!j) return '<td class="cell none">–</td>'
                const cls = cellClass(j)
                const d = digestOf(j)
                const prev = i > 0 ? byRun[i - 1].get(id) : undefined
                const changed =
                  prev && d && digestOf(prev) && digestOf(prev) !== d
                    ? ' <span title="digest changed since the previous run">Δ</span>'
                    : ''
                const href = `${safeHref(r.href) ?? ''}#${cls === 'pass' ? 'matrix' : `job-${slug(id)}`}`
                return `<td class="cell ${cls}"><a href="${attr(href)}" aria-label="${attr(`${id} in ${r.name}: ${label(cls)}`)}"><span aria-hidden="true">${symbol(cls)}</span> ${d ? `<code>${text(short(d))}</code>` : text(label(cls))}</a>${changed}</td>`
              })
              .join('') +
            '</tr>',
        )
        .join('') +
      '</tbody></table></div>',
  )
  return page({title: 'repro verification history', body: body.join('\n')})
}

/** Counted causes in the dashboard's shape, from a diff summary (for callers holding a DiffResult). */
export function causeCounts(causes: CauseSummary[]): CauseCountLike[] {
  return causes.map((c) => ({cause: c.cause, count: c.count, title: c.title}))
}
