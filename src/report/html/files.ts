/**
 * The differing files of a --report-dir (DIR/a/<path>, DIR/b/<path>) as the HTML page sees them: relative
 * links from the page, and hex summaries (the first differing byte and 64 bytes around it) read with bounded
 * reads. Paths go through the same safeSegments() the report directory was written with, and symlinks are
 * never followed, so a hostile name cannot make the page read or link outside the directory.
 */
import * as fs from 'node:fs'
import path from 'node:path'

import {safeSegments} from '../../diff/report.js'
import {hrefOf} from './escape.js'
import type {ContentFiles, HexSummary} from './diff-view.js'

const CHUNK = 64 * 1024
/** stop looking for the first differing byte after this many bytes (the summary then says where it stopped) */
const SCAN_LIMIT = 256 * 1024 * 1024
const WINDOW = 64

function openFile(file: string): number | undefined {
  try {
    return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  } catch {
    return undefined
  }
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len)
  const n = fs.readSync(fd, buf, 0, len, pos)
  return buf.subarray(0, n)
}

/** First differing offset of two open files, by 64 KiB chunks. */
function firstDifference(fa: number, fb: number, sizeA: number, sizeB: number): number {
  const end = Math.min(sizeA, sizeB, SCAN_LIMIT)
  for (let pos = 0; pos < end; pos += CHUNK) {
    const len = Math.min(CHUNK, end - pos)
    const a = readAt(fa, pos, len)
    const b = readAt(fb, pos, len)
    const i = a.findIndex((x, k) => b[k] !== x)
    if (i >= 0) return pos + i
  }
  return end
}

export class ReportDirFiles implements ContentFiles {
  /**
   * @param root the report directory
   * @param fromPage the directory the HTML page is written to (links are relative to it)
   */
  constructor(
    private readonly root: string,
    private readonly fromPage: string,
  ) {}

  private file(side: 'a' | 'b', p: string): string | undefined {
    const segs = safeSegments(p)
    if (!segs) return undefined
    const f = path.join(this.root, side, ...segs)
    try {
      return fs.lstatSync(f).isFile() ? f : undefined
    } catch {
      return undefined
    }
  }

  href(side: 'a' | 'b', p: string): string | undefined {
    const f = this.file(side, p)
    if (!f) return undefined
    const rel = path.relative(path.resolve(this.fromPage), f)
    return hrefOf(rel.split(path.sep))
  }

  hex(p: string): HexSummary | undefined {
    const a = this.file('a', p)
    const b = this.file('b', p)
    if (!a || !b) return undefined
    const fa = openFile(a)
    const fb = fa === undefined ? undefined : openFile(b)
    try {
      if (fa === undefined || fb === undefined) return undefined
      const sizeA = fs.fstatSync(fa).size
      const sizeB = fs.fstatSync(fb).size
      const offset = firstDifference(fa, fb, sizeA, sizeB)
      const start = Math.max(0, Math.floor(offset / 16) * 16 - 16)
      return {sizeA, sizeB, offset, start, a: readAt(fa, start, WINDOW), b: readAt(fb, start, WINDOW)}
    } finally {
      if (fa !== undefined) fs.closeSync(fa)
      if (fb !== undefined) fs.closeSync(fb)
    }
  }
}
