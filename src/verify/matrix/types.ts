/**
 * The report of `repro verify --matrix FILE` (REPORT_DIR/report.json) and of the nightly, which runs the same
 * runner. This shape is a contract with its readers (the HTML dashboard, CI scripts): fields may be added,
 * never renamed or removed without a schemaVersion bump. schemas/verify-matrix.schema.json describes it.
 *
 * Deterministic by default: everything that depends on the run (start time, durations, which jobs were resumed
 * from the state of an earlier run) lives only in `timings`, which is written with --timings alone. Two runs
 * over the same inputs that give the same digests write byte-identical reports.
 *
 * Paths in the report are relative: `context`/`dockerfile` to the matrix file's directory, `log` and
 * `diffReportDir` to the report directory. No host paths, no times.
 */

export const MATRIX_REPORT_SCHEMA_VERSION = 1

/** pass: verified as expected; fail: a negative verdict (not reproduced, digest mismatch); error: could not run */
export type JobStatus = 'error' | 'fail' | 'pass'

/** What a job must show: the usual `reproducible`, or a canary that must NOT reproduce (with named causes). */
export type JobExpectation = 'not-reproducible' | 'reproducible'

/** One cause of difference from the semantic diff (src/diff/causes.ts), counted. */
export interface CauseCount {
  /** stable cause id, e.g. `file-content`, `timestamp-file-mtime` */
  cause: string
  count: number
  /** one-line human title of the cause */
  title: string
  /** the first few paths the diff gave this cause (e.g. `stamp`) */
  paths?: string[]
}

/** What the rebuild was compared with, besides itself. */
export type JobExpected =
  | {kind: 'digest'; digest: string}
  /** a registry reference (or any `repro diff` input); `digest` is what it resolved to, null when unknown */
  | {kind: 'image'; input: string; digest: string | null}

/** One rebuild of a job. */
export interface JobBuild {
  attempt: number
  digest: string
  /** sha256 of the tarball bytes */
  archiveSha256: string
  /** platforms of the image, comma-joined (`linux/amd64`) */
  platform: string
}

export interface MatrixJobResult {
  /** unique job id from the matrix file (may contain `/`, e.g. `scratch-copy/v0.32.2/buildkit`) */
  id: string
  /** index of the job in the matrix file's `jobs` list (0-based; -1 for a nightly cell that could not be planned) */
  index: number
  /** a short name of what is built: the job's `fixture` field, or the context directory's base name */
  fixture: string
  /** the build context, relative to the matrix file's directory (`.` for that directory) */
  context: string
  /** the Dockerfile, relative to the context */
  dockerfile: string
  /** docker, podman or buildkit */
  runtime: string
  /** the builder's name from the matrix file (`builders:`), or the runtime when the job names none */
  builder: string
  /** the BuildKit version the builder served (as the engine reported it), else the version the job asked for */
  buildkit?: string
  runtimeVersion?: string
  /** platforms asked for (empty: the builder's own) */
  platforms: string[]
  /** platforms the image has, comma-joined, from the first rebuild ('' when no build finished) */
  platform: string
  status: JobStatus
  expect: JobExpectation
  expected?: JobExpected
  /** the digest every rebuild gave, when they agree */
  digest?: string
  builds: JobBuild[]
  /** every rebuild gave the same digest and bytes (and the expected one, when there is one) */
  reproduced?: boolean
  /** causes from the semantic diff (src/diff) of the two images that differ, counted and titled */
  causes: CauseCount[]
  /** total differences found by that diff */
  differences?: number
  /** one line per reason this job failed or errored */
  failures: string[]
  /**
   * the `repro diff --report-dir` output of the failing comparison (report.json, a/, b/), relative to the
   * report directory, e.g. `jobs/app-amd64/diff`; only for jobs whose images differ
   */
  diffReportDir?: string
  /** the job's log (engine output, relative to the report directory), e.g. `jobs/app-amd64/log.txt`; '' if it never ran */
  log: string
  /** sha256 of the job's inputs (options, Dockerfile, context, lock): the key of its resume state; '' if it never ran */
  inputHash: string
}

/**
 * Jobs that share an `agree` key (same fixture and BuildKit version on several runtimes, say) must give the
 * same digest. `digests` maps job id → digest.
 */
export interface Agreement {
  key: string
  platform: string
  digests: Record<string, string>
  agree: boolean
  /** causes from the diff of the first two jobs that disagree */
  causes: CauseCount[]
  detail: string
  /** that diff's `repro diff --report-dir` output, relative to the report directory */
  diffReportDir?: string
}

export interface MatrixSummary {
  jobs: number
  passed: number
  failed: number
  errors: number
  disagreements: number
}

/** Run-dependent values: only with --timings (or the nightly), so the rest of the report is deterministic. */
export interface MatrixTimings {
  /** ISO 8601 UTC */
  startedAt: string
  seconds: number
  /** concurrency of the queue (--jobs) */
  concurrency: number
  jobs: Record<string, {seconds: number; resumed: boolean; buildSeconds: number[]}>
}

export interface MatrixReport {
  schemaVersion: typeof MATRIX_REPORT_SCHEMA_VERSION
  ok: boolean
  /** the matrix file's base name (`nightly` for the nightly, which generates its matrix) */
  matrix: string
  summary: MatrixSummary
  jobs: MatrixJobResult[]
  agreements: Agreement[]
  /** one line per failure, job by job, then disagreements */
  failures: string[]
  /** run-dependent values; present with --timings */
  timings?: MatrixTimings
  /** the nightly's extras: the golden-file changes of --update-golden, the BuildKit images and base digests */
  nightly?: {
    goldenChanges: Array<{key: string; from: string | null; to: string}>
    buildkitImages: Record<string, string>
    bases: Record<string, string>
  }
}
