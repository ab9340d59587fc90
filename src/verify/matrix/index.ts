/**
 * `repro verify --matrix FILE`: load and check the whole matrix file (nothing is built when it is wrong),
 * then run its jobs over the bounded queue and write the report (src/verify/matrix/run.ts).
 */
import path from 'node:path'

import {InvalidArgumentError} from '../../errors.js'
import {isIgnored, readIgnore} from '../context-digest.js'
import {loadMatrix, type MatrixJob} from './parse.js'
import {type MatrixRunDeps, type MatrixRunOptions, runMatrix} from './run.js'
import type {MatrixReport} from './types.js'

export const MAX_CONCURRENCY = 64

export interface VerifyMatrixInput extends Omit<MatrixRunOptions, 'matrix'> {
  file: string
}

export async function verifyMatrix(input: VerifyMatrixInput, deps: MatrixRunDeps): Promise<MatrixReport> {
  if (!Number.isInteger(input.concurrency) || input.concurrency < 1 || input.concurrency > MAX_CONCURRENCY)
    throw new InvalidArgumentError(`--jobs ${input.concurrency}: expected an integer from 1 to ${MAX_CONCURRENCY}`)
  const {file, ...options} = input
  const matrix = await loadMatrix(file)
  // a report directory inside a build context is uploaded with it, and its state files change the context's
  // digest after every job, so a rerun would match nothing
  const reportDir = path.resolve(input.reportDir)
  const inside: MatrixJob[] = []
  for (const j of matrix.jobs) {
    const context = path.join(matrix.baseDir, j.context)
    if (!reportDir.startsWith(`${context}${path.sep}`)) continue
    const {rules} = await readIgnore(context, path.join(context, j.dockerfile))
    if (!isIgnored(path.relative(context, reportDir).split(path.sep).join('/'), rules)) inside.push(j)
  }
  if (inside.length > 0)
    deps.logger.warn(
      `--report-dir ${input.reportDir} is inside the build context of ${inside.length} job(s) (${inside[0].id}${inside.length > 1 ? ', ...' : ''}): ` +
        'it is sent with the build and a rerun cannot resume them; put it elsewhere or list it in .dockerignore',
    )
  deps.logger.info(
    `verify --matrix: ${matrix.jobs.length} jobs on ${new Set(matrix.jobs.map((j) => j.builder.name)).size} builder(s), ${input.concurrency} at once`,
  )
  return runMatrix({...options, matrix}, deps)
}
