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
import {hrefOf} from './escape.js'
import {renderDiffHtml} from './diff-page.js'
import {checkHtmlTarget, writePage} from './write.js'
import {ReportDirFiles} from './files.js'

import {renderVerifyHtml, type VerifyHtmlOptions} from './verify-page.js'
import type {VerifyResult} from '../../verify/index.js'
import type {MatrixReport} from '../../verify/matrix/types.js'
import {writeMatrixPages} from './reports.js'

export {renderDiffHtml} from './diff-page.js'
export {checkHtmlTarget, writePage} from './write.js'

/** `repro verify --html FILE` */
export function writeVerifyHtml(file: string, result: VerifyResult, options: VerifyHtmlOptions = {}): void {
  writePage(file, renderVerifyHtml(result, options))
}

/**
 * `repro verify --matrix FILE --html PAGE`: the dashboard at PAGE, a diff page in each job's kept diff. PAGE
 * was checked before the run (checkHtmlTarget with the report directory, which the run creates).
 */
export function writeMatrixHtml(
  file: string,
  reportDir: string,
  report: MatrixReport,
  options: {timings?: boolean} = {},
): string[] {
  fs.mkdirSync(path.dirname(path.resolve(file)), {recursive: true})
  return writeMatrixPages(reportDir, report, file, options)
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
