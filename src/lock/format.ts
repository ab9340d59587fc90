/**
 * repro.lock.yaml: what it holds, how it is written (deterministic bytes, atomically) and read (bounded,
 * validated; a hostile file is one error naming it, never a crash or a hang).
 */
import {randomBytes} from 'node:crypto'
import {open, readFile, rename, rm, stat} from 'node:fs/promises'
import path from 'node:path'

import yaml from 'js-yaml'

import {ReproError} from '../errors.js'
import {lifecycle} from '../lifecycle.js'
import {loadYaml, shapeProblem} from '../safe-yaml.js'

export const LOCK_FILE = 'repro.lock.yaml'

/** repro.lock.yaml next to the Dockerfile: the lock a build follows when none is named. */
export function defaultLockPath(dockerfile: string): string {
  return path.join(path.dirname(dockerfile), LOCK_FILE)
}
export const LOCK_SCHEMA_VERSION = 1
/** The largest lock file read: real ones are a few KiB; this bounds parse time and memory. */
export const MAX_LOCK_BYTES = 1024 * 1024

export class LockFileError extends ReproError {
  readonly path: string
  constructor(file: string, problem: string, suggestions: string[] = []) {
    super('E_LOCK_FILE', `${file}: ${problem}`, {suggestions})
    this.path = file
  }
}

/** An input that cannot be locked, or a lock that does not fit the build (exit 2). */
export class LockError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_LOCK', message, {suggestions})
  }
}

export interface LockedImage {
  /** the digest the reference resolved to (an index when the registry serves one) */
  digest: string
  mediaType: string
  /** index only: platform (os/arch[/variant]) → manifest digest */
  platforms?: Record<string, string>
  /** where the Dockerfile names it: `FROM line 1`, `COPY --from line 4`, `--build-context base`, `# syntax` */
  uses: string[]
}

export interface LockedUrl {
  /** sha256:HEX of the bytes fetched (BuildKit's http.checksum) */
  checksum: string
  size: number
  uses: string[]
}

export interface LockedGit {
  /** the repository URL as the Dockerfile names it (without #fragment) */
  url: string
  /** the ref asked for (null: the remote's HEAD) */
  ref: string | null
  subdir: string | null
  commit: string
  uses: string[]
}

export interface LockedContext {
  /** as given: docker://REF, podman://REF, oci-layout://DIR */
  source: string
  /** docker/podman: the registry digest reference (REPO@sha256:...); oci-layout: the manifest digest */
  pinned: string
}

export interface LockFile {
  schemaVersion: number
  /** the Dockerfile, relative to the lock file's directory (forward slashes) */
  dockerfile: string
  target: string | null
  platforms: string[]
  /** build args that select an input, with the value the lock was made with (null: no value) */
  buildArgs: Record<string, string | null>
  /** SOURCE_DATE_EPOCH when one was given: its value and where it came from */
  sourceDateEpoch: {epoch: number; source: string} | null
  /** the BuildKit image builds run (docker, podman), as pinned in repro */
  buildkit: {image: string}
  /** `# syntax=` frontend, keyed by the reference as written */
  frontend: Record<string, LockedImage>
  /** images keyed by the reference after ARG expansion */
  images: Record<string, LockedImage>
  /** ADD URLs */
  urls: Record<string, LockedUrl>
  /** ADD git sources, keyed by URL#ref[:subdir] as written */
  git: Record<string, LockedGit>
  /** named build contexts that are images in a local store or OCI layouts */
  contexts: Record<string, LockedContext>
  /** --hashfile files (path relative to the lock file's directory) → sha256:HEX */
  hashfiles: Record<string, string>
}

const HEADER = [
  '# repro.lock.yaml: every external input of this build, pinned by `repro lock`.',
  '# Commit it. `repro build` enforces it (a BuildKit source policy), `repro build --locked` refuses',
  '# anything it does not list, `repro lock --check` says which input moved, `repro lock --update [NAME...]`',
  '# re-resolves. Made by repro; edit with `repro lock`, not by hand.',
  '',
].join('\n')

/** The file's bytes: header, then YAML with sorted keys; the same lock gives the same bytes. */
export function serializeLock(lock: LockFile): string {
  return HEADER + yaml.dump(lock, {sortKeys: true, lineWidth: -1, noRefs: true, quotingType: '"', noCompatMode: true})
}

/** Write through a temp file in the same directory and rename: readers see the old or the new file, never half. */
export async function writeLockFile(file: string, lock: LockFile): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  // Ctrl-C while writing: the temp file goes, the lock file stays as it was
  const unregister = lifecycle.registerPath(tmp)
  try {
    const fh = await open(tmp, 'wx', 0o644)
    try {
      await fh.writeFile(serializeLock(lock))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  } finally {
    unregister()
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/
const COMMIT = /^[a-f0-9]{40}(?:[a-f0-9]{24})?$/
const PLATFORM = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(?:\/[a-z0-9_.-]+)?$/

/** Read and validate a lock file; every problem is a LockFileError naming the file (and the field). */
export async function readLockFile(file: string): Promise<{lock: LockFile; bytes: Buffer}> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new LockFileError(file, error.code === 'ENOENT' ? 'no such file' : `cannot read (${error.code})`, [
      'make one with `repro lock`',
    ])
  })
  if (!info.isFile()) throw new LockFileError(file, 'not a regular file')
  if (info.size > MAX_LOCK_BYTES) throw new LockFileError(file, `larger than ${MAX_LOCK_BYTES} bytes (${info.size})`)
  const bytes = await readFile(file)
  if (bytes.length > MAX_LOCK_BYTES) throw new LockFileError(file, `larger than ${MAX_LOCK_BYTES} bytes`)
  return {lock: parseLock(bytes, file), bytes}
}

export function parseLock(bytes: Uint8Array, file: string): LockFile {
  if (bytes.length > MAX_LOCK_BYTES) throw new LockFileError(file, `larger than ${MAX_LOCK_BYTES} bytes`)
  let text: string
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    throw new LockFileError(file, 'is not UTF-8 text')
  }
  // js-yaml keeps an alias as a shared reference (no copy), but anything walking the tree would expand it:
  // a lock file never needs anchors, so any is refused before the walk (src/safe-yaml.ts)
  const loaded = loadYaml(text, path.basename(file))
  if ('problem' in loaded)
    throw new LockFileError(
      file,
      `not valid YAML${loaded.problem.line ? ` (line ${loaded.problem.line})` : ''}: ${loaded.problem.reason}`,
    )
  const doc = loaded.doc
  const shape = shapeProblem(doc, {maxDepth: 8, maxNodes: Number.POSITIVE_INFINITY})
  if (shape?.kind === 'alias') throw new LockFileError(file, 'uses YAML anchors/aliases, which a lock file never has')
  if (shape) throw new LockFileError(file, 'nested deeper than a lock file ever is')
  return validateLock(doc, file)
}

type Obj = Record<string, unknown>

function validateLock(doc: unknown, file: string): LockFile {
  const bad = (where: string, problem: string): never => {
    throw new LockFileError(file, `${where}: ${problem}`, ['regenerate it with `repro lock --update`'])
  }
  const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)
  const obj = (v: unknown, where: string): Obj => (isObj(v) ? v : bad(where, `expected a mapping, got ${kind(v)}`))
  const str = (v: unknown, where: string, re?: RegExp, max = 4096): string => {
    if (typeof v !== 'string') return bad(where, `expected a string, got ${kind(v)}`)
    if (v.length > max) return bad(where, `longer than ${max} characters`)
    if (re && !re.test(v)) return bad(where, `${JSON.stringify(v.slice(0, 100))} is not valid`)
    return v
  }
  const strOrNull = (v: unknown, where: string): string | null => (v === null ? null : str(v, where))
  const int = (v: unknown, where: string): number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : bad(where, `expected a non-negative integer`)
  const strings = (v: unknown, where: string): string[] => {
    if (!Array.isArray(v)) return bad(where, `expected a list, got ${kind(v)}`)
    if (v.length > 10_000) return bad(where, 'too many entries')
    return v.map((x, i) => str(x, `${where}[${i}]`))
  }
  const only = (o: Obj, where: string, keys: string[]): void => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) bad(where, `unknown field "${k.slice(0, 60)}"`)
  }
  const map = <T>(v: unknown, where: string, each: (x: unknown, w: string) => T): Record<string, T> => {
    const o = obj(v, where)
    const keys = Object.keys(o)
    if (keys.length > 10_000) bad(where, 'too many entries')
    const out: Record<string, T> = {}
    for (const k of keys) {
      if (k.length > 4096) bad(where, 'a key longer than 4096 characters')
      out[k] = each(o[k], `${where}.${k.slice(0, 200)}`)
    }
    return out
  }
  const image = (v: unknown, w: string): LockedImage => {
    const o = obj(v, w)
    only(o, w, ['digest', 'mediaType', 'platforms', 'uses'])
    const out: LockedImage = {
      digest: str(o.digest, `${w}.digest`, DIGEST),
      mediaType: str(o.mediaType, `${w}.mediaType`),
      uses: strings(o.uses, `${w}.uses`),
    }
    if (o.platforms !== undefined) {
      out.platforms = map(o.platforms, `${w}.platforms`, (x, ww) => str(x, ww, DIGEST))
      for (const p of Object.keys(out.platforms))
        if (!PLATFORM.test(p)) bad(`${w}.platforms`, `"${p}" is not a platform`)
    }
    return out
  }

  const root = obj(doc, 'the document')
  if (root.schemaVersion !== LOCK_SCHEMA_VERSION) {
    throw new LockFileError(
      file,
      `schemaVersion ${JSON.stringify(root.schemaVersion)} is not supported (this repro reads ${LOCK_SCHEMA_VERSION})`,
      ['use the repro that wrote it, or regenerate with `repro lock --update`'],
    )
  }
  only(root, 'the document', [
    'schemaVersion',
    'dockerfile',
    'target',
    'platforms',
    'buildArgs',
    'sourceDateEpoch',
    'buildkit',
    'frontend',
    'images',
    'urls',
    'git',
    'contexts',
    'hashfiles',
  ])
  const sdeRaw = root.sourceDateEpoch
  let sourceDateEpoch: LockFile['sourceDateEpoch'] = null
  if (sdeRaw !== null && sdeRaw !== undefined) {
    const o = obj(sdeRaw, 'sourceDateEpoch')
    only(o, 'sourceDateEpoch', ['epoch', 'source'])
    sourceDateEpoch = {epoch: int(o.epoch, 'sourceDateEpoch.epoch'), source: str(o.source, 'sourceDateEpoch.source')}
  }
  const bk = obj(root.buildkit, 'buildkit')
  only(bk, 'buildkit', ['image'])
  return {
    schemaVersion: LOCK_SCHEMA_VERSION,
    dockerfile: str(root.dockerfile, 'dockerfile'),
    target: strOrNull(root.target ?? null, 'target'),
    platforms: strings(root.platforms ?? [], 'platforms'),
    buildArgs: map(root.buildArgs ?? {}, 'buildArgs', (x, w) => strOrNull(x, w)),
    sourceDateEpoch,
    buildkit: {image: str(bk.image, 'buildkit.image')},
    frontend: map(root.frontend ?? {}, 'frontend', image),
    images: map(root.images ?? {}, 'images', image),
    urls: map(root.urls ?? {}, 'urls', (v, w) => {
      const o = obj(v, w)
      only(o, w, ['checksum', 'size', 'uses'])
      return {
        checksum: str(o.checksum, `${w}.checksum`, DIGEST),
        size: int(o.size, `${w}.size`),
        uses: strings(o.uses, `${w}.uses`),
      }
    }),
    git: map(root.git ?? {}, 'git', (v, w) => {
      const o = obj(v, w)
      only(o, w, ['url', 'ref', 'subdir', 'commit', 'uses'])
      return {
        url: str(o.url, `${w}.url`),
        ref: strOrNull(o.ref ?? null, `${w}.ref`),
        subdir: strOrNull(o.subdir ?? null, `${w}.subdir`),
        commit: str(o.commit, `${w}.commit`, COMMIT),
        uses: strings(o.uses, `${w}.uses`),
      }
    }),
    contexts: map(root.contexts ?? {}, 'contexts', (v, w) => {
      const o = obj(v, w)
      only(o, w, ['source', 'pinned'])
      return {source: str(o.source, `${w}.source`), pinned: str(o.pinned, `${w}.pinned`)}
    }),
    hashfiles: map(root.hashfiles ?? {}, 'hashfiles', (x, w) => str(x, w, DIGEST)),
  }
}

function kind(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`
}
