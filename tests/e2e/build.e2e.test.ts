/**
 * `repro build` on real engines from the test bed (tests/e2e/testbed): Docker (buildx docker-container
 * builder), Podman (BuildKit in a container) and a standalone buildkitd, all at the same BuildKit version.
 * Proves: two --no-cache builds give byte-identical tarballs on each runtime, the three runtimes give the
 * same image digest, another SOURCE_DATE_EPOCH gives another digest, --dry prints what a run executes,
 * and `repro analyze` reads the same digest from each tarball.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {readTestbedState} from '../support/testbed.js'
import {runCli} from '../support/cli.js'

const STATE_FILE = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
const VERSION = 'v0.32.2'

interface TestbedState {
  ok: boolean
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
  buildkit: {versions: Record<string, {running?: boolean; host: string; buildctl?: string; image?: {name: string}}>}
  images: {busybox: {name: string; ociLayout: string; manifestDigest: string}}
}

interface BuildJson {
  runtime: string
  commands: string[]
  outputs: Array<{path: string; digest: string; archiveSha256: string}>
}

describe('repro build on real engines', () => {
  let state: TestbedState
  let dir: string
  let env: Record<string, string>
  const runtimes: Record<string, string[]> = {}
  const digests: Record<string, Record<string, string>> = {}

  before(async () => {
    state = readTestbedState<TestbedState>()
    const bk = state.buildkit.versions[VERSION]
    assert.ok(state.docker?.ok, `test bed: docker is not ok in ${STATE_FILE}; run \`npm run testbed -- up\``)
    assert.ok(state.podman?.ok, `test bed: podman is not ok in ${STATE_FILE}; run \`npm run testbed -- up\``)
    assert.ok(bk?.running, `test bed: buildkitd ${VERSION} is not running; run \`npm run testbed -- up\``)
    assert.ok(bk.image?.name, `test bed: no local BuildKit ${VERSION} image; run \`npm run testbed -- up\``)
    assert.ok(state.images?.busybox?.ociLayout, 'test bed: no busybox OCI layout')
    dir = await mkdtemp(path.join(tmpdir(), 'repro-build-e2e-'))
    const buildctlDir = path.dirname(bk.buildctl ?? '')
    env = {DOCKER_HOST: state.docker.host, PATH: `${buildctlDir}:${process.env.PATH}`}
    const image = bk.image.name
    runtimes.docker = ['--runtime', 'docker', '--buildkit-image', image]
    runtimes.podman = ['--runtime', 'podman', '--buildkit-image', image]
    runtimes.buildkit = ['--runtime', 'buildkit', '--buildkit-addr', bk.host]

    await mkdir(path.join(dir, 'scratch/dir'), {recursive: true})
    await writeFile(path.join(dir, 'scratch/Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nCOPY dir/ /dir/\n')
    await writeFile(path.join(dir, 'scratch/hello.txt'), 'hello, reproducible world\n')
    await writeFile(path.join(dir, 'scratch/dir/a.txt'), 'a\n')
    await mkdir(path.join(dir, 'run'), {recursive: true})
    await writeFile(
      path.join(dir, 'run/Dockerfile'),
      'FROM base\nARG SOURCE_DATE_EPOCH\nRUN mkdir -p /data && echo "built at $SOURCE_DATE_EPOCH" > /data/built && ls /bin | wc -l > /data/count\n',
    )
    await mkdir(path.join(dir, 'out'))
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
    const printable = JSON.stringify(digests, null, 2)
    console.log(`image digests per fixture and runtime:\n${printable}`)
  })

  async function buildOnce(runtime: string, fixture: string, out: string, extra: string[] = []): Promise<BuildJson> {
    const args = ['build', ...runtimes[runtime], '--no-cache', '--json', '-o', out, ...extra]
    if (fixture === 'run') args.push('--build-context', `base=oci-layout://${state.images.busybox.ociLayout}`)
    args.push(path.join(dir, fixture))
    const r = await runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(
      r.code,
      0,
      `repro ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`,
    )
    const res = JSON.parse(r.stdout) as BuildJson
    assert.equal(res.runtime, runtime)
    assert.equal(res.outputs.length, 1)
    assert.match(res.outputs[0].digest, /^sha256:[a-f0-9]{64}$/)
    return res
  }

  for (const fixture of ['scratch', 'run']) {
    for (const runtime of ['docker', 'podman', 'buildkit']) {
      it(`${runtime}: ${fixture} built twice with --no-cache gives byte-identical tarballs`, async () => {
        const a = await buildOnce(runtime, fixture, path.join(dir, 'out', `${fixture}-${runtime}-1.tar`), [
          '--sde',
          '0',
        ])
        const b = await buildOnce(runtime, fixture, path.join(dir, 'out', `${fixture}-${runtime}-2.tar`), [
          '--sde',
          '0',
        ])
        assert.equal(a.outputs[0].archiveSha256, b.outputs[0].archiveSha256, 'tarball bytes differ between two builds')
        assert.equal(a.outputs[0].digest, b.outputs[0].digest)
        if (runtime === 'docker') {
          assert.ok(!b.commands.some((c) => c.startsWith('docker buildx create')), 'the builder is reused')
        }
        ;(digests[fixture] ??= {})[runtime] = a.outputs[0].digest
        ;(digests[fixture] ??= {})[`${runtime} tarball`] = a.outputs[0].archiveSha256
        const left = (await readdir(path.join(dir, 'out'))).filter((f) => f.includes('repro-partial'))
        assert.deepEqual(left, [], 'no partial file is left behind')
      })
    }
    it(`${fixture}: docker, podman and the standalone daemon give the same image digest`, () => {
      const d = digests[fixture]
      assert.ok(d?.docker && d.podman && d.buildkit, `a runtime failed before: ${JSON.stringify(d)}`)
      assert.deepEqual({podman: d.podman, buildkit: d.buildkit}, {podman: d.docker, buildkit: d.docker})
    })
  }

  it('several platforms: one docker tarball each, or one OCI archive, the same on every runtime', async () => {
    const platforms = ['--platform', 'linux/amd64,linux/arm64']
    const oci: Record<string, string> = {}
    for (const runtime of ['docker', 'podman', 'buildkit']) {
      const out = path.join(dir, 'out', `multi-${runtime}.tar`)
      const args = ['build', ...runtimes[runtime], '--sde', '0', '--json', '--format', 'oci', ...platforms, '-o', out]
      const r = await runCli([...args, path.join(dir, 'scratch')], {cwd: dir, env, timeoutMs: 15 * 60_000})
      assert.equal(r.code, 0, r.stderr.slice(-3000))
      const res = JSON.parse(r.stdout) as {outputs: Array<{digest: string; manifests: Array<{platform: string}>}>}
      assert.deepEqual(
        res.outputs[0].manifests.map((m) => m.platform),
        ['linux/amd64', 'linux/arm64'],
      )
      oci[runtime] = res.outputs[0].digest
    }
    assert.deepEqual({podman: oci.podman, buildkit: oci.buildkit}, {podman: oci.docker, buildkit: oci.docker})
    ;(digests.multi ??= {})['oci index (all runtimes)'] = oci.docker
    const out = path.join(dir, 'out', 'multi.tar')
    const r = await runCli(
      ['build', ...runtimes.buildkit, '--sde', '0', '--json', ...platforms, '-o', out, path.join(dir, 'scratch')],
      {cwd: dir, env, timeoutMs: 15 * 60_000},
    )
    assert.equal(r.code, 0, r.stderr.slice(-3000))
    const res = JSON.parse(r.stdout) as BuildJson
    assert.deepEqual(
      res.outputs.map((o) => path.basename(o.path)),
      ['multi-linux-amd64.tar', 'multi-linux-arm64.tar'],
    )
    assert.equal(res.outputs[0].digest, digests.scratch?.buildkit, 'the amd64 tarball is the single-platform image')
  })

  it('a different SOURCE_DATE_EPOCH gives a different digest', async () => {
    const r = await buildOnce('buildkit', 'run', path.join(dir, 'out', 'run-sde1.tar'), ['--sde', '1'])
    assert.ok(digests.run?.buildkit, 'the SDE 0 build ran before')
    assert.notEqual(r.outputs[0].digest, digests.run.buildkit)
    digests.run['buildkit --sde 1'] = r.outputs[0].digest
  })

  it('--dry prints exactly the commands a real run executes, and runs nothing', async () => {
    const out = path.join(dir, 'out', 'dry.tar')
    const args = ['build', ...runtimes.buildkit, '--sde', '0', '--no-cache', '-o', out, path.join(dir, 'scratch')]
    const dry = await runCli([...args, '--dry'], {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(dry.code, 0, dry.stderr)
    assert.ok(!existsSync(out), '--dry wrote the output')
    const real = await runCli([...args, '--json'], {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(real.code, 0, real.stderr)
    assert.deepEqual(dry.stdout.trimEnd().split('\n'), (JSON.parse(real.stdout) as BuildJson).commands)
  })

  it('repro analyze reads the same digest from every tarball', async () => {
    const files = (await readdir(path.join(dir, 'out'))).filter((f) => /^(scratch|run)-\w+-1\.tar$/.test(f))
    assert.equal(files.length, 6, `expected six tarballs, found ${files.join(', ')}`)
    for (const f of files) {
      const [fixture, runtime] = f.split('-')
      const r = await runCli(['analyze', '--json', path.join(dir, 'out', f)], {
        cwd: dir,
        env: {},
        timeoutMs: 15 * 60_000,
      })
      assert.equal(r.code, 0, r.stderr)
      const res = JSON.parse(r.stdout) as {imageDigest: string; format: string}
      assert.equal(res.imageDigest, digests[fixture][runtime], `analyze ${f}`)
      assert.equal(res.format, 'docker-exporter')
    }
  })
})
