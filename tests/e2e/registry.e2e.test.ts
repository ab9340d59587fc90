/**
 * The registry client on the test bed's real registry (Distribution 2.8 on 127.0.0.1:5000, no auth) and
 * behind a token-auth proxy written here: /token wants Basic credentials (anonymous callers get pull only)
 * and hands out Bearer tokens carrying their scopes; every /v2/ request needs a token with the scopes it
 * needs (pull; pull,push; the mount source's pull) before it is forwarded to the real registry.
 *
 * Proven through the built CLI: read and resolve a tag (`repro analyze REF`, `repro diff ARCHIVE REF`),
 * push and fetch (`repro get push`, `repro get download --provider oci://...`), with credentials from
 * docker config `auths`, from a credential helper (`docker-credential-repro-test`, a script put on PATH in
 * the CLI's environment), and anonymously. In process, on the real registry: chunked upload,
 * cross-repository mount, manifest put, tag pagination and the referrers fallback tag.
 */
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {RegistryClient} from '../../src/image/registry/client.js'
import {runCli} from '../support/cli.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`
const RUN = randomBytes(4).toString('hex')
const NS = `repro-test-12/${RUN}`
const USER = 'repro'
const PASSWORD = randomBytes(9).toString('hex')

interface State extends TestbedState {
  debs: TestbedState['debs'] & {packages: Array<{sha256: string; filename: string}>}
}

/** The token-auth proxy in front of the real registry. */
class TokenProxy {
  private server!: http.Server
  private readonly tokens = new Map<string, Set<string>>()
  readonly grants: Array<{user: string; scopes: string[]}> = []
  readonly denied: string[] = []
  port = 0

  constructor(private readonly upstream: string) {}

  get host(): string {
    return `127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res))
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.port = (this.server.address() as AddressInfo).port
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', `http://${this.host}`)
    if (url.pathname === '/token') {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')
      let user = 'anonymous'
      if (basic) {
        if (Buffer.from(basic[1], 'base64').toString() !== `${USER}:${PASSWORD}`) {
          res.writeHead(401).end('bad credentials')
          return
        }
        user = USER
      }
      const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '))
      const grant = new Set<string>()
      for (const s of scopes) {
        const [type, name, actions] = s.split(':')
        for (const a of actions?.split(',') ?? [])
          if (type === 'repository' && (user === USER || a === 'pull')) grant.add(`${name}:${a}`)
      }
      this.grants.push({user, scopes})
      const token = randomBytes(16).toString('hex')
      this.tokens.set(token, grant)
      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token, expires_in: 300}))
      return
    }
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//.exec(url.pathname)
    if (url.pathname !== '/v2/' && !m) {
      res.writeHead(404).end()
      return
    }
    const write = req.method !== 'GET' && req.method !== 'HEAD'
    const needs = m ? [`${m[1]}:pull`, ...(write ? [`${m[1]}:push`] : [])] : []
    const from = url.searchParams.get('from')
    if (from) needs.push(`${from}:pull`)
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
    const granted = bearer ? this.tokens.get(bearer[1]) : undefined
    if (!granted || !needs.every((n) => granted.has(n))) {
      this.denied.push(`${req.method} ${url.pathname}`)
      const scope = m ? `repository:${m[1]}:${write ? 'pull,push' : 'pull'}` : ''
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${this.host}/token",service="repro-e2e"${scope ? `,scope="${scope}"` : ''}`,
        'content-type': 'application/json',
      })
      res.end(JSON.stringify({errors: [{code: 'UNAUTHORIZED', message: 'authentication required'}]}))
      return
    }
    const headers = {...req.headers}
    delete headers.authorization
    headers.host = this.upstream
    const up = http.request(
      {host: '127.0.0.1', port: Number(this.upstream.split(':')[1]), method: req.method, path: req.url, headers},
      (upRes) => {
        const out = {...upRes.headers}
        if (out.location) out.location = out.location.replace(`http://${this.upstream}`, `http://${this.host}`)
        res.writeHead(upRes.statusCode ?? 502, out)
        upRes.pipe(res)
      },
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  }
}

let state: State
let dir: string
let proxy: TokenProxy
let busyboxRef: string
let helperLog: string
const env: Record<string, Record<string, string>> = {}

before(async () => {
  state = readTestbedState<State>()
  assert.ok(state.registry?.ok, 'test bed: the registry is not ok; run `npm run testbed -- up`')
  busyboxRef = state.images.busybox.registryRef
  dir = await mkdtemp(path.join(tmpdir(), 'repro-registry-e2e-'))
  proxy = new TokenProxy(state.registry.address)
  await proxy.start()
  // docker config with `auths` (the proxy's host, as `docker login` writes it)
  const auths = path.join(dir, 'auths')
  await mkdir(auths)
  await writeFile(
    path.join(auths, 'config.json'),
    JSON.stringify({auths: {[proxy.host]: {auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}}}),
  )
  // docker config naming a credential helper, and the helper: a script on PATH that answers for the proxy
  const helpers = path.join(dir, 'helpers')
  const bin = path.join(dir, 'bin')
  await mkdir(helpers)
  await mkdir(bin)
  helperLog = path.join(dir, 'helper.log')
  await writeFile(path.join(helpers, 'config.json'), JSON.stringify({credHelpers: {[proxy.host]: 'repro-test'}}))
  const script = path.join(bin, 'docker-credential-repro-test')
  await writeFile(
    script,
    `#!/bin/sh
[ "$1" = get ] || { echo "unsupported: $1" >&2; exit 1; }
read -r server
echo "$server" >> '${helperLog}'
if [ "$server" = '${proxy.host}' ]; then
  printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}\\n' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
`,
  )
  await chmod(script, 0o755)
  await mkdir(path.join(dir, 'empty'))
  env.auths = {DOCKER_CONFIG: auths}
  env.helper = {DOCKER_CONFIG: helpers, PATH: `${bin}:${process.env.PATH}`}
  env.anonymous = {DOCKER_CONFIG: path.join(dir, 'empty')}
})

after(async () => {
  await proxy?.stop()
  if (dir) await rm(dir, {recursive: true, force: true})
})

describe('registry client on the test bed registry', () => {
  test('anonymous read of the real registry: analyze resolves the tag to the test bed digest; diff with its archive is empty', async () => {
    const a = await runCli(['analyze', busyboxRef, '--json'], {env: env.anonymous})
    assert.equal(a.code, 0, a.stderr)
    const r = JSON.parse(a.stdout)
    assert.equal(r.imageDigest, state.images.busybox.manifestDigest)
    assert.equal(r.path, busyboxRef)
    assert.equal(r.images[0].imageId, state.images.busybox.configDigest)
    const d = await runCli(['diff', state.images.busybox.ociArchive, busyboxRef, '--semantic', '--json'], {
      env: env.anonymous,
    })
    assert.equal(d.code, 0, d.stderr)
    assert.equal(JSON.parse(d.stdout).same, true)
    const pinned = await runCli(
      ['analyze', `${busyboxRef}@${state.images.busybox.manifestDigest}`, '--verify', '--json'],
      {
        env: env.anonymous,
      },
    )
    assert.equal(pinned.code, 0, pinned.stderr)
    assert.equal(JSON.parse(pinned.stdout).verification.ok, true)
  })

  test('in process on the real registry: mount, chunked upload, manifest put, tags, referrers fallback tag', async () => {
    const registry = new RegistryClient({registry: state.registry.address})
    const source = registry.repository('repro-testbed/busybox')
    const target = registry.repository(`${NS}/busybox`)
    const manifest = await source.getManifest('1')
    assert.equal(manifest.digest, state.images.busybox.manifestDigest)
    const json = manifest.json as {config: {digest: string}; layers: Array<{digest: string}>}
    for (const d of [json.config.digest, ...json.layers.map((l) => l.digest)])
      assert.equal(await target.uploadBlob(d, Buffer.alloc(0), {mountFrom: 'repro-testbed/busybox'}), 'mounted', d)
    const extra = randomBytes(300_000)
    assert.equal(await target.uploadBlob(sha256(extra), extra, {chunkSize: 64 * 1024}), 'uploaded')
    assert.equal(await target.blobSize(sha256(extra)), extra.length)
    const fetched = path.join(dir, 'extra.bin')
    await target.fetchBlob({digest: sha256(extra), size: extra.length}, fetched)
    assert.deepEqual(await readFile(fetched), extra)
    for (const tag of ['a', 'b', 'c'])
      assert.equal((await target.putManifest(tag, manifest.mediaType, manifest.bytes)).digest, manifest.digest)
    assert.deepEqual(await target.listTags(2), ['a', 'b', 'c'])
    assert.equal((await target.resolve('b')).digest, manifest.digest)
    const empty = Buffer.from('{}')
    await target.uploadBlob(sha256(empty), empty)
    const note = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.repro.test+json',
        config: {mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2},
        layers: [{mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2}],
        subject: {mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length},
      }),
    )
    const put = await target.putReferrer('application/vnd.oci.image.manifest.v1+json', note, manifest.digest)
    assert.equal(put.fallback, true, 'Distribution 2.8 has no referrers API: the fallback tag is written')
    const refs = await target.referrers(manifest.digest)
    assert.deepEqual(
      refs.map((r) => [r.digest, r.artifactType]),
      [[sha256(note), 'application/vnd.repro.test+json']],
    )
    assert.ok((await target.listTags()).includes(`sha256-${manifest.digest.slice(7)}`))
  })

  test('token auth with auths credentials: push packages with get push, read them back, analyze through the proxy', async () => {
    const cache = path.join(dir, 'cache-auths')
    const imp = await runCli(['cache', 'import', '--cache', cache, state.debs.dir])
    assert.equal(imp.code, 0, imp.stderr)
    const to = `oci://${proxy.host}/${NS}/debs:auths`
    const push = await runCli(['get', 'push', '--cache', cache, state.debs.sha256sums, '--to', to, '--json'], {
      env: env.auths,
    })
    assert.equal(push.code, 0, push.stderr)
    const pushed = JSON.parse(push.stdout)
    assert.equal(pushed.blobs.length, state.debs.packages.length)
    assert.ok(proxy.grants.some((g) => g.user === USER && g.scopes.includes(`repository:${NS}/debs:pull,push`)))
    // the real registry has the manifest under the tag, with the digest get push reported
    const direct = new RegistryClient({registry: state.registry.address}).repository(`${NS}/debs`)
    assert.equal((await direct.resolve('auths')).digest, pushed.manifestDigest)
    const fresh = path.join(dir, 'fresh-auths')
    const dl = await runCli(
      [
        'get',
        'download',
        '--cache',
        fresh,
        '--distro',
        'debian',
        '--provider',
        `oci://${proxy.host}/${NS}/debs`,
        state.debs.sha256sums,
        '--json',
      ],
      {env: env.auths},
    )
    assert.equal(dl.code, 0, dl.stderr)
    assert.equal(JSON.parse(dl.stdout).downloaded, state.debs.packages.length)
    assert.deepEqual(
      (await readdir(path.join(fresh, 'blobs/sha256'))).sort(),
      state.debs.packages.map((p) => p.sha256).sort(),
    )
    const a = await runCli(['analyze', `${proxy.host}/repro-testbed/busybox:1`, '--json'], {env: env.auths})
    assert.equal(a.code, 0, a.stderr)
    assert.equal(JSON.parse(a.stdout).imageDigest, state.images.busybox.manifestDigest)
    assert.ok(
      proxy.grants.some((g) => g.user === USER && g.scopes.join(' ') === 'repository:repro-testbed/busybox:pull'),
    )
  })

  test('token auth with a credential helper on PATH: push, resolve, fetch', async () => {
    const cache = path.join(dir, 'cache-helper')
    assert.equal((await runCli(['cache', 'import', '--cache', cache, state.debs.dir])).code, 0)
    const to = `oci://${proxy.host}/${NS}/debs-helper:v1`
    const push = await runCli(['get', 'push', '--cache', cache, state.debs.sha256sums, '--to', to, '--json'], {
      env: env.helper,
    })
    assert.equal(push.code, 0, push.stderr)
    const digest = JSON.parse(push.stdout).manifestDigest
    assert.match(await readFile(helperLog, 'utf8'), new RegExp(`^${proxy.host.replaceAll('.', '\\.')}$`, 'm'))
    const fresh = path.join(dir, 'fresh-helper')
    const dl = await runCli(
      [
        'get',
        'download',
        '--cache',
        fresh,
        '--distro',
        'debian',
        '--provider',
        `oci://${proxy.host}/${NS}/debs-helper`,
        state.debs.sha256sums,
        '--json',
      ],
      {env: env.helper},
    )
    assert.equal(dl.code, 0, dl.stderr)
    assert.equal(JSON.parse(dl.stdout).downloaded, state.debs.packages.length)
    const d = await runCli(
      ['diff', state.images.busybox.ociArchive, `${proxy.host}/repro-testbed/busybox:1`, '--semantic', '--json'],
      {
        env: env.helper,
      },
    )
    assert.equal(d.code, 0, d.stderr)
    assert.equal(JSON.parse(d.stdout).b.imageDigest, state.images.busybox.manifestDigest)
    const direct = new RegistryClient({registry: state.registry.address}).repository(`${NS}/debs-helper`)
    assert.equal((await direct.resolve('v1')).digest, digest)
  })

  test('anonymous through the proxy: pull works, push is refused with exit 2 naming the reference', async () => {
    const a = await runCli(['analyze', `${proxy.host}/repro-testbed/busybox:1`, '--json'], {env: env.anonymous})
    assert.equal(a.code, 0, a.stderr)
    assert.equal(JSON.parse(a.stdout).imageDigest, state.images.busybox.manifestDigest)
    assert.ok(proxy.grants.some((g) => g.user === 'anonymous'))
    const cache = path.join(dir, 'cache-auths')
    const to = `oci://${proxy.host}/${NS}/debs-anon`
    const push = await runCli(['get', 'push', '--cache', cache, state.debs.sha256sums, '--to', to], {
      env: env.anonymous,
    })
    assert.equal(push.code, 2, push.stderr)
    assert.match(push.stderr, new RegExp(`^Error: ${proxy.host.replaceAll('.', '\\.')}/${NS}/debs-anon: .*HTTP 401`))
    assert.match(push.stderr, /hint: log in with `docker login/)
    const missing = await runCli(['analyze', `${proxy.host}/${NS}/nothing:here`], {env: env.anonymous})
    assert.equal(missing.code, 2)
    assert.match(
      missing.stderr,
      new RegExp(`^Error: ${proxy.host.replaceAll('.', '\\.')}/${NS}/nothing:here: GET manifest here: HTTP 404`),
    )
  })
})
