/**
 * `repro push` and signed attestations on the test bed: images built by `repro build` (standalone
 * buildkitd v0.32.2) go to the real registry (Distribution 2.8 on 127.0.0.1:5000) and come back with the
 * tarball's digest, read by skopeo (independent) and by `repro analyze REF`; `repro verify --against REF`
 * reproduces them, signs the statement and attaches it as a referrer (Distribution 2.8 has no referrers
 * API: the fallback tag), `repro attest list/verify` find and check it. A push that dies midway (the CLI
 * killed during a large blob upload; a proxy that drops every manifest PUT) leaves no tag.
 * Repositories are repro-test-17/<random>/...; every manifest pushed is deleted at the end.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {RegistryClient} from '../../src/image/registry/client.js'
import {RegistryError} from '../../src/image/registry/errors.js'
import {CLI, runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

const VERSION = 'v0.32.2'
const RUN = randomBytes(4).toString('hex')
const NS = `repro-test-17/${RUN}`
const LONG = {timeoutMs: 15 * 60_000}

let state: TestbedState
let dir: string
let env: Record<string, string>
let builder: string[]
let registry: string
let client: RegistryClient
/** [repository, digest] of every manifest this file made, deleted in after() */
const created: Array<[string, string]> = []
const seen: Record<string, string> = {}
const validator = new SchemaValidator()

/** A pass-through proxy in front of the registry that can drop manifest PUTs or stall big blob uploads. */
class FaultProxy {
  private server!: http.Server
  port = 0
  onStall: (() => void) | undefined
  constructor(
    private readonly upstream: string,
    private readonly mode: 'drop-manifest-put' | 'stall-big-upload',
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const url = req.url ?? '/'
      if (this.mode === 'drop-manifest-put' && req.method === 'PUT' && url.includes('/manifests/')) {
        req.socket.destroy() // the connection dies mid-request, as with a crash or a cut network
        return
      }
      const size = Number(req.headers['content-length'] ?? 0)
      if (this.mode === 'stall-big-upload' && url.includes('/blobs/uploads/') && size > 4 << 20) {
        let got = 0
        req.on('data', (c: Buffer) => {
          got += c.length
          if (got > 1 << 20 && this.onStall) {
            const f = this.onStall
            this.onStall = undefined
            f()
          }
        })
        return // never answered: the upload hangs midway
      }
      const [host, port] = this.upstream.split(':')
      const up = http.request({host, port: Number(port), method: req.method, path: url, headers: req.headers}, (r) => {
        const headers = {...r.headers}
        if (headers.location)
          headers.location = headers.location.replace(`http://${this.upstream}`, `http://${this.host}`)
        res.writeHead(r.statusCode ?? 502, headers)
        r.pipe(res)
      })
      up.on('error', () => res.destroy())
      req.pipe(up)
    })
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.port = (this.server.address() as AddressInfo).port
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }
}

async function tagsOf(repository: string): Promise<string[]> {
  try {
    return await client.repository(repository).listTags()
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return [] // the repository has no tag at all
    throw error
  }
}

function skopeoRaw(ref: string): Buffer {
  return execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])
}

function skopeoDigest(ref: string): string {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]).toString()
  return (JSON.parse(out) as {Digest: string}).Digest
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

async function cli(args: string[], expect = 0): Promise<{stdout: string; stderr: string}> {
  const r = await runCli(args, {cwd: dir, env, ...LONG})
  assert.equal(
    r.code,
    expect,
    `repro ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`,
  )
  return r
}

before(async () => {
  state = readTestbedState()
  const bk = state.buildkit.versions[VERSION]
  assert.ok(state.registry?.ok, 'test bed: the registry is not ok; run `npm run testbed -- up`')
  assert.ok(bk?.running && bk.host, `test bed: buildkitd ${VERSION} is not running; run \`npm run testbed -- up\``)
  registry = state.registry.address
  client = new RegistryClient({registry})
  dir = await mkdtemp(path.join(tmpdir(), 'repro-push-e2e-'))
  env = {PATH: `${path.dirname(bk.buildctl ?? '')}:${process.env.PATH}`, DOCKER_CONFIG: path.join(dir, 'docker-config')}
  builder = ['--runtime', 'buildkit', '--buildkit-addr', bk.host!]
  await mkdir(path.join(dir, 'scratch'), {recursive: true})
  await writeFile(path.join(dir, 'scratch/Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  await writeFile(path.join(dir, 'scratch/hello.txt'), `hello from issue 17, run ${RUN}\n`)
  await mkdir(path.join(dir, 'big'), {recursive: true})
  await writeFile(path.join(dir, 'big/Dockerfile'), 'FROM scratch\nCOPY blob.bin /blob.bin\n')
  await writeFile(path.join(dir, 'big/blob.bin'), randomBytes(24 << 20)) // incompressible: a 24 MiB layer
})

after(async () => {
  const failures: string[] = []
  // referrers and tags go with the manifests they point at; delete children last so nothing dangles
  for (const [repository, digest] of created.reverse()) {
    await client
      .repository(repository)
      .deleteManifest(digest)
      .catch((e: Error) => failures.push(`${repository}@${digest}: ${e.message}`))
  }
  if (dir) await rm(dir, {recursive: true, force: true})
  console.log(`digests seen:\n${JSON.stringify(seen, null, 2)}`)
  if (failures.length) console.log(`cleanup failures:\n${failures.join('\n')}`)
})

describe('repro push and signed attestations on the test bed registry', () => {
  const single = (): string => `${registry}/${NS}/single:v1`
  const multi = (): string => `${registry}/${NS}/multi:v1`

  test('build --push: the registry (skopeo, repro analyze) gives the tarball digest', async () => {
    const out = path.join(dir, 'single.tar')
    const r = await cli([
      'build',
      ...builder,
      '--sde',
      '0',
      '-o',
      out,
      '--push',
      single(),
      '--json',
      path.join(dir, 'scratch'),
    ])
    const res = JSON.parse(r.stdout) as {outputs: Array<{digest: string}>; push: {reference: string; digest: string}}
    validator.check('build', res, 'build --push --json')
    const digest = res.outputs[0].digest
    created.push([`${NS}/single`, digest])
    seen.single = digest
    assert.equal(res.push.digest, digest)
    assert.equal(res.push.reference, `${single()}@${digest}`)
    assert.equal(sha256(skopeoRaw(single())), digest, 'skopeo --raw bytes hash to the tarball digest')
    assert.equal(skopeoDigest(single()), digest)
    const a = JSON.parse((await cli(['analyze', single(), '--json'])).stdout) as {imageDigest: string}
    assert.equal(a.imageDigest, digest)
    const local = JSON.parse((await cli(['analyze', out, '--json'])).stdout) as {imageDigest: string}
    assert.equal(local.imageDigest, digest)

    // again: nothing to upload; elsewhere with --mount-from: every blob mounted, the same digest
    const again = JSON.parse((await cli(['push', out, single(), '--json'])).stdout) as {
      blobs: Array<{action: string}>
    }
    assert.ok(again.blobs.every((b) => b.action === 'exists'))
    const copy = `${registry}/${NS}/copy:v1`
    const m = JSON.parse((await cli(['push', out, copy, '--mount-from', `${NS}/single`, '--json'])).stdout) as {
      digest: string
      blobs: Array<{action: string}>
    }
    created.push([`${NS}/copy`, m.digest])
    assert.equal(m.digest, digest)
    assert.deepEqual(
      m.blobs.map((b) => b.action),
      m.blobs.map(() => 'mounted'),
    )
  })

  test('multi-platform OCI archive (linux/amd64, linux/arm64): the index digest, children pushed first', async () => {
    const out = path.join(dir, 'multi.tar')
    const b = await cli([
      'build',
      ...builder,
      '--sde',
      '0',
      '--format',
      'oci',
      '--platform',
      'linux/amd64,linux/arm64',
      '-o',
      out,
      '--json',
      path.join(dir, 'scratch'),
    ])
    const built = JSON.parse(b.stdout) as {outputs: Array<{digest: string; manifests: Array<{digest: string}>}>}
    const digest = built.outputs[0].digest
    seen.multi = digest
    const r = await cli(['push', out, multi()])
    for (const m of built.outputs[0].manifests) created.push([`${NS}/multi`, m.digest])
    created.push([`${NS}/multi`, digest])
    assert.equal(r.stdout.trim(), `${multi()}@${digest}`)
    const raw = skopeoRaw(multi())
    assert.equal(sha256(raw), digest)
    const index = JSON.parse(raw.toString()) as {
      mediaType: string
      manifests: Array<{digest: string; platform: {architecture: string}}>
    }
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json')
    assert.deepEqual(
      index.manifests.map((m) => m.platform.architecture),
      ['amd64', 'arm64'],
    )
    for (const m of index.manifests) assert.equal(sha256(skopeoRaw(`${registry}/${NS}/multi@${m.digest}`)), m.digest)
    const a = JSON.parse((await cli(['analyze', multi(), '--json'])).stdout) as {imageDigest: string}
    assert.equal(a.imageDigest, digest)
  })

  test('verify --against REF reproduces; the signed statement is attached, listed and verified; tampering or another key fails', async () => {
    assert.ok(seen.single, 'the single-platform push ran before')
    const keys = path.join(dir, 'keys')
    await mkdir(keys)
    await cli(['attest', 'keygen', '--output-prefix', path.join(keys, 'release')])
    await cli(['attest', 'keygen', '--algorithm', 'ed25519', '--output-prefix', path.join(keys, 'other')])
    const att = path.join(dir, 'verification.intoto.json')
    const v = await cli([
      'verify',
      ...builder,
      '--sde',
      '0',
      '--times',
      '1',
      '--against',
      single(),
      '--attest',
      att,
      '--sign-key',
      path.join(keys, 'release.key'),
      '--attach',
      single(),
      '--json',
      path.join(dir, 'scratch'),
    ])
    const res = JSON.parse(v.stdout) as {
      reproduced: boolean
      digest: string
      attached: {digest: string; fallbackTag?: string; subjectDigest: string}
    }
    validator.check('verify', res, 'verify --attach --json')
    assert.equal(res.reproduced, true)
    assert.equal(res.digest, seen.single)
    assert.equal(res.attached.subjectDigest, seen.single)
    assert.equal(res.attached.fallbackTag, `sha256-${seen.single.slice(7)}`, 'Distribution 2.8: the fallback tag')
    created.push([`${NS}/single`, res.attached.digest])
    const fallback = await client.repository(`${NS}/single`).headManifest(res.attached.fallbackTag)
    assert.ok(fallback, 'the fallback tag exists')
    created.push([`${NS}/single`, fallback.digest])
    seen.attestation = res.attached.digest
    const envelope = JSON.parse(await readFile(att, 'utf8')) as {
      payloadType: string
      payload: string
      signatures: unknown[]
    }
    assert.equal(envelope.payloadType, 'application/vnd.in-toto+json')

    const list = JSON.parse((await cli(['attest', 'list', single(), '--json'])).stdout) as {
      referrers: Array<{digest: string; artifactType: string; predicateType: string}>
    }
    assert.deepEqual(
      list.referrers.map((r) => [r.digest, r.artifactType, r.predicateType]),
      [[res.attached.digest, 'application/vnd.in-toto+json', 'https://repro.dev/verification/v1']],
    )
    // the referrer as stored: its one layer is the envelope file byte-for-byte
    const referrer = JSON.parse(skopeoRaw(`${registry}/${NS}/single@${res.attached.digest}`).toString()) as {
      artifactType: string
      subject: {digest: string}
      layers: Array<{mediaType: string; digest: string}>
    }
    assert.equal(referrer.subject.digest, seen.single)
    assert.equal(referrer.layers[0].mediaType, 'application/vnd.dsse.envelope.v1+json')
    assert.equal(referrer.layers[0].digest, sha256(await readFile(att)))

    await cli(['attest', 'verify', att, '--key', path.join(keys, 'release.pub')])
    // and where it is stored: fetched from the registry (fallback tag), checked, about this image
    const remote = JSON.parse(
      (await cli(['attest', 'verify', single(), '--key', path.join(keys, 'release.pub'), '--json'])).stdout,
    ) as {valid: boolean; attestations: Array<{digest: string; valid: boolean}>}
    assert.deepEqual(
      remote.attestations.map((a) => [a.digest, a.valid]),
      [[res.attached.digest, true]],
    )
    await cli(['attest', 'verify', single(), '--key', path.join(keys, 'other.pub')], 1)
    await cli(['attest', 'verify', att, '--key', path.join(keys, 'other.pub')], 1)
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as {
      predicate: {verdict: {result: string}}
    }
    statement.predicate.verdict.result = 'reproduced!'
    const tampered = path.join(dir, 'tampered.json')
    await writeFile(
      tampered,
      JSON.stringify({...envelope, payload: Buffer.from(JSON.stringify(statement)).toString('base64')}),
    )
    await cli(['attest', 'verify', tampered, '--key', path.join(keys, 'release.pub')], 1)
    // the statement is about the single-platform image: attaching it to another image is refused
    const wrong = await runCli(['attest', 'attach', att, multi()], {cwd: dir, env})
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /the statement is about sha256:[a-f0-9]{64}, not .*multi:v1/)
  })

  test('a push killed (SIGKILL, or SIGINT as Ctrl-C) during a large blob upload leaves no tag; pushing again completes it', async () => {
    const out = path.join(dir, 'big.tar')
    const b = await cli(['build', ...builder, '--sde', '0', '-o', out, '--json', path.join(dir, 'big')])
    const digest = (JSON.parse(b.stdout) as {outputs: Array<{digest: string}>}).outputs[0].digest
    seen.big = digest
    const repository = `${NS}/killed`
    // SIGKILL on the tar (blobs stream straight from it), SIGINT on a .tar.gz of it (read in one pass, so its
    // blobs are copied to a temp dir first: the lifecycle must remove it)
    const gz = `${out}.gz`
    execFileSync('sh', ['-c', 'gzip -1 -c "$1" > "$2"', 'sh', out, gz])
    for (const [sig, input] of [
      ['SIGKILL', out],
      ['SIGINT', gz],
    ] as const) {
      const proxy = new FaultProxy(registry, 'stall-big-upload')
      await proxy.start()
      const tmp = path.join(dir, `tmp-${sig}`) // the child's TMPDIR
      await mkdir(tmp)
      let status: {code: number | null; signal: NodeJS.Signals | null}
      let during: string[] = []
      try {
        const child = spawn(process.execPath, [CLI, 'push', input, `${proxy.host}/${repository}:v1`], {
          env: {...process.env, ...env, TMPDIR: tmp},
          stdio: 'ignore',
        })
        const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((r) =>
          child.on('close', (code, signal) => r({code, signal})),
        )
        const stalled = new Promise<void>((r) => (proxy.onStall = r))
        const first = await Promise.race([stalled.then(() => 'stalled'), exited.then((c) => `exited ${c.code}`)])
        assert.equal(first, 'stalled', 'the upload reached the proxy')
        during = (await readdir(tmp)).filter((f) => f.startsWith('repro-push-'))
        child.kill(sig)
        status = await exited
      } finally {
        await proxy.stop()
      }
      assert.equal(status.signal, sig, `${sig}: the CLI dies of the signal`)
      assert.deepEqual(await tagsOf(repository), [], `${sig}: no tag`)
      assert.equal(await client.repository(repository).headManifest(digest), undefined, `${sig}: no manifest either`)
      assert.equal(during.length, sig === 'SIGINT' ? 1 : 0, `${sig}: temp dirs during the upload`)
      assert.deepEqual(await readdir(tmp), [], `${sig}: nothing left in TMPDIR`)
    }
    const again = JSON.parse((await cli(['push', out, `${registry}/${repository}:v1`, '--json'])).stdout) as {
      digest: string
    }
    created.push([repository, digest])
    assert.equal(again.digest, digest)
    assert.deepEqual(await tagsOf(repository), ['v1'])
  })

  test('a proxy that drops every manifest PUT: the push fails (exit 2) and no tag appears', async () => {
    const proxy = new FaultProxy(registry, 'drop-manifest-put')
    await proxy.start()
    const repository = `${NS}/dropped`
    try {
      const r = await runCli(['push', path.join(dir, 'multi.tar'), `${proxy.host}/${repository}:v1`], {
        cwd: dir,
        env,
        ...LONG,
      })
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /PUT manifest sha256:[a-f0-9]{64}: .*(connection|closed|reset|socket)/i)
    } finally {
      await proxy.stop()
    }
    assert.deepEqual(await tagsOf(repository), [])
  })
})
