export const SEVERITIES = ['error', 'warning', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]
export type FailOn = Severity | 'none'

export const SEVERITY_RANK: Record<Severity, number> = {error: 3, warning: 2, info: 1}

export interface RuleMeta {
  id: string
  name: string
  severity: Severity
  /** one line: what the rule finds */
  summary: string
  /** why it breaks reproducibility (SARIF fullDescription / help) */
  why: string
  /** the default fix hint */
  fix: string
}

export interface Finding {
  rule: string
  name: string
  severity: Severity
  /** the Dockerfile, as given (relative to the working directory when inside it), POSIX separators */
  file: string
  line: number
  column: number
  message: string
  fix: string
}

export interface LintFileResult {
  file: string
  /** the build context the file was judged with (relative, POSIX) */
  context: string
  findings: Finding[]
  /** findings silenced by `# repro-lint ignore=` comments */
  suppressed: number
}

export interface LintResult {
  files: LintFileResult[]
  /** every finding of every file, sorted by file, line, column, rule */
  findings: Finding[]
  counts: Record<Severity, number>
  failOn: FailOn
  /** some finding is at or above failOn: the command exits 1 */
  failed: boolean
  disabled: string[]
}

export interface LintOptions {
  /** CONTEXT directories or Dockerfile paths */
  targets: string[]
  /** the working directory paths are relative to */
  cwd: string
  /** `-f`: the Dockerfile inside a CONTEXT target */
  file?: string
  /** `NAME=VALUE`, as `repro build --build-context` takes them */
  buildContexts: string[]
  /** `NAME=VALUE`: ARG values, as `repro build --build-arg` takes them */
  buildArgs?: string[]
  /** rule ids or names */
  disable: string[]
  /** undefined: from .repro-lint.yaml, else 'warning' */
  failOn?: FailOn
}
