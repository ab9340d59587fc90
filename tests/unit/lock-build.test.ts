import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {type BuildOptions, buildPlan, DEFAULT_BUILDKIT_IMAGE, type Facts, planText} from '../../src/engine/plan.js'
import {build, type BuildInput} from '../../src/engine/run.js'
import {serializeLock, type LockFile} from '../../src/lock/format.js'

const D = (c: string) => `sha256:${c.repeat(64)}`
const POLICY = '{"rules":[]}\n'
const RUN = '77'

function options(over: Partial<BuildOptions> = {}): BuildOptions {
  return {
    context: '/src/app',
    dockerfile: '/src/app/Dockerfile',
    output: '/out/image.tar',
    format: 'docker',
    tags: [],
    buildArgs: [],
    annotations: [],
    platforms: [],
    noCache: true,
    buildContexts: [],
    secrets: [],
    buildkitArgs: [],
    buildxArgs: [],
    buildkitImage: DEFAULT_BUILDKIT_IMAGE,
    rootless: false,
    sde: {epoch: 0, origin: '--sde'},
    sourcePolicy: POLICY,
    ...over,
  }
}
const facts = (over: Partial<Facts> = {}): Facts => ({
  runtime: 'docker',
  missingDirs: [],
  ociLayoutDigests: {},
  assumptions: [],
  ...over,
})
const policyFile = `/out/.image.tar.repro-${RUN}-policy.json`

describe('a source policy in the build plan', () => {
  it('docker: written first, handed to buildx by EXPERIMENTAL_BUILDKIT_SOURCE_POLICY, removed last', () => {
    const plan = buildPlan(options(), facts({builder: {name: 'b', exists: true, image: DEFAULT_BUILDKIT_IMAGE}}), RUN)
    assert.deepEqual(plan.steps[0], {
      kind: 'write',
      path: policyFile,
      content: POLICY,
      why: 'the source policy of the lock file',
    })
    const b = plan.steps.find((s) => s.kind === 'exec')
    assert.ok(b?.kind === 'exec')
    assert.deepEqual(b.env, {EXPERIMENTAL_BUILDKIT_SOURCE_POLICY: policyFile})
    const lines = planText(plan).trimEnd().split('\n')
    assert.equal(lines[0], `printf '%s\\n' '{"rules":[]}' > ${policyFile}`)
    assert.match(lines[1], new RegExp(`^EXPERIMENTAL_BUILDKIT_SOURCE_POLICY=${policyFile} docker buildx build `))
    assert.equal(lines.at(-1), `rm -rf ${policyFile}`)
  })

  it('buildkit: --source-policy-file with the host path', () => {
    const plan = buildPlan(
      options(),
      facts({runtime: 'buildkit', buildkitAddr: 'unix:///run/buildkit/buildkitd.sock'}),
      RUN,
    )
    const b = plan.steps.find((s) => s.kind === 'exec')
    assert.ok(b?.kind === 'exec')
    assert.deepEqual(b.argv.slice(b.argv.indexOf('--source-policy-file'), b.argv.indexOf('--source-policy-file') + 2), [
      '--source-policy-file',
      policyFile,
    ])
  })

  it('podman: the file mounted into the BuildKit container, on host networking', () => {
    const plan = buildPlan(options(), facts({runtime: 'podman'}), RUN)
    const b = plan.steps.find((s) => s.kind === 'exec' && s.argv[1] === 'run')
    assert.ok(b?.kind === 'exec')
    assert.ok(b.argv.join(' ').includes(`-v ${policyFile}:/tmp/repro/policy.json:ro`))
    assert.ok(b.argv.join(' ').includes('--source-policy-file /tmp/repro/policy.json'))
    assert.ok(b.argv.join(' ').includes('--network host'))
  })

  it('without a lock nothing about policies is planned', () => {
    const text = planText(
      buildPlan(options({sourcePolicy: undefined}), facts({runtime: 'buildkit', buildkitAddr: 'x'}), RUN),
    )
    assert.doesNotMatch(text, /policy/)
  })

  it('the printed write step is pasteable: a shell writes the very bytes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'repro-policy-'))
    try {
      const content = `{"rules":[{"action":"CONVERT","selector":{"identifier":"docker-image://a:1","match_type":"EXACT"},"updates":{"attrs":{"it's":"$x \`y\`"}}}]}\n`
      const plan = buildPlan(
        options({output: path.join(dir, 'image.tar'), sourcePolicy: content}),
        facts({runtime: 'buildkit', buildkitAddr: 'x'}),
        RUN,
      )
      const line = planText(plan).split('\n')[0]
      execFileSync('sh', ['-c', line])
      assert.equal(await readFile(path.join(dir, `.image.tar.repro-${RUN}-policy.json`), 'utf8'), content)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('repro build with a lock file', () => {
  let dir: string
  let ctx: string
  const lockOf = (images: LockFile['images']): LockFile => ({
    schemaVersion: 1,
    dockerfile: 'Dockerfile',
    target: null,
    platforms: [],
    buildArgs: {},
    sourceDateEpoch: {epoch: 0, source: '--sde'},
    buildkit: {image: DEFAULT_BUILDKIT_IMAGE},
    frontend: {},
    images,
    urls: {},
    git: {},
    contexts: {},
    hashfiles: {},
  })
  const input = (over: Partial<BuildInput> = {}): BuildInput => ({
    cwd: dir,
    context: 'ctx',
    output: 'out/image.tar',
    format: 'docker',
    tags: [],
    buildArgs: [],
    annotations: [],
    platforms: [],
    noCache: false,
    buildContexts: [],
    secrets: [],
    rootless: false,
    sdeFromGit: false,
    sde: '0',
    dry: true,
    runtime: 'buildkit',
    buildkitAddr: 'unix:///nonexistent/buildkitd.sock',
    env: {},
    ...over,
  })

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lock-build-'))
    ctx = path.join(dir, 'ctx')
    await mkdir(ctx)
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      'FROM 127.0.0.1:5000/base:1\nFROM 127.0.0.1:5000/tools:2 AS t\nFROM 0\nCOPY --from=t / /\n',
    )
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('finds repro.lock.yaml next to the Dockerfile: the policy is planned, the result names the lock and its sha256', async () => {
    const text = serializeLock(
      lockOf({
        '127.0.0.1:5000/base:1': {digest: D('a'), mediaType: 'm', uses: ['FROM line 1']},
        '127.0.0.1:5000/tools:2': {digest: D('b'), mediaType: 'm', uses: ['FROM line 2']},
      }),
    )
    await writeFile(path.join(ctx, 'repro.lock.yaml'), text)
    const exec = fakeExec(() => ({exitCode: 1, notFound: true}))
    const r = await build(input(), {exec, logger: silentLogger})
    assert.deepEqual(r.lock, {
      path: path.join(ctx, 'repro.lock.yaml'),
      sha256: `sha256:${createHash('sha256').update(text).digest('hex')}`,
      locked: false,
      inputs: {'images/127.0.0.1:5000/base:1': D('a'), 'images/127.0.0.1:5000/tools:2': D('b')},
    })
    assert.match(r.commands.join('\n'), /docker-image:\/\/127\.0\.0\.1:5000\/base:1@sha256:a{64}/)
    assert.match(r.commands.join('\n'), /--source-policy-file /)
    // --locked adds the DENY and the result says so
    const locked = await build(input({locked: true}), {exec, logger: silentLogger})
    assert.equal(locked.lock?.locked, true)
    assert.match(locked.commands.join('\n'), /"action":"DENY","selector":\{"identifier":"\*","match_type":"WILDCARD"\}/)
  })

  it('--locked with a FROM the lock does not list: exit 2 naming it, before any engine command', async () => {
    await writeFile(
      path.join(ctx, 'repro.lock.yaml'),
      serializeLock(lockOf({'127.0.0.1:5000/base:1': {digest: D('a'), mediaType: 'm', uses: ['FROM line 1']}})),
    )
    const exec = fakeExec()
    await assert.rejects(
      build(input({locked: true, dry: false}), {exec, logger: silentLogger}),
      (error: Error & {exitCode?: number}) => {
        assert.equal(error.exitCode, 2)
        assert.match(
          error.message,
          /--locked: .*repro\.lock\.yaml does not lock FROM 127\.0\.0\.1:5000\/tools:2 \(line 2\)/,
        )
        return true
      },
    )
    assert.deepEqual(exec.calls, [], 'no engine was started or probed')
  })

  it('--locked without a lock file, and a hostile lock file: exit 2 naming the file, before any engine command', async () => {
    const exec = fakeExec()
    await rm(path.join(ctx, 'repro.lock.yaml'), {force: true})
    await assert.rejects(
      build(input({locked: true}), {exec, logger: silentLogger}),
      /--locked: no lock file at .*repro\.lock\.yaml/,
    )
    await writeFile(path.join(ctx, 'repro.lock.yaml'), 'schemaVersion: 1\nimages: [1, 2]\n')
    await assert.rejects(build(input(), {exec, logger: silentLogger}), /repro\.lock\.yaml: /)
    await assert.rejects(
      build(input({lock: 'missing.yaml'}), {exec, logger: silentLogger}),
      /missing\.yaml: no such file/,
    )
    assert.deepEqual(exec.calls, [])
  })
})

describe('explainLockFailure', () => {
  it("names the URL whose pinned checksum BuildKit's bare digest mismatch mentions, either way round", async () => {
    const {explainLockFailure} = await import('../../src/lock/build.js')
    const {EngineFailedError} = await import('../../src/errors.js')
    const pinned = D('1')
    const served = D('2')
    const used = {
      use: {path: '/w/repro.lock.yaml', sha256: D('0'), locked: false, inputs: {}},
      lock: {urls: {'http://127.0.0.1:8/f': {checksum: pinned, size: 1, uses: []}}} as unknown as LockFile,
      policy: {rules: []},
      policyText: '',
    }
    for (const tail of [
      `error: failed to solve: digest mismatch ${served}: ${pinned}`,
      `digest mismatch ${pinned}: ${served}`,
    ]) {
      const e = explainLockFailure(new EngineFailedError(['buildctl'], 1, tail), used)
      assert.equal(
        e?.message,
        `ADD http://127.0.0.1:8/f: checksum mismatch: /w/repro.lock.yaml pins ${pinned}, the server now sends ${served}`,
      )
      assert.equal(e?.exitCode, 2)
    }
    assert.equal(
      explainLockFailure(new EngineFailedError(['x'], 1, `digest mismatch ${D('3')}: ${D('4')}`), used),
      undefined,
    )
    assert.equal(explainLockFailure(new Error('other'), used), undefined)
  })
})
