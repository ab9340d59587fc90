/**
 * `repro verify` on the engine test bed (tests/e2e/testbed): a standalone BuildKit daemon, the local
 * registry and the deterministic Debian base (GNU date: busybox's has no %N, and two builds within one second
 * would write the same stamp). Proves: two rebuilds give the same digest and the same
 * bytes, with an attestation naming that digest; the rebuild equals an image pushed to a registry
 * (--against 127.0.0.1:5000/...); a build that writes the date is reported as not reproduced (exit 1)
 * with the cause from the semantic diff.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {VerifyResult} from '../../src/verify/index.js'
import {ROOT, runCli} from '../support/cli.js'
import {readTestbedState} from '../support/testbed.js'

interface TestbedState {
  buildkit: {default: string; versions: Record<string, {running?: boolean; host: string; buildctl?: string}>}
  registry?: {ok?: boolean; address?: string}
  images: {debian: {ociLayout: string}}
}

function readState(): TestbedState {
  return readTestbedState<TestbedState>()
}

describe('repro verify on the test bed', () => {
  let state: TestbedState
  let dir: string
  let engine: string[]
  let env: Record<string, string>
  let registry = '127.0.0.1:5000'

  before(async () => {
    state = readState()
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(bk?.running, `test bed: the default buildkitd is not running; run \`npm run testbed -- up\``)
    assert.ok(state.registry?.ok, `test bed: the registry is not up; run \`npm run testbed -- up\``)
    assert.ok(state.images?.debian?.ociLayout, 'test bed: no Debian OCI layout; run `npm run testbed -- up`')
    registry = state.registry.address ?? registry
    engine = ['--runtime', 'buildkit', '--buildkit-addr', bk.host, '--sde', '0']
    env = {PATH: `${path.dirname(bk.buildctl ?? '/usr/bin/buildctl')}:${process.env.PATH}`}
    dir = await mkdtemp(path.join(tmpdir(), 'repro-verify-e2e-'))
    await cp(path.join(ROOT, 'nightly/fixtures/scratch-copy'), path.join(dir, 'scratch'), {recursive: true})
    await mkdir(path.join(dir, 'canary'))
    await writeFile(path.join(dir, 'canary/Dockerfile'), 'FROM base\nRUN date +%s%N > /stamp\n')
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  async function verify(args: string[]): Promise<{code: number | null; result: VerifyResult; stderr: string}> {
    const r = await runCli(['verify', ...engine, '--json', ...args], {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.ok(
      r.stdout.trim().startsWith('{'),
      `verify ${args.join(' ')}: no JSON (exit ${r.code}):\n${r.stderr.slice(-3000)}`,
    )
    return {code: r.code, result: JSON.parse(r.stdout) as VerifyResult, stderr: r.stderr}
  }

  let digest = ''

  it('--times 2: the same digest and bytes twice, and an attestation of it', async () => {
    const {code, result, stderr} = await verify([
      '--times',
      '2',
      '--attest',
      'att.json',
      '--output-dir',
      'out',
      'scratch',
    ])
    assert.equal(code, 0, stderr.slice(-3000))
    assert.equal(result.reproduced, true)
    assert.equal(result.builds.length, 2)
    assert.match(result.digest ?? '', /^sha256:[a-f0-9]{64}$/)
    assert.equal(result.builds[0].archiveSha256, result.builds[1].archiveSha256)
    digest = result.digest!
    const att = JSON.parse(await readFile(path.join(dir, 'att.json'), 'utf8'))
    assert.equal(att._type, 'https://in-toto.io/Statement/v1')
    assert.equal(att.predicateType, 'https://repro.dev/verification/v1')
    assert.deepEqual(att.subject, [{name: 'image', digest: {sha256: digest.slice('sha256:'.length)}}])
    assert.equal(att.predicate.verdict.result, 'reproduced')
    assert.equal(att.predicate.inputs.sourceDateEpoch, 0)
    assert.equal(att.predicate.inputs.context.ignoreFile, '.dockerignore')
    assert.ok(!JSON.stringify(att).includes(dir), 'no host paths in the attestation')
  })

  it('--against a registry reference: the rebuild equals the pushed image', async () => {
    assert.ok(digest, 'needs the first test')
    const ref = `${registry}/repro-e2e/verify:scratch-${process.pid}`
    // push the kept tarball (a BuildKit docker exporter tarball is also an OCI archive), digest kept
    execFileSync(
      'skopeo',
      [
        'copy',
        '--quiet',
        '--preserve-digests',
        '--dest-tls-verify=false',
        `oci-archive:${path.join(dir, 'out/buildkit-1.tar')}`,
        `docker://${ref}`,
      ],
      {stdio: ['ignore', 'ignore', 'inherit']},
    )
    const {code, result, stderr} = await verify(['--times', '1', '--against', ref, 'scratch'])
    assert.equal(code, 0, stderr.slice(-3000))
    assert.equal(result.reproduced, true)
    assert.deepEqual(result.expected, {kind: 'image', input: ref, digest})
    assert.deepEqual(
      result.checks.map((c) => [c.name, c.ok]),
      [['expected-image', true]],
    )
  })

  it('a build that writes the date: not reproduced (exit 1), the cause named by the diff', async () => {
    const {code, result, stderr} = await verify([
      '--times',
      '2',
      '--build-context',
      `base=oci-layout://${state.images.debian.ociLayout}`,
      'canary',
    ])
    assert.equal(code, 1, stderr.slice(-3000))
    assert.equal(result.reproduced, false)
    assert.notEqual(result.builds[0].digest, result.builds[1].digest)
    assert.ok(result.diff, 'a diff explains the mismatch')
    assert.ok(
      result.diff.causes.some((c) => c.cause === 'timestamp-in-content'),
      `causes: ${JSON.stringify(result.diff.causes)}`,
    )
    assert.ok(
      result.diff.events.some((e) => e.path === 'stamp' && e.cause === 'timestamp-in-content'),
      `events: ${JSON.stringify(result.diff.events.map((e) => [e.path, e.cause]))}`,
    )
  })
})
