/**
 * The process-wide cleanup registry (src/lifecycle.ts): order, isolation of failures, and, with a real
 * child program (tests/support/lifecycle-child.ts), SIGINT/SIGTERM end the child's whole process group,
 * remove temp dirs and partial files, and re-raise the signal (a shell sees 130 / 143).
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, test} from 'node:test'
import {fileURLToPath} from 'node:url'

import {Lifecycle} from '../../src/lifecycle.js'

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'lifecycle-child.ts')

/** live (non-zombie) processes of a process group, read with ps (not with the code under test) */
function liveInGroup(pgid: string): string[] {
  return execFileSync('ps', ['-eo', 'pgid=,stat=,args='], {encoding: 'utf8'})
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.split(/\s+/)[0] === pgid && !l.split(/\s+/)[1]?.startsWith('Z'))
}

describe('the cleanup registry', () => {
  test('runs children and containers (together), then paths, whatever the registration order; once', async () => {
    const lc = new Lifecycle()
    const seen: string[] = []
    lc.register('path', 'p1', () => void seen.push('path'))
    lc.register('container', 'c1', async () => {
      await new Promise((r) => setTimeout(r, 20))
      seen.push('container')
    })
    lc.register('child', 'k1', async () => {
      await new Promise((r) => setTimeout(r, 40))
      seen.push('child')
    })
    assert.deepEqual(
      lc.pending().map((p) => p.kind),
      ['child', 'container', 'path'],
    )
    const report = await lc.cleanup()
    assert.deepEqual(seen, ['container', 'child', 'path'], 'children and containers together, paths after both')
    assert.deepEqual(report.ran.sort(), ['c1', 'k1', 'p1'])
    assert.deepEqual(await lc.cleanup(), {ran: [], failed: []}, 'a second cleanup finds nothing left')
  })

  test('a failing cleanup does not stop the others; unregistered ones do not run', async () => {
    const lc = new Lifecycle()
    const seen: string[] = []
    lc.register('container', 'bad', () => {
      throw new Error('engine gone')
    })
    lc.register('path', 'good', () => void seen.push('good'))
    const off = lc.register('path', 'finished', () => void seen.push('finished'))
    off()
    const report = await lc.cleanup()
    assert.deepEqual(seen, ['good'])
    assert.deepEqual(report.failed, [{label: 'bad', message: 'engine gone'}])
  })

  test('registerPath removes a directory tree; cleanupSync does it without the event loop', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'repro-lc-unit-'))
    try {
      const lc = new Lifecycle()
      await mkdtempIn(dir, 'a')
      lc.registerPath(path.join(dir, 'a'))
      await lc.cleanup()
      assert.equal(existsSync(path.join(dir, 'a')), false)
      await mkdtempIn(dir, 'b')
      lc.registerPath(path.join(dir, 'b'))
      lc.cleanupSync()
      assert.equal(existsSync(path.join(dir, 'b')), false)
      assert.deepEqual(lc.pending(), [])
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

async function mkdtempIn(dir: string, name: string): Promise<void> {
  const {mkdir, writeFile} = await import('node:fs/promises')
  await mkdir(path.join(dir, name, 'sub'), {recursive: true})
  await writeFile(path.join(dir, name, 'sub', 'f'), 'x')
}

describe('signals to a process with the registry installed', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lc-signal-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  /** runs the child program under sh, which prints the exit status it saw */
  function start(mode: string): {ready: Promise<number>; done: Promise<string>} {
    const sh = spawn(
      'sh',
      ['-c', '"$@"; echo "status $?"', 'sh', process.execPath, '--import', 'tsx', CHILD, dir, mode],
      {stdio: ['ignore', 'pipe', 'pipe']},
    )
    let out = ''
    let err = ''
    let onReady: (pid: number) => void
    const ready = new Promise<number>((r) => (onReady = r))
    sh.stdout.on('data', (d) => {
      out += d
      const m = /ready (\d+)/.exec(out)
      if (m) onReady(Number(m[1]))
    })
    sh.stderr.on('data', (d) => (err += d))
    const done = new Promise<string>((resolve) => sh.on('close', () => resolve(`${out}\n${err}`)))
    return {ready, done}
  }

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    test(`${signal}: the child group is gone before paths are cleaned, then exit ${status}`, async () => {
      const run = start('wait')
      const pid = await run.ready
      const pgid = (await readFile(path.join(dir, 'pgid'), 'utf8')).trim()
      assert.equal(liveInGroup(pgid).length, 3, 'sh and two sleeps run before the signal')
      const t0 = Date.now()
      process.kill(pid, signal)
      const output = await run.done
      const ms = Date.now() - t0
      assert.match(output, new RegExp(`status ${status}\\b`), output)
      assert.deepEqual(liveInGroup(pgid), [], 'the whole process group is gone')
      assert.equal(existsSync(path.join(dir, 'temp')), false, 'temp dir removed')
      assert.equal(existsSync(path.join(dir, '.out.tar.repro-partial')), false, 'partial file removed')
      assert.equal(await readFile(path.join(dir, 'path-phase'), 'utf8'), 'live=0\n')
      assert.ok(ms < 5000, `took ${ms} ms`)
    })
  }

  test('an error with things still registered: the exit hook kills the group and removes the paths', async () => {
    const run = start('throw')
    await run.ready
    const pgid = (await readFile(path.join(dir, 'pgid'), 'utf8')).trim()
    const output = await run.done
    assert.match(output, /boom/)
    assert.match(output, /status 1\b/)
    assert.equal(existsSync(path.join(dir, 'temp')), false)
    assert.equal(existsSync(path.join(dir, '.out.tar.repro-partial')), false)
    // SIGKILL was sent at exit; the kernel takes a moment to tear the group down
    for (let i = 0; i < 50 && liveInGroup(pgid).length > 0; i++) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(liveInGroup(pgid), [])
  })
})
