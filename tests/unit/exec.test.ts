import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {chmod, copyFile, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {EngineFailedError} from '../../src/errors.js'
import {fakeExec, realExec} from '../../src/exec.js'
import {AbortedError, lifecycle} from '../../src/lifecycle.js'

/** live (non-zombie) processes of a process group, read with ps (not with the code under test) */
function liveInGroup(pgid: string): string[] {
  return execFileSync('ps', ['-eo', 'pgid=,stat=,args='], {encoding: 'utf8'})
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.split(/\s+/)[0] === pgid && !l.split(/\s+/)[1]?.startsWith('Z'))
}

async function waitForFile(file: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const text = await readFile(file, 'utf8').catch(() => '')
    if (text.trim()) return text.trim()
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`${file} never appeared`)
}

describe('realExec, the one exec seam', () => {
  test('captures stdout and stderr, passes input and env, taps stderr', async () => {
    const seen: string[] = []
    const r = await realExec(['sh', '-c', 'cat; echo "$X" >&2'], {
      env: {X: 'from-env'},
      input: 'in\n',
      onOutput: (c) => seen.push(c),
    })
    assert.equal(r.exitCode, 0)
    assert.equal(r.stdout, 'in\n')
    assert.equal(r.stderr, 'from-env\n')
    assert.equal(seen.join(''), 'from-env\n')
  })

  test('a non-zero exit throws EngineFailedError with argv, code and the stderr tail', async () => {
    await assert.rejects(realExec(['sh', '-c', 'echo boom >&2; exit 3']), (error: unknown) => {
      assert.ok(error instanceof EngineFailedError)
      assert.equal(error.childExitCode, 3)
      assert.equal(error.stderrTail, 'boom')
      assert.deepEqual(error.argv, ['sh', '-c', 'echo boom >&2; exit 3'])
      assert.match(error.message, /exit code 3: sh -c echo boom/)
      return true
    })
    const r = await realExec(['sh', '-c', 'exit 4'], {reject: false})
    assert.equal(r.exitCode, 4)
  })

  test('a missing program is reported as not found', async () => {
    const r = await realExec(['repro-no-such-program-xyz'], {reject: false})
    assert.equal(r.notFound, true)
    await assert.rejects(realExec(['repro-no-such-program-xyz']), /repro-no-such-program-xyz: not found/)
  })

  test('a timeout kills the child and fails', async () => {
    await assert.rejects(realExec(['sleep', '5'], {timeoutMs: 100}), /timed out after 100 ms/)
  })

  test('the display form replaces argv in errors (secrets)', async () => {
    await assert.rejects(
      realExec(['sh', '-c', 'exit 1', 'secret-value'], {display: 'sh -c <redacted>'}),
      (error: Error) => {
        assert.doesNotMatch(error.message, /secret-value/)
        return true
      },
    )
  })

  test('fakeExec records argv and answers', async () => {
    const exec = fakeExec((argv) => (argv[0] === 'docker' ? {stdout: '20.10'} : {exitCode: 1, stderr: 'no'}))
    assert.equal((await exec(['docker', 'version'])).stdout, '20.10')
    await assert.rejects(exec(['podman']), EngineFailedError)
    assert.deepEqual(exec.calls, [['docker', 'version'], ['podman']])
  })
})

describe('realExec aborts kill the whole process group', () => {
  let dir: string
  let n = 0
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-exec-abort-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })
  /** sh that writes its pid (= its process group) and starts grandchildren */
  const shell = (body: string): {argv: string[]; pgidFile: string} => {
    const pgidFile = path.join(dir, `pgid-${n++}`)
    return {argv: ['sh', '-c', `echo $$ > ${pgidFile}; ${body}`], pgidFile}
  }

  test('an AbortSignal ends sh and its grandchildren, and the call rejects with AbortedError', async () => {
    const {argv, pgidFile} = shell('sleep 300 & sleep 300 & wait')
    const controller = new AbortController()
    const running = realExec(argv, {signal: controller.signal})
    const pgid = await waitForFile(pgidFile)
    assert.equal(liveInGroup(pgid).length, 3)
    const t0 = Date.now()
    controller.abort()
    await assert.rejects(running, AbortedError)
    assert.deepEqual(liveInGroup(pgid), [])
    assert.ok(Date.now() - t0 < 2000, 'SIGTERM is enough: no wait for the grace period')
  })

  test('a grandchild that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const {argv, pgidFile} = shell(`trap '' TERM; sleep 300 & wait`)
    const controller = new AbortController()
    const running = realExec(argv, {signal: controller.signal, killGraceMs: 300})
    const pgid = await waitForFile(pgidFile)
    const t0 = Date.now()
    controller.abort()
    await assert.rejects(running, AbortedError)
    const ms = Date.now() - t0
    assert.deepEqual(liveInGroup(pgid), [])
    assert.ok(ms >= 300, `SIGKILL came after the grace period (${ms} ms)`)
  })

  test('a timeout ends the whole group too', async () => {
    const {argv, pgidFile} = shell('sleep 300 & sleep 300 & wait')
    const running = realExec(argv, {timeoutMs: 300})
    const pgid = await waitForFile(pgidFile)
    await assert.rejects(running, /timed out after 300 ms/)
    assert.deepEqual(liveInGroup(pgid), [])
  })

  test('an already aborted signal starts nothing', async () => {
    const {argv, pgidFile} = shell('true')
    await assert.rejects(realExec(argv, {signal: AbortSignal.abort()}), AbortedError)
    await assert.rejects(readFile(pgidFile), /ENOENT/)
  })

  test('a running child is in the cleanup registry, and its cleanup ends the group', async () => {
    const {argv, pgidFile} = shell('sleep 300 & wait')
    const running = realExec(argv)
    const pgid = await waitForFile(pgidFile)
    assert.ok(lifecycle.pending().some((p) => p.kind === 'child' && p.label.startsWith('sh -c echo')))
    await lifecycle.cleanup()
    await assert.rejects(running, AbortedError)
    assert.deepEqual(liveInGroup(pgid), [])
    await realExec(['true'])
    assert.deepEqual(lifecycle.pending(), [], 'a finished child is unregistered')
  })

  test('fakeExec honours an aborted signal', async () => {
    const exec = fakeExec()
    await assert.rejects(exec(['docker', 'build'], {signal: AbortSignal.abort()}), AbortedError)
  })

  test(
    'a process whose name looks like a zombie entry in /proc/PID/stat is still seen alive',
    {timeout: 10_000},
    async () => {
      // comm is the executable's name: ") Z 1 1 (" inside it would fool a parser that reads up to the first ')'
      const evil = path.join(dir, 'x) Z 1 1 (y')
      await copyFile(execFileSync('sh', ['-c', 'command -v sleep'], {encoding: 'utf8'}).trim(), evil)
      await chmod(evil, 0o755)
      const {argv, pgidFile} = shell(`trap '' TERM; exec '${evil}' 300`)
      const controller = new AbortController()
      const running = realExec(argv, {signal: controller.signal, killGraceMs: 300})
      const pgid = await waitForFile(pgidFile)
      while (!liveInGroup(pgid).some((l) => l.includes(evil))) await new Promise((r) => setTimeout(r, 10))
      const t0 = Date.now()
      controller.abort()
      await assert.rejects(running, AbortedError)
      assert.deepEqual(liveInGroup(pgid), [], 'SIGKILL reached it: it was not mistaken for a zombie')
      assert.ok(Date.now() - t0 >= 300)
    },
  )
})
