import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {serializeLock, type LockFile} from '../../src/lock/format.js'
import {diffLocks} from '../../src/lock/index.js'
import {gitIdentifier, imageIdentifier, lockPolicy} from '../../src/lock/policy.js'

const D = (c: string) => `sha256:${c.repeat(64)}`
const base = (): LockFile => ({
  schemaVersion: 1,
  dockerfile: 'Dockerfile',
  target: null,
  platforms: [],
  buildArgs: {},
  sourceDateEpoch: {epoch: 0, source: '--sde'},
  buildkit: {image: 'moby/buildkit:v0.32.2'},
  frontend: {'docker/dockerfile:1': {digest: D('f'), mediaType: 'm', uses: ['# syntax line 1']}},
  images: {
    busybox: {digest: D('a'), mediaType: 'm', uses: ['FROM line 2']},
    [`alpine:3@${D('b')}`]: {digest: D('b'), mediaType: 'm', uses: ['FROM line 3']},
  },
  urls: {},
  git: {
    x: {url: 'git@github.com:o/r.git', ref: 'main', subdir: 'sub', commit: 'c'.repeat(40), uses: []},
  },
  contexts: {},
  hashfiles: {},
})

describe('lock policy', () => {
  it('identifiers as BuildKit writes them', () => {
    assert.equal(imageIdentifier('busybox'), 'docker-image://docker.io/library/busybox:latest')
    assert.equal(imageIdentifier('127.0.0.1:5000/a/b:1'), 'docker-image://127.0.0.1:5000/a/b:1')
    assert.equal(gitIdentifier('https://github.com/o/r.git', null, null), 'git://github.com/o/r.git')
    assert.equal(gitIdentifier('git@github.com:o/r.git', 'v1', null), 'git://github.com/o/r.git#v1')
    assert.equal(gitIdentifier('git://127.0.0.1:9418/r.git', 'main', 'd'), 'git://127.0.0.1:9418/r.git#main:d')
  })

  it('images: CONVERT tag to digest (frontend too); a ref with a digest needs no CONVERT; git keeps the subdir', () => {
    const rules = lockPolicy(base(), {locked: false}).rules
    assert.deepEqual(
      rules.map((r) => [r.action, r.selector.identifier, r.updates?.identifier]),
      [
        [
          'CONVERT',
          'docker-image://docker.io/docker/dockerfile:1',
          `docker-image://docker.io/docker/dockerfile:1@${D('f')}`,
        ],
        [
          'CONVERT',
          'docker-image://docker.io/library/busybox:latest',
          `docker-image://docker.io/library/busybox:latest@${D('a')}`,
        ],
        ['CONVERT', 'git://github.com/o/r.git#main:sub', `git://github.com/o/r.git#${'c'.repeat(40)}:sub`],
      ],
    )
  })

  it('--locked: DENY everything first, ALLOW local and oci-layout contexts and each pinned source last', () => {
    const rules = lockPolicy(base(), {locked: true}).rules
    assert.deepEqual(rules[0], {action: 'DENY', selector: {identifier: '*', match_type: 'WILDCARD'}})
    const allows = rules.filter((r) => r.action === 'ALLOW').map((r) => r.selector.identifier)
    assert.deepEqual(allows, [
      'local://*',
      'oci-layout://*',
      `docker-image://docker.io/docker/dockerfile:1@${D('f')}`,
      `docker-image://docker.io/library/busybox:latest@${D('a')}`,
      `docker-image://docker.io/library/alpine:3@${D('b')}`,
      `git://github.com/o/r.git#${'c'.repeat(40)}:sub`,
    ])
    assert.ok(rules.findIndex((r) => r.action === 'CONVERT') < rules.findIndex((r) => r.action === 'ALLOW'))
  })

  it('diffLocks: moved, added and removed inputs and changed settings, sorted', () => {
    const a = base()
    const b = base()
    b.images.busybox = {...b.images.busybox, digest: D('9')}
    b.urls['https://x/y'] = {checksum: D('1'), size: 1, uses: ['ADD line 4']}
    delete b.git.x
    b.sourceDateEpoch = {epoch: 5, source: '--sde'}
    assert.deepEqual(
      diffLocks(a, b).map((c) => [c.section, c.name, c.old, c.new]),
      [
        ['images', 'busybox', D('a'), D('9')],
        ['urls', 'https://x/y', null, D('1')],
        ['git', 'x', 'c'.repeat(40), null],
        ['settings', 'sourceDateEpoch', '{"epoch":0,"source":"--sde"}', '{"epoch":5,"source":"--sde"}'],
      ],
    )
    assert.deepEqual(diffLocks(a, base()), [])
  })

  it('serializeLock: same lock, same bytes, whatever the key order it was built in', () => {
    const a = base()
    const b = base()
    b.images = Object.fromEntries(Object.entries(b.images).reverse())
    assert.equal(serializeLock(a), serializeLock(b))
    assert.match(serializeLock(a), /^# repro\.lock\.yaml/)
  })
})
