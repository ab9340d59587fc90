import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {EngineFailedError} from '../../src/errors.js'
import {fakeExec, realExec} from '../../src/exec.js'

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
