/**
 * nightly/golden.yaml: the image digest each fixture must give, per BuildKit version and platform, and the
 * base images those digests were recorded with. Comparing is pure; rewriting happens only with
 * --update-golden and reports every change.
 */
import yaml from 'js-yaml'

export interface Golden {
  /** manifest digest of each base image the digests were recorded with */
  bases: Record<string, string>
  /** fixture → BuildKit version → platform → image digest */
  digests: Record<string, Record<string, Record<string, string>>>
}

export const GOLDEN_HEADER = `# Golden image digests of the nightly fixtures: fixture → BuildKit version → platform → digest.
# Every runtime (docker, podman, a BuildKit daemon) must give this digest. Written by
# \`npm run nightly -- --update-golden\` (which prints what changed); review the diff before committing.
# \`bases\` are the base images (the test bed's) the digests were recorded with.
`

export class GoldenError extends Error {}

const DIGEST = /^sha256:[a-f0-9]{64}$/

export function parseGolden(text: string, file = 'golden.yaml'): Golden {
  let doc: unknown
  try {
    doc = yaml.load(text)
  } catch (error) {
    throw new GoldenError(`${file}: not valid YAML (${(error as Error).message.split('\n')[0]})`)
  }
  if (doc === undefined || doc === null) return {bases: {}, digests: {}}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new GoldenError(`${file}: expected a mapping at the top`)
  const d = doc as Record<string, unknown>
  const bases: Record<string, string> = {}
  for (const [k, v] of Object.entries((d.bases as Record<string, unknown>) ?? {})) {
    if (typeof v !== 'string' || !DIGEST.test(v)) throw new GoldenError(`${file}: bases.${k}: expected sha256:<64 hex>`)
    bases[k] = v
  }
  const digests: Golden['digests'] = {}
  for (const [fixture, versions] of Object.entries((d.digests as Record<string, unknown>) ?? {})) {
    if (!versions || typeof versions !== 'object')
      throw new GoldenError(`${file}: digests.${fixture}: expected a mapping`)
    for (const [version, platforms] of Object.entries(versions as Record<string, unknown>)) {
      if (!platforms || typeof platforms !== 'object')
        throw new GoldenError(`${file}: digests.${fixture}.${version}: expected a mapping of platform: digest`)
      for (const [platform, digest] of Object.entries(platforms as Record<string, unknown>)) {
        if (typeof digest !== 'string' || !DIGEST.test(digest))
          throw new GoldenError(`${file}: digests.${fixture}.${version}.${platform}: expected sha256:<64 hex>`)
        ;((digests[fixture] ??= {})[version] ??= {})[platform] = digest
      }
    }
  }
  return {bases, digests}
}

export function serializeGolden(g: Golden): string {
  return GOLDEN_HEADER + yaml.dump(g, {sortKeys: true, lineWidth: -1, noRefs: true})
}

export type GoldenStatus = 'base-changed' | 'match' | 'mismatch' | 'missing'

export interface GoldenCheck {
  status: GoldenStatus
  expected?: string
  detail: string
}

/** One cell's digest against the golden file. `bases`: the digests of the bases this fixture used now. */
export function checkGolden(
  golden: Golden,
  key: {fixture: string; buildkit: string; platform: string},
  digest: string,
  bases: Record<string, string>,
): GoldenCheck {
  const expected = golden.digests[key.fixture]?.[key.buildkit]?.[key.platform]
  const where = `${key.fixture} ${key.buildkit} ${key.platform}`
  if (expected === undefined) {
    return {status: 'missing', detail: `no golden digest for ${where} (record one with --update-golden)`}
  }
  if (expected === digest) return {status: 'match', expected, detail: `equals the golden ${expected}`}
  const changed = Object.entries(bases).filter(([n, d]) => golden.bases[n] !== undefined && golden.bases[n] !== d)
  if (changed.length > 0) {
    return {
      status: 'base-changed',
      expected,
      detail: `golden ${expected} was recorded with base ${changed.map(([n]) => `${n} ${golden.bases[n]}`).join(', ')}, this run used ${changed.map(([n, d]) => `${n} ${d}`).join(', ')}`,
    }
  }
  return {status: 'mismatch', expected, detail: `golden ${expected}, got ${digest}`}
}

export interface GoldenChange {
  key: string
  from: string | null
  to: string
}

/** The golden file with the observed digests written in; every changed or added entry is listed. */
export function updateGolden(
  golden: Golden,
  observed: Array<{fixture: string; buildkit: string; platform: string; digest: string}>,
  bases: Record<string, string>,
): {golden: Golden; changes: GoldenChange[]} {
  const next: Golden = structuredClone(golden)
  const changes: GoldenChange[] = []
  for (const [name, d] of Object.entries(bases)) {
    if (next.bases[name] !== d) changes.push({key: `bases.${name}`, from: next.bases[name] ?? null, to: d})
    next.bases[name] = d
  }
  for (const o of observed) {
    const slot = ((next.digests[o.fixture] ??= {})[o.buildkit] ??= {})
    if (slot[o.platform] !== o.digest) {
      changes.push({
        key: `digests.${o.fixture}.${o.buildkit}.${o.platform}`,
        from: slot[o.platform] ?? null,
        to: o.digest,
      })
      slot[o.platform] = o.digest
    }
  }
  changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return {golden: next, changes}
}

/**
 * The golden digest a cell must give, before it runs: `expected` when there is one recorded with the bases
 * this run uses; otherwise `problem` says why not (missing, or recorded with another base), to be reported.
 */
export function goldenFor(
  golden: Golden,
  key: {fixture: string; buildkit: string; platform: string},
  bases: Record<string, string>,
): {expected?: string; problem?: string} {
  const check = checkGolden(golden, key, '', bases)
  if (check.status === 'missing' || check.status === 'base-changed')
    return {problem: `golden ${check.status}: ${check.detail}`}
  return {expected: check.expected}
}

/** The digests a run observed that may become golden: reproduced, and every runtime of the version agreeing. */
export function observedDigests(report: {
  jobs: Array<{id: string; expect: string; reproduced?: boolean; platform: string; digest?: string; status: string}>
  agreements: Array<{key: string; agree: boolean}>
}): Array<{fixture: string; buildkit: string; platform: string; digest: string}> {
  const disagreeing = new Set(report.agreements.filter((a) => !a.agree).map((a) => a.key))
  const out = new Map<string, {fixture: string; buildkit: string; platform: string; digest: string}>()
  for (const j of report.jobs) {
    const [fixture, buildkit] = j.id.split('/')
    if (j.expect !== 'reproducible' || !j.reproduced || !j.platform || !j.digest) continue
    if (disagreeing.has(`${fixture}/${buildkit}`)) continue
    out.set(`${fixture}/${buildkit}/${j.platform}`, {fixture, buildkit, platform: j.platform, digest: j.digest})
  }
  return [...out.values()]
}
