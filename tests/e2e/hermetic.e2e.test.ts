/**
 * Hermetic builds on the test bed (tests/e2e/testbed): `repro build --hashfile` fetches the test bed's real
 * .deb files on the host (file:// provider, a fresh package cache), stages them as the repro-pkgs context,
 * and the Dockerfile installs them with --network=none onto the test bed's Debian bookworm base.
 * Proves: two --no-cache docker builds give byte-identical tarballs, podman (same BuildKit image) gives the
 * same image, the packages really are installed, a wrong checksum fails before any engine command runs and
 * names the package, and the Dockerfile written by `repro dockerfile generate` for the test bed's Debian
 * base (pinned by digest) builds with the test bed's hash file. Dockerfile.generate-hash needs the network
 * to the snapshot archive, which the build containers do not have: it is generated, not built.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {readTestbedState} from '../support/testbed.js'
import {runCli} from '../support/cli.js'

const STATE_FILE = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
const VERSION = 'v0.32.2'
const EPOCH = '1704067200'
/** test bed .debs whose dependencies are not in the Debian minbase image */
const UNINSTALLABLE = ['sl']

interface TestbedState {
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
  buildkit: {versions: Record<string, {image?: {name: string}}>}
  images: {debian: {name: string; ociLayout: string; manifestDigest: string}}
  debs: {dir: string; sha256sums: string; packages: Array<{name: string; version: string; filename: string}>}
}

interface BuildJson {
  runtime: string
  commands: string[]
  outputs: Array<{path: string; digest: string; archiveSha256: string}>
}

describe('hermetic builds on the test bed', () => {
  let state: TestbedState
  let dir: string
  let env: Record<string, string>
  let common: string[]
  let packages: TestbedState['debs']['packages']
  const seen: Record<string, {digest: string; archiveSha256: string}> = {}

  before(async () => {
    state = readTestbedState<TestbedState>()
    const image = state.buildkit.versions[VERSION]?.image?.name
    assert.ok(state.docker?.ok, `test bed: docker is not ok in ${STATE_FILE}; run \`npm run testbed -- up\``)
    assert.ok(state.podman?.ok, `test bed: podman is not ok in ${STATE_FILE}; run \`npm run testbed -- up\``)
    assert.ok(image, `test bed: no local BuildKit ${VERSION} image; run \`npm run testbed -- up\``)
    assert.ok(state.images?.debian?.ociLayout, 'test bed: no Debian OCI layout; run `npm run testbed -- up`')
    assert.ok(state.debs?.sha256sums, 'test bed: no .deb files; run `npm run testbed -- up`')
    dir = await mkdtemp(path.join(tmpdir(), 'repro-hermetic-e2e-'))
    env = {DOCKER_HOST: state.docker.host}
    await mkdir(path.join(dir, 'install'), {recursive: true})
    const sums = (await readFile(state.debs.sha256sums, 'utf8'))
      .split('\n')
      .filter((l) => l && !UNINSTALLABLE.some((n) => l.includes(`/${n}_`)))
    await writeFile(path.join(dir, 'SHA256SUMS-amd64'), `${sums.join('\n')}\n`)
    packages = state.debs.packages.filter((p) => !UNINSTALLABLE.includes(p.name))
    await writeFile(
      path.join(dir, 'install/Dockerfile'),
      [
        'FROM base',
        'RUN --mount=from=repro-pkgs,target=/repro --network=none /repro/install',
        // the build fails unless every pinned version is installed (and hello runs)
        `RUN --network=none hello > /hello.out && ${packages
          .map((p) => `test "$(dpkg-query -W -f '\${Version}' ${p.name})" = '${p.version}'`)
          .join(' && ')}`,
        '',
      ].join('\n'),
    )
    await mkdir(path.join(dir, 'out'))
    common = [
      '--buildkit-image',
      image as string,
      '--sde',
      EPOCH,
      '--platform',
      'linux/amd64',
      '--provider',
      `file://${state.debs.dir}/{{.Name}}`,
      '--pkg-cache',
      path.join(dir, 'pkg-cache'),
    ]
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
    console.log(`hermetic image digests:\n${JSON.stringify(seen, null, 2)}`)
  })

  async function buildInstall(runtime: string, out: string, extra: string[] = []): Promise<BuildJson> {
    const args = [
      'build',
      '--runtime',
      runtime,
      ...common,
      '--no-cache',
      '--json',
      '--hashfile',
      path.join(dir, 'SHA256SUMS-amd64'),
      '--build-context',
      `base=oci-layout://${state.images.debian.ociLayout}`,
      '-o',
      out,
      ...extra,
      path.join(dir, 'install'),
    ]
    const r = await runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(r.code, 0, `repro ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-4000)}`)
    const res = JSON.parse(r.stdout) as BuildJson
    assert.match(res.commands[0], /^# stage build context repro-pkgs at /)
    assert.match(res.outputs[0].digest, /^sha256:[a-f0-9]{64}$/)
    return res
  }

  it('installs the pinned .debs offline, byte-identical across two docker builds and podman', async () => {
    const a = await buildInstall('docker', path.join(dir, 'out/docker-1.tar'))
    const b = await buildInstall('docker', path.join(dir, 'out/docker-2.tar'))
    const c = await buildInstall('podman', path.join(dir, 'out/podman.tar'))
    seen['docker-1'] = a.outputs[0]
    seen['docker-2'] = b.outputs[0]
    seen.podman = c.outputs[0]
    assert.equal(b.outputs[0].archiveSha256, a.outputs[0].archiveSha256, 'two docker builds differ')
    assert.equal(c.outputs[0].digest, a.outputs[0].digest, 'podman and docker give different images')
    assert.equal(c.outputs[0].archiveSha256, a.outputs[0].archiveSha256, 'podman and docker tarballs differ')
  })

  it('fails before the build starts when a checksum is wrong, naming the package', async () => {
    const good = await readFile(path.join(dir, 'SHA256SUMS-amd64'), 'utf8')
    const hello = good.split('\n').find((l) => l.includes('/hello_')) as string
    const wrong = `${'0'.repeat(64)}${hello.slice(64)}`
    await writeFile(path.join(dir, 'SHA256SUMS-bad-amd64'), good.replace(hello, wrong))
    // an empty cache, so the wrong sha256 cannot be satisfied from there
    const args = [
      'build',
      '--runtime',
      'docker',
      ...common.slice(0, -1),
      path.join(dir, 'pkg-cache-bad'),
      '--hashfile',
      path.join(dir, 'SHA256SUMS-bad-amd64'),
      '--build-context',
      `base=oci-layout://${state.images.debian.ociLayout}`,
      '-o',
      path.join(dir, 'out/bad.tar'),
      path.join(dir, 'install'),
    ]
    const r = await runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /Error: .*SHA256SUMS-bad-amd64:\d+: pool\/main\/h\/hello\/hello_2\.10-3_amd64\.deb: every provider failed .*sha256 mismatch/,
    )
    assert.doesNotMatch(r.stderr, /\+ docker buildx build/, 'the engine ran')
    assert.equal(existsSync(path.join(dir, 'out/bad.tar')), false)
  })

  it('builds the Dockerfile `repro dockerfile generate` writes for the test bed Debian base', async () => {
    const debian = state.images.debian
    const base = `${debian.name}@${debian.manifestDigest}`
    const gen = path.join(dir, 'generated')
    const names = packages.map((p) => p.name)
    const g = await runCli(['dockerfile', 'generate', '--sde', EPOCH, '--json', gen, base, ...names], {
      cwd: dir,
      env,
      timeoutMs: 15 * 60_000,
    })
    assert.equal(g.code, 0, g.stderr)
    const df = await readFile(path.join(gen, 'Dockerfile'), 'utf8')
    assert.ok(df.includes(`ARG BASE=${base}`))
    assert.ok(existsSync(path.join(gen, 'Dockerfile.generate-hash')))
    // the base is in no registry the builder can reach: the pinned reference resolves to the test bed layout
    const out = path.join(dir, 'out/generated.tar')
    const args = [
      'build',
      '--runtime',
      'docker',
      ...common,
      '--json',
      '--hashfile',
      path.join(dir, 'SHA256SUMS-amd64'),
      // the Dockerfile as generated (ARG BASE=<pinned ref>): that reference, as a named context, is the layout
      '--build-context',
      `${base}=oci-layout://${debian.ociLayout}@${debian.manifestDigest}`,
      '-o',
      out,
      gen,
    ]
    const r = await runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(r.code, 0, `repro ${args.join(' ')} failed:\n${r.stderr.slice(-4000)}`)
    const res = JSON.parse(r.stdout) as BuildJson
    seen.generated = res.outputs[0]
    assert.match(res.outputs[0].digest, /^sha256:[a-f0-9]{64}$/)
  })
})
