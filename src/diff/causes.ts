/**
 * Why two builds differ: pure rules from a raw difference (where, which field, both values) to a likely
 * cause and a hint. Rules look at the path first (well-known non-deterministic files), then the field.
 */
import {explainContent, type FileView, HAZARD, type HazardId, pathHazard} from '../hazards/detectors.js'
import {annotationKey, labelKey} from './ignore.js'
import {type Category, CATEGORY_ORDER, type CauseId, type CauseSummary, type DiffEvent} from './types.js'

export type RawEvent = Omit<DiffEvent, 'category' | 'cause' | 'hint'> & {cause?: CauseId; hint?: string}

interface CauseInfo {
  category: Category
  title: string
  hint: string
}

function hazardCause(id: HazardId & CauseId): CauseInfo {
  const h = HAZARD[id]
  return {category: 'content', title: h.title, hint: `${h.why} Fix: ${h.fix}`}
}

export const CAUSES: Record<CauseId, CauseInfo> = {
  'file-content': {
    category: 'content',
    title: 'file content differs',
    hint: 'a build step wrote different bytes: look for timestamps, random values or unpinned downloads in the step that writes it',
  },
  'file-added-or-removed': {
    category: 'content',
    title: 'file only on one side',
    hint: 'a build step created or deleted different files: unpinned package versions, a different build context, or a leftover cache',
  },
  whiteout: {
    category: 'content',
    title: 'a deletion (whiteout) on one side only',
    hint: 'one build deleted a file of a lower layer (rm in a RUN step) and the other did not',
  },
  'symlink-target': {
    category: 'content',
    title: 'symlink target differs',
    hint: 'the link points elsewhere: alternatives, versioned library names or an absolute build path',
  },
  'file-type': {
    category: 'content',
    title: 'file type differs',
    hint: 'one side has a file where the other has a directory, link or device',
  },
  // the content hazards are the detectors of src/hazards (`repro lint IMAGE` rules RL101…): one set, one text
  'shadow-last-change': hazardCause('shadow-last-change'),
  'log-file': hazardCause('log-file'),
  'package-log': hazardCause('package-log'),
  'ldconfig-cache': hazardCause('ldconfig-cache'),
  'pyc-timestamp': hazardCause('pyc-timestamp'),
  'timestamp-in-content': hazardCause('timestamp-in-content'),
  'gzip-mtime': hazardCause('gzip-mtime'),
  'zip-entry-times': hazardCause('zip-entry-times'),
  'machine-id': hazardCause('machine-id'),
  'build-hostname': hazardCause('build-hostname'),
  'leaked-host-file': {
    category: 'content',
    title: 'host network files leaked into the image',
    hint: '/etc/resolv.conf, /etc/hosts and /etc/hostname are mounted by the engine during RUN: do not copy /etc wholesale, and remove them if a step wrote them',
  },
  config: {
    category: 'content',
    title: 'image config differs',
    hint: 'the Dockerfile or build arguments differ (ENV, CMD, ENTRYPOINT, USER, WORKDIR, platform)',
  },
  'platform-missing': {
    category: 'content',
    title: 'platform only on one side',
    hint: 'the builds targeted different platforms: pass the same --platform list',
  },
  'mtime-after-sde': {
    category: 'metadata',
    title: 'file mtime later than SOURCE_DATE_EPOCH',
    hint: 'timestamps were not rewritten: build with rewrite-timestamp=true (BuildKit >= 0.13, `repro build` does) or podman build --rewrite-timestamp',
  },
  'file-timestamp': {
    category: 'metadata',
    title: 'file timestamps differ',
    hint: 'build with the same SOURCE_DATE_EPOCH and rewrite-timestamp=true on both sides',
  },
  'file-mode': {
    category: 'metadata',
    title: 'file mode differs',
    hint: 'permissions depend on the umask, COPY --chmod, or the setgid bit of a parent directory (drwxr-xr-x vs drwxr-sr-x with containerized BuildKit)',
  },
  'file-owner': {
    category: 'metadata',
    title: 'file owner differs',
    hint: 'uids/gids depend on user creation order and COPY --chown: create users with fixed ids',
  },
  xattr: {
    category: 'metadata',
    title: 'extended attributes differ',
    hint: 'security.* and user.* xattrs come from the build host file system (SELinux labels, capabilities): rootless builds may drop them',
  },
  hardlink: {
    category: 'metadata',
    title: 'hard link on one side, a copy on the other',
    hint: 'snapshotters differ in hard-link detection (BuildKit native vs overlayfs): build with the same engine and snapshotter',
  },
  'file-order': {
    category: 'metadata',
    title: 'file order in the layer tar differs',
    hint: 'the layer was written in a different order: tar writers that do not sort (older engines) or a different snapshotter',
  },
  'tar-format': {
    category: 'metadata',
    title: 'tar header encoding differs',
    hint: 'the tar writer differs (ustar/pax/GNU headers, extra PAX records, padding): build with the same engine version',
  },
  'created-timestamp': {
    category: 'metadata',
    title: 'image created timestamps',
    hint: 'set SOURCE_DATE_EPOCH for the build (BuildKit >= 0.11, podman --source-date-epoch or --timestamp)',
  },
  history: {
    category: 'metadata',
    title: 'image history differs',
    hint: 'history records each Dockerfile step (created_by, comment, empty_layer): the Dockerfile or the engine differ; podman --omit-history drops it',
  },
  'build-tool-label': {
    category: 'metadata',
    title: 'build tool identity label',
    hint: 'Buildah/Podman add io.buildah.version: build with --identity-label=false, or use the same tool version',
  },
  'layer-count': {
    category: 'metadata',
    title: 'number of layers differs',
    hint: 'the Dockerfiles have different steps, or one build squashed layers: the file systems are compared flattened (whiteouts applied)',
  },
  label: {
    category: 'metadata',
    title: 'config label differs',
    hint: 'a LABEL or --label value differs (often a build date or VCS revision)',
  },
  compression: {
    category: 'packaging',
    title: 'same content, different compression or media type',
    hint: 'the layer tars are identical; the compressor, its level or the media type differ: pin the BuildKit version and compression options',
  },
  'media-type': {
    category: 'packaging',
    title: 'media type differs',
    hint: 'Docker vs OCI media types: BuildKit oci-mediatypes=true/false, podman --format oci/docker',
  },
  annotation: {
    category: 'packaging',
    title: 'annotation differs',
    hint: 'an annotation was set on one build only (--annotation, inherited annotations, exporter defaults)',
  },
  'image-name': {
    category: 'packaging',
    title: 'image name annotation or tag',
    hint: 'the image was tagged differently (io.containerd.image.name, org.opencontainers.image.ref.name, RepoTags): not part of the image digest; --ignore-image-name',
  },
  provenance: {
    category: 'packaging',
    title: 'provenance attestation on one side',
    hint: 'BuildKit adds provenance attestations by default: build with --provenance=false (repro build does)',
  },
  'archive-format': {
    category: 'packaging',
    title: 'archive format differs',
    hint: 'the images were exported differently (docker save, docker/oci exporter, OCI layout): compare what each one holds, not the archive',
  },
}

export interface CauseContext {
  /** SOURCE_DATE_EPOCH of each side, when it can be inferred */
  sdeA?: number
  sdeB?: number
  /** where each SDE came from, for hints ("config created", "buildkit/rewritten-timestamp annotation") */
  sdeSourceA?: string
  sdeSourceB?: string
}

const BUILD_TOOL_LABELS = new Set([
  'io.buildah.version',
  'com.docker.official-images.bashbrew.arch',
  'org.opencontainers.image.created',
  'build-date',
  'io.podman.version',
  'moby.buildkit.version',
])

/** Epoch seconds of an RFC 3339 date; undefined when unparsable. */
export function epochOf(date: string | undefined): number | undefined {
  if (!date) return undefined
  const ms = Date.parse(date)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
}

/** Parse our mtime display value: '2024-01-01T00:00:00Z (1704067200)' or plain seconds. */
export function secondsOfTimeValue(v: string | null): number | undefined {
  if (v === null) return undefined
  const m = /\((-?\d+(?:\.\d+)?)\)$/.exec(v) ?? /^(-?\d+(?:\.\d+)?)$/.exec(v)
  return m ? Number(m[1]) : undefined
}

/** Days since 1970 in /etc/shadow lines: true when the files differ only in the third field (last change). */
export function shadowDiffersOnlyInLastChange(a: string, b: string): boolean {
  const la = a.split('\n')
  const lb = b.split('\n')
  if (la.length !== lb.length) return false
  let differs = false
  for (let i = 0; i < la.length; i++) {
    if (la[i] === lb[i]) continue
    const fa = la[i].split(':')
    const fb = lb[i].split(':')
    if (fa.length !== fb.length || fa.length < 3) return false
    for (let f = 0; f < fa.length; f++) if (f !== 2 && fa[f] !== fb[f]) return false
    differs = true
  }
  return differs
}

function pathCause(path: string): CauseId | undefined {
  if (path === 'etc/shadow' || path === 'etc/shadow-' || path === 'etc/gshadow' || path === 'etc/gshadow-')
    return 'shadow-last-change'
  // (size 1: a file that differs is never empty on both sides)
  const byPath = pathHazard(path, 1)
  // diff has always called every /var/log file a log-file; package-log is for apt's caches
  if (byPath === 'package-log') return path.startsWith('var/log/') ? 'log-file' : 'package-log'
  if (byPath) return byPath
  if (path === 'etc/ld.so.cache') return 'ldconfig-cache'
  if (path === 'etc/machine-id' || path === 'var/lib/dbus/machine-id') return 'machine-id'
  if (path.endsWith('.pyc')) return 'pyc-timestamp'
  if (path === 'etc/resolv.conf' || path === 'etc/hosts' || path === 'etc/hostname') return 'leaked-host-file'
  return undefined
}

/** Both versions of a file whose content differs, as far as the comparer holds them. */
export interface ContentPair {
  a: FileView
  b: FileView
}

/**
 * The cause of a content difference from both contents: a detector of src/hazards with both values decoded
 * (timestamp in content, gzip header mtime, zip entry times, .pyc source mtime, shadow days), else undefined.
 */
export function contentCause(
  path: string,
  pair: ContentPair,
  ctx: CauseContext,
  now = Math.floor(Date.now() / 1000) + 86400,
): {cause: CauseId; detail: string} | undefined {
  const found = explainContent(path, pair.a, pair.b, {sdeA: ctx.sdeA, sdeB: ctx.sdeB, now})
  if (!found) return undefined
  return {cause: found.id, detail: found.detail}
}

function baseName(p: string): string {
  const i = p.lastIndexOf('/')
  return i === -1 ? p : p.slice(i + 1)
}

function sdeHint(e: RawEvent, ctx: CauseContext): string | undefined {
  const a = secondsOfTimeValue(e.a)
  const b = secondsOfTimeValue(e.b)
  const late: string[] = []
  if (a !== undefined && ctx.sdeA !== undefined && a > ctx.sdeA)
    late.push(`A's mtime is after A's SOURCE_DATE_EPOCH ${ctx.sdeA} (from ${ctx.sdeSourceA ?? 'the config'})`)
  if (b !== undefined && ctx.sdeB !== undefined && b > ctx.sdeB)
    late.push(`B's mtime is after B's SOURCE_DATE_EPOCH ${ctx.sdeB} (from ${ctx.sdeSourceB ?? 'the config'})`)
  if (late.length === 0) return undefined
  return `${late.join('; ')}: ${CAUSES['mtime-after-sde'].hint}`
}

/** The cause of a file event. */
function fileCause(e: RawEvent, ctx: CauseContext): {cause: CauseId; hint?: string} {
  const byPath = pathCause(e.path)
  switch (e.field) {
    case 'presence': {
      if (baseName(e.path).startsWith('.wh.')) return {cause: 'whiteout'}
      return {cause: byPath ?? 'file-added-or-removed'}
    }
    case 'content':
    case 'size':
      return {cause: byPath ?? 'file-content'}
    case 'mtime': {
      const hint = sdeHint(e, ctx)
      return hint ? {cause: 'mtime-after-sde', hint} : {cause: 'file-timestamp'}
    }
    case 'atime':
    case 'ctime':
    case 'pax.mtime':
    case 'pax.atime':
    case 'pax.ctime':
      return {cause: 'file-timestamp'}
    case 'mode':
      return {cause: 'file-mode'}
    case 'uid':
    case 'gid':
    case 'uname':
    case 'gname':
      return {cause: 'file-owner'}
    case 'linkname':
      return {cause: 'symlink-target'}
    case 'type': {
      const t = new Set([e.a, e.b])
      if (t.has('hardlink') && t.has('file')) return {cause: 'hardlink'}
      return {cause: 'file-type'}
    }
    case 'position':
      return {cause: 'file-order'}
    case 'format':
    case 'name':
    case 'devmajor':
    case 'devminor':
      return {cause: 'tar-format'}
    default:
      if (e.field.startsWith('xattr.')) return {cause: 'xattr'}
      if (e.field.startsWith('pax.')) return {cause: 'tar-format'}
      return {cause: 'file-content'}
  }
}

function annotationCause(key: string): {cause: CauseId; hint?: string} {
  if (key === 'io.containerd.image.name' || key === 'org.opencontainers.image.ref.name') return {cause: 'image-name'}
  if (key === 'org.opencontainers.image.created') return {cause: 'created-timestamp'}
  if (key === 'buildkit/rewritten-timestamp')
    return {
      cause: 'annotation',
      hint: 'only one build rewrote file timestamps (rewrite-timestamp=true): use it for both',
    }
  if (key.startsWith('vnd.docker.reference.')) return {cause: 'provenance'}
  return {cause: 'annotation'}
}

function configCause(e: RawEvent): {cause: CauseId; hint?: string} {
  if (e.path === '.created' || /^\.history\[\d+\]\.created$/.test(e.path)) return {cause: 'created-timestamp'}
  if (/^\.history(\[|$)/.test(e.path)) return {cause: 'history'}
  const label = labelKey(e as DiffEvent)
  if (label !== undefined) return {cause: BUILD_TOOL_LABELS.has(label) ? 'build-tool-label' : 'label'}
  return {cause: 'config'}
}

/** Where an event lives decides the category for descriptors (packaging); otherwise the cause does. */
function categoryOf(e: RawEvent, cause: CauseId): Category {
  if (e.kind === 'archive' || e.kind === 'index' || e.kind === 'manifest' || e.kind === 'layer') {
    // a layer whose bytes differ although every entry is equal changes the diff ID: not packaging
    if (e.kind === 'layer' && cause === 'tar-format') return 'metadata'
    return 'packaging'
  }
  return CAUSES[cause].category
}

/** Attach cause, category and hint to a raw event. A cause or hint set by the comparer wins. */
export function explain(e: RawEvent, ctx: CauseContext = {}): DiffEvent {
  let found: {cause: CauseId; hint?: string}
  if (e.cause) found = {cause: e.cause, hint: e.hint}
  else if (e.kind === 'file') found = fileCause(e, ctx)
  else if (e.field === 'annotation') found = annotationCause(annotationKey(e as DiffEvent) ?? '')
  else if (e.kind === 'config') found = configCause(e)
  else if (e.field === 'mediaType') found = {cause: 'media-type'}
  else if (e.field === 'repoTags') found = {cause: 'image-name'}
  else if (e.kind === 'platform') found = {cause: 'platform-missing'}
  else found = {cause: 'annotation'}
  const {cause} = found
  return {...e, cause, category: categoryOf(e, cause), hint: found.hint ?? e.hint ?? CAUSES[cause].hint}
}

/** One line per cause, most important first: content, then metadata, then packaging; then by count. */
export function summarizeCauses(events: DiffEvent[]): CauseSummary[] {
  const by = new Map<CauseId, CauseSummary>()
  for (const e of events) {
    const s = by.get(e.cause)
    if (s) {
      s.count++
      if (CATEGORY_ORDER.indexOf(e.category) < CATEGORY_ORDER.indexOf(s.category)) s.category = e.category
    } else {
      by.set(e.cause, {
        cause: e.cause,
        category: e.category,
        count: 1,
        hint: CAUSES[e.cause].hint,
        title: CAUSES[e.cause].title,
      })
    }
  }
  return [...by.values()].sort(
    (x, y) =>
      CATEGORY_ORDER.indexOf(x.category) - CATEGORY_ORDER.indexOf(y.category) ||
      y.count - x.count ||
      x.cause.localeCompare(y.cause),
  )
}
