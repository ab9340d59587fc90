/**
 * `repro build` on shared BuildKit (tests/e2e/testbed: step buildkitd-tls): a buildkitd on tcp://127.0.0.1 with
 * mutual TLS, and a buildx `remote` builder pointing at it. Proves: the nightly fixtures build through TLS
 * tcp:// and through the remote builder with the same image digests as the local daemon and the nightly's
 * golden digests (recorded on the local runtimes); a client certificate the daemon does not trust → exit 2
 * naming the TLS failure, nothing written; a daemon serving another BuildKit than the pin (the test bed's
 * v0.19.0) → refused, then built with --allow-unpinned-builder and recorded in the result.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parseGolden} from '../../nightly/lib/golden.js'
import {ROOT, runCli} from '../support/cli.js'
import {readTestbedState, TESTBED_STATE_FILE} from '../support/testbed.js'

const PIN = 'v0.32.2'
const OLD = 'v0.19.0'
const FIXTURES = ['scratch-copy', 'busybox-run']

interface ClientDir {
  dir: string
  ca: string
  cert: string
  key: string
}

interface State {
  docker: {ok: boolean; host: string}
  buildkit: {
    versions: Record<string, {running?: boolean; host: string; buildctl?: string; start?: string}>
  }
  buildkitTls?: {
    running: boolean
    host: string
    serverName: string
    version: string
    certs: {client: ClientDir; untrusted: ClientDir}
    remoteBuilder: {name: string; ok: boolean}
  }
  images: {busybox: {ociLayout: string; manifestDigest: string}}
}

interface Served {
  version: string
  from: string
  pin?: string
  pinned: boolean
  imageDigest?: string
}

interface BuildJson {
  runtime: string
  builder?: string
  buildkitVersion?: string
  buildkitServed?: Served
  commands: string[]
  outputs: Array<{path: string; digest: string; archiveSha256: string}>
  warnings: string[]
}

describe('repro build on shared BuildKit: TLS tcp://, a buildx remote builder, the pin', () => {
  let state: State
  let tls: NonNullable<State['buildkitTls']>
  let dir: string
  let env: Record<string, string>
  const golden = parseGolden(readFileSync(path.join(ROOT, 'nightly', 'golden.yaml'), 'utf8'))
  const digests: Record<string, Record<string, string>> = {}

  before(async () => {
    state = readTestbedState<State>()
    const bk = state.buildkit.versions[PIN]
    assert.ok(bk?.running, `test bed: buildkitd ${PIN} is not running; run \`npm run testbed -- up\``)
    assert.ok(
      state.buildkitTls?.running,
      `test bed: no mutual-TLS buildkitd in ${TESTBED_STATE_FILE} (step buildkitd-tls); run \`npm run testbed -- up\``,
    )
    tls = state.buildkitTls
    assert.ok(tls.remoteBuilder.ok, `test bed: the buildx remote builder ${tls.remoteBuilder.name} is not running`)
    assert.equal(
      golden.bases.busybox,
      state.images.busybox.manifestDigest,
      'the golden digests were recorded on another busybox base',
    )
    dir = await mkdtemp(path.join(tmpdir(), 'repro-remote-e2e-'))
    env = {DOCKER_HOST: state.docker.host, PATH: `${path.dirname(bk.buildctl ?? '')}:${process.env.PATH}`}
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
    console.log(`image digests per fixture and engine:\n${JSON.stringify(digests, null, 2)}`)
  })

  const tlsFlags = (client: ClientDir) => [
    '--buildkit-addr',
    tls.host,
    '--tls-ca',
    client.ca,
    '--tls-cert',
    client.cert,
    '--tls-key',
    client.key,
    '--tls-server-name',
    tls.serverName,
  ]

  async function build(engine: string[], fixture: string, out: string, extra: string[] = []) {
    const args = ['build', ...engine, '--sde', '0', '--no-cache', '--json', '-o', path.join(dir, out), ...extra]
    if (fixture === 'busybox-run') args.push('--build-context', `base=oci-layout://${state.images.busybox.ociLayout}`)
    args.push(path.join(ROOT, 'nightly', 'fixtures', fixture))
    return {args, r: await runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})}
  }

  async function buildOk(engine: string[], fixture: string, out: string, extra: string[] = []): Promise<BuildJson> {
    const {args, r} = await build(engine, fixture, out, extra)
    assert.equal(r.code, 0, `repro ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-3000)}`)
    const res = JSON.parse(r.stdout) as BuildJson
    assert.match(res.outputs[0].digest, /^sha256:[a-f0-9]{64}$/)
    return res
  }

  for (const fixture of FIXTURES) {
    it(`${fixture}: the local daemon, TLS tcp:// and the buildx remote builder give the golden digest`, async () => {
      const local = await buildOk(
        ['--buildkit-addr', state.buildkit.versions[PIN].host],
        fixture,
        `${fixture}-local.tar`,
      )
      const viaTls = await buildOk(tlsFlags(tls.certs.client), fixture, `${fixture}-tls.tar`)
      const viaDir = await buildOk(
        ['--buildkit-addr', tls.host, '--tls-dir', tls.certs.client.dir, '--tls-server-name', tls.serverName],
        fixture,
        `${fixture}-tls-dir.tar`,
      )
      const remote = await buildOk(['--builder', tls.remoteBuilder.name], fixture, `${fixture}-remote.tar`)
      const d = {
        local: local.outputs[0].digest,
        tls: viaTls.outputs[0].digest,
        'tls-dir': viaDir.outputs[0].digest,
        'remote builder': remote.outputs[0].digest,
        golden: golden.digests[fixture]?.[PIN]?.['linux/amd64'],
      }
      digests[fixture] = d
      assert.deepEqual(
        {tls: d.tls, 'tls-dir': d['tls-dir'], 'remote builder': d['remote builder'], golden: d.golden},
        {tls: d.local, 'tls-dir': d.local, 'remote builder': d.local, golden: d.local},
      )
      // the TLS files are passed to buildctl and shown (paths, not secrets)
      assert.ok(viaTls.commands[0].includes(`--tlscert ${tls.certs.client.cert}`), viaTls.commands[0])
      assert.deepEqual(viaTls.buildkitServed, {
        version: PIN,
        from: `the daemon at ${tls.host}`,
        pin: PIN,
        pinned: true,
      })
      assert.equal(remote.runtime, 'docker')
      assert.equal(remote.builder, tls.remoteBuilder.name)
      assert.ok(!remote.commands.some((c) => / buildx (create|rm) /.test(c)), 'the remote builder is used as it is')
      assert.deepEqual(remote.buildkitServed, {
        version: PIN,
        from: `the builder ${tls.remoteBuilder.name}`,
        pin: PIN,
        pinned: true,
      })
    })
  }

  it('a client certificate the daemon does not trust: exit 2 naming the TLS failure, nothing written', async () => {
    const {r} = await build(tlsFlags(tls.certs.untrusted), 'scratch-copy', 'untrusted.tar')
    assert.equal(r.code, 2, r.stderr)
    const err = JSON.parse(r.stdout) as {error: {code: string; message: string}}
    assert.equal(err.error.code, 'E_ENGINE_NOT_FOUND')
    assert.match(err.error.message, new RegExp(`^the BuildKit daemon at ${tls.host}: TLS failure: .*(tls|certificate)`))
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('untrusted') || f.includes('.untrusted')),
      [],
      'nothing written',
    )
  })

  it(`a daemon serving BuildKit ${OLD}: refused, then built with --allow-unpinned-builder and recorded`, async () => {
    let old = state.buildkit.versions[OLD]
    if (!old?.running) {
      assert.ok(old?.start, `test bed: no start command for buildkitd ${OLD}`)
      // the test bed's own command (by pid, recorded in its state file); left running like its other daemons
      const [sh, script, ...rest] = old.start.split(' ')
      execFileSync(sh, [script, ...rest], {stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000})
      old = readTestbedState<State>().buildkit.versions[OLD]
      assert.ok(old?.running, `buildkitd ${OLD} did not start`)
    }
    const engine = ['--buildkit-addr', old.host]
    const refused = await build(engine, 'scratch-copy', 'old-refused.tar')
    assert.equal(refused.r.code, 2, refused.r.stderr)
    const err = JSON.parse(refused.r.stdout) as {error: {code: string; message: string}}
    assert.equal(err.error.code, 'E_ENGINE_NOT_FOUND')
    assert.equal(err.error.message, `the daemon at ${old.host} serves BuildKit ${OLD}, not the pinned ${PIN}`)
    assert.ok(!existsSync(path.join(dir, 'old-refused.tar')))

    const allowed = await buildOk(engine, 'scratch-copy', 'old-allowed.tar', ['--allow-unpinned-builder'])
    assert.deepEqual(allowed.buildkitServed, {
      version: OLD,
      from: `the daemon at ${old.host}`,
      pin: PIN,
      pinned: false,
    })
    assert.equal(allowed.buildkitVersion, OLD)
    assert.ok(
      allowed.warnings.some((w) => w.includes(`serves BuildKit ${OLD}, not the pin ${PIN}`)),
      JSON.stringify(allowed.warnings),
    )
    assert.equal(allowed.outputs[0].digest, golden.digests['scratch-copy']?.[OLD]?.['linux/amd64'])
    digests['scratch-copy'][`${OLD} (unpinned)`] = allowed.outputs[0].digest
  })
})
