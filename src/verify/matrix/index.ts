/**
 * `repro verify --matrix FILE`: load and check the whole matrix file (nothing is built when it is wrong),
 * then run its jobs over the bounded queue and write the report (src/verify/matrix/run.ts).
 */
import {InvalidArgumentError} from '../../errors.js'
import {loadMatrix} from './parse.js'
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
  deps.logger.info(
    `verify --matrix: ${matrix.jobs.length} jobs on ${new Set(matrix.jobs.map((j) => j.builder.name)).size} builder(s), ${input.concurrency} at once`,
  )
  return runMatrix({...options, matrix}, deps)
}
