/**
 * A registry that lies, generated: every fault (wrong digest, wrong size, endless body, redirect loop,
 * huge JSON, 401 loop, slow drip, stall, no answer, bad JSON, wrong content type, 5xx forever, reset) at
 * every endpoint where it means something (token, manifest by tag, manifest by digest from an index, config
 * blob, layer blob, tag list, referrers; upload start, upload PUT and manifest PUT for writes). Each case must end in one registry error naming the reference,
 * within a time bound and without buffering what the liar sends. A sample goes through the built CLI
 * (`repro diff REF x`, `repro analyze REF`) with the default limits: exit 2, the reference named.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {rm} from 'node:fs/promises'
import type {ServerResponse} from 'node:http'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {ReproError} from '../../src/errors.js'
import {RegistryClient, type RegistryLimits} from '../../src/image/registry/client.js'
import {pullToLayout} from '../../src/image/registry/layout.js'
import {parseReference} from '../../src/image/registry/reference.js'
import {runCli} from '../support/cli.js'
import {type FakeRequest, FakeRegistry} from '../support/fake-registry.js'
import {buildImage, type BuiltImage, tempDir} from '../support/image-fixtures.js'

type Fault =
  | 'bad-json'
  | 'endless'
  | 'huge-json'
  | 'long-body'
  | 'no-response'
  | 'redirect-loop'
  | 'reset'
  | 'server-error'
  | 'short-body'
  | 'slow-drip'
  | 'stall'
  | 'unauthorized-loop'
  | 'wrong-content-type'
  | 'wrong-digest'

type Target =
  | 'config'
  | 'index-child'
  | 'layer'
  | 'manifest'
  | 'manifest-put'
  | 'referrers'
  | 'tags'
  | 'token'
  | 'upload-put'
  | 'upload-start'

const FAULTS: Fault[] = [
  'wrong-digest',
  'short-body',
  'long-body',
  'endless',
  'redirect-loop',
  'huge-json',
  'unauthorized-loop',
  'slow-drip',
  'stall',
  'no-response',
  'bad-json',
  'wrong-content-type',
  'server-error',
  'reset',
]
const TARGETS: Target[] = [
  'token',
  'manifest',
  'index-child',
  'config',
  'layer',
  'tags',
  'referrers',
  'upload-start',
  'upload-put',
  'manifest-put',
]
const WRITE_TARGETS = new Set<Target>(['manifest-put', 'upload-put', 'upload-start'])
const WRITE_FAULTS = new Set<Fault>(['no-response', 'redirect-loop', 'reset', 'server-error', 'unauthorized-loop'])
const JSON_TARGETS = new Set<Target>(['manifest', 'index-child', 'referrers', 'tags', 'token'])

/** Which faults mean something at which endpoint (a content type only matters for manifests, ...). */
function applies(fault: Fault, target: Target): boolean {
  // writes: the answers that matter are status, Location and the digest the registry says it stored
  if (WRITE_TARGETS.has(target))
    return WRITE_FAULTS.has(fault) || (fault === 'wrong-digest' && target !== 'upload-start')
  switch (fault) {
    case 'wrong-digest':
      return target === 'manifest' || target === 'index-child' || target === 'config' || target === 'layer'
    case 'wrong-content-type':
      return target === 'manifest' || target === 'index-child'
    case 'long-body':
      // trailing bytes after a JSON document fetched by tag are no lie anybody can see
      return target === 'config' || target === 'layer' || target === 'index-child'
    case 'bad-json':
      // a manifest fetched by digest is caught by its digest first
      return JSON_TARGETS.has(target) && target !== 'index-child'
    case 'huge-json':
      return JSON_TARGETS.has(target)
    case 'unauthorized-loop':
      return target !== 'token'
    default:
      return true
  }
}

/** What the error must say (beyond naming the reference). */
const EXPECT: Record<Fault, RegExp> = {
  'wrong-digest': /digest mismatch/,
  'short-body': /ended after|its descriptor says|not valid JSON|not a JSON object|digest mismatch|failed|terminated/,
  'long-body': /longer than|more than the|digest mismatch|not valid JSON|not a JSON object|its descriptor says/,
  endless: /longer than|more than the \d+ (bytes )?allowed|its descriptor says/,
  'redirect-loop': /more than \d+ redirects/,
  'huge-json': /more than the \d+ (bytes )?allowed|its descriptor says/,
  'unauthorized-loop': /HTTP 401/,
  'slow-drip': /no complete answer within \d+ ms/,
  stall: /no data for \d+ ms/,
  'no-response': /no response within \d+ ms/,
  'bad-json': /not valid JSON|not a JSON object/,
  'wrong-content-type': /came as "text\/html"/,
  'server-error': /HTTP 503/,
  reset: /failed|socket|closed|terminated|ECONNRESET/,
}

const LIMITS: Partial<RegistryLimits> = {
  responseTimeoutMs: 400,
  idleTimeoutMs: 400,
  requestTimeoutMs: 1200,
  retries: 2,
  backoffMs: 5,
  maxBackoffMs: 20,
  maxManifestBytes: 256 * 1024,
  maxJsonBytes: 256 * 1024,
}

let dir: string
let img: BuiltImage
let reg: FakeRegistry
let indexDigest: string
let index: Buffer
const open = new Set<ServerResponse>()

/** Serve the lie for one request; `honest` is what the registry would have sent. */
function lie(fault: Fault, res: ServerResponse, honest: {body: Buffer; type: string}, self: string): void {
  open.add(res)
  res.on('close', () => open.delete(res))
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  const pump = (): void => {
    // as fast as the socket takes it, forever: the client must stop reading
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump)
  }
  switch (fault) {
    case 'wrong-digest': {
      if (honest.body.length === 0) {
        // a write: "stored", under another digest than the one sent
        res.writeHead(201, {'docker-content-digest': `sha256:${'0'.repeat(64)}`}).end()
        return
      }
      const body = Buffer.from(honest.body)
      const i = body.lastIndexOf(0x7d) > 0 && honest.type.includes('json') ? body.indexOf(0x22) + 1 : body.length - 1
      body[i] ^= 0x01
      // the registry claims the honest digest and sends other bytes
      const claimed = `sha256:${createHash('sha256').update(honest.body).digest('hex')}`
      res.writeHead(200, {'content-type': honest.type, 'content-length': body.length, 'docker-content-digest': claimed})
      res.end(body)
      return
    }
    case 'short-body':
      res.writeHead(200, {'content-type': honest.type, 'content-length': honest.body.length - 1})
      res.end(honest.body.subarray(0, -1))
      return
    case 'long-body':
      res.writeHead(200, {'content-type': honest.type}).end(Buffer.concat([honest.body, Buffer.from(' '.repeat(1000))]))
      return
    case 'endless':
      res.writeHead(200, {'content-type': honest.type})
      pump()
      return
    case 'redirect-loop':
      res.writeHead(302, {location: self}).end()
      return
    case 'huge-json':
      res.writeHead(200, {'content-type': honest.type, 'content-length': String(2 ** 40)})
      pump()
      return
    case 'unauthorized-loop':
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${reg.host}/token",service="fake",scope="repository:hostile/app:pull"`,
        })
        .end()
      return
    case 'slow-drip': {
      res.writeHead(200, {'content-type': honest.type})
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50)
      res.on('close', () => clearInterval(t))
      return
    }
    case 'stall':
      res.writeHead(200, {'content-type': honest.type, 'content-length': honest.body.length})
      res.write(honest.body.subarray(0, 1))
      return
    case 'no-response':
      return
    case 'bad-json':
      res.writeHead(200, {'content-type': honest.type}).end('{"schemaVersion": 2, "manifests": [')
      return
    case 'wrong-content-type':
      res.writeHead(200, {'content-type': 'text/html', 'content-length': honest.body.length}).end(honest.body)
      return
    case 'server-error':
      res.writeHead(503).end()
      return
    case 'reset':
      res.socket?.destroy()
      return
  }
}

/** Does this request hit the target endpoint? */
function hits(target: Target, r: FakeRequest): boolean {
  switch (target) {
    case 'token':
      return r.endpoint === 'token'
    case 'manifest':
      return r.endpoint === 'manifest' && r.reference === 'v1'
    case 'index-child':
      return r.endpoint === 'manifest' && r.reference === img.manifestDigest
    case 'config':
      return r.endpoint === 'blob' && r.reference === img.configDigest
    case 'layer':
      return r.endpoint === 'blob' && r.reference === img.layerDigests[0]
    case 'tags':
      return r.endpoint === 'tags'
    case 'referrers':
      return r.endpoint === 'referrers'
    case 'upload-start':
      return r.endpoint === 'upload' && r.method === 'POST'
    case 'upload-put':
      return r.endpoint === 'upload' && r.method === 'PUT'
    case 'manifest-put':
      return r.endpoint === 'manifest' && r.method === 'PUT'
  }
}

function honestFor(target: Target): {body: Buffer; type: string} {
  switch (target) {
    case 'token':
      return {body: Buffer.from(JSON.stringify({token: 'whatever'})), type: 'application/json'}
    case 'manifest':
      return {body: index, type: 'application/vnd.oci.image.index.v1+json'}
    case 'index-child':
      return {body: img.manifest, type: 'application/vnd.oci.image.manifest.v1+json'}
    case 'config':
      return {body: img.config, type: 'application/octet-stream'}
    case 'layer':
      return {body: img.layerBlobs[0], type: 'application/octet-stream'}
    case 'tags':
      return {body: Buffer.from(JSON.stringify({name: 'hostile/app', tags: ['v1']})), type: 'application/json'}
    case 'referrers':
      return {
        body: Buffer.from(
          JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: []}),
        ),
        type: 'application/vnd.oci.image.index.v1+json',
      }
    case 'upload-start':
    case 'upload-put':
    case 'manifest-put':
      return {body: Buffer.alloc(0), type: 'application/json'}
  }
}

before(async () => {
  dir = await tempDir('repro-reg-hostile-')
  img = await buildImage({layers: [[{content: 'payload\n'.repeat(500), path: 'etc/payload'}]]})
  reg = await new FakeRegistry({
    auth: {kind: 'bearer', users: {writer: 'pw'}, anonymousPull: true},
    referrersApi: true,
  }).start()
  reg.addImage('hostile/app', img.manifestDigest, img)
  index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: {os: 'linux', architecture: 'amd64'},
        },
      ],
    }),
  )
  indexDigest = reg.putManifest('hostile/app', 'v1', index, 'application/vnd.oci.image.index.v1+json')
})

after(async () => {
  reg.fault = undefined
  for (const res of open) res.destroy()
  await reg.stop()
  await rm(dir, {recursive: true, force: true})
})

function arm(fault: Fault, target: Target): void {
  reg.fault = (r, res) => {
    if (!hits(target, r)) return false
    lie(fault, res, honestFor(target), r.url.pathname + r.url.search)
    return true
  }
}

/** The operation that reaches `target`: a pull for image parts, the tag list, the referrers query, a push. */
async function operate(target: Target): Promise<void> {
  const ref = parseReference(`${reg.host}/hostile/app:v1`)
  const credentials = WRITE_TARGETS.has(target)
    ? {get: async () => ({username: 'writer', password: 'pw', source: 'test'})}
    : undefined
  const repo = new RegistryClient({registry: ref.registry, limits: LIMITS, credentials}).repository(
    ref.repository,
    ref.input,
  )
  const data = Buffer.from(`blob ${Math.random()}`)
  if (target === 'upload-start' || target === 'upload-put')
    await repo.uploadBlob(`sha256:${createHash('sha256').update(data).digest('hex')}`, data)
  else if (target === 'manifest-put')
    await repo.putManifest('w1', 'application/vnd.oci.image.manifest.v1+json', img.manifest)
  else if (target === 'tags') await repo.listTags()
  else if (target === 'referrers') await repo.referrers(indexDigest)
  else await pullToLayout(repo, ref, path.join(dir, `layout-${Math.random().toString(36).slice(2)}`))
}

describe('a lying registry: faults x endpoints, bounded in time and memory', () => {
  test('the honest registry works for every operation used below', async () => {
    reg.fault = undefined
    for (const t of ['manifest', 'tags', 'referrers', 'upload-put', 'manifest-put'] as const) await operate(t)
  })

  const cases = FAULTS.flatMap((fault) => TARGETS.filter((t) => applies(fault, t)).map((target) => ({fault, target})))

  test(`the table has ${cases.length} cases`, () => {
    assert.ok(cases.length >= 90, `${cases.length} cases`)
  })

  for (const {fault, target} of cases) {
    test(`${fault} at ${target}`, async () => {
      arm(fault, target)
      const started = Date.now()
      const before = process.memoryUsage()
      let peak = 0
      const sampler = setInterval(() => {
        const m = process.memoryUsage()
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers)
      }, 20)
      try {
        await assert.rejects(operate(target), (error: Error) => {
          assert.ok(error instanceof ReproError, `${error.name}: ${error.message}`)
          assert.equal(error.exitCode, 2)
          assert.match(error.message, new RegExp(`^${reg.host}/hostile/app(:v1)?: `), error.message)
          assert.match(error.message, EXPECT[fault], error.message)
          assert.doesNotMatch(error.message, /\n/)
          if (process.env.SHOW_ERRORS) console.log(`${fault} at ${target}: ${error.message}`)
          return true
        })
      } finally {
        clearInterval(sampler)
        reg.fault = undefined
      }
      const elapsed = Date.now() - started
      // the worst case is 3 attempts of a 1.2 s request plus backoff
      assert.ok(elapsed < 6000, `${fault} at ${target} took ${elapsed} ms`)
      assert.ok(peak < 96 * 1024 * 1024, `${fault} at ${target} grew the heap by ${Math.round(peak / 2 ** 20)} MiB`)
    })
  }
})

describe('a lying registry through the CLI: exit 2, one line naming the reference', () => {
  const sample: Array<[Fault, Target]> = [
    ['wrong-digest', 'layer'],
    ['wrong-digest', 'manifest'],
    ['short-body', 'config'],
    ['endless', 'layer'],
    ['redirect-loop', 'manifest'],
    ['huge-json', 'manifest'],
    ['unauthorized-loop', 'index-child'],
    ['bad-json', 'manifest'],
    ['wrong-content-type', 'index-child'],
  ]
  for (const [fault, target] of sample) {
    test(`${fault} at ${target}: repro diff REF x and repro analyze REF`, async () => {
      arm(fault, target)
      try {
        const ref = `${reg.host}/hostile/app:v1`
        for (const argv of [
          ['diff', ref, path.join(dir, 'x')],
          ['analyze', ref],
        ]) {
          const started = Date.now()
          const r = await runCli(argv, {env: {DOCKER_CONFIG: path.join(dir, 'no-config')}, timeoutMs: 60_000})
          assert.equal(r.code, 2, `${argv[0]}: ${r.stderr}`)
          assert.equal(r.stdout, '')
          const first = r.stderr.split('\n')[0]
          assert.match(first, new RegExp(`^Error: ${ref.replaceAll('.', '\\.')}: `), r.stderr)
          assert.match(first, EXPECT[fault], r.stderr)
          assert.ok(Date.now() - started < 30_000, `${argv[0]} took ${Date.now() - started} ms`)
        }
      } finally {
        reg.fault = undefined
      }
    })
  }
})
