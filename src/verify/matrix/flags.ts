/**
 * The flags of `repro verify --matrix` (spread into src/commands/verify.ts, so the command keeps one line
 * for them).
 */
import {Flags} from '@oclif/core'

import {MAX_CONCURRENCY} from './index.js'

export const DEFAULT_JOBS = 4
export const DEFAULT_REPORT_DIR = 'verify-matrix-report'

export const matrixFlags = {
  matrix: Flags.string({
    description:
      'a YAML matrix file of jobs (context, Dockerfile, build args, lock, expected digest or image, platforms, builder): verify them all',
    exclusive: ['against', 'expected-image-digest', 'attest', 'attach', 'output-dir'],
    helpGroup: 'MATRIX',
  }),
  jobs: Flags.integer({
    // no oclif default: a default counts as given, and dependsOn would then refuse every verify without --matrix
    description: `--matrix: jobs at once (a bounded queue) [default: ${DEFAULT_JOBS}]`,
    min: 1,
    max: MAX_CONCURRENCY,
    dependsOn: ['matrix'],
    helpGroup: 'MATRIX',
  }),
  'report-dir': Flags.string({
    description: `--matrix: report.json, report.md, per-job logs and diffs, and the resume state of finished jobs (a rerun with the same directory resumes) [default: ${DEFAULT_REPORT_DIR}]`,
    dependsOn: ['matrix'],
    helpGroup: 'MATRIX',
  }),
  timings: Flags.boolean({
    description: '--matrix: put times and resumed jobs in the report (off: the report is deterministic)',
    dependsOn: ['matrix'],
    helpGroup: 'MATRIX',
  }),
  fresh: Flags.boolean({
    description: '--matrix: forget finished jobs of an earlier run in --report-dir and rebuild all',
    dependsOn: ['matrix'],
    helpGroup: 'MATRIX',
  }),
}
