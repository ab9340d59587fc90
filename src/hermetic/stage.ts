/**
 * Staged build contexts: the `repro-pkgs` directory (installer + per-platform verified package files) and
 * the `repro-snapshot` directory (the snapshot sources script). A stage is data computed before the build
 * (what --dry prints: which file comes from where); executing it downloads into the package cache and
 * writes the directory.
 *
 * Why a directory context (`--build-context repro-pkgs=DIR`) and not an OCI layout: docker buildx, buildctl
 * (`--local`) and podman (the directory is bind-mounted into the BuildKit container) all take a directory
 * the same way, it needs no tar/manifest writing, and a `RUN --mount=from=` of it puts nothing in the image,
 * so only the installed files matter. The directory is deterministic anyway: sorted entries, fixed modes,
 * every mtime = SOURCE_DATE_EPOCH, basenames only (no host path inside), and its own path is named by the
 * hash of its contents, so staging the same inputs twice gives the same bytes at the same path.
 */
import {createHash, randomBytes} from 'node:crypto'
import {chmod, copyFile, lstat, mkdir, readdir, rename, rm, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {ReproError} from '../errors.js'
import {sha256File} from '../image/digest.js'
import {lifecycle} from '../lifecycle.js'
import type {Logger} from '../log.js'
import {PackageCache} from '../pkg/cache.js'
import {downloadEntries} from '../pkg/download.js'
import type {HashEntry} from '../pkg/hash-file.js'
import {parseProvider, type Provider, providerUrl} from '../pkg/providers.js'
import {installerScript, PKGS_CONTEXT, SNAPSHOT_CONTEXT} from './installer.js'

export class StageError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_STAGE', message, {suggestions})
  }
}

/** One file of a staged directory: text we generate, or a verified blob from the package cache. */
export type TreeFile =
  | {path: string; mode: number; kind: 'text'; text: string}
  | {path: string; mode: number; kind: 'blob'; sha256: string; name: string}

export interface FetchPlan {
  /** the path from the hash file */
  name: string
  sha256: string
  /** "cache", or the first place a download would try */
  from: string
  /** how many more providers would be tried after `from` */
  fallbacks: number
}

export interface PkgStage {
  kind: 'pkgs'
  context: typeof PKGS_CONTEXT
  dir: string
  epoch: number
  cacheDir: string
  providers: string[]
  /** per platform: the platform, its directory in the context and the hash files that fed it */
  platforms: Array<{platform: string; slug: string; hashFiles: string[]; files: number}>
  files: TreeFile[]
  /** the entries to download (unique by sha256) */
  entries: HashEntry[]
  fetch: FetchPlan[]
}

export interface SnapshotStage {
  kind: 'snapshot'
  context: typeof SNAPSHOT_CONTEXT
  dir: string
  epoch: number
  files: TreeFile[]
}

export type Stage = PkgStage | SnapshotStage

/** The content key of a tree: paths, modes, contents (by sha256) and the epoch every mtime gets. */
export function treeKey(files: TreeFile[], epoch: number): string {
  const h = createHash('sha256').update(`repro-stage v1\nepoch ${epoch}\n`)
  for (const f of [...files].sort((a, b) => cmp(a.path, b.path))) {
    const sha = f.kind === 'text' ? createHash('sha256').update(f.text).digest('hex') : f.sha256
    h.update(`${f.path}\0${f.mode.toString(8)}\0${sha}\n`)
  }
  return h.digest('hex')
}

/** Where a stage lives: under the package cache, named by its content key. */
export function stageDir(cacheDir: string, context: string, files: TreeFile[], epoch: number): string {
  return path.join(cacheDir, 'contexts', `${context}-${treeKey(files, epoch).slice(0, 16)}`)
}

export interface PlatformEntries {
  platform: string
  slug: string
  hashFiles: string[]
  entries: HashEntry[]
}

/** The tree of the repro-pkgs context: /install, and per platform SLUG/SHA256SUMS + SLUG/<basename>. */
export function pkgsTree(platforms: PlatformEntries[]): TreeFile[] {
  const files: TreeFile[] = [{path: 'install', mode: 0o755, kind: 'text', text: installerScript()}]
  for (const p of platforms) {
    const byBase = new Map<string, HashEntry>()
    for (const e of p.entries) {
      const seen = byBase.get(e.basename)
      if (seen && seen.sha256 !== e.sha256) {
        throw new StageError(
          `${e.source.file}:${e.source.line}: ${e.name} and ${seen.source.file}:${seen.source.line}: ${seen.name} have the same file name ${e.basename} but different sha256 (for ${p.platform})`,
        )
      }
      byBase.set(e.basename, e)
    }
    const sorted = [...byBase.values()].sort((a, b) => cmp(a.basename, b.basename))
    files.push({
      path: `${p.slug}/SHA256SUMS`,
      mode: 0o644,
      kind: 'text',
      text: sorted.map((e) => `${e.sha256}  ${e.basename}\n`).join(''),
    })
    for (const e of sorted)
      files.push({path: `${p.slug}/${e.basename}`, mode: 0o644, kind: 'blob', sha256: e.sha256, name: e.name})
  }
  return files.sort((a, b) => cmp(a.path, b.path))
}

export interface PlanPkgStageInput {
  platforms: PlatformEntries[]
  cache: PackageCache
  providers: Provider[]
  epoch: number
}

/** Compute the repro-pkgs stage: no download, no write (the cache is only looked at). */
export async function planPkgStage(input: PlanPkgStageInput): Promise<PkgStage> {
  const files = pkgsTree(input.platforms)
  const unique = new Map<string, HashEntry>()
  for (const p of input.platforms) for (const e of p.entries) if (!unique.has(e.sha256)) unique.set(e.sha256, e)
  const entries = [...unique.values()].sort((a, b) => cmp(a.name, b.name))
  const fetch: FetchPlan[] = []
  for (const e of entries) {
    if (await input.cache.has(e.sha256)) {
      fetch.push({name: e.name, sha256: e.sha256, from: 'cache', fallbacks: 0})
      continue
    }
    fetch.push({
      name: e.name,
      sha256: e.sha256,
      from: input.providers.length > 0 ? firstUrl(input.providers[0], e, input.epoch) : '(no provider)',
      fallbacks: Math.max(0, input.providers.length - 1),
    })
  }
  return {
    kind: 'pkgs',
    context: PKGS_CONTEXT,
    dir: stageDir(input.cache.dir, PKGS_CONTEXT, files, input.epoch),
    epoch: input.epoch,
    cacheDir: input.cache.dir,
    providers: input.providers.map((p) => p.source),
    platforms: input.platforms.map((p) => ({
      platform: p.platform,
      slug: p.slug,
      hashFiles: p.hashFiles,
      files: files.filter((f) => f.kind === 'blob' && f.path.startsWith(`${p.slug}/`)).length,
    })),
    files,
    entries,
    fetch,
  }
}

export function planSnapshotStage(cacheDir: string, script: string, epoch: number): SnapshotStage {
  const files: TreeFile[] = [{path: 'sources', mode: 0o755, kind: 'text', text: script}]
  return {
    kind: 'snapshot',
    context: SNAPSHOT_CONTEXT,
    dir: stageDir(cacheDir, SNAPSHOT_CONTEXT, files, epoch),
    epoch,
    files,
  }
}

function firstUrl(p: Provider, e: HashEntry, epoch: number): string {
  if (p.kind === 'oci') return `${p.source} (blob sha256:${e.sha256})`
  try {
    return providerUrl(p, e, epoch)
  } catch {
    return p.source
  }
}

/** What --dry prints for a stage: comment lines (nothing here is a command to paste). */
export function stageText(stage: Stage): string {
  if (stage.kind === 'snapshot') {
    return `# stage build context ${stage.context} at ${stage.dir}: the snapshot sources script (sources), mtimes ${stage.epoch}`
  }
  const lines = [
    `# stage build context ${stage.context} at ${stage.dir}: ${stage.platforms
      .map((p) => `${p.slug}/ (${p.files} files for ${p.platform}, from ${p.hashFiles.join(' ')})`)
      .join(', ')}, mtimes ${stage.epoch}`,
    `#   package cache ${stage.cacheDir}; providers: ${stage.providers.join(' ') || '(none)'}`,
  ]
  for (const f of stage.fetch) {
    lines.push(
      f.from === 'cache'
        ? `#   ${f.name} sha256:${f.sha256.slice(0, 12)}: in the cache`
        : `#   ${f.name} sha256:${f.sha256.slice(0, 12)}: fetch ${f.from}${f.fallbacks ? ` (then ${f.fallbacks} more provider(s))` : ''}`,
    )
  }
  return lines.join('\n')
}

/** How often a stage re-downloads blobs that a concurrent `cache clean` removed before they were copied. */
const STAGE_ATTEMPTS = 3

/**
 * Download (pkgs) and write the staged directory, atomically and deterministically. A staged directory that
 * exists counts as done (it is named by its content and only ever appears by an atomic rename), so builds
 * with the same inputs share it instead of replacing it under each other. The check and the write happen
 * under the package cache's lock, and the context is marked in use (so `cache clean` keeps it) until the
 * returned function is called at the end of the build.
 */
export async function executeStage(
  stage: Stage,
  logger: Logger,
  options: {jobs?: number} = {},
): Promise<() => Promise<void>> {
  // the stage lives in CACHE/contexts/NAME (stageDir)
  const cache = new PackageCache(path.dirname(path.dirname(stage.dir)))
  await cache.init()
  for (let attempt = 1; ; attempt++) {
    if (stage.kind === 'pkgs') {
      const r = await downloadEntries(stage.entries, {
        cache,
        providers: stage.providers.map((p) => parseProvider(p)),
        epochFor: () => stage.epoch,
        jobs: options.jobs,
        logger,
      })
      logger.info(
        `${stage.context}: ${r.entries.length} package file(s) verified (${r.downloaded} downloaded, ${r.cached} from the cache)`,
      )
    }
    const release = await cache.withLock(async () => {
      const mark = await cache.markInUse(stage.dir)
      try {
        if (await isDirectory(stage.dir)) {
          logger.verbose(`${stage.context}: ${stage.dir} is staged already`)
          return mark
        }
        // a `cache clean` between the download and the lock removed blobs: download them again
        const missing = []
        for (const f of stage.files) if (f.kind === 'blob' && !(await cache.has(f.sha256))) missing.push(f.name)
        if (missing.length > 0) {
          if (attempt < STAGE_ATTEMPTS) {
            await mark()
            return undefined
          }
          throw new StageError(
            `staging ${stage.dir}: ${missing.join(', ')} left the package cache ${cache.dir} during the build (a concurrent cache clean?)`,
            ['run the build again'],
          )
        }
        await writeTree(stage.dir, stage.files, stage.epoch, cache)
        return mark
      } catch (error) {
        await mark()
        throw error
      }
    })
    if (release) return release
    logger.warn(
      `${stage.context}: package files left the cache while staging (a concurrent cache clean): fetching again`,
    )
  }
}

async function isDirectory(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined))?.isDirectory() ?? false
}

/**
 * Write files into DIR: into a temp dir beside it first, then one rename (so DIR is either absent or
 * complete). Fixed modes, every mtime = epoch. Callers hold the cache lock and have checked DIR is absent.
 */
export async function writeTree(dir: string, files: TreeFile[], epoch: number, cache?: PackageCache): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  const unregister = lifecycle.registerPath(tmp)
  try {
    await mkdir(tmp, {recursive: true})
    const dirs = new Set<string>([''])
    for (const f of files) {
      const dest = path.join(tmp, f.path)
      let d = path.posix.dirname(f.path)
      while (d !== '.' && !dirs.has(d)) {
        dirs.add(d)
        d = path.posix.dirname(d)
      }
      await mkdir(path.dirname(dest), {recursive: true})
      if (f.kind === 'text') await writeFile(dest, f.text)
      else {
        if (!cache) throw new StageError(`${f.path}: no package cache to copy ${f.name} from`)
        // a copy, not a hard link: the mtime set below must not touch the cache's blob
        await copyFile(cache.blobPath(f.sha256), dest)
      }
      await chmod(dest, f.mode)
    }
    const when = new Date(epoch * 1000)
    for (const f of files) await utimes(path.join(tmp, f.path), when, when)
    // directories last, deepest first (writing into a directory changes its mtime)
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
      await chmod(path.join(tmp, d), 0o755)
      await utimes(path.join(tmp, d), when, when)
    }
    try {
      await rename(tmp, dir)
    } catch (error) {
      // another writer got there first (a caller without the lock): its tree has the same content
      if (!['EEXIST', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error
      await rm(tmp, {recursive: true, force: true})
    }
  } catch (error) {
    await rm(tmp, {recursive: true, force: true})
    if (error instanceof ReproError) throw error
    throw new StageError(`staging ${dir}: ${(error as Error).message}`, [
      'use --pkg-cache DIR (or REPRO_CACHE) for a writable directory',
    ])
  } finally {
    unregister()
  }
}

/**
 * A digest of a directory tree as a build context sees it: every path (sorted), type, mode, mtime and
 * content. Two stagings are the same bytes iff their tree digests are equal.
 */
export async function treeDigest(dir: string): Promise<string> {
  const h = createHash('sha256')
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(dir, rel)
    const st = await lstat(abs)
    const mtime = Math.floor(st.mtimeMs / 1000)
    if (st.isDirectory()) {
      h.update(`d ${rel || '.'} ${(st.mode & 0o7777).toString(8)} ${mtime}\n`)
      for (const n of (await readdir(abs)).sort(cmp)) await walk(rel ? `${rel}/${n}` : n)
      return
    }
    h.update(`f ${rel} ${(st.mode & 0o7777).toString(8)} ${mtime} ${st.size} ${await sha256File(abs)}\n`)
  }
  await walk('')
  return `sha256:${h.digest('hex')}`
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
