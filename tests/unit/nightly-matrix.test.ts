import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseBases, testbedEngines} from '../../nightly/lib/engines.js'
import {parseFixtureMeta} from '../../nightly/lib/fixtures.js'
import {
  checkGolden,
  type Golden,
  goldenFor,
  observedDigests,
  parseGolden,
  serializeGolden,
  updateGolden,
} from '../../nightly/lib/golden.js'
import {
  ALL_BUILDKITS,
  ALL_RUNTIMES,
  cellEngineProblem,
  type FixtureMeta,
  nightlyMatrix,
  parseVersionMap,
  planMatrix,
  selectNames,
  UPSTREAM_BUILDKIT_IMAGES,
} from '../../nightly/lib/matrix.js'
import {parseMatrix} from '../../src/verify/matrix/parse.js'
import {buildReport} from '../../src/verify/matrix/report.js'
import type {MatrixJobResult} from '../../src/verify/matrix/types.js'

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

describe('the nightly as a matrix file for the verify --matrix runner', () => {
  const engines = {
    images: {'v0.32.2': 'localhost/bk:v0.32.2', 'v0.19.0': undefined},
    addrs: {'v0.32.2': 'unix:///run/bk.sock'},
  }
  const fixtures = [...FIXTURES, fx('debian-debs', {base: 'debian', hashfile: 'SHA256SUMS-amd64'})]
  const cells = planMatrix(
    {runtimes: ['docker', 'buildkit'], buildkits: ['v0.19.0', 'v0.32.2'], fixtures: fixtures.map((f) => f.name)},
    fixtures,
  )

  it('one builder per runtime × version, one job per runnable cell; the cells that cannot run are listed with why', () => {
    const {doc, unrunnable} = nightlyMatrix({
      cells,
      fixtures,
      engines,
      bases: {busybox: '/tb/busybox/oci'},
      expected: {'scratch-copy/v0.32.2/docker': D('1')},
      sde: '0',
    })
    assert.deepEqual(doc.builders, {
      'docker-v0.32.2': {runtime: 'docker', image: 'localhost/bk:v0.32.2'},
      'buildkit-v0.32.2': {runtime: 'buildkit', addr: 'unix:///run/bk.sock', image: 'moby/buildkit:v0.32.2'},
    })
    const jobs = doc.jobs as Array<Record<string, unknown>>
    assert.deepEqual(
      jobs.map((j) => j.id),
      [
        'scratch-copy/v0.32.2/docker',
        'scratch-copy/v0.32.2/buildkit',
        'busybox-run/v0.32.2/docker',
        'busybox-run/v0.32.2/buildkit',
        'canary-date/v0.32.2/buildkit',
      ],
    )
    assert.deepEqual(jobs[0], {
      id: 'scratch-copy/v0.32.2/docker',
      fixture: 'scratch-copy',
      context: 'fixtures/scratch-copy',
      builder: 'docker-v0.32.2',
      buildkit: 'v0.32.2',
      sde: '0',
      times: 2,
      agree: 'scratch-copy/v0.32.2',
      expectedDigest: D('1'),
    })
    assert.deepEqual(jobs[2].buildContexts, {base: 'oci-layout:///tb/busybox/oci'})
    assert.equal(jobs[4].expect, 'not-reproducible')
    assert.deepEqual(jobs[4].expectCauses, ['file-content'])
    assert.equal(jobs[4].agree, undefined)
    assert.deepEqual(
      unrunnable.map((u) => `${u.cell.id}: ${u.problem}`),
      [
        'scratch-copy/v0.19.0/docker: no BuildKit v0.19.0 image (pass --buildkit-image v0.19.0=IMAGE)',
        'scratch-copy/v0.19.0/buildkit: no BuildKit v0.19.0 daemon address (pass --buildkit-addr v0.19.0=unix:///...)',
        'busybox-run/v0.19.0/docker: no BuildKit v0.19.0 image (pass --buildkit-image v0.19.0=IMAGE)',
        'busybox-run/v0.19.0/buildkit: no BuildKit v0.19.0 daemon address (pass --buildkit-addr v0.19.0=unix:///...)',
        'canary-date/v0.19.0/buildkit: no BuildKit v0.19.0 daemon address (pass --buildkit-addr v0.19.0=unix:///...)',
        'debian-debs/v0.19.0/docker: no BuildKit v0.19.0 image (pass --buildkit-image v0.19.0=IMAGE)',
        'debian-debs/v0.19.0/buildkit: no BuildKit v0.19.0 daemon address (pass --buildkit-addr v0.19.0=unix:///...)',
        'debian-debs/v0.32.2/docker: no base image debian (pass --base debian=DIR or --testbed)',
        'debian-debs/v0.32.2/buildkit: no base image debian (pass --base debian=DIR or --testbed)',
      ],
    )
    // the very parser of `repro verify --matrix` accepts it
    const m = parseMatrix(JSON.stringify(doc), '/r/nightly/matrix.yaml')
    assert.equal(m.jobs.length, 5)
    assert.equal(m.jobs[1].builder.addr, 'unix:///run/bk.sock')
    assert.equal(m.jobs[0].expectedDigest, D('1'))
  })

  it('hash-file fixtures get their hash file and the package directory as a file:// provider', () => {
    const {doc} = nightlyMatrix({
      cells: cells.filter((c) => c.fixture === 'debian-debs' && c.buildkit === 'v0.32.2'),
      fixtures,
      engines,
      bases: {debian: '/tb/debian/oci'},
      debsDir: '/tb/debs',
      expected: {},
      sde: '0',
    })
    const [job] = doc.jobs as Array<Record<string, unknown>>
    assert.deepEqual(job.hashfiles, ['fixtures/debian-debs/SHA256SUMS-amd64'])
    assert.deepEqual(job.providers, ['file:///tb/debs/{{.Name}}'])
    assert.equal(job.expectedDigest, undefined)
  })

  it('golden: the expected digest, or why there is none', () => {
    const g: Golden = {bases: {busybox: D('b')}, digests: {x: {'v0.32.2': {'linux/amd64': D('1')}}}}
    const key = {fixture: 'x', buildkit: 'v0.32.2', platform: 'linux/amd64'}
    assert.deepEqual(goldenFor(g, key, {busybox: D('b')}), {expected: D('1')})
    assert.match(
      goldenFor(g, key, {busybox: D('c')}).problem ?? '',
      /^golden base-changed: golden .* was recorded with base busybox/,
    )
    assert.match(
      goldenFor(g, {...key, fixture: 'y'}, {}).problem ?? '',
      /^golden missing: no golden digest for y v0.32.2 linux\/amd64/,
    )
  })

  it('digests that may become golden: reproduced jobs whose runtimes agree', () => {
    const job = (id: string, digest: string, extra: Partial<MatrixJobResult> = {}): MatrixJobResult => ({
      id,
      index: 0,
      fixture: id.split('/')[0],
      context: `fixtures/${id.split('/')[0]}`,
      dockerfile: 'Dockerfile',
      runtime: id.split('/')[2],
      builder: 'b',
      platforms: [],
      platform: 'linux/amd64',
      status: 'pass',
      expect: 'reproducible',
      digest,
      builds: [],
      reproduced: true,
      causes: [],
      failures: [],
      log: '',
      inputHash: '',
      ...extra,
    })
    const r = buildReport(
      'nightly',
      [
        job('a/v0.32.2/docker', D('1')),
        job('a/v0.32.2/buildkit', D('1')),
        job('b/v0.32.2/docker', D('2')),
        job('b/v0.32.2/buildkit', D('3')),
        job('c/v0.32.2/buildkit', D('4'), {reproduced: false, status: 'fail'}),
        job('d/v0.32.2/buildkit', D('5'), {expect: 'not-reproducible'}),
      ],
      [
        {key: 'a/v0.32.2', platform: 'linux/amd64', digests: {}, agree: true, causes: [], detail: ''},
        {key: 'b/v0.32.2', platform: 'linux/amd64', digests: {}, agree: false, causes: [], detail: 'x'},
      ],
    )
    assert.deepEqual(observedDigests(r), [{fixture: 'a', buildkit: 'v0.32.2', platform: 'linux/amd64', digest: D('1')}])
    assert.deepEqual(r.summary, {jobs: 6, passed: 5, failed: 1, errors: 0, disagreements: 1})
    assert.equal(r.failures.at(-1), 'b/v0.32.2 linux/amd64: jobs disagree: x')
  })
})
