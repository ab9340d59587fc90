/**
 * One lifecycle on the test bed's real engines (tests/e2e/testbed): cancellation, cleanup and locks.
 *
 * 1. SIGINT and SIGTERM sent to `repro build` (docker, podman and a standalone buildkitd) while BuildKit runs `RUN sleep 30`, to
 *    `repro diff docker://…` while `docker save` writes its temp file, and to `repro verify` mid-rebuild.
 *    Afterwards: repro died of that very signal (a shell shows 130 / 143); no process whose argv names this
 *    test's directory is left (every child repro starts carries it); the RUN step's process is gone from the
 *    host's process table (containers' processes are visible there: BuildKit really stopped the build), and
 *    with docker the builder's own history records the build as ended without completing; no
 *    podman container of that repro process exists; repro's TMPDIR is empty; the destination keeps its old
 *    bytes and mtime, and no partial file or private output directory is left next to it, even a second later.
 * 2. Eight concurrent `repro build --hashfile` (three hash files, docker and podman, on a BuildKit image alias
 *    of their own, so the buildx builder and the podman cache volume are created by racing builds), a
 *    `repro get download` and a `repro cache clean`, all on one package cache: every command succeeds or
 *    fails with a one-line error and no destination; builds of the same hash file give the same image; every
 *    cached file verifies (sha256sum, not repro); no partial, temp, in-use or lock file is left.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {builderName} from '../../src/engine/docker.js'
import {cacheVolumeName} from '../../src/engine/podman.js'
import {CLI, runCli} from '../support/cli.js'
import {readTestbedState} from '../support/testbed.js'

const VERSION = 'v0.32.2'

interface TestbedState {
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
  buildkit: {versions: Record<string, {image?: {name: string}; host?: string; buildctl?: string; running?: boolean}>}
  images: {busybox: {ociLayout: string}; debian: {name: string}}
  debs: {dir: string; sha256sums: string}
}

interface Started {
  pid: number
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string}>
  stderr: () => string
}

function startCli(args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: {...process.env, NO_COLOR: '1', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdout.on('data', (d) => (stdout += d))
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string}>(
    (resolve) => child.on('close', (code, signal) => resolve({code, signal, stderr, stdout})),
  )
  return {pid: child.pid!, exited, stderr: () => stderr}
}

/** every process's argv, from ps (not from the code under test) */
function processes(): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], {encoding: 'utf8'}).split('\n').filter(Boolean)
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, started: Started, ms = 180_000) {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; stderr:\n${started.stderr().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function podmanNames(): string[] {
  return execFileSync('podman', ['ps', '-a', '--format', '{{.Names}}'], {encoding: 'utf8'}).split('\n').filter(Boolean)
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('cancellation and cleanup on real engines', () => {
  let state: TestbedState
  let dir: string
  let image: string
  let env: Record<string, string>
  let buildkitAddr: string
  let n = 0
  const measured: Array<{what: string; signal: string; ms: number}> = []

  before(async () => {
    state = readTestbedState<TestbedState>()
    assert.ok(state.docker?.ok, 'test bed: docker is not ok; run `npm run testbed -- up`')
    assert.ok(state.podman?.ok, 'test bed: podman is not ok; run `npm run testbed -- up`')
    image = state.buildkit.versions[VERSION]?.image?.name as string
    assert.ok(image, `test bed: no local BuildKit ${VERSION} image`)
    const bk = state.buildkit.versions[VERSION]
    assert.ok(bk?.running && bk.host && bk.buildctl, `test bed: buildkitd ${VERSION} is not running`)
    buildkitAddr = bk.host
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lifecycle-e2e-'))
    env = {DOCKER_HOST: state.docker.host, PATH: `${path.dirname(bk.buildctl)}:${process.env.PATH}`}
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
    console.log(`time from the signal to repro's exit (ms):\n${JSON.stringify(measured, null, 1)}`)
  })

  /**
   * Start `repro ARGS` with its own TMPDIR, wait until `ready`, send `signal`, and check everything the
   * issue lists. `marker` is a string only the RUN step's process has in its argv (or undefined).
   */
  async function interrupt(
    what: string,
    signal: NodeJS.Signals,
    args: (c: {out: string; ctx: string}) => string[],
    ready: (c: {started: Started; tmp: string; marker: string}) => Promise<boolean> | boolean,
    engineCheck?: (name: string) => Promise<void>,
  ): Promise<void> {
    const id = `lc-${process.pid}-${n++}`
    const caseDir = path.join(dir, id)
    const tmp = path.join(caseDir, 'tmp')
    const outDir = path.join(caseDir, 'out')
    const out = path.join(outDir, 'image.tar')
    await mkdir(tmp, {recursive: true})
    await mkdir(outDir, {recursive: true})
    await writeFile(out, 'the previous image\n')
    const before = await stat(out)
    const marker = `repro-${id}`
    // the context's name is the build's name in BuildKit's history
    const ctx = path.join(caseDir, `ctx-${id}`)
    await mkdir(ctx)
    // the marker keeps the shell alive (not exec'd into sleep) and names the RUN process on the host
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM base\nRUN sleep 30; echo ${marker}\n`)
    const started = startCli(args({out, ctx}), {...env, TMPDIR: tmp})
    await waitFor(`${what} to be under way`, () => ready({started, tmp, marker}), started)
    const t0 = Date.now()
    process.kill(started.pid, signal)
    const r = await started.exited
    const ms = Date.now() - t0
    measured.push({what, signal, ms})
    assert.equal(r.signal, signal, `repro died of ${signal} (exit ${r.code}); stderr:\n${r.stderr.slice(-2000)}`)
    // a second later nothing has come back (a surviving writer would recreate the partial file)
    await new Promise((res) => setTimeout(res, 1000))
    const ours = processes().filter((p) => p.includes(caseDir) || p.includes(marker))
    assert.deepEqual(ours, [], `processes of ours left after ${signal}`)
    assert.deepEqual(
      podmanNames().filter((c) => c.startsWith(`repro-build-${started.pid}-`)),
      [],
      'no podman container of this repro',
    )
    assert.deepEqual(await readdir(tmp), [], 'no temp dir left')
    assert.deepEqual(await readdir(outDir), ['image.tar'], 'no partial file or private output directory')
    assert.equal(await readFile(out, 'utf8'), 'the previous image\n')
    assert.equal((await stat(out)).mtimeMs, before.mtimeMs)
    assert.ok(ms < 15_000, `${what}: ${ms} ms from ${signal} to exit`)
    if (engineCheck) await engineCheck(path.basename(ctx))
  }

  /** BuildKit's own record of the build (docker buildx history): it ended, and not by completing. */
  async function buildxHistoryEnded(name: string): Promise<void> {
    const builder = builderName(image) // the product's own name (it hashes the image, buildkitd.toml and network)
    let records: Array<{name: string; status: string}> = []
    for (let i = 0; i < 100; i++) {
      records = execFileSync('docker', ['buildx', 'history', 'ls', '--builder', builder, '--format', 'json'], {
        encoding: 'utf8',
        env: {...process.env, ...env},
      })
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as {name: string; status: string})
        .filter((r) => r.name === name)
      if (records.length > 0 && records.every((r) => r.status !== 'Running')) break
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(records.length, 1, `one build named ${name} in the builder's history`)
    assert.notEqual(records[0].status, 'Running', 'BuildKit still runs the build')
    assert.notEqual(records[0].status, 'Completed', 'the build was not cancelled')
  }

  const buildArgs = (runtime: string, c: {out: string; ctx: string}) => [
    'build',
    '--runtime',
    runtime,
    ...(runtime === 'buildkit' ? ['--buildkit-addr', buildkitAddr] : ['--buildkit-image', image]),
    '--no-cache',
    '--sde',
    '0',
    '--build-context',
    `base=oci-layout://${state.images.busybox.ociLayout}`,
    '-o',
    c.out,
    c.ctx,
  ]
  const runStepStarted = ({marker}: {marker: string}) => processes().some((p) => p.includes(`sleep 30; echo ${marker}`))

  for (const runtime of ['docker', 'podman', 'buildkit']) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`${signal} to repro build --runtime ${runtime} during RUN sleep 30`, async () => {
        await interrupt(
          `build ${runtime}`,
          signal,
          (c) => buildArgs(runtime, c),
          runStepStarted,
          runtime === 'docker' ? buildxHistoryEnded : undefined,
        )
      })
    }
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to repro diff docker://… while docker save writes`, async () => {
      await interrupt(
        'diff docker://',
        signal,
        () => ['diff', `docker://${state.images.debian.name}`, `docker://${image}`],
        // docker save has started writing into repro's temp dir
        async ({tmp}) => {
          for (const d of await readdir(tmp).catch(() => [] as string[])) {
            const files = await readdir(path.join(tmp, d)).catch(() => [] as string[])
            if (files.length > 0) return true
          }
          return false
        },
      )
    })
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to repro verify during the rebuild`, async () => {
      await interrupt(
        'verify',
        signal,
        (c) => [
          'verify',
          '--runtime',
          'docker',
          '--buildkit-image',
          image,
          '--sde',
          '0',
          '--build-context',
          `base=oci-layout://${state.images.busybox.ociLayout}`,
          '--expected-image-digest',
          `sha256:${'0'.repeat(64)}`,
          c.ctx,
        ],
        runStepStarted,
        buildxHistoryEnded,
      )
    })
  }
})

describe('concurrent builds, downloads and a cache clean on one package cache', () => {
  let state: TestbedState
  let dir: string
  let alias: string
  let env: Record<string, string>

  before(async () => {
    state = readTestbedState<TestbedState>()
    const image = state.buildkit.versions[VERSION]?.image?.name as string
    assert.ok(image, `test bed: no local BuildKit ${VERSION} image`)
    dir = await mkdtemp(path.join(tmpdir(), 'repro-concurrency-e2e-'))
    env = {DOCKER_HOST: state.docker.host}
    // an alias of the test bed's BuildKit image: a builder and a cache volume nobody else has yet
    alias = `localhost/repro-lc-${process.pid}/buildkit:${VERSION}`
    execFileSync('docker', ['tag', image, alias], {env: {...process.env, ...env}})
    execFileSync('podman', ['tag', image, alias])
  })

  after(async () => {
    if (!alias) return
    const quiet = (argv: string[]) => {
      try {
        execFileSync(argv[0], argv.slice(1), {env: {...process.env, ...env}, stdio: 'ignore'})
      } catch {
        // already gone
      }
    }
    quiet(['docker', 'buildx', 'rm', builderName(alias)])
    quiet(['docker', 'rmi', alias])
    quiet(['podman', 'rmi', alias])
    const volume = cacheVolumeName(alias)
    for (let i = 0; i < 8; i++) quiet(['podman', 'volume', 'rm', '-f', i === 0 ? volume : `${volume}-${i}`])
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('8 builds (3 hash files, docker and podman), a download and a clean: all succeed or fail cleanly, no strays', async () => {
    const sums = (await readFile(state.debs.sha256sums, 'utf8')).trim().split('\n')
    const files: Record<string, string> = {}
    for (const [name, lines] of Object.entries({a: sums.slice(0, 3), b: sums.slice(1, 6), c: sums.slice(4)})) {
      files[name] = path.join(dir, `SHA256SUMS-${name}-amd64`)
      await writeFile(files[name], `${lines.join('\n')}\n`)
    }
    await mkdir(path.join(dir, 'ctx'))
    await writeFile(
      path.join(dir, 'ctx', 'Dockerfile'),
      'FROM base\nRUN --mount=from=repro-pkgs,target=/repro --network=none cd /repro/amd64 && sha256sum -c SHA256SUMS > /sums\n',
    )
    await mkdir(path.join(dir, 'out'))
    const cache = path.join(dir, 'pkg-cache')
    const jobs: Array<{hashfile: string; runtime: string; out: string}> = [
      ['a', 'docker'],
      ['a', 'docker'],
      ['b', 'docker'],
      ['b', 'docker'],
      ['c', 'docker'],
      ['a', 'podman'],
      ['b', 'podman'],
      ['c', 'podman'],
    ].map(([h, runtime], i) => ({hashfile: h, runtime, out: path.join(dir, 'out', `${i}-${h}-${runtime}.tar`)}))
    const build = (j: (typeof jobs)[number]) =>
      runCli(
        [
          'build',
          '--json',
          '--runtime',
          j.runtime,
          '--buildkit-image',
          alias,
          '--sde',
          '0',
          '--platform',
          'linux/amd64',
          '--provider',
          `file://${state.debs.dir}/{{.Name}}`,
          '--pkg-cache',
          cache,
          '--hashfile',
          files[j.hashfile],
          '--build-context',
          `base=oci-layout://${state.images.busybox.ociLayout}`,
          '-o',
          j.out,
          path.join(dir, 'ctx'),
        ],
        {cwd: dir, env, timeoutMs: 15 * 60_000},
      )
    const t0 = Date.now()
    const builds = jobs.map((j) => build(j))
    const download = runCli(
      ['get', 'download', '--json', '--cache', cache, '--provider', `file://${state.debs.dir}/{{.Name}}`, files.c],
      {cwd: dir, env, timeoutMs: 5 * 60_000},
    )
    // the clean lands while builds stage and build
    await new Promise((r) => setTimeout(r, 1500))
    const clean = await runCli(['cache', 'clean', '--json', '--cache', cache], {cwd: dir, env, timeoutMs: 5 * 60_000})
    const results = await Promise.all(builds)
    const dl = await download
    const refetched = results.filter((r) => r.stderr.includes('fetching again')).length
    const slots = results.filter((r) => r.stderr.includes('is in use by a concurrent build')).length
    console.log(
      `8 concurrent builds, a download and a clean: ${Date.now() - t0} ms; clean: ${clean.stdout.trim()}; ` +
        `builds that fetched cleaned files again: ${refetched}; podman builds on another cache volume: ${slots}`,
    )

    assert.equal(clean.code, 0, clean.stderr)
    assert.equal(dl.code, 0, `get download failed:\n${dl.stderr.slice(-2000)}`)
    const digests: Record<string, string[]> = {}
    results.forEach((r, i) => {
      const j = jobs[i]
      if (r.code === 0) {
        const digest = (JSON.parse(r.stdout) as {outputs: Array<{digest: string}>}).outputs[0].digest
        ;(digests[j.hashfile] ??= []).push(digest)
        assert.ok(existsSync(j.out))
      } else {
        // failing cleanly: exit 2, one error line, nothing at the destination
        assert.equal(r.code, 2, `${j.runtime} ${j.hashfile}: exit ${r.code}\n${r.stderr.slice(-3000)}`)
        assert.match(r.stderr, /^Error: .+$/m)
        assert.ok(!existsSync(j.out))
      }
    })
    const failed = results.filter((r) => r.code !== 0)
    assert.deepEqual(
      failed.map((r) => r.stderr.slice(-1500)),
      [],
      'every build succeeds (a clean failure would be allowed, but none is expected here)',
    )
    for (const [h, ds] of Object.entries(digests)) {
      assert.equal(new Set(ds).size, 1, `hash file ${h}: builds (docker and podman) gave different images: ${ds}`)
    }
    assert.equal(new Set(Object.values(digests).map((d) => d[0])).size, 3, 'three hash files, three images')

    // the cache: every blob verifies (sha256sum), nothing half-written, no lock, no marks
    const blobs = path.join(cache, 'blobs', 'sha256')
    for (const name of await readdir(blobs)) {
      assert.equal(sha256(await readFile(path.join(blobs, name))), name, `cached ${name} does not verify`)
    }
    assert.deepEqual(await readdir(path.join(cache, 'tmp')), [], 'no partial downloads')
    assert.deepEqual(await readdir(path.join(cache, 'inuse')), [], 'no in-use marks')
    assert.deepEqual(
      (await readdir(path.join(cache, 'contexts'))).filter((c) => c.includes('.tmp-')),
      [],
      'no half-staged contexts',
    )
    assert.ok(!existsSync(path.join(cache, 'lock')), 'no lock left')
    const outs = await readdir(path.join(dir, 'out'))
    assert.deepEqual(
      outs.filter((o) => o.startsWith('.')),
      [],
      'no partial file or private output directory',
    )
    const locks = await readdir(path.join(tmpdir(), `repro-locks-${process.getuid?.() ?? 0}`)).catch(
      () => [] as string[],
    )
    assert.deepEqual(
      locks.filter((l) => l.includes(createHash('sha256').update(alias).digest('hex').slice(0, 12))),
      [],
      'no volume slot lock',
    )
  })
})
