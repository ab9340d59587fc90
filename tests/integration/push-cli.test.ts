/**
 * `repro push` through the built CLI against the in-process registry of tests/support/fake-registry.ts
 * (written from the distribution spec, not from our client), with archives written by
 * tests/support/image-fixtures.ts (an independent writer): every archive format goes up byte-for-byte and
 * the printed digest is the archive's; blobs the repository has are skipped, blobs another repository has
 * are mounted; manifests go up by digest, children first, and the tag last; a failure before the tag leaves
 * no tag; legacy archives, a wrong digest in REF and a corrupted layer are refused with one line, exit 2.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {after, before, describe, test} from 'node:test'

import {runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {FakeRegistry} from '../support/fake-registry.js'
import {
  type ArchiveKind,
  buildImage,
  type BuiltImage,
  sha256,
  tarDir,
  tempDir,
  writeArchive,
} from '../support/image-fixtures.js'

interface PushJson {
  reference: string
  digest: string
  tag?: string
  blobs: Array<{digest: string; action: string; from?: string}>
  manifests: Array<{digest: string; action: string; platform?: string}>
}

let dir: string
const validator = new SchemaValidator()
let reg: FakeRegistry
let amd64: BuiltImage
let arm64: BuiltImage
const env = (): Record<string, string> => ({DOCKER_CONFIG: path.join(dir, 'no-docker-config')})

before(async () => {
  dir = await tempDir('repro-push-it-')
  reg = await new FakeRegistry().start()
  amd64 = await buildImage({layers: [[{path: 'a.txt', content: 'amd64 layer\n'}], [{path: 'b.txt', content: 'b\n'}]]})
  arm64 = await buildImage({architecture: 'arm64', layers: [[{path: 'a.txt', content: 'arm64 layer\n'}]]})
})

after(async () => {
  await reg?.stop()
  if (dir) await rm(dir, {recursive: true, force: true})
})

async function push(args: string[]): Promise<{code: number | null; json?: PushJson; stderr: string; stdout: string}> {
  const r = await runCli(['push', ...args, '--json'], {env: env(), timeoutMs: 60_000})
  let json: PushJson | undefined
  if (r.code === 0) json = JSON.parse(r.stdout) as PushJson
  validator.check(r.code === 0 ? 'push' : 'error', JSON.parse(r.stdout), `repro push ${args.join(' ')} --json`)
  return {...r, json}
}

/** The fake registry's log lines of one repository's writes, in order. */
function writes(repo: string): string[] {
  return reg.log.filter((l) => /^(PUT|POST|PATCH) /.test(l) && l.includes(`/v2/${repo}/`))
}

describe('repro push to a registry (fake, from the spec)', () => {
  const single: Array<[ArchiveKind, boolean]> = [
    ['docker-exporter', false],
    ['docker-save-oci', false],
    ['oci-archive', false],
    ['oci-archive', true],
    ['oci-layout-dir', false],
  ]
  for (const [kind, gzip] of single) {
    test(`${kind}${gzip ? ' (gzip)' : ''}: pushed byte-for-byte, REF@digest is the manifest digest, the tag last`, async () => {
      const repo = `single/${kind}${gzip ? '-gz' : ''}`
      const out = path.join(dir, `${kind}${gzip ? '-gz' : ''}${kind === 'oci-layout-dir' ? '' : '.tar'}`)
      await writeArchive(kind, [amd64], out, {gzip})
      const r = await push([out, `${reg.host}/${repo}:v1`])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.json!.digest, amd64.manifestDigest)
      assert.equal(r.json!.reference, `${reg.host}/${repo}:v1@${amd64.manifestDigest}`)
      const stored = reg.manifests.get(repo)!.get('v1')!
      assert.ok(stored.bytes.equals(amd64.manifest), 'the registry holds the archive manifest bytes')
      for (const b of [amd64.config, ...amd64.layerBlobs]) assert.ok(reg.repoBlobs.get(repo)?.has(sha256(b)))
      const w = writes(repo)
      assert.match(w.at(-1)!, /^PUT \/v2\/.+\/manifests\/v1$/, `the tag is written last: ${w.join(' | ')}`)
      assert.match(w.at(-2)!, new RegExp(`^PUT /v2/.+/manifests/${amd64.manifestDigest}$`))
      assert.ok(
        w.slice(0, -2).every((l) => l.includes('/blobs/')),
        'blobs before manifests',
      )
    })
  }

  test('multi-platform OCI archive: children by digest, then the index, then the tag; the index digest printed', async () => {
    const out = path.join(dir, 'multi.tar')
    const {indexDigest} = await writeArchive('oci-multi', [amd64, arm64], out)
    const repo = 'multi/app'
    const r = await push([out, `${reg.host}/${repo}:v1`])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json!.digest, indexDigest)
    assert.deepEqual(
      r.json!.manifests.map((m) => [m.digest, m.platform]),
      [
        [amd64.manifestDigest, 'linux/amd64'],
        [arm64.manifestDigest, 'linux/arm64'],
        [indexDigest, undefined],
      ],
    )
    const manifestPuts = writes(repo).filter((l) => l.includes('/manifests/'))
    assert.deepEqual(manifestPuts, [
      `PUT /v2/${repo}/manifests/${amd64.manifestDigest}`,
      `PUT /v2/${repo}/manifests/${arm64.manifestDigest}`,
      `PUT /v2/${repo}/manifests/${indexDigest}`,
      `PUT /v2/${repo}/manifests/v1`,
    ])
    assert.equal(r.stdout.includes(indexDigest!), true)
  })

  test('a second push skips every blob (HEAD); --mount-from mounts them into another repository', async () => {
    const out = path.join(dir, 'again.tar')
    await writeArchive('oci-archive', [amd64], out)
    const first = await push([out, `${reg.host}/mount/src:1`])
    assert.equal(first.code, 0, first.stderr)
    assert.ok(first.json!.blobs.every((b) => b.action === 'uploaded'))
    const again = await push([out, `${reg.host}/mount/src:2`])
    assert.ok(
      again.json!.blobs.every((b) => b.action === 'exists'),
      JSON.stringify(again.json!.blobs),
    )
    assert.ok(again.json!.manifests.every((m) => m.action === 'exists'))
    // the flag first: its value does not swallow the arguments after it
    const mounted = await push(['--mount-from', 'mount/src', out, `${reg.host}/mount/dst:1`])
    assert.equal(mounted.code, 0, mounted.stderr)
    assert.deepEqual(
      mounted.json!.blobs.map((b) => [b.action, b.from]),
      mounted.json!.blobs.map(() => ['mounted', 'mount/src']),
    )
    assert.ok(!writes('mount/dst').some((l) => l.startsWith('PATCH') || /^PUT .*\/blobs\/uploads/.test(l)), 'no upload')
    // by digest only: the image goes up, no tag is written
    const pinned = await push([out, `${reg.host}/mount/pinned@${amd64.manifestDigest}`])
    assert.equal(pinned.code, 0, pinned.stderr)
    assert.equal(pinned.json!.tag, undefined)
    assert.equal(pinned.json!.reference, `${reg.host}/mount/pinned@${amd64.manifestDigest}`)
    assert.deepEqual([...reg.manifests.get('mount/pinned')!.keys()], [amd64.manifestDigest])
    const other = await push([out, `${reg.host}/mount/x:1`, '--mount-from', 'elsewhere.example/mount/src'])
    assert.equal(other.code, 2)
    assert.match(
      other.stdout,
      /--mount-from elsewhere\.example\/mount\/src: on elsewhere\.example, not 127\.0\.0\.1:\d+/,
    )
  })

  test('a failed manifest PUT leaves no tag (the tag is never written before the image is complete)', async () => {
    const out = path.join(dir, 'fail.tar')
    await writeArchive('oci-multi', [amd64, arm64], out)
    reg.fault = (r, res) => {
      if (r.endpoint === 'manifest' && r.method === 'PUT' && r.reference === arm64.manifestDigest) {
        res.writeHead(400, {'content-type': 'application/json'})
        res.end(JSON.stringify({errors: [{code: 'MANIFEST_INVALID', message: 'injected failure'}]}))
        return true
      }
      return false
    }
    try {
      const r = await push([out, `${reg.host}/fail/app:v1`])
      assert.equal(r.code, 2)
      assert.match(r.stdout, /PUT manifest sha256:[a-f0-9]{64}: HTTP 400: MANIFEST_INVALID injected failure/)
      assert.equal(reg.manifests.get('fail/app')?.has('v1') ?? false, false, 'no tag after a failure')
    } finally {
      reg.fault = undefined
    }
  })

  test('refused with one line, exit 2: legacy docker archive, several images without an index, wrong digest, corrupt layer', async () => {
    const legacy = path.join(dir, 'legacy.tar')
    await writeArchive('docker-archive', [amd64], legacy)
    let r = await runCli(['push', legacy, `${reg.host}/refused/a:1`], {env: env()})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^Error: .*legacy\.tar: a legacy docker archive holds no registry manifest/)

    const two = path.join(dir, 'two.tar')
    await writeArchive('oci-archive', [amd64, arm64], two)
    r = await runCli(['push', two, `${reg.host}/refused/b:1`], {env: env()})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /two\.tar: holds 2 images and no index over them/)

    const ok = path.join(dir, 'ok.tar')
    await writeArchive('oci-archive', [amd64], ok)
    r = await runCli(['push', ok, `${reg.host}/refused/c@${arm64.manifestDigest}`], {env: env()})
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`names ${arm64.manifestDigest}, but .*ok\\.tar is ${amd64.manifestDigest}`))

    // a multi-platform index of which the archive holds one platform (what docker save of such an image gives)
    const full = path.join(dir, 'full-multi.tar')
    const partial = path.join(dir, 'partial-multi.tar')
    const {indexDigest} = await writeArchive('oci-multi', [amd64, arm64], full)
    const drop = `blobs/sha256/${arm64.manifestDigest.slice(7)}`
    execFileSync('python3', [
      '-c',
      'import sys, tarfile\nwith tarfile.open(sys.argv[1]) as a, tarfile.open(sys.argv[2], "w") as b:\n' +
        '    for m in a.getmembers():\n        if m.name.lstrip("./") != sys.argv[3]: b.addfile(m, a.extractfile(m) if m.isfile() else None)',
      full,
      partial,
      drop,
    ])
    r = await runCli(['push', partial, `${reg.host}/refused/e:1`], {env: env()})
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      new RegExp(
        `index ${indexDigest} lists ${arm64.manifestDigest} \\(linux/arm64\\), which the archive does not hold`,
      ),
    )
    assert.equal(reg.manifests.has('refused/e'), false)

    // a layer whose bytes were changed (same size): caught while streaming, before it is uploaded
    const layout = path.join(dir, 'corrupt-layout')
    await writeArchive('oci-layout-dir', [amd64], layout)
    const layer = path.join(layout, 'blobs', 'sha256', amd64.layerDigests[0].slice(7))
    const bytes = await readFile(layer)
    bytes[bytes.length - 1] ^= 0xff
    await writeFile(layer, bytes)
    r = await runCli(['push', layout, `${reg.host}/refused/d:1`], {env: env()})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /digest mismatch: expected sha256:/)
    assert.equal(reg.repoBlobs.get('refused/d')?.has(amd64.layerDigests[0]) ?? false, false)
    assert.equal(reg.manifests.has('refused/d'), false)
    // the same corrupt layer in a tar (streamed into the PUT) and a .tar.gz (copied out first): refused alike
    const corruptTar = path.join(dir, 'corrupt.tar')
    await tarDir(layout, corruptTar)
    await writeFile(`${corruptTar}.gz`, gzipSync(await readFile(corruptTar)))
    for (const [input, repo] of [
      [corruptTar, 'refused/f'],
      [`${corruptTar}.gz`, 'refused/g'],
    ]) {
      r = await runCli(['push', input, `${reg.host}/${repo}:1`], {env: env()})
      assert.equal(r.code, 2, input)
      assert.match(
        r.stderr,
        new RegExp(`corrupt\\.tar(\\.gz)?: blobs/sha256/${amd64.layerDigests[0].slice(7)}: digest mismatch`),
      )
      assert.equal(reg.repoBlobs.get(repo)?.has(amd64.layerDigests[0]) ?? false, false, `${input}: not stored`)
      assert.equal(reg.manifests.has(repo), false)
    }
    for (const repo of ['refused/a', 'refused/b', 'refused/c']) assert.equal(reg.manifests.has(repo), false)
  })
})
