/**
 * HTML report benchmark (issue #26), one run, in Debian's Chromium (headless, through playwright-core):
 *  1. two real image archives with 10,000 files that all differ (small text files, so every difference has
 *     a side-by-side diff until the 4 MiB inline budget is used): render `repro diff --html` and report the
 *     page size (goal < 10 MB) and the render time
 *  2. the page's load time in the browser, navigation start to the load event, with our script (filters and
 *     paging over all 10,000) run: goal < 3 s; the median of 3 loads
 *  3. the same bytes with JavaScript off (what a reader without it waits for); the ratio of 2 to 3 shows what
 *     the script costs at load (nothing measurable: it only reads the page until a filter or page is asked for)
 *  4. one filter click over 10,000 differences (untick a class, then tick it again)
 * Run: node --import tsx bench/html-render.ts [--files N]
 */
import {readFileSync, statSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {chromium} from 'playwright-core'

import {ignoreOptions} from '../src/diff/ignore.js'
import {diffWithHtml} from '../src/report/html/index.js'
import {buildImage, type FileSpec, writeArchive} from '../tests/support/image-fixtures.js'

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}
const FILES = Number(arg('--files') ?? 10_000)
const GOAL_MS = 3000

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-html-'))
  try {
    const layer = (v: number): FileSpec[] => [
      {path: 'srv/', type: 'dir'},
      ...Array.from({length: FILES}, (_, i) => ({
        path: `srv/d${Math.floor(i / 100)}/f${i}.conf`,
        content: `# file ${i}\nname = f${i}\nbuilt = ${v === 1 ? 1700000000 + i : 1800000000 + i}\nsame = yes\n`,
      })),
    ]
    const dirs = Array.from({length: Math.ceil(FILES / 100)}, (_, d) => ({path: `srv/d${d}/`, type: 'dir' as const}))
    const tars: string[] = []
    for (const v of [1, 2]) {
      const img = await buildImage({layers: [[...layer(v).slice(0, 1), ...dirs, ...layer(v).slice(1)]]})
      const out = path.join(dir, `img-${v}.tar`)
      await writeArchive('oci-archive', [img], out)
      tars.push(out)
    }
    const html = path.join(dir, 'diff.html')
    const t0 = performance.now()
    const result = await diffWithHtml(tars[0], tars[1], html, {ignore: ignoreOptions({})})
    const renderMs = performance.now() - t0
    const size = statSync(html).size
    const again = path.join(dir, 'again.html')
    await diffWithHtml(tars[0], tars[1], again, {ignore: ignoreOptions({})})
    const deterministic = readFileSync(html).equals(readFileSync(again))

    const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true})
    const url = pathToFileURL(html).href
    const load = async (js: boolean): Promise<number> => {
      const ctx = await browser.newContext({javaScriptEnabled: js, viewport: {width: 1280, height: 900}})
      const page = await ctx.newPage()
      await page.goto(url, {waitUntil: 'load', timeout: 120_000})
      const ms = (await page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd || performance.now() })()",
      )) as number
      await ctx.close()
      return ms
    }
    await load(true) // warm the browser's caches of fonts and code, not of the page
    const withJs = [await load(true), await load(true), await load(true)]
    const noJs = [await load(false), await load(false), await load(false)]
    const ctx = await browser.newContext({viewport: {width: 1280, height: 900}})
    const page = await ctx.newPage()
    await page.goto(url, {waitUntil: 'load', timeout: 120_000})
    const visible = (await page.evaluate("document.querySelectorAll('tbody.d:not([hidden])').length")) as number
    const f0 = performance.now()
    await page.locator('input[data-cat="content"]').click()
    await page.locator('input[data-cat="content"]').click()
    await page.evaluate('0')
    const filterMs = (performance.now() - f0) / 2
    await browser.close()

    const js = median(withJs)
    const floor = median(noJs)
    console.log(`differences: ${result.summary.differences} (${FILES} files), first page shows ${visible}`)
    console.log(
      `page: ${(size / 1048576).toFixed(2)} MiB (goal < 10 MB), rendered by repro in ${renderMs.toFixed(0)} ms (diff included); deterministic: ${deterministic}`,
    )
    console.log(
      `browser load with JavaScript: ${js.toFixed(0)} ms (median of ${withJs.map((x) => x.toFixed(0)).join(', ')}); goal < ${GOAL_MS} ms: ratio ${(js / GOAL_MS).toFixed(2)}`,
    )
    console.log(
      `browser load without JavaScript: ${floor.toFixed(0)} ms; ratio with/without ${(js / floor).toFixed(2)}`,
    )
    console.log(`one filter click over all differences: ${filterMs.toFixed(0)} ms`)
    if (size >= 10_000_000 || js >= GOAL_MS || !deterministic) process.exitCode = 1
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

await main()
