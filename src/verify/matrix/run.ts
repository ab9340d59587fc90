/**
 * The matrix runner of `repro verify --matrix` and of the nightly: every job is one `verify()` (src/verify:
 * rebuilds without cache, compares, explains a mismatch with src/diff and writes its `--report-dir`), run over
 * the one bounded pool (src/pool.ts) with at most `concurrency` jobs at once. Builds of different jobs wait on
 * different daemons or on RUN steps, so they overlap (bench/matrix-queue.ts measures it).
 *
 * REPORT_DIR/
 *   report.json, report.md      written at the end (atomically)
 *   jobs/<id>/log.txt           the job's engine output
 *   jobs/<id>/diff/             `repro diff --report-dir` of a failing job's two images
 *   state/<input hash>.json     one per finished job (pass or fail), written atomically when it finishes:
 *                               a later run with the same inputs takes the result from here instead of
 *                               rebuilding (resume after Ctrl-C); --fresh forgets them
 *
 * Interruption (SIGINT/SIGTERM): the exec seam and src/lifecycle.ts end every build's process group and
 * remove temp dirs; the state of finished jobs is already on disk.
 */
import {createHash} from 'node:crypto'
import {createWriteStream, existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {NO_IGNORES} from '../../diff/ignore.js'
import {diffImages} from '../../diff/index.js'
import {parseBuildContext} from '../../engine/args.js'
import type {BuildInput} from '../../engine/run.js'
import {ReproError} from '../../errors.js'
import type {Exec} from '../../exec.js'
import {sha256File} from '../../image/digest.js'
import {AbortedError, lifecycle} from '../../lifecycle.js'
import {createLogger, type Logger} from '../../log.js'
import {mapLimit} from '../../pool.js'
import {canonicalJson} from '../attestation.js'
import {contextDigest} from '../context-digest.js'
import {verify, type VerifyResult} from '../index.js'
import type {Matrix, MatrixJob} from './parse.js'
import {buildReport, reportJson, reportMarkdown} from './report.js'
import type {Agreement, CauseCount, MatrixJobResult, MatrixReport} from './types.js'

export const STATE_SCHEMA_VERSION = 1

export interface MatrixRunOptions {
  matrix: Matrix
  /** where report.json, report.md, jobs/ and state/ go */
  reportDir: string
  /** jobs at once (--jobs) */
  concurrency: number
  /** put run-dependent values (times, resumed jobs) in the report */
  timings: boolean
  /** forget the state of earlier runs: rebuild every job */
  fresh: boolean
  /** the environment every build sees (DOCKER_HOST, BUILDKIT_HOST, ...), from the command */
  env: BuildInput['env']
  /** the version recorded by verify */
  version: string
  /** a progress line (stderr) */
  progress: (line: string) => void
  /** extra fields for the report (the nightly's) */
  decorate?: (report: MatrixReport) => MatrixReport
  signal?: AbortSignal
}

export interface MatrixRunDeps {
  exec: Exec
  logger: Logger
  now?: () => Date
}

interface JobState {
  schemaVersion: typeof STATE_SCHEMA_VERSION
  inputHash: string
  result: MatrixJobResult
  seconds: number
  buildSeconds: number[]
}

interface JobOutcome {
  result: MatrixJobResult
  seconds: number
  buildSeconds: number[]
  resumed: boolean
  /** the first rebuilt tarball, kept for the agreement diff (jobs with an `agree` key) */
  tar?: string
}

const round1 = (s: number) => Math.round(s * 10) / 10

/** Directory of a job under REPORT_DIR (ids are validated: names joined by `/`, no `.` or `..`). */
export function jobDir(id: string): string {
  return path.posix.join('jobs', ...id.split('/'))
}

/** The key of a job's resume state: its options, its builder, and the content of what it reads. */
export async function jobInputHash(m: Matrix, job: MatrixJob): Promise<string> {
  const abs = (rel: string) => path.join(m.baseDir, rel)
  const context = abs(job.context)
  const dockerfile = path.join(context, job.dockerfile)
  const dirContexts: Record<string, string> = {}
  for (const [n, v] of Object.entries(job.buildContexts)) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//.test(v) && !v.startsWith('target:'))
      dirContexts[n] = (await contextDigest(abs(v))).digest
  }
  const {index: _index, ...options} = job
  const inputs = {
    v: STATE_SCHEMA_VERSION,
    options,
    context: (await contextDigest(context, dockerfile)).digest,
    dockerfile: await sha256File(dockerfile),
    lock: job.lock ? await sha256File(abs(job.lock)) : null,
    hashfiles: await Promise.all(job.hashfiles.map((h) => sha256File(abs(h)))),
    dirContexts,
  }
  return `sha256:${createHash('sha256').update(canonicalJson(inputs)).digest('hex')}`
}

/** The BuildInput of one job (what `repro build` would take), every path absolute. */
export function jobBuildInput(m: Matrix, job: MatrixJob, env: BuildInput['env'], work: string): BuildInput {
  const abs = (rel: string) => path.join(m.baseDir, rel)
  const b = job.builder
  return {
    cwd: m.baseDir,
    context: abs(job.context),
    file: path.join(abs(job.context), job.dockerfile),
    output: path.join(work, 'image.tar'),
    format: job.format,
    tags: [],
    buildArgs: Object.entries(job.buildArgs).map(([k, v]) => `${k}=${v}`),
    annotations: [],
    platforms: job.platforms,
    target: job.target,
    noCache: true,
    buildContexts: Object.entries(job.buildContexts).map(([n, v]) => {
      const c = parseBuildContext(`${n}=${v}`, m.baseDir)
      return c.kind === 'dir'
        ? `${n}=${c.path}`
        : c.kind === 'oci-layout'
          ? `${n}=oci-layout://${c.path}${c.digest ? `@${c.digest}` : ''}`
          : `${n}=${v}`
    }),
    secrets: [],
    buildkitImage: b.image,
    rootless: false,
    runtime: b.runtime,
    buildkitAddr: b.addr,
    builder: b.buildx,
    allowUnpinnedBuilder: b.allowUnpinned,
    sde: job.sde,
    sdeFromGit: false,
    dry: false,
    lock: job.lock ? abs(job.lock) : undefined,
    locked: job.locked,
    hashfiles: job.hashfiles.map(abs),
    providers: job.providers.length > 0 ? job.providers : undefined,
    pkgCache: job.hashfiles.length > 0 ? path.join(work, 'pkg-cache') : undefined,
    env: {...env, ...(b.dockerHost ? {DOCKER_HOST: b.dockerHost} : {})},
  }
}

/** The diff's causes, each with the first paths it was seen at (e.g. `stamp` for a date written by RUN). */
export function causesOf(
  causes: Array<{cause: string; count: number; title: string}>,
  events: Array<{cause: string; path: string}>,
): CauseCount[] {
  return causes.map((c) => {
    const paths = [...new Set(events.filter((e) => e.cause === c.cause && e.path).map((e) => e.path))].slice(0, 3)
    return {cause: c.cause, count: c.count, title: c.title, ...(paths.length > 0 ? {paths} : {})}
  })
}

const short = (d?: string) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '-')

/** A job's result from its verify() result: pass/fail by its expectation (a canary must not reproduce). */
export function jobResult(
  job: MatrixJob,
  base: Pick<MatrixJobResult, 'diffReportDir' | 'inputHash' | 'log'>,
  r: VerifyResult,
): MatrixJobResult {
  const causes = r.diff ? causesOf(r.diff.causes, r.diff.events) : []
  const failures: string[] = []
  const why = causes.length > 0 ? `; causes: ${causes.map((c) => `${c.cause} (${c.count})`).join(', ')}` : ''
  if (job.expect === 'not-reproducible') {
    if (r.reproduced) failures.push(`${job.id}: reproduced (${short(r.digest)}) but it is expected not to`)
    else {
      const missing = job.expectCauses.filter((c) => !causes.some((x) => x.cause === c))
      if (missing.length > 0)
        failures.push(`${job.id}: not reproduced as expected, but the diff did not name ${missing.join(', ')}${why}`)
    }
  } else if (!r.reproduced) {
    // the image compared with, as the matrix file names it (verify saw it resolved to a host path)
    const asWritten = (t: string) =>
      r.expected?.kind === 'image' && job.against ? t.replaceAll(r.expected.input, job.against) : t
    const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${asWritten(c.detail)}`)
    failures.push(`${job.id}: not reproduced: ${failed.join('; ') || 'the rebuilds differ'}${why}`)
  }
  const first = r.builds[0]
  return {
    ...jobHeader(job),
    buildkit: first?.buildkitVersion ?? job.buildkit,
    runtimeVersion: first?.runtimeVersion,
    platform: first?.platform ?? '',
    status: failures.length > 0 ? 'fail' : 'pass',
    // as the matrix file says it (verify saw the path resolved against the file's directory: a host path)
    expected: r.expected?.kind === 'image' ? {...r.expected, input: job.against ?? r.expected.input} : r.expected,
    digest: r.digest,
    builds: r.builds.map((b) => ({
      attempt: b.attempt,
      digest: b.digest,
      archiveSha256: b.archiveSha256,
      platform: b.platform,
    })),
    reproduced: r.reproduced,
    causes,
    differences: r.diff?.differences,
    failures,
    log: base.log,
    inputHash: base.inputHash,
    ...(r.diff && base.diffReportDir ? {diffReportDir: base.diffReportDir} : {}),
  }
}

function jobHeader(
  job: MatrixJob,
): Pick<
  MatrixJobResult,
  'builder' | 'context' | 'dockerfile' | 'expect' | 'fixture' | 'id' | 'index' | 'platforms' | 'runtime'
> {
  return {
    id: job.id,
    index: job.index,
    fixture: job.fixture,
    context: job.context,
    dockerfile: job.dockerfile,
    runtime: job.builder.runtime,
    builder: job.builder.name,
    platforms: job.platforms,
    expect: job.expect,
  }
}

/** Write a file whole or not at all (temp file in the same directory, then rename). */
export async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  const tmp = `${file}.${process.pid}.partial`
  const done = lifecycle.registerPath(tmp)
  try {
    await writeFile(tmp, text)
    await rename(tmp, file)
  } finally {
    done()
  }
}

async function readState(file: string, inputHash: string): Promise<JobState | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const s = JSON.parse(text) as JobState
    if (s.schemaVersion !== STATE_SCHEMA_VERSION || s.inputHash !== inputHash) return undefined
    if (s.result?.status !== 'pass' && s.result?.status !== 'fail') return undefined
    return s
  } catch {
    return undefined // a damaged state file: the job runs again
  }
}

class Progress {
  private done = 0
  private failed = 0
  private errors = 0
  private readonly running = new Set<string>()
  constructor(
    private readonly total: number,
    private readonly write: (line: string) => void,
  ) {}

  start(id: string): void {
    this.running.add(id)
    this.print()
  }

  finish(id: string, status: string, resumed = false): void {
    this.running.delete(id)
    this.done++
    if (status === 'fail') this.failed++
    if (status === 'error') this.errors++
    if (!resumed) this.print(`${id}: ${status.toUpperCase()}`)
  }

  print(event?: string): void {
    const cur = [...this.running]
    const shownJobs = cur.slice(0, 6).join(', ') + (cur.length > 6 ? `, +${cur.length - 6}` : '')
    this.write(
      `verify --matrix: ${this.done}/${this.total} done, ${this.running.size} running, ${this.failed} failed, ${this.errors} errors` +
        `${event ? ` | ${event}` : ''}${cur.length > 0 ? ` | running: ${shownJobs}` : ''}`,
    )
  }
}

export async function runMatrix(o: MatrixRunOptions, deps: MatrixRunDeps): Promise<MatrixReport> {
  const now = deps.now ?? (() => new Date())
  const started = now()
  const t0 = Date.now()
  const {matrix: m} = o
  const reportDir = path.resolve(o.reportDir)
  const stateDir = path.join(reportDir, 'state')
  if (o.fresh) await rm(stateDir, {recursive: true, force: true})
  await mkdir(stateDir, {recursive: true})
  const work = await mkdtemp(path.join(tmpdir(), 'repro-matrix-'))
  const unregister = lifecycle.registerPath(work)
  const progress = new Progress(m.jobs.length, o.progress)
  const outcomes: JobOutcome[] = new Array(m.jobs.length)
  try {
    // resume: the jobs whose inputs have a finished state
    const hashes = await mapLimit(m.jobs, 4, (job) => jobInputHash(m, job))
    const todo: number[] = []
    for (const [i, job] of m.jobs.entries()) {
      const s = await readState(path.join(stateDir, `${hashes[i].slice(7)}.json`), hashes[i])
      if (s) {
        outcomes[i] = {
          result: {...s.result, index: job.index},
          seconds: s.seconds,
          buildSeconds: s.buildSeconds,
          resumed: true,
        }
        progress.finish(job.id, s.result.status, true)
      } else todo.push(i)
    }
    if (todo.length < m.jobs.length)
      o.progress(
        `verify --matrix: ${m.jobs.length - todo.length} job(s) finished in an earlier run (state in ${path.relative(process.cwd(), stateDir) || '.'}), ${todo.length} to run`,
      )

    await mapLimit(todo, Math.max(1, o.concurrency), async (i) => {
      if (o.signal?.aborted) throw new AbortedError('verify --matrix: aborted')
      const job = m.jobs[i]
      progress.start(job.id)
      const outcome = await runJob(o, deps, job, hashes[i], reportDir, work)
      outcomes[i] = outcome
      if (outcome.result.status !== 'error') {
        const state: JobState = {
          schemaVersion: STATE_SCHEMA_VERSION,
          inputHash: hashes[i],
          result: outcome.result,
          seconds: outcome.seconds,
          buildSeconds: outcome.buildSeconds,
        }
        await writeAtomic(path.join(stateDir, `${hashes[i].slice(7)}.json`), `${JSON.stringify(state, null, 2)}\n`)
      }
      progress.finish(job.id, outcome.result.status)
    })

    const agreements = await agree(m, outcomes, reportDir, deps)
    let report = buildReport(
      m.name,
      outcomes.map((x) => x.result),
      agreements,
    )
    if (o.timings) {
      report.timings = {
        startedAt: started.toISOString(),
        seconds: round1((Date.now() - t0) / 1000),
        concurrency: o.concurrency,
        jobs: Object.fromEntries(
          outcomes.map((x) => [x.result.id, {seconds: x.seconds, resumed: x.resumed, buildSeconds: x.buildSeconds}]),
        ),
      }
    }
    if (o.decorate) report = o.decorate(report)
    await writeAtomic(path.join(reportDir, 'report.json'), reportJson(report))
    await writeAtomic(path.join(reportDir, 'report.md'), reportMarkdown(report))
    return report
  } finally {
    await rm(work, {recursive: true, force: true})
    unregister()
  }
}

async function runJob(
  o: MatrixRunOptions,
  deps: MatrixRunDeps,
  job: MatrixJob,
  inputHash: string,
  reportDir: string,
  work: string,
): Promise<JobOutcome> {
  const rel = jobDir(job.id)
  const dir = path.join(reportDir, rel)
  // a job interrupted in an earlier run left a partial directory: start it over
  await rm(dir, {recursive: true, force: true})
  await mkdir(dir, {recursive: true})
  const jobWork = path.join(work, createHash('sha256').update(job.id).digest('hex').slice(0, 16))
  await mkdir(jobWork, {recursive: true})
  const log = createWriteStream(path.join(dir, 'log.txt'))
  const logger = createLogger('verbose', (s) => {
    log.write(s)
  })
  const base = {log: `${rel}/log.txt`, inputHash, diffReportDir: `${rel}/diff`}
  const t0 = Date.now()
  try {
    logger.info(`verify --matrix: job ${job.id} (${job.context}, ${job.builder.name}, ${job.times} rebuilds)`)
    const r = await verify(
      {
        build: jobBuildInput(o.matrix, job, o.env, jobWork),
        times: job.times,
        expectedDigest: job.expectedDigest,
        against:
          job.against && existsSync(path.resolve(o.matrix.baseDir, job.against))
            ? path.resolve(o.matrix.baseDir, job.against)
            : job.against,
        attestTimestamps: false,
        version: o.version,
        outputDir: job.agree ? path.join(jobWork, 'out') : undefined,
        diffReportDir: path.join(dir, 'diff'),
      },
      {exec: deps.exec, logger},
    )
    const result = jobResult(job, base, r)
    logger.info(
      `verify --matrix: job ${job.id}: ${result.status}${result.failures.length ? `\n${result.failures.join('\n')}` : ''}`,
    )
    return {
      result,
      seconds: round1((Date.now() - t0) / 1000),
      buildSeconds: r.builds.map((b) => b.seconds),
      resumed: false,
      tar: r.builds[0]?.path,
    }
  } catch (error) {
    if (error instanceof AbortedError || o.signal?.aborted || lifecycle.signalled) throw error
    const message = error instanceof ReproError ? error.message : (error as Error).message
    const lines = message.split('\n')
    logger.info(`verify --matrix: job ${job.id}: error: ${message}`)
    return {
      result: {
        ...jobHeader(job),
        buildkit: job.buildkit,
        platform: '',
        status: 'error',
        builds: [],
        causes: [],
        failures: [`${job.id}: error: ${lines[0]}${lines.length > 1 ? ` (more in ${base.log})` : ''}`],
        log: base.log,
        inputHash,
      },
      seconds: round1((Date.now() - t0) / 1000),
      buildSeconds: [],
      resumed: false,
    }
  } finally {
    await new Promise<void>((resolve) => {
      log.end(() => resolve())
    })
  }
}

/** Jobs sharing an `agree` key (and platform) must give one digest; a disagreement is explained by a diff. */
async function agree(m: Matrix, outcomes: JobOutcome[], reportDir: string, deps: MatrixRunDeps): Promise<Agreement[]> {
  const groups = new Map<string, JobOutcome[]>()
  for (const [i, x] of outcomes.entries()) {
    const key = m.jobs[i].agree
    const r = x.result
    if (!key || r.expect !== 'reproducible' || r.status === 'error' || !r.builds[0] || !r.platform) continue
    const k = `${key}\0${r.platform}`
    groups.set(k, [...(groups.get(k) ?? []), x])
  }
  const out: Agreement[] = []
  for (const [k, xs] of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (xs.length < 2) continue
    const [key, platform] = k.split('\0')
    const digests = Object.fromEntries(xs.map((x) => [x.result.id, x.result.builds[0].digest]))
    const distinct = new Set(Object.values(digests))
    const agreement: Agreement = {
      key,
      platform,
      digests,
      agree: distinct.size === 1,
      causes: [],
      detail:
        distinct.size === 1
          ? `${xs.length} jobs: ${short([...distinct][0])}`
          : xs.map((x) => `${x.result.id} ${short(x.result.builds[0].digest)}`).join(', '),
    }
    if (!agreement.agree) {
      const a = xs[0]
      const b = xs.find((x) => x.result.builds[0].digest !== a.result.builds[0].digest)!
      if (a.tar && b.tar) {
        const rel = path.posix.join(
          'agreements',
          ...key.split('/').map((s) => s.replace(/[^A-Za-z0-9._-]/g, '_')),
          'diff',
        )
        try {
          await rm(path.join(reportDir, rel), {recursive: true, force: true})
          const d = await diffImages(a.tar, b.tar, {
            ignore: NO_IGNORES,
            exec: deps.exec,
            logger: deps.logger,
            reportDir: path.join(reportDir, rel),
          })
          agreement.causes = causesOf(d.summary.causes, d.differences)
          agreement.diffReportDir = rel
        } catch (error) {
          agreement.detail += `; the diff of ${a.result.id} and ${b.result.id} failed: ${(error as Error).message.split('\n')[0]}`
        }
      } else agreement.detail += '; (a job was resumed from an earlier run: no image to diff)'
    }
    out.push(agreement)
  }
  return out
}
