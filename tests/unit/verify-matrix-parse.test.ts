/**
 * The matrix file of `repro verify --matrix`: what a valid file gives (defaults, builders, one job per
 * builder), and every way it can be wrong, each a one-line MatrixFileError (E_MATRIX, exit 2) naming the
 * file, the job and the field. Hostile files are generated here as text (the writer is string building, not
 * the YAML library under test) and must be refused within bounded time and memory: a billion-laughs alias
 * bomb, deep nesting, a huge file, thousands of random mutations of a valid file.
 */
import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {MatrixFileError} from '../../src/errors.js'
import {checkMatrixPaths, loadMatrix, MAX_FILE_BYTES, parseMatrix} from '../../src/verify/matrix/parse.js'

const FILE = '/m/matrix.yaml'

const VALID = `builders:
  new: {runtime: buildkit, addr: "unix:///run/bk.sock", image: "moby/buildkit:v0.32.2"}
  old: {runtime: buildkit, addr: "unix:///run/bk-old.sock", image: "moby/buildkit:v0.19.0", allowUnpinned: true}
defaults:
  sde: 1700000000
  platforms: [linux/amd64]
jobs:
  - id: app
    context: apps/app
    dockerfile: build/Dockerfile
    buildArgs: {VERSION: "1.0", N: 3}
    lock: apps/app/repro.lock.yaml
    expectedDigest: sha256:${'a'.repeat(64)}
    builders: [new, old]
  - context: .
    runtime: docker
    against: 127.0.0.1:5000/app:1
    times: 1
  - {id: canary, context: apps/date, builder: new, expect: not-reproducible, expectCauses: [file-content], agree: g}
`

function refused(text: string, pattern: RegExp, file = FILE): MatrixFileError {
  let caught: unknown
  try {
    parseMatrix(text, file)
  } catch (error) {
    caught = error
  }
  assert.ok(caught instanceof MatrixFileError, `expected a MatrixFileError, got ${String(caught)}`)
  assert.equal(caught.code, 'E_MATRIX')
  assert.equal(caught.exitCode, 2)
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`)
  assert.ok(caught.message.startsWith(`${file}: `), caught.message)
  assert.match(caught.message, pattern)
  return caught
}

/** A job list around one job's fields. */
const oneJob = (fields: string) =>
  `builders:\n  b: {runtime: buildkit}\njobs:\n  - {id: j, context: c, builder: b, ${fields}}\n`

describe('verify --matrix: the matrix file', () => {
  it('a valid file: defaults apply, builders: expands one job per builder, paths normalized', () => {
    const m = parseMatrix(VALID, FILE)
    assert.equal(m.name, 'matrix.yaml')
    assert.equal(m.baseDir, '/m')
    assert.deepEqual(
      m.jobs.map((j) => [j.id, j.index, j.builder.name, j.builder.runtime]),
      [
        ['app/new', 0, 'new', 'buildkit'],
        ['app/old', 0, 'old', 'buildkit'],
        ['job-2', 1, 'docker', 'docker'],
        ['canary', 2, 'new', 'buildkit'],
      ],
    )
    const [a, b, , c] = m.jobs
    assert.equal(a.context, 'apps/app')
    assert.equal(a.dockerfile, 'build/Dockerfile')
    assert.deepEqual(a.buildArgs, {VERSION: '1.0', N: '3'})
    assert.equal(a.sde, '1700000000')
    assert.deepEqual(a.platforms, ['linux/amd64'])
    assert.equal(a.expectedDigest, `sha256:${'a'.repeat(64)}`)
    assert.equal(a.times, 2)
    assert.equal(a.fixture, 'app')
    assert.equal(b.builder.allowUnpinned, true)
    assert.equal(b.builder.addr, 'unix:///run/bk-old.sock')
    assert.equal(m.jobs[2].context, '.')
    assert.equal(m.jobs[2].against, '127.0.0.1:5000/app:1')
    assert.equal(c.expect, 'not-reproducible')
    assert.deepEqual(c.expectCauses, ['file-content'])
    assert.equal(c.agree, 'g')
  })

  it('a bare list of jobs is a matrix too', () => {
    const m = parseMatrix('- {context: a, runtime: podman}\n- {context: b/c/, runtime: buildkit}\n', FILE)
    assert.deepEqual(
      m.jobs.map((j) => [j.id, j.context, j.fixture]),
      [
        ['job-1', 'a', 'a'],
        ['job-2', 'b/c', 'c'],
      ],
    )
  })

  const cases: Array<[string, string, RegExp]> = [
    ['unknown top key', 'jbos: []\n', /: jbos: unknown key; did you mean jobs\?$/],
    ['unknown job key', oneJob('buildArg: {A: b}'), /jobs\[0\] \(j\)\.buildArg: unknown key; did you mean buildArgs\?/],
    [
      'unknown builder key',
      'builders:\n  b: {runtime: buildkit, adr: x}\njobs: []\n',
      /builders\.b\.adr: unknown key; did you mean addr\?/,
    ],
    [
      'builder runtime',
      'builders:\n  b: {runtime: dockr}\njobs: []\n',
      /builders\.b\.runtime: dockr: expected one of buildkit, docker, podman/,
    ],
    [
      'addr scheme',
      'builders:\n  b: {runtime: buildkit, addr: /run/x.sock}\njobs: []\n',
      /builders\.b\.addr: \/run\/x\.sock: expected unix:/,
    ],
    ['no jobs', 'jobs: []\n', /jobs: the list is empty/],
    ['jobs not a list', 'jobs: {a: 1}\n', /jobs: expected a list of jobs/],
    ['empty file', '', /empty; expected a list of jobs/],
    ['a scalar', 'hello\n', /expected a list of jobs or a mapping/],
    ['job not a mapping', 'jobs:\n  - just a string\n', /jobs\[0\]: expected a mapping/],
    ['missing context', 'jobs:\n  - {id: x, runtime: docker}\n', /jobs\[0\] \(x\)\.context: missing/],
    [
      'absolute context',
      oneJob('context: /etc').replace('context: c, ', ''),
      /jobs\[0\] \(j\)\.context: \/etc: absolute path/,
    ],
    [
      '.. context',
      oneJob('context: ../../home').replace('context: c, ', ''),
      /\.context: \.\.\/\.\.\/home: leads outside the matrix file's directory/,
    ],
    [
      'a/../.. context',
      oneJob('context: a/../../x').replace('context: c, ', ''),
      /\.context: a\/\.\.\/\.\.\/x: leads outside/,
    ],
    [
      'dockerfile escaping the context',
      oneJob('dockerfile: ../../etc/passwd'),
      /\.dockerfile: .*leads outside the matrix file's directory/,
    ],
    ['lock outside', oneJob('lock: ../repro.lock.yaml'), /\.lock: \.\.\/repro\.lock\.yaml: leads outside/],
    ['hashfile absolute', oneJob('hashfiles: [/etc/shadow]'), /\.hashfiles\[0\]: \/etc\/shadow: absolute path/],
    [
      'dir build context outside',
      oneJob('buildContexts: {base: ../other}'),
      /\.buildContexts\.base: \.\.\/other: leads outside/,
    ],
    ['NUL in a path', oneJob('dockerfile: "a\\0b"'), /\.dockerfile: .*not a usable path/],
    [
      'duplicate id',
      'jobs:\n  - {id: a, context: x, runtime: docker}\n  - {id: a, context: y, runtime: docker}\n',
      /jobs\[1\] \(a\)\.id: a: duplicate job id \(also jobs\[0\]\)/,
    ],
    [
      'duplicate id through builders',
      'builders:\n  b: {runtime: docker}\njobs:\n  - {id: a, context: x, builders: [b]}\n  - {id: a/b, context: y, runtime: docker}\n',
      /jobs\[1\] \(a\/b\)\.id: a\/b: duplicate job id \(also jobs\[0\]\)/,
    ],
    [
      'an id nested under another',
      'jobs:\n  - {id: a, context: x, runtime: docker}\n  - {id: a/b, context: y, runtime: docker}\n',
      /jobs\[1\] \(a\/b\)\.id: a\/b: nests under the id of jobs\[0\] \(a\); rename one/,
    ],
    ['bad id', 'jobs:\n  - {id: "../x", context: x, runtime: docker}\n', /\.id: \.\.\/x: letters, digits/],
    [
      'unknown builder',
      oneJob('').replace('builder: b', 'builder: bb'),
      /\.builder: bb: no such builder; did you mean b\?/,
    ],
    ['no builder', 'jobs:\n  - {id: x, context: x}\n', /\(x\)\.builder: missing; name a builder/],
    [
      'builder and runtime',
      oneJob('runtime: docker'),
      /\.runtime: give one of builder, builders, runtime \(also builder\)/,
    ],
    [
      'bad digest',
      oneJob('expectedDigest: sha256:abc'),
      /\.expectedDigest: sha256:abc: expected sha256:<64 hex digits>/,
    ],
    [
      'digest and against',
      oneJob(`expectedDigest: "${'b'.repeat(64)}", against: r/x:1`),
      /\.against: give expectedDigest or against, not both/,
    ],
    ['times 1 alone', oneJob('times: 1'), /\.times: 1 rebuild with nothing to compare it with proves nothing/],
    ['times too many', oneJob('times: 1000'), /\.times: 1000: expected an integer from 1 to 20/],
    ['bad platform', oneJob('platforms: [amd64]'), /\.platforms: amd64: expected OS\/ARCH/],
    [
      'two platforms in a docker archive',
      oneJob('platforms: [linux/amd64, linux/arm64]'),
      /several platforms need format: oci/,
    ],
    ['bad sde', oneJob('sde: yesterday'), /\.sde: yesterday: expected SOURCE_DATE_EPOCH seconds/],
    ['bad expect', oneJob('expect: maybe'), /\.expect: maybe: expected reproducible or not-reproducible/],
    ['build arg name', oneJob('buildArgs: {"A B": x}'), /\.buildArgs\.A B: not a valid name/],
    ['build arg value', oneJob('buildArgs: {A: [1]}'), /\.buildArgs\.A: expected a string/],
    [
      'id in defaults',
      'defaults: {id: x}\njobs: [{context: a, runtime: docker}]\n',
      /defaults\.id: every job has its own id/,
    ],
    ['version', 'version: 2\njobs: [{context: a, runtime: docker}]\n', /version: 2: expected 1/],
    [
      'duplicate key',
      'jobs:\n  - {id: a, id: b, context: a, runtime: docker}\n',
      /not valid YAML at line 2, column \d+: duplicated mapping key/,
    ],
    ['bad YAML', 'jobs:\n  - {id: a\n', /not valid YAML at line \d+, column \d+/],
  ]
  for (const [name, text, pattern] of cases) {
    it(`refused: ${name}`, () => {
      refused(text, pattern)
    })
  }

  it('a control character in a key or value cannot split the error line', () => {
    const e = refused('jobs:\n  - {"id\\nx\\u001b[2J": 1, context: a, runtime: docker}\n', /unknown key/)
    assert.match(e.message, /id\\nx\\u001b\[2J/)
  })

  it('hostile: a billion-laughs alias bomb is refused at once, in bounded memory', () => {
    const lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for (let i = 1; i <= 12; i++)
      lines.push(`a${i}: &a${i} [${Array.from({length: 10}, () => `*a${i - 1}`).join(', ')}]`)
    lines.push('jobs: [{context: a, runtime: docker, buildArgs: {X: "1"}, expectCauses: *a12}]')
    const heap = process.memoryUsage().heapUsed
    const t0 = Date.now()
    refused(`${lines.join('\n')}\n`, /: a1\[\d\]: a YAML alias of a mapping or list \(\*ref\)/)
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`)
    assert.ok(process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024, 'heap grew by more than 64 MiB')
    // the same bomb inside a job (where keys are known): the alias is what is refused
    const inJob = ['jobs:', '  - context: a', '    runtime: docker', '    expectCauses: &l0 [x, x]']
    for (let i = 1; i <= 30; i++) inJob.push(`    agree${i}: &l${i} [*l${i - 1}, *l${i - 1}]`)
    const t1 = Date.now()
    refused(`${inJob.join('\n')}\n`, /a YAML alias of a mapping or list/)
    assert.ok(Date.now() - t1 < 2000, `took ${Date.now() - t1} ms`)
  })

  it('hostile: deep nesting (flow and block) is refused quickly', () => {
    const t0 = Date.now()
    refused(
      `jobs: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`,
      /nested too deeply to parse|nesting exceeded maxDepth/,
    )
    let block = 'jobs:\n'
    for (let i = 0; i < 40; i++) block += `${'  '.repeat(i + 1)}- \n`
    refused(`${block}${'  '.repeat(42)}x\n`, /nested deeper than 16 levels|expected a mapping/)
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`)
  })

  it('hostile: a file larger than the limit is refused before parsing, and too many jobs are refused', async () => {
    const big = `jobs:\n${'  - {context: a, runtime: docker}\n'.repeat(Math.ceil(MAX_FILE_BYTES / 30))}`
    const t0 = Date.now()
    refused(big, /larger than 1048576 bytes/)
    assert.ok(Date.now() - t0 < 500)
    const many = `jobs:\n${Array.from({length: 5001}, (_, i) => `- {id: j${i}, context: a, runtime: docker}`).join('\n')}\n`
    refused(many, /more than 5000 jobs/)
    // on disk: refused by its size, without being read
    const dir = await mkdtemp(path.join(tmpdir(), 'repro-matrix-big-'))
    try {
      await writeFile(path.join(dir, 'm.yaml'), big)
      await assert.rejects(loadMatrix(path.join(dir, 'm.yaml')), /m\.yaml: larger than 1048576 bytes/)
      await assert.rejects(loadMatrix(path.join(dir, 'none.yaml')), /none\.yaml: no such file/)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('hostile: 3000 random mutations of a valid file end in a result or a one-line MatrixFileError, never anything else', () => {
    let seed = 25
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const junk = [
      '\0',
      '&a',
      '*a',
      '{',
      '}',
      '[',
      ']',
      ':',
      '- ',
      '\t',
      '"',
      "'",
      '!!binary ',
      '..',
      '/',
      '%YAML 9\n',
      '\u202e',
      '? ',
    ]
    const t0 = Date.now()
    let ok = 0
    let errors = 0
    for (let i = 0; i < 3000; i++) {
      let text = VALID
      for (let k = 0; k <= rand(4); k++) {
        const at = rand(text.length)
        const op = rand(3)
        if (op === 0) text = text.slice(0, at) + junk[rand(junk.length)] + text.slice(at)
        else if (op === 1) text = text.slice(0, at) + text.slice(at + 1 + rand(20))
        else text = text.slice(0, at) + text.slice(rand(text.length))
      }
      try {
        parseMatrix(text, FILE)
        ok++
      } catch (error) {
        assert.ok(error instanceof MatrixFileError, `mutation ${i}: ${String(error)}\n${text}`)
        assert.ok(!error.message.includes('\n'), error.message)
        errors++
      }
    }
    assert.ok(errors > 1000 && ok > 0, `${ok} parsed, ${errors} refused`)
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`)
  })

  describe('paths through the file system', () => {
    let dir: string
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'repro-matrix-paths-'))
      await mkdir(path.join(dir, 'm', 'app'), {recursive: true})
      await writeFile(path.join(dir, 'm', 'app', 'Dockerfile'), 'FROM scratch\n')
      await mkdir(path.join(dir, 'outside'))
      await writeFile(path.join(dir, 'outside', 'Dockerfile'), 'FROM scratch\n')
      await symlink('../outside', path.join(dir, 'm', 'escape'))
    })
    after(async () => {
      await rm(dir, {recursive: true, force: true})
    })
    const load = (_: string) => loadMatrix(path.join(dir, 'm', 'matrix.yaml'))
    const write = (jobs: string) => writeFile(path.join(dir, 'm', 'matrix.yaml'), `jobs:\n${jobs}`)

    it('a context inside is accepted', async () => {
      await write('  - {id: ok, context: app, runtime: buildkit}\n')
      const m = await load('')
      assert.equal(m.jobs[0].context, 'app')
      await checkMatrixPaths(m)
    })

    it('a symlink out of the directory, a missing context or Dockerfile: refused before anything runs', async () => {
      await write('  - {id: s, context: escape, runtime: buildkit}\n')
      await assert.rejects(
        load(''),
        /jobs\[0\] \(s\)\.context: escape: leads outside the matrix file's directory \(through a symlink\)/,
      )
      await write('  - {id: m, context: nope, runtime: buildkit}\n')
      await assert.rejects(load(''), /jobs\[0\] \(m\)\.context: nope: no such directory/)
      await write('  - {id: d, context: app, dockerfile: Other, runtime: buildkit}\n')
      await assert.rejects(load(''), /jobs\[0\] \(d\)\.dockerfile: app\/Other: no such file/)
      await write('  - {id: f, context: app/Dockerfile, runtime: buildkit}\n')
      await assert.rejects(load(''), /\(f\)\.context: app\/Dockerfile: not a directory/)
    })
  })
})
