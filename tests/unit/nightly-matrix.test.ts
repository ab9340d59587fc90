import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseBases, testbedEngines} from '../../nightly/lib/engines.js'
import {parseFixtureMeta} from '../../nightly/lib/fixtures.js'
import {checkGolden, type Golden, parseGolden, serializeGolden, updateGolden} from '../../nightly/lib/golden.js'
import {
  ALL_BUILDKITS,
  ALL_RUNTIMES,
  cellEngineProblem,
  type FixtureMeta,
  parseVersionMap,
  planMatrix,
  selectNames,
  UPSTREAM_BUILDKIT_IMAGES,
} from '../../nightly/lib/matrix.js'
import {
  agreementGroups,
  type BuildRun,
  type CellResult,
  evaluateCell,
  type NightlyReport,
  reportMarkdown,
  summarize,
} from '../../nightly/lib/report.js'

const D = (c: string) => `sha256:${c.repeat(64)}`
const fx = (name: string, extra: Partial<FixtureMeta> = {}): FixtureMeta => ({
  name,
  description: '',
  expect: 'reproducible',
  expectCauses: [],
  ...extra,
})
const FIXTURES = [
  fx('scratch-copy'),
  fx('busybox-run', {base: 'busybox'}),
  fx('canary-date', {expect: 'not-reproducible', expectCauses: ['file-content'], runtimes: ['buildkit']}),
]

describe('matrix planning', () => {
  it('every runtime × version × fixture, ordered by version, fixture, runtime; a canary only where it runs', () => {
    const cells = planMatrix(
      {runtimes: [...ALL_RUNTIMES], buildkits: [...ALL_BUILDKITS], fixtures: FIXTURES.map((f) => f.name)},
      FIXTURES,
    )
    assert.equal(cells.length, 3 * (3 + 3 + 1))
    assert.deepEqual(
      cells.slice(0, 7).map((c) => c.id),
      [
        'scratch-copy/v0.13.2/docker',
        'scratch-copy/v0.13.2/podman',
        'scratch-copy/v0.13.2/buildkit',
        'busybox-run/v0.13.2/docker',
        'busybox-run/v0.13.2/podman',
        'busybox-run/v0.13.2/buildkit',
        'canary-date/v0.13.2/buildkit',
      ],
    )
  })

  it('filters: comma lists and repeats, in the canonical order; unknown names are errors naming the flag', () => {
    assert.deepEqual(selectNames('runtime', ['buildkit,docker'], ALL_RUNTIMES), ['docker', 'buildkit'])
    assert.deepEqual(selectNames('buildkit', ['v0.32.2', 'v0.19.0'], ALL_BUILDKITS), ['v0.19.0', 'v0.32.2'])
    assert.deepEqual(selectNames('runtime', [], ALL_RUNTIMES), [...ALL_RUNTIMES])
    assert.throws(
      () => selectNames('runtime', ['dockr'], ALL_RUNTIMES),
      /--runtime dockr: unknown; expected one of docker, podman, buildkit/,
    )
    const cells = planMatrix(
      {runtimes: ['podman'], buildkits: ['v0.32.2'], fixtures: ['canary-date', 'scratch-copy']},
      FIXTURES,
    )
    assert.deepEqual(
      cells.map((c) => c.id),
      ['scratch-copy/v0.32.2/podman'],
      'the canary runs only on buildkit; fixture order follows the selection',
    )
  })

  it('image and address maps: VER=VALUE, known versions only', () => {
    assert.deepEqual(parseVersionMap('buildkit-image', ['v0.32.2=moby/buildkit:v0.32.2@sha256:x=y'], ALL_BUILDKITS), {
      'v0.32.2': 'moby/buildkit:v0.32.2@sha256:x=y',
    })
    assert.throws(
      () => parseVersionMap('buildkit-addr', ['v9=unix:///x'], ALL_BUILDKITS),
      /--buildkit-addr v9=unix:\/\/\/x: unknown BuildKit version v9/,
    )
    assert.throws(() => parseVersionMap('buildkit-image', ['moby/buildkit'], ALL_BUILDKITS), /expected VERSION=VALUE/)
  })

  it('upstream pins: digests for v0.19.0 and v0.32.2, v0.13.2 left to pin', () => {
    assert.match(UPSTREAM_BUILDKIT_IMAGES['v0.32.2']!, /^moby\/buildkit:v0\.32\.2@sha256:28a89871/)
    assert.match(UPSTREAM_BUILDKIT_IMAGES['v0.19.0']!, /^moby\/buildkit:v0\.19\.0@sha256:14aa1b4d/)
    assert.equal(UPSTREAM_BUILDKIT_IMAGES['v0.13.2'], undefined)
    const cell = {id: 'x', runtime: 'docker' as const, buildkit: 'v0.13.2', fixture: 'x'}
    assert.match(
      cellEngineProblem(cell, {images: UPSTREAM_BUILDKIT_IMAGES, addrs: {}})!,
      /--buildkit-image v0.13.2=IMAGE/,
    )
    assert.match(
      cellEngineProblem({...cell, runtime: 'buildkit'}, {images: {}, addrs: {}})!,
      /--buildkit-addr v0.13.2=/,
    )
    assert.equal(
      cellEngineProblem({...cell, buildkit: 'v0.32.2'}, {images: UPSTREAM_BUILDKIT_IMAGES, addrs: {}}),
      undefined,
    )
  })

  it('the test bed state gives images, daemons (running or startable), bases, debs, DOCKER_HOST and buildctl', () => {
    const cfg = testbedEngines(
      {
        docker: {host: 'unix:///var/run/docker.sock'},
        buildkit: {
          default: 'v0.32.2',
          versions: {
            'v0.32.2': {
              running: true,
              host: 'unix:///run/a.sock',
              buildctl: '/c/v0.32.2/buildctl',
              image: {name: 'localhost/bk:v0.32.2'},
            },
            'v0.19.0': {running: false, host: 'unix:///run/b.sock', start: 'bash testbed.sh buildkitd-start v0.19.0'},
          },
        },
        images: {busybox: {ociLayout: '/i/busybox/oci'}},
        debs: {dir: '/d'},
      },
      '/usr/bin',
    )
    assert.deepEqual(cfg.images, {'v0.32.2': 'localhost/bk:v0.32.2'})
    assert.deepEqual(cfg.addrs, {'v0.32.2': 'unix:///run/a.sock', 'v0.19.0': 'unix:///run/b.sock'})
    assert.deepEqual(cfg.startable, {'v0.19.0': 'bash testbed.sh buildkitd-start v0.19.0'})
    assert.deepEqual(cfg.env, {DOCKER_HOST: 'unix:///var/run/docker.sock', PATH: '/c/v0.32.2:/usr/bin'})
    assert.deepEqual(cfg.bases, {busybox: '/i/busybox/oci'})
    assert.equal(cfg.debsDir, '/d')
    assert.deepEqual(parseBases(['busybox=oci-layout:///x/oci']), {busybox: '/x/oci'})
    assert.throws(() => parseBases(['busybox']), /--base busybox: expected NAME=DIR/)
  })

  it('fixture.yaml parsing', () => {
    assert.deepEqual(
      parseFixtureMeta(
        'c',
        'base: busybox\nexpect: not-reproducible\nexpectCauses: [file-content]\nruntimes: [buildkit]\n',
      ),
      {
        name: 'c',
        description: '',
        base: 'busybox',
        hashfile: undefined,
        expect: 'not-reproducible',
        expectCauses: ['file-content'],
        runtimes: ['buildkit'],
      },
    )
    assert.throws(() => parseFixtureMeta('c', 'expect: maybe\n'), /nightly\/fixtures\/c\/fixture.yaml: expect: maybe/)
    assert.equal(parseFixtureMeta('d', 'hashfile: SHA256SUMS-amd64\n').hashfile, 'SHA256SUMS-amd64')
  })
})

describe('golden digests', () => {
  const golden: Golden = {
    bases: {busybox: D('b')},
    digests: {'busybox-run': {'v0.32.2': {'linux/amd64': D('1')}}},
  }
  const key = {fixture: 'busybox-run', buildkit: 'v0.32.2', platform: 'linux/amd64'}

  it('match, mismatch, missing, and a changed base named as such', () => {
    assert.equal(checkGolden(golden, key, D('1'), {busybox: D('b')}).status, 'match')
    const m = checkGolden(golden, key, D('2'), {busybox: D('b')})
    assert.equal(m.status, 'mismatch')
    assert.equal(m.detail, `golden ${D('1')}, got ${D('2')}`)
    assert.equal(checkGolden(golden, {...key, buildkit: 'v0.19.0'}, D('1'), {}).status, 'missing')
    const b = checkGolden(golden, key, D('2'), {busybox: D('c')})
    assert.equal(b.status, 'base-changed')
    assert.match(b.detail, /recorded with base busybox sha256:b+, this run used busybox sha256:c+/)
  })

  it('update lists every change and serializes with sorted keys; parse(serialize(x)) = x', () => {
    const {golden: next, changes} = updateGolden(
      golden,
      [
        {...key, digest: D('1')},
        {...key, buildkit: 'v0.19.0', digest: D('3')},
        {fixture: 'scratch-copy', buildkit: 'v0.13.2', platform: 'linux/amd64', digest: D('4')},
      ],
      {busybox: D('b')},
    )
    assert.deepEqual(changes, [
      {key: 'digests.busybox-run.v0.19.0.linux/amd64', from: null, to: D('3')},
      {key: 'digests.scratch-copy.v0.13.2.linux/amd64', from: null, to: D('4')},
    ])
    assert.equal(golden.digests['busybox-run']['v0.19.0'], undefined, 'the input is not mutated')
    const text = serializeGolden(next)
    assert.match(text, /^# Golden image digests/)
    assert.ok(text.indexOf('busybox-run') < text.indexOf('scratch-copy'))
    assert.ok(text.indexOf('v0.19.0') < text.indexOf('v0.32.2'))
    assert.deepEqual(parseGolden(text), next)
    assert.equal(serializeGolden(parseGolden(text)), text, 'stable')
  })

  it('bad golden files are errors naming the entry', () => {
    assert.throws(
      () => parseGolden('digests:\n  a:\n    v1:\n      linux/amd64: nope\n', 'g.yaml'),
      /g.yaml: digests.a.v1.linux\/amd64: expected sha256/,
    )
    assert.throws(() => parseGolden('[1, 2]'), /expected a mapping at the top/)
    assert.throws(() => parseGolden('a: [b'), /not valid YAML/)
    assert.deepEqual(parseGolden(''), {bases: {}, digests: {}})
  })
})

describe('cell verdicts and reports', () => {
  const cell = {
    id: 'scratch-copy/v0.32.2/docker',
    runtime: 'docker' as const,
    buildkit: 'v0.32.2',
    fixture: 'scratch-copy',
  }
  const run = (digest: string, archive = digest): BuildRun => ({
    digest,
    archiveSha256: archive,
    platform: 'linux/amd64',
    seconds: 1,
  })
  const match = {status: 'match' as const, expected: D('1'), detail: ''}

  it('pass: same bytes, golden match', () => {
    assert.deepEqual(evaluateCell(cell, fx('scratch-copy'), [run(D('1')), run(D('1'))], [], match, false), {
      status: 'pass',
      reproduced: true,
      failures: [],
    })
  })

  it('fail: not reproduced, with the causes of the diff', () => {
    const v = evaluateCell(
      cell,
      fx('scratch-copy'),
      [run(D('1')), run(D('2'))],
      [{cause: 'file-content', count: 1, title: 't'}],
      match,
      false,
    )
    assert.equal(v.status, 'fail')
    assert.deepEqual(v.failures, [
      'scratch-copy/v0.32.2/docker: not reproduced: digests 111111111111 != 222222222222; causes: file-content (1)',
    ])
    const bytes = evaluateCell(cell, fx('scratch-copy'), [run(D('1'), 'x'), run(D('1'), 'y')], [], match, false)
    assert.match(bytes.failures[0], /same digest 111111111111 but tarball bytes differ/)
  })

  it('fail: golden missing or different, unless --update-golden', () => {
    const missing = {status: 'missing' as const, detail: 'no golden digest for x'}
    assert.deepEqual(evaluateCell(cell, fx('scratch-copy'), [run(D('1')), run(D('1'))], [], missing, false).failures, [
      'scratch-copy/v0.32.2/docker: golden missing: no golden digest for x',
    ])
    assert.equal(evaluateCell(cell, fx('scratch-copy'), [run(D('1')), run(D('1'))], [], missing, true).status, 'pass')
    const mismatch = {status: 'mismatch' as const, expected: D('9'), detail: 'golden 9, got 1'}
    assert.equal(evaluateCell(cell, fx('scratch-copy'), [run(D('1')), run(D('1'))], [], mismatch, false).status, 'fail')
  })

  it('canary: passes when not reproduced with the expected cause; fails when it reproduces or the cause is missing', () => {
    const canary = fx('canary-date', {expect: 'not-reproducible', expectCauses: ['file-content']})
    const c = {...cell, fixture: 'canary-date', id: 'canary-date/v0.32.2/buildkit'}
    assert.equal(
      evaluateCell(
        c,
        canary,
        [run(D('1')), run(D('2'))],
        [{cause: 'file-content', count: 1, title: ''}],
        undefined,
        false,
      ).status,
      'pass',
    )
    assert.match(
      evaluateCell(c, canary, [run(D('1')), run(D('1'))], [], undefined, false).failures[0],
      /canary canary-date reproduced/,
    )
    assert.match(
      evaluateCell(c, canary, [run(D('1')), run(D('2'))], [{cause: 'history', count: 1, title: ''}], undefined, false)
        .failures[0],
      /did not name file-content; causes: history \(1\)/,
    )
  })

  function result(
    runtime: 'buildkit' | 'docker' | 'podman',
    digest: string,
    extra: Partial<CellResult> = {},
  ): CellResult {
    return {
      id: `scratch-copy/v0.32.2/${runtime}`,
      runtime,
      buildkit: 'v0.32.2',
      fixture: 'scratch-copy',
      status: 'pass',
      expect: 'reproducible',
      platform: 'linux/amd64',
      builds: [run(digest), run(digest)],
      reproduced: true,
      causes: [],
      failures: [],
      seconds: 2,
      ...extra,
    }
  }

  it('runtimes of one BuildKit version agree, or the disagreement is a failure', () => {
    const agree = agreementGroups([result('docker', D('1')), result('podman', D('1')), result('buildkit', D('1'))])
    assert.equal(agree.length, 1)
    assert.equal(agree[0].agree, true)
    const disagree = agreementGroups([result('docker', D('1')), result('podman', D('2'))])
    assert.equal(disagree[0].agree, false)
    assert.equal(disagree[0].detail, 'docker 111111111111, podman 222222222222')
    const s = summarize(
      [result('docker', D('1')), result('podman', D('2'))],
      [{...disagree[0], causes: [{cause: 'annotation', count: 1, title: ''}]}],
    )
    assert.equal(s.ok, false)
    assert.deepEqual(s.failures, [
      'scratch-copy/v0.32.2 linux/amd64: runtimes disagree: docker 111111111111, podman 222222222222; causes: annotation (1)',
    ])
    assert.equal(agreementGroups([result('docker', D('1'), {status: 'error', builds: []})]).length, 0)
  })

  it('markdown report: one row per fixture × version, one column per runtime, failures and causes', () => {
    const cells = [result('docker', D('1')), result('buildkit', D('1'))]
    const agreements = agreementGroups(cells).map((a) => ({...a, causes: []}))
    const report: NightlyReport = {
      schemaVersion: 1,
      startedAt: '2024-01-01T00:00:00.000Z',
      seconds: 12,
      selection: {runtimes: ['docker', 'podman', 'buildkit'], buildkits: ['v0.32.2'], fixtures: ['scratch-copy']},
      buildkitImages: {'v0.32.2': 'localhost/bk:v0.32.2'},
      bases: {},
      cells,
      agreements,
      goldenChanges: [],
      ...summarize(cells, agreements),
    }
    const md = reportMarkdown(report)
    assert.match(md, /^# repro nightly: PASS\n/)
    assert.match(
      md,
      /\| scratch-copy \| v0.32.2 \| linux\/amd64 \| ✅ `111111111111` 1.0 \+ 1.0 s \| - \| ✅ `111111111111` 1.0 \+ 1.0 s \| ✅ \|/,
    )
    assert.doesNotMatch(md, /## Failures/)
  })
})
