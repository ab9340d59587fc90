import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {readdir, readFile, rm, truncate, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {runCli} from '../support/cli.js'
import {type BuiltImage, buildImage, tarDir, tempDir, writeArchive} from '../support/image-fixtures.js'

let dir: string
let img: BuiltImage
let arm: BuiltImage
let legacyImg: BuiltImage

const files = [
  {path: 'etc/', type: 'dir' as const},
  {content: 'hello\n', path: 'etc/hello'},
  {content: Buffer.alloc(70_000, 7), path: 'usr/lib/big.bin'},
]

before(async () => {
  dir = await tempDir('repro-analyze-')
  img = await buildImage({layers: [files, [{content: 'second', path: 'app/run'}]]})
  arm = await buildImage({architecture: 'arm64', layers: [[{content: 'arm', path: 'a'}]]})
  legacyImg = await buildImage({compression: 'none', docker: true, layers: [files]})
})

after(async () => {
  await rm(dir, {force: true, recursive: true})
})

async function analyzeJson(
  target: string,
  ...extra: string[]
): Promise<{code: number | null; json: Record<string, any>; stderr: string}> {
  const r = await runCli(['analyze', target, '--json', ...extra])
  return {code: r.code, json: JSON.parse(r.stdout), stderr: r.stderr}
}

describe('analyze reads every archive format', () => {
  const single = ['docker-exporter', 'docker-save-oci', 'oci-archive', 'podman-oci-archive'] as const
  for (const kind of single) {
    test(`${kind}: image digest, config digest, layers and diff IDs`, async () => {
      const out = path.join(dir, `${kind}.tar`)
      await writeArchive(kind, [img], out)
      const {code, json} = await analyzeJson(out)
      assert.equal(code, 0)
      assert.equal(json.format, kind === 'podman-oci-archive' ? 'oci-archive' : kind)
      assert.equal(json.imageDigest, img.manifestDigest)
      assert.equal(json.images.length, 1)
      const i = json.images[0]
      assert.equal(i.imageDigest, img.manifestDigest)
      assert.equal(i.imageId, img.configDigest)
      assert.equal(i.platform, 'linux/amd64')
      assert.deepEqual(
        i.layers.map((l: {digest: string}) => l.digest),
        img.layerDigests,
      )
      assert.deepEqual(
        i.layers.map((l: {diffId: string}) => l.diffId),
        img.diffIds,
      )
      assert.deepEqual(
        i.layers.map((l: {compression: string}) => l.compression),
        ['gzip', 'gzip'],
      )
      assert.equal(json.index.annotationsAreIndexOnly, true)
      assert.equal(json.index.mediaTypeMissing, kind === 'podman-oci-archive')
      assert.equal(
        json.index.digest,
        `sha256:${createHash('sha256')
          .update(await indexJsonOf(out))
          .digest('hex')}`,
      )
      if (kind === 'docker-exporter' || kind === 'docker-save-oci') assert.deepEqual(i.repoTags, ['example.com/app:1'])
    })
  }

  test('legacy docker save / podman docker-archive: no index.json, no manifest, image ID only', async () => {
    const out = path.join(dir, 'legacy.tar')
    await writeArchive('docker-archive', [legacyImg], out)
    const {code, json} = await analyzeJson(out, '--verify')
    assert.equal(code, 0)
    assert.equal(json.format, 'docker-archive')
    assert.equal(json.index, null)
    assert.equal(json.imageDigest, null)
    assert.equal(json.images[0].imageDigest, null)
    assert.equal(json.images[0].imageId, legacyImg.configDigest)
    assert.equal(json.images[0].layers[0].compression, 'none')
    // uncompressed legacy layers: the blob digest is the diff ID, computed by --verify
    assert.equal(json.images[0].layers[0].digest, legacyImg.diffIds[0])
    assert.equal(json.verification.ok, true)
    const text = await runCli(['analyze', out])
    assert.match(text.stdout, /holds no registry manifest/)
    assert.match(text.stdout, new RegExp(`image ID\\): ${legacyImg.configDigest}`))
  })

  test('an OCI layout directory', async () => {
    const out = path.join(dir, 'layout')
    await writeArchive('oci-layout-dir', [img], out)
    const {code, json} = await analyzeJson(out, '--verify')
    assert.equal(code, 0)
    assert.equal(json.format, 'oci-layout-dir')
    assert.equal(json.source, 'directory')
    assert.equal(json.imageDigest, img.manifestDigest)
    assert.equal(json.verification.checked, 4)
  })

  test('gzip-compressed tarballs of each format', async () => {
    for (const kind of ['docker-exporter', 'oci-archive', 'docker-archive'] as const) {
      const out = path.join(dir, `${kind}.tar.gz`)
      await writeArchive(kind, [kind === 'docker-archive' ? legacyImg : img], out, {gzip: true})
      const {code, json} = await analyzeJson(out, '--verify')
      assert.equal(code, 0, kind)
      assert.equal(json.source, 'tar+gzip')
      assert.equal(json.verification.ok, true)
      if (kind !== 'docker-archive') assert.equal(json.imageDigest, img.manifestDigest)
    }
  })

  test('a multi-platform index: per-platform digests and the index digest', async () => {
    const out = path.join(dir, 'multi.tar')
    const written = await writeArchive('oci-multi', [img, arm], out)
    const {code, json} = await analyzeJson(out)
    assert.equal(code, 0)
    assert.equal(json.imageDigest, written.indexDigest)
    assert.deepEqual(
      json.images.map((i: {imageDigest: string; platform: string}) => [i.platform, i.imageDigest]),
      [
        ['linux/amd64', img.manifestDigest],
        ['linux/arm64', arm.manifestDigest],
      ],
    )
    assert.equal(json.nestedIndexes[0].digest, written.indexDigest)
    // --platform selects the manifest to check
    const ok = await runCli([
      'analyze',
      out,
      '--platform',
      'linux/arm64',
      '--expected-image-digest',
      arm.manifestDigest,
    ])
    assert.equal(ok.code, 0)
    assert.match(ok.stdout, /✅ The image digest \(linux\/arm64\) matches/)
    const idx = await runCli(['analyze', out, '--expected-image-digest', written.indexDigest!.slice(7)])
    assert.equal(idx.code, 0)
    assert.match(idx.stdout, /✅ The image index digest matches/)
  })
})

describe('--expected-image-digest', () => {
  test('exit 0 with a ✅ line when it matches (with or without sha256:)', async () => {
    const out = path.join(dir, 'expected.tar')
    await writeArchive('docker-exporter', [img], out)
    for (const d of [img.manifestDigest, img.manifestDigest.slice(7)]) {
      const r = await runCli(['analyze', out, '--expected-image-digest', d])
      assert.equal(r.code, 0)
      assert.match(r.stdout, /✅ The image digest \(linux\/amd64\) matches the expected digest/)
    }
  })

  test('exit 1 printing both digests when it does not', async () => {
    const out = path.join(dir, 'expected2.tar')
    await writeArchive('docker-exporter', [img], out)
    const wrong = `sha256:${'0'.repeat(64)}`
    const r = await runCli(['analyze', out, '--expected-image-digest', wrong])
    assert.equal(r.code, 1)
    assert.match(r.stdout, new RegExp(`expected: ${wrong}`))
    assert.match(r.stdout, new RegExp(`actual: +${img.manifestDigest}`))
    const j = await analyzeJson(out, '--expected-image-digest', wrong)
    assert.equal(j.code, 1)
    assert.deepEqual(j.json.expected, {
      actual: img.manifestDigest,
      comparedWith: 'manifest',
      expected: wrong,
      matched: false,
      platform: 'linux/amd64',
    })
  })

  test('a malformed expected digest is an error (exit 2)', async () => {
    const out = path.join(dir, 'expected3.tar')
    await writeArchive('docker-exporter', [img], out)
    const r = await runCli(['analyze', out, '--expected-image-digest', 'sha256:xyz'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--expected-image-digest sha256:xyz: not a digest \(sha256: and 64 hex digits/)
  })
})

async function indexJsonOf(tarFile: string): Promise<Buffer> {
  const {list} = await import('tar')
  let data = Buffer.alloc(0)
  await list({
    file: tarFile,
    onReadEntry: (e) => {
      if (e.path === 'index.json') {
        const chunks: Buffer[] = []
        e.on('data', (c: Buffer) => chunks.push(c))
        e.on('end', () => (data = Buffer.concat(chunks)))
      } else e.resume()
    },
  })
  return data
}

describe('bad input: one line, exit 2, nothing written', () => {
  async function expectBad(target: string, message: RegExp, ...extra: string[]): Promise<void> {
    const cwd = await tempDir('repro-cwd-')
    const before = (await readdir(path.dirname(target))).sort()
    const r = await runCli(['analyze', target, ...extra], {cwd})
    assert.equal(r.code, 2, `exit code for ${target}: ${r.stderr}`)
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('Error: '))
    assert.equal(errorLines.length, 1, r.stderr)
    assert.match(errorLines[0], message)
    assert.ok(errorLines[0].includes(target), `the error names the file: ${errorLines[0]}`)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    assert.deepEqual((await readdir(path.dirname(target))).sort(), before)
    assert.deepEqual(await readdir(cwd), [])
    await rm(cwd, {recursive: true})
    const j = await runCli(['analyze', target, '--json', ...extra], {cwd: dir})
    assert.equal(j.code, 2)
    assert.equal(JSON.parse(j.stdout).error.code.startsWith('E_'), true)
  }

  async function brokenLayout(name: string, mutate: (root: string) => Promise<void>): Promise<string> {
    const root = path.join(dir, `${name}-layout`)
    await writeArchive('oci-layout-dir', [img], root)
    await mutate(root)
    const out = path.join(dir, `${name}.tar`)
    await tarDir(root, out)
    await rm(root, {recursive: true})
    return out
  }

  const blob = (d: string): string => path.join('blobs', 'sha256', d.slice(7))

  test('not a tar', async () => {
    const f = path.join(dir, 'text.txt')
    await writeFile(f, 'just some text\n'.repeat(100))
    await expectBad(f, /not a tar archive/)
  })

  test('an empty file', async () => {
    const f = path.join(dir, 'empty.tar')
    await writeFile(f, '')
    await expectBad(f, /empty file/)
  })

  test('a missing file', async () => {
    await expectBad(path.join(dir, 'nope.tar'), /no such file/)
  })

  test('a truncated tar', async () => {
    const f = path.join(dir, 'truncated.tar')
    await writeArchive('docker-exporter', [img], f)
    const {size} = await import('node:fs/promises').then((m) => m.stat(f))
    await truncate(f, Math.floor(size / 2) + 100)
    await expectBad(f, /truncated tar archive/)
  })

  test('JSON that does not parse', async () => {
    const f = await brokenLayout('badjson', (root) => writeFile(path.join(root, 'index.json'), '{"manifests": ['))
    await expectBad(f, /index\.json is not valid JSON/)
  })

  test('a missing blob', async () => {
    const f = await brokenLayout('missing', (root) => rm(path.join(root, blob(img.layerDigests[1]))))
    await expectBad(f, /missing blob blobs\/sha256\//)
  })

  test('a manifest blob that does not match its digest', async () => {
    const f = await brokenLayout('badmanifest', async (root) => {
      const p = path.join(root, blob(img.manifestDigest))
      const m = await readFile(p)
      m[m.length - 2] = m[m.length - 2] === 0x5d ? 0x20 : m[m.length - 2]
      await writeFile(p, Buffer.concat([m.subarray(0, m.length - 1), Buffer.from(' ')]))
    })
    await expectBad(f, /does not match its digest/)
  })

  test('a layer blob that does not match its digest (with --verify), every mismatch reported', async () => {
    const f = await brokenLayout('badlayer', async (root) => {
      for (const d of img.layerDigests) {
        const p = path.join(root, blob(d))
        const b = await readFile(p)
        b[b.length - 9] ^= 0xff // the last byte of the deflate data: same size, different bytes
        await writeFile(p, b)
      }
    })
    // without --verify it is fine: layers are not read
    assert.equal((await runCli(['analyze', f])).code, 0)
    // each layer fails twice: its digest, and its bytes no longer decompress
    await expectBad(f, /4 blob check\(s\) failed/, '--verify')
    const r = await runCli(['analyze', f, '--verify'])
    for (const d of img.layerDigests) {
      assert.match(r.stdout, new RegExp(`${blob(d)}: digest expected ${d}`))
      assert.match(r.stdout, new RegExp(`${blob(d)}: diffId expected a gzip stream, got does not decompress`))
    }
  })

  test('a digest that points outside blobs/', async () => {
    const f = await brokenLayout('escape', async (root) => {
      const index = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8'))
      index.manifests[0].digest = 'sha256:../../../../etc/passwd'
      await writeFile(path.join(root, 'index.json'), JSON.stringify(index))
    })
    await expectBad(f, /invalid digest/)
  })

  test('a manifest.json path that points outside the archive', async () => {
    const root = path.join(dir, 'legacy-escape')
    const stage = `${root}.tar`
    await writeArchive('docker-archive', [legacyImg], stage)
    const {extract} = await import('tar')
    const {mkdir} = await import('node:fs/promises')
    await mkdir(root)
    await extract({cwd: root, file: stage})
    const m = JSON.parse(await readFile(path.join(root, 'manifest.json'), 'utf8'))
    m[0].Layers[0] = '../../../etc/passwd'
    await writeFile(path.join(root, 'manifest.json'), JSON.stringify(m))
    await tarDir(root, stage)
    await rm(root, {recursive: true})
    await expectBad(stage, /outside the archive/)
  })

  test('absurd sizes', async () => {
    const f = await brokenLayout('absurd', async (root) => {
      const p = path.join(root, blob(img.manifestDigest))
      const index = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8'))
      index.manifests[0].size = 1e18
      await writeFile(path.join(root, 'index.json'), JSON.stringify(index))
      void p
    })
    await expectBad(f, /claims 1000000000000000000 bytes|absurd size/)
    const g = await brokenLayout('negative', async (root) => {
      const index = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8'))
      index.manifests[0].size = -5
      await writeFile(path.join(root, 'index.json'), JSON.stringify(index))
    })
    await expectBad(g, /absurd size -5/)
  })

  test('a tar that is not an image', async () => {
    const root = path.join(dir, 'notimage')
    const {mkdir} = await import('node:fs/promises')
    await mkdir(root)
    await writeFile(path.join(root, 'README'), 'hi')
    const f = `${root}.tar`
    await tarDir(root, f)
    await expectBad(f, /not a container image archive: no index\.json or manifest\.json \(found README\)/)
  })
})

describe('outputs that cannot blow up', () => {
  test('a 10 MB label: --json is one valid document, text truncates it', async () => {
    const big = await buildImage({containerConfig: {Labels: {huge: 'x'.repeat(10 * 1024 * 1024)}}, layers: [files]})
    const out = path.join(dir, 'huge-label.tar')
    await writeArchive('oci-archive', [big], out)
    const {code, json} = await analyzeJson(out)
    assert.equal(code, 0)
    assert.equal(json.images[0].config.labels.huge.length, 10 * 1024 * 1024)
    const text = await runCli(['analyze', out])
    assert.equal(text.code, 0)
    assert.match(text.stdout, /characters omitted\. Pass --show-contents/)
    assert.ok(text.stdout.length < 100_000, `text output is ${text.stdout.length} characters`)
  })

  test('one manifest under two names (repro build -t a -t b): one image digest, both tags, verified', async () => {
    const root = path.join(dir, 'two-names-layout')
    await writeArchive('oci-layout-dir', [img], root)
    const index = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8'))
    const d = index.manifests[0]
    index.manifests = ['1', 'latest'].map((t) => ({
      ...d,
      annotations: {'io.containerd.image.name': `docker.io/library/app:${t}`, 'org.opencontainers.image.ref.name': t},
    }))
    await writeFile(path.join(root, 'index.json'), JSON.stringify(index))
    const out = path.join(dir, 'two-names.tar')
    await tarDir(root, out)
    const {code, json} = await analyzeJson(out, '--verify', '--expected-image-digest', img.manifestDigest)
    assert.equal(code, 0)
    assert.equal(json.imageDigest, img.manifestDigest)
    assert.equal(json.images.length, 1)
    assert.deepEqual(json.images[0].tags, ['docker.io/library/app:1', 'docker.io/library/app:latest'])
    assert.equal(json.verification.ok, true)
    const text = await runCli(['analyze', out])
    assert.match(text.stdout, new RegExp(`Image digest \\(linux/amd64\\): ${img.manifestDigest}`))
    assert.match(text.stdout, /Tags: docker\.io\/library\/app:1, docker\.io\/library\/app:latest/)
  })
})
