/**
 * The verdict of `repro verify`, pure: from the rebuilt images (and an expected digest or image) to
 * "reproduced" or "not reproduced" with the reason of each failed check, and the pair of images whose
 * semantic diff explains the first failure.
 */

/** One rebuild: which runtime, which attempt, what came out. */
export interface RebuiltImage {
  runtime: string
  attempt: number
  /** image digest (manifest, or index for a multi-platform OCI archive) */
  digest: string
  /** sha256 of the tarball itself */
  archiveSha256: string
  /** per-platform manifest digests inside the tarball */
  manifests: Array<{platform: string; digest: string; configDigest: string}>
  /** the tarball (removed after the command unless kept) */
  path: string
}

/** What the rebuild is compared with. */
export type Expected =
  | {kind: 'digest'; digest: string}
  | {
      kind: 'image'
      /** the input as given: a path, docker://, podman://, a registry reference */
      input: string
      /** its image digest (absent for a legacy docker-archive, which has no manifest) */
      digest?: string
      manifests: Array<{platform: string; digest?: string; configDigest: string}>
    }

export type CheckName = 'archive-bytes' | 'expected-digest' | 'expected-image' | 'rebuilds-agree'

export interface Check {
  name: CheckName
  ok: boolean
  detail: string
}

/** Two images to diff: rebuilt ones by index into the builds, or the expected image. */
export interface DiffPair {
  a: number
  b: number | 'expected'
  why: string
}

export interface Verdict {
  reproduced: boolean
  /** the digest every rebuild gave, when they agree */
  digest?: string
  checks: Check[]
  /** the pair whose diff explains the first failed check (none when only a bare digest was given) */
  diff?: DiffPair
}

const short = (d: string | undefined) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '(none)')

export function normalizeDigest(d: string): string {
  const t = d.trim().toLowerCase()
  return t.startsWith('sha256:') ? t : `sha256:${t}`
}

/**
 * How the rebuilt image matches an expected image: the same image digest, or (a single-platform
 * rebuild against a multi-platform index) the same manifest digest for that platform, or (a legacy
 * docker-archive without a manifest) the same config digest.
 */
export function matchImage(
  build: RebuiltImage,
  expected: Extract<Expected, {kind: 'image'}>,
): {ok: boolean; how: string} {
  if (expected.digest && build.digest === expected.digest) return {ok: true, how: `image digest ${build.digest}`}
  if (expected.digest && build.manifests.length === 1) {
    const mine = build.manifests[0]
    const theirs = expected.manifests.find((m) => m.platform === mine.platform)
    if (theirs?.digest && theirs.digest === mine.digest && expected.manifests.length > 1) {
      return {ok: true, how: `${mine.platform} manifest digest ${mine.digest} (in the index ${expected.digest})`}
    }
  }
  if (!expected.digest) {
    // legacy docker save / podman docker-archive: no manifest exists, the config digest is the image id
    const configs = new Set(expected.manifests.map((m) => m.configDigest))
    const mine = build.manifests.map((m) => m.configDigest)
    if (mine.length > 0 && mine.every((c) => configs.has(c))) {
      return {ok: true, how: `config digest ${mine.join(', ')} (the archive has no manifest digest)`}
    }
    return {
      ok: false,
      how: `config digest ${mine.join(', ') || '(none)'} != ${[...configs].join(', ') || '(none)'} (the archive has no manifest digest)`,
    }
  }
  return {ok: false, how: `rebuilt ${build.digest} != ${expected.digest}`}
}

export function decideVerdict(builds: RebuiltImage[], expected?: Expected): Verdict {
  if (builds.length === 0) throw new Error('decideVerdict: no builds')
  const checks: Check[] = []
  let diff: DiffPair | undefined

  // 1. every rebuild gives the same image digest (any runtime, any attempt)
  const first = builds[0]
  const odd = builds.findIndex((b) => b.digest !== first.digest)
  const label = (b: RebuiltImage) => `${b.runtime} #${b.attempt}`
  if (builds.length > 1) {
    const distinct = [...new Set(builds.map((b) => b.digest))]
    checks.push({
      name: 'rebuilds-agree',
      ok: odd === -1,
      detail:
        odd === -1
          ? `${builds.length} rebuilds gave ${first.digest}`
          : `${distinct.length} different digests over ${builds.length} rebuilds: ${builds.map((b) => `${label(b)} ${short(b.digest)}`).join(', ')}`,
    })
    if (odd !== -1) diff = {a: 0, b: odd, why: `${label(first)} vs ${label(builds[odd])}`}

    // 2. on one runtime the tarball bytes are identical too (bit-for-bit, not only the same digest)
    const byRuntime = new Map<string, RebuiltImage[]>()
    for (const b of builds) byRuntime.set(b.runtime, [...(byRuntime.get(b.runtime) ?? []), b])
    const differing = [...byRuntime.entries()].filter(
      ([, bs]) => bs.length > 1 && new Set(bs.map((b) => b.archiveSha256)).size > 1,
    )
    if ([...byRuntime.values()].some((bs) => bs.length > 1)) {
      checks.push({
        name: 'archive-bytes',
        ok: differing.length === 0,
        detail:
          differing.length === 0
            ? 'the tarballs of each runtime are byte-identical'
            : `tarball bytes differ on ${differing.map(([r]) => r).join(', ')}`,
      })
      if (differing.length > 0 && !diff) {
        const bs = differing[0][1]
        const other = bs.find((b) => b.archiveSha256 !== bs[0].archiveSha256)!
        diff = {a: builds.indexOf(bs[0]), b: builds.indexOf(other), why: `${label(bs[0])} vs ${label(other)}`}
      }
    }
  }

  // 3. the expected digest or image
  if (expected?.kind === 'digest') {
    const want = normalizeDigest(expected.digest)
    const bad = builds.filter((b) => b.digest !== want)
    checks.push({
      name: 'expected-digest',
      ok: bad.length === 0,
      detail:
        bad.length === 0
          ? `equals the expected ${want}`
          : `expected ${want}, rebuilt ${[...new Set(bad.map((b) => b.digest))].join(', ')}`,
    })
  } else if (expected?.kind === 'image') {
    const results = builds.map((b) => matchImage(b, expected))
    const badIndex = results.findIndex((r) => !r.ok)
    checks.push({
      name: 'expected-image',
      ok: badIndex === -1,
      detail:
        badIndex === -1
          ? `matches ${expected.input}: ${results[0].how}`
          : `does not match ${expected.input}: ${results[badIndex].how}`,
    })
    if (badIndex !== -1 && !diff)
      diff = {a: badIndex, b: 'expected', why: `${label(builds[badIndex])} vs ${expected.input}`}
  }

  const reproduced = checks.every((c) => c.ok)
  return {reproduced, digest: odd === -1 ? first.digest : undefined, checks, diff}
}
