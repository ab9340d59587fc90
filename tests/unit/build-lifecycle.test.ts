/**
 * The build executor's part of the lifecycle (src/engine/run.ts executePlan): steps that tolerate a
 * concurrent creator, a podman container removed when the build is aborted (after its client's process group
 * is gone, before the files are removed), and private output directories of dead runs swept.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {EngineFailedError, InvalidArgumentError} from '../../src/errors.js'
import {type Exec, fakeExec, realExec} from '../../src/exec.js'
import {AbortedError, lifecycle, processAlive} from '../../src/lifecycle.js'
import {silentLogger} from '../../src/log.js'
import {execStep, type Plan} from '../../src/engine/plan.js'
import {executePlan} from '../../src/engine/run.js'

function liveInGroup(pgid: string): string[] {
  return execFileSync('ps', ['-eo', 'pgid=,stat='], {encoding: 'utf8'})
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([g, st]) => g === pgid && !st?.startsWith('Z'))
    .map((f) => f.join(' '))
}

describe('executePlan and the lifecycle', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-build-lc-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('a step that tolerates "already exists" succeeds on it, and fails on anything else', async () => {
    const exec = fakeExec((argv) =>
      argv[3] === 'taken'
        ? {exitCode: 125, stderr: 'Error: volume with name taken already exists: volume already exists\n'}
        : argv[3] === 'broken'
          ? {exitCode: 125, stderr: 'Error: no space left on device\n'}
          : undefined,
    )
    const plan = (name: string): Plan => ({
      runtime: 'podman',
      outputs: [],
      steps: [execStep(['podman', 'volume', 'create', name], 'volume', {tolerate: 'already exists'})],
    })
    await executePlan(plan('taken'), exec, silentLogger)
    await executePlan(plan('fresh'), exec, silentLogger)
    await assert.rejects(executePlan(plan('broken'), exec, silentLogger), (e: unknown) => {
      assert.ok(e instanceof EngineFailedError)
      assert.match(e.message, /no space left on device/)
      return true
    })
  })

  it('an abort ends the engine group and removes the container, then the private directory; the destination stays', async () => {
    const out = path.join(dir, 'image.tar')
    await writeFile(out, 'previous')
    const outDir = path.join(dir, '.image.tar.repro-out-4242')
    const partial = path.join(outDir, '.image.tar.repro-partial')
    const pgidFile = path.join(dir, 'pgid')
    const removed: string[][] = []
    // the "engine": writes the partial file, then keeps writing it from a grandchild until killed
    const exec: Exec = async (argv, options) => {
      if (argv[0] === 'podman' && argv[1] === 'rm') {
        removed.push(argv)
        return {argv, exitCode: 0, stderr: '', stdout: '', notFound: false}
      }
      return realExec(
        ['sh', '-c', `echo $$ > ${pgidFile}; (while :; do echo x >> ${partial}; sleep 0.05; done) & wait`],
        options,
      )
    }
    const plan: Plan = {
      runtime: 'podman',
      outputs: [{path: out, partial, outDir, platforms: []}],
      steps: [
        {kind: 'mkdir', path: outDir, private: true, why: 'private'},
        execStep(['podman', 'run', '--rm', '--name', 'repro-build-4242-x'], 'build', {
          container: {runtime: 'podman', name: 'repro-build-4242-x'},
        }),
        {kind: 'rename', from: partial, to: out, why: 'publish'},
      ],
    }
    const running = executePlan(plan, exec, silentLogger).then(
      () => undefined,
      (error: unknown) => error,
    )
    let pgid = ''
    while (!(pgid = (await readFile(pgidFile, 'utf8').catch(() => '')).trim()))
      await new Promise((r) => setTimeout(r, 10))
    while (!(await stat(partial).catch(() => undefined))) await new Promise((r) => setTimeout(r, 10))
    assert.equal((await stat(outDir)).mode & 0o777, 0o700)
    assert.ok(lifecycle.pending().some((p) => p.kind === 'container' && p.label.includes('repro-build-4242-x')))
    const report = await lifecycle.cleanup()
    assert.ok((await running) instanceof AbortedError)
    assert.deepEqual(report.failed, [])
    assert.deepEqual(removed, [['podman', 'rm', '--force', '--time', '0', 'repro-build-4242-x']])
    assert.deepEqual(liveInGroup(pgid), [])
    await new Promise((r) => setTimeout(r, 200)) // a writer left alive would recreate the file by now
    await assert.rejects(stat(outDir), {code: 'ENOENT'})
    assert.equal(await readFile(out, 'utf8'), 'previous')
    assert.deepEqual(lifecycle.pending(), [])
  })

  it("a private directory sweeps the leftovers of dead runs for the same destination, not a live run's", async () => {
    let dead = 4_000_000
    while (processAlive(dead)) dead++
    const sub = path.join(dir, 'sweep')
    await mkdir(path.join(sub, `.app.tar.repro-out-${dead}`), {recursive: true})
    await writeFile(path.join(sub, `.app.tar.repro-out-${dead}`, '.app.tar.repro-partial'), 'stale')
    await mkdir(path.join(sub, `.app.tar.repro-out-${process.ppid}`))
    await mkdir(path.join(sub, `.other.tar.repro-out-${dead}`))
    const mine = path.join(sub, '.app.tar.repro-out-4242')
    const plan: Plan = {
      runtime: 'podman',
      outputs: [],
      steps: [{kind: 'mkdir', path: mine, private: true, why: 'private'}],
    }
    await executePlan(plan, fakeExec(), silentLogger)
    assert.deepEqual(
      (await readdir(sub)).sort(),
      ['.app.tar.repro-out-4242', `.app.tar.repro-out-${process.ppid}`, `.other.tar.repro-out-${dead}`].sort(),
    )
  })

  it('concurrent podman builds on one BuildKit image take different state volumes (one buildkitd per volume)', async () => {
    const volume = `repro-buildkit-unit${process.pid}`
    const seen: string[][] = []
    let open!: () => void
    const gate = new Promise<void>((r) => (open = r))
    let running = 0
    const exec: Exec = async (argv) => {
      seen.push(argv)
      if (argv[1] === 'run') {
        running++
        if (running === 2) open()
        await gate
      }
      return {argv, exitCode: 0, stderr: '', stdout: '', notFound: false}
    }
    const plan = (): Plan => ({
      runtime: 'podman',
      outputs: [],
      steps: [
        execStep(['podman', 'run', '--rm', '-v', `${volume}:/var/lib/buildkit`, 'img'], 'build', {
          cacheVolume: volume,
        }),
      ],
    })
    await Promise.all([executePlan(plan(), exec, silentLogger), executePlan(plan(), exec, silentLogger)])
    const mounts = seen.filter((a) => a[1] === 'run').map((a) => a[4])
    assert.deepEqual(mounts.sort(), [`${volume}-1:/var/lib/buildkit`, `${volume}:/var/lib/buildkit`])
    assert.deepEqual(
      seen.filter((a) => a[1] === 'volume'),
      [['podman', 'volume', 'create', `${volume}-1`]],
    )
    // both released: the next build takes the first volume again
    seen.length = 0
    await executePlan(plan(), fakeExec(), silentLogger)
    await executePlan(plan(), exec, silentLogger)
    assert.deepEqual(
      seen.map((a) => a[4]),
      [`${volume}:/var/lib/buildkit`],
    )
  })

  it('a second concurrent build to the same destination fails at once and leaves the first one alone', async () => {
    const out = path.join(dir, 'same', 'image.tar')
    const partial = path.join(dir, 'same', '.image.tar.repro-partial')
    let open!: () => void
    const gate = new Promise<void>((r) => (open = r))
    let started!: () => void
    const running = new Promise<void>((r) => (started = r))
    const exec: Exec = async (argv) => {
      await writeFile(partial, 'first build writing')
      started()
      await gate
      return {argv, exitCode: 0, stderr: '', stdout: '', notFound: false}
    }
    const plan: Plan = {
      runtime: 'docker',
      outputs: [{path: out, partial, platforms: []}],
      steps: [{kind: 'mkdir', path: path.dirname(out), why: 'out'}, execStep(['docker', 'buildx', 'build'], 'build')],
    }
    const first = executePlan(plan, exec, silentLogger)
    await running
    await assert.rejects(executePlan(plan, fakeExec(), silentLogger), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError)
      assert.equal(e.message, `--output ${out}: another repro build is writing it now`)
      return true
    })
    assert.equal(await readFile(partial, 'utf8'), 'first build writing', "the second did not remove the first's file")
    open()
    await first
    assert.deepEqual(await readdir(path.dirname(out)), ['.image.tar.repro-partial'], 'the lock is released')
    await executePlan({...plan, steps: []}, fakeExec(), silentLogger)
  })
})
