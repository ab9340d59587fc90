/**
 * The one seam every child process goes through. Arguments are always string[] (never a shell string).
 * Engine adapters receive an Exec, so unit tests record argv with a fake.
 */
import {execa} from 'execa'

import {EngineFailedError, tail} from './errors.js'

export interface ExecOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  input?: Buffer | string
  /** forward the child's stderr (and stdout when `stdout` is 'stream') to this callback while capturing it */
  onOutput?: (chunk: string) => void
  /** don't throw on a non-zero exit; return the result instead */
  reject?: boolean
  timeoutMs?: number
  /** a redacted form of argv used in errors and logs (secrets) */
  display?: string
}

export interface ExecResult {
  argv: string[]
  exitCode: number | undefined
  stderr: string
  stdout: string
  /** true when the program was not found (ENOENT) */
  notFound: boolean
}

export type Exec = (argv: string[], options?: ExecOptions) => Promise<ExecResult>

export const realExec: Exec = async (argv, options = {}) => {
  const [file, ...args] = argv
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    input: options.input,
    reject: false,
    stripFinalNewline: false,
    timeout: options.timeoutMs,
    encoding: 'utf8',
    buffer: true,
  })
  if (options.onOutput) {
    child.stderr?.on('data', (d: Buffer) => options.onOutput?.(d.toString()))
  }
  const r = await child
  const notFound =
    (r as {code?: string}).code === 'ENOENT' ||
    (/ENOENT/.test(String((r as {message?: string}).message ?? '')) && r.exitCode === undefined)
  const result: ExecResult = {
    argv,
    exitCode: r.exitCode,
    stderr: String(r.stderr ?? ''),
    stdout: String(r.stdout ?? ''),
    notFound,
  }
  if (options.reject !== false && (r.exitCode !== 0 || r.failed)) {
    const why = notFound
      ? `${file}: not found`
      : result.stderr || String((r as {shortMessage?: string}).shortMessage ?? '')
    throw new EngineFailedError(argv, r.exitCode, tail(why), options.display)
  }
  return result
}

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
