/**
 * `repro verify` without engines: its flags (shared with `repro build`), bad input (exit 2, one line naming
 * the flag), and the build-context digest on real files (.dockerignore, content, modes; not mtimes).
 * The engine runs are in tests/e2e/verify.e2e.test.ts.
 */
import assert from 'node:assert/strict'
import {chmod, mkdir, mkdtemp, rm, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {contextDigest, contextLines} from '../../src/verify/context-digest.js'
import {runCli} from '../support/cli.js'

describe('repro verify (no engine needed)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-verify-cli-'))
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /\n')
    await writeFile(path.join(dir, 'a.txt'), 'a\n')
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('--help shows the build flags it shares with repro build, and its own', async () => {
    const r = await runCli(['verify', '--help'])
    assert.equal(r.code, 0, r.stderr)
    for (const flag of [
      '--sde',
      '--build-arg',
      '--build-context',
      '--buildkit-image',
      '--platform',
      '--times',
      '--against',
      '--expected-image-digest',
      '--attest',
      '--attest-timestamps',
    ]) {
      assert.ok(r.stdout.includes(flag), `verify --help lacks ${flag}`)
    }
    assert.match(r.stdout, /docker\|podman\|buildkit\|buildah\|all/)
    assert.doesNotMatch(r.stdout, /--dry\b/, 'a verification always runs')
    assert.doesNotMatch(r.stdout, /--no-cache\b/, 'rebuilds never use the cache')
  })

  const bad: Array<[string, string[], RegExp]> = [
    ['--times 0', ['--times', '0'], /Expected an integer greater than or equal to 1|--times/],
    [
      'a malformed digest',
      ['--expected-image-digest', 'sha256:nope'],
      /--expected-image-digest sha256:nope: expected sha256:<64 hex digits>/,
    ],
    [
      'both expectations',
      ['--expected-image-digest', 'a'.repeat(64), '--against', 'x.tar'],
      /cannot also be provided when using|give one of them/,
    ],
    [
      '--times 1 with nothing to compare',
      ['--times', '1'],
      /--times 1: one rebuild with nothing to compare it with proves nothing/,
    ],
    ['--attest-timestamps without --attest', ['--attest-timestamps'], /--attest/],
  ]
  for (const [what, args, message] of bad) {
    it(`exit 2 for ${what}`, async () => {
      const r = await runCli(['verify', '--sde', '0', ...args, dir])
      assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`)
      assert.match(r.stderr, message)
      assert.equal(r.stdout, '')
    })
  }

  it('exit 2 naming a missing context, and --json carries the error code', async () => {
    const r = await runCli(['verify', '--sde', '0', '--json', path.join(dir, 'nope')])
    assert.equal(r.code, 2)
    const doc = JSON.parse(r.stdout) as {error: {code: string; message: string}}
    assert.equal(doc.error.code, 'E_INVALID_ARGUMENT')
    assert.match(doc.error.message, /nope: not a directory/)
  })
})

describe('build-context digest', () => {
  let ctx: string
  before(async () => {
    ctx = await mkdtemp(path.join(tmpdir(), 'repro-context-digest-'))
    await mkdir(path.join(ctx, 'src/sub'), {recursive: true})
    await mkdir(path.join(ctx, 'node_modules/x'), {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n')
    await writeFile(path.join(ctx, 'src/a.txt'), 'a\n')
    await writeFile(path.join(ctx, 'src/sub/b.log'), 'log\n')
    await writeFile(path.join(ctx, 'node_modules/x/index.js'), 'x\n')
    await writeFile(path.join(ctx, 'keep.log'), 'kept\n')
    await writeFile(path.join(ctx, '.dockerignore'), 'node_modules\n**/*.log\n!keep.log\n')
  })
  after(async () => {
    await rm(ctx, {recursive: true, force: true})
  })

  it('lists what the build sees, sorted, honouring .dockerignore', async () => {
    const {lines, ignoreFile} = await contextLines(ctx)
    assert.equal(ignoreFile, '.dockerignore')
    assert.deepEqual(
      lines.map((l) => `${l.split('\t')[0]} ${l.split('\t')[3]}`),
      ['file .dockerignore', 'file Dockerfile', 'file keep.log', 'dir src', 'file src/a.txt', 'dir src/sub'],
    )
  })

  it('is stable under mtime changes, and changes with content and mode', async () => {
    const d0 = await contextDigest(ctx)
    assert.match(d0.digest, /^sha256:[a-f0-9]{64}$/)
    assert.equal(d0.files, 4)
    await utimes(path.join(ctx, 'src/a.txt'), new Date(0), new Date(0))
    assert.equal((await contextDigest(ctx)).digest, d0.digest, 'mtimes are not part of it')
    await writeFile(path.join(ctx, 'src/sub/ignored.log'), 'more\n')
    assert.equal((await contextDigest(ctx)).digest, d0.digest, 'an ignored file is not part of it')
    await chmod(path.join(ctx, 'src/a.txt'), 0o755)
    const d1 = await contextDigest(ctx)
    assert.notEqual(d1.digest, d0.digest, 'the mode is part of it')
    await writeFile(path.join(ctx, 'src/a.txt'), 'A\n')
    assert.notEqual((await contextDigest(ctx)).digest, d1.digest, 'the content is part of it')
  })

  it('a Dockerfile-specific ignore file wins over .dockerignore', async () => {
    await writeFile(path.join(ctx, 'Dockerfile.dockerignore'), 'src\n')
    try {
      const {lines, ignoreFile} = await contextLines(ctx, path.join(ctx, 'Dockerfile'))
      assert.equal(ignoreFile, 'Dockerfile.dockerignore')
      assert.ok(!lines.some((l) => l.endsWith('\tsrc/a.txt')))
      assert.ok(lines.some((l) => l.endsWith('\tnode_modules/x/index.js')))
    } finally {
      await rm(path.join(ctx, 'Dockerfile.dockerignore'))
    }
  })
})
