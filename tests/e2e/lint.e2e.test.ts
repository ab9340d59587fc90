/**
 * `repro lint IMAGE` and `repro diff`'s content causes on images built by a real BuildKit from the test bed
 * (tests/e2e/testbed), through `repro build --runtime buildkit` as users run it:
 *   1. one Dockerfile that writes `date +%s` and a gzip file (GNU gzip without -n: its header holds the mtime
 *      of its input) built twice with the same SOURCE_DATE_EPOCH, 2 s apart: `repro diff` names
 *      timestamp-in-content and gzip-mtime with both values decoded, `repro lint` on either image flags both;
 *   2. the nightly fixtures (nightly/fixtures/*) built as the nightly builds them (SOURCE_DATE_EPOCH 0, the
 *      test bed's bases, the test bed's .debs by hash file): the date canary is flagged, the careful ones are
 *      clean; and the test bed's own base images.
 * The clock Dockerfile uses the Debian base: busybox's gzip always writes MTIME 0.
 */
import assert from 'node:assert/strict'
import {cp, mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'

import type {DiffResult} from '../../src/diff/types.js'
import type {LintResult} from '../../src/lint/types.js'
import {ROOT, runCli} from '../support/cli.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

const SDE = 1_700_000_000

describe('repro lint IMAGE and repro diff causes on real BuildKit builds', () => {
  let state: TestbedState
  let dir: string
  let env: Record<string, string>
  let runtime: string[]
  const images: Record<string, string> = {}

  async function build(context: string, out: string, extra: string[]): Promise<void> {
    const args = ['build', ...runtime, '--no-cache', '--json', '-o', out, ...extra, context]
    const r = await runCli(args, {cwd: dir, env, timeoutMs: 10 * 60_000})
    assert.equal(r.code, 0, `repro ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-3000)}`)
  }

  before(async () => {
    state = readTestbedState()
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(bk?.running && bk.host && bk.buildctl, `test bed: buildkitd ${state.buildkit.default} is not running`)
    assert.ok(state.images?.debian?.ociLayout && state.images.busybox?.ociLayout, 'test bed: no base image layouts')
    dir = await mkdtemp(path.join(tmpdir(), 'repro-lint-e2e-'))
    env = {PATH: `${path.dirname(bk.buildctl)}:${process.env.PATH}`}
    runtime = ['--runtime', 'buildkit', '--buildkit-addr', bk.host]
    const clock = path.join(dir, 'clock')
    await mkdir(clock)
    await writeFile(
      path.join(clock, 'Dockerfile'),
      'FROM base\nRUN date +%s > /stamp && echo hello > /hello.txt && gzip /hello.txt\n',
    )
    const base = ['--build-context', `base=oci-layout://${state.images.debian.ociLayout}`, '--sde', String(SDE)]
    await build(clock, path.join(dir, 'clock-1.tar'), base)
    // the build clock must move between the two builds (date +%s has a resolution of one second)
    await sleep(2000)
    await build(clock, path.join(dir, 'clock-2.tar'), base)
    images.clock1 = path.join(dir, 'clock-1.tar')
    images.clock2 = path.join(dir, 'clock-2.tar')
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('repro diff names timestamp-in-content and gzip-mtime with both values decoded', async () => {
    const r = await runCli(['diff', '--json', images.clock1, images.clock2], {cwd: dir})
    assert.equal(r.code, 1, r.stderr)
    const d = JSON.parse(r.stdout) as DiffResult
    const files = d.differences.filter((e) => e.kind === 'file')
    assert.deepEqual(
      files.map((e) => [e.path, e.field, e.cause]),
      [
        ['hello.txt.gz', 'content', 'gzip-mtime'],
        ['stamp', 'content', 'timestamp-in-content'],
      ],
    )
    const stamp = files.find((e) => e.path === 'stamp')!
    const m =
      /^(\d{10}) vs (\d{10}): epoch seconds (\d+) s apart, (both on \d{4}-\d{2}-\d{2}|on .*) \(UTC\), both after SOURCE_DATE_EPOCH 1700000000: the build clock$/.exec(
        stamp.detail ?? '',
      )
    assert.ok(m, `stamp detail: ${stamp.detail}`)
    assert.ok(Number(m[2]) - Number(m[1]) >= 2, stamp.detail)
    assert.equal(Number(m[3]), Number(m[2]) - Number(m[1]))
    // the decoded values are the ones in the files: the unified diff shows them
    assert.match(stamp.diff ?? '', new RegExp(`-${m[1]}\\n\\+${m[2]}`))
    const gz = files.find((e) => e.path === 'hello.txt.gz')!
    const g = /^gzip header mtime (\d+) vs (\d+): (\d+) s apart \(/.exec(gz.detail ?? '')
    assert.ok(g, `gzip detail: ${gz.detail}`)
    assert.ok(Number(g[2]) > Number(g[1]) && Number(g[1]) > SDE, gz.detail)
    // gzip ran right after date in the same RUN: the same clock, within a second or two
    assert.ok(Math.abs(Number(g[1]) - Number(m[1])) <= 2, `${gz.detail} / ${stamp.detail}`)
    assert.deepEqual(d.summary.causes.map((c) => c.cause).sort(), ['gzip-mtime', 'timestamp-in-content'])
    // the text rendering shows the decoded values too
    const text = await runCli(['diff', images.clock1, images.clock2], {cwd: dir})
    assert.match(text.stdout, /layer 2: \/stamp: timestamp-in-content: \d{10} vs \d{10}: epoch seconds/)
    assert.match(text.stdout, /layer 2: \/hello\.txt\.gz: gzip-mtime: gzip header mtime \d+ vs \d+/)
  })

  it('repro lint flags both in the built image, and nothing in the base layer', async () => {
    for (const img of [images.clock1, images.clock2]) {
      const r = await runCli(['lint', '--json', img], {cwd: dir})
      assert.equal(r.code, 1, r.stderr)
      const json = JSON.parse(r.stdout) as LintResult
      assert.deepEqual(
        json.findings.map((f) => [f.rule, f.image!.path, f.image!.layer]),
        [
          ['RL103', 'hello.txt.gz', 2],
          ['RL101', 'stamp', 2],
        ],
      )
      assert.equal(json.files[0].scans![0].sde, SDE)
      assert.equal(json.files[0].scans![0].layersSkipped, 1, 'the Debian base layer is taken as the base')
    }
  })

  describe('the nightly fixtures, built as the nightly builds them (SOURCE_DATE_EPOCH 0)', () => {
    const fixtures = path.join(ROOT, 'nightly', 'fixtures')
    const results: Record<string, LintResult> = {}

    before(async () => {
      for (const name of (await readdir(fixtures)).sort()) {
        const ctx = path.join(dir, 'fixtures', name)
        await cp(path.join(fixtures, name), ctx, {recursive: true})
        const meta = await import('node:fs').then((fs) => fs.readFileSync(path.join(ctx, 'fixture.yaml'), 'utf8'))
        const base = /^base: (\w+)$/m.exec(meta)?.[1] as 'busybox' | 'debian' | undefined
        const hashfile = /^hashfile: (\S+)$/m.exec(meta)?.[1]
        const extra = ['--sde', '0']
        if (base) extra.push('--build-context', `base=oci-layout://${state.images[base].ociLayout}`)
        if (hashfile) {
          extra.push(
            '--hashfile',
            path.join(ctx, hashfile),
            '--provider',
            `file://${state.debs.dir}/{{.Name}}`,
            '--pkg-cache',
            path.join(dir, 'pkg-cache'),
          )
        }
        const out = path.join(dir, `fixture-${name}.tar`)
        await build(ctx, out, extra)
        const r = await runCli(['lint', '--json', out], {cwd: dir})
        assert.ok(r.code === 0 || r.code === 1, `lint ${name}: exit ${r.code}\n${r.stderr}`)
        results[name] = JSON.parse(r.stdout) as LintResult
        console.log(
          `lint ${name}: ${results[name].findings.map((f) => `${f.rule} /${f.image!.path}`).join(', ') || 'clean'}; ${JSON.stringify(results[name].files[0].scans)}`,
        )
      }
    })

    it('the date canary is flagged: epoch nanoseconds in /stamp', () => {
      const canary = results['canary-date']
      assert.ok(canary, 'canary-date was built')
      assert.deepEqual(
        canary.findings.map((f) => [f.rule, f.image!.path]),
        [['RL101', 'stamp']],
      )
      assert.match(canary.findings[0].message, /^\/stamp: \d{19}: epoch nanoseconds, \d{4}-\d{2}-\d{2} /)
      assert.equal(canary.failed, true)
    })

    it('the careful fixtures are clean', () => {
      const careful = Object.keys(results).filter((n) => n !== 'canary-date')
      assert.deepEqual(careful, ['busybox-run', 'debian-debs', 'scratch-copy'])
      for (const name of careful) {
        assert.deepEqual(results[name].findings, [], `${name}: ${JSON.stringify(results[name].findings)}`)
        assert.equal(results[name].failed, false)
      }
      // debian-debs installs real .debs: its layer was read, and files that are a package's own bytes are exempt
      assert.ok(results['debian-debs'].files[0].scans![0].filesRead > 10)
    })
  })

  it('daemon and registry references: docker:// (docker save) and registry:// (the test bed registry)', async () => {
    for (const ref of [`docker://${state.images.busybox.name}`, `registry://${state.images.busybox.registryRef}`]) {
      const r = await runCli(['lint', '--json', ref], {cwd: dir, env: {DOCKER_HOST: state.docker.host}})
      assert.equal(r.code, 0, `${ref}: ${r.stderr}`)
      const json = JSON.parse(r.stdout) as LintResult
      assert.equal(json.files[0].kind, 'image')
      assert.equal(json.files[0].file, ref)
      assert.ok(
        json.files[0].scans![0].layersScanned === 1 && json.files[0].scans![0].files >= 1,
        `${ref}: ${JSON.stringify(json.files[0].scans)}`,
      )
    }
  })

  it("the test bed's base images: busybox clean; Debian's /etc/shadow days are later than its SOURCE_DATE_EPOCH 0", async () => {
    let r = await runCli(['lint', '--json', state.images.busybox.ociArchive], {cwd: dir})
    assert.equal(r.code, 0, r.stdout)
    r = await runCli(['lint', '--json', state.images.debian.ociArchive], {cwd: dir})
    const json = JSON.parse(r.stdout) as LintResult
    assert.deepEqual(
      json.findings.map((f) => [f.rule, f.image!.path]),
      [['RL110', 'etc/shadow']],
    )
    assert.ok(json.files[0].scans![0].packageFiles > 0, 'Debian package files with dates in them are exempt')
  })
})
