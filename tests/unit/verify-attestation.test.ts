import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {
  buildArgMap,
  buildStatement,
  canonicalJson,
  pinnedDigest,
  STATEMENT_TYPE,
  subjects,
  VERIFICATION_PREDICATE_TYPE,
  type VerificationPredicate,
} from '../../src/verify/attestation.js'
import {globToRegex, isIgnored, parseDockerignore} from '../../src/verify/context-digest.js'

const HEX = 'ab'.repeat(32)

function predicate(overrides: Partial<VerificationPredicate> = {}): VerificationPredicate {
  return {
    verifier: {id: 'https://repro.dev/repro', version: '0.1.0'},
    inputs: {
      dockerfile: {path: 'Dockerfile', sha256: '1'.repeat(64)},
      context: {digest: `sha256:${'2'.repeat(64)}`, files: 3, ignoreFile: '.dockerignore'},
      buildContexts: [{name: 'base', digest: `sha256:${'3'.repeat(64)}`}],
      sourceDateEpoch: 0,
      buildArgs: {B: '2', A: '1'},
      target: null,
      platforms: [],
      format: 'docker',
      secrets: [],
      hashFiles: [{path: 'SHA256SUMS', sha256: '4'.repeat(64)}],
      buildkit: {
        image: 'moby/buildkit:v0.32.2@sha256:' + '5'.repeat(64),
        imageDigest: 'sha256:' + '5'.repeat(64),
        imageId: null,
        version: 'v0.32.2',
      },
      runtimes: [{runtime: 'docker', version: '20.10.24', buildkitVersion: 'v0.32.2'}],
      lock: {
        path: 'repro.lock.yaml',
        sha256: `sha256:${'6'.repeat(64)}`,
        locked: true,
        inputs: {'images/127.0.0.1:5000/base:1': `sha256:${'7'.repeat(64)}`},
      },
    },
    rebuilds: [
      {runtime: 'docker', attempt: 1, digest: `sha256:${HEX}`, archiveSha256: 'sha256:x'},
      {runtime: 'docker', attempt: 2, digest: `sha256:${HEX}`, archiveSha256: 'sha256:x'},
    ],
    expected: null,
    verdict: {result: 'reproduced', checks: [{name: 'rebuilds-agree', ok: true, detail: '2 rebuilds'}], causes: []},
    ...overrides,
  }
}

describe('attestation', () => {
  it('is an in-toto Statement v1 with our predicate type and the image digest as subject', () => {
    const s = buildStatement('app:1', predicate())
    assert.equal(s._type, 'https://in-toto.io/Statement/v1')
    assert.equal(s._type, STATEMENT_TYPE)
    assert.equal(s.predicateType, VERIFICATION_PREDICATE_TYPE)
    assert.deepEqual(s.subject, [{name: 'app:1', digest: {sha256: HEX}}])
    assert.equal(s.predicate.metadata, undefined, 'no wall-clock fields by default')
    const parsed = JSON.parse(canonicalJson(s))
    assert.deepEqual(Object.keys(parsed), ['_type', 'predicate', 'predicateType', 'subject'])
    assert.deepEqual(Object.keys(parsed.predicate.inputs.buildArgs), ['A', 'B'], 'keys sorted at every level')
  })

  it('is byte-identical for the same inputs, whatever the key order given', () => {
    const a = canonicalJson(buildStatement('app:1', predicate()))
    const p = predicate()
    const reordered = Object.fromEntries(Object.entries(p).reverse()) as unknown as VerificationPredicate
    const b = canonicalJson(buildStatement('app:1', reordered))
    assert.equal(a, b)
    assert.ok(a.endsWith('}\n'))
  })

  it('records timestamps only when asked', () => {
    const s = buildStatement('app', predicate(), {
      startedOn: new Date('2024-01-01T00:00:00Z'),
      finishedOn: new Date('2024-01-01T00:01:00Z'),
    })
    assert.deepEqual(s.predicate.metadata, {
      startedOn: '2024-01-01T00:00:00.000Z',
      finishedOn: '2024-01-01T00:01:00.000Z',
    })
  })

  it('lists each distinct digest once, sorted, when rebuilds disagree', () => {
    const s = buildStatement(
      'image',
      predicate({
        rebuilds: [
          {runtime: 'docker', attempt: 1, digest: `sha256:${'f'.repeat(64)}`, archiveSha256: 'a'},
          {runtime: 'podman', attempt: 1, digest: `sha256:${'0'.repeat(64)}`, archiveSha256: 'b'},
          {runtime: 'podman', attempt: 2, digest: `sha256:${'0'.repeat(64)}`, archiveSha256: 'b'},
        ],
        verdict: {result: 'not-reproduced', checks: [], causes: [{cause: 'file-content', count: 1}]},
      }),
    )
    assert.deepEqual(
      s.subject.map((x) => x.digest.sha256[0]),
      ['0', 'f'],
    )
    assert.equal(s.predicate.verdict.result, 'not-reproduced')
  })

  it('canonicalJson drops undefined and keeps array order', () => {
    assert.equal(
      canonicalJson({b: [3, 1], a: undefined, c: {z: 1, y: null}}),
      '{\n  "b": [\n    3,\n    1\n  ],\n  "c": {\n    "y": null,\n    "z": 1\n  }\n}\n',
    )
  })

  it('helpers: build args, pinned digests, subjects without an algorithm', () => {
    assert.deepEqual(buildArgMap(['A=1', 'B=x=y', 'A=2', 'C']), {A: '2', B: 'x=y', C: ''})
    assert.equal(pinnedDigest(`moby/buildkit:v0.19.0@sha256:${'a'.repeat(64)}`), `sha256:${'a'.repeat(64)}`)
    assert.equal(pinnedDigest('localhost/repro-testbed/buildkit:v0.19.0'), null)
    assert.deepEqual(subjects('x', [HEX]), [{name: 'x', digest: {sha256: HEX}}])
  })
})

describe('.dockerignore rules', () => {
  it('globs: *, ?, **, classes, escapes', () => {
    assert.ok(globToRegex('*.log').test('a.log'))
    assert.ok(!globToRegex('*.log').test('dir/a.log'), '* does not cross /')
    assert.ok(globToRegex('**/*.log').test('dir/sub/a.log'))
    assert.ok(globToRegex('**/*.log').test('a.log'))
    assert.ok(globToRegex('a?c').test('abc'))
    assert.ok(globToRegex('[a-c]x').test('bx'))
    assert.ok(!globToRegex('[^a-c]x').test('bx'))
    assert.ok(globToRegex('a.b').test('a.b') && !globToRegex('a.b').test('axb'))
  })

  it('last match wins, parents match, exceptions re-include, comments and / prefixes', () => {
    const rules = parseDockerignore('# comment\n\n/node_modules\n*.md\n!README.md\nbuild/\n  tmp/**  \n')
    assert.deepEqual(
      rules.map((r) => [r.pattern, r.negate]),
      [
        ['node_modules', false],
        ['*.md', false],
        ['README.md', true],
        ['build', false],
        ['tmp/**', false],
      ],
    )
    assert.equal(isIgnored('node_modules/x/y.js', rules), true, 'a directory pattern excludes what is under it')
    assert.equal(isIgnored('CHANGES.md', rules), true)
    assert.equal(isIgnored('README.md', rules), false)
    assert.equal(isIgnored('docs/a.md', rules), false, '*.md only matches at the top')
    assert.equal(isIgnored('build/out.bin', rules), true)
    assert.equal(isIgnored('tmp/a/b', rules), true)
    assert.equal(isIgnored('src/index.ts', rules), false)
  })
})
