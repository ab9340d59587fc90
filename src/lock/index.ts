/**
 * `repro lock`: resolve every external input of a build and write repro.lock.yaml (keeping the pins it
 * already has), re-resolve some or all (`--update`), or say which input moved (`--check`).
 */
import {access} from 'node:fs/promises'
import path from 'node:path'

import {ReproError} from '../errors.js'
import {defaultLockPath, LockError, type LockFile, readLockFile, serializeLock, writeLockFile} from './format.js'
import {lockHeader, type LockTarget, type ResolveDeps, targetInputs, wantedInputs} from './resolve.js'
import {sha256Digest} from '../image/digest.js'

export {LOCK_FILE, LockError, LockFileError, readLockFile, serializeLock} from './format.js'
export type {LockFile} from './format.js'

export type LockMode = 'check' | 'update' | 'write'

export interface LockOptions extends LockTarget {
  /** absolute path of the lock file (default: repro.lock.yaml next to the Dockerfile) */
  lockFile?: string
  mode: LockMode
  /** --update NAME...: only these inputs (keys as in the lock, or a section: images, urls, git, ...) */
  names: string[]
}

export interface LockChange {
  /** images, urls, git, frontend, contexts, hashfiles, or a setting (buildkit, sourceDateEpoch, buildArgs...) */
  section: string
  name: string
  /** where the Dockerfile uses it */
  uses: string[]
  /** the pin in the lock file (null: not there) */
  old: string | null
  /** the pin resolved now (null: no longer an input) */
  new: string | null
}

export interface LockResult {
  lockFile: string
  mode: LockMode
  /** the file was (re)written */
  written: boolean
  /** sha256 of the lock file as it is on disk after this run (null: there is none) */
  sha256: string | null
  /** how many inputs the lock pins */
  inputs: number
  /** what differs between the lock file and the inputs resolved now (with --check: what moved) */
  changes: LockChange[]
}

type Section = 'contexts' | 'frontend' | 'git' | 'hashfiles' | 'images' | 'urls'
const SECTIONS: Section[] = ['frontend', 'images', 'urls', 'git', 'contexts', 'hashfiles']

export {defaultLockPath} from './format.js'

/** The value that pins an entry (what --check compares). */
export function pinOf(section: Section, entry: unknown): string {
  const e = entry as Record<string, unknown>
  switch (section) {
    case 'images':
    case 'frontend':
      return e.digest as string
    case 'urls':
      return e.checksum as string
    case 'git':
      return e.commit as string
    case 'contexts':
      return e.pinned as string
    default:
      return entry as string
  }
}

export async function lock(options: LockOptions, deps: ResolveDeps): Promise<LockResult> {
  const lockFile = options.lockFile ?? defaultLockPath(options.dockerfile)
  const lockDir = path.dirname(lockFile)
  const exists = await access(lockFile).then(
    () => true,
    () => false,
  )
  if (options.mode === 'check' && !exists) {
    throw new LockError(`${lockFile}: no lock file to check`, ['make one with `repro lock`'])
  }
  const old = exists ? (await readLockFile(lockFile)).lock : undefined
  const inputs = await targetInputs(options)
  const wanted = wantedInputs(options, inputs, lockDir, deps)
  const known = new Set([...SECTIONS, ...wanted.map((w) => w.key)])
  for (const n of options.names) {
    if (!known.has(n))
      throw new LockError(
        `--update ${n}: not an input of this build (inputs: ${wanted.map((w) => w.key).join(', ') || 'none'})`,
      )
  }
  const fresh = (section: Section, key: string): boolean =>
    options.mode === 'check' ||
    (options.mode === 'update' &&
      (options.names.length === 0 || options.names.includes(key) || options.names.includes(section)))

  const next: LockFile = {
    ...lockHeader(options, inputs, lockDir),
    frontend: {},
    images: {},
    urls: {},
    git: {},
    contexts: {},
    hashfiles: {},
  }
  // a lock made with an epoch keeps it when none is given now
  if (next.sourceDateEpoch === null && old?.sourceDateEpoch) next.sourceDateEpoch = old.sourceDateEpoch
  for (const w of wanted) {
    const previous = (old?.[w.section] as Record<string, unknown> | undefined)?.[w.key]
    let entry: unknown
    if (previous !== undefined && !fresh(w.section, w.key)) {
      entry = previous
    } else {
      deps.logger?.verbose(`resolving ${w.section} ${w.key}`)
      try {
        entry = await w.resolve()
      } catch (error) {
        if (error instanceof ReproError && error.message.includes(w.key)) throw error
        if (error instanceof ReproError) {
          throw new LockError(`${w.key} (${w.uses.join(', ')}): ${error.message}`, error.suggestions)
        }
        throw error
      }
    }
    if (entry !== null && typeof entry === 'object' && 'uses' in entry) entry = {...entry, uses: w.uses}
    ;(next[w.section] as Record<string, unknown>)[w.key] = entry
  }

  const changes = old ? diffLocks(old, next, wanted) : []
  if (options.mode === 'check') {
    return {
      lockFile,
      mode: 'check',
      written: false,
      sha256: sha256Of(serializeLock(old!)),
      inputs: wanted.length,
      changes,
    }
  }
  const text = serializeLock(next)
  const unchanged = old !== undefined && serializeLock(old) === text
  if (!unchanged) await writeLockFile(lockFile, next)
  return {lockFile, mode: options.mode, written: !unchanged, sha256: sha256Of(text), inputs: wanted.length, changes}
}

function sha256Of(text: string): string {
  return sha256Digest(text)
}

/** Per input: old pin → new pin (added, removed, moved), then the settings that differ; sorted. */
export function diffLocks(
  old: LockFile,
  next: LockFile,
  wanted: ReadonlyArray<{section: string; key: string; uses: string[]}> = [],
): LockChange[] {
  const usesOf = (section: string, key: string): string[] =>
    wanted.find((w) => w.section === section && w.key === key)?.uses ??
    (((old as unknown as Record<string, Record<string, {uses?: string[]}>>)[section]?.[key]?.uses ?? []) as string[])
  const changes: LockChange[] = []
  for (const section of SECTIONS) {
    const a = old[section] as Record<string, unknown>
    const b = next[section] as Record<string, unknown>
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const before = key in a ? pinOf(section, a[key]) : null
      const after = key in b ? pinOf(section, b[key]) : null
      if (before !== after) changes.push({section, name: key, uses: usesOf(section, key), old: before, new: after})
    }
  }
  const setting = (name: string, before: unknown, after: unknown): void => {
    const x = JSON.stringify(before ?? null)
    const y = JSON.stringify(after ?? null)
    if (x !== y) changes.push({section: 'settings', name, uses: [], old: x, new: y})
  }
  setting('buildkit.image', old.buildkit.image, next.buildkit.image)
  setting('sourceDateEpoch', old.sourceDateEpoch, next.sourceDateEpoch)
  setting('buildArgs', sortKeys(old.buildArgs), sortKeys(next.buildArgs))
  setting('dockerfile', old.dockerfile, next.dockerfile)
  setting('target', old.target, next.target)
  setting('platforms', old.platforms, next.platforms)
  return changes
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
