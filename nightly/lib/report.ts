/**
 * The nightly verdicts and reports, pure: each cell's status from its two builds, the diff causes and the
 * golden file; the agreement of all runtimes of one BuildKit version; the JSON and markdown reports.
 */
import type {GoldenChange, GoldenCheck} from './golden.js'
import type {Cell, FixtureMeta} from './matrix.js'

export const REPORT_SCHEMA_VERSION = 1

export interface BuildRun {
  digest: string
  archiveSha256: string
  platform: string
  seconds: number
}

export interface CauseCount {
  cause: string
  count: number
  title: string
  /** where: the first few paths the diff gave this cause */
  paths?: string[]
}

export type CellStatus = 'error' | 'fail' | 'pass'

export interface CellResult extends Cell {
  status: CellStatus
  expect: FixtureMeta['expect']
  platform?: string
  builds: BuildRun[]
  /** both builds gave the same tarball bytes and the same digest */
  reproduced?: boolean
  golden?: GoldenCheck
  /** causes from the semantic diff of the two builds, when they differ */
  causes: CauseCount[]
  failures: string[]
  runtimeVersion?: string
  buildkitVersion?: string
  seconds: number
}

export interface Agreement {
  fixture: string
  buildkit: string
  platform: string
  digests: Record<string, string>
  agree: boolean
  causes: CauseCount[]
  detail: string
}

export interface NightlyReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION
  ok: boolean
  startedAt: string
  seconds: number
  selection: {runtimes: string[]; buildkits: string[]; fixtures: string[]}
  buildkitImages: Record<string, string>
  bases: Record<string, string>
  summary: {cells: number; passed: number; failed: number; errors: number; disagreements: number}
  cells: CellResult[]
  agreements: Agreement[]
  goldenChanges: GoldenChange[]
  failures: string[]
}

const short = (d?: string) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '-')

/** The status of one cell that built twice. `updating`: --update-golden (a missing entry is not a failure). */
export function evaluateCell(
  cell: Cell,
  meta: FixtureMeta,
  builds: BuildRun[],
  causes: CauseCount[],
  golden: GoldenCheck | undefined,
  updating: boolean,
): Pick<CellResult, 'failures' | 'reproduced' | 'status'> {
  const failures: string[] = []
  const [a, b] = builds
  const reproduced = builds.length >= 2 && a.digest === b.digest && a.archiveSha256 === b.archiveSha256
  const why = causes.length > 0 ? `; causes: ${causes.map((c) => `${c.cause} (${c.count})`).join(', ')}` : ''
  if (meta.expect === 'not-reproducible') {
    if (reproduced)
      failures.push(
        `canary ${cell.fixture} reproduced (${short(a.digest)}): it must not; the fixture or the check is broken`,
      )
    else {
      const missing = meta.expectCauses.filter((c) => !causes.some((x) => x.cause === c))
      if (missing.length > 0)
        failures.push(
          `canary ${cell.fixture}: not reproduced as expected, but the diff did not name ${missing.join(', ')}${why}`,
        )
    }
  } else {
    if (!reproduced) {
      const what =
        a.digest !== b.digest
          ? `digests ${short(a.digest)} != ${short(b.digest)}`
          : `same digest ${short(a.digest)} but tarball bytes differ`
      failures.push(`${cell.id}: not reproduced: ${what}${why}`)
    }
    // with --update-golden the golden file is being rewritten on purpose: its differences are listed, not failed
    if (golden && golden.status !== 'match' && !updating)
      failures.push(`${cell.id}: golden ${golden.status}: ${golden.detail}`)
  }
  return {status: failures.length > 0 ? 'fail' : 'pass', reproduced, failures}
}

/** Group reproducible cells by fixture × version × platform: every runtime must give one digest. */
export function agreementGroups(cells: CellResult[]): Array<Omit<Agreement, 'causes'>> {
  const groups = new Map<string, CellResult[]>()
  for (const c of cells) {
    if (c.expect !== 'reproducible' || c.status === 'error' || !c.builds[0] || !c.platform) continue
    const key = `${c.fixture}\0${c.buildkit}\0${c.platform}`
    groups.set(key, [...(groups.get(key) ?? []), c])
  }
  const out: Array<Omit<Agreement, 'causes'>> = []
  for (const cs of groups.values()) {
    if (cs.length < 2) continue
    const digests: Record<string, string> = {}
    for (const c of cs) digests[c.runtime] = c.builds[0].digest
    const distinct = new Set(Object.values(digests))
    out.push({
      fixture: cs[0].fixture,
      buildkit: cs[0].buildkit,
      platform: cs[0].platform!,
      digests,
      agree: distinct.size === 1,
      detail:
        distinct.size === 1
          ? `${cs.length} runtimes: ${[...distinct][0]}`
          : Object.entries(digests)
              .map(([r, d]) => `${r} ${short(d)}`)
              .join(', '),
    })
  }
  return out
}

export function summarize(
  cells: CellResult[],
  agreements: Agreement[],
): Pick<NightlyReport, 'failures' | 'ok' | 'summary'> {
  const failures = cells.flatMap((c) => c.failures)
  for (const a of agreements.filter((x) => !x.agree)) {
    const why = a.causes.length > 0 ? `; causes: ${a.causes.map((c) => `${c.cause} (${c.count})`).join(', ')}` : ''
    failures.push(`${a.fixture}/${a.buildkit} ${a.platform}: runtimes disagree: ${a.detail}${why}`)
  }
  const summary = {
    cells: cells.length,
    passed: cells.filter((c) => c.status === 'pass').length,
    failed: cells.filter((c) => c.status === 'fail').length,
    errors: cells.filter((c) => c.status === 'error').length,
    disagreements: agreements.filter((a) => !a.agree).length,
  }
  return {ok: failures.length === 0, failures, summary}
}

export function reportJson(r: NightlyReport): string {
  return `${JSON.stringify(r, null, 2)}\n`
}

const icon = (c: CellResult | undefined) =>
  !c
    ? ''
    : c.status === 'pass'
      ? c.expect === 'not-reproducible'
        ? '✅ not reproduced (expected)'
        : '✅'
      : c.status === 'fail'
        ? '❌'
        : '⚠️ error'

export function reportMarkdown(r: NightlyReport): string {
  const L: string[] = []
  L.push(`# repro nightly: ${r.ok ? 'PASS' : 'FAIL'}`, '')
  L.push(
    `${r.summary.cells} cells: ${r.summary.passed} passed, ${r.summary.failed} failed, ${r.summary.errors} errors; ` +
      `${r.summary.disagreements} runtime disagreements. Started ${r.startedAt}, took ${Math.round(r.seconds)} s.`,
    '',
  )
  const runtimes = r.selection.runtimes
  L.push(`| fixture | BuildKit | platform | ${runtimes.join(' | ')} | runtimes agree |`)
  L.push(`|---|---|---|${runtimes.map(() => '---').join('|')}|---|`)
  for (const bk of r.selection.buildkits) {
    for (const fx of r.selection.fixtures) {
      const cells = r.cells.filter((c) => c.buildkit === bk && c.fixture === fx)
      if (cells.length === 0) continue
      const platform = cells.find((c) => c.platform)?.platform ?? '-'
      const agreement = r.agreements.find((a) => a.buildkit === bk && a.fixture === fx)
      const cols = runtimes.map((rt) => {
        const c = cells.find((x) => x.runtime === rt)
        if (!c) return '-'
        const digest = c.builds[0] ? ` \`${short(c.builds[0].digest)}\`` : ''
        const times = c.builds.length > 0 ? ` ${c.builds.map((b) => b.seconds.toFixed(1)).join(' + ')} s` : ''
        return `${icon(c)}${digest}${times}`
      })
      L.push(
        `| ${fx} | ${bk} | ${platform} | ${cols.join(' | ')} | ${agreement ? (agreement.agree ? '✅' : '❌') : '-'} |`,
      )
    }
  }
  L.push('')
  if (r.failures.length > 0) {
    L.push('## Failures', '')
    for (const f of r.failures) L.push(`- ${f}`)
    L.push('')
  }
  const explained = r.cells.filter((c) => c.causes.length > 0)
  if (explained.length > 0) {
    L.push('## Causes of the differences (semantic diff of the two builds)', '')
    for (const c of explained) {
      L.push(
        `- ${c.id}${c.expect === 'not-reproducible' ? ' (canary)' : ''}: ${c.causes.map((x) => `${x.title} (\`${x.cause}\`, ${x.count}${x.paths?.length ? `: ${x.paths.map((p) => `\`${p}\``).join(', ')}` : ''})`).join('; ')}`,
      )
    }
    L.push('')
  }
  if (r.goldenChanges.length > 0) {
    L.push('## Golden changes (--update-golden)', '')
    for (const g of r.goldenChanges) L.push(`- ${g.key}: ${g.from ?? '(none)'} → ${g.to}`)
    L.push('')
  }
  L.push('## Digests', '')
  L.push('| cell | build 1 | build 2 | golden | runtime | BuildKit |', '|---|---|---|---|---|---|')
  for (const c of r.cells) {
    L.push(
      `| ${c.id} | ${c.builds[0]?.digest ?? '-'} | ${c.builds[1]?.digest ?? '-'} | ${c.golden?.status ?? '-'} | ${c.runtimeVersion ?? '-'} | ${c.buildkitVersion ?? '-'} |`,
    )
  }
  L.push('', '## Engines', '')
  for (const [v, img] of Object.entries(r.buildkitImages)) L.push(`- BuildKit ${v}: \`${img}\``)
  for (const [n, d] of Object.entries(r.bases)) L.push(`- base ${n}: \`${d}\``)
  return `${L.join('\n')}\n`
}
