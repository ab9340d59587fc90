import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {EngineNotFoundError, InvalidArgumentError} from '../../src/errors.js'
import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {checkBuildahOptions, checkBuildahVersion, ociLayoutRefs, parseBuildahVersion} from '../../src/engine/buildah.js'
import {probe} from '../../src/engine/detect.js'
import {
  type BuildOptions,
  buildPlan,
  DEFAULT_BUILDKIT_IMAGE,
  type Facts,
  planText,
  summaryLines,
} from '../../src/engine/plan.js'
import {build, type BuildInput, checkRuntimeFlags, parseRuntime} from '../../src/engine/run.js'

const DIGEST = `sha256:${'a'.repeat(64)}`
const OTHER = `sha256:${'b'.repeat(64)}`
const VERSION_OUT = 'buildah version 1.43.1 (image-spec 1.1.1, runtime-spec 1.2.1)\n'

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
    noCache: false,
    buildContexts: [],
    secrets: [],
    buildkitArgs: [],
    buildxArgs: [],
    buildkitImage: DEFAULT_BUILDKIT_IMAGE,
    rootless: false,
    sde: {epoch: 1704067200, origin: '--sde'},
    ...over,
  }
}

function facts(over: Partial<Facts> = {}): Facts {
  return {runtime: 'buildah', missingDirs: [], ociLayoutDigests: {}, assumptions: [], ...over}
}

const FIXED = [
  'buildah',
  'build',
  '--source-date-epoch=1704067200',
  '--rewrite-timestamp',
  '--layers',
  '--force-rm',
  '--isolation=oci',
  '--network=host',
]

describe('buildah version', () => {
  it('reads the version line', () => {
    assert.equal(parseBuildahVersion(VERSION_OUT), '1.43.1')
    assert.equal(parseBuildahVersion('buildah version 1.28.2 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)'), '1.28.2')
    assert.equal(parseBuildahVersion('buildah version 1.42.0-dev (image-spec 1.1.1)'), '1.42.0-dev')
    assert.equal(parseBuildahVersion('podman version 5.6.0'), undefined)
    assert.equal(parseBuildahVersion(''), undefined)
  })
  it('refuses a buildah without --source-date-epoch/--rewrite-timestamp, naming the version and the minimum', () => {
    assert.throws(
      () => checkBuildahVersion('1.28.2'),
      (e: unknown) =>
        e instanceof EngineNotFoundError &&
        e.message === 'buildah 1.28.2: --source-date-epoch and --rewrite-timestamp need buildah >= 1.41',
    )
    assert.throws(() => checkBuildahVersion('1.40.9'), EngineNotFoundError)
    assert.throws(() => checkBuildahVersion('no version here'), /cannot read a version/)
    checkBuildahVersion('1.41.0')
    checkBuildahVersion('1.43.1')
    checkBuildahVersion('2.0.0')
  })
  it('hostile version output: 2000 generated strings never crash the parser or the check with another error', () => {
    for (let i = 0; i < 2000; i++) {
      const junk = randomBytes(1 + (i % 200)).toString(i % 2 === 0 ? 'latin1' : 'base64')
      const out = i % 3 === 0 ? `buildah version ${junk}` : junk
      const v = parseBuildahVersion(out)
      if (v !== undefined) assert.match(v, /^\d+\.\d+\.\d+/)
      try {
        checkBuildahVersion(v ?? out)
      } catch (error) {
        assert.ok(error instanceof EngineNotFoundError, `unexpected ${String(error)}`)
        assert.ok(!(error as Error).message.includes('\n'), 'one line')
        assert.ok((error as Error).message.length < 300, 'bounded')
      }
    }
  })
})

describe('buildah plan', () => {
  it('one buildah build that writes the docker archive itself, then the rename', () => {
    const plan = buildPlan(options(), facts(), '7')
    assert.equal(plan.runtime, 'buildah')
    assert.deepEqual(
      plan.steps.map((s) => (s.kind === 'exec' ? s.argv : s)),
      [
        [
          ...FIXED,
          '--format=oci',
          '--file',
          '/src/app/Dockerfile',
          '--tag',
          'docker-archive:/out/.image.tar.repro-partial',
          '/src/app',
        ],
        {
          kind: 'rename',
          from: '/out/.image.tar.repro-partial',
          to: '/out/image.tar',
          why: 'publish the finished tarball',
        },
      ],
    )
    // no buildkitd.toml, no private directory, no container: nothing else to write or remove
    assert.ok(plan.steps.every((s) => s.kind === 'exec' || s.kind === 'rename'))
  })
  it('maps every build input to its buildah flag', () => {
    const plan = buildPlan(
      options({
        format: 'oci',
        tags: ['localhost/app:1'],
        buildArgs: ['A=1', 'B=two words'],
        annotations: ['org.opencontainers.image.source=https://example.invalid/app'],
        platforms: ['linux/arm64'],
        target: 'final',
        noCache: true,
        buildContexts: [
          {name: 'src', kind: 'dir', path: '/ctx/src'},
          {name: 'base', kind: 'oci-layout', path: '/layouts/base'},
          {name: 'only', kind: 'oci-layout', path: '/layouts/only', digest: OTHER},
          {name: 'img', kind: 'other', value: 'docker-image://localhost/x:1'},
        ],
        secrets: [
          {id: 'tok', src: '/run/secrets/tok', pairs: []},
          {id: 'env', env: 'API_TOKEN', pairs: []},
        ],
      }),
      facts({ociLayoutDigests: {base: DIGEST, only: OTHER}, ociLayoutRefs: {base: 'bookworm', only: ''}}),
    )
    const step = plan.steps[0]
    assert.equal(step.kind, 'exec')
    assert.deepEqual(step.kind === 'exec' && step.argv, [
      ...FIXED,
      '--format=oci',
      '--file',
      '/src/app/Dockerfile',
      '--build-arg',
      'A=1',
      '--build-arg',
      'B=two words',
      '--platform',
      'linux/arm64',
      '--target',
      'final',
      '--build-context',
      'src=/ctx/src',
      '--build-context',
      'base=docker-image://oci:/layouts/base:bookworm',
      '--build-context',
      'only=docker-image://oci:/layouts/only',
      '--build-context',
      'img=docker-image://localhost/x:1',
      '--secret',
      'id=tok,src=/run/secrets/tok',
      '--secret',
      'id=env,env=API_TOKEN',
      '--annotation',
      'org.opencontainers.image.source=https://example.invalid/app',
      '--no-cache',
      '--tag',
      'oci-archive:/out/.image.tar.repro-partial:localhost/app:1',
      '/src/app',
    ])
    assert.match(planText(plan), /'B=two words'/)
  })
  it('the summary names buildah and no BuildKit', () => {
    const f = facts({runtimeVersion: '1.43.1'})
    const lines = summaryLines(options(), f, buildPlan(options(), f))
    assert.equal(lines[1], '- Runtime: buildah 1.43.1 (native: --source-date-epoch, --rewrite-timestamp; no BuildKit)')
    assert.ok(!lines.some((l) => /BuildKit (image|pin)/.test(l)), lines.join('\n'))
  })
  it('several platforms in the docker format: one build (and tarball) per platform', () => {
    const plan = buildPlan(options({platforms: ['linux/amd64', 'linux/arm64']}), facts())
    const builds = plan.steps.flatMap((s) => (s.kind === 'exec' ? [s.argv] : []))
    assert.equal(builds.length, 2)
    assert.deepEqual(
      builds.map((a) => [a[a.indexOf('--platform') + 1], a.at(-2)]),
      [
        ['linux/amd64', 'docker-archive:/out/.image-linux-amd64.tar.repro-partial'],
        ['linux/arm64', 'docker-archive:/out/.image-linux-arm64.tar.repro-partial'],
      ],
    )
  })
})

describe('buildah options', () => {
  it('refuses what buildah cannot do, in one line naming the input', () => {
    const cases: Array<[Partial<BuildOptions>, RegExp]> = [
      [{sourcePolicy: '{}'}, /^the lock file: its source policy is enforced by BuildKit/],
      [
        {format: 'oci', platforms: ['linux/amd64', 'linux/arm64']},
        /^--platform linux\/amd64,linux\/arm64: .*one platform/,
      ],
      [{tags: ['a:1', 'b:2']}, /^--tag a:1 --tag b:2: .*one name/],
      [{output: '/out/a:b.tar'}, /^--output \/out\/a:b\.tar: buildah cannot use a path with ':'/],
      [
        {buildContexts: [{name: 'base', kind: 'oci-layout', path: '/l:x'}]},
        /^--build-context base \/l:x: buildah cannot use a path/,
      ],
    ]
    for (const [over, re] of cases) {
      assert.throws(
        () => checkBuildahOptions(options(over)),
        (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message) && !e.message.includes('\n'),
      )
    }
    checkBuildahOptions(options({format: 'oci', platforms: ['linux/arm64'], tags: ['a:1']}))
  })
  it('runtime flags of the other runtimes are errors with buildah', () => {
    assert.equal(parseRuntime('buildah'), 'buildah')
    assert.throws(() => parseRuntime('buildahh'), /expected one of docker, podman, buildkit, buildah/)
    assert.throws(
      () => checkRuntimeFlags(options({buildkitArgs: ['--x']}), facts()),
      /--buildkit-args applies to the podman and buildkit runtimes, not buildah$/,
    )
    assert.throws(() => checkRuntimeFlags(options({buildxArgs: ['--x']}), facts()), /not buildah/)
    assert.throws(() => checkRuntimeFlags(options({rootless: true}), facts()), /not buildah/)
    assert.throws(() => checkRuntimeFlags(options({builder: 'b'}), facts()), /not buildah/)
  })
})

describe('buildah probe', () => {
  const notFound = {exitCode: undefined, notFound: true, stderr: 'spawn ENOENT'}
  it('asks buildah its version and nothing else (no BuildKit to pin)', async () => {
    const exec = fakeExec(() => ({stdout: VERSION_OUT}))
    const f = await probe(options(), {runtime: 'buildah', dry: false}, exec)
    assert.deepEqual(exec.calls, [['buildah', '--version']])
    assert.equal(f.runtime, 'buildah')
    assert.equal(f.runtimeVersion, '1.43.1')
    assert.equal(f.buildkitVersion, undefined)
    assert.deepEqual(f.assumptions, [])
  })
  it('refuses Debian 12 buildah 1.28, even with --dry', async () => {
    const exec = fakeExec(() => ({stdout: 'buildah version 1.28.2 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)\n'}))
    for (const dry of [false, true]) {
      await assert.rejects(probe(options(), {runtime: 'buildah', dry}, exec), (e: unknown) => {
        assert.ok(e instanceof EngineNotFoundError)
        assert.match(e.message, /^buildah 1\.28\.2: --source-date-epoch and --rewrite-timestamp need buildah >= 1\.41$/)
        return true
      })
    }
  })
  it('no buildah: an error, or with --dry an assumption said out loud', async () => {
    await assert.rejects(
      probe(
        options(),
        {runtime: 'buildah', dry: false},
        fakeExec(() => notFound),
      ),
      /buildah is not usable: buildah: not found in PATH$/,
    )
    const f = await probe(
      options(),
      {runtime: 'buildah', dry: true},
      fakeExec(() => notFound),
    )
    assert.deepEqual(f.assumptions, ['buildah is not usable: buildah: not found in PATH; assuming buildah >= 1.41'])
  })
  it('is never picked without --runtime buildah', async () => {
    const exec = fakeExec(() => notFound)
    await assert.rejects(probe(options(), {dry: false}, exec))
    assert.ok(exec.calls.every((c) => c[0] !== 'buildah'))
  })
})

describe('buildah oci-layout contexts', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-buildah-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })
  async function layout(name: string, index: unknown): Promise<string> {
    const d = path.join(dir, name)
    await mkdir(d, {recursive: true})
    await writeFile(path.join(d, 'index.json'), typeof index === 'string' ? index : JSON.stringify(index))
    return d
  }
  const refName = (r: string) => ({'org.opencontainers.image.ref.name': r})

  it('the only image: no name; one of several: its ref name', async () => {
    const one = await layout('one', {schemaVersion: 2, manifests: [{digest: DIGEST}]})
    const two = await layout('two', {
      schemaVersion: 2,
      manifests: [
        {digest: DIGEST, annotations: refName('1')},
        {digest: OTHER, annotations: refName('bookworm')},
      ],
    })
    const o = options({
      buildContexts: [
        {name: 'a', kind: 'oci-layout', path: one},
        {name: 'b', kind: 'oci-layout', path: two, digest: OTHER},
      ],
    })
    assert.deepEqual(await ociLayoutRefs(o, facts({ociLayoutDigests: {a: DIGEST}})), {a: '', b: 'bookworm'})
  })
  it('refuses a pinned digest that is not there, or that has no name of its own', async () => {
    const two = await layout('noname', {
      manifests: [{digest: DIGEST}, {digest: OTHER, annotations: refName('x')}],
    })
    const ctx = (digest: string) => options({buildContexts: [{name: 'b', kind: 'oci-layout', path: two, digest}]})
    await assert.rejects(ociLayoutRefs(ctx(DIGEST), facts()), /--build-context b: .* has no ref name of its own/)
    await assert.rejects(
      ociLayoutRefs(ctx(`sha256:${'c'.repeat(64)}`), facts()),
      /--build-context b: .*index\.json holds no image sha256:c{64}$/,
    )
  })
  it('hostile index.json files give one-line errors, fast', async () => {
    const bodies: unknown[] = [
      '',
      '{',
      'null',
      '[]',
      '{"manifests": "x"}',
      '{"manifests": [null, 1, "x", {"digest": 5}]}',
      `{"manifests": ${'['.repeat(5000)}${']'.repeat(5000)}}`,
      {manifests: Array.from({length: 20000}, (_, i) => ({digest: `sha256:${String(i).padStart(64, '0')}`}))},
      {manifests: [{digest: DIGEST, annotations: refName('../../etc')}, {digest: OTHER}]},
      {manifests: [{digest: DIGEST, annotations: refName('a:b')}, {digest: OTHER}]},
      {
        manifests: [
          {digest: DIGEST, annotations: refName('x')},
          {digest: OTHER, annotations: refName('x')},
        ],
      },
    ]
    const t0 = Date.now()
    for (const [i, body] of bodies.entries()) {
      const d = await layout(`hostile-${i}`, body)
      await assert.rejects(
        ociLayoutRefs(options({buildContexts: [{name: 'h', kind: 'oci-layout', path: d, digest: DIGEST}]}), facts()),
        (e: unknown) =>
          e instanceof InvalidArgumentError && e.message.startsWith('--build-context h: ') && !e.message.includes('\n'),
        `case ${i}`,
      )
    }
    assert.ok(Date.now() - t0 < 10_000, 'bounded time')
  })
  it('repro build --runtime buildah --dry: the plan, and only the version probe ran', async () => {
    const base = await layout('base', {schemaVersion: 2, manifests: [{digest: DIGEST, annotations: refName('1')}]})
    const ctx = path.join(dir, 'ctx')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\n')
    const input: BuildInput = {
      cwd: dir,
      context: 'ctx',
      output: 'out/image.tar',
      format: 'docker',
      tags: [],
      buildArgs: [],
      annotations: [],
      platforms: [],
      noCache: true,
      buildContexts: [`base=oci-layout://${base}`],
      secrets: [],
      rootless: false,
      runtime: 'buildah',
      sdeFromGit: false,
      sde: '0',
      dry: true,
      env: {},
    }
    const exec = fakeExec(() => ({stdout: VERSION_OUT}))
    const r = await build(input, {exec, logger: silentLogger})
    assert.equal(r.runtime, 'buildah')
    assert.equal(r.runtimeVersion, '1.43.1')
    assert.equal(r.buildkitImage, undefined)
    assert.deepEqual(r.commands, [
      `mkdir -p ${dir}/out`,
      `buildah build --source-date-epoch=0 --rewrite-timestamp --layers --force-rm --isolation=oci --network=host --format=oci --file ${ctx}/Dockerfile --build-context base=docker-image://oci:${base} --no-cache --tag docker-archive:${dir}/out/.image.tar.repro-partial ${ctx}`,
      `mv -f ${dir}/out/.image.tar.repro-partial ${dir}/out/image.tar`,
    ])
    assert.deepEqual(exec.calls, [['buildah', '--version']])
    await assert.rejects(readFile(path.join(dir, 'out')), {code: 'ENOENT'})
  })
})
