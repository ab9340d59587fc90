/**
 * The matrix file of `repro verify --matrix FILE`: parsed and validated whole before anything is built.
 * Every problem is one line naming the file, the job (index and id) and the field (MatrixFileError, exit 2).
 *
 *   builders:                 # optional: named builders jobs run on
 *     bk-new: {runtime: buildkit, addr: unix:///run/buildkit/buildkitd.sock, image: moby/buildkit:v0.32.2}
 *     docker: {runtime: docker}
 *   defaults: {sde: 0, times: 2}   # optional: any job field but id
 *   jobs:                     # or the file is just this list
 *     - id: app
 *       context: app          # relative to the matrix file's directory, never outside it
 *       dockerfile: Dockerfile
 *       buildArgs: {VERSION: "1.0"}
 *       lock: app/repro.lock.yaml
 *       expectedDigest: sha256:...      # or against: registry.example/app:1.0
 *       platforms: [linux/amd64]
 *       builders: [bk-new, docker]      # one job per builder (id app/bk-new, app/docker); or builder: / runtime:
 *
 * Hostile files are bounded: size (MAX_FILE_BYTES), nesting depth, node count, and YAML aliases of collections
 * are refused (a "billion laughs" file expands aliases exponentially; one alias per collection is never needed
 * in a list of jobs). Paths are relative and stay inside the matrix file's directory (checked again through
 * symlinks by checkMatrixPaths before the run).
 */
import {readFile, realpath, stat} from 'node:fs/promises'
import path from 'node:path'

import {MatrixFileError, shown} from '../../errors.js'
import {loadYaml, shapeProblem} from '../../safe-yaml.js'
import {closestFlag} from '../../ui/usage-errors.js'
import type {JobExpectation} from './types.js'

export const MAX_FILE_BYTES = 1024 * 1024
export const MAX_DEPTH = 16
export const MAX_NODES = 100_000
export const MAX_JOBS = 5000
export const MAX_TIMES = 20

export const MATRIX_RUNTIMES = ['buildkit', 'docker', 'podman'] as const
export type MatrixRuntime = (typeof MATRIX_RUNTIMES)[number]

export interface MatrixBuilder {
  name: string
  runtime: MatrixRuntime
  /** a BuildKit daemon (unix://, tcp://, docker-container://...) for the buildkit runtime */
  addr?: string
  /** the BuildKit image docker/podman run, or the pin a daemon's version is checked against */
  image?: string
  /** an existing buildx builder (docker) */
  buildx?: string
  /** accept a daemon that serves another BuildKit version than the pin */
  allowUnpinned: boolean
  /** DOCKER_HOST for the docker runtime */
  dockerHost?: string
}

export interface MatrixJob {
  id: string
  /** index in the file's `jobs` list (jobs expanded from one entry's `builders` share it) */
  index: number
  fixture: string
  /** relative to the matrix file's directory, POSIX separators, `.` for that directory */
  context: string
  /** relative to the context */
  dockerfile: string
  buildArgs: Record<string, string>
  /** NAME → DIR (relative, inside), oci-layout://DIR, docker-image://REF, ... */
  buildContexts: Record<string, string>
  /** relative to the matrix file's directory */
  lock?: string
  locked: boolean
  /** relative to the matrix file's directory */
  hashfiles: string[]
  providers: string[]
  platforms: string[]
  format: 'docker' | 'oci'
  target?: string
  sde: string
  times: number
  expectedDigest?: string
  against?: string
  expect: JobExpectation
  expectCauses: string[]
  builder: MatrixBuilder
  /** the BuildKit version this job is about (a label for the report) */
  buildkit?: string
  /** jobs with the same key must give the same digest */
  agree?: string
}

export interface Matrix {
  /** absolute path of the matrix file */
  file: string
  /** its base name, for the report */
  name: string
  /** the directory every relative path is resolved against */
  baseDir: string
  builders: Record<string, MatrixBuilder>
  jobs: MatrixJob[]
}

const TOP_KEYS = ['builders', 'defaults', 'jobs', 'version']
const BUILDER_KEYS = ['addr', 'allowUnpinned', 'buildx', 'dockerHost', 'image', 'runtime']
const JOB_KEYS = [
  'against',
  'agree',
  'buildArgs',
  'buildContexts',
  'builder',
  'builders',
  'buildkit',
  'context',
  'dockerfile',
  'expect',
  'expectCauses',
  'expectedDigest',
  'fixture',
  'format',
  'hashfiles',
  'id',
  'lock',
  'locked',
  'platforms',
  'providers',
  'runtime',
  'sde',
  'target',
  'times',
]

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(?:\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const DIGEST = /^(sha256:)?[a-f0-9]{64}$/
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/

type Doc = Record<string, unknown>

/** Parse and validate a matrix file's text. `file` is the absolute path (relative paths resolve next to it). */
export function parseMatrix(text: string, file: string, extraBuilders: Record<string, MatrixBuilder> = {}): Matrix {
  const name = path.basename(file)
  const fail = (msg: string, suggestions: string[] = []) => new MatrixFileError(`${file}: ${msg}`, suggestions)
  if (Buffer.byteLength(text) > MAX_FILE_BYTES)
    throw fail(`larger than ${MAX_FILE_BYTES} bytes; split the matrix into several files`)
  const loaded = loadYaml(text, name)
  if ('problem' in loaded) {
    const p = loaded.problem
    throw fail(`not valid YAML${p.line ? ` at line ${p.line}, column ${p.column}` : ''}: ${p.reason}`)
  }
  const doc = loaded.doc
  const shape = shapeProblem(doc, {maxDepth: MAX_DEPTH, maxNodes: MAX_NODES})
  if (shape?.kind === 'alias')
    throw fail(`${shape.at}: a YAML alias of a mapping or list (*ref); write the values out (aliases are refused)`)
  if (shape?.kind === 'depth') throw fail(`${shape.at || 'the document'}: nested deeper than ${MAX_DEPTH} levels`)
  if (shape) throw fail(`more than ${MAX_NODES} YAML nodes`)
  if (doc === undefined || doc === null) throw fail('empty; expected a list of jobs or a mapping with `jobs:`')
  const top: Doc = Array.isArray(doc) ? {jobs: doc} : (doc as Doc)
  if (typeof top !== 'object') throw fail('expected a list of jobs or a mapping with `jobs:`')
  unknownKeys(top, TOP_KEYS, '', fail)
  if (top.version !== undefined && top.version !== 1) throw fail(`version: ${shown(String(top.version))}: expected 1`)

  const builders: Record<string, MatrixBuilder> = {...extraBuilders}
  if (top.builders !== undefined) {
    const bs = mapping(top.builders, 'builders', fail)
    for (const [bn, raw] of Object.entries(bs)) {
      if (!NAME.test(bn)) throw fail(`builders.${shown(bn, 40)}: a builder name is letters, digits, . _ - (<= 64)`)
      builders[bn] = parseBuilder(bn, raw, `builders.${bn}`, fail)
    }
  }
  const defaults = top.defaults === undefined ? {} : mapping(top.defaults, 'defaults', fail)
  unknownKeys(defaults, JOB_KEYS, 'defaults', fail)
  if ('id' in defaults) throw fail('defaults.id: every job has its own id')

  if (!Array.isArray(top.jobs)) throw fail('jobs: expected a list of jobs')
  if (top.jobs.length === 0) throw fail('jobs: the list is empty')
  const jobs: MatrixJob[] = []
  const ids = new Map<string, string>()
  for (const [index, raw] of top.jobs.entries()) {
    const label = `jobs[${index}]`
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fail(`${label}: expected a mapping`)
    const j = raw as Doc
    const labelled = typeof j.id === 'string' ? `${label} (${shown(j.id, 60)})` : label
    const jfail = (field: string, msg: string, s: string[] = []) => fail(`${labelled}.${field}: ${msg}`, s)
    unknownKeys(j, JOB_KEYS, labelled, fail)
    for (const job of parseJob({...defaults, ...j}, index, builders, jfail)) {
      const prev = ids.get(job.id)
      if (prev !== undefined) throw fail(`${labelled}.id: ${job.id}: duplicate job id (also ${prev})`)
      ids.set(job.id, label)
      jobs.push(job)
      if (jobs.length > MAX_JOBS) throw fail(`more than ${MAX_JOBS} jobs; split the matrix into several files`)
    }
  }
  // a job's directory in the report is jobs/<id>: one id must not be a directory of another (a and a/b)
  for (const job of jobs) {
    const segs = job.id.split('/')
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/')
      if (ids.has(parent))
        throw fail(
          `jobs[${job.index}] (${job.id}).id: ${job.id}: nests under the id of ${ids.get(parent)} (${parent}); rename one`,
        )
    }
  }
  return {file, name, baseDir: path.dirname(path.resolve(file)), builders, jobs}
}

function unknownKeys(o: Doc, known: string[], at: string, fail: (m: string, s?: string[]) => MatrixFileError): void {
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue
    const near = closestFlag(k, Object.fromEntries(known.map((x) => [x, {}])))?.replace(/^-+/, '')
    throw fail(`${at ? `${at}.` : ''}${shown(k, 40)}: unknown key${near ? `; did you mean ${near}?` : ''}`, [
      `known keys: ${known.join(', ')}`,
    ])
  }
}

function mapping(v: unknown, at: string, fail: (m: string) => MatrixFileError): Doc {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw fail(`${at}: expected a mapping`)
  return v as Doc
}

function parseBuilder(
  name: string,
  raw: unknown,
  at: string,
  fail: (m: string, s?: string[]) => MatrixFileError,
): MatrixBuilder {
  const b = mapping(raw, at, fail)
  unknownKeys(b, BUILDER_KEYS, at, fail)
  if (!MATRIX_RUNTIMES.includes(b.runtime as MatrixRuntime))
    throw fail(`${at}.runtime: ${shown(String(b.runtime))}: expected one of ${MATRIX_RUNTIMES.join(', ')}`)
  const str = (k: string): string | undefined => {
    if (b[k] === undefined) return undefined
    if (typeof b[k] !== 'string' || b[k] === '' || (b[k] as string).length > 512)
      throw fail(`${at}.${k}: expected a non-empty string`)
    return b[k] as string
  }
  if (b.allowUnpinned !== undefined && typeof b.allowUnpinned !== 'boolean')
    throw fail(`${at}.allowUnpinned: expected true or false`)
  const out: MatrixBuilder = {
    name,
    runtime: b.runtime as MatrixRuntime,
    addr: str('addr'),
    image: str('image'),
    buildx: str('buildx'),
    dockerHost: str('dockerHost'),
    allowUnpinned: b.allowUnpinned === true,
  }
  if (out.addr && out.runtime !== 'buildkit') throw fail(`${at}.addr: only for runtime buildkit`)
  if (out.addr && !/^(unix|tcp|docker-container|kube-pod|podman-container|ssh):\/\/./.test(out.addr))
    throw fail(`${at}.addr: ${shown(out.addr)}: expected unix://, tcp://, docker-container://... address`)
  if (out.buildx && out.runtime !== 'docker') throw fail(`${at}.buildx: only for runtime docker`)
  return out
}

/** A path relative to the matrix file's directory that stays inside it (lexically; symlinks: checkMatrixPaths). */
function insidePath(v: unknown, field: string, jfail: (f: string, m: string) => MatrixFileError): string {
  if (typeof v !== 'string' || v === '') throw jfail(field, 'expected a relative path')
  if (v.includes('\0') || v.length > 1024) throw jfail(field, `${shown(v)}: not a usable path`)
  if (path.isAbsolute(v) || /^[A-Za-z]:[\\/]/.test(v))
    throw jfail(field, `${shown(v)}: absolute path; paths are relative to the matrix file's directory`)
  const norm = path.posix.normalize(v.replaceAll('\\', '/'))
  if (norm === '..' || norm.startsWith('../'))
    throw jfail(field, `${shown(v)}: leads outside the matrix file's directory`)
  return norm.replace(/\/+$/, '') || '.'
}

function parseJob(
  j: Doc,
  index: number,
  builders: Record<string, MatrixBuilder>,
  jfail: (field: string, msg: string, s?: string[]) => MatrixFileError,
): MatrixJob[] {
  const str = (k: string, max = 512): string | undefined => {
    const v = j[k]
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v === '' || v.length > max) throw jfail(k, `expected a non-empty string (<= ${max})`)
    return v
  }
  const list = (k: string): string[] => {
    const v = j[k]
    if (v === undefined) return []
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === ''))
      throw jfail(k, 'expected a list of strings')
    return v as string[]
  }
  const strMap = (k: string): Record<string, string> => {
    const v = j[k]
    if (v === undefined) return {}
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw jfail(k, 'expected a mapping of NAME: value')
    const out: Record<string, string> = {}
    for (const [n, x] of Object.entries(v as Doc)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(n)) throw jfail(`${k}.${shown(n, 40)}`, 'not a valid name')
      if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean')
        throw jfail(`${k}.${n}`, 'expected a string')
      out[n] = String(x)
    }
    return out
  }

  const id = str('id', 200) ?? `job-${index + 1}`
  if (!ID.test(id) || id.split('/').some((s) => s === '.' || s === '..'))
    throw jfail('id', `${shown(id)}: letters, digits, . _ - and / between names`)
  if (j.context === undefined) throw jfail('context', 'missing; the build context directory is required')
  const context = insidePath(j.context, 'context', jfail)
  const dockerfile = j.dockerfile === undefined ? 'Dockerfile' : insidePath(j.dockerfile, 'dockerfile', jfail)
  if (path.posix.normalize(`${context}/${dockerfile}`).startsWith('../'))
    throw jfail('dockerfile', `${dockerfile}: leads outside the matrix file's directory`)
  const lock = j.lock === undefined ? undefined : insidePath(j.lock, 'lock', jfail)
  if (j.locked !== undefined && typeof j.locked !== 'boolean') throw jfail('locked', 'expected true or false')
  const hashfiles = list('hashfiles').map((h, i) => insidePath(h, `hashfiles[${i}]`, jfail))
  const buildContexts = strMap('buildContexts')
  for (const [n, v] of Object.entries(buildContexts)) {
    // a scheme (oci-layout://, docker-image://) is the engine's to read; a plain directory is a path like context
    if (!/^[a-z][a-z0-9+.-]*:\/\//.test(v) && !v.startsWith('target:'))
      buildContexts[n] = insidePath(v, `buildContexts.${n}`, jfail)
  }
  const platforms = list('platforms')
  for (const p of platforms) if (!PLATFORM.test(p)) throw jfail('platforms', `${shown(p)}: expected OS/ARCH[/VARIANT]`)
  const format = j.format ?? 'docker'
  if (format !== 'docker' && format !== 'oci') throw jfail('format', `${shown(String(format))}: expected docker or oci`)
  if (format === 'docker' && platforms.length > 1)
    throw jfail('platforms', 'several platforms need format: oci (a docker archive holds one)')
  const sdeRaw = j.sde ?? 0
  if (!(typeof sdeRaw === 'number' && Number.isInteger(sdeRaw) && sdeRaw >= 0) && !/^\d{1,12}$/.test(String(sdeRaw)))
    throw jfail('sde', `${shown(String(sdeRaw))}: expected SOURCE_DATE_EPOCH seconds (an integer >= 0)`)
  const times = j.times ?? 2
  if (typeof times !== 'number' || !Number.isInteger(times) || times < 1 || times > MAX_TIMES)
    throw jfail('times', `${shown(String(times))}: expected an integer from 1 to ${MAX_TIMES}`)
  const expectedDigest = str('expectedDigest', 80)
  if (expectedDigest !== undefined && !DIGEST.test(expectedDigest))
    throw jfail('expectedDigest', `${shown(expectedDigest)}: expected sha256:<64 hex digits>`)
  const against = str('against', 1024)
  if (expectedDigest && against) throw jfail('against', 'give expectedDigest or against, not both')
  const expect = (j.expect ?? 'reproducible') as JobExpectation
  if (expect !== 'reproducible' && expect !== 'not-reproducible')
    throw jfail('expect', `${shown(String(expect))}: expected reproducible or not-reproducible`)
  if (times < 2 && !expectedDigest && !against)
    throw jfail('times', '1 rebuild with nothing to compare it with proves nothing; use 2, expectedDigest or against')

  // which builders: builder (one), builders (several: one job each), or a bare runtime
  let picked: MatrixBuilder[]
  const byName = (n: unknown, field: string): MatrixBuilder => {
    if (typeof n !== 'string' || !builders[n]) {
      const near =
        typeof n === 'string'
          ? closestFlag(n, Object.fromEntries(Object.keys(builders).map((x) => [x, {}])))?.replace(/^-+/, '')
          : undefined
      throw jfail(
        field,
        `${shown(String(n), 60)}: no such builder${near ? `; did you mean ${near}?` : ''}`,
        Object.keys(builders).length > 0 ? [`builders: ${Object.keys(builders).sort().join(', ')}`] : [],
      )
    }
    return builders[n]
  }
  const given = ['builder', 'builders', 'runtime'].filter((k) => j[k] !== undefined)
  if (given.length > 1) throw jfail(given[1], `give one of builder, builders, runtime (also ${given[0]})`)
  if (j.builders !== undefined) {
    if (!Array.isArray(j.builders) || j.builders.length === 0)
      throw jfail('builders', 'expected a list of builder names')
    picked = j.builders.map((n, i) => byName(n, `builders[${i}]`))
    if (new Set(picked.map((b) => b.name)).size !== picked.length) throw jfail('builders', 'a builder is listed twice')
  } else if (j.builder !== undefined) picked = [byName(j.builder, 'builder')]
  else if (j.runtime !== undefined) {
    if (!MATRIX_RUNTIMES.includes(j.runtime as MatrixRuntime))
      throw jfail('runtime', `${shown(String(j.runtime))}: expected one of ${MATRIX_RUNTIMES.join(', ')}`)
    picked = [{name: j.runtime as string, runtime: j.runtime as MatrixRuntime, allowUnpinned: false}]
  } else throw jfail('builder', 'missing; name a builder (builder: or builders:) or a runtime (runtime:)')

  const base: Omit<MatrixJob, 'builder' | 'id'> = {
    index,
    fixture: str('fixture', 100) ?? (context === '.' ? 'context' : path.posix.basename(context)),
    context,
    dockerfile,
    buildArgs: strMap('buildArgs'),
    buildContexts,
    lock,
    locked: j.locked === true,
    hashfiles,
    providers: list('providers'),
    platforms,
    format,
    target: str('target', 128),
    sde: String(sdeRaw),
    times,
    expectedDigest:
      expectedDigest && !expectedDigest.startsWith('sha256:') ? `sha256:${expectedDigest}` : expectedDigest,
    against,
    expect,
    expectCauses: list('expectCauses'),
    buildkit: str('buildkit', 64),
    agree: str('agree', 200),
  }
  if (j.builders !== undefined) return picked.map((b) => ({...base, id: `${id}/${b.name}`, builder: b}))
  return [{...base, id, builder: picked[0]}]
}

/**
 * Through the file system: every job's context, Dockerfile, lock, hash files and directory build contexts exist
 * and stay inside the matrix file's directory once symlinks are resolved. Runs before any build.
 */
export async function checkMatrixPaths(m: Matrix): Promise<void> {
  const root = await realpath(m.baseDir)
  const cache = new Map<string, string | undefined>()
  const real = async (rel: string): Promise<string | undefined> => {
    if (!cache.has(rel)) cache.set(rel, await realpath(path.join(m.baseDir, rel)).catch(() => undefined))
    return cache.get(rel)
  }
  for (const job of m.jobs) {
    const at = `${m.file}: jobs[${job.index}] (${job.id})`
    const checks: Array<[string, string, 'dir' | 'file']> = [
      ['context', job.context, 'dir'],
      ['dockerfile', path.posix.join(job.context, job.dockerfile), 'file'],
      ...(job.lock ? [['lock', job.lock, 'file'] as [string, string, 'file']] : []),
      ...job.hashfiles.map((h, i) => [`hashfiles[${i}]`, h, 'file'] as [string, string, 'file']),
      ...Object.entries(job.buildContexts)
        .filter(([, v]) => !/^[a-z][a-z0-9+.-]*:\/\//.test(v) && !v.startsWith('target:'))
        .map(([n, v]) => [`buildContexts.${n}`, v, 'dir'] as [string, string, 'dir']),
    ]
    for (const [field, rel, kind] of checks) {
      const r = await real(rel)
      if (!r) throw new MatrixFileError(`${at}.${field}: ${rel}: no such ${kind === 'dir' ? 'directory' : 'file'}`)
      if (r !== root && !r.startsWith(`${root}${path.sep}`))
        throw new MatrixFileError(
          `${at}.${field}: ${rel}: leads outside the matrix file's directory (through a symlink)`,
        )
      const st = await stat(r)
      if (kind === 'dir' ? !st.isDirectory() : !st.isFile())
        throw new MatrixFileError(`${at}.${field}: ${rel}: not a ${kind === 'dir' ? 'directory' : 'file'}`)
    }
  }
}

/** Read (size-checked first: a huge file is refused before it is read), parse and check a matrix file. */
export async function loadMatrix(file: string, extraBuilders: Record<string, MatrixBuilder> = {}): Promise<Matrix> {
  const st = await stat(file).catch(() => undefined)
  if (!st) throw new MatrixFileError(`${file}: no such file`)
  if (!st.isFile()) throw new MatrixFileError(`${file}: not a file`)
  if (st.size > MAX_FILE_BYTES)
    throw new MatrixFileError(`${file}: larger than ${MAX_FILE_BYTES} bytes; split the matrix into several files`)
  const m = parseMatrix(await readFile(file, 'utf8'), file, extraBuilders)
  await checkMatrixPaths(m)
  return m
}
