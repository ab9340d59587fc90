/**
 * The text form of a lint result: one line per finding and its fix. Dockerfile findings as
 * `file:line:column: severity id message`; image findings as `image!/path (layer N[, line L]): severity id message`.
 */
import type {Finding, LintResult} from './types.js'

function where(f: Finding): string {
  if (!f.image) return `${f.file}:${f.line}:${f.column}`
  const at = f.line > 1 || f.column > 1 ? `, line ${f.line}:${f.column}` : ''
  const platform = f.image.platform ? `${f.image.platform}, ` : ''
  return `${f.file}!/${f.image.path} (${platform}layer ${f.image.layer}${at})`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export function renderLint(result: LintResult): string {
  const lines: string[] = []
  for (const f of result.findings) {
    lines.push(`${where(f)}: ${f.severity} ${f.rule} ${f.message.replace(/\n/g, '\\n')}`, `  fix: ${f.fix}`)
  }
  for (const file of result.files) for (const w of file.warnings ?? []) lines.push(`warning: ${file.file}: ${w}`)
  const images = result.files.filter((f) => f.kind === 'image').length
  const dockerfiles = result.files.length - images
  const what = [dockerfiles > 0 ? plural(dockerfiles, 'Dockerfile') : '', images > 0 ? plural(images, 'image') : '']
    .filter(Boolean)
    .join(' and ')
  const {error, warning, info} = result.counts
  const total = error + warning + info
  const suppressed = result.files.reduce((n, f) => n + f.suppressed, 0)
  lines.push(
    total === 0
      ? `${result.files.length === 1 ? result.files[0].file : what}: no reproducibility hazard found${suppressed ? ` (${suppressed} ignored inline)` : ''}`
      : `${total} finding${total === 1 ? '' : 's'} (${error} error, ${warning} warning, ${info} info) in ${what}${suppressed ? `, ${suppressed} ignored inline` : ''}; failing at ${result.failOn}: ${result.failed ? 'yes' : 'no'}`,
  )
  return lines.join('\n')
}
