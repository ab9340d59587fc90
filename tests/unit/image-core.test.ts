/**
 * The image core: one tar parser (seeking, streaming and in-memory drivers agree), links resolved in one
 * place, the walker (merged descriptors, each digest once, limits), the digest module (sha256 and sha512
 * verified, other algorithms refused), --verify strictness, decompression limits and bounded rendering.
 * Archives are written by Python's tarfile (an independent writer); JSON documents and digests by the test.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {after, describe, test} from 'node:test'

import {diffJson} from '../../src/diff/json-tree.js'
import {readImageArchive, topImageDigest} from '../../src/image/archive.js'
import {analyzeImage, compareExpected} from '../../src/image/analyze.js'
import {digestOf, fileDigest, matchesDigest, parseDigest, requireDigest, sha256File} from '../../src/image/digest.js'
import {ArchiveLimitError, InflateGuard, jsonDepthExceeds, LIMITS, WorkBudget} from '../../src/image/limits.js'
import {openSource} from '../../src/image/source.js'
import {indexTarFile, readTarBuffer, type TarEntry, TarEntryParser} from '../../src/image/tar.js'
import {verifyImageArchive} from '../../src/image/verify.js'
import {jsonPreview, truncateContents} from '../../src/ui/analyze-text.js'

const dir = mkdtempSync(path.join(tmpdir(), 'repro-image-core-'))
after(() => rmSync(dir, {recursive: true, force: true}))
let counter = 0

interface Member {
  name: string
  type?: 'dir' | 'fifo' | 'file' | 'hardlink' | 'symlink' | 'unknown'
  data?: Buffer | string
  linkname?: string
}

/** Python's tarfile writes the archive (pax format; gzip when asked). */
const PY = `
import base64, gzip, io, json, sys, tarfile
spec = json.load(sys.stdin)
buf = io.BytesIO()
types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE,
         'hardlink': tarfile.LNKTYPE, 'fifo': tarfile.FIFOTYPE, 'unknown': b'Z'}
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    for m in spec['members']:
        info = tarfile.TarInfo(m['name'])
        info.type = types[m.get('type', 'file')]
        info.mtime = 0
        data = base64.b64decode(m.get('data', ''))
        if m.get('linkname'): info.linkname = m['linkname']
        if info.type in (tarfile.REGTYPE, b'Z'):
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        else:
            t.addfile(info)
raw = buf.getvalue()
if spec.get('gzip'):
    raw = gzip.compress(raw, mtime=0)
open(spec['out'], 'wb').write(raw)
`

function pyTar(members: Member[], options: {gzip?: boolean; name?: string} = {}): string {
  const out = path.join(dir, `${options.name ?? 'a'}-${counter++}.tar${options.gzip ? '.gz' : ''}`)
  const spec = {
    gzip: options.gzip ?? false,
    out,
    members: members.map((m) => ({...m, data: Buffer.from(m.data ?? '').toString('base64')})),
  }
  execFileSync('python3', ['-c', PY], {input: JSON.stringify(spec)})
  return out
}

const sha = (b: Buffer | string, alg: 'sha256' | 'sha512' = 'sha256'): string =>
  `${alg}:${createHash(alg).update(b).digest('hex')}`

function blob(b: Buffer | string, alg: 'sha256' | 'sha512' = 'sha256'): {digest: string; member: Member; size: number} {
  const d = sha(b, alg)
  return {digest: d, member: {name: `blobs/${d.replace(':', '/')}`, data: b}, size: Buffer.byteLength(b)}
}

/** A one-layer OCI image (layer written by tarfile, gzipped by zlib). */
function ociImage(
  over: {config?: Record<string, unknown>; alg?: 'sha256' | 'sha512'; layerTar?: Buffer; names?: string[]} = {},
): {members: Member[]; manifest: string; config: string; layer: string} {
  const alg = over.alg ?? 'sha256'
  const layerTarPath = pyTar([{name: 'etc/hello', data: 'hi\n'}], {name: 'layer'})
  const layerTar = over.layerTar ?? Buffer.from(execFileSync('cat', [layerTarPath]))
  const layerGz = gzipSync(layerTar)
  const layer = blob(layerGz, alg)
  const config = blob(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: {type: 'layers', diff_ids: [sha(layerTar)]},
      config: {Labels: {a: 'b'}},
      ...over.config,
    }),
    alg,
  )
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size},
      layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size}],
    }),
    alg,
  )
  const names = over.names ?? ['docker.io/library/app:1']
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: names.map((n) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifest.digest,
      size: manifest.size,
      annotations: {'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': n.split(':').at(-1)},
    })),
  }
  return {
    members: [
      {name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}'},
      {name: 'index.json', data: JSON.stringify(index)},
      manifest.member,
      config.member,
      layer.member,
    ],
    manifest: manifest.digest,
    config: config.digest,
    layer: layer.digest,
  }
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (error: Error & {code?: string}) => {
    assert.equal(error.code, code, error.message)
    assert.match(error.message, message)
    assert.doesNotMatch(error.message, /\n/)
    return true
  })
}

describe('one tar parser', () => {
  test('seeking, streaming and in-memory drivers see the same entries, every type handled one way', async () => {
    const file = pyTar([
      {name: 'd', type: 'dir'},
      {name: 'd/file', data: 'abc'},
      {name: `long/${'x'.repeat(150)}/name`, data: 'pax path'},
      {name: 'odd', type: 'unknown', data: 'data of an unknown type is skipped as data'},
      {name: 'after-odd', data: 'still parsed'},
      {name: 'fifo', type: 'fifo'},
      {name: 'sym', type: 'symlink', linkname: 'd/file'},
      {name: 'hard', type: 'hardlink', linkname: 'd/file'},
    ])
    const bytes = Buffer.from(execFileSync('cat', [file]))
    const mem = readTarBuffer(bytes).map(({entry}) => [entry.key, entry.type, entry.size])
    const streamed: Array<[string, string, number]> = []
    const p = new TarEntryParser({layer: 0, onEntry: (e: TarEntry) => streamed.push([e.key, e.type, e.size])})
    for (let i = 0; i < bytes.length; i += 333) p.write(bytes.subarray(i, i + 333))
    p.end()
    assert.deepEqual(streamed, mem)
    assert.deepEqual(mem, [
      ['d', 'dir', 0],
      ['d/file', 'file', 3],
      [`long/${'x'.repeat(150)}/name`, 'file', 8],
      ['odd', 'other(Z)', 42],
      ['after-odd', 'file', 12],
      ['fifo', 'fifo', 0],
      ['sym', 'symlink', 0],
      ['hard', 'hardlink', 0],
    ])
    const fh = await open(file, 'r')
    try {
      const members = await indexTarFile(file, fh, bytes.length)
      assert.deepEqual(members.fileNames().sort(), [
        'after-odd',
        'd/file',
        'hard',
        `long/${'x'.repeat(150)}/name`,
        'sym',
      ])
      assert.equal(members.lookup('sym')?.name, 'd/file')
      assert.equal(members.lookup('hard')?.name, 'd/file')
      assert.match(members.problem('fifo') ?? '', /fifo entry, not a file/)
    } finally {
      await fh.close()
    }
  })

  test('links out of the archive, to nothing, and in a loop stay unresolved with the reason', async () => {
    const file = pyTar([
      {name: 'a', data: 'x'},
      {name: 'out', type: 'symlink', linkname: '../../etc/passwd'},
      {name: 'abs', type: 'symlink', linkname: '/etc/passwd'},
      {name: 'nothing', type: 'symlink', linkname: 'missing'},
      {name: 'loop1', type: 'symlink', linkname: 'loop2'},
      {name: 'loop2', type: 'symlink', linkname: 'loop1'},
      {name: 'dir/up', type: 'symlink', linkname: '../a'},
    ])
    const source = await openSource(file)
    try {
      assert.equal(await source.has('dir/up'), true)
      assert.equal((await source.readFile('dir/up', 10)).toString(), 'x')
      for (const [name, why] of [
        ['out', /outside the archive/],
        ['abs', /outside the archive/],
        ['nothing', /not a file in the archive/],
        ['loop1', /chain of links/],
      ] as const) {
        assert.equal(await source.has(name), false)
        await rejects(source.readFile(name, 10), 'E_INVALID_ARCHIVE', why)
      }
    } finally {
      await source.close()
    }
  })

  test('a gzipped archive keeps symlinks: a legacy docker save with a symlinked layer reads and verifies', async () => {
    const layerTar = Buffer.from(execFileSync('cat', [pyTar([{name: 'hello', data: 'hi'}])]))
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: {type: 'layers', diff_ids: [sha(layerTar), sha(layerTar)]},
    })
    const cfgName = `${sha(config).slice(7)}.json`
    const members: Member[] = [
      {
        name: 'manifest.json',
        data: JSON.stringify([{Config: cfgName, Layers: ['l1/layer.tar', 'l2/layer.tar'], RepoTags: ['app:1']}]),
      },
      {name: cfgName, data: config},
      {name: 'l1', type: 'dir'},
      {name: 'l1/layer.tar', data: layerTar},
      {name: 'l2', type: 'dir'},
      {name: 'l2/layer.tar', type: 'symlink', linkname: '../l1/layer.tar'},
    ]
    for (const gzip of [false, true]) {
      const file = pyTar(members, {gzip})
      const r = await analyzeImage(file, {verify: true})
      assert.equal(r.source, gzip ? 'tar+gzip' : 'tar')
      assert.equal(r.images[0].layers.length, 2)
      assert.equal(r.verification?.ok, true, JSON.stringify(r.verification))
      assert.deepEqual(r.images[0].tags, ['app:1'])
    }
  })

  test('the gzip path keeps only JSON-looking entries in memory and streams the rest', async () => {
    const img = ociImage()
    const file = pyTar([...img.members, {name: 'big-text', data: 'x'.repeat(100_000)}], {gzip: true})
    const source = await openSource(file)
    try {
      const kept = (source as unknown as {kept: Map<string, Buffer>}).kept
      assert.ok(kept.has('index.json'))
      assert.ok(kept.has(`blobs/${img.manifest.replace(':', '/')}`))
      assert.equal(kept.has('big-text'), false)
      assert.equal(kept.has(`blobs/${img.layer.replace(':', '/')}`), false)
      assert.equal((await source.readFile('big-text', 1e6)).length, 100_000)
    } finally {
      await source.close()
    }
  })
})

describe('compressed sources', () => {
  test('a zstd-compressed archive with a zstd layer reads and verifies (zlib or the zstd program)', async () => {
    const layerTar = Buffer.from(execFileSync('cat', [pyTar([{name: 'z', data: 'zstd layer'}])]))
    const layerZst = execFileSync('zstd', ['-q', '-c'], {input: layerTar})
    const layer = blob(layerZst)
    const config = blob(
      JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: [sha(layerTar)]}}),
    )
    const manifest = blob(
      JSON.stringify({
        schemaVersion: 2,
        config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size},
        layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: layer.digest, size: layer.size}],
      }),
    )
    const index = {
      schemaVersion: 2,
      manifests: [
        {mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size},
      ],
    }
    const tar = pyTar([{name: 'index.json', data: JSON.stringify(index)}, manifest.member, config.member, layer.member])
    const zst = `${tar}.zst`
    execFileSync('zstd', ['-q', tar, '-o', zst])
    const r = await analyzeImage(zst, {verify: true})
    assert.equal(r.source, 'tar+zstd')
    assert.equal(r.images[0].layers[0].compression, 'zstd')
    assert.equal(r.verification?.ok, true, JSON.stringify(r.verification))
    assert.equal(r.imageDigest, manifest.digest)
  })

  test('streaming a compressed archive: several entries, an identical duplicate and two names for one entry', async () => {
    const file = pyTar(
      [
        {name: 'a', data: 'same a'},
        {name: 'b', data: 'b'.repeat(300_000)},
        {name: 'a', data: 'same a'},
        {name: 'c', type: 'symlink', linkname: 'b'},
      ],
      {gzip: true},
    )
    const source = await openSource(file)
    try {
      const got = new Map<string, string>()
      await source.streamEntries(['a', 'b', 'c'], async (name, stream) => {
        const chunks: Buffer[] = []
        for await (const c of stream) chunks.push(c)
        got.set(name, Buffer.concat(chunks).toString())
      })
      assert.equal(got.get('a'), 'same a')
      assert.equal(got.get('b')?.length, 300_000)
      assert.equal(got.get('c'), got.get('b'))
      // a handler that stops reading early does not stall the pass
      await source.streamEntries(['b', 'a'], async (name, stream) => {
        if (name === 'b') return
        for await (const c of stream) assert.equal(c.toString(), 'same a')
      })
    } finally {
      await source.close()
    }
  })

  test('JSON documents beyond the in-memory budget of a compressed archive are re-read by a bounded pass', async () => {
    // five 15 MiB JSON documents: the first four fit the 64 MiB budget of the open pass, the fifth does not
    const file = path.join(dir, 'many-json.tar.gz')
    execFileSync('python3', [
      '-c',
      `import gzip, io, sys, tarfile
with gzip.open(sys.argv[1], 'wb', compresslevel=1) as g:
    with tarfile.open(fileobj=g, mode='w|') as t:
        for i in range(5):
            data = ('{"n":%d,"pad":"' % i).encode() + b'x' * (15 << 20) + b'"}'
            info = tarfile.TarInfo('doc%d.json' % i)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))`,
      file,
    ])
    const source = await openSource(file)
    try {
      const kept = (): string[] => [...(source as unknown as {kept: Map<string, Buffer>}).kept.keys()].sort()
      assert.deepEqual(kept(), ['doc0.json', 'doc1.json', 'doc2.json', 'doc3.json'])
      assert.match((await source.readFile('doc4.json', LIMITS.maxJsonBytes)).subarray(0, 8).toString(), /^\{"n":4,/)
      assert.deepEqual(kept(), ['doc4.json'])
      assert.match((await source.readFile('doc0.json', LIMITS.maxJsonBytes)).subarray(0, 8).toString(), /^\{"n":0,/)
      assert.deepEqual(kept(), ['doc0.json', 'doc1.json', 'doc2.json', 'doc3.json'])
    } finally {
      await source.close()
    }
  })

  test('a name stored twice with different content is ambiguous: refused, plain or compressed', async () => {
    for (const gzip of [false, true]) {
      for (const [second, why] of [
        ['other', /'a' is stored twice with different content: readers disagree/],
        ['longer one', /'a' is stored twice with different content \(5 and 10 bytes\)/],
      ] as const) {
        const file = pyTar(
          [
            {name: 'a', data: 'first'},
            {name: 'big', data: 'x'.repeat(100_000)},
            {name: './a', data: second},
          ],
          {gzip},
        )
        await rejects(openSource(file), 'E_INVALID_ARCHIVE', why)
      }
      const asDir = pyTar(
        [
          {name: 'a', data: 'x'},
          {name: 'a', type: 'dir'},
        ],
        {gzip},
      )
      await rejects(openSource(asDir), 'E_INVALID_ARCHIVE', /'a' is stored twice as a file and as a dir/)
    }
  })

  test('a tar cut inside the padding of its last member is truncated, not complete', async () => {
    const good = Buffer.from(execFileSync('cat', [pyTar([{name: 'a', data: 'abc'}])]))
    const cut = path.join(dir, 'cut-padding.tar')
    writeFileSync(cut, good.subarray(0, 512 + 100))
    await rejects(openSource(cut), 'E_INVALID_ARCHIVE', /truncated tar archive: 'a' needs 3 bytes/)
  })

  test('a truncated gzip archive and a gzip stream of garbage: one line naming the file', async () => {
    const good = pyTar(ociImage().members, {gzip: true})
    const bytes = Buffer.from(execFileSync('cat', [good]))
    const cut = path.join(dir, 'cut.tar.gz')
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)))
    await rejects(
      readImageArchive(cut),
      'E_INVALID_ARCHIVE',
      /cut\.tar\.gz: corrupt gzip stream: unexpected end of file/,
    )
    const garbage = path.join(dir, 'garbage.tar.gz')
    writeFileSync(garbage, gzipSync(Buffer.from('no tar here '.repeat(100))))
    await rejects(readImageArchive(garbage), 'E_INVALID_ARCHIVE', /garbage\.tar\.gz: not a valid tar inside gzip/)
  })
})

describe('walker', () => {
  test('one manifest listed under two names is one image with both tags and one digest', async () => {
    const img = ociImage({names: ['docker.io/library/app:1', 'docker.io/library/app:latest']})
    for (const gzip of [false, true]) {
      const archive = await readImageArchive(pyTar(img.members, {gzip}))
      try {
        assert.equal(archive.images.length, 1)
        assert.deepEqual(archive.images[0].tags, ['docker.io/library/app:1', 'docker.io/library/app:latest'])
        assert.equal(topImageDigest(archive), img.manifest)
        assert.equal(archive.index?.manifests.length, 2)
      } finally {
        await archive.source.close()
      }
    }
  })

  test('manifest.json must describe the images index.json reaches (docker load and containerd agree)', async () => {
    const img = ociImage()
    const cfg = `blobs/${img.config.replace(':', '/')}`
    const layer = `blobs/${img.layer.replace(':', '/')}`
    const withManifest = (entry: Record<string, unknown>): string =>
      pyTar([...img.members, {name: 'manifest.json', data: JSON.stringify([entry])}])
    const ok = await readImageArchive(withManifest({Config: cfg, Layers: [layer], RepoTags: ['app:1']}))
    try {
      assert.equal(ok.format, 'docker-exporter')
      assert.deepEqual(ok.images[0].repoTags, ['app:1'])
      assert.deepEqual(ok.images[0].tags, ['app:1', 'docker.io/library/app:1'])
    } finally {
      await ok.source.close()
    }
    await rejects(
      readImageArchive(withManifest({Config: `blobs/${img.manifest.replace(':', '/')}`, Layers: [layer]})),
      'E_INVALID_ARCHIVE',
      /manifest\.json entry 0 names config ".*", which is not the config of any manifest index\.json reaches/,
    )
    await rejects(
      readImageArchive(withManifest({Config: cfg, Layers: [layer, layer]})),
      'E_INVALID_ARCHIVE',
      /manifest\.json entry 0 disagrees with manifest sha256:[a-f0-9]{64} in index\.json: 2 layers, the manifest has 1/,
    )
    await rejects(
      readImageArchive(withManifest({Config: cfg, Layers: [cfg]})),
      'E_INVALID_ARCHIVE',
      /layer 1 "blobs\/sha256\/[a-f0-9]{64}", the manifest's is blobs\/sha256\//,
    )
  })

  test('a manifest whose own mediaType is not a string is refused', async () => {
    const img = ociImage()
    const manName = `blobs/${img.manifest.replace(':', '/')}`
    const man = JSON.parse(img.members.find((m) => m.name === manName)!.data as string)
    man.mediaType = 42
    const b = blob(JSON.stringify(man))
    const members = img.members
      .filter((m) => m.name !== manName && m.name !== 'index.json')
      .concat([
        b.member,
        {
          name: 'index.json',
          data: JSON.stringify({
            schemaVersion: 2,
            manifests: [{digest: b.digest, size: b.size, mediaType: 'application/vnd.oci.image.manifest.v1+json'}],
          }),
        },
      ])
    await rejects(
      readImageArchive(pyTar(members)),
      'E_INVALID_ARCHIVE',
      /has a mediaType that is a number, not a string/,
    )
  })

  test('an archive without oci-layout is read, with a warning', async () => {
    const img = ociImage()
    const archive = await readImageArchive(pyTar(img.members.filter((m) => m.name !== 'oci-layout')))
    try {
      assert.equal(archive.images.length, 1)
      assert.ok(
        archive.warnings.some((w) => /without an oci-layout file/.test(w)),
        archive.warnings.join('; '),
      )
    } finally {
      await archive.source.close()
    }
  })

  test('an index listing one manifest 20,000 times is read once, quickly', async () => {
    const img = ociImage({names: Array.from({length: 20_000}, (_, i) => `app:${i}`)})
    const t0 = performance.now()
    const archive = await readImageArchive(pyTar(img.members))
    try {
      assert.equal(archive.images.length, 1)
      assert.equal(archive.images[0].tags.length, 20_000)
      assert.ok(performance.now() - t0 < 5000)
    } finally {
      await archive.source.close()
    }
  })

  test('indexes nested deeper than the limit: exit 2 naming the limit', async () => {
    const img = ociImage()
    const members = img.members.filter((m) => m.name !== 'index.json')
    let child = {digest: img.manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 0}
    child.size = Buffer.byteLength(members.find((m) => m.name === `blobs/${img.manifest.replace(':', '/')}`)!.data!)
    for (let i = 0; i < LIMITS.maxIndexDepth + 1; i++) {
      const idx = blob(
        JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child]}),
      )
      members.push(idx.member)
      child = {digest: idx.digest, mediaType: 'application/vnd.oci.image.index.v1+json', size: idx.size}
    }
    members.push({name: 'index.json', data: JSON.stringify({schemaVersion: 2, manifests: [child]})})
    await rejects(
      readImageArchive(pyTar(members)),
      'E_ARCHIVE_LIMIT',
      /indexes nested too deep \(limit maxIndexDepth = 4\)/,
    )
  })

  test('a config nested 100,000 deep: exit 2 naming the config and the limit, no stack overflow', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    const img = ociImage({config: {deep: '@DEEP@'}})
    const members = img.members.map((m) => {
      const text = typeof m.data === 'string' ? m.data : undefined
      return text?.includes('@DEEP@') ? {...m, data: text.replace('"@DEEP@"', deep)} : m
    })
    // the config blob's bytes changed: rewrite its name, the manifest and index.json
    const cfg = members.find((m) => typeof m.data === 'string' && m.data.includes('rootfs'))!
    const cfgBlob = blob(cfg.data as string)
    const manifestText = JSON.stringify({
      schemaVersion: 2,
      config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgBlob.digest, size: cfgBlob.size},
      layers: [],
    })
    const man = blob(manifestText)
    const file = pyTar([
      {
        name: 'index.json',
        data: JSON.stringify({
          schemaVersion: 2,
          manifests: [{mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: man.digest, size: man.size}],
        }),
      },
      man.member,
      cfgBlob.member,
    ])
    await rejects(
      readImageArchive(file),
      'E_ARCHIVE_LIMIT',
      new RegExp(`config blobs/sha256/${cfgBlob.digest.slice(7)} nests .* too deep \\(limit maxJsonDepth = 64\\)`),
    )
  })
})

describe('digest module', () => {
  test('sha512 blobs are verified with sha512; a made-up sha512 name fails', async () => {
    const good = ociImage({alg: 'sha512'})
    const archive = await readImageArchive(pyTar(good.members))
    try {
      assert.equal(archive.images[0].manifest?.digest, good.manifest)
      const v = await verifyImageArchive(archive)
      assert.equal(v.ok, true, JSON.stringify(v.mismatches))
    } finally {
      await archive.source.close()
    }
    // the same bytes under a made-up sha512 name
    const fake = `sha512:${'ab'.repeat(64)}`
    const members = good.members.map((m) =>
      m.name === 'index.json'
        ? {...m, data: (m.data as string).replace(good.manifest, fake)}
        : m.name === `blobs/${good.manifest.replace(':', '/')}`
          ? {...m, name: `blobs/sha512/${'ab'.repeat(64)}`}
          : m,
    )
    await rejects(readImageArchive(pyTar(members)), 'E_INVALID_ARCHIVE', /does not match its digest: got sha512:/)
  })

  test('any other algorithm is refused, not trusted', () => {
    assert.throws(
      () => requireDigest('x.tar', `md5:${'a'.repeat(32)}`, 'index.json manifests[0]'),
      /uses the digest algorithm 'md5', which repro cannot verify/,
    )
    assert.throws(() => requireDigest('x.tar', 'sha256:xyz', 'w'), /invalid digest "sha256:xyz"/)
    assert.equal(parseDigest(`sha384:${'a'.repeat(96)}`), undefined)
    const d = parseDigest(sha('abc', 'sha512'))!
    assert.equal(matchesDigest(Buffer.from('abc'), d), true)
    assert.equal(matchesDigest(Buffer.from('abd'), d), false)
    assert.equal(digestOf('abc', 'sha512'), sha('abc', 'sha512'))
  })

  test('the one file hasher: fileDigest and sha256File', async () => {
    const f = path.join(dir, 'hash-me')
    writeFileSync(f, 'abc')
    assert.equal(await fileDigest(f), sha('abc'))
    assert.equal(await fileDigest(f, 'sha512'), sha('abc', 'sha512'))
    assert.equal(await sha256File(f), sha('abc').slice(7))
  })
})

describe('--verify strictness', () => {
  for (const [what, diffIds] of [
    ['a number', 5],
    ['null', null],
    ['an array of arrays', [['sha256:00']]],
    ['the wrong length', []],
  ] as const) {
    test(`diff_ids that are ${what} fail verification`, async () => {
      const img = ociImage({config: {rootfs: {type: 'layers', diff_ids: diffIds}}})
      const archive = await readImageArchive(pyTar(img.members))
      try {
        assert.ok(
          archive.warnings.some((w) => /diff/.test(w)),
          archive.warnings.join('; '),
        )
        const v = await verifyImageArchive(archive)
        assert.equal(v.ok, false)
        assert.ok(
          v.mismatches.some((m) => m.field === 'diffId' && /diff/.test(m.actual)),
          JSON.stringify(v.mismatches),
        )
      } finally {
        await archive.source.close()
      }
    })
  }

  test('a layer that does not decompress fails verification even when its digest matches', async () => {
    const img = ociImage()
    const bad = gzipSync(Buffer.from('not much')).subarray(0, 12) // cut inside the deflate data
    const layer = blob(bad)
    const members = img.members.map((m) => {
      if (m.name === `blobs/${img.layer.replace(':', '/')}`) return layer.member
      return m
    })
    // rewrite manifest and index to the new layer
    const manText = (members.find((m) => m.name === `blobs/${img.manifest.replace(':', '/')}`)!.data as string)
      .replace(img.layer, layer.digest)
      .replace(/"size":\d+}]}$/, `"size":${layer.size}}]}`)
    const man = blob(manText)
    const out = members
      .filter((m) => m.name !== `blobs/${img.manifest.replace(':', '/')}` && m.name !== 'index.json')
      .concat([
        man.member,
        {
          name: 'index.json',
          data: JSON.stringify({
            schemaVersion: 2,
            manifests: [{mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: man.digest, size: man.size}],
          }),
        },
      ])
    const archive = await readImageArchive(pyTar(out))
    try {
      const v = await verifyImageArchive(archive)
      assert.equal(v.ok, false)
      assert.ok(
        v.mismatches.some((m) => /does not decompress/.test(m.actual)),
        JSON.stringify(v.mismatches),
      )
      assert.ok(!v.mismatches.some((m) => m.field === 'digest'))
    } finally {
      await archive.source.close()
    }
  })
})

describe('error lines stay one short line', () => {
  test('a newline or terminal escape in a file name or flag value is escaped, long values elided', async () => {
    const forged = path.join(dir, 'a\nError: forged\u001b[2J.tar')
    writeFileSync(forged, 'x'.repeat(5000))
    await rejects(readImageArchive(forged), 'E_INVALID_ARCHIVE', /a\\nError: forged\\u001b\[2J\.tar: not a tar archive/)
    const img = ociImage()
    const archive = await readImageArchive(pyTar(img.members))
    try {
      assert.throws(
        () => compareExpected(archive, `sha256:abc\nError: forged${'a'.repeat(100_000)}`),
        (e: Error) => {
          assert.match(e.message, /^--expected-image-digest sha256:abc\\nError: forgeda+\[\.\.\.\]a+: not a digest/)
          assert.ok(e.message.length < 300, `${e.message.length} characters`)
          return true
        },
      )
      assert.throws(() => compareExpected(archive, 'sha256:abc\u001b[31m'), /sha256:abc\\u001b\[31m: not a digest/)
    } finally {
      await archive.source.close()
    }
  })
})

describe('limits and bounded rendering', () => {
  test('the inflate guard stops a decompression bomb by ratio and by size', () => {
    const g = new InflateGuard('bomb.tar.gz')
    g.input(1000)
    g.output(LIMITS.maxRatioAfterBytes) // small outputs may have any ratio
    assert.throws(
      () => g.output(1),
      (e: Error) =>
        e instanceof ArchiveLimitError &&
        /bomb\.tar\.gz: .*decompression bomb \(limit maxCompressionRatio = 200\)/.test(e.message),
    )
    const h = new InflateGuard('big')
    h.input(LIMITS.maxDecompressedBytes)
    assert.throws(() => h.output(LIMITS.maxDecompressedBytes + 1), /limit maxDecompressedBytes/)
  })

  test('a gzip bomb as the archive itself ends in E_ARCHIVE_LIMIT', async () => {
    // 160 MiB of zeros inside one tar member, gzipped: ~160 KiB on disk, past the ratio limit
    const file = path.join(dir, 'bomb.tar.gz')
    execFileSync('python3', [
      '-c',
      `import gzip, tarfile, sys
class Zeros:
    def __init__(self, n): self.left = n
    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)
with gzip.open(sys.argv[1], 'wb', compresslevel=1) as g:
    with tarfile.open(fileobj=g, mode='w|') as t:
        info = tarfile.TarInfo('zeros')
        info.size = 160 << 20
        t.addfile(info, Zeros(info.size))`,
      file,
    ])
    const t0 = performance.now()
    await rejects(readImageArchive(file), 'E_ARCHIVE_LIMIT', /bomb\.tar\.gz: .*\(limit maxCompressionRatio = 200\)/)
    assert.ok(performance.now() - t0 < 5000)
  })

  test('the work budget counts descriptors and documents across the archive', () => {
    const b = new WorkBudget('x.tar')
    b.descriptorsRead(LIMITS.maxDescriptors, 'index.json')
    assert.throws(
      () => b.descriptorsRead(1, 'blobs/sha256/ab'),
      /x\.tar: too many descriptors \(at blobs\/sha256\/ab\) \(limit maxDescriptors = 50000\)/,
    )
    const c = new WorkBudget('y.tar')
    for (let i = 0; i < LIMITS.maxDocuments; i++) c.documentRead('m')
    assert.throws(() => c.documentRead('m'), /limit maxDocuments/)
  })

  test('JSON depth is measured without recursion, strings ignored', () => {
    assert.equal(jsonDepthExceeds(Buffer.from('{"a":[[1]]}'), 3), false)
    assert.equal(jsonDepthExceeds(Buffer.from('{"a":[[[1]]]}'), 3), true)
    assert.equal(jsonDepthExceeds(Buffer.from('{"a":"[[[[[\\"[[["}'), 1), false)
  })

  test('diffJson walks any depth with an explicit stack, in the same order as before', () => {
    let a: unknown = 1
    let b: unknown = 2
    for (let i = 0; i < 200_000; i++) {
      a = [a]
      b = [b]
    }
    assert.equal(diffJson(a, b).length, 1)
    // stops once more than `limit` differences are found (diff lists at most maxListedDifferences per document)
    const many = Object.fromEntries(Array.from({length: 50_000}, (_, i) => [`k${i}`, i]))
    assert.equal(diffJson({}, many, () => false, '', [], 100).length, 101)
    assert.deepEqual(diffJson({x: {b: 1, a: [1, 2]}, y: 1}, {x: {b: 2, a: [1]}, z: 2}), [
      {path: '.x.a[1]', a: '2', b: null},
      {path: '.x.b', a: '1', b: '2'},
      {path: '.y', a: '1', b: null},
      {path: '.z', a: null, b: '2'},
    ])
  })

  test('display truncation never recurses on nesting', () => {
    let deep: unknown = 1
    for (let i = 0; i < 200_000; i++) deep = [deep]
    const {text, total} = jsonPreview(deep, 50)
    assert.equal(text, '['.repeat(50))
    assert.equal(total, 400_001)
    assert.match(truncateContents(deep, false), /\[\.\.\. 399601 characters omitted/)
    assert.equal(
      jsonPreview({a: [1, 'x', null, {b: true}], c: {}}, 1000).text,
      JSON.stringify({a: [1, 'x', null, {b: true}], c: {}}),
    )
  })
})
