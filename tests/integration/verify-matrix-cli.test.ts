/**
 * `repro verify --matrix` through the built CLI, without engines: a bad matrix file is refused whole (exit 2,
 * E_MATRIX naming file, job and field, nothing built, no report directory made); a job whose builder cannot
 * be reached is an error in the report (exit 1), with its log, and is not recorded as finished (a rerun tries
 * it again); both outputs are valid against the published schemas. Real builds: tests/e2e/verify-matrix.e2e.test.ts.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {MatrixReport} from '../../src/verify/matrix/types.js'
import {runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'

const validator = new SchemaValidator()

describe('repro verify --matrix (CLI, no engines)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-matrix-cli-'))
    await mkdir(path.join(dir, 'app'))
    await writeFile(path.join(dir, 'app', 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n')
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('a matrix with a context outside its directory: exit 2, E_MATRIX naming file, job and field, nothing made', async () => {
    await writeFile(
      path.join(dir, 'bad.yaml'),
      'jobs:\n  - {id: ok, context: app, runtime: buildkit}\n  - {id: evil, context: ../../etc, runtime: buildkit}\n',
    )
    const r = await runCli(['verify', '--matrix', 'bad.yaml', '--report-dir', 'out-bad', '--json'], {cwd: dir})
    assert.equal(r.code, 2, r.stderr)
    const doc = JSON.parse(r.stdout) as {error: {code: string; message: string}}
    validator.check('error', doc)
    assert.equal(doc.error.code, 'E_MATRIX')
    assert.equal(
      doc.error.message,
      "bad.yaml: jobs[1] (evil).context: ../../etc: leads outside the matrix file's directory",
    )
    assert.ok(!existsSync(path.join(dir, 'out-bad')), 'no report directory for a refused matrix')
    // without --json: the same one line on stderr
    const plain = await runCli(['verify', '--matrix', 'bad.yaml', '--report-dir', 'out-bad'], {cwd: dir})
    assert.equal(plain.code, 2)
    assert.match(plain.stderr, /bad\.yaml: jobs\[1\] \(evil\)\.context: \.\.\/\.\.\/etc: leads outside/)
    assert.equal(plain.stdout, '')
  })

  it('unknown keys, duplicate ids and a missing file are refused the same way', async () => {
    await writeFile(
      path.join(dir, 'typo.yaml'),
      'jobs:\n  - {id: a, context: app, runtime: buildkit, platfrom: linux/amd64}\n',
    )
    const typo = await runCli(['verify', '--matrix', 'typo.yaml', '--json'], {cwd: dir})
    assert.equal(typo.code, 2)
    assert.match(
      JSON.parse(typo.stdout).error.message,
      /typo\.yaml: jobs\[0\] \(a\)\.platfrom: unknown key; did you mean platforms\?/,
    )
    await writeFile(
      path.join(dir, 'dup.yaml'),
      'jobs:\n  - {id: a, context: app, runtime: buildkit}\n  - {id: a, context: app, runtime: docker}\n',
    )
    const dup = await runCli(['verify', '--matrix', 'dup.yaml', '--json'], {cwd: dir})
    assert.equal(dup.code, 2)
    assert.match(
      JSON.parse(dup.stdout).error.message,
      /dup\.yaml: jobs\[1\] \(a\)\.id: a: duplicate job id \(also jobs\[0\]\)/,
    )
    const none = await runCli(['verify', '--matrix', 'none.yaml', '--json'], {cwd: dir})
    assert.equal(none.code, 2)
    assert.equal(JSON.parse(none.stdout).error.message, 'none.yaml: no such file')
    // the matrix flags need --matrix, and their defaults do not make every other verify ask for it
    const alone = await runCli(['verify', '--jobs', '2', 'app'], {cwd: dir})
    assert.equal(alone.code, 2)
    assert.match(alone.stderr, /All of the following must be provided when using --jobs: --matrix/)
    const plain = await runCli(
      [
        'verify',
        '--sde',
        '0',
        '--runtime',
        'buildkit',
        '--buildkit-addr',
        'unix:///nonexistent/x.sock',
        'app',
        '--json',
      ],
      {
        cwd: dir,
        env: {PATH: '/nonexistent'},
      },
    )
    assert.equal(plain.code, 2)
    assert.doesNotMatch(plain.stdout, /--matrix/)
    assert.equal(JSON.parse(plain.stdout).error.code, 'E_ENGINE_NOT_FOUND')
    const jobs0 = await runCli(['verify', '--matrix', 'dup.yaml', '--jobs', '0'], {cwd: dir})
    assert.equal(jobs0.code, 2)
    assert.match(jobs0.stderr, /jobs/)
  })

  it('a builder that cannot be reached: the job is an error in the report (exit 1), with its log; a rerun tries it again', async () => {
    await writeFile(
      path.join(dir, 'down.yaml'),
      'builders:\n  gone: {runtime: buildkit, addr: "unix:///nonexistent/repro-matrix-test.sock"}\n' +
        'jobs:\n  - {id: app/one, context: app, builder: gone}\n  - {id: two, context: app, builder: gone, buildArgs: {A: "1"}}\n',
    )
    const args = ['verify', '--matrix', 'down.yaml', '--report-dir', 'out-down', '--jobs', '2', '--json']
    const r = await runCli(args, {cwd: dir})
    assert.equal(r.code, 1, r.stderr)
    const report = JSON.parse(r.stdout) as MatrixReport
    validator.check('verify', report)
    assert.equal(report.ok, false)
    assert.deepEqual(report.summary, {jobs: 2, passed: 0, failed: 0, errors: 2, disagreements: 0})
    assert.deepEqual(
      report.jobs.map((j) => [j.id, j.status, j.log, j.builder, j.runtime]),
      [
        ['app/one', 'error', 'jobs/app/one/log.txt', 'gone', 'buildkit'],
        ['two', 'error', 'jobs/two/log.txt', 'gone', 'buildkit'],
      ],
    )
    assert.match(report.failures[0], /^app\/one: error: /)
    assert.ok((await readFile(path.join(dir, 'out-down', 'jobs/app/one/log.txt'), 'utf8')).includes('app/one'))
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'out-down', 'report.json'), 'utf8')), report)
    assert.match(
      await readFile(path.join(dir, 'out-down', 'report.md'), 'utf8'),
      /\| app\/one \| app \| gone \|.*⚠️ error/,
    )
    assert.deepEqual(await readdir(path.join(dir, 'out-down', 'state')), [], 'errors are not finished jobs')
    assert.match(r.stderr, /verify --matrix: 2\/2 done, 0 running, 0 failed, 2 errors/)
    const again = await runCli(args, {cwd: dir})
    assert.equal(again.code, 1)
    assert.doesNotMatch(again.stderr, /finished in an earlier run/)
  })

  it('a report directory inside a build context is warned about, unless .dockerignore leaves it out', async () => {
    const root = path.join(dir, 'ctxroot')
    await mkdir(root)
    await writeFile(path.join(root, 'Dockerfile'), 'FROM scratch\n')
    await writeFile(
      path.join(root, 'm.yaml'),
      'builders:\n  gone: {runtime: buildkit, addr: "unix:///nonexistent/x.sock"}\njobs:\n  - {id: here, context: ., builder: gone}\n',
    )
    const args = ['verify', '--matrix', 'ctxroot/m.yaml', '--report-dir', 'ctxroot/rep', '--fresh']
    const warned = await runCli(args, {cwd: dir})
    assert.equal(warned.code, 1)
    assert.match(warned.stderr, /warning: --report-dir ctxroot\/rep is inside the build context of 1 job\(s\) \(here\)/)
    await writeFile(path.join(root, '.dockerignore'), 'rep\n')
    const quiet = await runCli(args, {cwd: dir})
    assert.equal(quiet.code, 1)
    assert.doesNotMatch(quiet.stderr, /inside the build context/)
  })
})
