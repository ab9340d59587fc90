/**
 * The nightly reproducibility matrix: runtimes (docker, podman, a BuildKit daemon) × BuildKit versions ×
 * fixtures (nightly/fixtures), as a matrix file run by `repro verify --matrix`'s own runner and report
 * (src/verify/matrix): each job rebuilds its fixture twice without cache and must give the same bytes and the
 * golden digest (nightly/golden.yaml, as the job's expectedDigest); every runtime of one BuildKit version must
 * agree (`agree:`). The run directory REPORT_DIR/NAME/ holds the generated matrix.yaml with a copy of the
 * fixtures it names (rerun it with `repro verify --matrix REPORT_DIR/NAME/matrix.yaml --report-dir
 * REPORT_DIR/NAME`), the job logs, diffs and resume state; REPORT_DIR/NAME.md and NAME.json are the report.
 * Exits 0 when everything passed, 1 on any regression, 2 on bad usage.
 *
 *   npm run nightly -- --testbed                       the whole matrix on the engine test bed
 *   npm run nightly -- --testbed --buildkit v0.32.2 --runtime buildkit --fixture scratch-copy
 *   npm run nightly -- --buildkit-image v0.32.2=moby/buildkit:v0.32.2@sha256:... --buildkit-addr v0.32.2=docker-container://bk
 *   npm run nightly -- --testbed --update-golden        rewrite golden.yaml (prints every change)
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {cp, mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import yaml from 'js-yaml'

import {ociLayoutDigest} from '../src/engine/detect.js'
import {type Exec, realExec} from '../src/exec.js'
import {lifecycle} from '../src/lifecycle.js'
import {createLogger, silentLogger} from '../src/log.js'
import {loadMatrix} from '../src/verify/matrix/parse.js'
import {buildReport, reportJson, reportMarkdown} from '../src/verify/matrix/report.js'
import {runMatrix} from '../src/verify/matrix/run.js'
import type {MatrixJobResult, MatrixReport} from '../src/verify/matrix/types.js'
import {DEFAULT_TESTBED_STATE, type EngineConfig, parseBases, readTestbed, testbedEngines} from './lib/engines.js'
import {loadFixtures} from './lib/fixtures.js'
import {
  type Golden,
  type GoldenChange,
  goldenFor,
  observedDigests,
  parseGolden,
  serializeGolden,
  updateGolden,
} from './lib/golden.js'
import {
  ALL_BUILDKITS,
  ALL_RUNTIMES,
  MatrixError,
  nightlyMatrix,
  parseVersionMap,
  planMatrix,
  selectNames,
  UPSTREAM_BUILDKIT_IMAGES,
} from './lib/matrix.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))

const USAGE = `usage: npm run nightly -- [options]
  --runtime R[,R]          docker, podman, buildkit (default: all)
  --buildkit V[,V]         ${ALL_BUILDKITS.join(', ')} (default: all)
  --fixture F[,F]          fixtures in nightly/fixtures (default: all)
  --testbed [--testbed-state FILE]  take images, daemons, bases and .debs from the engine test bed
  --buildkit-image V=IMAGE BuildKit image for docker and podman (default: the upstream pins)
  --buildkit-addr V=ADDR   BuildKit daemon for the buildkit runtime (unix://, tcp://, docker-container://)
  --base NAME=DIR          base image as an OCI layout (busybox, debian)
  --debs DIR               where the pinned .deb files are
  --golden FILE            golden digests (default nightly/golden.yaml)
  --update-golden          rewrite the golden file with this run's digests; prints what changed
  --report-dir DIR         default nightly/reports
  --report-name NAME       default nightly-<UTC date-time>; the same name again resumes that run
  --jobs N                 jobs at once (default 1: builds are CPU bound on small machines)
  --sde N                  SOURCE_DATE_EPOCH (default 0)
  --verbose                stream the engines' output to stderr`

async function main(argv: string[]): Promise<number> {
  // Ctrl-C or a cancelled workflow: end the builds' process groups and remove temp files, as repro does
  lifecycle.install()
  const {values} = parseArgs({
    args: argv,
    options: {
      runtime: {type: 'string', multiple: true, default: []},
      buildkit: {type: 'string', multiple: true, default: []},
      fixture: {type: 'string', multiple: true, default: []},
      testbed: {type: 'boolean', default: false},
      'testbed-state': {type: 'string', default: process.env.REPRO_TESTBED_STATE ?? DEFAULT_TESTBED_STATE},
      'buildkit-image': {type: 'string', multiple: true, default: []},
      'buildkit-addr': {type: 'string', multiple: true, default: []},
      base: {type: 'string', multiple: true, default: []},
      debs: {type: 'string'},
      golden: {type: 'string', default: path.join(HERE, 'golden.yaml')},
      'update-golden': {type: 'boolean', default: false},
      'report-dir': {type: 'string', default: path.join(HERE, 'reports')},
      'report-name': {type: 'string'},
      sde: {type: 'string', default: '0'},
      jobs: {type: 'string', default: '1'},
      verbose: {type: 'boolean', default: false},
      help: {type: 'boolean', default: false},
    },
    allowPositionals: false,
  })
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const log = (line: string) => process.stderr.write(`${line}\n`)

  const fixturesDir = path.join(HERE, 'fixtures')
  const fixtures = await loadFixtures(fixturesDir)
  const selection = {
    runtimes: selectNames('runtime', values.runtime, ALL_RUNTIMES),
    buildkits: selectNames('buildkit', values.buildkit, ALL_BUILDKITS),
    fixtures: selectNames(
      'fixture',
      values.fixture,
      fixtures.map((f) => f.name),
    ),
  }
  const cells = planMatrix(selection, fixtures)

  // engines: the upstream pins, then the test bed, then explicit flags
  const engines: EngineConfig = {images: {...UPSTREAM_BUILDKIT_IMAGES}, addrs: {}, bases: {}, env: {}, startable: {}}
  if (values.testbed) {
    // refresh the state first: a daemon stopped since the last `up` would otherwise look running
    // (it exits 1 when a part is unhealthy: the cells that need that part then fail with the engine's own error)
    spawnSync('bash', [path.join(HERE, '../tests/e2e/testbed/testbed.sh'), 'status'], {stdio: 'ignore'})
    const tb = testbedEngines(readTestbed(values['testbed-state']))
    Object.assign(engines.images, tb.images)
    Object.assign(engines, {
      addrs: tb.addrs,
      bases: tb.bases,
      debsDir: tb.debsDir,
      env: tb.env,
      startable: tb.startable,
    })
  }
  Object.assign(engines.images, parseVersionMap('buildkit-image', values['buildkit-image'], ALL_BUILDKITS))
  Object.assign(engines.addrs, parseVersionMap('buildkit-addr', values['buildkit-addr'], ALL_BUILDKITS))
  Object.assign(engines.bases, parseBases(values.base))
  if (values.debs) engines.debsDir = path.resolve(values.debs)

  // standalone daemons the test bed knows how to start (it records their pids; `testbed down` stops them)
  for (const v of selection.buildkits) {
    const start = engines.startable[v]
    if (
      !start ||
      !selection.runtimes.includes('buildkit') ||
      values['buildkit-addr'].some((a) => a.startsWith(`${v}=`))
    )
      continue
    log(`starting the test bed's buildkitd ${v}: ${start}`)
    const [cmd, ...args] = start.split(' ')
    execFileSync(cmd, args, {stdio: ['ignore', 'ignore', 'inherit']})
  }

  let golden: Golden
  const goldenText = await readFile(values.golden, 'utf8').catch(() => undefined)
  if (goldenText === undefined && !values['update-golden'])
    log(`note: ${values.golden} does not exist: every cell will miss its golden digest`)
  golden = parseGolden(goldenText ?? '', values.golden)
  const jobs = Number(values.jobs)
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new MatrixError(`--jobs ${values.jobs}: expected 1 to 64`)
  if (!/^\d{1,12}$/.test(values.sde)) throw new MatrixError(`--sde ${values.sde}: expected an integer >= 0`)

  // bases: digests pinned once (golden digests are only comparable on the same bases)
  const metas = new Map(fixtures.map((f) => [f.name, f]))
  const baseDigests: Record<string, string> = {}
  const neededBases = new Set(selection.fixtures.map((f) => metas.get(f)?.base).filter((b): b is string => !!b))
  for (const b of [...neededBases].sort())
    if (engines.bases[b]) baseDigests[b] = await ociLayoutDigest(engines.bases[b], b)

  // the golden digest of each cell, or why there is none (reported as a failure unless rewriting the file)
  const platform = `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`
  const expected: Record<string, string | undefined> = {}
  const goldenProblems = new Map<string, string>()
  for (const cell of cells) {
    const meta = metas.get(cell.fixture)!
    if (meta.expect !== 'reproducible' || values['update-golden']) continue
    const bases = meta.base && baseDigests[meta.base] ? {[meta.base]: baseDigests[meta.base]} : {}
    const g = goldenFor(golden, {fixture: cell.fixture, buildkit: cell.buildkit, platform}, bases)
    expected[cell.id] = g.expected
    if (g.problem) goldenProblems.set(cell.id, `${cell.id}: ${g.problem}`)
  }

  // the matrix file, next to a copy of the fixtures it names, in the run directory
  const name =
    values['report-name'] ??
    `nightly-${new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}`
  if (!/^[\w.-]+$/.test(name)) throw new MatrixError(`--report-name ${name}: letters, digits, . _ - only`)
  const runDir = path.resolve(values['report-dir'], name)
  for (const f of selection.fixtures) {
    await cp(path.join(fixturesDir, f), path.join(runDir, 'fixtures', f), {recursive: true})
  }
  const {doc, unrunnable} = nightlyMatrix({
    cells,
    fixtures,
    engines,
    bases: engines.bases,
    debsDir: engines.debsDir,
    expected,
    sde: values.sde,
  })
  const matrixFile = path.join(runDir, 'matrix.yaml')
  await writeFile(
    matrixFile,
    `# generated by nightly/run.ts: rerun with repro verify --matrix ${path.join(values['report-dir'], name, 'matrix.yaml')} --report-dir ${path.join(values['report-dir'], name)}\n` +
      yaml.dump(doc, {noRefs: true, lineWidth: -1}),
  )
  for (const u of unrunnable) log(`${u.cell.id}: ERROR ${u.problem}`)

  log(
    `nightly: ${cells.length} cells (${selection.buildkits.join(', ')} × ${selection.fixtures.join(', ')} × ${selection.runtimes.join(', ')}), ${jobs} at once`,
  )
  let goldenChanges: GoldenChange[] = []
  const usesImages = selection.runtimes.some((r) => r !== 'buildkit')
  const buildkitImages: Record<string, string> = {}
  for (const v of selection.buildkits) if (usesImages && engines.images[v]) buildkitImages[v] = engines.images[v]!

  const decorate = (r: MatrixReport): MatrixReport => {
    // the cells that could not run, and the golden digests that were missing or recorded on other bases
    const errors: MatrixJobResult[] = unrunnable.map((u) => ({
      id: u.cell.id,
      index: -1,
      fixture: u.cell.fixture,
      context: `fixtures/${u.cell.fixture}`,
      dockerfile: 'Dockerfile',
      runtime: u.cell.runtime,
      builder: `${u.cell.runtime}-${u.cell.buildkit}`,
      buildkit: u.cell.buildkit,
      platforms: [],
      platform: '',
      status: 'error',
      expect: metas.get(u.cell.fixture)!.expect,
      builds: [],
      causes: [],
      failures: [`${u.cell.id}: ${u.problem}`],
      log: '',
      inputHash: '',
    }))
    const jobsOut = [...r.jobs, ...errors].map((j) => {
      const problem = goldenProblems.get(j.id)
      return problem && j.status !== 'error' ? {...j, status: 'fail' as const, failures: [...j.failures, problem]} : j
    })
    const order = new Map(cells.map((c, i) => [c.id, i]))
    jobsOut.sort((a, b) => order.get(a.id)! - order.get(b.id)!)
    const out: MatrixReport = {...buildReport('nightly', jobsOut, r.agreements), timings: r.timings}
    if (values['update-golden'])
      ({golden, changes: goldenChanges} = updateGolden(golden, observedDigests(out), baseDigests))
    out.nightly = {goldenChanges, buildkitImages, bases: baseDigests}
    return out
  }
  // no cell can run (no engines at all): the report says why, cell by cell
  const report =
    (doc.jobs as unknown[]).length === 0
      ? decorate(buildReport('nightly', [], []))
      : await runMatrix(
          {
            matrix: await loadMatrix(matrixFile),
            reportDir: runDir,
            concurrency: jobs,
            timings: true,
            fresh: false,
            env: {DOCKER_HOST: engines.env.DOCKER_HOST},
            version: 'nightly',
            progress: log,
            decorate,
            signal: lifecycle.signal,
          },
          {exec: withEnv(engines.env), logger: values.verbose ? createLogger('info') : silentLogger},
        )

  if (values['update-golden']) {
    if (goldenChanges.length === 0) log(`golden: ${values.golden} unchanged`)
    else {
      log(`golden: ${goldenChanges.length} change(s) written to ${values.golden}:`)
      for (const c of goldenChanges) log(`  ${c.key}: ${c.from ?? '(none)'} -> ${c.to}`)
      await writeFile(`${values.golden}.tmp`, serializeGolden(golden))
      await rename(`${values.golden}.tmp`, values.golden)
    }
  }

  await mkdir(values['report-dir'], {recursive: true})
  const base = path.join(values['report-dir'], name)
  await writeFile(`${base}.json`, reportJson(report))
  await writeFile(`${base}.md`, reportMarkdown(report))
  const s = report.summary
  log(
    `nightly: ${report.ok ? 'PASS' : 'FAIL'}: ${s.passed}/${s.jobs} cells passed, ${s.failed} failed, ${s.errors} errors, ` +
      `${s.disagreements} disagreements in ${Math.round(report.timings?.seconds ?? 0)} s; report ${base}.md`,
  )
  for (const f of report.failures) log(`  - ${f}`)
  return report.ok ? 0 : 1
}

/** Every child sees the engines' environment (DOCKER_HOST, PATH with the test bed's buildctl). */
function withEnv(env: Record<string, string>): Exec {
  return (argv, options = {}) => realExec(argv, {...options, env: {...env, ...options.env}})
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: Error) => {
    const usage = error instanceof MatrixError || (error as {code?: string}).code?.startsWith('ERR_PARSE_ARGS')
    process.stderr.write(`nightly: error: ${error.message}\n${usage ? `${USAGE}\n` : ''}`)
    process.exitCode = 2
  },
)
