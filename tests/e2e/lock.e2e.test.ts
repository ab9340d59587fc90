/**
 * `repro lock` and builds that follow it, on real engines from the test bed, against the test bed's registry
 * (127.0.0.1:5000), a node http server and `git daemon` on 127.0.0.1:
 * - the busybox base pushed as a unique repo :1; lock; build → D; :1 re-pointed at another image:
 *   `lock --check` exits 1 naming the FROM (old → new); the build with the lock still gives D, byte for byte;
 *   without the lock the digest differs;
 * - ADD http://127.0.0.1:PORT/file: lock, change the bytes, the build fails with a checksum error naming the
 *   URL; `lock --update`, then it builds;
 * - ADD git://127.0.0.1:PORT/r.git#main locked to a commit: a new commit on main does not change the build;
 * - `--locked` with a FROM the lock does not list: exit 2 naming it, no engine started;
 * - the lock file is byte-identical across two runs.
 * REPRO_LOCK_E2E_RUNTIMES (default buildkit,docker,podman) picks the runtimes.
 */
import assert from 'node:assert/strict'
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {runCli} from '../support/cli.js'
import {readTestbedState} from '../support/testbed.js'

const VERSION = 'v0.32.2'
const RUNTIMES = (process.env.REPRO_LOCK_E2E_RUNTIMES ?? 'buildkit,docker,podman').split(',').filter(Boolean)

interface State {
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
  registry: {address: string; ok: boolean}
  buildkit: {versions: Record<string, {running?: boolean; host: string; buildctl?: string; image?: {name: string}}>}
  images: {busybox: {ociLayout: string; ociRef: string}; debian: {ociLayout: string; ociRef: string}}
}

interface BuildJson {
  outputs: Array<{digest: string; archiveSha256: string}>
  lock?: {path: string; sha256: string; locked: boolean; inputs: Record<string, string>}
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...args], {
    cwd,
    env: {...process.env, GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z'},
  })
    .toString()
    .trim()

describe('repro lock on real engines', () => {
  let state: State
  let dir: string
  let env: Record<string, string>
  let server: http.Server
  let port = 0
  let served = Buffer.from('served bytes, version 1\n')
  let gitd: ChildProcess | undefined
  let gitPort = 0
  let work = ''
  const runtimeArgs: Record<string, string[]> = {}
  const found: Record<string, Record<string, string>> = {}

  const skopeo = (layout: string, ref: string, dest: string): void => {
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${ref}`, `docker://${dest}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
  }

  before(async () => {
    state = readTestbedState<State>()
    const bk = state.buildkit.versions[VERSION]
    assert.ok(state.registry.ok, 'test bed: the registry is not up')
    assert.ok(bk?.image?.name, `test bed: no BuildKit ${VERSION} image`)
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lock-e2e-'))
    env = {DOCKER_HOST: state.docker.host, PATH: `${path.dirname(bk.buildctl ?? '')}:${process.env.PATH}`}
    runtimeArgs.buildkit = ['--runtime', 'buildkit', '--buildkit-addr', bk.host]
    runtimeArgs.docker = ['--runtime', 'docker', '--buildkit-image', bk.image.name]
    runtimeArgs.podman = ['--runtime', 'podman', '--buildkit-image', bk.image.name]
    server = http.createServer((req, res) => {
      if (req.url === '/file') res.writeHead(200, {'content-length': served.length}).end(served)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
    // a git repository behind git daemon
    const base = path.join(dir, 'git')
    await mkdir(base)
    execFileSync('git', ['init', '-q', '--bare', path.join(base, 'r.git')])
    work = path.join(dir, 'work')
    execFileSync('git', ['init', '-q', '-b', 'main', work])
    await writeFile(path.join(work, 'a.txt'), 'one\n')
    git(work, 'add', 'a.txt')
    git(work, 'commit', '-qm', 'one')
    git(work, 'push', '-q', path.join(base, 'r.git'), 'main')
    gitPort = 20000 + Math.floor(Math.random() * 20000)
    gitd = spawn(
      'git',
      ['daemon', '--reuseaddr', '--export-all', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${gitPort}`, base],
      {stdio: 'ignore'},
    )
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('git', ['ls-remote', `git://127.0.0.1:${gitPort}/r.git`], {stdio: 'ignore', timeout: 5000})
        break
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  })

  after(async () => {
    gitd?.kill()
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
    if (dir) await rm(dir, {recursive: true, force: true})
    console.log(`lock e2e digests:\n${JSON.stringify(found, null, 2)}`)
  })

  const repro = (args: string[]) => runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})

  async function buildJson(runtime: string, ctx: string, out: string, extra: string[] = []): Promise<BuildJson> {
    const args = ['build', ...runtimeArgs[runtime], '--no-cache', '--sde', '0', '--json', '-o', out, ...extra, ctx]
    const r = await repro(args)
    assert.equal(r.code, 0, `repro ${args.join(' ')}: exit ${r.code}\n${r.stderr.slice(-3000)}`)
    return JSON.parse(r.stdout) as BuildJson
  }

  it('docker:// and podman:// contexts: locked by their registry digest, refused without one', async () => {
    const ctx = path.join(dir, 'store')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\nCOPY Dockerfile /x\n')
    const local = 'localhost/repro-testbed/busybox:1'
    for (const store of ['docker', 'podman']) {
      const r = await repro(['lock', '--build-context', `base=${store}://${local}`, ctx])
      assert.equal(r.code, 2, `${store}: ${r.stderr}`)
      assert.match(r.stderr, new RegExp(`--build-context base=${store}://${local}: the image has no registry digest`))
      assert.ok(!existsSync(path.join(ctx, 'repro.lock.yaml')), 'nothing written')
    }
    // pulled from the registry, docker records where it came from
    const pulled = `${state.registry.address}/repro-test-15-${randomBytes(4).toString('hex')}-store/busybox:1`
    skopeo(state.images.busybox.ociLayout, state.images.busybox.ociRef, pulled)
    execFileSync('docker', ['pull', '--quiet', pulled], {env: {...process.env, ...env}, stdio: 'ignore'})
    try {
      const r = await repro(['lock', '--build-context', `base=docker://${pulled}`, ctx])
      assert.equal(r.code, 0, r.stderr)
      const text = await readFile(path.join(ctx, 'repro.lock.yaml'), 'utf8')
      const repo = pulled.slice(0, pulled.lastIndexOf(':'))
      assert.ok(text.includes(`pinned: ${repo}@sha256:`), text)
    } finally {
      execFileSync('docker', ['rmi', pulled], {env: {...process.env, ...env}, stdio: 'ignore'})
    }
  })

  it('repro verify: the attestation records the lock file (sha256) and every locked input', async () => {
    const ctx = path.join(dir, 'verify')
    await mkdir(ctx, {recursive: true})
    const ref = `${state.registry.address}/repro-test-15-${randomBytes(4).toString('hex')}-verify/busybox:1`
    skopeo(state.images.busybox.ociLayout, state.images.busybox.ociRef, ref)
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${ref}\nCOPY Dockerfile /x\n`)
    assert.equal((await repro(['lock', '--sde', '0', ctx])).code, 0)
    const lockBytes = await readFile(path.join(ctx, 'repro.lock.yaml'))
    const attest = path.join(dir, 'verify-attestation.json')
    const r = await repro(['verify', ...runtimeArgs.buildkit, '--sde', '0', '--times', '2', '--attest', attest, ctx])
    assert.equal(r.code, 0, r.stderr.slice(-2000))
    const statement = JSON.parse(await readFile(attest, 'utf8')) as {
      predicate: {inputs: {lock: {path: string; sha256: string; locked: boolean; inputs: Record<string, string>}}}
    }
    const l = statement.predicate.inputs.lock
    assert.equal(l.path, 'repro.lock.yaml')
    assert.equal(l.sha256, `sha256:${createHash('sha256').update(lockBytes).digest('hex')}`)
    assert.match(l.inputs[`images/${ref}`], /^sha256:[a-f0-9]{64}$/)
  })

  for (const runtime of RUNTIMES) {
    describe(runtime, () => {
      const tag = `repro-test-15-${randomBytes(4).toString('hex')}-${runtime}/busybox`
      let ref = ''
      let app = ''
      let url = ''
      let gitCtx = ''

      before(async () => {
        if (runtime === 'docker') assert.ok(state.docker.ok, 'test bed: docker is not ok')
        if (runtime === 'podman') assert.ok(state.podman.ok, 'test bed: podman is not ok')
        if (runtime === 'buildkit')
          assert.ok(state.buildkit.versions[VERSION].running, `buildkitd ${VERSION} is not running`)
        ref = `${state.registry.address}/${tag}:1`
        skopeo(state.images.busybox.ociLayout, state.images.busybox.ociRef, ref)
        app = path.join(dir, `app-${runtime}`)
        await mkdir(app)
        await writeFile(path.join(app, 'Dockerfile'), `FROM ${ref}\nCOPY hello.txt /hello.txt\n`)
        await writeFile(path.join(app, 'hello.txt'), 'hello\n')
        url = path.join(dir, `url-${runtime}`)
        await mkdir(url)
        await writeFile(path.join(url, 'Dockerfile'), `FROM scratch\nADD http://127.0.0.1:${port}/file /file\n`)
        gitCtx = path.join(dir, `git-${runtime}`)
        await mkdir(gitCtx)
        await writeFile(
          path.join(gitCtx, 'Dockerfile'),
          `FROM scratch\nADD git://127.0.0.1:${gitPort}/r.git#main /src\n`,
        )
      })

      it('FROM: lock twice gives the same bytes; a build with the lock keeps D after the tag moves; without it the digest differs', async () => {
        const lockFile = path.join(app, 'repro.lock.yaml')
        const r1 = await repro(['lock', '--sde', '0', app])
        assert.equal(r1.code, 0, r1.stderr)
        const first = await readFile(lockFile)
        await rm(lockFile)
        assert.equal((await repro(['lock', '--sde', '0', app])).code, 0)
        assert.deepEqual(await readFile(lockFile), first, 'two runs of repro lock wrote different bytes')
        assert.equal((await repro(['lock', '--check', app])).code, 0, 'nothing moved yet')

        const d = await buildJson(runtime, app, path.join(dir, `${runtime}-d.tar`))
        assert.ok(d.lock, 'the build result names the lock it used')
        assert.equal(d.lock.path, lockFile)
        assert.match(d.lock.sha256, /^sha256:[a-f0-9]{64}$/)
        const old = d.lock.inputs[`images/${ref}`]
        assert.match(old, /^sha256:[a-f0-9]{64}$/)

        // re-point :1 at another image
        skopeo(state.images.debian.ociLayout, state.images.debian.ociRef, ref)
        const check = await repro(['lock', '--check', app])
        assert.equal(check.code, 1, check.stderr)
        const moved = new RegExp(
          `images ${ref.replaceAll('.', '\\.')} \\(FROM line 1\\): ${old} -> (sha256:[a-f0-9]{64})`,
        )
        assert.match(check.stdout, moved)
        const now = moved.exec(check.stdout)![1]
        assert.notEqual(now, old)

        // --locked: DENY everything, ALLOW what the lock pins and the local contexts; BuildKit must still build
        const again = await buildJson(runtime, app, path.join(dir, `${runtime}-d2.tar`), ['--locked'])
        assert.equal(again.lock?.locked, true)
        assert.equal(again.outputs[0].digest, d.outputs[0].digest, 'the lock did not hold the base image')
        assert.equal(again.outputs[0].archiveSha256, d.outputs[0].archiveSha256, 'not byte-identical')

        await rename(lockFile, `${lockFile}.away`)
        try {
          const unlocked = await buildJson(runtime, app, path.join(dir, `${runtime}-unlocked.tar`))
          assert.equal(unlocked.lock, undefined)
          assert.notEqual(unlocked.outputs[0].digest, d.outputs[0].digest, 'without the lock the new :1 is used')
          ;(found[runtime] ??= {}).unlocked = unlocked.outputs[0].digest
        } finally {
          await rename(`${lockFile}.away`, lockFile)
        }
        ;(found[runtime] ??= {}).D = d.outputs[0].digest
        found[runtime].tarball = d.outputs[0].archiveSha256
        found[runtime].baseLocked = old
        found[runtime].baseMoved = now
      })

      it('ADD URL: changed bytes fail the locked build naming the URL; lock --update, then it builds', async () => {
        // bytes no BuildKit has seen (a daemon finds content it has by checksum, and would not need to fetch)
        const nonce = randomBytes(8).toString('hex')
        served = Buffer.from(`served bytes ${nonce}, version 1\n`)
        assert.equal((await repro(['lock', url])).code, 0)
        served = Buffer.from(`served bytes ${nonce}, version 2 (changed)\n`)
        const out = path.join(dir, `${runtime}-url1.tar`)
        const args = ['build', ...runtimeArgs[runtime], '--no-cache', '--sde', '0', '-o', out, url]
        const bad = await repro(args)
        assert.equal(bad.code, 2, `expected a failed build:\n${bad.stderr.slice(-2000)}`)
        // BuildKit's "digest mismatch A: B", named by repro after the URL the lock pinned
        const errors = bad.stderr.split('\n').filter((l) => l.startsWith('Error: '))
        assert.match(
          errors.join('\n'),
          new RegExp(
            `^Error: ADD http://127\\.0\\.0\\.1:${port}/file: checksum mismatch: .*repro\\.lock\\.yaml pins sha256:[a-f0-9]{64}, the server now sends sha256:[a-f0-9]{64}$`,
          ),
        )
        assert.ok(!existsSync(out), 'no output from a failed build')
        const check = await repro(['lock', '--check', url])
        assert.equal(check.code, 1)
        assert.match(check.stdout, new RegExp(`urls http://127\\.0\\.0\\.1:${port}/file \\(ADD line 2\\)`))
        assert.equal((await repro(['lock', '--update', url])).code, 0)
        const ok = await buildJson(runtime, url, path.join(dir, `${runtime}-url2.tar`), ['--locked'])
        assert.match(ok.lock?.inputs[`urls/http://127.0.0.1:${port}/file`] ?? '', /^sha256:/)
        ;(found[runtime] ??= {}).urlFailure = errors.join(' ').slice(0, 300)
      })

      it('ADD git: the lock holds the commit when main moves', async () => {
        // a git source needs a git binary where buildkitd runs: the host's for the daemon; the test bed's BuildKit
        // image has none (docker, podman), so there the build must fail clearly while lock and --check still work
        const engineHasGit =
          runtime === 'buildkit' ||
          execFileSync(
            runtime,
            [
              'run',
              '--rm',
              '--entrypoint',
              'sh',
              state.buildkit.versions[VERSION].image!.name,
              '-c',
              'command -v git || true',
            ],
            {env: {...process.env, ...env}},
          )
            .toString()
            .trim() !== ''
        assert.equal((await repro(['lock', gitCtx])).code, 0)
        const before = await repro([
          'build',
          ...runtimeArgs[runtime],
          '--no-cache',
          '--sde',
          '0',
          '--json',
          '-o',
          path.join(dir, `${runtime}-git1.tar`),
          gitCtx,
        ])
        await writeFile(path.join(work, 'a.txt'), `two ${runtime}\n`)
        git(work, 'commit', '-qam', `two ${runtime}`)
        git(work, 'push', '-q', path.join(dir, 'git', 'r.git'), 'main')
        const check = await repro(['lock', '--check', gitCtx])
        assert.equal(check.code, 1, check.stdout)
        assert.match(
          check.stdout,
          /git git:\/\/127\.0\.0\.1:\d+\/r\.git#main \(ADD line 2\): [a-f0-9]{40} -> [a-f0-9]{40}/,
        )
        if (!engineHasGit) {
          assert.equal(before.code, 2)
          assert.match(before.stderr, /unknown scheme git/)
          ;(found[runtime] ??= {}).git = 'the BuildKit image has no git: build fails with "unknown scheme git"'
          return
        }
        assert.equal(before.code, 0, before.stderr.slice(-2000))
        const a = JSON.parse(before.stdout) as BuildJson
        const b = await buildJson(runtime, gitCtx, path.join(dir, `${runtime}-git2.tar`), ['--locked'])
        assert.equal(b.outputs[0].digest, a.outputs[0].digest, 'the locked commit was not used')
        assert.equal((await repro(['lock', '--update', gitCtx])).code, 0)
        const c = await buildJson(runtime, gitCtx, path.join(dir, `${runtime}-git3.tar`))
        assert.notEqual(c.outputs[0].digest, a.outputs[0].digest)
        ;(found[runtime] ??= {}).git = a.outputs[0].digest
      })

      it('--locked allows a named oci-layout:// context (pinned by digest in the lock)', async () => {
        const ctx = path.join(dir, `layout-${runtime}`)
        await mkdir(ctx, {recursive: true})
        await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\nCOPY Dockerfile /x\n')
        const context = `base=oci-layout://${state.images.busybox.ociLayout}`
        const l = await repro(['lock', '--build-context', context, ctx])
        assert.equal(l.code, 0, l.stderr)
        assert.match(
          await readFile(path.join(ctx, 'repro.lock.yaml'), 'utf8'),
          /base:\n\s+pinned: "?sha256:[a-f0-9]{64}/,
        )
        const r = await buildJson(runtime, ctx, path.join(dir, `${runtime}-layout.tar`), [
          '--locked',
          '--build-context',
          context,
        ])
        assert.equal(r.lock?.locked, true)
        ;(found[runtime] ??= {}).layoutLocked = r.outputs[0].digest
      })

      it('--locked with a FROM missing from the lock: exit 2 naming it, no engine started', async () => {
        const extra = `${state.registry.address}/${tag}:2`
        await writeFile(path.join(app, 'Dockerfile.two'), `FROM ${ref}\nFROM ${extra}\nCOPY hello.txt /x\n`)
        const out = path.join(dir, `${runtime}-locked.tar`)
        const r = await repro([
          'build',
          ...runtimeArgs[runtime],
          '--sde',
          '0',
          '--locked',
          '-f',
          path.join(app, 'Dockerfile.two'),
          '-o',
          out,
          app,
        ])
        assert.equal(r.code, 2, r.stderr)
        assert.match(r.stderr, new RegExp(`does not lock FROM ${extra.replaceAll('.', '\\.')} \\(line 2\\)`))
        assert.doesNotMatch(r.stderr, /Build environment|^\+ /m, 'an engine step ran')
        assert.ok(!existsSync(out))
      })
    })
  }
})
