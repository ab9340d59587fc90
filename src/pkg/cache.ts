/**
 * The content-addressed package cache:
 *   blobs/sha256/<hex>      the verified bytes (only ever entered by an atomic rename after verification)
 *   metadata/sha256/<hex>   JSON {"basename": ...} so a blob can be exported under its file name
 *   tmp/                    partial downloads (same filesystem as blobs/, so the rename is atomic)
 */
import {randomBytes} from 'node:crypto'
import {copyFile, link, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {DigestMismatchError, ReproError} from '../errors.js'
import {sha256File} from '../image/digest.js'
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

export class PackageCache {
  constructor(readonly dir: string) {}

  blobPath(sha256: string): string {
    return join(this.dir, 'blobs', 'sha256', sha256)
  }

  metadataPath(sha256: string): string {
    return join(this.dir, 'metadata', 'sha256', sha256)
  }

  async init(): Promise<void> {
    try {
      await mkdir(join(this.dir, 'blobs', 'sha256'), {recursive: true})
      await mkdir(join(this.dir, 'metadata', 'sha256'), {recursive: true})
      await mkdir(join(this.dir, 'tmp'), {recursive: true})
    } catch (error) {
      throw new CacheError(`cache ${this.dir}: cannot create: ${(error as Error).message}`, [
        'use --cache DIR (or REPRO_CACHE) for a writable directory',
      ])
    }
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(sha256))).isFile()
    } catch {
      return false
    }
  }

  /** A fresh temp path inside the cache (same filesystem as the blobs). */
  tempPath(hint: string): string {
    return join(this.dir, 'tmp', `${hint.slice(0, 16)}.${process.pid}.${randomBytes(6).toString('hex')}.part`)
  }

  /**
   * Move a verified temp file into the cache. The caller has hashed it while writing; this checks the
   * claim once more against the name it will be stored under, then renames atomically.
   */
  async commit(tempFile: string, sha256: string, actual: string, meta: CacheMetadata): Promise<void> {
    if (actual !== sha256) {
      await rm(tempFile, {force: true})
      throw new DigestMismatchError(meta.basename, `sha256:${sha256}`, `sha256:${actual}`)
    }
    await this.writeMetadata(sha256, meta)
    await rename(tempFile, this.blobPath(sha256))
  }

  async writeMetadata(sha256: string, meta: CacheMetadata): Promise<void> {
    const tmp = this.tempPath(`${sha256}.meta`)
    await writeFile(tmp, `${JSON.stringify({basename: meta.basename})}\n`)
    await rename(tmp, this.metadataPath(sha256))
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

  /** Remove blobs, metadata and partial downloads; returns what was removed. */
  async clean(): Promise<{blobs: number; bytes: number}> {
    const blobs = await this.list()
    for (const sub of ['blobs', 'metadata', 'tmp']) await rm(join(this.dir, sub), {recursive: true, force: true})
    return {blobs: blobs.length, bytes: blobs.reduce((s, b) => s + b.size, 0)}
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
