/**
 * `repro verify --matrix` on the engine test bed: two standalone BuildKit daemons (the default version and
 * an older one, started with the test bed's own command when it is down). Builds are counted independently of
 * repro: a `buildctl` shim first on PATH appends one line per `buildctl ... build` to a file, then execs the
 * test bed's buildctl. Proves:
 * - 20 jobs (10 contexts × 2 daemons, `builders: [a, b]`) all verified, 2 rebuilds each (40 builds), each on
 *   the BuildKit version its daemon serves, with a state file per finished job;
 * - a run interrupted with SIGINT mid-run (exit by the signal), resumed with the same report directory:
 *   only the unfinished jobs are rebuilt (builds counted before and after);
 * - a failing job (RUN date) is reported with its diff causes (timestamp-in-content at `stamp`) and a diff report
 *   directory; a canary expected not to reproduce passes; exit 1;
 * - jobs that must agree but do not (one context on two BuildKit versions): the disagreement is diffed.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {MatrixReport} from '../../src/verify/matrix/types.js'
import {CLI, runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

type State = TestbedState & {
  buildkit: {versions: Record<string, {start?: string; running?: boolean; host?: string; buildctl?: string}>}
}

const OLD = 'v0.19.0'
const validator = new SchemaValidator()

describe('repro verify --matrix on the test bed', () => {
  let state: State
  let dir: string
  let counter: string
  let env: Record<string, string>
  let builders: string

  before(async () => {
    state = readTestbedState<State>()
    const def = state.buildkit.default
    const cur = state.buildkit.versions[def]
    assert.ok(
      cur?.running && cur.host,
      `test bed: the default buildkitd ${def} is not running; run \`npm run testbed -- up\``,
    )
    let old = state.buildkit.versions[OLD]
    if (!old?.running) {
      assert.ok(old?.start, `test bed: no start command for buildkitd ${OLD}`)
      // the test bed's own command (it records the pid in its state file); left running like its other daemons
      const [sh, script, ...rest] = old.start.split(' ')
      execFileSync(sh, [script, ...rest], {stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000})
      old = readTestbedState<State>().buildkit.versions[OLD]
      assert.ok(old?.running && old.host, `buildkitd ${OLD} did not start`)
    }
    dir = await mkdtemp(path.join(tmpdir(), 'repro-matrix-e2e-'))
    counter = path.join(dir, 'builds.log')
    const shim = path.join(dir, 'bin')
    await mkdir(shim)
    const real = cur.buildctl ?? 'buildctl'
    await writeFile(
      path.join(shim, 'buildctl'),
      `#!/bin/sh\nfor a in "$@"; do if [ "$a" = build ]; then echo "$$" >> '${counter}'; break; fi; done\nexec '${real}' "$@"\n`,
    )
    await chmod(path.join(shim, 'buildctl'), 0o755)
    env = {PATH: `${shim}:${process.env.PATH}`}
    builders = [
      'builders:',
      `  new: {runtime: buildkit, addr: "${cur.host}", image: "moby/buildkit:${def}"}`,
      `  old: {runtime: buildkit, addr: "${old!.host}", image: "moby/buildkit:${OLD}"}`,
    ].join('\n')
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  const builds = async () => ((await readFile(counter, 'utf8').catch(() => '')).match(/\n/g) ?? []).length

  async function matrixRun(
    args: string[],
  ): Promise<{code: number | null; report: MatrixReport; stderr: string; seconds: number}> {
    const t0 = Date.now()
    const r = await runCli(['verify', '--json', ...args], {cwd: dir, env, timeoutMs: 10 * 60_000})
    assert.ok(r.stdout.trim().startsWith('{'), `no JSON (exit ${r.code}):\n${r.stderr.slice(-3000)}`)
    // the --json result is the report, valid against the published schema
    validator.check('verify', JSON.parse(r.stdout), `repro verify ${args.join(' ')} --json`)
    return {
      code: r.code,
      report: JSON.parse(r.stdout) as MatrixReport,
      stderr: r.stderr,
      seconds: (Date.now() - t0) / 1000,
    }
  }

  it('20 jobs over 2 BuildKit daemons: all verified, 2 rebuilds each, on the version each daemon serves', async () => {
    const jobs: string[] = []
    for (let i = 0; i < 10; i++) {
      const ctx = path.join(dir, 'farm', `app${i}`)
      await mkdir(ctx, {recursive: true})
      await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nARG N\nCOPY file.txt /file.txt\n')
      // sizes differ on purpose: buildctl uploads every main context under one name, and BuildKit skips a file
      // whose name, size and mtime match the previous upload, so same-size files written in the same clock tick
      // would come out of another context (moby/buildkit#6470; reproduced here, see README)
      await writeFile(path.join(ctx, 'file.txt'), `app ${i}${'.'.repeat(i)}\n`)
      jobs.push(`  - {id: app${i}, context: app${i}, builders: [new, old], buildArgs: {N: "${i}"}}`)
    }
    await writeFile(path.join(dir, 'farm', 'matrix.yaml'), `${builders}\njobs:\n${jobs.join('\n')}\n`)
    const before = await builds()
    const {code, report, stderr, seconds} = await matrixRun([
      '--matrix',
      'farm/matrix.yaml',
      '--jobs',
      '4',
      '--report-dir',
      'farm-report',
    ])
    assert.equal(code, 0, `${stderr.slice(-3000)}\n${JSON.stringify(report.failures)}`)
    assert.equal(report.ok, true)
    assert.deepEqual(report.summary, {jobs: 20, passed: 20, failed: 0, errors: 0, disagreements: 0})
    assert.equal((await builds()) - before, 40, 'two rebuilds per job, counted by the buildctl shim')
    for (const j of report.jobs) {
      assert.equal(j.status, 'pass', j.id)
      assert.equal(j.buildkit, j.builder === 'old' ? OLD : state.buildkit.default, j.id)
      assert.match(j.digest ?? '', /^sha256:[a-f0-9]{64}$/)
      assert.equal(j.builds.length, 2)
      assert.ok(existsSync(path.join(dir, 'farm-report', j.log)), j.log)
    }
    assert.deepEqual(
      report.jobs.map((j) => j.id),
      Array.from({length: 10}, (_, i) => [`app${i}/new`, `app${i}/old`]).flat(),
    )
    // different files give different images; one context gives one digest per BuildKit version
    assert.equal(new Set(report.jobs.filter((j) => j.builder === 'new').map((j) => j.digest)).size, 10)
    assert.equal((await readdir(path.join(dir, 'farm-report', 'state'))).filter((f) => f.endsWith('.json')).length, 20)
    // progress on stderr: counts and the current jobs
    assert.match(stderr, /verify --matrix: \d+\/20 done, \d+ running, 0 failed, 0 errors \| .*running: app/)
    // deterministic report: no times without --timings
    assert.equal(report.timings, undefined)
    const md = await readFile(path.join(dir, 'farm-report', 'report.md'), 'utf8')
    assert.match(md, /^# repro verify --matrix matrix\.yaml: PASS/)
    process.stderr.write(`e2e verify --matrix: 20 jobs, 40 builds, --jobs 4: ${seconds.toFixed(1)} s\n`)

    // the same command again: every job is taken from the state (no build) and the report is byte-identical
    const json = await readFile(path.join(dir, 'farm-report', 'report.json'), 'utf8')
    const builtBefore = await builds()
    const again = await matrixRun(['--matrix', 'farm/matrix.yaml', '--jobs', '4', '--report-dir', 'farm-report'])
    assert.equal(again.code, 0)
    assert.equal(await builds(), builtBefore, 'a finished matrix is not rebuilt')
    assert.match(again.stderr, /20 job\(s\) finished in an earlier run .*, 0 to run/)
    assert.equal(await readFile(path.join(dir, 'farm-report', 'report.json'), 'utf8'), json)
  })

  it('SIGINT mid-run, then the same command again: finished jobs are not rebuilt', async () => {
    const ctxRoot = path.join(dir, 'slow')
    const jobs: string[] = []
    for (let i = 0; i < 6; i++) {
      const ctx = path.join(ctxRoot, `s${i}`)
      await mkdir(ctx, {recursive: true})
      await writeFile(path.join(ctx, 'Dockerfile'), `FROM base\nARG N\nRUN sleep 1 && echo "$N" > /n\n`)
      jobs.push(
        `  - {id: s${i}, context: s${i}, builder: new, buildArgs: {N: "${i}"}, buildContexts: {base: "oci-layout://${state.images.busybox.ociLayout}"}}`,
      )
    }
    await writeFile(path.join(ctxRoot, 'matrix.yaml'), `${builders}\njobs:\n${jobs.join('\n')}\n`)
    const args = ['verify', '--matrix', 'slow/matrix.yaml', '--jobs', '2', '--report-dir', 'slow-report', '--timings']
    const stateDir = path.join(dir, 'slow-report', 'state')
    const finished = async () =>
      (await readdir(stateDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).length

    const before = await builds()
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: {...process.env, ...env, NO_COLOR: '1'},
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
      child.on('close', (code, signal) => resolve({code, signal})),
    )
    const deadline = Date.now() + 5 * 60_000
    while ((await finished()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    assert.ok((await finished()) >= 2, `no job finished in time:\n${stderr.slice(-2000)}`)
    child.kill('SIGINT')
    const exit = await exited
    assert.ok(exit.signal === 'SIGINT' || exit.code === 130, `exit ${JSON.stringify(exit)}\n${stderr.slice(-2000)}`)
    const done = await finished()
    assert.ok(done < 6, `the run finished before the signal (${done} jobs): nothing was interrupted`)
    assert.deepEqual(
      (await readdir(stateDir)).filter((f) => !f.endsWith('.json')),
      [],
      'no partial state file is left',
    )
    const interrupted = (await builds()) - before

    const mid = await builds()
    const {code, report, stderr: err2} = await matrixRun(args.slice(1))
    assert.equal(code, 0, err2.slice(-3000))
    assert.equal(report.summary.passed, 6)
    const resumed = Object.values(report.timings!.jobs).filter((j) => j.resumed).length
    assert.equal(resumed, done, 'every job finished before the signal is taken from the state')
    assert.equal((await builds()) - mid, (6 - done) * 2, 'only the unfinished jobs were rebuilt, twice each')
    assert.match(err2, new RegExp(`${done} job\\(s\\) finished in an earlier run`))
    process.stderr.write(
      `e2e verify --matrix resume: ${done}/6 jobs finished before SIGINT (${interrupted} builds started), ${(await builds()) - mid} builds after\n`,
    )
  })

  it('a failing job is reported with its diff causes and a diff report; a canary expected not to reproduce passes', async () => {
    const ctx = path.join(dir, 'bad', 'date')
    await mkdir(ctx, {recursive: true})
    // GNU date (Debian base): busybox date has no %N and two builds within one second would agree
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\nRUN date +%s%N > /stamp\n')
    const base = `buildContexts: {base: "oci-layout://${state.images.debian.ociLayout}"}`
    // an image to compare with, as a tarball next to the matrix file (`against:` is relative to it)
    for (const [name, text] of [
      ['mine', 'mine\n'],
      ['other', 'the other one\n'],
    ]) {
      await mkdir(path.join(dir, 'bad', name), {recursive: true})
      await writeFile(path.join(dir, 'bad', name, 'Dockerfile'), 'FROM scratch\nCOPY f /f\n')
      await writeFile(path.join(dir, 'bad', name, 'f'), text)
    }
    const ref = await runCli(
      [
        'build',
        '--runtime',
        'buildkit',
        '--buildkit-addr',
        state.buildkit.versions[state.buildkit.default].host!,
        '--sde',
        '0',
        '-o',
        'bad/ref.tar',
        'bad/other',
      ],
      {cwd: dir, env},
    )
    assert.equal(ref.code, 0, ref.stderr.slice(-2000))
    await writeFile(
      path.join(dir, 'bad', 'matrix.yaml'),
      `${builders}\njobs:\n  - {id: date, context: date, builder: new, ${base}}\n` +
        `  - {id: canary, context: date, builder: new, ${base}, expect: not-reproducible, expectCauses: [timestamp-in-content]}\n` +
        '  - {id: vs-ref, context: mine, builder: new, against: ref.tar}\n',
    )
    const {code, report, stderr} = await matrixRun(['--matrix', 'bad/matrix.yaml', '--report-dir', 'bad-report'])
    assert.equal(code, 1, stderr.slice(-3000))
    assert.equal(report.ok, false)
    const [date, canary] = report.jobs
    assert.equal(date.status, 'fail')
    assert.equal(date.reproduced, false)
    const fc = date.causes.find((c) => c.cause === 'timestamp-in-content')
    assert.ok(fc, JSON.stringify(date.causes))
    assert.deepEqual(fc.paths, ['stamp'])
    assert.ok(fc.title.length > 0)
    assert.equal(date.diffReportDir, 'jobs/date/diff')
    const diff = JSON.parse(
      await readFile(path.join(dir, 'bad-report', date.diffReportDir, 'report.json'), 'utf8'),
    ) as {
      summary: {causes: Array<{cause: string}>}
    }
    assert.ok(diff.summary.causes.some((c) => c.cause === 'timestamp-in-content'))
    assert.ok(existsSync(path.join(dir, 'bad-report', date.diffReportDir, 'a', 'stamp')), 'the differing file, side a')
    assert.match(report.failures[0], /^date: not reproduced: .*causes: .*timestamp-in-content/)
    assert.equal(canary.status, 'pass')
    assert.equal(canary.expect, 'not-reproducible')
    const vsRef = report.jobs[2]
    assert.equal(vsRef.status, 'fail')
    assert.deepEqual(vsRef.expected, {kind: 'image', input: 'ref.tar', digest: vsRef.expected?.digest})
    assert.match(vsRef.expected?.digest ?? '', /^sha256:/)
    assert.deepEqual(
      vsRef.causes.map((c) => [c.cause, c.paths]),
      [['file-content', ['f']]],
    )
    assert.equal(vsRef.diffReportDir, 'jobs/vs-ref/diff')
    assert.match(vsRef.failures[0], /^vs-ref: not reproduced: expected-image: does not match ref\.tar: /)
    assert.doesNotMatch(JSON.stringify(report), new RegExp(dir.replaceAll('/', '\\/')), 'no host paths in the report')
    const md = await readFile(path.join(dir, 'bad-report', 'report.md'), 'utf8')
    assert.match(md, /\| date \|.*❌.*`timestamp-in-content` \(1\) \[diff\]\(jobs\/date\/diff\/report\.json\)/)
  })

  it('jobs that must agree (`agree:`) but do not: the disagreement is diffed and named', async () => {
    // one context on two BuildKit versions: each reproduces, but v0.19.0 and the default write different images
    await mkdir(path.join(dir, 'agree', 'ctx'), {recursive: true})
    await writeFile(path.join(dir, 'agree', 'ctx', 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n')
    await writeFile(
      path.join(dir, 'agree', 'matrix.yaml'),
      `${builders}\njobs:\n  - {id: same, context: ctx, builders: [new, old], agree: one-digest}\n`,
    )
    const {code, report, stderr} = await matrixRun(['--matrix', 'agree/matrix.yaml', '--report-dir', 'agree-report'])
    assert.equal(code, 1, stderr.slice(-3000))
    assert.deepEqual(report.summary, {jobs: 2, passed: 2, failed: 0, errors: 0, disagreements: 1})
    const [a] = report.agreements
    assert.equal(a.key, 'one-digest')
    assert.equal(a.agree, false)
    assert.deepEqual(Object.keys(a.digests), ['same/new', 'same/old'])
    assert.ok(a.causes.length > 0, 'the diff names why the two images differ')
    assert.equal(a.diffReportDir, 'agreements/one-digest/diff')
    assert.ok(existsSync(path.join(dir, 'agree-report', a.diffReportDir, 'report.json')))
    assert.match(
      report.failures[0],
      /^one-digest linux\/amd64: jobs disagree: same\/new [a-f0-9]{12}, same\/old [a-f0-9]{12}; causes: /,
    )
  })
})
