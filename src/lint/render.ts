/** The text form of a lint result: one line per finding (file:line:column: severity id message) and its fix. */
import type {LintResult} from './types.js'

export function renderLint(result: LintResult): string {
  const lines: string[] = []
  for (const f of result.findings) {
    lines.push(`${f.file}:${f.line}:${f.column}: ${f.severity} ${f.rule} ${f.message}`, `  fix: ${f.fix}`)
  }
  const files = result.files.length
  const {error, warning, info} = result.counts
  const total = error + warning + info
  const suppressed = result.files.reduce((n, f) => n + f.suppressed, 0)
  lines.push(
    total === 0
      ? `${files === 1 ? result.files[0].file : `${files} Dockerfiles`}: no reproducibility hazard found${suppressed ? ` (${suppressed} ignored inline)` : ''}`
      : `${total} finding${total === 1 ? '' : 's'} (${error} error, ${warning} warning, ${info} info) in ${files} Dockerfile${files === 1 ? '' : 's'}${suppressed ? `, ${suppressed} ignored inline` : ''}; failing at ${result.failOn}: ${result.failed ? 'yes' : 'no'}`,
  )
  return lines.join('\n')
}
