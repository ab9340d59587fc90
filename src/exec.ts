/**
 * The one seam every child process goes through. Arguments are always string[] (never a shell string).
 * Engine adapters receive an Exec, so unit tests record argv with a fake.
 */
import {spawn} from 'node:child_process'

import {EngineFailedError, tail} from './errors.js'

export interface ExecOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  input?: Buffer | string
  /** forward the child's stderr to this callback while capturing it */
  onOutput?: (chunk: string) => void
  /** don't throw on a non-zero exit; return the result instead */
  reject?: boolean
  timeoutMs?: number
  /** a redacted form of argv used in errors and logs (secrets) */
  display?: string
  /** kill the child once its stdout passes this many bytes (hostile input); the result says `stdoutLimitHit` */
  maxStdoutBytes?: number
}

export interface ExecResult {
  argv: string[]
  exitCode: number | undefined
  stderr: string
  stdout: string
  /** true when the program was not found (ENOENT) */
  notFound: boolean
  /** true when the child was killed for passing `maxStdoutBytes` (stdout then holds only what came before) */
  stdoutLimitHit?: boolean
}

export type Exec = (argv: string[], options?: ExecOptions) => Promise<ExecResult>

/**
 * Runs a child with node:child_process rather than execa: importing execa alone cost 150-200 ms of
 * start-up on these machines, which bench/build-overhead.ts showed as most of repro build's overhead over
 * the raw engine command (goal <= 0.5 s). This seam needs only argv, env, input, a stderr tap and a timeout.
 */
export const realExec: Exec = (argv, options = {}) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv
    const env: NodeJS.ProcessEnv = {...process.env}
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k]
      else env[k] = v
    }
    const child = spawn(file, args, {cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe']})
    const out: Buffer[] = []
    const err: Buffer[] = []
    let spawnError: NodeJS.ErrnoException | undefined
    let timedOut = false
    let outBytes = 0
    let limitHit = false
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length
      if (options.maxStdoutBytes !== undefined && outBytes > options.maxStdoutBytes) {
        if (!limitHit) child.kill('SIGKILL')
        limitHit = true
        return
      }
      out.push(d)
    })
    child.stderr.on('data', (d: Buffer) => {
      err.push(d)
      options.onOutput?.(d.toString())
    })
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            child.kill('SIGTERM')
            setTimeout(() => child.kill('SIGKILL'), 5000).unref()
          }, options.timeoutMs)
    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnError = error
    })
    child.stdin.on('error', () => {}) // a child that exits without reading its input
    child.stdin.end(options.input ?? '')
    child.on('close', (code) => {
      if (timer) clearTimeout(timer)
      const notFound = spawnError?.code === 'ENOENT'
      const result: ExecResult = {
        argv,
        exitCode: spawnError ? undefined : (code ?? undefined),
        notFound,
        stderr: Buffer.concat(err).toString('utf8'),
        stdout: Buffer.concat(out).toString('utf8'),
        ...(limitHit ? {stdoutLimitHit: true} : {}),
      }
      if (options.reject !== false && (spawnError || code !== 0 || timedOut)) {
        const why = notFound
          ? `${file}: not found`
          : spawnError
            ? spawnError.message
            : timedOut
              ? `timed out after ${options.timeoutMs} ms\n${result.stderr}`
              : result.stderr
        reject(new EngineFailedError(argv, result.exitCode, tail(why), options.display))
        return
      }
      resolve(result)
    })
  })

/** A recording fake for unit tests: answers from `responder`, records every argv. */
export function fakeExec(
  responder: (argv: string[]) => Partial<ExecResult> | undefined = () => undefined,
): Exec & {calls: string[][]} {
  const calls: string[][] = []
  const fn = (async (argv: string[], options: ExecOptions = {}) => {
    calls.push(argv)
    const partial = responder(argv) ?? {}
    const result: ExecResult = {argv, exitCode: 0, stderr: '', stdout: '', notFound: false, ...partial}
    if (options.reject !== false && result.exitCode !== 0) {
      throw new EngineFailedError(argv, result.exitCode, tail(result.stderr), options.display)
    }
    return result
  }) as Exec & {calls: string[][]}
  fn.calls = calls
  return fn
}
