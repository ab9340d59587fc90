/**
 * The nightly matrix, pure: which cells to run (runtime × BuildKit version × fixture), from the
 * dimensions and the --runtime/--buildkit/--fixture filters, and the engine each cell uses.
 */

export const ALL_RUNTIMES = ['docker', 'podman', 'buildkit'] as const
export type MatrixRuntime = (typeof ALL_RUNTIMES)[number]
export const ALL_BUILDKITS = ['v0.13.2', 'v0.19.0', 'v0.32.2'] as const

/**
 * Upstream BuildKit images, pinned by digest: what the scheduled workflow runs (the test bed passes its own
 * local images with --buildkit-image VER=IMAGE instead).
 */
export const UPSTREAM_BUILDKIT_IMAGES: Record<string, string | undefined> = {
  'v0.32.2': 'moby/buildkit:v0.32.2@sha256:28a898719c18a33f4e8000685287fa36fd0dd9560c6440227d3a732d79bb41d8',
  'v0.19.0': 'moby/buildkit:v0.19.0@sha256:14aa1b4dd92ea0a4cd03a54d0c6079046ea98cd0c0ae6176bdd7036ba370cbbe',
  // TODO(nightly): pin v0.13.2 by digest (`docker buildx imagetools inspect moby/buildkit:v0.13.2` on a machine
  // that reaches Docker Hub); until then the workflow passes --buildkit-image v0.13.2=... itself or skips it.
  'v0.13.2': undefined,
}

export interface FixtureMeta {
  name: string
  description: string
  /** base image the Dockerfile builds FROM (as the build context "base"), or none */
  base?: string
  /** a hash file in the fixture for `repro build --hashfile`; its packages come from --debs DIR (file://DIR/{{.Name}}) */
  hashfile?: string
  /** a canary: must be reported as not reproduced, with these causes */
  expect: 'not-reproducible' | 'reproducible'
  expectCauses: string[]
  /** restrict the fixture to these runtimes (a canary need not run everywhere) */
  runtimes?: string[]
}

export interface Cell {
  id: string
  runtime: MatrixRuntime
  buildkit: string
  fixture: string
}

export interface MatrixSelection {
  runtimes: string[]
  buildkits: string[]
  fixtures: string[]
}

export class MatrixError extends Error {}

/** `a,b` and repeated flags → a list; empty means "all". Unknown names are errors naming the flag. */
export function selectNames(flag: string, given: string[], known: readonly string[]): string[] {
  const names = given
    .flatMap((g) => g.split(','))
    .map((s) => s.trim())
    .filter(Boolean)
  if (names.length === 0) return [...known]
  const unknown = names.filter((n) => !known.includes(n))
  if (unknown.length > 0)
    throw new MatrixError(`--${flag} ${unknown.join(',')}: unknown; expected one of ${known.join(', ')}`)
  return known.filter((k) => names.includes(k))
}

export function cellId(c: Pick<Cell, 'buildkit' | 'fixture' | 'runtime'>): string {
  return `${c.fixture}/${c.buildkit}/${c.runtime}`
}

/** Cells ordered by BuildKit version, then fixture, then runtime (the order the report shows). */
export function planMatrix(selection: MatrixSelection, fixtures: FixtureMeta[]): Cell[] {
  const byName = new Map(fixtures.map((f) => [f.name, f]))
  const cells: Cell[] = []
  for (const buildkit of selection.buildkits) {
    for (const fixture of selection.fixtures) {
      const meta = byName.get(fixture)
      if (!meta) throw new MatrixError(`fixture ${fixture}: no such fixture`)
      for (const runtime of selection.runtimes as MatrixRuntime[]) {
        if (meta.runtimes && !meta.runtimes.includes(runtime)) continue
        cells.push({id: cellId({buildkit, fixture, runtime}), runtime, buildkit, fixture})
      }
    }
  }
  return cells
}

/** `VER=VALUE` pairs (repeatable, comma-free values) → a map; VER must be a known BuildKit version. */
export function parseVersionMap(flag: string, values: string[], known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    const ver = eq === -1 ? '' : v.slice(0, eq)
    const val = eq === -1 ? '' : v.slice(eq + 1)
    if (!ver || !val) throw new MatrixError(`--${flag} ${v}: expected VERSION=VALUE, e.g. v0.32.2=...`)
    if (!known.includes(ver))
      throw new MatrixError(`--${flag} ${v}: unknown BuildKit version ${ver}; expected one of ${known.join(', ')}`)
    out[ver] = val
  }
  return out
}

/** How one cell reaches its engine. */
export interface Engines {
  /** BuildKit image per version, for docker and podman */
  images: Record<string, string | undefined>
  /** BuildKit daemon address per version, for the buildkit runtime */
  addrs: Record<string, string | undefined>
}

/** Why a cell cannot run (no image, no daemon), or undefined when it can. */
export function cellEngineProblem(cell: Cell, engines: Engines): string | undefined {
  if (cell.runtime === 'buildkit') {
    return engines.addrs[cell.buildkit]
      ? undefined
      : `no BuildKit ${cell.buildkit} daemon address (pass --buildkit-addr ${cell.buildkit}=unix:///...)`
  }
  return engines.images[cell.buildkit]
    ? undefined
    : `no BuildKit ${cell.buildkit} image (pass --buildkit-image ${cell.buildkit}=IMAGE)`
}

/** What the nightly's matrix file is made from: the cells, the fixtures, the engines, the golden digests. */
export interface NightlyPlan {
  cells: Cell[]
  fixtures: FixtureMeta[]
  engines: Engines
  /** base name → OCI layout directory */
  bases: Record<string, string>
  debsDir?: string
  /** cell id → the golden digest it must give (absent: none, or the golden file is being rewritten) */
  expected: Record<string, string | undefined>
  sde: string
}

/** A cell the nightly cannot run (no image, no daemon, no base), with why. */
export interface Unrunnable {
  cell: Cell
  problem: string
}

/**
 * The nightly as a matrix file for `repro verify --matrix` (src/verify/matrix): one builder per runtime ×
 * BuildKit version, one job per cell (2 rebuilds, the golden digest as expectedDigest, a canary as
 * `expect: not-reproducible`), and `agree: FIXTURE/VERSION` so every runtime of a version must give one
 * digest. Contexts are `fixtures/NAME` next to the file. Pure: returns the document and the cells left out.
 */
export function nightlyMatrix(p: NightlyPlan): {doc: Record<string, unknown>; unrunnable: Unrunnable[]} {
  const metas = new Map(p.fixtures.map((f) => [f.name, f]))
  const builders: Record<string, Record<string, unknown>> = {}
  const jobs: Array<Record<string, unknown>> = []
  const unrunnable: Unrunnable[] = []
  for (const cell of p.cells) {
    const meta = metas.get(cell.fixture)
    if (!meta) throw new MatrixError(`fixture ${cell.fixture}: no such fixture`)
    const problem =
      cellEngineProblem(cell, p.engines) ??
      (meta.base && !p.bases[meta.base]
        ? `no base image ${meta.base} (pass --base ${meta.base}=DIR or --testbed)`
        : undefined) ??
      (meta.hashfile && !p.debsDir ? 'no package directory (pass --debs DIR or --testbed)' : undefined)
    if (problem) {
      unrunnable.push({cell, problem})
      continue
    }
    const name = `${cell.runtime}-${cell.buildkit}`
    builders[name] ??=
      cell.runtime === 'buildkit'
        ? // the daemon is never run from an image; its tag is the pin the daemon's version is checked against
          {runtime: 'buildkit', addr: p.engines.addrs[cell.buildkit], image: `moby/buildkit:${cell.buildkit}`}
        : {runtime: cell.runtime, image: p.engines.images[cell.buildkit]}
    const job: Record<string, unknown> = {
      id: cell.id,
      fixture: cell.fixture,
      context: `fixtures/${cell.fixture}`,
      builder: name,
      buildkit: cell.buildkit,
      sde: p.sde,
      times: 2,
    }
    if (meta.base) job.buildContexts = {base: `oci-layout://${p.bases[meta.base]}`}
    if (meta.hashfile) {
      job.hashfiles = [`fixtures/${cell.fixture}/${meta.hashfile}`]
      job.providers = [`file://${p.debsDir}/{{.Name}}`]
    }
    if (meta.expect === 'not-reproducible') {
      job.expect = 'not-reproducible'
      job.expectCauses = meta.expectCauses
    } else {
      job.agree = `${cell.fixture}/${cell.buildkit}`
      if (p.expected[cell.id]) job.expectedDigest = p.expected[cell.id]
    }
    jobs.push(job)
  }
  return {doc: {version: 1, builders, jobs}, unrunnable}
}
