import type {ImageScanStats} from '../hazards/scan.js'

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
  /** image findings (RL101…): where in the image; `file` is the image input, line/column the position inside the file (1:1 when the hazard is the whole file) */
  image?: ImageLocation
}

export interface ImageLocation {
  /** path in the image, no leading '/' */
  path: string
  platform: string
  /** 1-based layer number */
  layer: number
  layerDigest: string | null
}

/** What `repro lint IMAGE` judged an image with, per platform: the scan's own counts, and what it judged against. */
export interface ImageScanSummary extends ImageScanStats {
  platform: string
  /** SOURCE_DATE_EPOCH the times were judged against (null: none known) */
  sde: number | null
  sdeSource: string
  hostnames: string[]
}

export interface LintFileResult {
  file: string
  /** the build context the file was judged with (relative, POSIX) */
  context: string
  findings: Finding[]
  /** findings silenced by `# repro-lint ignore=` comments */
  suppressed: number
  /** 'image' for an image input (absent: a Dockerfile) */
  kind?: 'dockerfile' | 'image'
  /** image inputs: what was scanned, per platform */
  scans?: ImageScanSummary[]
  /** image inputs: limits reached, SOURCE_DATE_EPOCH unknown, base layers not matching */
  warnings?: string[]
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

export interface ImageLintOptions {
  /** treat every target as an image input (registry references without a scheme need it) */
  forceImage?: boolean
  /** SOURCE_DATE_EPOCH to judge against (default: the image's own, from its config) */
  sde?: number
  /** the base image (any input): its layers at the bottom of the image are not scanned */
  base?: string
  /** scan every layer, also those taken as the base image's */
  allLayers?: boolean
  /** more build host names to look for */
  hostnames?: string[]
  platform?: string
  /** "now" in epoch seconds: later times are in the future (default: the clock) */
  now?: number
  plainHttp?: boolean
}
