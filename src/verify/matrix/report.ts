/**
 * The matrix report, pure: summary and failures from the job results, JSON (sorted as the matrix file lists
 * the jobs) and Markdown. Used by `repro verify --matrix` and the nightly alike.
 */
import {
  type Agreement,
  MATRIX_REPORT_SCHEMA_VERSION,
  type MatrixJobResult,
  type MatrixReport,
  type MatrixSummary,
} from './types.js'

export function buildReport(matrix: string, jobs: MatrixJobResult[], agreements: Agreement[]): MatrixReport {
  const failures = jobs.flatMap((j) => j.failures)
  for (const a of agreements.filter((x) => !x.agree)) {
    const why = a.causes.length > 0 ? `; causes: ${a.causes.map((c) => `${c.cause} (${c.count})`).join(', ')}` : ''
    failures.push(`${a.key} ${a.platform}: jobs disagree: ${a.detail}${why}`)
  }
  const summary: MatrixSummary = {
    jobs: jobs.length,
    passed: jobs.filter((j) => j.status === 'pass').length,
    failed: jobs.filter((j) => j.status === 'fail').length,
    errors: jobs.filter((j) => j.status === 'error').length,
    disagreements: agreements.filter((a) => !a.agree).length,
  }
  return {
    schemaVersion: MATRIX_REPORT_SCHEMA_VERSION,
    ok: failures.length === 0,
    matrix,
    summary,
    jobs,
    agreements,
    failures,
  }
}

export function reportJson(r: MatrixReport): string {
  return `${JSON.stringify(r, null, 2)}\n`
}

const short = (d?: string) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '-')

/** Markdown table cells: no pipes or newlines from job ids, titles or messages. */
const cell = (s: string) => s.replaceAll('|', '\\|').replace(/[\r\n]+/g, ' ')

function icon(j: MatrixJobResult): string {
  if (j.status === 'pass') return j.expect === 'not-reproducible' ? '✅ not reproduced (expected)' : '✅'
  return j.status === 'fail' ? '❌' : '⚠️ error'
}

export function reportMarkdown(r: MatrixReport): string {
  const L: string[] = []
  const s = r.summary
  L.push(`# repro verify --matrix ${cell(r.matrix)}: ${r.ok ? 'PASS' : 'FAIL'}`, '')
  L.push(
    `${s.jobs} jobs: ${s.passed} passed, ${s.failed} failed, ${s.errors} errors` +
      `${r.agreements.length > 0 ? `; ${s.disagreements} disagreements` : ''}.` +
      `${r.timings ? ` Started ${r.timings.startedAt}, took ${Math.round(r.timings.seconds)} s with ${r.timings.concurrency} at once.` : ''}`,
    '',
  )
  const t = r.timings
  L.push(`| job | context | builder | BuildKit | platform | status | digest | causes${t ? ' | time' : ''} |`)
  L.push(`|---|---|---|---|---|---|---|---${t ? '|---' : ''}|`)
  for (const j of r.jobs) {
    const causes = j.causes.map((c) => `\`${c.cause}\` (${c.count})`).join(', ')
    const diff = j.diffReportDir ? ` [diff](${j.diffReportDir}/report.json)` : ''
    const time = t?.jobs[j.id]
    const timeCol = t
      ? ` | ${time ? (time.resumed ? 'resumed' : `${time.buildSeconds.map((b) => b.toFixed(1)).join(' + ')} s`) : '-'}`
      : ''
    L.push(
      `| ${cell(j.id)} | ${cell(j.context)} | ${cell(j.builder)} | ${cell(j.buildkit ?? '-')} | ${cell(j.platform || '-')} | ${icon(j)} | ${j.digest ? `\`${short(j.digest)}\`` : '-'} | ${cell(causes || '-')}${diff}${timeCol} |`,
    )
  }
  L.push('')
  if (r.failures.length > 0) {
    L.push('## Failures', '')
    for (const f of r.failures) L.push(`- ${cell(f)}`)
    L.push('')
  }
  const explained = r.jobs.filter((j) => j.causes.length > 0)
  if (explained.length > 0) {
    L.push('## Causes of the differences (semantic diff)', '')
    for (const j of explained) {
      const list = j.causes
        .map(
          (c) =>
            `${cell(c.title)} (\`${c.cause}\`, ${c.count}${c.paths?.length ? `: ${c.paths.map((p) => `\`${cell(p)}\``).join(', ')}` : ''})`,
        )
        .join('; ')
      L.push(
        `- ${cell(j.id)}${j.expect === 'not-reproducible' ? ' (canary)' : ''}: ${list}${j.diffReportDir ? ` — [diff report](${j.diffReportDir}/report.json)` : ''}`,
      )
    }
    L.push('')
  }
  if (r.agreements.length > 0) {
    L.push('## Agreement (jobs that must give one digest)', '')
    L.push('| key | platform | agree | digests |', '|---|---|---|---|')
    for (const a of r.agreements)
      L.push(`| ${cell(a.key)} | ${cell(a.platform)} | ${a.agree ? '✅' : '❌'} | ${cell(a.detail)} |`)
    L.push('')
  }
  if (r.nightly) {
    if (r.nightly.goldenChanges.length > 0) {
      L.push('## Golden changes (--update-golden)', '')
      for (const g of r.nightly.goldenChanges) L.push(`- ${g.key}: ${g.from ?? '(none)'} → ${g.to}`)
      L.push('')
    }
    L.push('## Engines', '')
    for (const [v, img] of Object.entries(r.nightly.buildkitImages)) L.push(`- BuildKit ${v}: \`${img}\``)
    for (const [n, d] of Object.entries(r.nightly.bases)) L.push(`- base ${n}: \`${d}\``)
    L.push('')
  }
  L.push('## Digests', '')
  L.push('| job | digest | expected | runtime | BuildKit |', '|---|---|---|---|---|')
  for (const j of r.jobs) {
    const expected = j.expected
      ? j.expected.kind === 'digest'
        ? j.expected.digest
        : `${cell(j.expected.input)} ${j.expected.digest ?? '?'}`
      : '-'
    L.push(
      `| ${cell(j.id)} | ${j.digest ?? j.builds[0]?.digest ?? '-'} | ${expected} | ${cell(j.runtimeVersion ?? '-')} | ${cell(j.buildkit ?? '-')} |`,
    )
  }
  return `${L.join('\n')}\n`
}
