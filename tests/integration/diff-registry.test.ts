/**
 * Registry inputs against a local HTTP server speaking the registry API v2 with the bearer token flow and
 * credentials from a Docker config.json; and docker:// inputs with a recording Exec.
 */
import assert from 'node:assert/strict'
import {readdir, readFile, rm, writeFile, mkdir} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {type Exec, fakeExec} from '../../src/exec.js'
import {ignoreOptions} from '../../src/diff/ignore.js'
import {diffImages} from '../../src/diff/index.js'
import {buildImage, type BuiltImage, tempDir, writeArchive} from '../support/image-fixtures.js'

let dir: string
let server: http.Server
let port: number
let a: BuiltImage
let b: BuiltImage
const requests: string[] = []
const TOKEN = 'tok-123'
const BASIC = Buffer.from('user:secret').toString('base64')

before(async () => {
  dir = await tempDir('repro-diff-reg-')
  a = await buildImage({layers: [[{content: 'one\n', path: 'etc/app.conf'}], [{content: 'x', path: 'bin/x'}]]})
  b = await buildImage({layers: [[{content: 'two\n', path: 'etc/app.conf'}], [{content: 'x', path: 'bin/x'}]]})
  const blobs = new Map<string, Buffer>()
  for (const img of [a, b]) {
    blobs.set(img.manifestDigest, img.manifest)
    blobs.set(img.configDigest, img.config)
    img.layerBlobs.forEach((blob, i) => blobs.set(img.layerDigests[i], blob))
  }
  const tags: Record<string, BuiltImage> = {a, b}
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    const url = new URL(req.url!, 'http://x')
    if (url.pathname === '/token') {
      if (req.headers.authorization !== `Basic ${BASIC}`) {
        res.writeHead(401).end()
        return
      }
      assert.equal(url.searchParams.get('scope'), 'repository:team/app:pull')
      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token: TOKEN}))
      return
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test-registry",scope="repository:team/app:pull"`,
        })
        .end()
      return
    }
    const m = /^\/v2\/team\/app\/(manifests|blobs)\/(.+)$/.exec(url.pathname)
    if (!m) {
      res.writeHead(404).end()
      return
    }
    const ref = m[2]
    const body = m[1] === 'manifests' && tags[ref] ? tags[ref].manifest : blobs.get(ref)
    if (!body) {
      res.writeHead(404).end()
      return
    }
    if (m[1] === 'manifests') assert.match(String(req.headers.accept), /application\/vnd\.oci\.image\.index\.v1\+json/)
    res
      .writeHead(200, {
        'content-type':
          m[1] === 'manifests' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream',
      })
      .end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
  const configDir = path.join(dir, 'docker-config')
  await mkdir(configDir)
  await writeFile(path.join(configDir, 'config.json'), JSON.stringify({auths: {[`127.0.0.1:${port}`]: {auth: BASIC}}}))
  process.env.DOCKER_CONFIG = configDir
})

after(async () => {
  delete process.env.DOCKER_CONFIG
  await new Promise((resolve) => server.close(resolve))
  await rm(dir, {force: true, recursive: true})
})

describe('diff: registry and engine inputs', () => {
  test('registry references (plain and registry://) through the bearer token flow', async () => {
    const r = await diffImages(`127.0.0.1:${port}/team/app:a`, `registry://127.0.0.1:${port}/team/app:b`, {
      ignore: ignoreOptions({}),
    })
    assert.deepEqual(
      r.differences.map((e) => [e.kind, e.path, e.field, e.cause]),
      [['file', 'etc/app.conf', 'content', 'file-content']],
    )
    assert.equal(r.a.imageDigest, a.manifestDigest)
    assert.equal(r.b.imageDigest, b.manifestDigest)
    assert.ok(requests.includes('GET /v2/team/app/manifests/a'))
    assert.ok(requests.some((q) => q.startsWith('GET /token?')))
  })

  test('a registry image against the same image in a tar is the same', async () => {
    const tar = path.join(dir, 'a.tar')
    await writeArchive('oci-archive', [a], tar)
    const r = await diffImages(tar, `127.0.0.1:${port}/team/app:a`, {ignore: ignoreOptions({semantic: true})})
    assert.equal(r.same, true, JSON.stringify(r.differences))
  })

  test('an unknown tag is one clear error naming the input', async () => {
    await assert.rejects(
      diffImages(`127.0.0.1:${port}/team/app:nope`, `127.0.0.1:${port}/team/app:a`, {ignore: ignoreOptions({})}),
      (error: Error & {code?: string}) => {
        assert.equal(error.code, 'E_REGISTRY')
        assert.match(error.message, /^127\.0\.0\.1:\d+\/team\/app:nope: GET manifest nope: HTTP 404$/)
        return true
      },
    )
  })

  test('a credential helper named in credHelpers runs through the Exec seam, as docker runs it', async () => {
    const helperDir = path.join(dir, 'helper-config')
    await mkdir(helperDir, {recursive: true})
    await writeFile(path.join(helperDir, 'config.json'), JSON.stringify({credHelpers: {[`127.0.0.1:${port}`]: 'test'}}))
    const seen: Array<{argv: string[]; input: string}> = []
    const exec: Exec = async (argv, options) => {
      seen.push({argv, input: String(options?.input)})
      return {
        argv,
        exitCode: 0,
        notFound: false,
        stderr: '',
        stdout: JSON.stringify({Username: 'user', Secret: 'secret'}),
      }
    }
    const previous = process.env.DOCKER_CONFIG
    process.env.DOCKER_CONFIG = helperDir
    try {
      const r = await diffImages(`127.0.0.1:${port}/team/app:a`, `127.0.0.1:${port}/team/app:b`, {
        exec,
        ignore: ignoreOptions({}),
      })
      assert.equal(r.same, false)
    } finally {
      process.env.DOCKER_CONFIG = previous
    }
    assert.ok(seen.length >= 1)
    for (const call of seen)
      assert.deepEqual(call, {argv: ['docker-credential-test', 'get'], input: `127.0.0.1:${port}`})
  })

  test('docker:// and podman:// save to a temp file through the Exec seam, removed afterwards', async () => {
    const src = path.join(dir, 'saved.tar')
    await writeArchive('docker-save-oci', [a], src)
    const copying = fakeExec(() => undefined)
    // writes the archive where `-o` points, as docker save would, and records argv
    const saving: Exec = async (argv, options) => {
      await writeFile(argv[argv.indexOf('-o') + 1], await readFile(src))
      return copying(argv, options)
    }
    const r = await diffImages('docker://app:1', 'podman://localhost/app:1', {
      exec: saving,
      ignore: ignoreOptions({semantic: true}),
    })
    assert.equal(r.same, true)
    assert.equal(copying.calls.length, 2)
    const [docker, podman] = [...copying.calls].sort((x, y) => x[0].localeCompare(y[0]))
    assert.deepEqual([docker[0], docker[1], docker[2], docker[4]], ['docker', 'save', '-o', 'app:1'])
    assert.deepEqual(
      [podman[0], podman[1], podman[2], podman[3], podman[4], podman[6]],
      ['podman', 'save', '--format', 'oci-archive', '-o', 'localhost/app:1'],
    )
    for (const argv of copying.calls) {
      const tmp = path.dirname(argv[argv.indexOf('-o') + 1])
      await assert.rejects(readdir(tmp), /ENOENT/)
    }
  })
})
