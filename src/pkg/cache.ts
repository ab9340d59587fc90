/**
 * The content-addressed package cache:
 *   blobs/sha256/<hex>      the verified bytes (only ever entered by an atomic rename after verification)
 *   metadata/sha256/<hex>   JSON {"basename": ...} so a blob can be exported under its file name
 *   tmp/                    partial downloads (same filesystem as blobs/, so the rename is atomic), named
 *                           <hint>.<pid>.<random>.part: the pid says whether their writer still runs
 *   contexts/               staged build contexts (src/hermetic/stage.ts), named by the hash of their content;
 *                           <name>.tmp-<pid>-<random> while one is written
 *   inuse/                  <context name>.<pid>-<random>: a running build uses that context
 *   lock                    the cache's write lock (proper-lockfile: a directory whose mtime the holder keeps
 *                           fresh; one left by a killed process is stale after 10 s)
 *
 * Concurrency: a blob is entered under the lock, and a blob already there counts as done. `clean` takes the
 * lock, so it never interleaves with a commit or with a build copying blobs into a staged context; it keeps
 * the partial files of live writers and the contexts of running builds. Partial files and context temp dirs
 * of dead processes are swept by the next `init`.
 */
import {randomBytes} from 'node:crypto'
import {copyFile, link, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {lock} from 'proper-lockfile'

import {DigestMismatchError, ReproError} from '../errors.js'
import {sha256File} from '../image/digest.js'
import {lifecycle, processAlive} from '../lifecycle.js'
import {parsePackageFileName} from './filename.js'

export class CacheError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_CACHE', message, {suggestions})
  }
}

export interface CacheMetadata {
  basename: string
}

export interface CachedBlob {
  sha256: string
  basename?: string
  size: number
  path: string
}

const HEX = /^[0-9a-f]{64}$/
/** tmp/<hint>.<pid>.<random>.part */
const PART = /^[^.]*\.(\d+)\.[0-9a-f]+\.part$/
/** contexts/<name>.tmp-<pid>-<random> */
const CONTEXT_TMP = /^(.+)\.tmp-(\d+)-[0-9a-f]+$/
/** inuse/<context name>.<pid>-<random> */
const IN_USE = /^(.+)\.(\d+)-[0-9a-f]+$/
/** a lock older than this (its holder was killed) is taken over */
const LOCK_STALE_MS = 10_000

/** What `clean` removed and kept. */
export interface CleanResult {
  blobs: number
  bytes: number
  /** staged build contexts removed */
  contexts: number
  /** partial downloads and staged contexts kept because a running repro process uses them */
  kept: number
}

/** In-process queue in front of the file lock: parallel commits of one process wait here, not in lock retries. */
const queues = new Map<string, Promise<unknown>>()

export class PackageCache {
  constructor(readonly dir: string) {}

  get contextsDir(): string {
    return join(this.dir, 'contexts')
  }

  private get inUseDir(): string {
    return join(this.dir, 'inuse')
  }

  /**
   * Run `fn` holding the cache's write lock (other repro processes wait; a lock left by a killed process is
   * taken over after 10 s).
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = queues.get(this.dir) ?? Promise.resolve()
    let done!: () => void
    const mine = new Promise<void>((r) => (done = r))
    const chained = previous.then(() => mine)
    queues.set(this.dir, chained)
    await previous
    try {
      await mkdir(this.dir, {recursive: true})
      const lockfilePath = join(this.dir, 'lock')
      let release: () => Promise<void>
      try {
        release = await lock(this.dir, {
          lockfilePath,
          realpath: false,
          stale: LOCK_STALE_MS,
          retries: {retries: 200, factor: 1.3, minTimeout: 10, maxTimeout: 250},
          // a lost lock (its directory removed by hand) is not worth crashing a download for
          onCompromised: () => {},
        })
      } catch (error) {
        throw new CacheError(`cache ${this.dir}: cannot take the lock ${lockfilePath}: ${(error as Error).message}`)
      }
      // a signal while we hold it: remove the lock with the other paths instead of leaving it stale for 10 s
      const unregister = lifecycle.registerPath(lockfilePath)
      try {
        return await fn()
      } finally {
        unregister()
        await release().catch(() => {})
      }
    } finally {
      done()
      if (queues.get(this.dir) === chained) queues.delete(this.dir)
    }
  }

  blobPath(sha256: string): string {
    return join(this.dir, 'blobs', 'sha256', sha256)
  }

  metadataPath(sha256: string): string {
    return join(this.dir, 'metadata', 'sha256', sha256)
  }

  /** Create the layout and sweep what dead processes left (partial downloads, context temp dirs, in-use marks). */
  async init(): Promise<void> {
    try {
      await this.ensureDirs()
    } catch (error) {
      throw new CacheError(`cache ${this.dir}: cannot create: ${(error as Error).message}`, [
        'use --cache DIR (or REPRO_CACHE) for a writable directory',
      ])
    }
    await this.sweep()
  }

  private async ensureDirs(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), {recursive: true})
    await mkdir(join(this.dir, 'metadata', 'sha256'), {recursive: true})
    await mkdir(join(this.dir, 'tmp'), {recursive: true})
  }

  /**
   * Remove the leftovers of dead processes (partial downloads, context temp dirs, in-use marks); returns how
   * many partial downloads of live writers were kept. The pid in the name decides (a reused pid only delays
   * the removal to a later run).
   */
  async sweep(): Promise<{removed: number; keptParts: number}> {
    let removed = 0
    let keptParts = 0
    const tmp = join(this.dir, 'tmp')
    for (const name of await readdir(tmp).catch(() => [] as string[])) {
      const m = PART.exec(name)
      if (m && processAlive(Number(m[1]))) keptParts++
      else if (m) {
        await rm(join(tmp, name), {recursive: true, force: true})
        removed++
      }
    }
    for (const [dir, re] of [
      [this.contextsDir, CONTEXT_TMP],
      [this.inUseDir, IN_USE],
    ] as const) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const m = re.exec(name)
        if (m && !processAlive(Number(m[2]))) {
          await rm(join(dir, name), {recursive: true, force: true})
          removed++
        }
      }
    }
    return {removed, keptParts}
  }

  /**
   * Mark a staged context as used by this process until the returned function is called (or the process
   * ends: the mark is in the cleanup registry, and a dead process's mark is swept). `cache clean` keeps it.
   */
  async markInUse(contextDir: string): Promise<() => Promise<void>> {
    const mark = join(this.inUseDir, `${basename(contextDir)}.${process.pid}-${randomBytes(4).toString('hex')}`)
    await mkdir(this.inUseDir, {recursive: true})
    await writeFile(mark, '')
    const unregister = lifecycle.registerPath(mark)
    return async () => {
      unregister()
      await rm(mark, {force: true})
    }
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(sha256))).isFile()
    } catch {
      return false
    }
  }

  /**
   * A fresh temp path inside the cache (same filesystem as the blobs), named with our pid so `clean` and the
   * next run can tell a live writer's file from a dead one's; removed by the cleanup registry on a signal.
   */
  tempPath(hint: string): string {
    const file = join(this.dir, 'tmp', `${hint.slice(0, 16)}.${process.pid}.${randomBytes(6).toString('hex')}.part`)
    this.temps.set(file, lifecycle.registerPath(file))
    return file
  }

  private readonly temps = new Map<string, () => void>()

  private releaseTemp(file: string): void {
    this.temps.get(file)?.()
    this.temps.delete(file)
  }

  /**
   * Move a verified temp file into the cache. The caller has hashed it while writing; this checks the
   * claim once more against the name it will be stored under, then renames atomically, under the lock.
   * A blob already there (a concurrent writer was first) counts as done.
   */
  async commit(tempFile: string, sha256: string, actual: string, meta: CacheMetadata): Promise<void> {
    try {
      if (actual !== sha256) {
        await rm(tempFile, {force: true})
        throw new DigestMismatchError(meta.basename, `sha256:${sha256}`, `sha256:${actual}`)
      }
      await this.withLock(async () => {
        await this.ensureDirs()
        await this.writeMetadata(sha256, meta)
        if (await this.has(sha256)) await rm(tempFile, {force: true})
        else await rename(tempFile, this.blobPath(sha256))
      })
    } finally {
      this.releaseTemp(tempFile)
    }
  }

  async writeMetadata(sha256: string, meta: CacheMetadata): Promise<void> {
    const tmp = this.tempPath(`${sha256}.meta`)
    try {
      await writeFile(tmp, `${JSON.stringify({basename: meta.basename})}\n`)
      await rename(tmp, this.metadataPath(sha256))
    } finally {
      this.releaseTemp(tmp)
    }
  }

  async readMetadata(sha256: string): Promise<CacheMetadata | undefined> {
    try {
      const m = JSON.parse(await readFile(this.metadataPath(sha256), 'utf8')) as Partial<CacheMetadata>
      return typeof m.basename === 'string' ? {basename: m.basename} : undefined
    } catch {
      return undefined
    }
  }

  /** Every blob, sorted by basename then digest (deterministic). */
  async list(): Promise<CachedBlob[]> {
    let names: string[]
    try {
      names = await readdir(join(this.dir, 'blobs', 'sha256'))
    } catch {
      return []
    }
    const out: CachedBlob[] = []
    for (const sha256 of names.filter((n) => HEX.test(n))) {
      const path = this.blobPath(sha256)
      const st = await stat(path)
      const meta = await this.readMetadata(sha256)
      out.push({sha256, basename: meta?.basename, size: st.size, path})
    }
    return out.sort((a, b) => cmp(a.basename ?? '', b.basename ?? '') || cmp(a.sha256, b.sha256))
  }

  /**
   * Remove every blob and its metadata, the partial downloads of dead processes and every staged context no
   * running build uses, under the lock. Live writers keep their partial files (their commit re-creates what
   * it needs); a running build keeps its context.
   */
  async clean(): Promise<CleanResult> {
    return this.withLock(async () => {
      const blobs = await this.list()
      for (const b of blobs) {
        await rm(b.path, {force: true})
        await rm(this.metadataPath(b.sha256), {force: true})
      }
      // metadata of blobs that were already gone
      const metaDir = join(this.dir, 'metadata', 'sha256')
      for (const n of await readdir(metaDir).catch(() => [] as string[])) await rm(join(metaDir, n), {force: true})
      const swept = await this.sweep()
      let contexts = 0
      const inUse = new Set<string>()
      for (const n of await readdir(this.inUseDir).catch(() => [] as string[])) {
        const m = IN_USE.exec(n)
        if (m) inUse.add(m[1])
      }
      let kept = swept.keptParts
      for (const n of await readdir(this.contextsDir).catch(() => [] as string[])) {
        if (CONTEXT_TMP.test(n)) continue
        if (inUse.has(n)) kept++
        else {
          await rm(join(this.contextsDir, n), {recursive: true, force: true})
          contexts++
        }
      }
      return {blobs: blobs.length, bytes: blobs.reduce((s, b) => s + b.size, 0), contexts, kept}
    })
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

export {sha256File}

export interface ExportResult {
  dir: string
  files: {basename: string; sha256: string; action: 'exported' | 'unchanged'}[]
  skipped: {sha256: string; reason: string}[]
}

/**
 * Copy every cached blob to DIR/<basename>, in basename order. A file already there with the same bytes is
 * left alone; one with different bytes is never overwritten: the export stops before writing anything.
 */
export async function exportCache(cache: PackageCache, dir: string): Promise<ExportResult> {
  const blobs = await cache.list()
  const result: ExportResult = {dir, files: [], skipped: []}
  const plan: {blob: CachedBlob; dest: string; exists: boolean}[] = []
  const seen = new Map<string, string>()
  for (const blob of blobs) {
    if (!blob.basename) {
      result.skipped.push({sha256: blob.sha256, reason: 'no basename in the cache metadata'})
      continue
    }
    const other = seen.get(blob.basename)
    if (other)
      throw new CacheError(
        `cache export: two cached blobs want the name ${blob.basename} (sha256 ${other} and ${blob.sha256}); nothing was exported`,
      )
    seen.set(blob.basename, blob.sha256)
    const dest = join(dir, blob.basename)
    let exists = false
    try {
      const st = await lstat(dest)
      exists = true
      if (!st.isFile() || (await sha256File(dest)) !== blob.sha256)
        throw new CacheError(
          `cache export: ${dest} exists with different content; refusing to overwrite (nothing was exported)`,
        )
    } catch (error) {
      if (error instanceof CacheError) throw error
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    plan.push({blob, dest, exists})
  }
  await mkdir(dir, {recursive: true})
  for (const {blob, dest, exists} of plan) {
    if (exists) {
      result.files.push({basename: blob.basename!, sha256: blob.sha256, action: 'unchanged'})
      continue
    }
    const tmp = join(dir, `.${blob.basename}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      await link(blob.path, tmp)
    } catch {
      await copyFile(blob.path, tmp)
    }
    await rename(tmp, dest)
    result.files.push({basename: blob.basename!, sha256: blob.sha256, action: 'exported'})
  }
  return result
}

export interface ImportResult {
  files: {path: string; basename: string; sha256: string; action: 'imported' | 'present'}[]
  errors: {path: string; message: string}[]
}

/**
 * Import package files (or directories of them, recursively: files with a package extension) into the
 * cache. Every failure is collected and reported; the caller turns a non-empty `errors` into exit code 2.
 */
export async function importToCache(cache: PackageCache, paths: string[]): Promise<ImportResult> {
  await cache.init()
  const result: ImportResult = {files: [], errors: []}
  const files: string[] = []
  const walk = async (p: string, explicit: boolean): Promise<void> => {
    let st
    try {
      st = await stat(p)
    } catch (error) {
      result.errors.push({path: p, message: (error as Error).message})
      return
    }
    if (st.isDirectory()) {
      let names: string[]
      try {
        names = (await readdir(p)).sort()
      } catch (error) {
        result.errors.push({path: p, message: (error as Error).message})
        return
      }
      for (const n of names) if (!n.startsWith('.')) await walk(join(p, n), false)
    } else if (st.isFile() && (explicit || parsePackageFileName(p))) {
      files.push(p)
    }
  }
  for (const p of paths) await walk(p, true)
  for (const file of files) {
    try {
      const sha256 = await sha256File(file)
      const base = basename(file)
      if (await cache.has(sha256)) {
        if (!(await cache.readMetadata(sha256))) await cache.writeMetadata(sha256, {basename: base})
        result.files.push({path: file, basename: base, sha256, action: 'present'})
        continue
      }
      const tmp = cache.tempPath(sha256)
      await copyFile(file, tmp)
      // hash the copy too: the file could change between the two reads
      await cache.commit(tmp, sha256, await sha256File(tmp), {basename: base})
      result.files.push({path: file, basename: base, sha256, action: 'imported'})
    } catch (error) {
      result.errors.push({path: file, message: (error as Error).message})
    }
  }
  return result
}
