/**
 * `repro diff` on real archives: pairs built with tests/support/image-fixtures.ts that differ in exactly one
 * known way each; every test asserts the exact difference and its cause. A few run the CLI for exit codes.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {ignoreOptions, type IgnoreOptions} from '../../src/diff/ignore.js'
import {diffImages} from '../../src/diff/index.js'
import type {DiffResult} from '../../src/diff/types.js'
import {runDev} from '../support/diff-cli.js'
import {
  type ArchiveKind,
  buildImage,
  type FileSpec,
  type ImageSpec,
  tempDir,
  writeArchive,
} from '../support/image-fixtures.js'

let dir: string
let n = 0

before(async () => {
  dir = await tempDir('repro-diff-')
})

after(async () => {
  await rm(dir, {force: true, recursive: true})
})

const SHADOW = 'root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n'

function base(): FileSpec[][] {
  return [
    [
      {path: 'etc/', type: 'dir'},
      {content: 'root:x:0:0:root:/root:/bin/sh\n', path: 'etc/passwd'},
      {content: SHADOW, mode: 0o640, path: 'etc/shadow'},
      {path: 'usr/', type: 'dir'},
      {path: 'usr/bin/', type: 'dir'},
      {content: '#!/bin/sh\necho tool\n', mode: 0o755, path: 'usr/bin/tool'},
      {linkname: 'tool', path: 'usr/bin/link', type: 'symlink'},
    ],
    [
      {path: 'app/', type: 'dir'},
      {content: 'line 1\nversion 1\nline 3\n', path: 'app/main.txt'},
      {content: Buffer.alloc(100_000, 1), path: 'app/data.bin'},
      {content: 'z\n', path: 'app/zzz.txt'},
    ],
  ]
}

type Edit = (layers: FileSpec[][]) => void

function edited(edit: Edit): FileSpec[][] {
  const layers = base()
  edit(layers)
  return layers
}

function file(layers: FileSpec[][], p: string): FileSpec {
  for (const l of layers) {
    const f = l.find((x) => x.path === p)
    if (f) return f
  }
  throw new Error(`no ${p} in the fixture`)
}

async function archive(spec: ImageSpec, kind: ArchiveKind = 'oci-archive', options = {}): Promise<string> {
  const img = await buildImage(spec)
  const out = path.join(dir, `${n++}${kind === 'oci-layout-dir' ? '' : '.tar'}`)
  await writeArchive(kind, [img], out, options)
  return out
}

async function diff(
  a: string,
  b: string,
  ignore: Partial<IgnoreOptions> & {ignoreTimestamps?: boolean} = {},
  extra = {},
): Promise<DiffResult> {
  return diffImages(a, b, {ignore: ignoreOptions(ignore), ...extra})
}

/** The differences as [kind, path, field, cause] tuples. */
function shape(r: DiffResult, which: 'differences' | 'notes' = 'differences'): string[][] {
  return r[which].map((e) => [e.kind, e.path, e.field, e.cause])
}

async function pairDiff(editB: Edit, ignore: Partial<IgnoreOptions> = {}): Promise<DiffResult> {
  const a = await archive({layers: base()})
  const b = await archive({layers: edited(editB)})
  return diff(a, b, ignore)
}

describe('diff: pairs that differ in one known way', () => {
  test('identical images: same, no layer decompressed', async () => {
    const a = await archive({layers: base()})
    const b = await archive({layers: base()})
    const r = await diff(a, b)
    assert.equal(r.same, true)
    assert.deepEqual(r.differences, [])
    assert.equal(r.summary.layersCompared, 0)
    assert.equal(r.summary.layersSkipped, 2)
    assert.equal(r.schemaVersion, 1)
  })

  test('file content: the file, its cause, and a unified diff of both sides', async () => {
    const r = await pairDiff((l) => (file(l, 'app/main.txt').content = 'line 1\nversion 2\nline 3\n'))
    assert.deepEqual(shape(r), [['file', 'app/main.txt', 'content', 'file-content']])
    const e = r.differences[0]
    assert.equal(e.layer, 2)
    assert.match(e.a!, /^sha256:[a-f0-9]{64} \(24 bytes\)$/)
    assert.match(e.diff!, /-version 1\n\+version 2\n/)
    assert.match(e.diff!, /--- a\/app\/main.txt/)
    assert.equal(r.summary.causes[0].cause, 'file-content')
    assert.equal(r.summary.layersCompared, 1)
    assert.equal(r.summary.layersSkipped, 1)
  })

  test('file mtime later than SOURCE_DATE_EPOCH (config created 1970): rewrite-timestamp missing', async () => {
    const r = await pairDiff((l) => (file(l, 'app/main.txt').mtime = 1_700_000_000))
    assert.deepEqual(shape(r), [['file', 'app/main.txt', 'mtime', 'mtime-after-sde']])
    assert.equal(r.differences[0].a, '1970-01-01T00:00:00Z (0)')
    assert.equal(r.differences[0].b, '2023-11-14T22:13:20Z (1700000000)')
    assert.match(r.differences[0].hint, /B's mtime is after B's SOURCE_DATE_EPOCH 0 \(from the config created time\)/)
    assert.equal(
      (await pairDiff((l) => (file(l, 'app/main.txt').mtime = 1_700_000_000), {ignoreFileTimestamps: true})).same,
      true,
    )
  })

  test('SOURCE_DATE_EPOCH from the buildkit/rewritten-timestamp annotation', async () => {
    const a = await archive({
      created: '2024-01-01T00:00:00Z',
      layerAnnotations: [undefined, {'buildkit/rewritten-timestamp': '10'}],
      layers: base(),
    })
    const b = await archive({
      created: '2024-01-01T00:00:00Z',
      layerAnnotations: [undefined, {'buildkit/rewritten-timestamp': '10'}],
      layers: edited((l) => (file(l, 'app/zzz.txt').mtime = 20)),
    })
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [['file', 'app/zzz.txt', 'mtime', 'mtime-after-sde']])
    assert.match(r.differences[0].hint, /SOURCE_DATE_EPOCH 10 \(from the buildkit\/rewritten-timestamp annotation\)/)
  })

  test('file mode', async () => {
    const r = await pairDiff((l) => (file(l, 'app/main.txt').mode = 0o755))
    assert.deepEqual(shape(r), [['file', 'app/main.txt', 'mode', 'file-mode']])
    assert.deepEqual([r.differences[0].a, r.differences[0].b], ['0644', '0755'])
  })

  test('file owner', async () => {
    const r = await pairDiff((l) => Object.assign(file(l, 'app/main.txt'), {uid: 1000, gid: 1000}))
    assert.deepEqual(shape(r), [
      ['file', 'app/main.txt', 'gid', 'file-owner'],
      ['file', 'app/main.txt', 'uid', 'file-owner'],
    ])
    assert.deepEqual([r.differences[1].a, r.differences[1].b], ['0', '1000'])
  })

  test('xattr (security.capability, binary) on one side, shown in hex, never "?"', async () => {
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex')
    const r = await pairDiff((l) => (file(l, 'usr/bin/tool').xattrs = {'security.capability': cap}))
    assert.deepEqual(shape(r), [['file', 'usr/bin/tool', 'xattr.security.capability', 'xattr']])
    assert.equal(r.differences[0].a, null)
    assert.equal(r.differences[0].b, `0x${cap.toString('hex')}`)
  })

  test('extra file and missing file', async () => {
    const extra = await pairDiff((l) => l[1].push({content: 'new\n', path: 'app/extra.txt'}))
    assert.deepEqual(shape(extra), [['file', 'app/extra.txt', 'presence', 'file-added-or-removed']])
    assert.equal(extra.differences[0].a, null)
    assert.match(extra.differences[0].b!, /^file sha256:[a-f0-9]{64} \(4 bytes\)$/)
    const missing = await pairDiff((l) => (l[1] = l[1].filter((f) => f.path !== 'app/data.bin')))
    assert.deepEqual(shape(missing), [['file', 'app/data.bin', 'presence', 'file-added-or-removed']])
    assert.equal(missing.differences[0].b, null)
  })

  test('symlink target', async () => {
    const r = await pairDiff((l) => (file(l, 'usr/bin/link').linkname = 'tool.new'))
    assert.deepEqual(shape(r), [['file', 'usr/bin/link', 'linkname', 'symlink-target']])
    assert.deepEqual([r.differences[0].a, r.differences[0].b], ['tool', 'tool.new'])
  })

  test('whiteout in a layer of the same position', async () => {
    const r = await pairDiff((l) => l[1].push({path: 'usr/bin/.wh.tool'}))
    assert.deepEqual(shape(r), [['file', 'usr/bin/.wh.tool', 'presence', 'whiteout']])
  })

  test('layer counts differ: flattened file systems with whiteouts applied', async () => {
    const a = await archive({layers: base()})
    const b = await archive({
      layers: [
        ...base(),
        [{path: 'usr/bin/.wh.tool'}, {path: 'app/.wh..wh..opq'}, {content: 'only\n', path: 'app/only.txt'}],
      ],
    })
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [
      ['config', '.history[2]', 'value', 'history'],
      ['layer', 'layers', 'count', 'layer-count'],
      ['file', 'app/data.bin', 'presence', 'file-added-or-removed'],
      ['file', 'app/main.txt', 'presence', 'file-added-or-removed'],
      ['file', 'app/only.txt', 'presence', 'file-added-or-removed'],
      ['file', 'app/zzz.txt', 'presence', 'file-added-or-removed'],
      ['file', 'usr/bin/tool', 'presence', 'file-added-or-removed'],
    ])
    assert.equal(r.differences.find((e) => e.path === 'app/only.txt')!.a, null)
    assert.equal(r.differences.find((e) => e.path === 'usr/bin/tool')!.b, null)
  })

  test('compression only: packaging, the same with --semantic', async () => {
    const a = await archive({layers: base()})
    const b = await archive({compression: 'none', layers: base()})
    const r = await diff(a, b)
    assert.equal(r.same, false)
    assert.deepEqual(shape(r), [
      ['layer', 'layers[1]', 'digest', 'compression'],
      ['layer', 'layers[1]', 'mediaType', 'compression'],
      ['layer', 'layers[2]', 'digest', 'compression'],
      ['layer', 'layers[2]', 'mediaType', 'compression'],
    ])
    assert.equal(r.differences[0].category, 'packaging')
    assert.equal(r.summary.layersCompared, 0)
    const s = await diff(a, b, {semantic: true})
    assert.equal(s.same, true)
    assert.equal(s.summary.differences, 0)
    assert.deepEqual(shape(s, 'notes'), shape(r))
  })

  test('gzip level only: same diff IDs, different blob digests', async () => {
    const a = await archive({gzipLevel: 1, layers: base()})
    const b = await archive({gzipLevel: 9, layers: base()})
    const r = await diff(a, b)
    const fields = shape(r).map((s) => s.join(' '))
    assert.ok(fields.includes('layer layers[2] digest compression'), fields.join('\n'))
    assert.ok(fields.every((f) => f.endsWith('compression')))
    assert.equal((await diff(a, b, {semantic: true})).same, true)
  })

  test('manifest annotation only: packaging', async () => {
    const a = await archive({layers: base(), manifestAnnotations: {'org.example.note': 'one'}})
    const b = await archive({layers: base(), manifestAnnotations: {'org.example.note': 'two'}})
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [['manifest', 'manifest.annotations["org.example.note"]', 'annotation', 'annotation']])
    assert.equal((await diff(a, b, {annotations: ['org.example.note']})).same, true)
    assert.equal((await diff(a, b, {semantic: true})).same, true)
  })

  test('index.json-only image name annotation: image-name, ignored by --ignore-image-name', async () => {
    const a = await archive({layers: base()}, 'oci-archive', {
      descriptorAnnotations: {'io.containerd.image.name': 'docker.io/x/app:1'},
    })
    const b = await archive({layers: base()}, 'oci-archive', {
      descriptorAnnotations: {'io.containerd.image.name': 'localhost/app:1'},
    })
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [
      ['index', 'index.json/manifests[0].annotations["io.containerd.image.name"]', 'annotation', 'image-name'],
    ])
    assert.equal((await diff(a, b, {ignoreImageName: true})).same, true)
  })

  test('history only', async () => {
    const a = await archive({history: [{created_by: 'ADD rootfs /'}, {created_by: 'COPY app /app'}], layers: base()})
    const b = await archive({history: [{created_by: 'ADD rootfs /'}, {created_by: 'COPY . /app'}], layers: base()})
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [['config', '.history[1].created_by', 'value', 'history']])
    assert.deepEqual([r.differences[0].a, r.differences[0].b], ['COPY app /app', 'COPY . /app'])
    assert.equal((await diff(a, b, {ignoreHistory: true})).same, true)
  })

  test('file order: only the moved entry is reported', async () => {
    const r = await pairDiff((l) => {
      const z = l[1].pop()!
      l[1].splice(1, 0, z)
    })
    assert.deepEqual(shape(r), [['file', 'app/zzz.txt', 'position', 'file-order']])
    assert.deepEqual([r.differences[0].a, r.differences[0].b], ['3', '1'])
    assert.equal((await pairDiff((l) => l[1].reverse(), {ignoreFileOrder: true})).same, true)
  })

  test('/etc/shadow last change day', async () => {
    const r = await pairDiff((l) => (file(l, 'etc/shadow').content = SHADOW.replace('app:!:19000', 'app:!:19001')))
    assert.deepEqual(shape(r), [['file', 'etc/shadow', 'content', 'shadow-last-change']])
    assert.match(r.differences[0].diff!, /-app:!:19000/)
    assert.match(r.differences[0].hint, /chage -d/)
  })

  test('content detectors (src/hazards): timestamps in text, gzip header mtime, a zip past 64 KiB, decoded', async () => {
    // python3's gzip and zipfile write the binary files (not the readers under test)
    const T = 1_795_483_984
    const py = (mtime: number, zipTime: string): Buffer[] =>
      JSON.parse(
        execFileSync('python3', [
          '-c',
          `import base64, gzip, io, json, random, zipfile
g = io.BytesIO()
with gzip.GzipFile(filename='x', mode='wb', fileobj=g, mtime=${mtime}) as f: f.write(b'hello')
z = io.BytesIO()
random.seed(1)
with zipfile.ZipFile(z, 'w') as f:
    for i in range(3): f.writestr(zipfile.ZipInfo('lib/%d.class' % i, date_time=(${zipTime})), random.randbytes(40000))
print(json.dumps([base64.b64encode(b.getvalue()).decode() for b in (g, z)]))`,
        ]).toString(),
      ).map((b: string) => Buffer.from(b, 'base64'))
    const [gzA, zipA] = py(T, '2026, 11, 24, 1, 33, 4')
    const [gzB, zipB] = py(T + 2, '2026, 11, 24, 1, 33, 8')
    assert.ok(zipA.length > 64 * 1024, 'the zip is larger than what diff keeps whole')
    const add = (stamp: number, gz: Buffer, zip: Buffer) => (l: FileSpec[][]) => {
      l[1].push(
        {content: `built ${stamp}\nat ${new Date(stamp * 1000).toISOString()}\n`, path: 'app/stamp'},
        {content: gz, path: 'app/x.gz'},
        {content: zip, path: 'app/x.jar'},
      )
    }
    const a = await archive({layers: edited(add(T, gzA, zipA))})
    const b = await archive({layers: edited(add(T + 2, gzB, zipB))})
    const r = await diff(a, b)
    assert.deepEqual(
      r.differences.map((e) => [e.path, e.cause, e.detail]),
      [
        [
          'app/stamp',
          'timestamp-in-content',
          `${T} vs ${T + 2}: epoch seconds 2 s apart, both on 2026-11-24 (UTC), both after SOURCE_DATE_EPOCH 0: the build clock (2 timestamps differ)`,
        ],
        [
          'app/x.gz',
          'gzip-mtime',
          `gzip header mtime ${T} vs ${T + 2}: 2 s apart (2026-11-24 01:33:04 UTC vs 2026-11-24 01:33:06 UTC)`,
        ],
        [
          'app/x.jar',
          'zip-entry-times',
          '3 of 3 entries dated differently, e.g. lib/0.class: 1795483984 vs 1795483988: 4 s apart (2026-11-24 01:33:04 UTC vs 2026-11-24 01:33:08 UTC)',
        ],
      ],
    )
    assert.deepEqual(r.summary.causes.map((c) => c.cause).sort(), [
      'gzip-mtime',
      'timestamp-in-content',
      'zip-entry-times',
    ])
    // layer counts differ: the flattened comparison gets the same detectors
    const fa = await archive({layers: [[{content: gzA, path: 'x.gz'}]]})
    const fb = await archive({layers: [[{content: gzB, path: 'x.gz'}], [{content: 'e', path: 'extra'}]]})
    const flat = await diff(fa, fb)
    assert.deepEqual(
      flat.differences.filter((e) => e.kind === 'file').map((e) => [e.path, e.field, e.cause, e.layer]),
      [
        ['extra', 'presence', 'file-added-or-removed', undefined],
        ['x.gz', 'content', 'gzip-mtime', undefined],
      ],
    )
  })

  test('log files, ldconfig cache, .pyc and leaked resolv.conf: path rules', async () => {
    const r = await pairDiff((l) =>
      l[1].push(
        {content: 'install x\n', path: 'var/log/dpkg.log'},
        {content: 'cache', path: 'var/cache/ldconfig/aux-cache'},
        {content: 'pyc', path: 'usr/lib/python3/x.pyc'},
        {content: 'nameserver 10.0.0.1\n', path: 'etc/resolv.conf'},
      ),
    )
    assert.deepEqual(
      shape(r).map((s) => `${s[1]} ${s[3]}`),
      [
        'etc/resolv.conf leaked-host-file',
        'usr/lib/python3/x.pyc pyc-timestamp',
        'var/cache/ldconfig/aux-cache ldconfig-cache',
        'var/log/dpkg.log log-file',
      ],
    )
    const ignored = await pairDiff(
      (l) =>
        l[1].push({content: 'install x\n', path: 'var/log/dpkg.log'}, {content: 'x', path: 'var/log/apt/history.log'}),
      {paths: ['var/log/**']},
    )
    assert.equal(ignored.same, true)
    assert.equal(ignored.summary.ignored, 2)
  })

  test('hard link on one side, a copy on the other', async () => {
    const a = await archive({
      layers: edited((l) => l[0].push({content: '#!/bin/sh\necho tool\n', mode: 0o755, path: 'usr/bin/tool2'})),
    })
    const b = await archive({
      layers: edited((l) =>
        l[0].push({linkname: 'usr/bin/tool', mode: 0o755, path: 'usr/bin/tool2', type: 'hardlink'}),
      ),
    })
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [['file', 'usr/bin/tool2', 'type', 'hardlink']])
    assert.deepEqual([r.differences[0].a, r.differences[0].b], ['file', 'hardlink'])
  })

  test('config: build tool label, created time, env; labels ignorable', async () => {
    const a = await archive({layers: base()})
    const b = await archive({
      containerConfig: {
        Env: ['PATH=/usr/bin:/bin', 'DEBUG=1'],
        Labels: {'io.buildah.version': '1.41.0', 'org.example': 'x'},
      },
      created: '2025-01-01T00:00:00Z',
      layers: base(),
    })
    const r = await diff(a, b)
    assert.deepEqual(shape(r), [
      ['config', '.config.Env[1]', 'value', 'config'],
      ['config', '.config.Labels["io.buildah.version"]', 'value', 'build-tool-label'],
      ['config', '.created', 'value', 'created-timestamp'],
      ['config', '.history[0].created', 'value', 'created-timestamp'],
      ['config', '.history[1].created', 'value', 'created-timestamp'],
    ])
    assert.deepEqual(
      r.summary.causes.map((c) => [c.cause, c.category, c.count]),
      [
        ['config', 'content', 1],
        ['created-timestamp', 'metadata', 3],
        ['build-tool-label', 'metadata', 1],
      ],
    )
    const ig = await diff(a, b, {ignoreImageTimestamps: true, labels: ['io.buildah.version']})
    assert.deepEqual(shape(ig), [['config', '.config.Env[1]', 'value', 'config']])
  })

  test('manifests matched by platform, not by position', async () => {
    const amd = await buildImage({layers: base()})
    const arm = await buildImage({
      architecture: 'arm64',
      layers: edited((l) => (file(l, 'app/main.txt').content = 'arm\n')),
    })
    const arm2 = await buildImage({
      architecture: 'arm64',
      layers: edited((l) => (file(l, 'app/main.txt').content = 'arm v2\n')),
    })
    const a = path.join(dir, 'multi-a.tar')
    const b = path.join(dir, 'multi-b.tar')
    await writeArchive('oci-multi', [amd, arm], a)
    await writeArchive('oci-multi', [arm2, amd], b)
    const r = await diff(a, b)
    assert.deepEqual(
      r.differences.filter((e) => e.kind === 'file').map((e) => [e.platform, e.path, e.field]),
      [['linux/arm64', 'app/main.txt', 'content']],
    )
    const only = await diff(a, b, {}, {platform: 'linux/amd64'})
    assert.equal(only.differences.filter((e) => e.platform === 'linux/amd64').length, 0)
  })

  test('every archive format reads the same: with --semantic a docker-archive equals an OCI layout dir', async () => {
    const a = await archive({layers: base()}, 'docker-archive')
    const b = await archive({layers: base()}, 'oci-layout-dir')
    const strict = await diff(a, b)
    assert.ok(shape(strict).some((s) => s[3] === 'archive-format'))
    const r = await diff(a, b, {semantic: true})
    assert.equal(r.same, true, JSON.stringify(r.differences))
    assert.ok(r.notes.length > 0)
  })

  test('--report-dir: report.json and both sides of differing files, nothing outside the directory', async () => {
    const a = await archive({layers: base()})
    const b = await archive({
      layers: edited((l) => {
        file(l, 'app/main.txt').content = 'changed\n'
        file(l, 'app/data.bin').content = Buffer.alloc(100_000, 2)
        l[1].push({content: 'evil', path: '../../evil.txt'}, {content: 'abs', path: '/abs.txt'})
      }),
    })
    const reportDir = path.join(dir, 'report')
    const r = await diffImages(a, b, {ignore: ignoreOptions({}), reportDir})
    assert.equal(r.reportDir, reportDir)
    const report = JSON.parse(await readFile(path.join(reportDir, 'report.json'), 'utf8')) as DiffResult
    assert.equal(report.summary.differences, r.summary.differences)
    assert.equal(await readFile(path.join(reportDir, 'a', 'app', 'main.txt'), 'utf8'), 'line 1\nversion 1\nline 3\n')
    assert.equal(await readFile(path.join(reportDir, 'b', 'app', 'main.txt'), 'utf8'), 'changed\n')
    // a large file is streamed to disk in a second pass
    assert.deepEqual(await readFile(path.join(reportDir, 'b', 'app', 'data.bin')), Buffer.alloc(100_000, 2))
    assert.deepEqual(await readFile(path.join(reportDir, 'a', 'app', 'data.bin')), Buffer.alloc(100_000, 1))
    assert.equal(existsSync(path.join(dir, 'evil.txt')), false)
    assert.equal(existsSync(path.resolve(reportDir, '..', 'evil.txt')), false)
    assert.ok(
      r.warnings.some((w) => w.includes('refused to write "../../evil.txt"')),
      r.warnings.join('\n'),
    )
    assert.deepEqual((await readdir(path.join(reportDir, 'b'))).sort(), ['abs.txt', 'app'])
  })

  test('--report-dir refuses a non-empty directory before any work', async () => {
    const a = await archive({layers: base()})
    const full = path.join(dir, 'full')
    await mkdir(full)
    await writeFile(path.join(full, 'x'), 'x')
    await assert.rejects(
      diffImages(a, a, {ignore: ignoreOptions({}), reportDir: full}),
      /--report-dir .*full: directory is not empty/,
    )
  })
})

describe('diff CLI: exit codes and output', () => {
  let a: string
  let b: string
  before(async () => {
    a = await archive({layers: base()})
    b = await archive({layers: edited((l) => (file(l, 'app/main.txt').content = 'other\n'))})
  })

  test('exit 0 and a JSON result for identical images', async () => {
    const r = await runDev(['diff', a, a, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const json = JSON.parse(r.stdout) as DiffResult
    assert.equal(json.same, true)
    assert.equal(json.summary.differences, 0)
  })

  test('exit 1 with --json: the difference, its cause and summary counts', async () => {
    const r = await runDev(['diff', a, b, '--json'])
    assert.equal(r.code, 1, r.stderr)
    const json = JSON.parse(r.stdout) as DiffResult
    assert.equal(json.schemaVersion, 1)
    assert.deepEqual(shape(json), [['file', 'app/main.txt', 'content', 'file-content']])
    assert.deepEqual(json.summary.byCategory, {content: 1, metadata: 0, packaging: 0})
  })

  test('exit 1 with a readable table, no colour when not a TTY', async () => {
    const r = await runDev(['diff', a, b])
    assert.equal(r.code, 1, r.stderr)
    assert.equal(r.stdout.includes('\u001B['), false)
    assert.match(r.stdout, /WHERE\s+FIELD\s+A\s+B\s+CAUSE/)
    assert.match(r.stdout, /layer 2: \/app\/main\.txt\s+content\s+sha256:/)
    assert.match(r.stdout, /\+other/)
    assert.match(r.stdout, /Different: 1 difference\(s\) \(1 content\)/)
  })

  test('exit 2 with one clear line for a missing input', async () => {
    const r = await runDev(['diff', a, path.join(dir, 'nope.tar')])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^Error: .*nope\.tar: no such file or directory$/m)
    assert.doesNotMatch(r.stderr, /\n\s+at /)
  })

  test('exit 2 for a file that is not an image archive, in JSON too', async () => {
    const junk = path.join(dir, 'junk.tar')
    await writeFile(junk, 'not a tar at all'.repeat(100))
    const r = await runDev(['diff', junk, a, '--json'])
    assert.equal(r.code, 2)
    assert.equal(JSON.parse(r.stdout).error.code, 'E_INVALID_ARCHIVE')
  })

  test('exit 0 with --semantic when only compression differs', async () => {
    const plain = await archive({compression: 'none', layers: base()})
    const r = await runDev(['diff', a, plain, '--semantic', '--json'])
    assert.equal(r.code, 0, r.stdout)
    assert.ok((JSON.parse(r.stdout) as DiffResult).summary.notes > 0)
    const strict = await runDev(['diff', a, plain, '--json'])
    assert.equal(strict.code, 1)
  })
})
