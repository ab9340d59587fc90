/**
 * The flags of `repro verify --matrix` (spread into src/commands/verify.ts, so the command keeps one line
 * for them).
 */
import {Flags} from '@oclif/core'

import {MAX_CONCURRENCY} from './index.js'

export const matrixFlags = {
  matrix: Flags.string({
    description:
      'a YAML matrix file of jobs (context, Dockerfile, build args, lock, expected digest or image, platforms, builder): verify them all',
    exclusive: ['against', 'expected-image-digest', 'attest', 'attach', 'output-dir'],
    helpGroup: 'MATRIX',
  }),
  jobs: Flags.integer({
    description: '--matrix: jobs at once (a bounded queue)',
    default: 4,
    min: 1,
    max: MAX_CONCURRENCY,
    dependsOn: ['matrix'],
    helpGroup: 'MATRIX',
  }),
  'report-dir': Flags.string({
    description:
      '--matrix: report.json, report.md, per-job logs and diffs, and the resume state of finished jobs (a rerun with the same directory resumes)',
    default: 'verify-matrix-report',
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
