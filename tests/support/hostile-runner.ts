/**
 * Runs hostile-corpus variants against repro's image core, in-process: `analyze` (read, render as text and
 * as JSON), `verify` (analyze --verify) and `diff` (the variant against its valid base). Used three ways:
 *  - imported (types and `runVariant`);
 *  - as a worker thread (light variants; the test terminates a worker stuck past its deadline);
 *  - as a child process for heavy variants (`--child`), one variant at a time with the peak-RSS counter reset
 *    before each, so peak RSS is measured per variant and a FIFO or /dev/zero cannot block the test process.
 * TMPDIR is pointed at a sandbox only after startup (tsx keeps its own cache in the original TMPDIR), and
 * every variant ends with a check that nothing appeared in the sandbox.
 */
import {createHash} from 'node:crypto'
import {readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {isMainThread, parentPort, workerData} from 'node:worker_threads'

export type Expect = 'accept' | 'any' | 'readError' | 'verifyReject'
export type Op = 'analyze' | 'diff' | 'verify'

export interface Variant {
  base: string
  category: string
  expect: Expect
  form: string
  heavy: boolean
  name: string
  note: string
  path: string
  /** diff writes a --report-dir (layer-content variants): it must stay inside it */
  reportDir?: boolean
}

export interface OpOutcome {
  /** the exit code the CLI gives for this outcome (0 ok, 1 negative verdict, 2 error), null for a crash/timeout */
  exit: 0 | 1 | 2 | null
  kind: 'crash' | 'error' | 'negative' | 'ok' | 'timeout'
  message?: string
  ms: number
  /** the same operation run again gave another result (its start) */
  nondeterministic?: string
  op: Op
}

export interface VariantResult {
  name: string
  ops: OpOutcome[]
  /** files that appeared in the sandbox TMPDIR while the variant ran */
  wrote: string[]
  /** peak RSS of the process while it ran the variant, bytes (child processes only) */
  peakRss?: number
  /** RSS of that process when the variant started (what the previous variants left) */
  rssAtStart?: number
  /** over a bound in the shared run, so run again alone in a fresh process: the first measurement */
  remeasured?: {ms: number; peakRss?: number}
}

type Core = {
  analyzeImage: (file: string, o?: {contents?: boolean; verify?: boolean}) => Promise<unknown>
  renderAnalyze: (r: never, showAll: boolean) => string
  diffImages: (a: string, b: string, o: {ignore: unknown; reportDir?: string}) => Promise<{same: boolean}>
  noIgnores: unknown
  ReproError: new (...args: never[]) => Error & {exitCode: number}
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

let core: Core | undefined
async function loadCore(): Promise<Core> {
  if (core) return core
  const [analyze, text, diff, ignore, errors] = await Promise.all([
    import('../../src/image/analyze.js'),
    import('../../src/ui/analyze-text.js'),
    import('../../src/diff/index.js'),
    import('../../src/diff/ignore.js'),
    import('../../src/errors.js'),
  ])
  core = {
    analyzeImage: analyze.analyzeImage as Core['analyzeImage'],
    renderAnalyze: text.renderAnalyze as unknown as Core['renderAnalyze'],
    diffImages: diff.diffImages as unknown as Core['diffImages'],
    noIgnores: ignore.NO_IGNORES,
    ReproError: errors.ReproError as unknown as Core['ReproError'],
  }
  return core
}

/** repeat: run --verify twice and compare (worker threads only: it would add to a heavy variant's peak RSS) */
async function runOp(c: Core, v: Variant, op: Op, repeat: boolean, reportDir?: string): Promise<OpOutcome> {
  const t0 = performance.now()
  const done = (o: Omit<OpOutcome, 'ms' | 'op'>): OpOutcome => ({...o, ms: Math.round(performance.now() - t0), op})
  try {
    if (op === 'analyze') {
      const r = await c.analyzeImage(v.path, {contents: true})
      c.renderAnalyze(r as never, false)
      JSON.stringify(r, null, 2)
      return done({exit: 0, kind: 'ok'})
    }
    if (op === 'verify') {
      const r = (await c.analyzeImage(v.path, {verify: true})) as {verification?: {ok: boolean}}
      const first = sha256(JSON.stringify(r, null, 2))
      if (!r.verification)
        return done({exit: null, kind: 'crash', message: 'analyze --verify returned no verification'})
      // a failed verification is reported with exit 2 (E_VERIFY_FAILED): a negative verdict, not a crash
      const outcome = r.verification.ok ? done({exit: 0, kind: 'ok'}) : done({exit: 2, kind: 'negative'})
      if (!repeat) return outcome
      // deterministic output: layers are hashed in parallel, the result must not depend on which ends first
      const again = await c.analyzeImage(v.path, {verify: true}).then(
        (x) => sha256(JSON.stringify(x, null, 2)),
        (error: Error) => `threw ${error.message}`,
      )
      return again === first ? outcome : {...outcome, nondeterministic: `another result (${again.slice(0, 200)})`}
    }
    const r = await c.diffImages(v.base, v.path, {ignore: c.noIgnores, ...(reportDir ? {reportDir} : {})})
    JSON.stringify(r, null, 2)
    return done({exit: r.same ? 0 : 1, kind: r.same ? 'ok' : 'negative'})
  } catch (error) {
    if (error instanceof c.ReproError) {
      const outcome = done({exit: error.exitCode === 2 ? 2 : null, kind: 'error', message: error.message})
      if (op !== 'verify' || !repeat) return outcome
      const again = await c.analyzeImage(v.path, {verify: true}).then(
        () => 'succeeded',
        (e: Error) => e.message,
      )
      return again === error.message ? outcome : {...outcome, nondeterministic: again.slice(0, 200)}
    }
    const e = error as Error
    return done({exit: null, kind: 'crash', message: `${e?.name ?? typeof error}: ${e?.message ?? String(error)}`})
  }
}

function listTree(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/**
 * What a --report-dir holds that it must not: symlinks, devices, FIFOs (only directories and regular files
 * are ever written), as paths relative to it.
 */
function reportDirProblems(dir: string): string[] {
  const bad: string[] = []
  const walk = (rel: string): void => {
    for (const e of readdirSync(`${dir}/${rel}`, {withFileTypes: true})) {
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(r)
      else if (!e.isFile()) bad.push(`${r} (not a regular file) in the report directory`)
    }
  }
  walk('')
  return bad
}

/**
 * Run the operations of one variant. sandboxTmp is TMPDIR and must stay empty; a layer-content variant's
 * diff writes its report to sandboxTmp/../report-<slot>/<name>, and that parent may hold nothing else after.
 */
export async function runVariant(
  v: Variant,
  ops: Op[],
  sandboxTmp: string,
  onOp?: (op: Op) => void,
  repeatVerify = false,
): Promise<VariantResult> {
  const c = await loadCore()
  const outcomes: OpOutcome[] = []
  const reportRoot = `${sandboxTmp}-reports`
  const reportDir = v.reportDir ? `${reportRoot}/${v.name}` : undefined
  for (const op of ops) {
    onOp?.(op)
    outcomes.push(await runOp(c, v, op, repeatVerify, op === 'diff' ? reportDir : undefined))
  }
  const wrote = listTree(sandboxTmp)
  for (const f of wrote) rmSync(`${sandboxTmp}/${f}`, {force: true, recursive: true})
  for (const f of listTree(reportRoot)) {
    if (`${reportRoot}/${f}` === reportDir) wrote.push(...reportDirProblems(reportDir))
    else wrote.push(`${reportRoot}/${f} (outside the report directory)`)
    rmSync(`${reportRoot}/${f}`, {force: true, recursive: true})
  }
  return {name: v.name, ops: outcomes, wrote}
}

/** Messages between the test and a worker thread. */
export type ToWorker = {ops: Op[]; variant: Variant}
export type FromWorker = {op: Op; type: 'op'; name: string} | {result: VariantResult; type: 'result'}

if (!isMainThread && parentPort && (workerData as {hostileWorker?: boolean})?.hostileWorker) {
  const port = parentPort
  const data = workerData as {sandboxTmp: string}
  process.env.TMPDIR = data.sandboxTmp
  port.on('message', (msg: ToWorker) => {
    void runVariant(
      msg.variant,
      msg.ops,
      data.sandboxTmp,
      (op) => port.postMessage({name: msg.variant.name, op, type: 'op'} satisfies FromWorker),
      true,
    ).then((result) => port.postMessage({result, type: 'result'} satisfies FromWorker))
  })
  // the core is loaded (and compiled by tsx) before the first deadline starts
  void loadCore().then(() => port.postMessage({type: 'ready'}))
}

/** Peak RSS (VmHWM) and current RSS of this process, bytes, from /proc/self/status. */
function procRss(): {hwm: number; rss: number} {
  const status = readFileSync('/proc/self/status', 'utf8')
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
  return {hwm: kb('VmHWM'), rss: kb('VmRSS')}
}

/**
 * Child process: node --expose-gc --import tsx hostile-runner.ts --child SANDBOX_TMP, one JSON line
 * {variant, ops} per variant on stdin, one result line on stdout. Before each variant the heap is collected
 * and the kernel's peak-RSS counter is reset (`5` > /proc/self/clear_refs), so the VmHWM read after it is
 * that variant's peak (it includes the process's own ~85 MB of node, tsx and the core).
 */
if (isMainThread && process.argv[2] === '--child') {
  const sandboxTmp = process.argv[3]
  process.env.TMPDIR = sandboxTmp
  const gc = (globalThis as {gc?: () => void}).gc
  let buffered = ''
  let queue = Promise.resolve()
  process.stdin.on('data', (d) => {
    buffered += d
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      const msg = JSON.parse(line) as ToWorker
      queue = queue.then(async () => {
        gc?.()
        gc?.()
        writeFileSync('/proc/self/clear_refs', '5')
        const rssAtStart = procRss().rss
        const result = await runVariant(msg.variant, msg.ops, sandboxTmp, (op) => process.stderr.write(`op ${op}\n`))
        result.peakRss = procRss().hwm
        result.rssAtStart = rssAtStart
        process.stdout.write(`${JSON.stringify(result)}\n`)
      })
    }
  })
  process.stdin.on('end', () => void queue.then(() => process.exit(0)))
  queue = loadCore().then(() => {
    process.stderr.write('ready\n')
  })
}
