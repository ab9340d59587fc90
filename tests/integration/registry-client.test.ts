/**
 * The registry client against an in-process registry (tests/support/fake-registry.ts, written from the
 * distribution spec): pulls into a layout read by the archive reader, pushes (monolithic, chunked, mount),
 * tags with pagination, referrers (API and fallback tag), retries, redirects, and every credential source
 * docker has (auths with aliases, credsStore, credHelpers through a recording Exec, anonymous).
 */
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {after, afterEach, before, describe, test} from 'node:test'

import type {Exec, ExecOptions} from '../../src/exec.js'
import {readImageArchive} from '../../src/image/archive.js'
import {RegistryClient} from '../../src/image/registry/client.js'
import {dockerCredentialStore} from '../../src/image/registry/credentials.js'
import {openRepository} from '../../src/image/registry/index.js'
import {pullToLayout} from '../../src/image/registry/layout.js'
import {parseReference} from '../../src/image/registry/reference.js'
import {FakeRegistry} from '../support/fake-registry.js'
import {buildImage, type BuiltImage, tempDir} from '../support/image-fixtures.js'

const FAST = {backoffMs: 1, maxBackoffMs: 5}
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** An Exec that answers docker-credential-* helpers from a table and records argv and stdin. */
function helperExec(answers: Record<string, {stdout?: string; exitCode?: number; notFound?: boolean}>): Exec & {
  calls: Array<{argv: string[]; input: string}>
} {
  const calls: Array<{argv: string[]; input: string}> = []
  const fn = (async (argv: string[], options: ExecOptions = {}) => {
    calls.push({argv, input: String(options.input ?? '')})
    const a = answers[argv[0]] ?? {notFound: true}
    return {
      argv,
      exitCode: a.notFound ? undefined : (a.exitCode ?? 0),
      stdout: a.stdout ?? '',
      stderr: '',
      notFound: !!a.notFound,
    }
  }) as Exec & {calls: Array<{argv: string[]; input: string}>}
  fn.calls = calls
  return fn
}

let dir: string
let img: BuiltImage
let reg: FakeRegistry

before(async () => {
  dir = await tempDir('repro-reg-client-')
  img = await buildImage({
    layers: [[{content: 'hello\n', path: 'etc/hello'}], [{content: 'x'.repeat(3000), path: 'bin/x'}]],
  })
})
after(async () => {
  await rm(dir, {recursive: true, force: true})
})
afterEach(async () => {
  await reg?.stop()
})

async function config(name: string, json: unknown): Promise<string> {
  const d = path.join(dir, name)
  await mkdir(d, {recursive: true})
  await writeFile(path.join(d, 'config.json'), JSON.stringify(json))
  return d
}

describe('registry client: reads', () => {
  test('pull through the bearer flow with auths credentials: a layout the archive reader accepts, pull-only scope', async () => {
    reg = await new FakeRegistry({auth: {kind: 'bearer', users: {alice: 's3cret'}}}).start()
    const digest = reg.addImage('team/app', 'v1', img)
    const cfg = await config('auths', {
      auths: {[`http://${reg.host}/v2/`]: {auth: Buffer.from('alice:s3cret').toString('base64')}},
    })
    const ref = parseReference(`${reg.host}/team/app:v1`)
    const repo = openRepository(ref, {dockerConfigDir: cfg, exec: helperExec({}), limits: FAST})
    const out = path.join(dir, 'layout1')
    const r = await pullToLayout(repo, ref, out)
    assert.equal(r.digest, digest)
    assert.equal(r.blobs, 4)
    const archive = await readImageArchive(out)
    try {
      assert.equal(archive.images[0].manifest?.digest, digest)
      assert.equal(archive.images[0].config.digest, img.configDigest)
    } finally {
      await archive.source.close()
    }
    assert.deepEqual(reg.grants, [{user: 'alice', scopes: ['repository:team/app:pull']}])
    assert.equal((await repo.resolve('v1')).digest, digest)
  })

  test('anonymous pull works; a push without credentials is a clear 401 naming the reference', async () => {
    reg = await new FakeRegistry({auth: {kind: 'bearer', users: {alice: 'x'}, anonymousPull: true}}).start()
    reg.addImage('pub/app', 'v1', img)
    const ref = parseReference(`${reg.host}/pub/app:v1`)
    const repo = openRepository(ref, {dockerConfigDir: path.join(dir, 'none'), exec: helperExec({}), limits: FAST})
    assert.equal((await repo.getManifest('v1')).digest, img.manifestDigest)
    await assert.rejects(
      repo.putManifest('v2', 'application/vnd.oci.image.manifest.v1+json', img.manifest),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^${reg.host}/pub/app:v1: PUT manifest v2: HTTP 401`))
        assert.match((e as {suggestions?: string[]}).suggestions?.join() ?? '', /docker login/)
        return true
      },
    )
    assert.deepEqual(
      reg.grants.map((g) => g.scopes.join(' ')),
      ['repository:pub/app:pull', 'repository:pub/app:pull,push', 'repository:pub/app:pull,push'],
    )
  })

  test('credHelpers beat credsStore beat auths; helpers get the host on stdin, Docker Hub its login URL', async () => {
    reg = await new FakeRegistry({auth: {kind: 'basic', users: {bob: 'pw'}}}).start()
    reg.addImage('team/app', 'v1', img)
    const exec = helperExec({
      'docker-credential-repro-a': {stdout: JSON.stringify({ServerURL: reg.host, Username: 'bob', Secret: 'pw'})},
      'docker-credential-store': {exitCode: 1, stdout: 'credentials not found in native keychain'},
    })
    const cfg = await config('helpers', {
      credsStore: 'store',
      credHelpers: {[reg.host]: 'repro-a'},
      auths: {[reg.host]: {auth: Buffer.from('bob:wrong').toString('base64')}},
    })
    const ref = parseReference(`${reg.host}/team/app:v1`)
    const repo = openRepository(ref, {dockerConfigDir: cfg, exec, limits: FAST})
    assert.equal((await repo.getManifest('v1')).digest, img.manifestDigest)
    assert.deepEqual(exec.calls, [{argv: ['docker-credential-repro-a', 'get'], input: reg.host}])
    const store = dockerCredentialStore({configDir: cfg, exec})
    assert.equal(await store.get('docker.io'), undefined, '"credentials not found" is anonymous')
    assert.deepEqual(exec.calls.at(-1), {
      argv: ['docker-credential-store', 'get'],
      input: 'https://index.docker.io/v1/',
    })
  })

  test('helper failures are one-line errors naming the helper and the config; identity tokens are kept', async () => {
    const cfg = await config('bad-helpers', {
      credHelpers: {'a.io': 'missing', 'b.io': 'junk', 'c.io': 'tok', 'd.io': 'x y'},
    })
    const exec = helperExec({
      'docker-credential-junk': {stdout: '<html>'},
      'docker-credential-tok': {stdout: JSON.stringify({Username: '<token>', Secret: 'refresh-1'})},
    })
    const store = dockerCredentialStore({configDir: cfg, exec})
    await assert.rejects(
      store.get('a.io'),
      /credHelpers missing: credential helper docker-credential-missing is not on PATH/,
    )
    await assert.rejects(store.get('b.io'), /docker-credential-junk get for b\.io did not answer JSON/)
    await assert.rejects(store.get('d.io'), /invalid credential helper name/)
    assert.deepEqual(await store.get('c.io'), {
      identityToken: 'refresh-1',
      source: `${path.join(cfg, 'config.json')} credHelpers tok`,
    })
  })

  test('auths: every Docker Hub spelling, username/password, identitytoken; a broken config names its file', async () => {
    const exec = helperExec({})
    const cfg = await config('hub', {
      auths: {
        'https://index.docker.io/v1/': {auth: Buffer.from('hub:pw').toString('base64')},
        'ghcr.io': {username: 'g', password: 'p'},
        'quay.io': {identitytoken: 'rt'},
      },
    })
    const store = dockerCredentialStore({configDir: cfg, exec})
    for (const r of ['docker.io', 'index.docker.io', 'registry-1.docker.io'])
      assert.equal((await store.get(r))?.password, 'pw', r)
    assert.equal((await store.get('ghcr.io'))?.username, 'g')
    assert.equal((await store.get('quay.io'))?.identityToken, 'rt')
    assert.equal(await store.get('other.io'), undefined)
    const broken = path.join(dir, 'broken')
    await mkdir(broken, {recursive: true})
    await writeFile(path.join(broken, 'config.json'), '{"auths": ')
    await assert.rejects(
      dockerCredentialStore({configDir: broken, exec}).get('x.io'),
      /broken\/config\.json: not valid JSON/,
    )
  })

  test('tags follow Link pages; sha512 blobs are verified too; unknown tags are 404 errors naming the reference', async () => {
    reg = await new FakeRegistry({maxPage: 2}).start()
    for (const t of ['a', 'b', 'c', 'd', 'e']) reg.addImage('team/app', t, img)
    const repo = new RegistryClient({registry: reg.host, limits: FAST}).repository('team/app')
    assert.deepEqual(await repo.listTags(), ['a', 'b', 'c', 'd', 'e'])
    assert.equal(reg.log.filter((l) => l.startsWith('GET /v2/team/app/tags/list')).length, 3)
    const data = randomBytes(5000)
    const d512 = `sha512:${createHash('sha512').update(data).digest('hex')}`
    reg.blobs.set(d512, data)
    reg.repoBlobs.get('team/app')!.add(d512)
    const file = path.join(dir, 'blob512')
    await repo.fetchBlob({digest: d512, size: data.length}, file)
    assert.deepEqual(await readFile(file), data)
    await assert.rejects(
      repo.getManifest('nope'),
      /^RegistryError: 127\.0\.0\.1:\d+\/team\/app: GET manifest nope: HTTP 404: MANIFEST_UNKNOWN/,
    )
  })

  test('429 and 5xx are retried with backoff (Retry-After honoured), then succeed', async () => {
    reg = await new FakeRegistry().start()
    reg.addImage('team/app', 'v1', img)
    let n = 0
    reg.fault = (r, res) => {
      if (r.endpoint !== 'manifest' || n >= 3) return false
      n++
      res.writeHead(n === 1 ? 429 : 503, n === 1 ? {'retry-after': '0'} : {}).end()
      return true
    }
    const repo = new RegistryClient({registry: reg.host, limits: FAST}).repository('team/app')
    assert.equal((await repo.getManifest('v1')).digest, img.manifestDigest)
    assert.equal(n, 3)
  })

  test('a redirect to blob storage elsewhere gets no Authorization header', async () => {
    reg = await new FakeRegistry({auth: {kind: 'basic', users: {u: 'p'}}}).start()
    reg.addImage('team/app', 'v1', img)
    const seen: Array<string | undefined> = []
    const storage = http.createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(200, {'content-length': img.config.length}).end(img.config)
    })
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r))
    try {
      const where = `http://127.0.0.1:${(storage.address() as AddressInfo).port}/bucket/x`
      reg.fault = (r, res) => {
        if (r.endpoint !== 'blob') return false
        res.writeHead(307, {location: where}).end()
        return true
      }
      const repo = new RegistryClient({
        registry: reg.host,
        credentials: {get: async () => ({username: 'u', password: 'p', source: 'test'})},
        limits: FAST,
      }).repository('team/app')
      const file = path.join(dir, 'redirected')
      await repo.fetchBlob({digest: img.configDigest, size: img.config.length}, file)
      assert.deepEqual(await readFile(file), img.config)
      assert.deepEqual(seen, [undefined])
    } finally {
      storage.closeAllConnections()
      await new Promise((r) => storage.close(r))
    }
  })
})

describe('registry client: writes', () => {
  test('monolithic and chunked uploads, mount across repositories with both scopes, manifest put', async () => {
    reg = await new FakeRegistry({auth: {kind: 'bearer', users: {alice: 'pw'}}}).start()
    const repo = (name: string) =>
      new RegistryClient({
        registry: reg.host,
        credentials: {get: async () => ({username: 'alice', password: 'pw', source: 'test'})},
        limits: FAST,
      }).repository(name)
    const small = randomBytes(100)
    const big = randomBytes(5000)
    const a = repo('team/a')
    assert.equal(await a.uploadBlob(sha256(small), small), 'uploaded')
    const bigFile = path.join(dir, 'big.bin')
    await writeFile(bigFile, big)
    assert.equal(await a.uploadBlob(sha256(big), {file: bigFile, size: big.length}, {chunkSize: 1024}), 'uploaded')
    assert.equal(reg.log.filter((l) => l.startsWith('PATCH /v2/team/a/blobs/uploads/')).length, 5)
    assert.deepEqual(reg.blobs.get(sha256(big)), big)
    assert.equal(await a.blobSize(sha256(big)), 5000)
    const b = repo('team/b')
    assert.equal(await b.blobSize(sha256(big)), undefined)
    assert.equal(await b.uploadBlob(sha256(big), big, {mountFrom: 'team/a'}), 'mounted')
    assert.ok(reg.grants.some((g) => g.scopes.join(' ') === 'repository:team/a:pull repository:team/b:pull,push'))
    const other = randomBytes(10)
    assert.equal(
      await b.uploadBlob(sha256(other), other, {mountFrom: 'team/a'}),
      'uploaded',
      'not in the source: uploaded',
    )
    const put = await b.putManifest('v1', 'application/vnd.oci.image.manifest.v1+json', img.manifest)
    assert.equal(put.digest, img.manifestDigest)
    await assert.rejects(
      b.putManifest(`sha256:${'0'.repeat(64)}`, 'application/vnd.oci.image.manifest.v1+json', img.manifest),
      /digest mismatch/,
    )
  })

  test('referrers: the API when the registry has it, else the fallback tag sha256-<hex>', async () => {
    for (const referrersApi of [true, false]) {
      reg = await new FakeRegistry({referrersApi}).start()
      const subject = reg.addImage('team/app', 'v1', img)
      const repo = new RegistryClient({registry: reg.host, limits: FAST}).repository('team/app')
      const empty = Buffer.from('{}')
      await repo.uploadBlob(sha256(empty), empty)
      const sbom = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/spdx+json',
          config: {mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2},
          layers: [],
          subject: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: subject,
            size: img.manifest.length,
          },
        }),
      )
      const r = await repo.putReferrer('application/vnd.oci.image.manifest.v1+json', sbom, subject)
      assert.equal(r.fallback, !referrersApi)
      assert.equal(reg.manifests.get('team/app')!.has(`sha256-${subject.slice(7)}`), !referrersApi)
      const found = await repo.referrers(subject)
      assert.deepEqual(
        found.map((d) => [d.digest, d.artifactType]),
        [[sha256(sbom), 'application/spdx+json']],
        `referrersApi=${referrersApi}`,
      )
      assert.deepEqual(await repo.referrers(subject, 'application/other'), [])
      await reg.stop()
    }
  })
})
