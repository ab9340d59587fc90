/**
 * `repro lock` against real local servers: the fake registry (written from the distribution spec, not our
 * client), a node http server for ADD URLs, and `git daemon` serving a real repository. Lock files the
 * reader must refuse are generated here (python3 writes the YAML, not our writer).
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {fakeExec, realExec} from '../../src/exec.js'
import {lock, type LockOptions} from '../../src/lock/index.js'
import {LockFileError, parseLock, readLockFile} from '../../src/lock/format.js'
import {checkLockCovers, lockPolicy} from '../../src/lock/policy.js'
import {resolveStoreImage, targetInputs} from '../../src/lock/resolve.js'
import {runCli} from '../support/cli.js'
import {FakeRegistry} from '../support/fake-registry.js'

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** An index with two platform manifests (hand-written JSON), pushed under repo:tag. */
function pushIndex(
  reg: FakeRegistry,
  repo: string,
  tag: string,
  salt: string,
): {index: string; amd64: string; arm64: string} {
  const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', salt}))
  const configDigest = reg.putBlob(repo, config)
  const manifest = (arch: string): Buffer =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length},
        layers: [],
        annotations: {arch},
      }),
    )
  const ma = manifest('amd64')
  const mb = manifest('arm64')
  const amd64 = reg.putManifest(repo, sha(ma), ma, OCI_MANIFEST)
  const arm64 = reg.putManifest(repo, sha(mb), mb, OCI_MANIFEST)
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {mediaType: OCI_MANIFEST, digest: amd64, size: ma.length, platform: {os: 'linux', architecture: 'amd64'}},
        {
          mediaType: OCI_MANIFEST,
          digest: arm64,
          size: mb.length,
          platform: {os: 'linux', architecture: 'arm64', variant: 'v8'},
        },
      ],
    }),
  )
  return {index: reg.putManifest(repo, tag, index, OCI_INDEX), amd64, arm64}
}

describe('repro lock (local registry, http server, git daemon)', () => {
  const reg = new FakeRegistry()
  let dir: string
  let server: http.Server
  let httpPort = 0
  let served = Buffer.from('first bytes\n')
  let gitd: ChildProcess
  let gitPort = 0
  let commit1 = ''
  let pins: {index: string; amd64: string; arm64: string}

  before(async () => {
    await reg.start()
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lock-'))
    pins = pushIndex(reg, 'lib/base', '1', 'one')
    server = http.createServer((req, res) => {
      if (req.url === '/file') res.writeHead(200, {'content-length': served.length}).end(served)
      else res.writeHead(404).end('no')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    httpPort = (server.address() as AddressInfo).port
    // a real repository behind git daemon
    const repo = path.join(dir, 'git', 'r.git')
    const work = path.join(dir, 'work')
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', args, {
        cwd,
        env: {...process.env, GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z'},
      })
        .toString()
        .trim()
    execFileSync('git', ['init', '-q', '--bare', repo])
    execFileSync('git', ['init', '-q', '-b', 'main', work])
    await writeFile(path.join(work, 'a'), 'a\n')
    git(work, 'add', 'a')
    git(work, '-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-qm', 'one')
    git(work, 'push', '-q', repo, 'main')
    git(work, 'tag', '-a', 'v1', '-m', 'v1')
    git(work, 'push', '-q', repo, 'v1')
    commit1 = git(work, 'rev-parse', 'HEAD')
    gitPort = 20000 + Math.floor(Math.random() * 20000)
    gitd = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        '--export-all',
        `--base-path=${path.join(dir, 'git')}`,
        '--listen=127.0.0.1',
        `--port=${gitPort}`,
        path.join(dir, 'git'),
      ],
      {stdio: 'ignore'},
    )
    for (let i = 0; i < 50; i++) {
      const ok = await realExec(['git', 'ls-remote', `git://127.0.0.1:${gitPort}/r.git`], {
        reject: false,
        timeoutMs: 5000,
      })
      if (ok.exitCode === 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    await writeFile(
      path.join(dir, 'Dockerfile'),
      [
        'ARG TAG=1',
        `FROM ${reg.host}/lib/base:\${TAG} AS b`,
        `ADD http://127.0.0.1:${httpPort}/file /file`,
        `ADD git://127.0.0.1:${gitPort}/r.git#v1 /src`,
        'FROM scratch',
        'COPY --from=b /file /file',
        '',
      ].join('\n'),
    )
  })

  after(async () => {
    gitd?.kill()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await reg.stop()
    await rm(dir, {recursive: true, force: true})
  })

  const options = (extra: Partial<LockOptions> = {}): LockOptions => ({
    context: dir,
    dockerfile: path.join(dir, 'Dockerfile'),
    buildArgs: [],
    platforms: [],
    buildContexts: [],
    hashfiles: [],
    sde: {epoch: 0, origin: '--sde'},
    buildkitImage: 'moby/buildkit:v0.32.2@sha256:' + 'a'.repeat(64),
    mode: 'write',
    names: [],
    ...extra,
  })
  const deps = {exec: realExec}
  const lockPath = () => path.join(dir, 'repro.lock.yaml')

  it('pins the image (index + per-platform digests), the URL (sha256) and the git ref (commit); same bytes twice', async () => {
    const r = await lock(options(), deps)
    assert.equal(r.written, true)
    assert.equal(r.inputs, 3)
    const text = await readFile(lockPath(), 'utf8')
    assert.match(text, /^# repro.lock.yaml/)
    const {lock: l} = await readLockFile(lockPath())
    const key = `${reg.host}/lib/base:1`
    assert.equal(l.images[key].digest, pins.index)
    assert.deepEqual(l.images[key].platforms, {'linux/amd64': pins.amd64, 'linux/arm64/v8': pins.arm64})
    assert.deepEqual(l.images[key].uses, ['FROM line 2'])
    assert.equal(l.urls[`http://127.0.0.1:${httpPort}/file`].checksum, sha(served))
    assert.equal(l.git[`git://127.0.0.1:${gitPort}/r.git#v1`].commit, commit1)
    assert.deepEqual(l.buildArgs, {TAG: '1'}, 'the default the lock was made with')
    assert.deepEqual(l.sourceDateEpoch, {epoch: 0, source: '--sde'})
    // deterministic: a fresh lock from scratch gives the same bytes
    await rm(lockPath())
    const again = await lock(options({mode: 'update'}), deps)
    assert.equal(await readFile(lockPath(), 'utf8'), text)
    assert.equal(again.sha256, sha(text))
    const third = await lock(options(), deps)
    assert.equal(third.written, false)
    // keys are sorted at every level
    const top = text
      .split('\n')
      .filter((line) => /^[a-zA-Z]/.test(line))
      .map((line) => line.split(':')[0])
    assert.deepEqual(top, [...top].sort())
    // no temp files left behind
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    )
  })

  it('--check: 0 changes when nothing moved; old -> new per input when the tag and the bytes move', async () => {
    await lock(options({mode: 'update'}), deps)
    assert.deepEqual((await lock(options({mode: 'check'}), deps)).changes, [])
    const before = await readFile(lockPath())
    const moved = pushIndex(reg, 'lib/base', '1', 'two')
    served = Buffer.from('second bytes\n')
    try {
      const r = await lock(options({mode: 'check'}), deps)
      assert.deepEqual(
        r.changes.map((c) => [c.section, c.name, c.old, c.new, c.uses]),
        [
          ['images', `${reg.host}/lib/base:1`, pins.index, moved.index, ['FROM line 2']],
          ['urls', `http://127.0.0.1:${httpPort}/file`, sha('first bytes\n'), sha('second bytes\n'), ['ADD line 3']],
        ],
      )
      assert.deepEqual(await readFile(lockPath()), before, '--check writes nothing')
      // --update NAME re-resolves that input only
      await lock(options({mode: 'update', names: [`${reg.host}/lib/base:1`]}), deps)
      const {lock: l} = await readLockFile(lockPath())
      assert.equal(l.images[`${reg.host}/lib/base:1`].digest, moved.index)
      await assert.rejects(
        lock(options({mode: 'update', names: ['nosuch:1']}), deps),
        /--update nosuch:1: not an input of this build \(inputs: /,
      )
      assert.equal(l.urls[`http://127.0.0.1:${httpPort}/file`].checksum, sha('first bytes\n'))
      // the CLI: exit 1 naming the URL with old -> new, then 0 after --update
      const cli = await runCli(['lock', '--check', dir])
      assert.equal(cli.code, 1, cli.stderr)
      assert.match(
        cli.stdout,
        new RegExp(
          `urls http://127.0.0.1:${httpPort}/file \\(ADD line 3\\): ${sha('first bytes\n')} -> ${sha('second bytes\n')}`,
        ),
      )
      assert.equal((await runCli(['lock', '--update', dir])).code, 0)
      const ok = await runCli(['lock', '--check', '--json', dir])
      assert.equal(ok.code, 0, ok.stderr)
      assert.deepEqual(JSON.parse(ok.stdout).changes, [])
    } finally {
      pins = pushIndex(reg, 'lib/base', '1', 'one')
      served = Buffer.from('first bytes\n')
    }
  })

  it('a tag that does not exist, a URL that fails, a git ref that is missing: exit 2 naming the input, no lock written', async () => {
    await rm(lockPath(), {force: true})
    const bad = async (args: string[], pattern: RegExp) => {
      const r = await lock(options({buildArgs: args}), deps).then(
        () => undefined,
        (error: Error & {exitCode?: number}) => error,
      )
      assert.ok(r, 'expected an error')
      assert.equal(r.exitCode, 2)
      assert.match(r.message, pattern)
      await assert.rejects(readFile(lockPath()), /ENOENT/)
    }
    await bad(['TAG=nope'], new RegExp(`${reg.host}/lib/base:nope`))
    // an unreachable registry: a port that was just closed
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const deadPort = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    const df0 = await readFile(path.join(dir, 'Dockerfile'), 'utf8')
    try {
      await writeFile(
        path.join(dir, 'Dockerfile'),
        df0.replace(`${reg.host}/lib/base`, `127.0.0.1:${deadPort}/lib/base`),
      )
      await bad([], new RegExp(`127\\.0\\.0\\.1:${deadPort}/lib/base:1.*connection refused`))
    } finally {
      await writeFile(path.join(dir, 'Dockerfile'), df0)
    }
    const df = await readFile(path.join(dir, 'Dockerfile'), 'utf8')
    try {
      await writeFile(path.join(dir, 'Dockerfile'), df.replace('/file /file', '/missing /file'))
      await bad([], new RegExp(`ADD http://127.0.0.1:${httpPort}/missing: HTTP 404`))
      await writeFile(path.join(dir, 'Dockerfile'), df.replace('#v1', '#nosuch'))
      await bad([], /r\.git#nosuch: the remote has no ref "nosuch"/)
    } finally {
      await writeFile(path.join(dir, 'Dockerfile'), df)
    }
    const cli = await runCli(['lock', '--build-arg', 'TAG=nope', dir])
    assert.equal(cli.code, 2)
    assert.match(cli.stderr, /lib\/base:nope/)
  })

  it('the policy: CONVERT to the locked digest, http.checksum, git commit; --locked denies the rest', async () => {
    await lock(options({mode: 'update'}), deps)
    const {lock: l} = await readLockFile(lockPath())
    const p = lockPolicy(l, {locked: false})
    assert.deepEqual(p.rules, [
      {
        action: 'CONVERT',
        selector: {identifier: `docker-image://${reg.host}/lib/base:1`, match_type: 'EXACT'},
        updates: {identifier: `docker-image://${reg.host}/lib/base:1@${pins.index}`},
      },
      {
        action: 'CONVERT',
        selector: {identifier: `http://127.0.0.1:${httpPort}/file`, match_type: 'EXACT'},
        updates: {attrs: {'http.checksum': sha(served)}},
      },
      {
        action: 'CONVERT',
        selector: {identifier: `git://127.0.0.1:${gitPort}/r.git#v1`, match_type: 'EXACT'},
        updates: {identifier: `git://127.0.0.1:${gitPort}/r.git#${commit1}`},
      },
    ])
    const locked = lockPolicy(l, {locked: true}).rules
    assert.equal(locked[0].action, 'DENY')
    assert.deepEqual(
      locked.slice(-3).map((r) => r.selector.identifier),
      [
        `docker-image://${reg.host}/lib/base:1@${pins.index}`,
        `http://127.0.0.1:${httpPort}/file`,
        `git://127.0.0.1:${gitPort}/r.git#${commit1}`,
      ],
    )
    // the lock covers this Dockerfile; with another tag it does not, and the message names the FROM
    checkLockCovers(l, lockPath(), await targetInputs(options()), 0)
    assert.throws(
      () => checkLockCovers(l, lockPath(), awaitInputs, 0),
      new RegExp(`does not lock FROM ${reg.host}/lib/base:2 \\(line 2\\)`),
    )
    assert.throws(() => checkLockCovers(l, lockPath(), inputsNow, 5), /SOURCE_DATE_EPOCH 5 differs from the 0/)
  })

  it('named contexts: docker-image:// through the registry, oci-layout:// by its manifest digest; hash files by sha256', async () => {
    const ctx = path.join(dir, 'ctx-named')
    const layout = path.join(ctx, 'layout')
    await mkdir(layout, {recursive: true})
    const manifestDigest = `sha256:${'9'.repeat(64)}`
    await writeFile(
      path.join(layout, 'index.json'),
      JSON.stringify({schemaVersion: 2, manifests: [{mediaType: OCI_MANIFEST, digest: manifestDigest, size: 10}]}),
    )
    await writeFile(path.join(ctx, 'SHA256SUMS'), 'abc  pkg.deb\n')
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\nCOPY --from=tools / /t\nCOPY --from=dir / /d\n')
    const r = await lock(
      options({
        context: ctx,
        dockerfile: path.join(ctx, 'Dockerfile'),
        buildContexts: [`base=oci-layout://${layout}`, `tools=docker-image://${reg.host}/lib/base:1`, `dir=${ctx}`],
        hashfiles: [path.join(ctx, 'SHA256SUMS')],
        mode: 'update',
      }),
      deps,
    )
    assert.equal(r.inputs, 3)
    const {lock: l} = await readLockFile(path.join(ctx, 'repro.lock.yaml'))
    assert.deepEqual(l.contexts, {base: {source: 'oci-layout://layout', pinned: manifestDigest}})
    assert.equal(l.images[`${reg.host}/lib/base:1`].digest, pins.index)
    assert.deepEqual(l.images[`${reg.host}/lib/base:1`].uses, ['--build-context tools'])
    assert.deepEqual(l.hashfiles, {SHA256SUMS: sha('abc  pkg.deb\n')})
  })

  it("repro's staged contexts (repro-pkgs, repro-snapshot) are local, never images to resolve", async () => {
    const ctx = path.join(dir, 'ctx-staged')
    await mkdir(ctx, {recursive: true})
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM ${reg.host}/lib/base:1\nRUN --mount=from=repro-snapshot,target=/s --mount=from=repro-pkgs,target=/repro /repro/install\n`,
    )
    const t = options({context: ctx, dockerfile: path.join(ctx, 'Dockerfile'), mode: 'update'})
    const inputs = await targetInputs(t)
    assert.deepEqual(
      inputs.images.map((i) => i.ref),
      [`${reg.host}/lib/base:1`],
    )
    assert.deepEqual(inputs.contextsUsed, ['repro-pkgs', 'repro-snapshot'])
    const r = await lock(t, deps)
    assert.equal(r.inputs, 1)
    const {lock: l} = await readLockFile(path.join(ctx, 'repro.lock.yaml'))
    checkLockCovers(l, 'repro.lock.yaml', inputs, 0)
  })

  let awaitInputs: Awaited<ReturnType<typeof targetInputs>>
  let inputsNow: Awaited<ReturnType<typeof targetInputs>>
  before(async () => {
    awaitInputs = await targetInputs({...options(), buildArgs: ['TAG=2']})
    inputsNow = await targetInputs(options())
  })
})

describe('docker:// and podman:// contexts', () => {
  it('an image with a registry digest is locked to it; one without is refused with the reason', async () => {
    const d = 'sha256:' + 'e'.repeat(64)
    const withDigest = fakeExec(() => ({stdout: `["127.0.0.1:5000/app@${d}"]\n`}))
    assert.deepEqual(await resolveStoreImage('base', 'docker', 'app:1', {exec: withDigest}), {
      source: 'docker://app:1',
      pinned: `127.0.0.1:5000/app@${d}`,
    })
    assert.deepEqual(withDigest.calls, [['docker', 'image', 'inspect', '--format', '{{json .RepoDigests}}', 'app:1']])
    // podman names every image localhost/NAME@DIGEST, pushed or not: that is no registry
    const localOnly = fakeExec(() => ({stdout: `["localhost/app@${d}"]\n`}))
    await assert.rejects(
      resolveStoreImage('base', 'podman', 'localhost/app:1', {exec: localOnly}),
      /no registry digest/,
    )
    const without = fakeExec(() => ({stdout: '[]\n'}))
    await assert.rejects(
      resolveStoreImage('base', 'podman', 'localhost/app:1', {exec: without}),
      /--build-context base=podman:\/\/localhost\/app:1: the image has no registry digest \(no RepoDigests outside localhost\/\)/,
    )
  })
})

describe('hostile lock files', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lock-hostile-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  // written by python3 (an independent writer), one file per case
  const cases: Array<[string, string, RegExp]> = [
    ['not-yaml', 'print("a: [1, 2")', /not valid YAML/],
    ['list', 'print("- 1\\n- 2")', /the document: expected a mapping, got a list/],
    [
      'version',
      'print("schemaVersion: 99\\ndockerfile: D\\nbuildkit: {image: x}")',
      /schemaVersion 99 is not supported/,
    ],
    ['no-version', 'print("dockerfile: D")', /schemaVersion undefined is not supported/],
    [
      'bad-digest',
      'print("schemaVersion: 1\\ndockerfile: D\\nbuildkit: {image: x}\\nimages:\\n  a:1: {digest: sha256:zz, mediaType: m, uses: []}")',
      /images\.a:1\.digest: "sha256:zz" is not valid/,
    ],
    [
      'wrong-type',
      'print("schemaVersion: 1\\ndockerfile: [1]\\nbuildkit: {image: x}")',
      /dockerfile: expected a string, got a list/,
    ],
    [
      'unknown-field',
      'print("schemaVersion: 1\\ndockerfile: D\\nbuildkit: {image: x}\\nevil: 1")',
      /unknown field "evil"/,
    ],
    ['huge', 'print("schemaVersion: 1\\n#" + "x" * (2 * 1024 * 1024))', /larger than 1048576 bytes/],
    [
      'alias-bomb',
      'print("a: &a [x,x,x,x,x,x,x,x,x]\\n" + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\\n" for p, c in zip("abcdefgh", "bcdefghi")) + "schemaVersion: 1")',
      // anchors are refused, or the nesting they build up is, whichever the walk meets first
      /anchors\/aliases|nested deeper/,
    ],
    [
      'alias',
      'print("schemaVersion: 1\\nimages:\\n  a:1: &x {digest: d, mediaType: m, uses: []}\\n  b:1: *x")',
      /anchors\/aliases/,
    ],
    ['deep', 'print("schemaVersion: 1\\nplatforms: " + "[" * 500 + "]" * 500)', /nested deeper|nesting exceeded/],
    ['not-utf8', 'import sys; sys.stdout.buffer.write(b"schemaVersion: 1\\ndockerfile: \\xff\\xfe\\n")', /not UTF-8/],
    ['dup-keys', 'print("schemaVersion: 1\\nschemaVersion: 1")', /not valid YAML.*duplicate/],
    [
      'git-commit',
      'print("schemaVersion: 1\\ndockerfile: D\\nbuildkit: {image: x}\\ngit:\\n  u: {url: u, commit: HEAD, uses: []}")',
      /git\.u\.commit: "HEAD" is not valid/,
    ],
    [
      'merge-key',
      'print("schemaVersion: 1\\ndockerfile: D\\nbuildkit: {image: x}\\nurls:\\n  u: {<<: {checksum: x}, size: 1, uses: []}")',
      /urls\.u/,
    ],
  ]
  for (const [name, py, pattern] of cases) {
    it(`refuses ${name} with one error naming the file, in bounded time`, async () => {
      const file = path.join(dir, `${name}.yaml`)
      await writeFile(file, execFileSync('python3', ['-c', py], {maxBuffer: 8 * 1024 * 1024}))
      const t = performance.now()
      await assert.rejects(readLockFile(file), (error: Error) => {
        assert.ok(error instanceof LockFileError, String(error))
        assert.ok(error.message.startsWith(`${file}: `), error.message)
        assert.match(error.message, pattern)
        assert.equal(error.message.includes('\n'), false)
        return true
      })
      assert.ok(performance.now() - t < 2000, `${name} took ${performance.now() - t} ms`)
    })
  }

  it('a lock file through the CLI: exit 2 naming the file', async () => {
    const ctx = await mkdtemp(path.join(dir, 'ctx-'))
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n')
    await writeFile(path.join(ctx, 'repro.lock.yaml'), 'schemaVersion: "1"\n')
    const r = await runCli(['lock', '--check', ctx])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /repro\.lock\.yaml: schemaVersion "1" is not supported/)
  })

  it('parseLock reads what serializeLock wrote for every field', () => {
    const text = `schemaVersion: 1\ndockerfile: Dockerfile\ntarget: null\nplatforms: [linux/amd64]\nbuildArgs: {A: null, B: "2"}\nsourceDateEpoch: {epoch: 3, source: --sde}\nbuildkit: {image: i}\nfrontend: {}\nimages: {}\nurls: {}\ngit: {}\ncontexts: {c: {source: "oci-layout://l", pinned: "sha256:${'1'.repeat(64)}"}}\nhashfiles: {h: "sha256:${'2'.repeat(64)}"}\n`
    const l = parseLock(Buffer.from(text), 'x.yaml')
    assert.deepEqual(l.buildArgs, {A: null, B: '2'})
    assert.equal(l.contexts.c.source, 'oci-layout://l')
  })
})
