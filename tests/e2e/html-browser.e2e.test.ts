/**
 * The HTML reports in a real browser: Debian's Chromium (/usr/bin/chromium, headless, --no-sandbox as root)
 * driven by the pinned playwright-core. On the engine test bed (standalone buildkitd, the Debian base):
 * - the canary (RUN date +%s%N > /stamp) is verified twice with `repro verify --html --output-dir`, which keeps
 *   a real pair of differing builds; `repro diff A B --html` renders their difference;
 * - a real two-fixture matrix run (scratch-copy and the canary on the BuildKit daemon) gives a report that
 *   `repro report html` turns into the dashboard.
 * Checks: verdict, causes and a text diff are visible, a filter and a link work (mouse and keyboard), nothing
 * but the page itself is loaded, phone width has no horizontal scroll, dark mode applies, and without
 * JavaScript the verdict, causes and differences are readable. Screenshots go to test-output/html-browser/
 * (REPRO_TEST_OUTPUT overrides). Pages are byte-equal across two renders.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {cp, mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'

import {type Browser, chromium, type Page} from 'playwright-core'

import type {DiffEvent, DiffResult} from '../../src/diff/types.js'
import {renderDiffHtml} from '../../src/report/html/diff-page.js'
import {ROOT, runCli} from '../support/cli.js'
import {readTestbedState} from '../support/testbed.js'

interface State {
  buildkit: {default: string; versions: Record<string, {running?: boolean; host: string; buildctl?: string}>}
  images: {debian: {ociLayout: string}; busybox: {ociLayout: string}}
}

const CHROMIUM = '/usr/bin/chromium'
const OUT = process.env.REPRO_TEST_OUTPUT
  ? path.join(process.env.REPRO_TEST_OUTPUT, 'html-browser')
  : path.join(ROOT, 'test-output', 'html-browser')

/** Every request a page makes; only the page documents themselves (file://) may appear. */
function watchRequests(page: Page): Array<{url: string; type: string}> {
  const seen: Array<{url: string; type: string}> = []
  page.on('request', (r) => seen.push({url: r.url(), type: r.resourceType()}))
  return seen
}

function assertOnlyDocuments(seen: Array<{url: string; type: string}>, allowed: string[]): void {
  const others = seen.filter((r) => r.type !== 'document' || !allowed.includes(r.url.split('#')[0]))
  assert.deepEqual(others, [], 'the page loaded something besides itself')
}

describe('HTML reports in Chromium', {timeout: 30 * 60_000}, () => {
  let dir: string
  let browser: Browser
  let env: Record<string, string>
  let engine: string[]
  let state: State

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: the test bed installs Debian's chromium (npm run testbed -- up)`,
    )
    state = readTestbedState<State>()
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(bk?.running, 'test bed: the default buildkitd is not running; run `npm run testbed -- up`')
    engine = ['--runtime', 'buildkit', '--buildkit-addr', bk.host, '--sde', '0']
    env = {PATH: `${path.dirname(bk.buildctl ?? '/usr/bin/buildctl')}:${process.env.PATH}`}
    dir = await mkdtemp(path.join(tmpdir(), 'repro-html-e2e-'))
    await mkdir(OUT, {recursive: true})
    await cp(path.join(ROOT, 'nightly/fixtures/canary-date'), path.join(dir, 'canary'), {recursive: true})
    browser = await chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true})
  })

  after(async () => {
    await browser?.close()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('the diff page of two real builds that differ', async () => {
    // two rebuilds of the canary: verify keeps them (--output-dir) and writes its own page
    const v = await runCli(
      [
        'verify',
        ...engine,
        '--build-context',
        `base=oci-layout://${state.images.debian.ociLayout}`,
        '--output-dir',
        'out',
        '--html',
        'verify.html',
        'canary',
      ],
      {cwd: dir, env, timeoutMs: 15 * 60_000},
    )
    assert.equal(v.code, 1, `the canary must not reproduce:\n${v.stderr.slice(-3000)}`)
    const tars = (await readdir(path.join(dir, 'out'))).filter((f) => f.endsWith('.tar')).sort()
    assert.equal(tars.length, 2, tars.join(' '))
    const [a, b] = tars.map((t) => path.join(dir, 'out', t))
    const d1 = await runCli(['diff', a, b, '--html', 'diff.html', '--report-dir', 'rd'], {cwd: dir})
    assert.equal(d1.code, 1, d1.stderr)
    const d2 = await runCli(['diff', a, b, '--html', 'diff2.html'], {cwd: dir})
    assert.equal(d2.code, 1, d2.stderr)
    const page1 = readFileSync(path.join(dir, 'diff.html'))
    // the same pair, rendered twice: byte-equal (links into --report-dir aside, so compare report.html too)
    const d3 = await runCli(['diff', a, b, '--html', 'diff3.html'], {cwd: dir})
    assert.equal(d3.code, 1)
    assert.ok(readFileSync(path.join(dir, 'diff2.html')).equals(readFileSync(path.join(dir, 'diff3.html'))))
    assert.ok(page1.length > 0 && existsSync(path.join(dir, 'rd', 'report.html')))

    const url = pathToFileURL(path.join(dir, 'diff.html')).href
    const page = await browser.newPage({viewport: {width: 1280, height: 900}})
    const seen = watchRequests(page)
    await page.goto(url)
    const verdict = page.locator('#verdict')
    assert.match(await verdict.innerText(), /Not the same: \d+ difference/)
    assert.ok(await verdict.isVisible())
    const cause = page.locator('#cause-timestamp-in-content')
    assert.ok(await cause.isVisible(), 'the timestamp-in-content cause is listed')
    // the text diff of /stamp: both numbers, side by side
    const stampRow = page.locator('tbody.d', {hasText: '/stamp'}).first()
    assert.ok(await stampRow.isVisible())
    const del = stampRow.locator('.sbs td.del')
    const add = stampRow.locator('.sbs td.add')
    assert.ok((await del.isVisible()) && (await add.isVisible()), 'the side-by-side diff is visible')
    assert.match(await del.innerText(), /^\d{10,}$/)
    assert.notEqual(await del.innerText(), await add.innerText())
    await page.screenshot({path: path.join(OUT, 'diff.png'), fullPage: true})

    // a filter: untick the content class, the /stamp difference goes, the others stay
    const visibleRows = async (): Promise<number> => page.locator('tbody.d:visible').count()
    const before = await visibleRows()
    await page.locator('input[data-cat="content"]').click()
    assert.ok(!(await stampRow.isVisible()), 'unticking content hides the content difference')
    const cats = await page.locator('tbody.d:visible').evaluateAll((els) => els.map((e) => e.getAttribute('data-c')))
    assert.ok(!cats.includes('content'))
    assert.ok((await visibleRows()) < before)
    await page.locator('#freset').click()
    assert.equal(await visibleRows(), before)

    // a link: the cause's "show" link filters to its differences and jumps to the first one
    await cause.locator('a[data-cause]').click()
    assert.match(page.url(), /#d-\d+$/)
    const shown = await page.locator('tbody.d:visible').evaluateAll((els) => els.map((e) => e.getAttribute('data-k')))
    assert.ok(shown.length >= 1 && shown.every((k) => k === 'timestamp-in-content'), shown.join(' '))
    assert.equal(await page.locator('#fcause').inputValue(), 'timestamp-in-content')
    // and back: the difference's cause cell links to the cause
    await page.locator('tbody.d:visible a[href="#cause-timestamp-in-content"]').first().click()
    assert.match(page.url(), /#cause-timestamp-in-content$/)

    // keyboard only: Tab to the first class filter, Space unticks it
    await page.locator('#freset').click()
    await page.keyboard.press('Home')
    await page.evaluate('document.activeElement && document.activeElement.blur()')
    let onFilter = false
    for (let i = 0; i < 80 && !onFilter; i++) {
      await page.keyboard.press('Tab')
      onFilter =
        (await page.evaluate("document.activeElement && document.activeElement.getAttribute('data-cat')")) === 'content'
    }
    assert.ok(onFilter, 'the content filter is reachable with Tab')
    await page.keyboard.press('Space')
    assert.ok(!(await stampRow.isVisible()), 'Space on the focused filter applies it')
    assertOnlyDocuments(seen, [url])

    // phone width, dark mode
    const phone = await browser.newPage({viewport: {width: 375, height: 800}, colorScheme: 'dark'})
    const seenPhone = watchRequests(phone)
    await phone.goto(url)
    const overflow = (await phone.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px at phone width`)
    const bg = await phone.evaluate('getComputedStyle(document.body).backgroundColor')
    assert.equal(bg, 'rgb(13, 17, 23)', 'dark mode background')
    await phone.screenshot({path: path.join(OUT, 'diff-phone-dark.png'), fullPage: false})
    assertOnlyDocuments(seenPhone, [url])

    // without JavaScript: verdict, causes and the differences are there; the filters (which need it) are not
    const ctx = await browser.newContext({javaScriptEnabled: false})
    const nojs = await ctx.newPage()
    await nojs.goto(url)
    assert.ok(await nojs.locator('#verdict').isVisible())
    assert.ok(await nojs.locator('#cause-timestamp-in-content').isVisible())
    assert.ok(await nojs.locator('tbody.d', {hasText: '/stamp'}).first().isVisible())
    assert.ok(!(await nojs.locator('#filters').isVisible()))
    await ctx.close()

    // the verify page of the same run
    const vurl = pathToFileURL(path.join(dir, 'verify.html')).href
    const vp = await browser.newPage({viewport: {width: 1280, height: 900}})
    const seenV = watchRequests(vp)
    await vp.goto(vurl)
    assert.match(await vp.locator('#verdict').innerText(), /Not reproduced/)
    assert.ok(await vp.locator('#cause-timestamp-in-content').isVisible())
    await vp.screenshot({path: path.join(OUT, 'verify.png'), fullPage: true})
    assertOnlyDocuments(seenV, [vurl])
    await Promise.all([page.close(), phone.close(), vp.close()])
  })

  it('a hostile page of 2,500 differences: nothing runs but our script, paging and filters reach every row', async () => {
    const file = path.join(dir, 'hostile.html')
    await writeFile(file, renderDiffHtml(hostileResult()))
    const url = pathToFileURL(file).href
    const page = await browser.newPage({viewport: {width: 1280, height: 900}})
    const seen = watchRequests(page)
    const dialogs: string[] = []
    page.on('dialog', (d) => {
      dialogs.push(d.message())
      void d.dismiss()
    })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    await page.goto(url)
    const visible = async (): Promise<string[]> =>
      page.locator('tbody.d:visible').evaluateAll((els) => els.map((e) => e.id))
    let ids = await visible()
    assert.equal(ids.length, 1000)
    assert.equal(ids[999], 'd-999')
    assert.match(await page.locator('#pinfo').innerText(), /Showing 1.1000 of 2500 differences, page 1 of 3/)
    await page.locator('#next').click()
    await page.locator('#next').click()
    ids = await visible()
    assert.equal(ids.length, 500)
    assert.deepEqual([ids[0], ids[499]], ['d-2000', 'd-2499'])
    // the hostile strings of a row the script inserted are text
    const cell = await page.locator('#d-2001 td.v').first().innerText()
    assert.equal(cell, '/d02001/"><img src=x onerror=alert(2)>')
    assert.ok(await page.locator('#d-2001 .sbs td.del').isVisible())
    // a filter over rows on every page: only the cause "label" (every third row), 833 of them
    await page.locator('#fcause').selectOption('label')
    assert.match(await page.locator('#pinfo').innerText(), /of 833 differences, page 1 of 1/)
    ids = await visible()
    assert.equal(ids.length, 833)
    assert.ok(ids.every((id) => Number(id.slice(2)) % 3 === 1))
    // a link to a row on page 3 opens that page
    await page.goto(`${url}#d-2400`)
    await page.reload()
    assert.ok(await page.locator('#d-2400').isVisible())
    const injected = (await page.evaluate(
      "document.querySelectorAll('script').length + ':' + document.querySelectorAll('img,svg,iframe,object,embed').length",
    )) as string
    assert.equal(injected, '2:0', 'our script and its data block, no element from the data')
    assert.deepEqual(dialogs, [])
    assert.deepEqual(errors, [])
    assertOnlyDocuments(seen, [url])
    await page.close()
  })

  it('the dashboard of a real two-fixture matrix run (verify --matrix), its diff pages and the history', async () => {
    const bk = state.buildkit.versions[state.buildkit.default]
    await cp(path.join(ROOT, 'nightly/fixtures/scratch-copy'), path.join(dir, 'farm', 'scratch-copy'), {
      recursive: true,
    })
    await cp(path.join(ROOT, 'nightly/fixtures/canary-date'), path.join(dir, 'farm', 'canary-date'), {recursive: true})
    // the canary is built as if it had to reproduce: its red cell must link to its diff page
    await writeFile(
      path.join(dir, 'farm', 'matrix.yaml'),
      [
        'builders:',
        `  bk: {runtime: buildkit, addr: "${bk.host}", image: "moby/buildkit:${state.buildkit.default}"}`,
        `defaults: {sde: 0, builder: bk, buildkit: ${state.buildkit.default}}`,
        'jobs:',
        '  - {id: scratch-copy, context: scratch-copy, fixture: scratch-copy}',
        `  - {id: canary-date, context: canary-date, fixture: canary-date, buildContexts: {base: "oci-layout://${state.images.debian.ociLayout}"}}`,
        '',
      ].join('\n'),
    )
    const reports = path.join(dir, 'reports')
    for (const run of ['run-1', 'run-2']) {
      const r = await runCli(
        [
          'verify',
          '--matrix',
          'farm/matrix.yaml',
          '--report-dir',
          `reports/${run}`,
          '--html',
          `reports/${run}/report.html`,
        ],
        {cwd: dir, env, timeoutMs: 15 * 60_000},
      )
      assert.equal(r.code, 1, `the canary job must fail:\n${r.stderr.slice(-3000)}`)
      assert.ok(existsSync(path.join(reports, run, 'jobs', 'canary-date', 'diff', 'report.html')))
    }
    const gen = await runCli(['report', 'html', reports, '--json'])
    assert.equal(gen.code, 0, gen.stderr)
    const pages = (JSON.parse(gen.stdout) as {pages: string[]}).pages
    assert.deepEqual(pages, [
      'index.html',
      'run-1/jobs/canary-date/diff/report.html',
      'run-1/report.html',
      'run-2/jobs/canary-date/diff/report.html',
      'run-2/report.html',
    ])
    const first = readFileSync(path.join(reports, 'run-2', 'report.html'))
    const firstIndex = readFileSync(path.join(reports, 'index.html'))
    assert.equal((await runCli(['report', 'html', reports])).code, 0)
    assert.ok(first.equals(readFileSync(path.join(reports, 'run-2', 'report.html'))), 'two renders are byte-equal')
    assert.ok(firstIndex.equals(readFileSync(path.join(reports, 'index.html'))))

    const url = pathToFileURL(path.join(reports, 'run-2', 'report.html')).href
    const diffUrl = pathToFileURL(path.join(reports, 'run-2', 'jobs', 'canary-date', 'diff', 'report.html')).href
    const iurl = pathToFileURL(path.join(reports, 'index.html')).href
    const page = await browser.newPage({viewport: {width: 1280, height: 900}})
    const seen = watchRequests(page)
    await page.goto(url)
    assert.match(await page.locator('#verdict').innerText(), /Regressions/)
    const green = page.locator('td.cell.pass[data-job="scratch-copy"]')
    assert.match(await green.innerText(), /reproduced\s+[0-9a-f]{12}/)
    const red = page.locator('td.cell.fail[data-job="canary-date"]')
    assert.ok(await red.isVisible())
    assert.match(await page.locator('#job-canary-date').innerText(), /timestamp-in-content × 1 \(stamp\)/)
    await page.screenshot({path: path.join(OUT, 'dashboard.png'), fullPage: true})
    // the red cell links to the job's diff page: verdict, cause and the text diff of /stamp
    await red.locator('a').click()
    assert.equal(page.url(), diffUrl)
    assert.match(await page.locator('#verdict').innerText(), /Not the same/)
    assert.ok(await page.locator('#cause-timestamp-in-content').isVisible())
    assert.ok(await page.locator('tbody.d', {hasText: '/stamp'}).locator('.sbs td.add').isVisible())
    // back, then the history of both runs, then a run from there
    await page.goBack()
    await page.locator('a', {hasText: 'history of all runs'}).click()
    assert.equal(page.url(), iurl)
    assert.match(await page.locator('#verdict').innerText(), /Latest run run-2: regressions/)
    assert.equal(await page.locator('td.cell.pass').count(), 2)
    assert.equal(await page.locator('td.cell.fail').count(), 2)
    await page.screenshot({path: path.join(OUT, 'history.png'), fullPage: true})
    await page.locator('th a', {hasText: 'run-1'}).click()
    assert.equal(page.url(), pathToFileURL(path.join(reports, 'run-1', 'report.html')).href)
    assertOnlyDocuments(seen, [url, diffUrl, iurl, pathToFileURL(path.join(reports, 'run-1', 'report.html')).href])
    await page.close()
  })
})

/** 2,500 differences with hostile strings everywhere (names, values, causes, a text diff per row). */
function hostileResult(): DiffResult {
  const evil = [
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    '</script><!--',
    '\u202e\u0000',
  ]
  const causes = ['file-content', 'label', `x${evil[1]}`]
  const differences: DiffEvent[] = Array.from({length: 2500}, (_, i) => ({
    kind: 'file' as const,
    platform: 'linux/amd64',
    layer: 1 + Math.floor(i / 1000),
    path: `d${String(i).padStart(5, '0')}/${evil[i % evil.length]}`,
    field: 'content',
    a: evil[(i + 1) % evil.length],
    b: evil[(i + 2) % evil.length],
    cause: causes[i % 3] as DiffEvent['cause'],
    category: (i % 3 === 0 ? 'content' : 'metadata') as DiffEvent['category'],
    hint: evil[i % evil.length],
    diff: `--- a/x\n+++ b/x\n@@ -1 +1 @@\n-${evil[i % evil.length]}\n+${evil[(i + 3) % evil.length]}\n`,
  }))
  return {
    schemaVersion: 1,
    a: {input: evil[0], format: 'oci-archive', imageDigest: null, platforms: []},
    b: {input: evil[1], format: 'oci-archive', imageDigest: null, platforms: []},
    same: false,
    summary: {
      differences: differences.length,
      notes: 0,
      ignored: 0,
      byCategory: {content: 834, metadata: 1666, packaging: 0},
      causes: causes.map((c, i) => ({
        cause: c as DiffEvent['cause'],
        category: i === 0 ? 'content' : 'metadata',
        count: 1,
        title: evil[i],
        hint: evil[i + 1],
      })),
      layersCompared: 3,
      layersSkipped: 0,
      filesCompared: 2500,
    },
    differences,
    notes: [],
    warnings: evil,
  }
}
