/**
 * `repro lint IMAGE` as users run it (the built CLI; `npm run build` first): images written by an
 * independent writer (tests/support/image-fixtures.ts: node-tar layers, python3's gzip, zipfile and
 * py_compile for the binary files) in every archive form, each hazard found with its rule, layer and path;
 * --json against schemas/lint.schema.json, SARIF against the SARIF 2.1.0 schema; base layers skipped; how an
 * image target is told from a Dockerfile; and generated hostile images (huge text, many files, a gzip bomb
 * as a file and as a layer, corrupt zips, garbage .pyc, a truncated layer) with bounded time and peak RSS.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {Ajv} from 'ajv'
import addFormats from 'ajv-formats'

import {readImageArchive} from '../../src/image/archive.js'
import {scanImageHazards} from '../../src/hazards/scan.js'
import type {LintResult} from '../../src/lint/types.js'
import {ROOT, runCli} from '../support/cli.js'
import {buildImage, type FileSpec, tempDir, writeArchive} from '../support/image-fixtures.js'
import {SchemaValidator} from '../support/schemas.js'

const SDE = 1_700_000_000
const CREATED = new Date(SDE * 1000).toISOString().replace('.000Z', 'Z')
/** a time of "the build": after SDE, in the past */
const T = 1_790_000_000
const validator = new SchemaValidator()

let dir: string
const bin: Record<string, Buffer> = {}

before(async () => {
  dir = await tempDir('repro-lint-image-')
  execFileSync('python3', [
    '-c',
    String.raw`
import gzip, os, py_compile, sys, zipfile
d = sys.argv[1]
with open(os.path.join(d, 'late.gz'), 'wb') as f:
    with gzip.GzipFile(filename='x', mode='wb', fileobj=f, mtime=${T}) as g: g.write(b'hello\n')
with open(os.path.join(d, 'clean.gz'), 'wb') as f:
    with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0) as g: g.write(b'hello\n')
# a gzip bomb as a file: 1 GiB of zeros, about 1 MiB compressed
with open(os.path.join(d, 'bomb.gz'), 'wb') as f:
    with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=${T}, compresslevel=9) as g:
        z = bytes(1 << 20)
        for _ in range(1024): g.write(z)
with zipfile.ZipFile(os.path.join(d, 'late.jar'), 'w') as z:
    z.writestr(zipfile.ZipInfo('META-INF/MANIFEST.MF', date_time=(2026, 9, 21, 10, 0, 0)), b'Manifest-Version: 1.0\n')
with zipfile.ZipFile(os.path.join(d, 'clean.jar'), 'w') as z:
    z.writestr(zipfile.ZipInfo('META-INF/MANIFEST.MF', date_time=(1980, 1, 1, 0, 0, 0)), b'Manifest-Version: 1.0\n')
src = os.path.join(d, 'm.py'); open(src, 'w').write('x = 1\n'); os.utime(src, (${T}, ${T}))
py_compile.compile(src, cfile=os.path.join(d, 'ts.pyc'), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
py_compile.compile(src, cfile=os.path.join(d, 'hash.pyc'), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
`,
    dir,
  ])
  for (const f of ['late.gz', 'clean.gz', 'bomb.gz', 'late.jar', 'clean.jar', 'ts.pyc', 'hash.pyc'])
    bin[f] = readFileSync(path.join(dir, f))
})

after(() => rmSync(dir, {recursive: true, force: true}))

const BASE_LAYER: FileSpec[] = [
  {path: 'etc/', type: 'dir'},
  {path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n'},
  // the base image's own late content: skipped when taken as the base
  {path: 'etc/shadow', content: `root:*:${Math.floor(T / 86400)}:0:99999:7:::\n`},
  {path: 'usr/', type: 'dir'},
  {path: 'usr/share/base-built', content: `${T}\n`},
]

const sdeDay = Math.floor(SDE / 86400)
const HAZARD_LAYER = (): FileSpec[] => [
  {path: 'app/', type: 'dir'},
  {path: 'app/stamp', content: `built ${T}\n`},
  {path: 'app/iso.txt', content: `version 1.2.3\nbuilt: ${new Date(T * 1000).toISOString()}\n`},
  {path: 'app/host.txt', content: 'built on buildkitsandbox\n'},
  {path: 'app/readme.txt', content: `old ${SDE - 5000} and 2019-01-01T00:00:00Z and future ${T * 10}\n`},
  {path: 'app/late.gz', content: bin['late.gz']},
  {path: 'app/clean.gz', content: bin['clean.gz']},
  {path: 'app/late.jar', content: bin['late.jar']},
  {path: 'app/clean.jar', content: bin['clean.jar']},
  {path: 'app/__pycache__/', type: 'dir'},
  {path: 'app/__pycache__/m.cpython-311.pyc', content: bin['ts.pyc']},
  {path: 'app/__pycache__/h.cpython-311.pyc', content: bin['hash.pyc']},
  {path: 'var/log/', type: 'dir'},
  {path: 'var/log/dpkg.log', content: '2026-09-21 10:00:00 startup archives unpack\n'},
  {path: 'var/log/app.log', content: 'started\n'},
  {path: 'var/log/empty.log', content: ''},
  {path: 'var/cache/ldconfig/aux-cache', content: 'binary'},
  {path: 'etc/machine-id', content: '0123456789abcdef0123456789abcdef\n'},
  {path: 'etc/shadow', content: `root:*:${sdeDay - 1}:0:99999:7:::\napp:!:${Math.floor(T / 86400)}:0:99999:7:::\n`},
]

const EXPECTED = [
  ['RL106', 'var/log/app.log'],
  ['RL107', 'var/log/dpkg.log'],
  ['RL108', 'var/cache/ldconfig/aux-cache'],
  ['RL109', 'etc/machine-id'],
  ['RL110', 'etc/shadow'],
  ['RL101', 'app/iso.txt'],
  ['RL101', 'app/stamp'],
  ['RL102', 'app/host.txt'],
  ['RL103', 'app/late.gz'],
  ['RL104', 'app/late.jar'],
  ['RL105', 'app/__pycache__/m.cpython-311.pyc'],
]

async function image(
  name: string,
  layers: FileSpec[][],
  kind: Parameters<typeof writeArchive>[0] = 'oci-archive',
  extra: {gzip?: boolean; layerAnnotations?: Array<Record<string, string> | undefined>} = {},
): Promise<string> {
  const img = await buildImage({layers, created: CREATED, layerAnnotations: extra.layerAnnotations})
  const out = path.join(dir, kind === 'oci-layout-dir' ? name : `${name}.tar${extra.gzip ? '.gz' : ''}`)
  await writeArchive(kind, [img], out, {gzip: extra.gzip})
  return out
}

async function lintJson(args: string[]): Promise<{code: number | null; json: LintResult; stderr: string}> {
  const r = await runCli(['lint', '--json', ...args], {cwd: dir})
  const json = JSON.parse(r.stdout) as LintResult
  return {code: r.code, json, stderr: r.stderr}
}

function pairs(r: LintResult): string[][] {
  return r.findings.map((f) => [f.rule, f.image!.path])
}

function sarifValidator(): (doc: unknown) => void {
  const schema = JSON.parse(readFileSync(path.join(ROOT, 'tests/fixtures/sarif/sarif-schema-2.1.0.json'), 'utf8'))
  const {$schema: _drop, id, ...rest} = schema
  const ajv = new Ajv({strict: false, allErrors: true})
  addFormats.default(ajv)
  const validate = ajv.compile({$id: id, ...rest})
  return (doc) => {
    if (!validate(doc)) assert.fail(JSON.stringify(validate.errors?.slice(0, 5), null, 2))
  }
}

describe('repro lint IMAGE: every hazard, every archive form', () => {
  for (const [kind, gzip] of [
    ['oci-archive', false],
    ['docker-archive', false],
    ['oci-layout-dir', false],
    ['docker-exporter', true],
  ] as const) {
    it(`${kind}${gzip ? ' (.tar.gz)' : ''}: each hazard with its rule, layer and path; the clean files clean`, async () => {
      const p = await image(`all-${kind}`, [BASE_LAYER, HAZARD_LAYER()], kind, {gzip})
      const {code, json} = await lintJson(['--all-layers', p])
      assert.equal(code, 1)
      validator.check('lint', json)
      const layer2 = json.findings.filter((f) => f.image!.layer === 2)
      assert.deepEqual(layer2.map((f) => [f.rule, f.image!.path]).sort(), EXPECTED.map((e) => [...e]).sort())
      // layer 1 (the "base"): its shadow day and its stamp, found with --all-layers
      assert.deepEqual(
        json.findings.filter((f) => f.image!.layer === 1).map((f) => [f.rule, f.image!.path]),
        [
          ['RL110', 'etc/shadow'],
          ['RL101', 'usr/share/base-built'],
        ],
      )
      const stamp = json.findings.find((f) => f.image!.path === 'app/stamp')!
      assert.deepEqual([stamp.line, stamp.column, stamp.severity], [1, 7, 'error'])
      assert.match(
        stamp.message,
        /^\/app\/stamp: 1790000000: epoch seconds, 2026-09-21 14:13:20 UTC, after SOURCE_DATE_EPOCH 1700000000$/,
      )
      assert.equal(json.files[0].kind, 'image')
      assert.equal(json.files[0].scans![0].sde, SDE)
      assert.equal(json.files[0].scans![0].sdeSource, 'the config created time')
    })
  }

  it('text output names image!/path, layer and line; SARIF validates against the 2.1.0 schema', async () => {
    const p = await image('text', [HAZARD_LAYER()])
    const r = await runCli(['lint', '--sarif', path.join(dir, 'out.sarif'), path.basename(p)], {cwd: dir})
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stdout,
      /text\.tar!\/app\/stamp \(linux\/amd64, layer 1, line 1:7\): error RL101 \/app\/stamp: 1790000000/,
    )
    assert.match(
      r.stdout,
      /text\.tar!\/app\/late\.gz \(linux\/amd64, layer 1\): error RL103 .*gzip header mtime 1790000000/,
    )
    assert.match(
      r.stdout.trimEnd(),
      /\n11 findings \(6 error, 5 warning, 0 info\) in 1 image; failing at warning: yes$/,
    )
    const sarif = JSON.parse(readFileSync(path.join(dir, 'out.sarif'), 'utf8'))
    sarifValidator()(sarif)
    const results = sarif.runs[0].results as Array<{
      ruleId: string
      locations: Array<{logicalLocations: unknown[]}>
      properties: {layer: number}
    }>
    assert.equal(results.length, 11)
    assert.ok(results.every((x) => x.properties.layer === 1 && x.locations[0].logicalLocations.length === 1))
    const ruleIds = (sarif.runs[0].tool.driver.rules as Array<{id: string}>).map((x) => x.id)
    assert.ok(ruleIds.includes('RL101') && ruleIds.includes('RL110') && ruleIds.includes('RL014'))
  })

  it('--fail-on error ignores warnings; --disable by id or name; --sde overrides the config', async () => {
    const p = await image('fail-on', [
      [
        {path: 'var/log/app.log', content: 'x\n'},
        {path: 'stamp', content: `${T}\n`},
      ],
    ])
    let r = await lintJson(['--fail-on', 'error', '--disable', 'RL101', p])
    assert.equal(r.code, 0)
    assert.deepEqual(pairs(r.json), [['RL106', 'var/log/app.log']])
    assert.deepEqual(r.json.disabled, ['RL101'])
    r = await lintJson(['--disable', 'timestamp-in-content', '--disable', 'log-file', p])
    assert.equal(r.code, 0)
    r = await lintJson(['--sde', String(T), p])
    assert.deepEqual(pairs(r.json), [['RL106', 'var/log/app.log']], 'a time not after --sde is clean')
    assert.equal(r.json.files[0].scans![0].sdeSource, '--sde')
  })

  it('base layers: leading layers without the rewritten-timestamp annotation are skipped; --all-layers and --base', async () => {
    const ann = {'buildkit/rewritten-timestamp': String(SDE)}
    const p = await image('based', [BASE_LAYER, [{path: 'stamp', content: `${T}\n`}]], 'oci-archive', {
      layerAnnotations: [undefined, ann],
    })
    let r = await lintJson([p])
    assert.deepEqual(pairs(r.json), [['RL101', 'stamp']])
    assert.equal(r.json.files[0].scans![0].layersSkipped, 1)
    assert.match(r.json.files[0].warnings![0], /first 1 layer\(s\) have no buildkit\/rewritten-timestamp annotation/)
    r = await lintJson(['--all-layers', p])
    assert.equal(r.json.findings.length, 3)
    // --base: an image without annotations, the base given as another archive
    const plain = await image('plain', [BASE_LAYER, [{path: 'stamp', content: `${T}\n`}]])
    const base = await image('base', [BASE_LAYER])
    r = await lintJson(['--base', base, plain])
    assert.deepEqual(pairs(r.json), [['RL101', 'stamp']])
    assert.equal(r.json.files[0].warnings?.length ?? 0, 0)
  })

  it("a package's own file (dpkg md5sums match) is not a finding; the same path with other bytes is", async () => {
    const own = `perl built ${T}\n`
    const md5 = createHash('md5').update(own).digest('hex')
    const sums = `${md5}  usr/lib/perl/Config.pm\n${'0'.repeat(32)}  usr/lib/perl/Other.pm\n`
    const p = await image('dpkg', [
      [
        {path: 'usr/lib/perl/Config.pm', content: own},
        {path: 'usr/lib/perl/Other.pm', content: own},
        {path: 'var/lib/dpkg/info/perl.md5sums', content: sums},
      ],
    ])
    const r = await lintJson([p])
    assert.deepEqual(pairs(r.json), [['RL101', 'usr/lib/perl/Other.pm']])
    assert.equal(r.json.files[0].scans![0].packageFiles, 1)
  })

  it("an Alpine package's own file (apk's installed db: Z:Q1 + base64 sha1) is not a finding", async () => {
    const own = `built ${T}\n`
    const q1 = `Q1${createHash('sha1').update(own).digest('base64')}`
    const db = `C:Q1abc=\nP:musl-utils\nV:1.2\nF:usr/bin\nR:ldd\nZ:${q1}\nR:other\nZ:Q1${'A'.repeat(27)}=\n\n`
    const p = await image('apk', [
      [
        {path: 'lib/apk/db/installed', content: db},
        {path: 'usr/bin/ldd', content: own},
        {path: 'usr/bin/other', content: own},
      ],
    ])
    const r = await lintJson([p])
    assert.deepEqual(pairs(r.json), [['RL101', 'usr/bin/other']])
    assert.equal(r.json.files[0].scans![0].packageFiles, 1)
  })

  it('Dockerfiles and images in one run; a Dockerfile is never taken for an image', async () => {
    const ctx = path.join(dir, 'ctx')
    mkdirSync(ctx, {recursive: true})
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n')
    writeFileSync(path.join(ctx, '.dockerignore'), '.git\n')
    const p = await image('mixed', [[{path: 'stamp', content: `${T}\n`}]])
    const r = await lintJson(['ctx', path.basename(p)])
    assert.deepEqual(
      r.json.files.map((f) => [f.file, f.kind ?? 'dockerfile']),
      [
        ['ctx/Dockerfile', 'dockerfile'],
        ['mixed.tar', 'image'],
      ],
    )
    assert.equal(r.code, 1)
  })

  it('bad image inputs: exit 2, one line naming the input', async () => {
    const notImage = path.join(dir, 'notimage.tar')
    execFileSync('tar', ['-cf', notImage, '-C', dir, 'late.gz'])
    let r = await runCli(['lint', notImage], {cwd: dir})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /notimage\.tar: /)
    assert.equal(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('Error')).length,
      1,
    )
    r = await runCli(['lint', '--json', 'docker://-x'], {cwd: dir})
    assert.equal(r.code, 2)
    assert.equal(JSON.parse(r.stdout).error.code, 'E_INVALID_ARGUMENT')
    r = await runCli(['lint', '--image', path.join(dir, 'missing.tar')], {cwd: dir})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /missing\.tar: no such file or directory/)
  })
})

describe('repro lint IMAGE: the scan budget (in-process, small limits)', () => {
  it('files past the budget are judged by path and header only, and a warning says so', async () => {
    const files: FileSpec[] = Array.from({length: 20}, (_, i) => ({
      path: `t${String(i).padStart(2, '0')}`,
      content: `${T}\n${'x'.repeat(1000)}`,
    }))
    files.push({path: 'z.gz', content: bin['late.gz']})
    const p = await image('budget', [files])
    const archive = await readImageArchive(p)
    try {
      const [scan] = await scanImageHazards(archive, {now: 2_000_000_000, limits: {budgetBytes: 5 * 1011 + 100}})
      // 5 texts fit, 15 do not; the gzip fits too, but is binary: its budget is given back, its header judged
      assert.equal(scan.stats.filesRead, 5)
      assert.equal(scan.stats.filesOverBudget, 15)
      assert.equal(scan.hazards.filter((h) => h.id === 'timestamp-in-content').length, 5)
      assert.equal(scan.hazards.filter((h) => h.id === 'gzip-mtime').length, 1, 'the header is read past the budget')
      assert.match(scan.warnings.join('\n'), /15 file\(s\) judged by path and header only/)
    } finally {
      await archive.source.close()
    }
  })
})

/** The only layer blob of an OCI layout directory. */
function layerBlob(layout: string): string {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'))
  const manifest = JSON.parse(
    readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'),
  )
  return path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7))
}

/** Swap the only layer of an OCI layout for `blob`, with a config and manifest that name it (digests made here). */
function replaceLayer(layout: string, blob: Buffer): void {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  const put = (b: Buffer) => writeFileSync(path.join(layout, 'blobs/sha256', sha(b)), b)
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'))
  const manifest = JSON.parse(
    readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'),
  )
  const cfg = JSON.parse(readFileSync(path.join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'))
  cfg.rootfs.diff_ids = [`sha256:${'0'.repeat(64)}`]
  const cfgBytes = Buffer.from(JSON.stringify(cfg))
  put(cfgBytes)
  put(blob)
  manifest.config = {...manifest.config, digest: `sha256:${sha(cfgBytes)}`, size: cfgBytes.length}
  manifest.layers = [{...manifest.layers[0], digest: `sha256:${sha(blob)}`, size: blob.length}]
  const mBytes = Buffer.from(JSON.stringify(manifest))
  put(mBytes)
  index.manifests[0] = {...index.manifests[0], digest: `sha256:${sha(mBytes)}`, size: mBytes.length}
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index))
}

describe('repro lint IMAGE on generated hostile images: bounded time and peak RSS, no crash', () => {
  const TIME = '/usr/bin/time'
  /** the built CLI under GNU time: exit code, seconds, peak RSS in MiB */
  function measured(args: string[]): {
    code: number | null
    seconds: number
    rssMiB: number
    stdout: string
    stderr: string
  } {
    assert.ok(existsSync(TIME), 'GNU time (/usr/bin/time) is needed to measure peak RSS')
    const t0 = process.hrtime.bigint()
    const r = spawnSync(TIME, ['-f', '%M', process.execPath, path.join(ROOT, 'bin/run.js'), 'lint', ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: {...process.env, NO_COLOR: '1'},
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    })
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    const lines = r.stderr.trim().split('\n')
    const rssMiB = Number(lines.at(-1)) / 1024
    console.log(
      `repro lint ${args.map((a) => path.basename(a)).join(' ')}: exit ${r.status}, ${seconds.toFixed(2)} s, peak RSS ${rssMiB.toFixed(0)} MiB`,
    )
    return {code: r.status, seconds, rssMiB, stdout: r.stdout, stderr: lines.slice(0, -1).join('\n')}
  }

  it('a 48 MiB text file and a 1 MiB one full of timestamps; 50,000 small files', async () => {
    const line = `${T} `.repeat(50) + '\n'
    const huge = Buffer.from(line.repeat(Math.ceil((48 * 1024 * 1024) / line.length)))
    const capped = Buffer.from(line.repeat(Math.floor((1024 * 1024) / line.length)))
    const many: FileSpec[] = Array.from({length: 50_000}, (_, i) => ({path: `m/${i}`, content: `${T}\n`}))
    const p = await image('hostile-size', [
      [
        {path: 'huge.txt', content: huge},
        {path: 'capped.txt', content: capped},
      ],
      many,
    ])
    const r = measured(['--json', p])
    assert.equal(r.code, 1, r.stderr)
    const json = JSON.parse(r.stdout) as LintResult
    const scan = json.files[0].scans![0]
    assert.equal(scan.filesOverCap, 1, 'the 48 MiB text is over the 1 MiB text cap')
    assert.ok(json.findings.some((f) => f.image!.path === 'capped.txt'))
    assert.ok(!json.findings.some((f) => f.image!.path === 'huge.txt'))
    assert.equal(json.findings.length, 10_000, 'findings are capped per image')
    assert.match(json.files[0].warnings!.join('\n'), /more than 10000 hazards/)
    assert.ok(r.seconds < 60, `took ${r.seconds} s`)
    assert.ok(r.rssMiB < 600, `peak RSS ${r.rssMiB} MiB`)
  })

  it('a gzip bomb as a file (header only), corrupt zips, garbage .pyc: judged, never a crash', async () => {
    const jar = Buffer.from(bin['late.jar'])
    const eocd = jar.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
    const badOffset = Buffer.from(jar)
    badOffset.writeUInt32LE(0xfffffff0, eocd + 16)
    const badCount = Buffer.from(jar)
    badCount.writeUInt16LE(65000, eocd + 10)
    const garbageCd = Buffer.from(jar)
    garbageCd.fill(0x41, eocd - 60, eocd)
    const files: FileSpec[] = [
      {path: 'bomb.gz', content: bin['bomb.gz']},
      {path: 'a.jar', content: badOffset},
      {path: 'b.jar', content: badCount},
      {path: 'c.jar', content: garbageCd},
      {path: 'd.jar', content: Buffer.from('PK\u0003\u0004 not really a zip')},
      {path: 'x.pyc', content: Buffer.from('garbage garbage garbage')},
      {path: 'y.pyc', content: Buffer.from([0xff, 0xff, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4])},
      {path: 'z.pyc', content: Buffer.alloc(0)},
    ]
    const p = await image('hostile-formats', [files])
    const r = measured(['--json', p])
    assert.equal(r.code, 1, r.stderr)
    const json = JSON.parse(r.stdout) as LintResult
    assert.deepEqual(pairs(json), [['RL103', 'bomb.gz']])
    assert.ok(r.seconds < 30, `took ${r.seconds} s`)
    assert.ok(r.rssMiB < 300, `peak RSS ${r.rssMiB} MiB`)
  })

  it('a layer that is a gzip bomb, a truncated layer: exit 2 naming the input', async () => {
    // 200 MiB of zeros in a tar entry, gzip -9 (about 1000:1): past the ratio limit of 200 once 128 MiB are out
    const bombLayer = path.join(dir, 'bomb-layer')
    mkdirSync(bombLayer, {recursive: true})
    execFileSync('python3', [
      '-c',
      String.raw`
import gzip, io, sys, tarfile
class Zeros:
    def __init__(self, n): self.n = n
    def read(self, k=-1):
        k = self.n if k < 0 else min(k, self.n); self.n -= k; return bytes(k)
with open(sys.argv[1], 'wb') as f, gzip.GzipFile(filename='', mode='wb', fileobj=f, compresslevel=9, mtime=0) as g:
    with tarfile.open(fileobj=g, mode='w|') as t:
        i = tarfile.TarInfo('zeros'); i.size = 200 << 20
        t.addfile(i, Zeros(i.size))
`,
      path.join(bombLayer, 'layer.tar.gz'),
    ])
    const good = await image('bomb-base', [[{path: 'a', content: 'a'}]], 'oci-layout-dir')
    replaceLayer(good, readFileSync(path.join(bombLayer, 'layer.tar.gz')))
    let r = measured(['--json', good])
    assert.equal(r.code, 2, r.stderr)
    const err = JSON.parse(r.stdout).error
    assert.equal(err.code, 'E_ARCHIVE_LIMIT')
    assert.match(err.message, /bomb-base: layer .* decompresses .* a decompression bomb/)
    assert.ok(r.seconds < 30 && r.rssMiB < 400, `${r.seconds} s, ${r.rssMiB} MiB`)

    // a truncated layer: the tar ends inside an entry
    const truncated = await image(
      'trunc',
      [[{path: 'big', content: Buffer.alloc(100_000, 0x61)}]],
      'oci-layout-dir',
      {},
    )
    const raw = execFileSync('gzip', ['-dc', layerBlob(truncated)], {maxBuffer: 1 << 24})
    replaceLayer(truncated, gzipSync(raw.subarray(0, 50_000)))
    r = measured([truncated])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /trunc: .*layer .*(truncated|not a valid tar)/)
  })
})
