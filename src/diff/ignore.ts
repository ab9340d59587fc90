/**
 * Ignore rules for `repro diff`: diffoci's flags (same names, same meaning), --semantic for all of them,
 * and our own path globs, annotation and label keys. Pure functions over events.
 */
import {InvalidArgumentError} from '../errors.js'
import type {DiffEvent} from './types.js'

export interface IgnoreOptions {
  ignoreFileTimestamps: boolean
  ignoreImageTimestamps: boolean
  ignoreHistory: boolean
  ignoreFileOrder: boolean
  ignoreFileModeRedundantBits: boolean
  ignoreImageName: boolean
  ignoreTarFormat: boolean
  treatCanonicalPathsEqual: boolean
  /** packaging-only differences (compression, media types, index.json annotations, archive format) are notes */
  semantic: boolean
  paths: string[]
  annotations: string[]
  labels: string[]
}

export const NO_IGNORES: IgnoreOptions = {
  ignoreFileTimestamps: false,
  ignoreImageTimestamps: false,
  ignoreHistory: false,
  ignoreFileOrder: false,
  ignoreFileModeRedundantBits: false,
  ignoreImageName: false,
  ignoreTarFormat: false,
  treatCanonicalPathsEqual: false,
  semantic: false,
  paths: [],
  annotations: [],
  labels: [],
}

/** Flags as given on the command line → the effective options (--semantic and --ignore-timestamps expand). */
export function ignoreOptions(flags: Partial<IgnoreOptions> & {ignoreTimestamps?: boolean}): IgnoreOptions {
  const semantic = flags.semantic ?? false
  const timestamps = flags.ignoreTimestamps ?? false
  for (const p of flags.paths ?? []) compileGlob(p)
  return {
    ignoreFileTimestamps: semantic || timestamps || (flags.ignoreFileTimestamps ?? false),
    ignoreImageTimestamps: semantic || timestamps || (flags.ignoreImageTimestamps ?? false),
    ignoreHistory: semantic || (flags.ignoreHistory ?? false),
    ignoreFileOrder: semantic || (flags.ignoreFileOrder ?? false),
    ignoreFileModeRedundantBits: semantic || (flags.ignoreFileModeRedundantBits ?? false),
    ignoreImageName: semantic || (flags.ignoreImageName ?? false),
    ignoreTarFormat: semantic || (flags.ignoreTarFormat ?? false),
    treatCanonicalPathsEqual: semantic || (flags.treatCanonicalPathsEqual ?? false),
    semantic,
    paths: [...(flags.paths ?? [])],
    annotations: [...(flags.annotations ?? [])],
    labels: [...(flags.labels ?? [])],
  }
}

/**
 * A small glob: `*` any run of characters but '/', `**` any run including '/', `?` one character but '/'.
 * Patterns match the whole path (leading '/' and './' ignored); a match of a directory covers what is below it.
 */
export function compileGlob(pattern: string): RegExp {
  const p = pattern.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '')
  if (p === '') throw new InvalidArgumentError(`--ignore-path: empty pattern ${JSON.stringify(pattern)}`)
  let re = ''
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '*') {
      if (p[i + 1] === '*') {
        // '**/' also matches zero directories
        if (p[i + 2] === '/') {
          re += '(?:.*/)?'
          i += 2
        } else {
          re += '.*'
          i += 1
        }
      } else {
        re += '[^/]*'
      }
    } else if (c === '?') {
      re += '[^/]'
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${re}(?:/.*)?$`)
}

export function globMatcher(patterns: string[]): (path: string) => boolean {
  const res = patterns.map(compileGlob)
  if (res.length === 0) return () => false
  return (path) => {
    const p = path.replace(/^(\.\/|\/)+/, '')
    return res.some((r) => r.test(p))
  }
}

const IMAGE_NAME_ANNOTATIONS = new Set(['io.containerd.image.name', 'org.opencontainers.image.ref.name'])
const CREATED_ANNOTATION = 'org.opencontainers.image.created'
const FILE_TIME_FIELDS = new Set(['mtime', 'atime', 'ctime', 'pax.mtime', 'pax.atime', 'pax.ctime'])

/** The annotation key of an annotation event ('annotations["key"]' or '.annotations["key"]' paths). */
export function annotationKey(event: DiffEvent): string | undefined {
  const m = /(?:^|\.)annotations\["((?:[^"\\]|\\.)*)"\]$/.exec(event.field === 'annotation' ? event.path : '')
  return m ? JSON.parse(`"${m[1]}"`) : undefined
}

/** The label key of a config event on .config.Labels["key"] (or the legacy container_config). */
export function labelKey(event: DiffEvent): string | undefined {
  if (event.kind !== 'config') return undefined
  const m = /^\.(?:config|container_config)\.Labels\["((?:[^"\\]|\\.)*)"\]$/.exec(event.path)
  return m ? JSON.parse(`"${m[1]}"`) : undefined
}

/** Decide whether an event is dropped. Mode events are re-checked with the permission bits only. */
export function makeIgnorePredicate(o: IgnoreOptions): (event: DiffEvent) => boolean {
  const pathIgnored = globMatcher(o.paths)
  const annotations = new Set(o.annotations)
  const labels = new Set(o.labels)
  return (e) => {
    if (e.kind === 'file' && pathIgnored(e.path)) return true
    const ann = annotationKey(e)
    if (ann !== undefined) {
      if (annotations.has(ann)) return true
      if (o.ignoreImageName && IMAGE_NAME_ANNOTATIONS.has(ann)) return true
      if (o.ignoreImageTimestamps && ann === CREATED_ANNOTATION) return true
    }
    if (o.ignoreImageName && e.field === 'repoTags') return true
    const label = labelKey(e)
    if (label !== undefined && labels.has(label)) return true
    if (e.kind === 'config') {
      if (o.ignoreHistory && /^\.history(\[|$)/.test(e.path)) return true
      if (o.ignoreImageTimestamps && (e.path === '.created' || /^\.history\[\d+\]\.created$/.test(e.path))) return true
    }
    if (e.kind === 'file') {
      if (o.ignoreFileTimestamps && FILE_TIME_FIELDS.has(e.field)) return true
      if (o.ignoreFileOrder && e.field === 'position') return true
      if (o.ignoreTarFormat && (e.field === 'format' || e.field.startsWith('pax.') || e.field === 'name')) return true
      if (o.treatCanonicalPathsEqual && e.field === 'name') return true
      if (o.ignoreFileModeRedundantBits && e.field === 'mode' && e.a !== null && e.b !== null) {
        return (Number.parseInt(e.a, 8) & 0o7777) === (Number.parseInt(e.b, 8) & 0o7777)
      }
    }
    if (e.kind === 'layer' && o.ignoreTarFormat && e.cause === 'tar-format') return true
    return false
  }
}
