/**
 * The in-toto Statement v1 that `repro verify --attest FILE` writes: the subject is the rebuilt image
 * digest(s), the predicate our own (https://repro.dev/verification/v1): the inputs of the build and the
 * verdict. Pure and deterministic: sorted keys, no host paths, no wall-clock time unless asked for, so
 * two verifications of the same inputs write byte-identical files.
 * Spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
 */
import type {Check} from './verdict.js'

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1'
export const VERIFICATION_PREDICATE_TYPE = 'https://repro.dev/verification/v1'

export interface ResourceDescriptor {
  name: string
  digest: Record<string, string>
}

export interface RuntimeVersion {
  runtime: string
  version: string | null
  buildkitVersion: string | null
  /** a BuildKit daemon or an existing builder served the build: its probed version against the pin */
  buildkitServed?: {version: string; imageDigest?: string; pin?: string; pinned: boolean}
}

export interface VerificationInputs {
  dockerfile: {path: string; sha256: string}
  context: {digest: string; files: number; ignoreFile: string | null}
  /** extra build contexts: oci-layout ones by digest, directories by context digest */
  buildContexts: Array<{name: string; digest: string}>
  sourceDateEpoch: number
  buildArgs: Record<string, string>
  target: string | null
  platforms: string[]
  format: string
  /** secret ids only: their values never appear */
  secrets: string[]
  hashFiles: Array<{path: string; sha256: string}>
  /**
   * image: the BuildKit image docker/podman ran (null for a BuildKit daemon); imageDigest: the digest
   * pinned in its reference; imageId: when it is not pinned, the id the local store gives it
   */
  buildkit: {image: string | null; imageDigest: string | null; imageId: string | null; version: string | null}
  runtimes: RuntimeVersion[]
  /** the lock file the build followed (path relative to the context): its sha256 and every pinned input */
  lock: {path: string; sha256: string; locked: boolean; inputs: Record<string, string>} | null
}

/** `verify --sbom`: the SBOM of the rebuilt image (SPDX or CycloneDX JSON), by digest */
export interface SbomDescriptor extends ResourceDescriptor {
  mediaType: string
}

export interface VerificationPredicate {
  verifier: {id: string; version: string}
  inputs: VerificationInputs
  rebuilds: Array<{runtime: string; attempt: number; digest: string; archiveSha256: string}>
  expected: {kind: 'digest'; digest: string} | {kind: 'image'; input: string; digest: string | null} | null
  verdict: {result: 'not-reproduced' | 'reproduced'; checks: Check[]; causes: Array<{cause: string; count: number}>}
  metadata?: {startedOn: string; finishedOn: string}
  sbom?: SbomDescriptor
}

export interface Statement {
  _type: typeof STATEMENT_TYPE
  subject: ResourceDescriptor[]
  predicateType: typeof VERIFICATION_PREDICATE_TYPE
  predicate: VerificationPredicate
}

/** Subjects: each distinct rebuilt digest once, sorted, named after the image name (or "image"). */
export function subjects(name: string, digests: string[]): ResourceDescriptor[] {
  const unique = [...new Set(digests)].sort()
  return unique.map((d) => {
    const [alg, hex] = d.includes(':') ? d.split(':', 2) : ['sha256', d]
    return {name, digest: {[alg]: hex}}
  })
}

export function buildStatement(
  name: string,
  predicate: VerificationPredicate,
  timestamps?: {startedOn: Date; finishedOn: Date},
): Statement {
  const p: VerificationPredicate = {...predicate}
  if (timestamps) {
    p.metadata = {startedOn: timestamps.startedOn.toISOString(), finishedOn: timestamps.finishedOn.toISOString()}
  } else delete p.metadata
  return {
    _type: STATEMENT_TYPE,
    subject: subjects(
      name,
      predicate.rebuilds.map((r) => r.digest),
    ),
    predicateType: VERIFICATION_PREDICATE_TYPE,
    predicate: p,
  }
}

/** JSON with object keys sorted at every level (arrays keep their order), 2-space indent, final newline. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort)
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(v as Record<string, unknown>).sort()) {
        const x = (v as Record<string, unknown>)[k]
        if (x !== undefined) out[k] = sort(x)
      }
      return out
    }
    return v
  }
  return `${JSON.stringify(sort(value), null, 2)}\n`
}

/** KEY=VALUE build args as a map (the last one wins, as in the engines). */
export function buildArgMap(args: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const a of args) {
    const eq = a.indexOf('=')
    out[eq === -1 ? a : a.slice(0, eq)] = eq === -1 ? '' : a.slice(eq + 1)
  }
  return out
}

/** The digest pinned in an image reference (`name:tag@sha256:...`), if any. */
export function pinnedDigest(image: string): string | null {
  const m = /@(sha256:[a-f0-9]{64})$/.exec(image)
  return m ? m[1] : null
}
