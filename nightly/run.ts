/**
 * The nightly reproducibility matrix: runtimes (docker, podman, a BuildKit daemon) × BuildKit versions ×
 * fixtures (nightly/fixtures). Each cell builds twice and must give the same bytes, the golden digest
 * (nightly/golden.yaml) and the digest of every other runtime of its BuildKit version. Writes
 * REPORT_DIR/NAME.md and NAME.json; exits 0 when everything passed, 1 on any regression, 2 on bad usage.
 *
 *   npm run nightly -- --testbed                       the whole matrix on the engine test bed
 *   npm run nightly -- --testbed --buildkit v0.32.2 --runtime buildkit --fixture scratch-copy
 *   npm run nightly -- --buildkit-image v0.32.2=moby/buildkit:v0.32.2@sha256:... --buildkit-addr v0.32.2=docker-container://bk
 *   npm run nightly -- --testbed --update-golden        rewrite golden.yaml (prints every change)
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {createLogger, silentLogger} from '../src/log.js'
import {DEFAULT_TESTBED_STATE, type EngineConfig, parseBases, readTestbed, testbedEngines} from './lib/engines.js'
import {loadFixtures} from './lib/fixtures.js'
import {type Golden, parseGolden, serializeGolden} from './lib/golden.js'
import {
  ALL_BUILDKITS,
  ALL_RUNTIMES,
  MatrixError,
  parseVersionMap,
  planMatrix,
  selectNames,
  UPSTREAM_BUILDKIT_IMAGES,
} from './lib/matrix.js'
import {reportJson, reportMarkdown} from './lib/report.js'
import {runMatrix} from './lib/runner.js'

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
  --report-name NAME       default nightly-<UTC date-time>
  --sde N                  SOURCE_DATE_EPOCH (default 0)
  --verbose                stream the engines' output to stderr`

async function main(argv: string[]): Promise<number> {
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

  log(
    `nightly: ${cells.length} cells (${selection.buildkits.join(', ')} × ${selection.fixtures.join(', ')} × ${selection.runtimes.join(', ')})`,
  )
  const outcome = await runMatrix({
    selection,
    cells,
    fixtures,
    fixturesDir,
    engines,
    bases: engines.bases,
    debsDir: engines.debsDir,
    env: engines.env,
    golden,
    updateGolden: values['update-golden'],
    sde: values.sde,
    log,
    buildLogger: values.verbose ? createLogger('info') : silentLogger,
  })

  if (values['update-golden']) {
    golden = outcome.golden
    if (outcome.goldenChanges.length === 0) log(`golden: ${values.golden} unchanged`)
    else {
      log(`golden: ${outcome.goldenChanges.length} change(s) written to ${values.golden}:`)
      for (const c of outcome.goldenChanges) log(`  ${c.key}: ${c.from ?? '(none)'} -> ${c.to}`)
      await writeFile(`${values.golden}.tmp`, serializeGolden(golden))
      await rename(`${values.golden}.tmp`, values.golden)
    }
  }

  const name =
    values['report-name'] ?? `nightly-${outcome.report.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`
  await mkdir(values['report-dir'], {recursive: true})
  const base = path.join(values['report-dir'], name)
  await writeFile(`${base}.json`, reportJson(outcome.report))
  await writeFile(`${base}.md`, reportMarkdown(outcome.report))
  const s = outcome.report.summary
  log(
    `nightly: ${outcome.report.ok ? 'PASS' : 'FAIL'}: ${s.passed}/${s.cells} cells passed, ${s.failed} failed, ${s.errors} errors, ` +
      `${s.disagreements} disagreements in ${Math.round(outcome.report.seconds)} s; report ${base}.md`,
  )
  for (const f of outcome.report.failures) log(`  - ${f}`)
  return outcome.report.ok ? 0 : 1
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
