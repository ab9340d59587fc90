/**
 * Writing the HTML reports: `repro diff --html FILE` (and DIR/report.html inside --report-dir), the verify page
 * and the matrix dashboard. Files are written whole (a temp file renamed into place), so a failure leaves
 * nothing half-written.
 */
import * as fs from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {diffImages, type DiffOptions} from '../../diff/index.js'
import type {DiffResult} from '../../diff/types.js'
import {InvalidArgumentError} from '../../errors.js'
import {hrefOf} from './escape.js'
import {renderDiffHtml} from './diff-page.js'
import {ReportDirFiles} from './files.js'

import {renderVerifyHtml, type VerifyHtmlOptions} from './verify-page.js'
import type {VerifyResult} from '../../verify/index.js'

export {renderDiffHtml} from './diff-page.js'

/** `repro verify --html FILE` */
export function writeVerifyHtml(file: string, result: VerifyResult, options: VerifyHtmlOptions): void {
  writePage(file, renderVerifyHtml(result, options))
}

/** Refuse an --html target whose directory is missing or that is a directory, before minutes of work. */
export function checkHtmlTarget(flag: string, file: string): void {
  const dir = path.dirname(path.resolve(file))
  let st: fs.Stats | undefined
  try {
    st = fs.statSync(dir)
  } catch {
    st = undefined
  }
  if (!st?.isDirectory()) throw new InvalidArgumentError(`${flag} ${file}: directory ${dir} does not exist`)
  try {
    if (fs.statSync(file).isDirectory())
      throw new InvalidArgumentError(`${flag} ${file}: is a directory; give a file name`)
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error
  }
}

/** Write a page atomically: a temp file next to the target, renamed over it. */
export function writePage(file: string, html: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  try {
    fs.writeFileSync(tmp, html, {flag: 'wx', mode: 0o644})
    fs.renameSync(tmp, file)
  } catch (error) {
    fs.rmSync(tmp, {force: true})
    throw error
  }
}

/**
 * `repro diff` with its HTML pages: --html FILE, and report.html in --report-dir. Without --report-dir the
 * differing files go to a temp directory for the hex summaries of binary files, removed afterwards.
 */
export async function diffWithHtml(
  inputA: string,
  inputB: string,
  html: string | undefined,
  options: DiffOptions,
): Promise<DiffResult> {
  if (html) checkHtmlTarget('--html', html)
  const temp = html && !options.reportDir ? await mkdtemp(path.join(tmpdir(), 'repro-html-')) : undefined
  try {
    const reportDir = options.reportDir ?? (temp ? path.join(temp, 'r') : undefined)
    const result = await diffImages(inputA, inputB, {...options, reportDir})
    if (temp) delete result.reportDir
    if (options.reportDir) {
      const root = path.resolve(options.reportDir)
      writePage(
        path.join(root, 'report.html'),
        renderDiffHtml(result, {files: new ReportDirFiles(root, root), reportDirHref: ''}),
      )
    }
    if (html && reportDir) {
      const from = path.dirname(path.resolve(html))
      const files = new ReportDirFiles(path.resolve(reportDir), from)
      const rel = options.reportDir
        ? hrefOf(path.relative(from, path.resolve(options.reportDir)).split(path.sep))
        : undefined
      // with a temp directory, hex summaries are inlined but nothing links to files that are about to go
      const page = renderDiffHtml(result, {
        files: temp ? {hex: (p) => files.hex(p), href: () => undefined} : files,
        reportDirHref: rel === undefined ? undefined : rel === '' ? './' : `${rel}/`,
      })
      writePage(html, page)
    }
    return result
  } finally {
    if (temp) await rm(temp, {recursive: true, force: true})
  }
}
