/** `repro verify --matrix` on stdout without --json: the verdict, the failing jobs, where the report is. */
import type {MatrixReport} from '../verify/matrix/types.js'

export function renderMatrix(r: MatrixReport, reportDir: string): string {
  const s = r.summary
  const L = [
    `${r.ok ? 'PASS' : 'FAIL'}: ${s.passed}/${s.jobs} jobs passed, ${s.failed} failed, ${s.errors} errors` +
      (r.agreements.length > 0 ? `, ${s.disagreements} disagreements` : ''),
  ]
  for (const f of r.failures) L.push(`  - ${f}`)
  for (const j of r.jobs.filter((x) => x.diffReportDir && x.status !== 'pass'))
    L.push(`  diff of ${j.id}: ${reportDir}/${j.diffReportDir}`)
  L.push(`report: ${reportDir}/report.md (and report.json)`)
  return L.join('\n')
}
