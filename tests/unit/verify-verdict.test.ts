import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decideVerdict, matchImage, normalizeDigest, type RebuiltImage} from '../../src/verify/verdict.js'

const D = (c: string) => `sha256:${c.repeat(64)}`
const img = (
  runtime: string,
  attempt: number,
  digest: string,
  archive = `a-${digest}`,
  platform = 'linux/amd64',
): RebuiltImage => ({
  runtime,
  attempt,
  digest,
  archiveSha256: archive,
  manifests: [{platform, digest, configDigest: D('c')}],
  path: `/tmp/${runtime}-${attempt}.tar`,
})

describe('decideVerdict', () => {
  it('reproduced: two equal rebuilds, no expectation', () => {
    const v = decideVerdict([img('docker', 1, D('1')), img('docker', 2, D('1'))])
    assert.equal(v.reproduced, true)
    assert.equal(v.digest, D('1'))
    assert.deepEqual(
      v.checks.map((c) => [c.name, c.ok]),
      [
        ['rebuilds-agree', true],
        ['archive-bytes', true],
      ],
    )
    assert.equal(v.diff, undefined)
  })

  it('not reproduced: the rebuilds differ, the diff pair names them', () => {
    const v = decideVerdict([img('docker', 1, D('1')), img('docker', 2, D('2'))])
    assert.equal(v.reproduced, false)
    assert.equal(v.digest, undefined)
    assert.deepEqual(v.diff, {a: 0, b: 1, why: 'docker #1 vs docker #2'})
    assert.match(v.checks[0].detail, /2 different digests over 2 rebuilds/)
  })

  it('not reproduced: same digest, different tarball bytes on one runtime', () => {
    const v = decideVerdict([img('podman', 1, D('1'), 'x'), img('podman', 2, D('1'), 'y')])
    assert.equal(v.reproduced, false)
    assert.deepEqual(
      v.checks.find((c) => c.name === 'archive-bytes'),
      {name: 'archive-bytes', ok: false, detail: 'tarball bytes differ on podman'},
    )
    assert.deepEqual(v.diff, {a: 0, b: 1, why: 'podman #1 vs podman #2'})
  })

  it('tarball bytes may differ across runtimes when the digest agrees', () => {
    const v = decideVerdict([img('docker', 1, D('1'), 'x'), img('buildkit', 1, D('1'), 'y')])
    assert.equal(v.reproduced, true)
    assert.equal(
      v.checks.find((c) => c.name === 'archive-bytes'),
      undefined,
    )
  })

  it('expected digest: with or without sha256:, any case', () => {
    assert.equal(decideVerdict([img('docker', 1, D('a'))], {kind: 'digest', digest: 'A'.repeat(64)}).reproduced, true)
    const v = decideVerdict([img('docker', 1, D('a'))], {kind: 'digest', digest: D('b')})
    assert.equal(v.reproduced, false)
    assert.equal(v.checks[0].detail, `expected ${D('b')}, rebuilt ${D('a')}`)
    assert.equal(v.diff, undefined, 'a bare digest has no image to diff against')
  })

  it('expected image: mismatch diffs the rebuild against it', () => {
    const v = decideVerdict([img('docker', 1, D('a'))], {
      kind: 'image',
      input: 'reg/app:1',
      digest: D('b'),
      manifests: [{platform: 'linux/amd64', digest: D('b'), configDigest: D('c')}],
    })
    assert.equal(v.reproduced, false)
    assert.deepEqual(v.diff, {a: 0, b: 'expected', why: 'docker #1 vs reg/app:1'})
  })

  it('the first failure chooses the diff: disagreeing rebuilds before the expected image', () => {
    const v = decideVerdict([img('docker', 1, D('a')), img('docker', 2, D('b'))], {
      kind: 'image',
      input: 'x.tar',
      digest: D('c'),
      manifests: [],
    })
    assert.deepEqual(v.diff, {a: 0, b: 1, why: 'docker #1 vs docker #2'})
    assert.deepEqual(
      v.checks.map((c) => [c.name, c.ok]),
      [
        ['rebuilds-agree', false],
        ['archive-bytes', false],
        ['expected-image', false],
      ],
    )
  })

  it('refuses an empty list', () => {
    assert.throws(() => decideVerdict([]), /no builds/)
  })
})

describe('matchImage', () => {
  it('a single-platform rebuild matches its platform in a multi-platform index', () => {
    const m = matchImage(img('docker', 1, D('a')), {
      kind: 'image',
      input: 'reg/app:1',
      digest: D('9'),
      manifests: [
        {platform: 'linux/amd64', digest: D('a'), configDigest: D('c')},
        {platform: 'linux/arm64', digest: D('b'), configDigest: D('d')},
      ],
    })
    assert.equal(m.ok, true)
    assert.match(m.how, /linux\/amd64 manifest digest .* \(in the index sha256:9+\)/)
  })

  it('a legacy docker-archive (no manifest digest) matches by config digest', () => {
    const expected = {
      kind: 'image' as const,
      input: 'old.tar',
      manifests: [{platform: 'linux/amd64', configDigest: D('c')}],
    }
    assert.equal(matchImage(img('docker', 1, D('a')), expected).ok, true)
    const other = {...expected, manifests: [{platform: 'linux/amd64', configDigest: D('e')}]}
    const m = matchImage(img('docker', 1, D('a')), other)
    assert.equal(m.ok, false)
    assert.match(m.how, /config digest .* != .*no manifest digest/)
  })

  it('normalizeDigest', () => {
    assert.equal(normalizeDigest(` ${'F'.repeat(64)} `), `sha256:${'f'.repeat(64)}`)
  })
})
