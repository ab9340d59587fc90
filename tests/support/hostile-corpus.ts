/**
 * The hostile-archive corpus for tests: generate it (tests/hostile/gen_corpus.py, Python's tarfile as the
 * independent writer), run its variants against the core (worker threads for light variants, one child
 * process per heavy one, with deadlines and peak RSS), and judge each outcome against what the variant
 * expects. See tests/hostile/corpus.test.ts.
 */
import {type ChildProcessWithoutNullStreams, spawn, spawnSync} from 'node:child_process'
import {lstatSync, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'

import type {FromWorker, Op, OpOutcome, Variant, VariantResult} from './hostile-runner.js'

export type {Op, OpOutcome, Variant, VariantResult} from './hostile-runner.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const ROOT = path.resolve(HERE, '..', '..')
const RUNNER = path.join(HERE, 'hostile-runner.ts')
// absolute: workers and children run in a sandbox working directory where bare 'tsx' does not resolve
const TSX = import.meta.resolve('tsx')
const TSX_API = import.meta.resolve('tsx/esm/api')

/** Every variant's operation must end within this (the issue's bound). */
export const OP_LIMIT_MS = 5_000
/** Peak RSS bound of a process that ran one variant (the issue's bound). */
export const RSS_LIMIT = 300 * 1024 * 1024
/** A variant still running this long after its deadline is killed (reported as a timeout). */
const KILL_AFTER_MS = 20_000

export interface Corpus {
  bases: Record<string, string>
  seed: number
  variants: Variant[]
}

export function generateCorpus(outDir: string, seed: number, only?: string[]): Corpus {
  const args = [path.join(ROOT, 'tests/hostile/gen_corpus.py'), outDir, '--seed', String(seed)]
  if (only) args.push('--only', only.join(','))
  const r = spawnSync('python3', args, {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  if (r.status !== 0) throw new Error(`gen_corpus.py failed (${r.status}): ${r.stderr}`)
  return JSON.parse(readFileSync(path.join(outDir, 'corpus.json'), 'utf8')) as Corpus
}

/** Name, type, size and mtime of everything under dir (lstat: symlinks, even to '/', are not followed). */
export function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(dir, rel), {withFileTypes: true})) {
      const r = rel ? `${rel}/${e.name}` : e.name
      const st = lstatSync(path.join(dir, r))
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'special'
      out.set(r, `${type}:${st.mode}:${st.size}:${st.mtimeMs}`)
      if (e.isDirectory()) walk(r)
    }
  }
  walk('')
  return out
}

/**
 * Light variants on `workers` worker threads. A worker that does not finish an operation within
 * KILL_AFTER_MS is terminated (that operation is a timeout, the variant's later operations are not run) and
 * replaced.
 */
export async function runInWorkers(
  variants: Variant[],
  opsOf: (v: Variant) => Op[],
  sandboxTmps: string[],
  deadline: (v: Variant) => number = () => KILL_AFTER_MS,
): Promise<VariantResult[]> {
  const results: VariantResult[] = []
  let next = 0
  const runSlot = async (slot: number): Promise<void> => {
    let worker: Worker | undefined
    let ready: Promise<void> | undefined
    const start = (): void => {
      // Node 20 does not apply --import hooks to a worker's entry module: register tsx, then import it
      const boot = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(RUNNER).href)}) })`
      worker = new Worker(boot, {eval: true, workerData: {hostileWorker: true, sandboxTmp: sandboxTmps[slot]}})
      ready = new Promise((resolve, reject) => {
        worker!.once('message', () => resolve())
        worker!.once('error', reject)
      })
    }
    while (next < variants.length) {
      const v = variants[next++]
      if (!worker) start()
      await ready
      const w = worker!
      const ops = opsOf(v)
      const killAfterMs = deadline(v)
      const result = await new Promise<VariantResult>((resolve) => {
        const started: Array<{op: Op; t: number}> = []
        let timer: NodeJS.Timeout | undefined
        const arm = (): void => {
          clearTimeout(timer)
          timer = setTimeout(() => finish(timeoutResult(v, ops, started, 'timeout', killAfterMs)), killAfterMs)
        }
        const onMessage = (m: FromWorker): void => {
          if (m.type === 'op') {
            started.push({op: m.op, t: performance.now()})
            arm()
          } else finish(m.result)
        }
        const onError = (error: Error): void => finish(timeoutResult(v, ops, started, 'crash', killAfterMs, error))
        const onExit = (code: number): void =>
          finish(timeoutResult(v, ops, started, 'crash', killAfterMs, new Error(`worker exited with code ${code}`)))
        const finish = (r: VariantResult): void => {
          clearTimeout(timer)
          w.off('message', onMessage)
          w.off('error', onError)
          w.off('exit', onExit)
          if (r.ops.some((o) => o.kind === 'timeout' || (o.kind === 'crash' && o.message?.startsWith('worker:')))) {
            void w.terminate()
            worker = undefined
          }
          resolve(r)
        }
        w.on('message', onMessage)
        w.on('error', onError)
        w.on('exit', onExit)
        arm()
        w.postMessage({ops, variant: v})
      })
      results.push(result)
    }
    if (worker) await worker.terminate()
  }
  await Promise.all(sandboxTmps.map((_, i) => runSlot(i)))
  return results
}

function timeoutResult(
  v: Variant,
  ops: Op[],
  started: Array<{op: Op; t: number}>,
  kind: 'crash' | 'timeout',
  killAfterMs: number,
  error?: Error,
): VariantResult {
  const outcomes: OpOutcome[] = []
  for (const [i, s] of started.entries()) {
    if (i < started.length - 1) continue // finished ops were not reported: only the stuck one matters
    outcomes.push({
      exit: null,
      kind,
      message: kind === 'timeout' ? `still running after ${killAfterMs} ms` : `worker: ${error?.message}`,
      ms: Math.round(performance.now() - s.t),
      op: s.op,
    })
  }
  if (outcomes.length === 0) {
    const message = error ? `worker: ${error.message}` : `no operation started within ${killAfterMs} ms`
    outcomes.push({exit: null, kind, message, ms: 0, op: ops[0]})
  }
  return {name: v.name, ops: outcomes, wrote: []}
}

/** /proc/<pid>/status VmHWM (peak RSS) in bytes, or 0 when the process is gone. */
function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

interface Child {
  proc: ChildProcessWithoutNullStreams
  lines: string[]
  /** the child has loaded the core: deadlines start after this */
  ready: Promise<void>
  stderr: string
  waiter?: () => void
}

function startChild(sandboxTmp: string, cwd: string): Child {
  const proc = spawn(process.execPath, ['--expose-gc', '--import', TSX, RUNNER, '--child', sandboxTmp], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let markReady: () => void = () => {}
  const c: Child = {lines: [], proc, ready: new Promise<void>((resolve) => (markReady = resolve)), stderr: ''}
  let buf = ''
  proc.stdout.on('data', (d) => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      c.lines.push(buf.slice(0, nl))
      buf = buf.slice(nl + 1)
    }
    c.waiter?.()
  })
  proc.stderr.on('data', (d) => {
    c.stderr += d
    if (/^ready$/m.test(c.stderr)) markReady()
    c.waiter?.()
  })
  proc.on('close', () => {
    markReady()
    c.waiter?.()
  })
  return c
}

/**
 * Heavy variants, one at a time in each of `sandboxTmps.length` long-lived child processes. Each result
 * carries the peak RSS the child measured for that variant alone; the test also watches /proc/<pid>/status and
 * kills a child past KILL_AFTER_MS in one operation or past 4x the RSS bound (the variant is then a timeout
 * or a crash with the peak seen, and a new child takes the next variant).
 */
export async function runInChildren(
  variants: Variant[],
  opsOf: (v: Variant) => Op[],
  sandboxTmps: string[],
  cwd: string,
  deadline: (v: Variant) => number = () => KILL_AFTER_MS,
): Promise<VariantResult[]> {
  const results: VariantResult[] = []
  let next = 0
  const runSlot = async (slot: number): Promise<void> => {
    let child: Child | undefined
    while (next < variants.length) {
      const v = variants[next++]
      if (!child) {
        child = startChild(sandboxTmps[slot], cwd)
        await child.ready
      }
      const c = child
      const ops = opsOf(v)
      const killAfterMs = deadline(v)
      c.stderr = ''
      c.proc.stdin.write(`${JSON.stringify({ops, variant: v})}\n`)
      const result = await new Promise<VariantResult>((resolve) => {
        let opStart = performance.now()
        let seenOps = 0
        let op: Op = ops[0]
        let peak = 0
        const poll = setInterval(() => {
          peak = Math.max(peak, vmHwm(c.proc.pid!))
          let killedFor: string | undefined
          if (peak > 4 * RSS_LIMIT) killedFor = `killed at peak RSS ${(peak / 2 ** 20).toFixed(0)} MB`
          else if (performance.now() - opStart > killAfterMs) killedFor = `still running after ${killAfterMs} ms`
          if (killedFor) {
            c.proc.kill('SIGKILL')
            done({
              name: v.name,
              ops: [
                {
                  exit: null,
                  kind: killedFor.startsWith('still') ? 'timeout' : 'crash',
                  message: killedFor,
                  ms: Math.round(performance.now() - opStart),
                  op,
                },
              ],
              peakRss: peak,
              wrote: [],
            })
          }
        }, 50)
        const done = (r: VariantResult): void => {
          clearInterval(poll)
          c.waiter = undefined
          if (
            r.ops.some((o) => o.kind === 'timeout' || o.message?.startsWith('killed') || o.message?.startsWith('child'))
          ) {
            c.proc.kill('SIGKILL')
            child = undefined
          }
          resolve(r)
        }
        c.waiter = () => {
          const started = [...c.stderr.matchAll(/^op (\w+)$/gm)]
          if (started.length > seenOps) {
            seenOps = started.length
            op = started.at(-1)![1] as Op
            opStart = performance.now()
          }
          const line = c.lines.shift()
          if (line !== undefined) {
            done(JSON.parse(line) as VariantResult)
          } else if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
            const tail = c.stderr
              .split('\n')
              .filter((l) => !/^op \w+$/.test(l))
              .join(' ')
              .slice(0, 300)
            done({
              name: v.name,
              ops: [
                {
                  exit: null,
                  kind: 'crash',
                  message: `child exited ${c.proc.exitCode ?? c.proc.signalCode}: ${tail}`,
                  ms: Math.round(performance.now() - opStart),
                  op,
                },
              ],
              peakRss: peak,
              wrote: [],
            })
          }
        }
        c.waiter()
      })
      results.push(result)
    }
    if (child) {
      child.proc.stdin.end()
      await new Promise((resolve) => child!.proc.once('close', resolve))
    }
  }
  await Promise.all(sandboxTmps.map((_, i) => runSlot(i)))
  return results
}

/** Run `fn` over items with at most `n` at a time, results in input order. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({length: Math.min(n, items.length)}, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await fn(items[i])
      }
    }),
  )
  return out
}

/**
 * What is wrong with a variant's outcome, as sentences (empty: the outcome is correct). The rules, for every
 * variant and operation: the outcome is success, a negative verdict or a ReproError with exit code 2 whose
 * message is one line naming the input; never a crash (TypeError, RangeError, "Maximum call stack"...) or a
 * timeout; each operation under OP_LIMIT_MS; nothing written to the sandbox. Plus what the variant expects.
 */
export function judge(v: Variant, r: VariantResult): string[] {
  const problems: string[] = []
  for (const o of r.ops) {
    if (o.kind === 'crash') problems.push(`${o.op}: crashed: ${o.message}`)
    else if (o.kind === 'timeout') problems.push(`${o.op}: ${o.message}`)
    else if (o.kind === 'error') {
      if (o.exit !== 2) problems.push(`${o.op}: ReproError with exit code ${o.exit ?? 'other than 2'}: ${o.message}`)
      const msg = o.message ?? ''
      if (/[\n\r]/.test(msg))
        problems.push(`${o.op}: error message is not one line: ${JSON.stringify(msg.slice(0, 300))}`)
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(msg))
        problems.push(`${o.op}: error message holds a control character: ${JSON.stringify(msg.slice(0, 300))}`)
      // named as is, or escaped as a JSON string would (a name with a newline cannot be both)
      if (!msg.includes(v.path) && !msg.includes(JSON.stringify(v.path).slice(1, -1)))
        problems.push(`${o.op}: error message does not name the input: ${JSON.stringify(msg.slice(0, 300))}`)
      // a line a person reads: a hostile 10 MB name must not come back in it
      if (msg.length > v.path.length + 1000)
        problems.push(`${o.op}: error message of ${msg.length} characters: ${msg.slice(0, 200)}...`)
      if (/Maximum call stack|RangeError|TypeError|Cannot read prop|is not a function|\bat .+:\d+:\d+/.test(msg))
        problems.push(`${o.op}: error message leaks an internal failure: ${msg.slice(0, 300)}`)
    }
    if (o.nondeterministic !== undefined)
      problems.push(
        `${o.op}: a second run gave another result: ${o.nondeterministic} (first: ${o.kind} ${o.message ?? ''})`,
      )
    if (o.ms > OP_LIMIT_MS)
      problems.push(
        `${o.op}: took ${o.ms} ms (limit ${OP_LIMIT_MS} ms${r.remeasured ? `; measured again alone, first ${r.remeasured.ms} ms` : ''})`,
      )
  }
  if (r.wrote.length > 0) problems.push(`wrote outside its output: ${r.wrote.slice(0, 5).join(', ')}`)
  if (r.peakRss !== undefined && r.peakRss > RSS_LIMIT)
    problems.push(
      `peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MB (limit ${RSS_LIMIT / 2 ** 20} MB; ${r.remeasured ? 'measured again alone in a fresh process' : `the process held ${((r.rssAtStart ?? 0) / 2 ** 20).toFixed(0)} MB at start`})`,
    )
  const by = Object.fromEntries(r.ops.map((o) => [o.op, o])) as Partial<Record<Op, OpOutcome>>
  const show = (o?: OpOutcome): string =>
    o ? `${o.kind}${o.message ? ` (${o.message.slice(0, 200)})` : ''}` : 'not run'
  if (v.expect === 'accept') {
    if (by.analyze && by.analyze.kind !== 'ok') problems.push(`expected analyze to succeed, got ${show(by.analyze)}`)
    if (by.verify && by.verify.kind !== 'ok') problems.push(`expected --verify to verify, got ${show(by.verify)}`)
  } else if (v.expect === 'readError') {
    if (by.analyze && by.analyze.kind !== 'error' && by.analyze.kind !== 'timeout' && by.analyze.kind !== 'crash')
      problems.push(`expected analyze to refuse the input (exit 2), got ${show(by.analyze)}`)
    if (by.diff && by.diff.kind !== 'error' && by.diff.kind !== 'timeout' && by.diff.kind !== 'crash')
      problems.push(`expected diff to refuse the input (exit 2), got ${show(by.diff)}`)
  } else if (v.expect === 'verifyReject') {
    if (by.verify && by.verify.kind === 'ok')
      problems.push('expected --verify to refuse or report a mismatch, but it verified (exit 0)')
  }
  return problems
}
