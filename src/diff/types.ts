/**
 * The data `repro diff` produces: leaf events (one differing field of one thing) with a cause and a hint.
 * Everything here is plain JSON: what --json prints, what report.json holds, what the text renderer shows.
 */

export const DIFF_SCHEMA_VERSION = 1

/** Where a difference lives. index/manifest/layer descriptors and the archive itself are "packaging". */
export type EventKind = 'archive' | 'config' | 'file' | 'index' | 'layer' | 'manifest' | 'platform'

/** Ordered: content changes first, then metadata, then packaging. */
export type Category = 'content' | 'metadata' | 'packaging'
export const CATEGORY_ORDER: Category[] = ['content', 'metadata', 'packaging']

export type CauseId =
  | 'annotation'
  | 'archive-format'
  | 'build-hostname'
  | 'build-tool-label'
  | 'compression'
  | 'config'
  | 'created-timestamp'
  | 'file-added-or-removed'
  | 'file-content'
  | 'file-mode'
  | 'file-order'
  | 'file-owner'
  | 'file-timestamp'
  | 'file-type'
  | 'gzip-mtime'
  | 'hardlink'
  | 'history'
  | 'image-name'
  | 'label'
  | 'layer-count'
  | 'ldconfig-cache'
  | 'leaked-host-file'
  | 'log-file'
  | 'machine-id'
  | 'media-type'
  | 'mtime-after-sde'
  | 'package-log'
  | 'platform-missing'
  | 'provenance'
  | 'pyc-timestamp'
  | 'shadow-last-change'
  | 'symlink-target'
  | 'tar-format'
  | 'timestamp-in-content'
  | 'whiteout'
  | 'xattr'
  | 'zip-entry-times'

export interface DiffEvent {
  kind: EventKind
  /** '' for archive- and index-level events */
  platform: string
  /** 1-based layer number when layers were compared one to one; absent for flattened file systems */
  layer?: number
  /** a file path (no leading '/'), a JSON path ('.config.Env[1]'), or a descriptor name */
  path: string
  field: string
  /** the values on each side; null means absent on that side */
  a: string | null
  b: string | null
  cause: CauseId
  category: Category
  hint: string
  /** unified diff of a small text file */
  diff?: string
  /**
   * content differences a detector of src/hazards explains: both values decoded, e.g. `1795483984 vs
   * 1795483986: epoch seconds 2 s apart, both on 2026-11-23 (UTC)`
   */
  detail?: string
}

export interface CauseSummary {
  cause: CauseId
  category: Category
  count: number
  title: string
  hint: string
}

export interface InputSummary {
  input: string
  format: string
  /** manifest digest for one platform, index digest for a multi-platform image; absent for docker-archive */
  imageDigest: string | null
  platforms: string[]
}

export interface DiffSummary {
  /** events that make the images differ (exit 1 when > 0) */
  differences: number
  /** packaging differences that --semantic treats as the same image */
  notes: number
  /** events dropped by ignore flags */
  ignored: number
  byCategory: Record<Category, number>
  causes: CauseSummary[]
  layersCompared: number
  layersSkipped: number
  filesCompared: number
}

export interface DiffResult {
  schemaVersion: typeof DIFF_SCHEMA_VERSION
  a: InputSummary
  b: InputSummary
  same: boolean
  summary: DiffSummary
  differences: DiffEvent[]
  notes: DiffEvent[]
  reportDir?: string
  warnings: string[]
}
