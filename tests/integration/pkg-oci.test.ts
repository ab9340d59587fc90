/**
 * `repro get push` and the oci+http:// provider against a registry API v2 served by node:http that demands
 * the bearer token flow, with basic credentials from a docker config.json (DOCKER_CONFIG).
 */
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type Deb, realDebs, repro, sumsText} from '../support/pkg-fixtures.js'

const TOKEN = randomBytes(8).toString('hex')

describe('OCI registry push and fetch (bearer token flow)', () => {
  let dir: string
  let debs: Deb[]
  let sums: string
  let server: Server
  let host: string
  const blobs = new Map<string, Buffer>()
  const manifests = new Map<string, Buffer>()
  const log: string[] = []

  const body = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks)))
    })

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-oci-'))
    debs = await realDebs(path.join(dir, 'mirror'))
    sums = path.join(dir, 'SHA256SUMS')
    await writeFile(sums, sumsText(debs))
    server = createServer(async (req, res): Promise<unknown> => {
      const url = new URL(req.url ?? '/', 'http://x')
      log.push(`${req.method} ${url.pathname}`)
      if (url.pathname === '/token') {
        const basic = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`
        if (req.headers.authorization !== basic) return res.writeHead(401).end()
        assert.match(url.searchParams.get('scope') ?? '', /^repository:team\/debs:pull(,push)?$/)
        return res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token: TOKEN}))
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:team/debs:pull"`,
          })
          .end()
      }
      const blob = /^\/v2\/team\/debs\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)
      if (blob && (req.method === 'HEAD' || req.method === 'GET')) {
        const b = blobs.get(blob[1])
        if (!b) return res.writeHead(404).end()
        res.writeHead(200, {'content-length': b.length})
        return res.end(req.method === 'GET' ? b : undefined)
      }
      if (req.method === 'POST' && url.pathname === '/v2/team/debs/blobs/uploads/') {
        return res
          .writeHead(202, {location: `/v2/team/debs/blobs/uploads/${randomBytes(4).toString('hex')}?state=x`})
          .end()
      }
      if (req.method === 'PUT' && url.pathname.startsWith('/v2/team/debs/blobs/uploads/')) {
        const data = await body(req)
        const digest = url.searchParams.get('digest') ?? ''
        if (`sha256:${createHash('sha256').update(data).digest('hex')}` !== digest)
          return res.writeHead(400).end('digest invalid')
        blobs.set(digest, data)
        return res.writeHead(201).end()
      }
      const m = /^\/v2\/team\/debs\/manifests\/(.+)$/.exec(url.pathname)
      if (m && req.method === 'PUT') {
        manifests.set(m[1], await body(req))
        return res.writeHead(201).end()
      }
      return res.writeHead(404).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({auths: {[host]: {auth: Buffer.from('alice:s3cret').toString('base64')}}}),
    )
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await rm(dir, {recursive: true, force: true})
  })

  it('pushes the cached blobs and a manifest, skips existing blobs, and fetches them back by digest', async () => {
    const env = {DOCKER_CONFIG: dir}
    const cache = path.join(dir, 'cache')
    const imp = await repro(['cache', 'import', '--cache', cache, path.join(dir, 'mirror')])
    assert.equal(imp.code, 0, imp.stderr)

    const push = await repro(
      ['get', 'push', '--cache', cache, sums, '--to', `oci+http://${host}/team/debs:pkgs`, '--json'],
      env,
    )
    assert.equal(push.code, 0, push.stderr)
    const r = JSON.parse(push.stdout)
    assert.deepEqual(
      r.blobs.map((b: {action: string}) => b.action),
      debs.map(() => 'uploaded'),
    )
    for (const d of debs) assert.ok(blobs.has(`sha256:${d.sha256}`))
    const manifest = JSON.parse(manifests.get('pkgs')!.toString())
    assert.deepEqual(
      manifest.layers.map(
        (l: {annotations: Record<string, string>}) => l.annotations['org.opencontainers.image.title'],
      ),
      [...debs].sort((a, b) => (a.filename < b.filename ? -1 : 1)).map((d) => path.basename(d.filename)),
    )
    assert.equal(r.manifestDigest, `sha256:${createHash('sha256').update(manifests.get('pkgs')!).digest('hex')}`)
    assert.ok(log.includes('GET /token'), 'the token flow was used')

    const again = await repro(
      ['get', 'push', '--cache', cache, sums, '--to', `oci+http://${host}/team/debs:pkgs`, '--json'],
      env,
    )
    assert.equal(again.code, 0, again.stderr)
    assert.ok(JSON.parse(again.stdout).blobs.every((b: {action: string}) => b.action === 'exists'))
    assert.equal(JSON.parse(again.stdout).manifestDigest, r.manifestDigest, 'the manifest is deterministic')

    const fresh = path.join(dir, 'cache2')
    const dl = await repro(
      [
        'get',
        'download',
        '--cache',
        fresh,
        '--distro',
        'debian',
        '--provider',
        `oci+http://${host}/team/debs`,
        sums,
        '--json',
      ],
      env,
    )
    assert.equal(dl.code, 0, dl.stderr)
    assert.equal(JSON.parse(dl.stdout).downloaded, debs.length)
    assert.deepEqual((await readdir(path.join(fresh, 'blobs/sha256'))).sort(), debs.map((d) => d.sha256).sort())
  })

  it('push without credentials fails clearly; push of files not in the cache names them', async () => {
    const cache = path.join(dir, 'cache')
    const noCreds = await repro(['get', 'push', '--cache', cache, sums, '--to', `oci+http://${host}/team/debs`], {
      DOCKER_CONFIG: path.join(dir, 'none'),
    })
    assert.equal(noCreds.code, 2)
    assert.match(
      noCreds.stderr,
      /^Error: 127\.0\.0\.1:\d+\/team\/debs: token request to http:\/\/127\.0\.0\.1:\d+\/token failed: HTTP 401\n {2}hint: log in with `docker login 127\.0\.0\.1:\d+`/,
    )
    const empty = await repro([
      'get',
      'push',
      '--cache',
      path.join(dir, 'empty-cache'),
      sums,
      '--to',
      `oci+http://${host}/team/debs`,
    ])
    assert.equal(empty.code, 2)
    assert.match(empty.stderr, /^Error: not in the cache .*empty-cache: pool\/main\//)
    assert.match(empty.stderr, /hint: run repro get download FILE first/)
  })
})
