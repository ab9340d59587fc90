/**
 * The content-hazard detectors of src/hazards (shared by `repro lint IMAGE` and `repro diff`'s causes): the
 * timestamp scanner, the gzip/zip/pyc header readers, one file judged against SOURCE_DATE_EPOCH, and two
 * versions of a file explained. Binary fixtures come from python3's gzip, zipfile and py_compile (writers
 * that share no code with the readers under test).
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {contentCause, explain} from '../../src/diff/causes.js'
import {explainContent, judgeFile, type FileView, type HazardContext, HAZARDS} from '../../src/hazards/detectors.js'
import {gzipMtime, pycHeader, zipEntryTimes} from '../../src/hazards/formats.js'
import {describeTimestampPair, findTimestamps} from '../../src/hazards/timestamps.js'

const SDE = 1_700_000_000 // 2023-11-14 22:13:20 UTC
const NOW = 1_800_000_000 // 2027-01-15
const CTX: HazardContext = {sde: SDE, now: NOW, hostnames: ['buildkitsandbox']}
const T = 1_795_483_984 // 2026-11-24 01:33:04 UTC, "the build"

let dir: string
const fx: Record<string, Buffer> = {}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'repro-hazards-'))
  // python3 writes the fixtures: gzip with and without an mtime, zips dated before and after SDE, pycs
  const script = String.raw`
import gzip, io, os, py_compile, sys, zipfile, importlib.util
d = sys.argv[1]
def gz(name, mtime):
    with open(os.path.join(d, name), 'wb') as f:
        with gzip.GzipFile(filename='x', mode='wb', fileobj=f, mtime=mtime) as g: g.write(b'hello\n')
gz('late.gz', ${T}); gz('zero.gz', 0); gz('late2.gz', ${T + 2})
def zf(name, dt):
    with zipfile.ZipFile(os.path.join(d, name), 'w') as z:
        for n in ('META-INF/MANIFEST.MF', 'a/B.class'):
            i = zipfile.ZipInfo(n, date_time=dt); z.writestr(i, b'x' * 10)
zf('late.jar', (2026, 11, 23, 8, 53, 4)); zf('late2.jar', (2026, 11, 23, 8, 53, 10)); zf('dos.jar', (1980, 1, 1, 0, 0, 0))
src = os.path.join(d, 'm.py'); open(src, 'w').write('x = 1\n'); os.utime(src, (${T}, ${T}))
py_compile.compile(src, cfile=os.path.join(d, 'ts.pyc'), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
py_compile.compile(src, cfile=os.path.join(d, 'hash.pyc'), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
os.utime(src, (${T + 5}, ${T + 5}))
py_compile.compile(src, cfile=os.path.join(d, 'ts2.pyc'), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
`
  execFileSync('python3', ['-c', script, dir])
  for (const f of [
    'late.gz',
    'zero.gz',
    'late2.gz',
    'late.jar',
    'late2.jar',
    'dos.jar',
    'ts.pyc',
    'hash.pyc',
    'ts2.pyc',
  ])
    fx[f] = readFileSync(path.join(dir, f))
})

after(() => rmSync(dir, {recursive: true, force: true}))

function view(p: string, content: Buffer): FileView {
  return {path: p, size: content.length, head: content.subarray(0, 64), content}
}

function text(p: string, s: string): FileView {
  return view(p, Buffer.from(s))
}

describe('timestamps in text', () => {
  const W = {after: SDE, notAfter: NOW}
  test('epoch seconds, ms, µs, ns, fractions; ISO-8601; date output', () => {
    const found = findTimestamps(
      [
        `s ${T}`,
        `ms ${T}123`,
        `us ${T}123456`,
        `ns ${T}123456789`,
        `frac ${T}.25`,
        'iso 2026-11-24T01:33:04Z and 2026-11-24 01:33:04+01:00',
        'date Tue Nov 24 01:33:04 UTC 2026',
      ].join('\n'),
      W,
    )
    assert.deepEqual(
      found.map((t) => [t.kind, t.line, t.column, Math.floor(t.seconds)]),
      [
        ['epoch seconds', 1, 3, T],
        ['epoch milliseconds', 2, 4, T],
        ['epoch microseconds', 3, 4, T],
        ['epoch nanoseconds', 4, 4, T],
        ['epoch seconds', 5, 6, T],
        ['ISO-8601', 6, 5, T],
        ['ISO-8601', 6, 30, T - 3600],
        ['date output', 7, 6, T],
      ],
    )
  })

  test('not a timestamp: before SDE, in the future, inside versions, hex, longer numbers, dates without time', () => {
    const none = findTimestamps(
      [
        `${SDE - 1}`, // before SDE
        `${NOW + 1}`, // future
        `v1.2.${T}`, // part of a version
        `deadbeef${T}`, // inside a hex string
        `${T}12`, // 12 digits
        `id=${T}0000000000`, // 20 digits
        '2026-11-23', // a date alone
        `x${T}`,
      ].join('\n'),
      W,
    )
    assert.deepEqual(none, [])
  })

  test('SDE 0 still ignores numbers before 2000 (counts, sizes)', () => {
    assert.deepEqual(findTimestamps('size 0123456789 and 946684799', {after: 0, notAfter: NOW}), [])
    assert.equal(findTimestamps('t 1000000001', {after: 0, notAfter: NOW}).length, 1)
  })

  test('bounded: at most max matches', () => {
    const many = Array.from({length: 5000}, () => String(T)).join(' ')
    assert.equal(findTimestamps(many, W, 100).length, 100)
  })

  test('a pair decoded: kind, distance, day, build clock', () => {
    assert.equal(
      describeTimestampPair(
        {kind: 'epoch seconds', raw: String(T), seconds: T},
        {kind: 'epoch seconds', raw: String(T + 2), seconds: T + 2},
        SDE,
      ),
      `${T} vs ${T + 2}: epoch seconds 2 s apart, both on 2026-11-24 (UTC), both after SOURCE_DATE_EPOCH ${SDE}: the build clock`,
    )
  })
})

describe('binary headers (python3-written fixtures)', () => {
  test('gzip header mtime', () => {
    assert.equal(gzipMtime(fx['late.gz']), T)
    assert.equal(gzipMtime(fx['zero.gz']), 0)
    assert.equal(gzipMtime(Buffer.from('not gzip at all')), undefined)
  })

  test('zip entry times from the central directory', () => {
    const z = zipEntryTimes(fx['late.jar'], fx['late.jar'].length)!
    assert.equal(z.entries, 2)
    assert.deepEqual(
      z.times.map((t) => [t.name, t.seconds, t.source]),
      [
        ['META-INF/MANIFEST.MF', Date.UTC(2026, 10, 23, 8, 53, 4) / 1000, 'dos'],
        ['a/B.class', Date.UTC(2026, 10, 23, 8, 53, 4) / 1000, 'dos'],
      ],
    )
    // the last bytes only (the central directory is at the end)
    const tail = fx['late.jar'].subarray(fx['late.jar'].length - 200)
    assert.equal(zipEntryTimes(tail, fx['late.jar'].length)?.entries, 2)
  })

  test('corrupt zips are undefined, never an exception', () => {
    const z = Buffer.from(fx['late.jar'])
    const eocd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
    for (const mutate of [
      (b: Buffer) => b.writeUInt32LE(0xffffff00, eocd + 16), // CD offset past the file
      (b: Buffer) => b.writeUInt16LE(60000, eocd + 10), // more entries than the CD holds
      (b: Buffer) => b.writeUInt32LE(0, eocd + 12), // CD size 0 with entries
      (b: Buffer) => b.fill(0xff, eocd - 40, eocd), // garbage inside the CD
    ]) {
      const b = Buffer.from(z)
      mutate(b)
      assert.equal(zipEntryTimes(b, b.length), undefined)
    }
    assert.equal(zipEntryTimes(Buffer.alloc(10), 10), undefined)
  })

  test('pyc: timestamp vs hash invalidation; garbage headers', () => {
    assert.deepEqual({...pycHeader(fx['ts.pyc']), magic: 0}, {magic: 0, invalidation: 'timestamp', sourceMtime: T})
    assert.equal(pycHeader(fx['hash.pyc'])?.invalidation, 'checked-hash')
    assert.equal(pycHeader(Buffer.from('garbage!garbage!')), undefined)
    assert.equal(pycHeader(Buffer.from([0x55, 0x0d, 0x0d, 0x0a, 9, 0, 0, 0, 0, 0, 0, 0])), undefined) // flags > 3
    assert.equal(pycHeader(Buffer.from([0x55, 0x0d, 0x0d, 0x0a])), undefined) // too short
  })
})

describe('one file judged (lint IMAGE)', () => {
  const ids = (f: FileView) => judgeFile(f, CTX).map((h) => h.id)

  test('text: timestamps later than SDE, with line and column; the build host name', () => {
    const hs = judgeFile(text('stamp', `built\n at ${T}\n`), CTX)
    assert.deepEqual(
      hs.map((h) => [h.id, h.line, h.column]),
      [['timestamp-in-content', 2, 5]],
    )
    assert.match(hs[0].message, /epoch seconds, 2026-11-24 01:33:04 UTC, after SOURCE_DATE_EPOCH 1700000000/)
    assert.deepEqual(ids(text('etc/motd', 'built on buildkitsandbox\n')), ['build-hostname'])
    assert.deepEqual(ids(text('etc/motd', 'mybuildkitsandboxes\n')), [])
    assert.deepEqual(ids(text('old', `${SDE - 100}\n2019-01-01T00:00:00Z\n`)), [])
  })

  test('gzip, zip, pyc', () => {
    assert.deepEqual(ids(view('usr/share/doc/x.gz', fx['late.gz'])), ['gzip-mtime'])
    assert.deepEqual(ids(view('usr/share/doc/x.gz', fx['zero.gz'])), [])
    assert.deepEqual(ids(view('app/x.jar', fx['late.jar'])), ['zip-entry-times'])
    assert.deepEqual(ids(view('app/x.jar', fx['dos.jar'])), [], '1980-01-01 is the "no time" of reproducible zips')
    assert.deepEqual(ids({...view('app/x.jar', fx['late.jar']), content: undefined, tail: fx['late.jar']}), [
      'zip-entry-times',
    ])
    assert.deepEqual(ids(view('m/__pycache__/m.cpython-311.pyc', fx['ts.pyc'])), ['pyc-timestamp'])
    assert.deepEqual(ids(view('m/__pycache__/m.cpython-311.pyc', fx['hash.pyc'])), [])
    assert.deepEqual(ids(view('m.pyc', Buffer.from('garbage'))), [])
  })

  test('paths and well-known files', () => {
    assert.deepEqual(ids(text('var/log/dpkg.log', 'x')), ['package-log'])
    assert.deepEqual(ids(text('var/log/apt/history.log', 'x')), ['package-log'])
    assert.deepEqual(ids(text('var/cache/apt/pkgcache.bin', 'x')), ['package-log'])
    assert.deepEqual(ids(text('var/log/syslog', 'x')), ['log-file'])
    assert.deepEqual(ids(text('var/log/empty.log', '')), [], 'an empty log reproduces')
    assert.deepEqual(ids(text('var/cache/ldconfig/aux-cache', 'x')), ['ldconfig-cache'])
    assert.deepEqual(ids(text('etc/machine-id', '0123456789abcdef0123456789abcdef\n')), ['machine-id'])
    assert.deepEqual(ids(text('etc/machine-id', '')), [])
    assert.deepEqual(ids(text('etc/machine-id', 'uninitialized\n')), [])
    const sdeDay = Math.floor(SDE / 86400)
    const shadow = `root:*:${sdeDay - 10}:0:99999:7:::\napp:!:${sdeDay + 5}:0:99999:7:::\nb:!:${sdeDay + 6}::::::\n`
    const hs = judgeFile(text('etc/shadow', shadow), CTX)
    assert.deepEqual(
      hs.map((h) => [h.id, h.line]),
      [['shadow-last-change', 2]],
    )
    assert.match(hs[0].message, /2 users \(first app\): last password change on day 19680/)
  })

  test('every hazard has a rule id RL101… in order, a title, a fix', () => {
    assert.deepEqual(
      HAZARDS.map((h) => h.rule),
      HAZARDS.map((_, i) => `RL${101 + i}`),
    )
    for (const h of HAZARDS) assert.ok(h.title && h.fix && h.why && h.summary, h.id)
  })
})

describe('two versions explained (diff causes)', () => {
  const pair = {now: NOW, sdeA: SDE, sdeB: SDE}

  test('timestamp in content, decoded', () => {
    const e = explainContent('stamp', text('stamp', `${T}\n`), text('stamp', `${T + 2}\n`), pair)
    assert.deepEqual(e, {
      id: 'timestamp-in-content',
      detail: `${T} vs ${T + 2}: epoch seconds 2 s apart, both on 2026-11-24 (UTC), both after SOURCE_DATE_EPOCH ${SDE}: the build clock`,
    })
    // other text changed too: not only the timestamp, so no claim
    assert.equal(explainContent('x', text('x', `a ${T}\n`), text('x', `b ${T + 2}\n`), pair), undefined)
  })

  test("the issue's real case: uv_cache.json's secs_since_epoch; the nightly canary's date +%s%N", () => {
    const uv = (t: number) =>
      text('x.dist-info/uv_cache.json', `{"timestamp":{"Timestamp":{"secs_since_epoch":${t},"nanos_since_epoch":5}}}`)
    assert.deepEqual(
      explainContent('x.dist-info/uv_cache.json', uv(T), uv(T + 3), pair)?.detail,
      `${T} vs ${T + 3}: epoch seconds 3 s apart, both on 2026-11-24 (UTC), both after SOURCE_DATE_EPOCH ${SDE}: the build clock`,
    )
    const ns = explainContent('stamp', text('stamp', `${T}123456789\n`), text('stamp', `${T + 1}000000001\n`), pair)
    assert.match(
      ns!.detail,
      new RegExp(`^${T}123456789 vs ${T + 1}000000001: epoch nanoseconds 877 ms apart, both on 2026-11-24`),
    )
    assert.deepEqual(
      judgeFile(uv(T), CTX).map((h) => [h.id, h.line, h.column]),
      [['timestamp-in-content', 1, 47]],
    )
  })

  test('gzip header mtime, zip entry times, pyc source mtime, shadow days', () => {
    assert.deepEqual(explainContent('a.gz', view('a.gz', fx['late.gz']), view('a.gz', fx['late2.gz']), pair), {
      id: 'gzip-mtime',
      detail: `gzip header mtime ${T} vs ${T + 2}: 2 s apart (2026-11-24 01:33:04 UTC vs 2026-11-24 01:33:06 UTC)`,
    })
    const z = explainContent('x.jar', view('x.jar', fx['late.jar']), view('x.jar', fx['late2.jar']), pair)
    assert.equal(z?.id, 'zip-entry-times')
    assert.match(z!.detail, /^2 of 2 entries dated differently, e\.g\. META-INF\/MANIFEST\.MF: .* 6 s apart/)
    const p = explainContent('m.pyc', view('m.pyc', fx['ts.pyc']), view('m.pyc', fx['ts2.pyc']), pair)
    assert.deepEqual(p?.id, 'pyc-timestamp')
    assert.match(p!.detail, new RegExp(`^\\.pyc source mtime ${T} vs ${T + 5}: 5 s apart`))
    const s = explainContent(
      'etc/shadow',
      text('etc/shadow', 'root:*:19000:0:::::\napp:!:20415:0:99999:7:::\n'),
      text('etc/shadow', 'root:*:19000:0:::::\napp:!:20416:0:99999:7:::\n'),
      pair,
    )
    assert.deepEqual(s, {
      id: 'shadow-last-change',
      detail: 'last password change user app: day 20415 vs 20416 (2025-11-23 vs 2025-11-24)',
    })
  })

  test('diff: contentCause feeds explain(), which keeps the cause, its hint and the decoded detail', () => {
    const found = contentCause(
      'hello.gz',
      {a: view('hello.gz', fx['late.gz']), b: view('hello.gz', fx['late2.gz'])},
      {},
      NOW,
    )
    assert.equal(found?.cause, 'gzip-mtime')
    const e = explain({
      kind: 'file',
      platform: 'linux/amd64',
      layer: 2,
      path: 'hello.gz',
      field: 'content',
      a: 'x',
      b: 'y',
      cause: found!.cause,
      detail: found!.detail,
    })
    assert.equal(e.cause, 'gzip-mtime')
    assert.equal(e.category, 'content')
    assert.match(e.hint, /gzip -n/)
    assert.match(e.detail!, /gzip header mtime/)
    // equal mtimes (other bytes differ): no gzip claim
    assert.equal(
      contentCause('z.gz', {a: view('z.gz', fx['zero.gz']), b: view('z.gz', fx['zero.gz'])}, {}, NOW),
      undefined,
    )
  })
})
