import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {explain, shadowDiffersOnlyInLastChange, summarizeCauses} from '../../src/diff/causes.js'
import {compileGlob, globMatcher, ignoreOptions, makeIgnorePredicate, NO_IGNORES} from '../../src/diff/ignore.js'
import {classifyInput} from '../../src/diff/inputs.js'
import {parseChallenge} from '../../src/image/registry/auth.js'
import {looksLikeReference, parseReference, registryOrigin} from '../../src/image/registry/reference.js'
import {diffJson} from '../../src/diff/json-tree.js'
import {
  canonicalPath,
  compareEntries,
  flatten,
  formatBytes,
  movedEntries,
  type TarEntry,
  TarEntryParser,
} from '../../src/diff/layers.js'
import {safeSegments, sortEvents} from '../../src/diff/report.js'
import {parsePaxRecords} from '../../src/image/tar-header.js'
import type {DiffEvent} from '../../src/diff/types.js'
import {shorten} from '../../src/ui/diff-text.js'
import {tarEntry as entry} from '../support/tar-entry.js'

function fileEvent(path: string, field: string, a: string | null, b: string | null): DiffEvent {
  return explain({kind: 'file', platform: 'linux/amd64', path, field, a, b})
}

describe('glob', () => {
  test('*, ** and ? with whole-path matching; a directory covers what is below it', () => {
    const m = globMatcher(['var/log/*.log', 'usr/**/__pycache__', 'etc/host?', 'tmp'])
    assert.equal(m('var/log/dpkg.log'), true)
    assert.equal(m('var/log/apt/history.log'), false)
    assert.equal(m('var/log/dpkg.txt'), false)
    assert.equal(m('usr/lib/python3/__pycache__/x.pyc'), true)
    assert.equal(m('usr/__pycache__'), true)
    assert.equal(m('etc/hosts'), true)
    assert.equal(m('etc/hostname'), false)
    assert.equal(m('tmp/a/b'), true)
    assert.equal(m('/tmp'), true)
    assert.equal(m('tmpx'), false)
  })

  test('* does not cross a slash; special characters are literal', () => {
    assert.equal(compileGlob('a/*.txt').test('a/b/c.txt'), false)
    assert.equal(compileGlob('a/*.txt').test('a/c.txt'), true)
    assert.equal(compileGlob('a+b(1).txt').test('a+b(1).txt'), true)
    assert.equal(compileGlob('**/*.pyc').test('x.pyc'), true)
    assert.equal(compileGlob('**/*.pyc').test('a/b/x.pyc'), true)
  })

  test('an empty pattern is a clear argument error', () => {
    assert.throws(() => ignoreOptions({paths: ['/']}), /--ignore-path: empty pattern/)
  })
})

describe('ignore rules', () => {
  test('--semantic turns on every diffoci ignore flag; --ignore-timestamps both timestamp flags', () => {
    const s = ignoreOptions({semantic: true})
    for (const k of Object.keys(NO_IGNORES) as Array<keyof typeof NO_IGNORES>) {
      if (typeof NO_IGNORES[k] === 'boolean') assert.equal(s[k], true, k)
    }
    const t = ignoreOptions({ignoreTimestamps: true})
    assert.equal(t.ignoreFileTimestamps && t.ignoreImageTimestamps, true)
    assert.equal(t.ignoreHistory, false)
  })

  test('mode with redundant bits ignored only when the permission bits agree', () => {
    const ignored = makeIgnorePredicate(ignoreOptions({ignoreFileModeRedundantBits: true}))
    assert.equal(ignored(fileEvent('a', 'mode', '0100644', '0644')), true)
    assert.equal(ignored(fileEvent('a', 'mode', '0100644', '0755')), false)
  })

  test('annotations, labels, image names, timestamps and history by key', () => {
    const ignored = makeIgnorePredicate(
      ignoreOptions({annotations: ['x.y'], ignoreImageName: true, labels: ['build-date'], ignoreHistory: true}),
    )
    const ann = (key: string): DiffEvent =>
      explain({
        kind: 'manifest',
        platform: '',
        path: `manifest.annotations[${JSON.stringify(key)}]`,
        field: 'annotation',
        a: '1',
        b: '2',
      })
    assert.equal(ignored(ann('x.y')), true)
    assert.equal(ignored(ann('io.containerd.image.name')), true)
    assert.equal(ignored(ann('org.opencontainers.image.created')), false)
    const cfg = (path: string): DiffEvent =>
      explain({kind: 'config', platform: '', path, field: 'value', a: '1', b: '2'})
    assert.equal(ignored(cfg('.config.Labels["build-date"]')), true)
    assert.equal(ignored(cfg('.config.Labels["other"]')), false)
    assert.equal(ignored(cfg('.history[3].created_by')), true)
    assert.equal(ignored(cfg('.created')), false)
    assert.equal(makeIgnorePredicate(ignoreOptions({ignoreImageTimestamps: true}))(cfg('.history[0].created')), true)
  })

  test('--ignore-path drops file events only', () => {
    const ignored = makeIgnorePredicate(ignoreOptions({paths: ['var/log']}))
    assert.equal(ignored(fileEvent('var/log/x.log', 'content', 'a', 'b')), true)
    assert.equal(ignored(fileEvent('var/lib/x', 'content', 'a', 'b')), false)
  })
})

describe('causes', () => {
  test('path rules win for content and presence; field rules otherwise', () => {
    assert.equal(fileEvent('etc/shadow', 'content', 'a', 'b').cause, 'shadow-last-change')
    assert.equal(fileEvent('var/log/apt/history.log', 'presence', null, 'file').cause, 'log-file')
    assert.equal(fileEvent('var/cache/ldconfig/aux-cache', 'content', 'a', 'b').cause, 'ldconfig-cache')
    assert.equal(fileEvent('usr/lib/x/__pycache__/m.cpython-311.pyc', 'content', 'a', 'b').cause, 'pyc-timestamp')
    assert.equal(fileEvent('etc/hostname', 'presence', 'file', null).cause, 'leaked-host-file')
    assert.equal(fileEvent('etc/hosts', 'content', 'a', 'b').category, 'content')
    assert.equal(fileEvent('etc/shadow', 'mode', '0640', '0600').cause, 'file-mode')
    assert.equal(fileEvent('a/.wh.b', 'presence', null, 'file').cause, 'whiteout')
    assert.equal(fileEvent('a', 'type', 'file', 'hardlink').cause, 'hardlink')
    assert.equal(fileEvent('a', 'type', 'file', 'dir').cause, 'file-type')
    assert.equal(fileEvent('a', 'xattr.security.selinux', null, 'x').cause, 'xattr')
    assert.equal(fileEvent('a', 'pax.LIBARCHIVE.creationtime', null, '1').cause, 'tar-format')
    assert.equal(fileEvent('a', 'position', '1', '2').cause, 'file-order')
    assert.equal(fileEvent('a', 'uname', 'root', 'app').cause, 'file-owner')
  })

  test('mtime later than SOURCE_DATE_EPOCH only when an SDE is known and exceeded', () => {
    const raw = {kind: 'file' as const, platform: '', path: 'a', field: 'mtime', a: 'x (0)', b: 'y (1700000000)'}
    assert.equal(explain(raw, {sdeA: 0, sdeB: 0}).cause, 'mtime-after-sde')
    assert.equal(explain(raw, {sdeA: 0, sdeB: 1_800_000_000}).cause, 'file-timestamp')
    assert.equal(explain(raw).cause, 'file-timestamp')
  })

  test('descriptor-level events are packaging; config events take their cause category', () => {
    const ann = explain({
      kind: 'index',
      platform: '',
      path: 'index.json.annotations["org.opencontainers.image.created"]',
      field: 'annotation',
      a: '1',
      b: '2',
    })
    assert.deepEqual([ann.cause, ann.category], ['created-timestamp', 'packaging'])
    const cfg = explain({kind: 'config', platform: '', path: '.created', field: 'value', a: '1', b: '2'})
    assert.deepEqual([cfg.cause, cfg.category], ['created-timestamp', 'metadata'])
    const label = explain({
      kind: 'config',
      platform: '',
      path: '.config.Labels["io.buildah.version"]',
      field: 'value',
      a: null,
      b: '1',
    })
    assert.equal(label.cause, 'build-tool-label')
    const rew = explain({
      kind: 'layer',
      platform: '',
      path: 'layers[1].annotations["buildkit/rewritten-timestamp"]',
      field: 'annotation',
      a: null,
      b: '0',
    })
    assert.match(rew.hint, /rewrite-timestamp=true/)
  })

  test('summary: content first, then metadata, then packaging; by count within', () => {
    const events = [
      fileEvent('a', 'mtime', '1', '2'),
      fileEvent('b', 'mtime', '1', '2'),
      fileEvent('c', 'mode', '0644', '0755'),
      explain({kind: 'layer', platform: '', path: 'layers[1]', field: 'digest', a: 'x', b: 'y', cause: 'compression'}),
      fileEvent('d', 'content', 'x', 'y'),
    ]
    assert.deepEqual(
      summarizeCauses(events).map((c) => [c.cause, c.count]),
      [
        ['file-content', 1],
        ['file-timestamp', 2],
        ['file-mode', 1],
        ['compression', 1],
      ],
    )
  })

  test('/etc/shadow: only the last-change field differs', () => {
    assert.equal(shadowDiffersOnlyInLastChange('u:!:19000:0:99999:7:::', 'u:!:19001:0:99999:7:::'), true)
    assert.equal(shadowDiffersOnlyInLastChange('u:!:19000:0:99999:7:::', 'u:*:19001:0:99999:7:::'), false)
  })
})

describe('JSON tree diff', () => {
  test('every differing leaf with its path; absent sides are null; skipped subtrees pruned', () => {
    const a = {
      config: {Env: ['A=1', 'B=2'], Labels: {'a.b': 'x'}},
      created: '1970',
      rootfs: {diff_ids: ['x']},
      Healthcheck: {Test: ['CMD']},
    }
    const b = {config: {Env: ['A=1'], Labels: {'a.b': 'y'}, User: 'app'}, created: '1971', rootfs: {diff_ids: ['y']}}
    assert.deepEqual(
      diffJson(a, b, (p) => p === '.rootfs.diff_ids'),
      [
        {path: '.Healthcheck', a: '{"Test":["CMD"]}', b: null},
        {path: '.config.Env[1]', a: 'B=2', b: null},
        {path: '.config.Labels["a.b"]', a: 'x', b: 'y'},
        {path: '.config.User', a: null, b: 'app'},
        {path: '.created', a: '1970', b: '1971'},
      ],
    )
  })

  test('type changes and equal trees', () => {
    assert.deepEqual(diffJson({a: 1}, {a: [1]}), [{path: '.a', a: '1', b: '[1]'}])
    assert.deepEqual(diffJson({a: {b: [1, {c: null}]}}, {a: {b: [1, {c: null}]}}), [])
  })
})

function tarBlock(
  name: string,
  type: string,
  size: number,
  extra: {linkname?: string; magic?: 'gnu' | 'ustar'; mode?: number} = {},
): Buffer {
  const b = Buffer.alloc(512)
  b.write(name, 0, 100)
  b.write(`${(extra.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100)
  b.write('0000000\0', 108)
  b.write('0000000\0', 116)
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  b.write('00000000000\0', 136)
  b.write(type, 156)
  if (extra.linkname) b.write(extra.linkname, 157, 100)
  if (extra.magic === 'gnu') b.write('ustar  \0', 257, 'binary')
  else b.write('ustar\u000000', 257, 'binary')
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const x of b) sum += x
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return b
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)])
}

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')])
  let len = rest.length + 1
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length
  return Buffer.concat([Buffer.from(String(len)), rest])
}

describe('tar entry parser', () => {
  test('pax records keep binary xattr bytes, mtime precision and unknown records; GNU long names', () => {
    const cap = Buffer.from([1, 0, 0, 2, 0xff, 0xfe, 0x80])
    const pax = Buffer.concat([
      paxRecord('SCHILY.xattr.security.capability', cap),
      paxRecord('mtime', Buffer.from('1.5')),
      paxRecord('LIBARCHIVE.creationtime', Buffer.from('7')),
      paxRecord('path', Buffer.from('usr/bin/ping')),
    ])
    const long = `${'d/'.repeat(80)}file.txt`
    const tar = Buffer.concat([
      tarBlock('PaxHeader/x', 'x', pax.length),
      padded(pax),
      tarBlock('short', '0', 3, {mode: 0o104755}),
      padded(Buffer.from('abc')),
      tarBlock('././@LongLink', 'L', long.length + 1, {magic: 'gnu'}),
      padded(Buffer.from(`${long}\0`)),
      tarBlock('trunc', '0', 0, {magic: 'gnu'}),
      tarBlock('./link', '2', 0, {linkname: 'short'}),
      Buffer.alloc(1024),
    ])
    const got: TarEntry[] = []
    const p = new TarEntryParser({layer: 0, keepContent: () => true, onEntry: (e) => got.push(e)})
    // feed in awkward chunk sizes
    for (let i = 0; i < tar.length; i += 77) p.write(tar.subarray(i, i + 77))
    p.end()
    assert.deepEqual(
      got.map((e) => [e.key, e.type, e.format, e.position]),
      [
        ['usr/bin/ping', 'file', 'ustar', 0],
        [long, 'file', 'gnu', 1],
        ['link', 'symlink', 'ustar', 2],
      ],
    )
    const ping = got[0]
    assert.deepEqual(ping.xattrs['security.capability'], cap)
    assert.equal(ping.mtime, '1.5')
    assert.equal(ping.mode, 0o104755)
    assert.equal(ping.pax['LIBARCHIVE.creationtime'], '7')
    assert.equal(ping.content?.toString(), 'abc')
    assert.equal(ping.sha256, 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    assert.equal(got[2].name, './link')
    assert.equal(got[2].linkname, 'short')
  })

  test('a truncated or corrupt tar is an error, not a silent end', () => {
    const p = new TarEntryParser({layer: 0, onEntry: () => {}})
    p.write(tarBlock('a', '0', 1000))
    p.write(Buffer.alloc(10))
    assert.throws(() => p.end(), /truncated tar/)
    const bad = tarBlock('a', '0', 0)
    bad[0] ^= 1
    assert.throws(() => new TarEntryParser({layer: 0, onEntry: () => {}}).write(bad), /bad header checksum/)
  })

  test('parsePaxRecords rejects malformed lengths', () => {
    assert.throws(() => parsePaxRecords(Buffer.from('99 path=x\n')), /malformed/)
  })

  test('canonical paths', () => {
    assert.equal(canonicalPath('./a/b/'), 'a/b')
    assert.equal(canonicalPath('/a//b/./c'), 'a/b/c')
    assert.equal(canonicalPath('./'), '')
  })

  test('xattr values: text when printable, hex otherwise', () => {
    assert.equal(formatBytes(Buffer.from('system_u:object_r:bin_t:s0\0')), 'system_u:object_r:bin_t:s0\0')
    assert.equal(formatBytes(Buffer.from([1, 2, 0xff])), '0x0102ff')
  })
})

describe('entry comparison, order, flattening', () => {
  test('every differing field in a fixed order, both values shown', () => {
    const a = entry('x', {mode: 0o100644, uid: 0, xattrs: {'user.a': Buffer.from('1')}, pax: {'SCHILY.dev': '1'}})
    const b = entry('x', {mode: 0o644, uid: 5, sha256: 'sha256:bb', size: 2, mtime: '10', format: 'gnu'})
    assert.deepEqual(compareEntries(a, b), [
      {field: 'content', a: 'sha256:aa (1 bytes)', b: 'sha256:bb (2 bytes)'},
      {field: 'mode', a: '0100644', b: '0644'},
      {field: 'uid', a: '0', b: '5'},
      {field: 'mtime', a: '1970-01-01T00:00:00Z (0)', b: '1970-01-01T00:00:10Z (10)'},
      {field: 'xattr.user.a', a: '1', b: null},
      {field: 'pax.SCHILY.dev', a: '1', b: null},
      {field: 'format', a: 'ustar', b: 'gnu'},
    ])
  })

  test('a type change does not also report content', () => {
    const d = compareEntries(entry('x'), entry('x', {type: 'hardlink', linkname: 'y', size: 0, sha256: undefined}))
    assert.deepEqual(d, [{field: 'type', a: 'file', b: 'hardlink'}])
  })

  test('moved entries: the fewest that explain the new order', () => {
    assert.deepEqual(
      [
        ...movedEntries([
          {a: 0, b: 0},
          {a: 1, b: 2},
          {a: 2, b: 3},
          {a: 3, b: 1},
        ]),
      ],
      [3],
    )
    assert.deepEqual(
      [
        ...movedEntries([
          {a: 0, b: 0},
          {a: 1, b: 1},
        ]),
      ],
      [],
    )
  })

  test('flatten applies whiteouts, opaque directories and dir-to-file replacement', () => {
    const fs = flatten([
      [
        entry('a', {type: 'dir'}),
        entry('a/x'),
        entry('a/y'),
        entry('b', {type: 'dir'}),
        entry('b/z'),
        entry('c', {type: 'dir'}),
        entry('c/d'),
      ],
      [entry('a/.wh.x'), entry('b/.wh..wh..opq'), entry('b/new'), entry('c')],
    ])
    assert.deepEqual([...fs.keys()].sort(), ['a', 'a/y', 'b', 'b/new', 'c'])
    assert.equal(fs.get('c')!.type, 'file')
  })
})

describe('report and output helpers', () => {
  test('safe segments refuse absolute paths and ..', () => {
    assert.deepEqual(safeSegments('a/./b'), ['a', 'b'])
    assert.equal(safeSegments('../x'), undefined)
    assert.equal(safeSegments('a/../../x'), undefined)
    assert.equal(safeSegments('/etc/passwd'), undefined)
    assert.equal(safeSegments(''), undefined)
  })

  test('events sorted by platform, then kind, then path, then field', () => {
    const e = (platform: string, path: string, field: string): DiffEvent =>
      fileEvent(path, field, '1', '2') && {...fileEvent(path, field, '1', '2'), platform}
    const sorted = sortEvents([
      e('linux/arm64', 'a', 'mode'),
      e('linux/amd64', 'b', 'mode'),
      e('linux/amd64', 'a', 'uid'),
      e('linux/amd64', 'a', 'mode'),
    ])
    assert.deepEqual(
      sorted.map((x) => `${x.platform} ${x.path} ${x.field}`),
      ['linux/amd64 a mode', 'linux/amd64 a uid', 'linux/amd64 b mode', 'linux/arm64 a mode'],
    )
  })

  test('long values are shortened in the middle, never replaced by "?"', () => {
    const v = `sha256:${'a'.repeat(64)} (12345 bytes)`
    const s = shorten(v, 40)
    assert.equal(s.length, 40)
    assert.ok(s.startsWith('sha256:aaa') && s.endsWith('(12345 bytes)'))
    assert.equal(shorten(null, 10), '(absent)')
  })
})

describe('inputs', () => {
  test('classify: schemes, existing paths, then registry-looking references', () => {
    assert.deepEqual(classifyInput('docker://app:1', false), {kind: 'docker', ref: 'app:1'})
    assert.deepEqual(classifyInput('podman://localhost/app:1', false), {kind: 'podman', ref: 'localhost/app:1'})
    assert.deepEqual(classifyInput('registry://busybox', false), {kind: 'registry', ref: 'busybox'})
    assert.deepEqual(classifyInput('127.0.0.1:5000/app:1', false), {kind: 'registry', ref: '127.0.0.1:5000/app:1'})
    assert.deepEqual(classifyInput('127.0.0.1:5000/app:1', true), {kind: 'path', ref: '127.0.0.1:5000/app:1'})
    assert.deepEqual(classifyInput('out/image.tar', false), {kind: 'path', ref: 'out/image.tar'})
    assert.equal(looksLikeReference('ghcr.io/org/app:1'), true)
    assert.equal(looksLikeReference('localhost/app'), true)
    assert.equal(looksLikeReference('image.tar'), false)
    assert.equal(looksLikeReference('./dir/x'), false)
  })

  test('references: Docker Hub library names, tags, digests, bad names', () => {
    assert.deepEqual(parseReference('busybox'), {
      input: 'busybox',
      registry: 'docker.io',
      repository: 'library/busybox',
      tag: 'latest',
      digest: undefined,
    })
    const d = `sha256:${'a'.repeat(64)}`
    assert.deepEqual(parseReference(`127.0.0.1:5000/team/app@${d}`), {
      input: `127.0.0.1:5000/team/app@${d}`,
      registry: '127.0.0.1:5000',
      repository: 'team/app',
      tag: undefined,
      digest: d,
    })
    assert.equal(parseReference('localhost:5000/app:v1.2').tag, 'v1.2')
    assert.throws(() => parseReference('host.io/App:1'), /invalid repository name/)
    assert.throws(() => parseReference('host.io/app@sha256:zz'), /invalid digest/)
  })

  test('registry URL: http for loopback or --plain-http, https otherwise; Docker Hub host', () => {
    assert.equal(registryOrigin('127.0.0.1:5000'), 'http://127.0.0.1:5000')
    assert.equal(registryOrigin('localhost'), 'http://localhost')
    assert.equal(registryOrigin('ghcr.io'), 'https://ghcr.io')
    assert.equal(registryOrigin('reg.lan:5000', true), 'http://reg.lan:5000')
    assert.equal(registryOrigin('docker.io'), 'https://registry-1.docker.io')
  })

  test('WWW-Authenticate challenges', () => {
    assert.deepEqual(
      parseChallenge('Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull"'),
      {
        scheme: 'bearer',
        params: {realm: 'https://auth.io/token', service: 'registry.io', scope: 'repository:a/b:pull'},
      },
    )
    assert.deepEqual(parseChallenge('Basic realm="Registry"'), {scheme: 'basic', params: {realm: 'Registry'}})
  })
})
