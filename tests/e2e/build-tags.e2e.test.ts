/**
 * `repro build -t a -t b` on real engines from the test bed (issue 11). BuildKit's docker exporter writes one
 * index.json entry per name, all for the same manifest; the image core must take them as one image with two
 * tags. Proves, on Docker (buildx docker-container builder), Podman and a standalone buildkitd: the build
 * prints ONE digest; `repro analyze` sees one image carrying both names and `--expected-image-digest` with
 * that digest exits 0; `repro verify -t a -t b --expected-image-digest` rebuilds it and exits 0.
 */
import assert from 'node:assert/strict'
import {cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT, runCli} from '../support/cli.js'
import {readTestbedState} from '../support/testbed.js'

interface TestbedState {
  buildkit: {
    default: string
    versions: Record<string, {running?: boolean; host: string; buildctl?: string; image?: {name: string}}>
  }
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
}

interface AnalyzeJson {
  imageDigest: string | null
  images: Array<{manifest: {digest: string} | null; platform: string; tags: string[]}>
  index: {manifests: Array<{digest: string; annotations: Record<string, string>}>} | null
}

const MINUTES = 60_000

describe('repro build with two tags on real engines', () => {
  let state: TestbedState
  let dir: string
  let env: Record<string, string>
  const runtimes: Record<string, string[]> = {}
  // unique names: other helpers build on the same daemons
  const tagA = `repro-e2e-tags-${process.pid}:one`
  const tagB = `repro-e2e-tags-${process.pid}:latest`
  const digests: Record<string, string> = {}

  before(async () => {
    state = readTestbedState<TestbedState>()
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(state.docker?.ok, 'test bed: docker is not ok; run `npm run testbed -- up`')
    assert.ok(state.podman?.ok, 'test bed: podman is not ok; run `npm run testbed -- up`')
    assert.ok(
      bk?.running,
      `test bed: buildkitd ${state.buildkit.default} is not running; run \`npm run testbed -- up\``,
    )
    assert.ok(bk.image?.name, `test bed: no local BuildKit ${state.buildkit.default} image`)
    env = {
      DOCKER_HOST: state.docker.host,
      PATH: `${path.dirname(bk.buildctl ?? '/usr/bin/buildctl')}:${process.env.PATH}`,
    }
    runtimes.docker = ['--runtime', 'docker', '--buildkit-image', bk.image.name]
    runtimes.podman = ['--runtime', 'podman', '--buildkit-image', bk.image.name]
    runtimes.buildkit = ['--runtime', 'buildkit', '--buildkit-addr', bk.host]
    dir = await mkdtemp(path.join(tmpdir(), 'repro-build-tags-e2e-'))
    await cp(path.join(ROOT, 'nightly/fixtures/scratch-copy'), path.join(dir, 'scratch'), {recursive: true})
  })

  after(async () => {
    if (dir) await rm(dir, {force: true, recursive: true})
    console.log(`image digests with two tags: ${JSON.stringify(digests)}`)
  })

  for (const runtime of ['docker', 'podman', 'buildkit']) {
    it(`${runtime}: build -t a -t b prints one digest; analyze and verify accept it`, async () => {
      const out = path.join(dir, `tags-${runtime}.tar`)
      const tags = ['-t', tagA, '-t', tagB]
      const build = await runCli(['build', ...runtimes[runtime], '--sde', '0', ...tags, '-o', out, 'scratch'], {
        cwd: dir,
        env,
        timeoutMs: 15 * MINUTES,
      })
      assert.equal(build.code, 0, `build failed:\n${build.stderr.slice(-3000)}`)
      const lines = build.stdout.trimEnd().split('\n')
      assert.equal(lines.length, 1, `one line on stdout, got:\n${build.stdout}`)
      const m = /^(sha256:[a-f0-9]{64}) {2}(.+)$/.exec(lines[0])
      assert.ok(m, `stdout is "DIGEST  PATH", got: ${lines[0]}`)
      assert.equal(m[2], out)
      const digest = m[1]
      digests[runtime] = digest

      const analyzed = await runCli(['analyze', '--json', out], {cwd: dir, env: {}, timeoutMs: 5 * MINUTES})
      assert.equal(analyzed.code, 0, analyzed.stderr)
      const a = JSON.parse(analyzed.stdout) as AnalyzeJson
      assert.equal(a.imageDigest, digest, 'analyze reads the digest build printed')
      // the case of the issue: index.json lists the one manifest once per name
      const listed = a.index?.manifests.map((d) => d.digest) ?? []
      assert.ok(listed.length >= 2, `index.json lists the manifest once per name: ${JSON.stringify(a.index)}`)
      assert.deepEqual([...new Set(listed)], [digest])
      assert.equal(
        a.images.length,
        1,
        `one image, not one per name: ${JSON.stringify(a.images.map((i) => i.platform))}`,
      )
      assert.equal(a.images[0].manifest?.digest, digest)
      for (const t of [tagA, tagB])
        assert.ok(
          a.images[0].tags.some((n) => n === t || n.endsWith(`/${t}`)),
          `the image carries ${t}: ${JSON.stringify(a.images[0].tags)}`,
        )

      const expected = await runCli(['analyze', '--expected-image-digest', digest, out], {
        cwd: dir,
        env: {},
        timeoutMs: 5 * MINUTES,
      })
      assert.equal(
        expected.code,
        0,
        `analyze --expected-image-digest ${digest}:\n${expected.stderr}\n${expected.stdout}`,
      )
      const verified = await runCli(['analyze', '--verify', out], {cwd: dir, env: {}, timeoutMs: 5 * MINUTES})
      assert.equal(verified.code, 0, `analyze --verify:\n${verified.stderr}`)

      const verify = await runCli(
        [
          'verify',
          ...runtimes[runtime],
          '--sde',
          '0',
          ...tags,
          '--times',
          '1',
          '--expected-image-digest',
          digest,
          '--json',
          'scratch',
        ],
        {cwd: dir, env, timeoutMs: 15 * MINUTES},
      )
      assert.equal(verify.code, 0, `verify -t a -t b:\n${verify.stderr.slice(-3000)}\n${verify.stdout.slice(0, 2000)}`)
      const v = JSON.parse(verify.stdout) as {reproduced: boolean; digest: string}
      assert.equal(v.reproduced, true)
      assert.equal(v.digest, digest)
    })
  }

  it('the three runtimes give the same two-tag digest', () => {
    assert.ok(
      digests.docker && digests.podman && digests.buildkit,
      `a runtime failed before: ${JSON.stringify(digests)}`,
    )
    assert.deepEqual(
      {podman: digests.podman, buildkit: digests.buildkit},
      {podman: digests.docker, buildkit: digests.docker},
    )
  })
})
