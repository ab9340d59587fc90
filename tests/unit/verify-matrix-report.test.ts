/**
 * The pure parts of the verify --matrix runner and its report: a job's verdict from verify()'s result (a
 * canary must not reproduce), the causes with their paths, the build input a job becomes, the resume key (the
 * content of what the job reads, not where it sits in the file), the summary and the Markdown (deterministic,
 * cells escaped).
 */
import assert from 'node:assert/strict'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {VerifyResult} from '../../src/verify/index.js'
import {parseMatrix} from '../../src/verify/matrix/parse.js'
import {buildReport, reportJson, reportMarkdown} from '../../src/verify/matrix/report.js'
import {causesOf, jobBuildInput, jobDir, jobInputHash, jobResult, writeAtomic} from '../../src/verify/matrix/run.js'

const D = (c: string) => `sha256:${c.repeat(64)}`

const MATRIX = `builders:
  bk: {runtime: buildkit, addr: "unix:///run/bk.sock", image: "moby/buildkit:v0.19.0", allowUnpinned: true}
jobs:
  - {id: app/one, context: app, builder: bk, buildArgs: {A: "1"}, buildContexts: {base: "oci-layout:///tb/oci@${D('c')}", extra: sub}}
  - {id: canary, context: app, builder: bk, expect: not-reproducible, expectCauses: [file-content]}
  - {id: third, context: "we|ird", runtime: docker}
`

function verified(reproduced: boolean, extra: Partial<VerifyResult> = {}): VerifyResult {
  return {
    schemaVersion: 1,
    reproduced,
    digest: reproduced ? D('1') : undefined,
    runtimes: ['buildkit'],
    sourceDateEpoch: 0,
    builds: [1, 2].map((attempt) => ({
      runtime: 'buildkit',
      attempt,
      digest: reproduced || attempt === 1 ? D('1') : D('2'),
      archiveSha256: 'x',
      platform: 'linux/amd64',
      seconds: 1.5,
      runtimeVersion: 'v0.32.2',
      buildkitVersion: 'v0.19.0',
    })),
    checks: reproduced
      ? [{name: 'rebuilds-agree', ok: true, detail: 'one digest'}]
      : [{name: 'rebuilds-agree', ok: false, detail: '2 different digests'}],
    warnings: [],
    ...(reproduced
      ? {}
      : {
          diff: {
            a: 'buildkit #1',
            b: 'buildkit #2',
            same: false,
            differences: 2,
            causes: [{cause: 'file-content', category: 'content', count: 2, title: 'file content differs', hint: ''}],
            events: ['stamp', 'stamp', 'other', 'a', 'b'].map((p) => ({
              kind: 'file' as const,
              platform: 'linux/amd64',
              path: p,
              field: 'content',
              a: '1',
              b: '2',
              cause: 'file-content' as const,
              category: 'content' as const,
              hint: '',
            })),
          },
        }),
    ...extra,
  }
}

describe('verify --matrix: verdicts and reports', () => {
  const m = parseMatrix(MATRIX, '/w/matrix.yaml')
  const [one, canary, piped] = m.jobs
  const base = (id: string) => ({log: `${jobDir(id)}/log.txt`, inputHash: D('f'), diffReportDir: `${jobDir(id)}/diff`})

  it('a job that reproduced passes; one that did not fails with its checks and causes, and links its diff', () => {
    const pass = jobResult(one, base(one.id), verified(true))
    assert.equal(pass.status, 'pass')
    assert.equal(pass.digest, D('1'))
    assert.equal(pass.buildkit, 'v0.19.0')
    assert.equal(pass.runtimeVersion, 'v0.32.2')
    assert.equal(pass.platform, 'linux/amd64')
    assert.equal(pass.diffReportDir, undefined, 'no diff, no link')
    assert.equal(pass.log, 'jobs/app/one/log.txt')
    assert.deepEqual(pass.builds[0], {attempt: 1, digest: D('1'), archiveSha256: 'x', platform: 'linux/amd64'})
    const fail = jobResult(one, base(one.id), verified(false))
    assert.equal(fail.status, 'fail')
    assert.equal(fail.digest, undefined)
    assert.equal(fail.diffReportDir, 'jobs/app/one/diff')
    assert.equal(fail.differences, 2)
    assert.deepEqual(fail.causes, [
      {cause: 'file-content', count: 2, title: 'file content differs', paths: ['stamp', 'other', 'a']},
    ])
    assert.deepEqual(fail.failures, [
      'app/one: not reproduced: rebuilds-agree: 2 different digests; causes: file-content (2)',
    ])
  })

  it('a canary passes when it does not reproduce with the expected cause, fails otherwise', () => {
    assert.equal(jobResult(canary, base('canary'), verified(false)).status, 'pass')
    const reproduced = jobResult(canary, base('canary'), verified(true))
    assert.equal(reproduced.status, 'fail')
    assert.match(reproduced.failures[0], /^canary: reproduced \(111111111111\) but it is expected not to$/)
    const otherCause = verified(false)
    otherCause.diff!.causes[0].cause = 'history'
    otherCause.diff!.events.forEach((e) => (e.cause = 'history'))
    assert.match(
      jobResult(canary, base('canary'), otherCause).failures[0],
      /did not name file-content; causes: history \(2\)/,
    )
  })

  it('causes keep the first three distinct paths of each cause', () => {
    assert.deepEqual(
      causesOf(
        [
          {cause: 'a', count: 1, title: 'A'},
          {cause: 'b', count: 4, title: 'B'},
        ],
        [
          {cause: 'b', path: 'x'},
          {cause: 'b', path: 'x'},
          {cause: 'b', path: 'y'},
          {cause: 'b', path: ''},
        ],
      ),
      [
        {cause: 'a', count: 1, title: 'A'},
        {cause: 'b', count: 4, title: 'B', paths: ['x', 'y']},
      ],
    )
  })

  it("a job's build input: absolute paths under the matrix file's directory, the builder's engine, never cached", () => {
    const b = jobBuildInput(m, one, {DOCKER_HOST: 'unix:///d.sock'}, '/tmp/w')
    assert.equal(b.context, '/w/app')
    assert.equal(b.file, '/w/app/Dockerfile')
    assert.equal(b.cwd, '/w')
    assert.deepEqual(b.buildArgs, ['A=1'])
    assert.deepEqual(b.buildContexts, [`base=oci-layout:///tb/oci@${D('c')}`, 'extra=/w/sub'])
    assert.equal(b.runtime, 'buildkit')
    assert.equal(b.buildkitAddr, 'unix:///run/bk.sock')
    assert.equal(b.buildkitImage, 'moby/buildkit:v0.19.0')
    assert.equal(b.allowUnpinnedBuilder, true)
    assert.equal(b.noCache, true)
    assert.equal(b.sde, '0')
    assert.equal(b.env.DOCKER_HOST, 'unix:///d.sock')
  })

  it('summary, failures and a Markdown report that is deterministic and escapes table cells', () => {
    const jobs = [
      jobResult(one, base(one.id), verified(false)),
      jobResult(canary, base('canary'), verified(false)),
      {...jobResult(piped, base(piped.id), verified(true)), failures: []},
    ]
    const r = buildReport('matrix.yaml', jobs, [
      {
        key: 'k',
        platform: 'linux/amd64',
        digests: {a: D('1'), b: D('2')},
        agree: false,
        causes: [],
        detail: 'a 1, b 2',
      },
    ])
    assert.equal(r.ok, false)
    assert.deepEqual(r.summary, {jobs: 3, passed: 2, failed: 1, errors: 0, disagreements: 1})
    assert.deepEqual(r.failures, [
      'app/one: not reproduced: rebuilds-agree: 2 different digests; causes: file-content (2)',
      'k linux/amd64: jobs disagree: a 1, b 2',
    ])
    const md = reportMarkdown(r)
    assert.equal(md, reportMarkdown(structuredClone(r)))
    assert.match(md, /^# repro verify --matrix matrix\.yaml: FAIL\n/)
    assert.match(
      md,
      /\| app\/one \| app \| bk \| v0\.19\.0 \| linux\/amd64 \| ❌ \| - \| `file-content` \(2\) \[diff\]\(jobs\/app\/one\/diff\/report\.json\) \|/,
    )
    assert.match(md, /\| canary \|.*✅ not reproduced \(expected\)/)
    assert.match(md, /\| third \| we\\\|ird \| docker \|/)
    assert.doesNotMatch(md, /\| time/, 'no times without --timings')
    assert.doesNotMatch(reportJson(r), /seconds|startedAt/)
    const timed = reportMarkdown({
      ...r,
      timings: {
        startedAt: '2026-01-01T00:00:00.000Z',
        seconds: 3,
        concurrency: 2,
        jobs: {
          'app/one': {seconds: 3, resumed: false, buildSeconds: [1.5, 1.25]},
          canary: {seconds: 0, resumed: true, buildSeconds: []},
        },
      },
    })
    assert.match(timed, /took 3 s with 2 at once/)
    assert.match(timed, /\| 1\.5 \+ 1\.3 s \|/)
    assert.match(timed, /\| canary \|.*\| resumed \|/)
  })

  describe('the resume key and atomic writes', () => {
    let dir: string
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'repro-matrix-hash-'))
      await mkdir(path.join(dir, 'app'))
      await writeFile(path.join(dir, 'app', 'Dockerfile'), 'FROM scratch\nCOPY f /\n')
      await writeFile(path.join(dir, 'app', 'f'), 'one\n')
    })
    after(async () => {
      await rm(dir, {recursive: true, force: true})
    })

    it('the same inputs give the same key wherever the job sits in the file; a changed file or option changes it', async () => {
      const file = path.join(dir, 'matrix.yaml')
      const mm = parseMatrix('jobs:\n  - {id: a, context: app, runtime: buildkit}\n', file)
      const moved = parseMatrix(
        'jobs:\n  - {id: z, context: app, runtime: docker}\n  - {id: a, context: app, runtime: buildkit}\n',
        file,
      )
      const h = await jobInputHash(mm, mm.jobs[0])
      assert.match(h, /^sha256:[a-f0-9]{64}$/)
      assert.equal(await jobInputHash(moved, moved.jobs[1]), h)
      const arg = parseMatrix('jobs:\n  - {id: a, context: app, runtime: buildkit, buildArgs: {X: "1"}}\n', file)
      assert.notEqual(await jobInputHash(arg, arg.jobs[0]), h)
      await writeFile(path.join(dir, 'app', 'f'), 'two\n')
      assert.notEqual(await jobInputHash(mm, mm.jobs[0]), h)
    })

    it('writeAtomic leaves the whole file and no partial one', async () => {
      const f = path.join(dir, 'state', 'x.json')
      await writeAtomic(f, '{"a":1}\n')
      await writeAtomic(f, '{"a":2}\n')
      assert.deepEqual(await readdir(path.join(dir, 'state')), ['x.json'])
    })
  })
})
