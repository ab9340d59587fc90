/**
 * The HTML reports on real archives (written by tests/support/image-fixtures.ts, not by the reader) and on
 * generated hostile results: what the pages show, that they are deterministic, that nothing from an image can
 * become markup (every tag and attribute in the page is one the renderer writes), and the caps that bound size.
 * The browser test (tests/e2e/html-browser.e2e.test.ts) opens pages like these in Chromium.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, readdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {ignoreOptions} from '../../src/diff/ignore.js'
import {diffImages} from '../../src/diff/index.js'
import type {DiffEvent, DiffResult} from '../../src/diff/types.js'
import {InvalidArgumentError} from '../../src/errors.js'
import {dataBlock, DIFF_SCRIPT, renderDiffHtml} from '../../src/report/html/diff-page.js'
import {printable, safeHref, text} from '../../src/report/html/escape.js'
import {diffWithHtml} from '../../src/report/html/index.js'
import {type MatrixReportLike, renderHistoryHtml, renderMatrixHtml} from '../../src/report/html/matrix-page.js'
import {writeReportPages} from '../../src/report/html/reports.js'
import {renderVerifyHtml} from '../../src/report/html/verify-page.js'
import {runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {buildImage, type FileSpec, tempDir, writeArchive} from '../support/image-fixtures.js'

let dir: string
before(async () => {
  dir = await tempDir('repro-html-')
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

// every element and attribute the renderers write; anything else in a page came from data
const TAGS = new Set(
  'html head meta title style body main a h1 h2 h3 div strong br span ol li code dl dt dd ul p section details summary table colgroup col thead tbody tr th td label input select option button pre mark'.split(
    ' ',
  ),
)
const ATTRS = new Set(
  'lang charset http-equiv content name class href id role hidden open disabled data-cause data-c data-k data-grp data-first data-cat data-job type checked value colspan scope aria-label aria-live aria-hidden title'.split(
    ' ',
  ),
)

/** assert.match, without printing a whole page when it fails */
function match(html: string, re: RegExp): void {
  assert.ok(re.test(html), `the page does not match ${re}`)
}

function noMatch(html: string, re: RegExp): void {
  const m = re.exec(html)
  assert.ok(!m, `the page matches ${re}: ${m?.[0].slice(0, 200)}`)
}

/** Strip our own script and style, then check every tag and attribute against the renderer's vocabulary. */
function assertNoInjection(html: string): void {
  const scripts = html.split('<script>').length - 1
  let rest = html
  if (scripts > 0) {
    assert.equal(scripts, 1, 'one script at most')
    assert.ok(html.includes(`<script>${DIFF_SCRIPT}</script>`), 'the only script is the renderer constant')
    rest = html.replace(`<script>${DIFF_SCRIPT}</script>`, '')
  }
  rest = rest.replace(/<style>[^<]*<\/style>/, '').replace('<!doctype html>', '')
  // the rows left to the script: one JSON data block, whose every row is checked the same way
  const block = /<script type="application\/json" id="more">(.*?)<\/script>/s.exec(rest)
  if (block) {
    rest = rest.replace(block[0], '')
    assert.ok(!/<\/|<!/.test(block[1]), 'the data block cannot end the script element or start a comment')
    const data = JSON.parse(block[1]) as {k: string[][]; r: Array<[number, number, string]>}
    for (const row of data.r) assertNoInjection(`<table><tbody>${row[2]}</tbody></table>`)
  }
  let tags = 0
  for (const m of rest.matchAll(/<(\/?)([a-z0-9]+)((?:\s[a-z-]+(?:="[^"<>]*")?)*)\s*>/g)) {
    tags++
    assert.ok(TAGS.has(m[2]), `unexpected element <${m[2]}>`)
    for (const a of m[3].matchAll(/\s([a-z-]+)(?:="([^"]*)")?/g)) {
      assert.ok(ATTRS.has(a[1]), `unexpected attribute ${a[1]} on <${m[2]}>`)
      if (a[1] === 'href') noMatch(a[2] ?? '', /^\s*(javascript|data|vbscript|https?|file):/i)
    }
  }
  // every '<' left is the start of one of the tags above: none came from data
  assert.equal((rest.match(/</g) ?? []).length, tags, 'a "<" outside the renderer\'s own tags')
  // nothing invisible or control in the page: the renderer made it visible
  // eslint-disable-next-line no-control-regex
  noMatch(rest, /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/)
}

function layers(v: string, evil: string): FileSpec[][] {
  return [
    [
      {path: 'app/', type: 'dir'},
      {content: `line 1\nversion ${v}\nline 3\n`, path: 'app/main.txt'},
      {content: `<img src=x onerror=alert(1)>${v}</script><script>alert(2)</script>\n\u0000`, path: `app/${evil}`},
      {
        content: Buffer.concat([Buffer.alloc(1000, 1), Buffer.from(v), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0])]),
        path: 'app/data.bin',
      },
    ],
  ]
}

const EVIL = `<script>alert(1)</script>"'\u202Eevil\u0001 &amp; <!--.txt`

async function pair(name: string): Promise<{a: string; b: string}> {
  const mk = async (v: string): Promise<string> => {
    const img = await buildImage({layers: layers(v, EVIL), containerConfig: {Labels: {'</title><svg onload=x>': v}}})
    const out = path.join(dir, `${name}-${v}.tar`)
    await writeArchive('oci-archive', [img], out)
    return out
  }
  return {a: await mk('1'), b: await mk('2')}
}

describe('repro diff --html on real archives', () => {
  test('verdict, causes, side-by-side text diff, hex summary of a binary, links; deterministic bytes', async () => {
    const {a, b} = await pair('real')
    const f1 = path.join(dir, 'one.html')
    const f2 = path.join(dir, 'two.html')
    const r1 = await diffWithHtml(a, b, f1, {ignore: ignoreOptions({})})
    await diffWithHtml(a, b, f2, {ignore: ignoreOptions({})})
    const html = readFileSync(f1, 'utf8')
    assert.ok(readFileSync(f1).equals(readFileSync(f2)), 'two renders of the same pair are byte-equal')
    assert.equal(r1.reportDir, undefined, 'the temp directory is not reported')
    match(html, /<strong>Not the same: 4 differences<\/strong>/)
    // causes first, content before metadata, each linking to its first difference
    assert.ok(html.indexOf('id="cause-file-content"') < html.indexOf('id="cause-label"'))
    assert.ok(html.indexOf('id="causes"') < html.indexOf('id="differences"'))
    match(html, /<a href="#d-\d+" data-cause="file-content">show these 3<\/a>/)
    match(html, /<a href="#cause-label">label<\/a>/)
    // side by side: line 2 differs, lines 1 and 3 are context on both sides
    match(
      html,
      /<td class="n">2<\/td><td class="del">version 1<\/td><td class="n">2<\/td><td class="add">version 2<\/td>/,
    )
    match(html, /first difference at byte 1000 \(0x3e8\); sizes 1006 and 1006 bytes/)
    match(html, /<mark>31<\/mark>/)
    // the hostile name is shown, visibly escaped, and is not markup
    assert.ok(html.includes(text(`/app/${EVIL}`)))
    assert.ok(html.includes('\\u202eevil\\x01'))
    assertNoInjection(html)
    assert.equal(await readdir(dir).then((l) => l.filter((n) => n.startsWith('repro-html-')).length), 0)
  })

  test('--report-dir gets report.html with links into a/ and b/; --html elsewhere links there too', async () => {
    const {a, b} = await pair('rd')
    const rd = path.join(dir, 'rd-report')
    await mkdir(path.join(dir, 'pages'))
    const page = path.join(dir, 'pages', 'diff.html')
    await diffWithHtml(a, b, page, {ignore: ignoreOptions({}), reportDir: rd})
    const inside = readFileSync(path.join(rd, 'report.html'), 'utf8')
    match(inside, /<a href="a\/app\/data.bin">A file<\/a>/)
    const outside = readFileSync(page, 'utf8')
    match(outside, /<a href="..\/rd-report\/b\/app\/data.bin">B file<\/a>/)
    // each segment of a hostile name is percent-encoded (its '/' in '</script>' is a directory of the layer)
    const evilHref = `../rd-report/a/${`app/${EVIL}`.split('/').map(encodeURIComponent).join('/').replace(/'/g, '&#39;')}`
    assert.ok(outside.includes(evilHref), [...outside.matchAll(/href="([^"]*evil[^"]*)"/g)].map((m) => m[1]).join(' '))
    for (const h of [...outside.matchAll(/href="(\.\.\/rd-report\/[^"#]+)"/g)].map((m) => m[1]))
      assert.ok(existsSync(path.join(dir, 'pages', decodeURIComponent(h.replace(/&#39;/g, "'")))), h)
    assertNoInjection(inside)
    assertNoInjection(outside)
  })

  test('the CLI: --html writes the page and exits 1; a missing directory is an error before any work', async () => {
    const {a, b} = await pair('cli')
    const out = path.join(dir, 'cli.html')
    const r = await runCli(['diff', a, b, '--html', out])
    assert.equal(r.code, 1, r.stderr)
    match(readFileSync(out, 'utf8'), /Not the same: 4 differences/)
    const bad = await runCli(['diff', a, b, '--html', path.join(dir, 'nope', 'x.html')])
    assert.equal(bad.code, 2)
    match(bad.stderr, /--html .*nope.*x\.html: directory .* does not exist/)
    const same = await runCli(['diff', a, a, '--html', path.join(dir, 'same.html')])
    assert.equal(same.code, 0, same.stderr)
    const s = readFileSync(path.join(dir, 'same.html'), 'utf8')
    match(s, /<div class="verdict ok"[^>]*><strong>Same image<\/strong>/)
    assert.ok(!s.includes('<script>'), 'no script when there is nothing to filter')
  })
})

/** A seeded generator (mulberry32): the hostile cases are the same on every run. */
function rng(seed: number): () => number {
  let s = seed
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const PIECES = [
  '<script>alert(1)</script>',
  '</script><script>',
  '<img src=x onerror=alert(1)>',
  '"><svg onload=alert(1)>',
  "' onmouseover='x",
  '<!--',
  '-->',
  ']]>',
  '&amp;',
  '&#x3C;',
  'javascript:alert(1)',
  '\u0000',
  '\u001B[31m',
  '\u007F',
  '\u0085',
  '\u202E',
  '\u2066',
  '\u200B',
  '\uFEFF',
  '\uD800',
  '\uDFFF',
  '\uFFFD',
  '\r\n',
  '\t',
  '/../../etc/passwd',
  '%2e%2e/',
  '\\',
  '😀',
  'ａ',
  'plain',
]

function hostile(r: () => number, n = 6): string {
  let s = ''
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)]
  return s
}

function hostileResult(seed: number, count: number, withDiffs = true): DiffResult {
  const r = rng(seed)
  const causes = ['file-content', 'label', hostile(r, 2), 'new-cause-from-another-branch']
  const cats = ['content', 'metadata', 'packaging', hostile(r, 2)]
  const differences: DiffEvent[] = []
  for (let i = 0; i < count; i++) {
    const c = Math.floor(r() * causes.length)
    const kinds = ['file', 'config', 'manifest', 'layer', 'index'] as const
    const e: DiffEvent = {
      kind: kinds[Math.floor(r() * kinds.length)],
      platform: r() < 0.9 ? 'linux/amd64' : hostile(r, 2),
      layer: r() < 0.5 ? 1 + Math.floor(r() * 3) : undefined,
      path: `d${String(i).padStart(5, '0')}/${hostile(r)}`,
      field: r() < 0.5 ? 'content' : hostile(r, 2),
      a: r() < 0.1 ? null : hostile(r, 8),
      b: r() < 0.1 ? null : hostile(r, 8),
      cause: causes[c] as DiffEvent['cause'],
      category: cats[c % cats.length] as DiffEvent['category'],
      hint: hostile(r),
    }
    if (withDiffs && r() < 0.3) {
      const lines = Array.from({length: 5}, () => hostile(r, 3).replace(/[\r\n]/g, ''))
      e.diff = `--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n ${lines[0]}\n-${lines[1]}\n+${lines[2]}\n`
    }
    differences.push(e)
  }
  return {
    schemaVersion: 1,
    a: {input: hostile(r), format: hostile(r, 2), imageDigest: hostile(r, 2), platforms: []},
    b: {input: hostile(r), format: 'oci-archive', imageDigest: null, platforms: []},
    same: count === 0,
    summary: {
      differences: count,
      notes: 0,
      ignored: 0,
      byCategory: {content: 1, metadata: 1, packaging: 1},
      causes: causes.map((cause, i) => ({
        cause: cause as DiffEvent['cause'],
        category: cats[i % cats.length] as DiffEvent['category'],
        count: 1,
        title: hostile(r),
        hint: hostile(r),
      })),
      layersCompared: 1,
      layersSkipped: 0,
      filesCompared: count,
    },
    differences,
    notes: [],
    warnings: [hostile(r), hostile(r)],
  }
}

describe('hostile results (generated, seeded)', () => {
  test('no markup from data, whatever the strings: 20 seeds × 300 differences', {timeout: 60_000}, () => {
    for (let seed = 1; seed <= 20; seed++) assertNoInjection(renderDiffHtml(hostileResult(seed, 300)))
  })

  test('the data block round-trips any string and can neither close its script nor open a comment', () => {
    const r = rng(11)
    for (let i = 0; i < 500; i++) {
      const data = {k: [[hostile(r), hostile(r)]], r: [[i, 0, hostile(r, 12)]]}
      const block = dataBlock(data)
      assert.ok(!/<\/|<!/i.test(block), block)
      assert.deepEqual(JSON.parse(block), JSON.parse(JSON.stringify(data)))
    }
  })

  test('safeHref(): relative paths only', () => {
    for (const bad of [
      'javascript:alert(1)',
      ' JaVaScRiPt:x',
      'java\tscript:x',
      'data:text/html,x',
      '//evil.example/x',
      'https://x',
      'file:///etc/passwd',
      '\\\\host\\x',
    ])
      assert.equal(safeHref(bad), undefined, bad)
    for (const ok of ['jobs/a/diff/report.html', '../index.html', 'a%3Ab.html', '#job-x'])
      assert.equal(safeHref(ok), ok)
  })

  test('printable(): controls, bidi and lone surrogates become visible escapes; pairs survive', () => {
    assert.equal(printable('a\u0000b\u202Ec\uD800d😀'), 'a\\x00b\\u202ec\uFFFDd😀')
    assert.equal(text('<a href="x">'), '&lt;a href=&quot;x&quot;&gt;')
  })

  test(
    '10,000 hostile differences: under 10 MB, first 1,000 rows visible without JS, deterministic',
    {timeout: 60_000},
    () => {
      const result = hostileResult(99, 10_000)
      const html = renderDiffHtml(result)
      assert.equal(html, renderDiffHtml(hostileResult(99, 10_000)))
      const size = Buffer.byteLength(html)
      assert.ok(size < 10 * 1024 * 1024, `page is ${size} bytes`)
      const rows = [...html.matchAll(/<tbody class="d" id="d-(\d+)"[^>]*?( hidden)?>/g)]
      assert.equal(rows.length, 1000, 'the first 1,000 are in the page')
      assert.ok(rows.every((m, i) => !m[2] && m[1] === String(i)))
      const block = /<script type="application\/json" id="more">(.*?)<\/script>/s.exec(html)
      const deferred = JSON.parse(block?.[1] ?? '{}') as {k: string[][]; r: Array<[number, number, string]>}
      assert.equal(deferred.r.length, 9000, 'the other 9,000 wait for the script')
      assert.ok(deferred.r.every((r) => /^<tr><td class="v">\/?d\d{5}\//.test(r[2]) && deferred.k[r[1]].length === 2))
      match(html, /The first 1000 of 10000 differences are shown/)
      assertNoInjection(html)
    },
  )

  test('caps: a text diff over 64 KiB is not inlined; inline diffs stop at 4 MiB per page', () => {
    const big = hostileResult(5, 1, false)
    big.differences[0] = {
      ...big.differences[0],
      kind: 'file',
      field: 'content',
      diff: `@@ -1 +1 @@\n-${'a'.repeat(70_000)}\n+b\n`,
    }
    match(renderDiffHtml(big), /text diff of 70\d{3} bytes, over the 64 KiB inline cap/)
    const many = hostileResult(6, 100, false)
    const line = 'x'.repeat(30_000)
    many.differences = many.differences.map((e) => ({...e, kind: 'file', diff: `@@ -1 +1 @@\n-${line}\n+${line}y\n`}))
    const html = renderDiffHtml(many)
    match(html, /diff not inlined: page cap of 4 MiB reached/)
    assert.ok(Buffer.byteLength(html) < 4.5 * 1024 * 1024, `${Buffer.byteLength(html)} bytes`)
  })
})

describe('dashboards', () => {
  const job = (id: string, status: string, extra: Record<string, unknown> = {}) => {
    const [fixture, buildkit, runtime] = id.split('/')
    return {
      id,
      fixture,
      buildkit,
      runtime,
      builder: runtime,
      index: 0,
      context: fixture,
      dockerfile: 'Dockerfile',
      platforms: [],
      platform: 'linux/amd64',
      status,
      expect: 'reproducible',
      digest: status === 'pass' ? `sha256:${'ab'.repeat(32)}` : undefined,
      builds: [{attempt: 1, digest: `sha256:${'ab'.repeat(32)}`, archiveSha256: 'sha256:00', platform: 'linux/amd64'}],
      reproduced: status === 'pass',
      causes:
        status === 'pass' ? [] : [{cause: 'file-content', count: 1, title: 'file content differs', paths: ['stamp']}],
      failures: status === 'pass' ? [] : [`${id}: not reproduced`],
      log: `jobs/${id.replace(/\//g, '-')}/log.txt`,
      inputHash: 'sha256:11',
      ...extra,
    }
  }
  const report = (jobs: unknown[], timings = false): MatrixReportLike =>
    ({
      schemaVersion: 1,
      ok: false,
      matrix: 'two-fixtures',
      summary: {jobs: jobs.length, passed: 1, failed: 1, errors: 0, disagreements: 0},
      jobs,
      agreements: [],
      failures: ['scratch/v0.32.2/buildkit: not reproduced'],
      ...(timings ? {timings: {startedAt: '2026-12-03T10:00:00Z', seconds: 12.5, concurrency: 1, jobs: {}}} : {}),
    }) as unknown as MatrixReportLike

  test('matrix: green and red cells with digests, red linked to the diff page; timings only when asked', () => {
    const r = report(
      [job('ok/v0.32.2/buildkit', 'pass'), job('scratch/v0.32.2/buildkit', 'fail', {diffReportDir: 'jobs/x/diff'})],
      true,
    )
    const html = renderMatrixHtml(r, {
      diffPage: (j) => (j.diffReportDir ? `${j.diffReportDir}/report.html` : undefined),
    })
    match(
      html,
      /<td class="cell pass" data-job="ok\/v0.32.2\/buildkit">.*<code title="sha256:abab[^"]*">abababababab<\/code>/,
    )
    match(html, /<td class="cell fail" data-job="scratch\/v0.32.2\/buildkit"><a href="jobs\/x\/diff\/report.html"/)
    noMatch(html, /2026-12-03|12\.5/)
    match(renderMatrixHtml(r, {timings: true}), /started 2026-12-03T10:00:00Z, 12.5 s/)
    assertNoInjection(html)
  })

  test('hostile job ids and causes stay text', () => {
    const r = rng(7)
    const jobs = Array.from({length: 30}, (_, i) =>
      job(`${hostile(r, 2)}/${hostile(r, 1)}/${hostile(r, 1)}`, ['pass', 'fail', 'error', hostile(r, 1)][i % 4], {
        causes: [{cause: hostile(r), count: 1, title: hostile(r), paths: [hostile(r)]}],
        failures: [hostile(r)],
        log: hostile(r),
        diffReportDir: hostile(r),
      }),
    )
    const html = renderMatrixHtml(report(jobs), {diffPage: (j) => j.diffReportDir})
    assertNoInjection(html)
    assertNoInjection(
      renderHistoryHtml([
        {name: hostile(r), href: hostile(r), report: report(jobs)},
        {name: 'b', href: 'b.html', report: report(jobs.slice(3))},
      ]),
    )
  })

  test('report html DIR: each run gets its dashboard, jobs their diff pages, the directory a history; links resolve', async () => {
    const {a, b} = await pair('runs')
    const root = path.join(dir, 'runs')
    for (const run of ['2026-12-01', '2026-12-02']) {
      const diffDir = path.join(root, run, 'jobs', 'scratch', 'diff')
      await mkdir(path.dirname(diffDir), {recursive: true})
      await diffImages(a, b, {ignore: ignoreOptions({}), reportDir: diffDir})
      const jobs = [
        job('ok/v0.32.2/buildkit', 'pass'),
        job('scratch/v0.32.2/buildkit', 'fail', {diffReportDir: 'jobs/scratch/diff'}),
      ]
      // a report that points outside its directory is not followed
      jobs.push(job('evil/v0.32.2/docker', 'fail', {diffReportDir: '../../../../etc'}))
      const r = report(jobs)
      r.agreements = [
        {
          key: 'scratch',
          platform: 'linux/amd64',
          agree: false,
          detail: 'a != b',
          causes: [],
          diffReportDir: 'jobs/scratch/diff',
        },
      ]
      await writeFile(path.join(root, run, 'report.json'), JSON.stringify(r))
    }
    await writeFile(path.join(root, 'notes.json'), '{"hello": 1}')
    const out = writeReportPages(root)
    assert.deepEqual(out.pages, [
      '2026-12-01/jobs/scratch/diff/report.html',
      '2026-12-01/report.html',
      '2026-12-02/jobs/scratch/diff/report.html',
      '2026-12-02/report.html',
      'index.html',
    ])
    assert.deepEqual(out.skipped, ['notes.json'])
    const index = readFileSync(path.join(root, 'index.html'), 'utf8')
    const dash = readFileSync(path.join(root, '2026-12-02', 'report.html'), 'utf8')
    match(dash, /<a href="jobs\/scratch\/diff\/report.html"/)
    match(dash, /<a href="..\/index.html">/)
    match(dash, /a != b <a href="jobs\/scratch\/diff\/report.html">diff page<\/a><\/td>/)
    noMatch(dash, /etc\/report/)
    for (const [page, html] of [
      [path.join(root, 'index.html'), index],
      [path.join(root, '2026-12-02', 'report.html'), dash],
    ])
      for (const m of html.matchAll(/href="([^"#]+)/g)) {
        if (m[1].endsWith('log.txt')) continue
        assert.ok(existsSync(path.join(path.dirname(page), decodeURIComponent(m[1]))), `${page}: ${m[1]}`)
      }
    // the CLI: the same pages, its --json result valid against schemas/report-html.schema.json
    const cli = await runCli(['report', 'html', root, '--json'])
    assert.equal(cli.code, 0, cli.stderr)
    const doc = JSON.parse(cli.stdout) as unknown
    new SchemaValidator().check('report html', doc, 'repro report html DIR --json')
    assert.deepEqual(doc, out)
    assert.match(cli.stderr, /notes\.json: not a repro report, skipped/)
    const bad = await runCli(['report', 'html', path.join(root, 'notes.json'), '--json'])
    assert.equal(bad.code, 2)
    new SchemaValidator().check('error', JSON.parse(bad.stdout) as unknown, 'repro report html notes.json --json')
    const again = writeReportPages(root)
    assert.deepEqual(again.pages, out.pages)
    assert.equal(readFileSync(path.join(root, 'index.html'), 'utf8'), index, 'deterministic')
    assert.throws(() => writeReportPages(path.join(root, 'notes.json')), InvalidArgumentError)
    assert.throws(() => writeReportPages(path.join(root, 'missing')), /missing: no such file or directory/)
  })

  test('verify page: verdict, checks, causes; durations only with timings', () => {
    const v = {
      schemaVersion: 1 as const,
      reproduced: false,
      runtimes: ['docker'],
      sourceDateEpoch: 0,
      builds: [
        {
          runtime: 'docker',
          attempt: 1,
          digest: 'sha256:aa',
          archiveSha256: 'sha256:a1',
          platform: 'linux/amd64',
          seconds: 3.25,
        },
        {
          runtime: 'docker',
          attempt: 2,
          digest: 'sha256:bb',
          archiveSha256: 'sha256:b1',
          platform: 'linux/amd64',
          seconds: 4.75,
        },
      ],
      checks: [{name: 'rebuilds-agree' as const, ok: false, detail: 'docker#1 sha256:aa != docker#2 sha256:bb'}],
      diff: {
        a: 'docker#1',
        b: 'docker#2',
        same: false,
        differences: 1,
        causes: [
          {
            cause: 'file-content' as const,
            category: 'content' as const,
            count: 1,
            title: 'file content differs',
            hint: 'h',
          },
        ],
        events: [
          {
            kind: 'file' as const,
            platform: 'linux/amd64',
            layer: 1,
            path: 'stamp',
            field: 'content',
            a: '1',
            b: '2',
            cause: 'file-content' as const,
            category: 'content' as const,
            hint: 'h',
            diff: '--- a/stamp\n+++ b/stamp\n@@ -1 +1 @@\n-1\n+2\n',
          },
        ],
      },
      warnings: [],
    }
    const html = renderVerifyHtml(v)
    match(html, /<strong>Not reproduced<\/strong>/)
    match(html, /<a href="#d-0" data-cause="file-content">show it<\/a>/)
    match(html, /<td class="del">1<\/td>.*<td class="add">2<\/td>/)
    noMatch(html, /3\.25|4\.75/)
    match(renderVerifyHtml(v, {timings: true}), /<td>3\.25<\/td>/)
    assertNoInjection(html)
  })
})
