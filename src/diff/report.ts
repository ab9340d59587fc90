/**
 * The diff result (sorted, counted) and --report-dir: report.json plus the differing files of both sides
 * under DIR/a/<path> and DIR/b/<path>, for diffoscope. Whatever the archive says, nothing is written outside
 * DIR: paths are normalized, '..' and absolute paths refused, only regular files and directories we create
 * ourselves are written, and an existing symlink anywhere on the way is refused (O_NOFOLLOW, lstat).
 */
import * as fs from 'node:fs'
import path from 'node:path'

import {InvalidArgumentError} from '../errors.js'
import {summarizeCauses} from './causes.js'
import type {EntrySink} from './layers.js'
import {
  CATEGORY_ORDER,
  type Category,
  DIFF_SCHEMA_VERSION,
  type DiffEvent,
  type DiffResult,
  type InputSummary,
} from './types.js'

const KIND_ORDER = ['archive', 'index', 'platform', 'manifest', 'config', 'layer', 'file']

/** Deterministic order: platform, then path, then field (archive/index events first, then by kind). */
export function sortEvents(events: DiffEvent[]): DiffEvent[] {
  const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0)
  return [...events].sort(
    (x, y) =>
      cmp(x.platform, y.platform) ||
      KIND_ORDER.indexOf(x.kind) - KIND_ORDER.indexOf(y.kind) ||
      (x.layer ?? 0) - (y.layer ?? 0) ||
      cmp(x.path, y.path) ||
      cmp(x.field, y.field),
  )
}

export interface Stats {
  filesCompared: number
  ignored: number
  layersCompared: number
  layersSkipped: number
}

export function buildResult(
  a: InputSummary,
  b: InputSummary,
  events: DiffEvent[],
  semantic: boolean,
  stats: Stats,
  warnings: string[],
): DiffResult {
  const sorted = sortEvents(events)
  const notes = semantic ? sorted.filter((e) => e.category === 'packaging') : []
  const differences = semantic ? sorted.filter((e) => e.category !== 'packaging') : sorted
  const byCategory = Object.fromEntries(CATEGORY_ORDER.map((c) => [c, 0])) as Record<Category, number>
  for (const e of differences) byCategory[e.category]++
  return {
    schemaVersion: DIFF_SCHEMA_VERSION,
    a,
    b,
    same: differences.length === 0,
    summary: {
      differences: differences.length,
      notes: notes.length,
      ignored: stats.ignored,
      byCategory,
      causes: summarizeCauses(differences),
      layersCompared: stats.layersCompared,
      layersSkipped: stats.layersSkipped,
      filesCompared: stats.filesCompared,
    },
    differences,
    notes,
    warnings: [...warnings].sort(),
  }
}

/** Split an in-archive path into safe segments; undefined when it is absolute, empty or climbs with '..'. */
export function safeSegments(p: string): string[] | undefined {
  if (p.startsWith('/') || p.includes('\0')) return undefined
  const segs = p.split('/').filter((s) => s !== '' && s !== '.')
  if (segs.length === 0 || segs.some((s) => s === '..')) return undefined
  return segs
}

export class ReportDir {
  readonly warnings: string[] = []
  private readonly written = new Set<string>()
  private constructor(readonly root: string) {}

  /** Create (or reuse an empty) report directory. Refuses a symlink or a non-empty directory. */
  static create(dir: string): ReportDir {
    let st: fs.Stats | undefined
    try {
      st = fs.lstatSync(dir)
    } catch {
      st = undefined
    }
    if (st) {
      if (st.isSymbolicLink())
        throw new InvalidArgumentError(`--report-dir ${dir}: is a symlink; give a real directory`)
      if (!st.isDirectory()) throw new InvalidArgumentError(`--report-dir ${dir}: exists and is not a directory`)
      if (fs.readdirSync(dir).length > 0)
        throw new InvalidArgumentError(`--report-dir ${dir}: directory is not empty`, [
          'give a new or empty directory, so that old reports are not mixed with this one',
        ])
    } else {
      fs.mkdirSync(dir, {recursive: true})
    }
    return new ReportDir(fs.realpathSync(dir))
  }

  /** Make the parent directories of side/segs, refusing anything that is not a directory we can trust. */
  private prepare(side: 'a' | 'b', p: string): string | undefined {
    const segs = safeSegments(p)
    if (!segs) {
      this.warnings.push(`report-dir: refused to write ${JSON.stringify(p)} (absolute or outside the directory)`)
      return undefined
    }
    const dirs = [
      path.join(this.root, side),
      ...segs.slice(0, -1).map((_s, i) => path.join(this.root, side, ...segs.slice(0, i + 1))),
    ]
    for (const d of dirs) {
      let st: fs.Stats | undefined
      try {
        st = fs.lstatSync(d)
      } catch {
        st = undefined
      }
      if (!st) fs.mkdirSync(d)
      else if (!st.isDirectory() || st.isSymbolicLink()) {
        this.warnings.push(
          `report-dir: refused to write ${side}/${p}: ${path.relative(this.root, d)} is not a directory`,
        )
        return undefined
      }
    }
    const target = path.join(this.root, side, ...segs)
    if (!target.startsWith(this.root + path.sep)) return undefined
    return target
  }

  private open(side: 'a' | 'b', p: string): number | undefined {
    const key = `${side}/${p}`
    if (this.written.has(key)) return undefined
    const target = this.prepare(side, p)
    if (!target) return undefined
    try {
      const fd = fs.openSync(
        target,
        fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
        0o644,
      )
      this.written.add(key)
      return fd
    } catch (error) {
      this.warnings.push(`report-dir: cannot write ${key}: ${(error as NodeJS.ErrnoException).code ?? error}`)
      return undefined
    }
  }

  has(side: 'a' | 'b', p: string): boolean {
    return this.written.has(`${side}/${p}`)
  }

  writeFile(side: 'a' | 'b', p: string, content: Buffer): void {
    const fd = this.open(side, p)
    if (fd === undefined) return
    try {
      fs.writeSync(fd, content)
    } finally {
      fs.closeSync(fd)
    }
  }

  sink(side: 'a' | 'b', p: string): EntrySink | undefined {
    const fd = this.open(side, p)
    if (fd === undefined) return undefined
    return {
      write: (chunk) => void fs.writeSync(fd, chunk),
      end: () => fs.closeSync(fd),
    }
  }

  writeReport(result: DiffResult): void {
    const file = path.join(this.root, 'report.json')
    const fd = fs.openSync(
      file,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW,
      0o644,
    )
    try {
      fs.writeSync(fd, `${JSON.stringify(result, null, 2)}\n`)
    } finally {
      fs.closeSync(fd)
    }
  }
}
