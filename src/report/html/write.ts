/** Writing a page: checked before the work starts, written whole (a temp file renamed into place). */
import * as fs from 'node:fs'
import path from 'node:path'

import {InvalidArgumentError} from '../../errors.js'

/**
 * Refuse an --html target whose directory is missing or that is a directory, before minutes of work.
 * `created`: a directory the run itself creates (a --report-dir); a page inside it is fine.
 */
export function checkHtmlTarget(flag: string, file: string, created?: string): void {
  const dir = path.dirname(path.resolve(file))
  if (created) {
    const rel = path.relative(path.resolve(created), dir)
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return
  }
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
