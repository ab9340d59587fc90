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
