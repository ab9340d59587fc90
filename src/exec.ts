/**
 * The one seam every child process goes through. Arguments are always string[] (never a shell string).
 * Engine adapters receive an Exec, so unit tests record argv with a fake.
 *
 * Every child starts in its own process group (detached: a new session), so an abort, a timeout or a signal
 * to repro ends the child and everything it started (a shell's grandchildren, the docker CLI's plugin):
 * SIGTERM to the whole group, SIGKILL to what is left after a grace period. While it runs, the child is in
 * the process-wide cleanup registry (src/lifecycle.ts), so SIGINT/SIGTERM to repro ends it before any
 * partial file or temp dir it writes is removed.
 */
import {spawn} from 'node:child_process'
import {readdir, readFile} from 'node:fs/promises'

import {EngineFailedError, tail} from './errors.js'
import {AbortedError, lifecycle} from './lifecycle.js'

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
  /** abort the child: its whole process group is terminated and the call rejects with AbortedError */
  signal?: AbortSignal
  /** between SIGTERM and SIGKILL to the process group on abort, timeout or a signal to repro (default 3000) */
  killGraceMs?: number
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

export const DEFAULT_KILL_GRACE_MS = 3000
/** after SIGKILL, how long to wait for the group to be gone (the kernel needs a moment to tear it down) */
const AFTER_KILL_MS = 2000
const POLL_MS = 25

/**
 * Runs a child with node:child_process rather than execa: importing execa alone cost 150-200 ms of
 * start-up on these machines, which bench/build-overhead.ts showed as most of repro build's overhead over
 * the raw engine command (goal <= 0.5 s). This seam needs only argv, env, input, a stderr tap, a timeout and
 * a process-group kill.
 */
export const realExec: Exec = (argv, options = {}) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv
    const shown = options.display ?? argv.join(' ')
    if (options.signal?.aborted) {
      reject(new AbortedError(`${shown}: aborted before it started`))
      return
    }
    const env: NodeJS.ProcessEnv = {...process.env}
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k]
      else env[k] = v
    }
    const grace = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS
    // detached: the child leads a new process group (and session), so -pid reaches all it starts
    const child = spawn(file, args, {cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true})
    const out: Buffer[] = []
    const err: Buffer[] = []
    let spawnError: NodeJS.ErrnoException | undefined
    let stopped: 'aborted' | 'timed out' | undefined
    let terminating: Promise<void> | undefined
    const stop = (why: 'aborted' | 'timed out'): Promise<void> => {
      stopped ??= why
      terminating ??= child.pid === undefined ? Promise.resolve() : terminateGroup(child.pid, grace)
      return terminating
    }
    const unregister =
      child.pid === undefined
        ? () => {}
        : lifecycle.register(
            'child',
            shown,
            () => stop('aborted'),
            () => signalGroup(child.pid!, 'SIGKILL'),
          )
    let outBytes = 0
    let limitHit = false
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length
      if (options.maxStdoutBytes !== undefined && outBytes > options.maxStdoutBytes) {
        if (!limitHit && child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
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
      options.timeoutMs === undefined ? undefined : setTimeout(() => void stop('timed out'), options.timeoutMs)
    const onAbort = () => void stop('aborted')
    options.signal?.addEventListener('abort', onAbort, {once: true})
    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnError = error
    })
    child.stdin.on('error', () => {}) // a child that exits without reading its input
    child.stdin.end(options.input ?? '')
    child.on('close', (code, signal) => {
      void (async () => {
        if (timer) clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        // the group outlives its leader when a grandchild ignored SIGTERM: wait until all of it is gone
        if (terminating) await terminating
        unregister()
        const notFound = spawnError?.code === 'ENOENT'
        const result: ExecResult = {
          argv,
          exitCode: spawnError ? undefined : (code ?? undefined),
          notFound,
          stderr: Buffer.concat(err).toString('utf8'),
          stdout: Buffer.concat(out).toString('utf8'),
          ...(limitHit ? {stdoutLimitHit: true} : {}),
        }
        if (stopped === 'aborted' || (lifecycle.signalled && signal !== null)) {
          reject(new AbortedError(`${shown}: aborted`))
          return
        }
        if (options.reject !== false && (spawnError || code !== 0 || stopped)) {
          const why = notFound
            ? `${file}: not found`
            : spawnError
              ? spawnError.message
              : stopped
                ? `timed out after ${options.timeoutMs} ms\n${result.stderr}`
                : result.stderr
          reject(new EngineFailedError(argv, result.exitCode, tail(why), options.display))
          return
        }
        resolve(result)
      })()
    })
  })

/**
 * SIGTERM to the process group, SIGKILL to what is left after `graceMs`; resolves when no live member is
 * left (or, if one cannot be killed, after the SIGKILL wait).
 */
export async function terminateGroup(pgid: number, graceMs = DEFAULT_KILL_GRACE_MS): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return
  if (await waitGroupGone(pgid, graceMs)) return
  signalGroup(pgid, 'SIGKILL')
  await waitGroupGone(pgid, AFTER_KILL_MS)
}

/** false when the group no longer exists */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false
  }
}

async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    if (!(await groupAlive(pgid))) return true
    if (Date.now() >= until) return false
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/**
 * Is any process of the group still running? kill(-pgid, 0) also counts zombies, and orphaned grandchildren
 * stay zombies until PID 1 reaps them (1-2 s on these VMs), so on Linux /proc is read and zombies ignored.
 */
export async function groupAlive(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0)
  } catch {
    return false
  }
  let pids: string[]
  try {
    pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n))
  } catch {
    return true // no /proc: the kill probe is all there is
  }
  const states = await Promise.all(
    pids.map((p) => readFile(`/proc/${p}/stat`, 'utf8').then(parseStat, () => undefined)),
  )
  return states.some((s) => s !== undefined && s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X')
}

/** /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses */
function parseStat(text: string): {state: string; pgrp: number} | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const pgrp = Number(fields[2])
  return Number.isInteger(pgrp) ? {state: fields[0], pgrp} : undefined
}

/** A recording fake for unit tests: answers from `responder`, records every argv. */
export function fakeExec(
  responder: (argv: string[]) => Partial<ExecResult> | undefined = () => undefined,
): Exec & {calls: string[][]} {
  const calls: string[][] = []
  const fn = (async (argv: string[], options: ExecOptions = {}) => {
    calls.push(argv)
    if (options.signal?.aborted) throw new AbortedError(`${options.display ?? argv.join(' ')}: aborted`)
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
