/**
 * Signed attestations end to end: verify an envelope with a public key, attach it to an image as an OCI
 * referrer, list an image's referrers.
 *
 * The referrer is an OCI image manifest (as the OCI 1.1 image spec describes artifacts):
 *   artifactType  application/vnd.in-toto+json
 *   config        the empty descriptor (application/vnd.oci.empty.v1+json, `{}`)
 *   layers        one: the envelope file, byte-for-byte, as application/vnd.dsse.envelope.v1+json
 *   subject       the image's manifest or index descriptor
 * pushed by digest through the registry client, which uses the referrers API where the registry answers it
 * and otherwise adds the manifest to the fallback tag `<alg>-<hex>`'s index (Distribution 2.8 has no API).
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import {sha256Digest} from '../image/digest.js'
import {MT} from '../image/media-types.js'
import {type Descriptor, openRepository} from '../image/registry/index.js'
import {referrersTag} from '../image/registry/client.js'
import {formatReference, parseReference} from '../image/registry/reference.js'
import {lifecycle} from '../lifecycle.js'
import type {Logger} from '../log.js'
import {
  DSSE_ENVELOPE_MEDIA_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  MAX_ENVELOPE_BYTES,
  parseStatement,
  readEnvelope,
  subjectDigests,
  verifyEnvelope,
} from './dsse.js'
import {AttestInputError, type KeyAlgorithm, loadVerifier, type Verifier} from './keys.js'

export const ATTEST_SCHEMA_VERSION = 1
const EMPTY = Buffer.from('{}')
const PREDICATE_ANNOTATION = 'in-toto.io/predicate-type'

export interface RegistryAccess {
  plainHttp?: boolean
  dockerConfigDir?: string
  exec?: Exec
  fetch?: typeof fetch
  logger?: Logger
  signal?: AbortSignal
}

export interface CheckedAttestation {
  /** the referrer manifest's digest (attestations attached to an image); absent for a file */
  digest?: string
  valid: boolean
  /** only when the signature verifies: an unverified payload is not reported as a fact */
  predicateType?: string
  /** the statement's subject digests (alg:hex), only when the signature verifies */
  subjects?: string[]
  /** why it does not count: no signature verifies, not about the image, malformed */
  problem?: string
}

export interface AttestVerifyResult {
  schemaVersion: typeof ATTEST_SCHEMA_VERSION
  /** the envelope file, or the image reference */
  target: string
  source: 'file' | 'registry'
  /** a file: its signature verifies; an image: at least one attestation about it verifies */
  valid: boolean
  /** the key's id (sha256 of its SPKI DER) */
  keyid: string
  algorithm: KeyAlgorithm
  /** the image, pinned (registry only) */
  subject?: string
  attestations: CheckedAttestation[]
}

/** Check an envelope file against a public key: valid (exit 0) or not (exit 1); malformed input throws (exit 2). */
export async function verifyAttestation(file: string, keyFile: string): Promise<AttestVerifyResult> {
  const verifier = await loadVerifier(keyFile)
  const parsed = await readEnvelope(file)
  const {valid} = verifyEnvelope(parsed, verifier)
  const statement = valid ? parseStatement(parsed.payload, file) : undefined
  return {
    schemaVersion: ATTEST_SCHEMA_VERSION,
    target: file,
    source: 'file',
    valid,
    keyid: verifier.keyid,
    algorithm: verifier.algorithm,
    attestations: [
      statement
        ? {valid, predicateType: statement.predicateType, subjects: subjectDigests(statement)}
        : {valid, problem: `no signature verifies with the key (${parsed.signatures.length} signature(s))`},
    ],
  }
}

export interface AttachResult {
  schemaVersion: typeof ATTEST_SCHEMA_VERSION
  /** the image, pinned */
  subject: string
  subjectDigest: string
  /** the referrer manifest */
  digest: string
  artifactType: typeof IN_TOTO_PAYLOAD_TYPE
  predicateType: string
  /** the fallback tag written when the registry has no referrers API; undefined when it has */
  fallbackTag?: string
}

/** The referrer manifest for an envelope (deterministic bytes: the same envelope and image give one digest). */
export function referrerManifest(envelope: Buffer, predicateType: string, subject: Descriptor): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: IN_TOTO_PAYLOAD_TYPE,
      config: {mediaType: MT.ociEmpty, digest: sha256Digest(EMPTY), size: EMPTY.length, data: EMPTY.toString('base64')},
      layers: [
        {
          mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
          digest: sha256Digest(envelope),
          size: envelope.length,
          annotations: {[PREDICATE_ANNOTATION]: predicateType},
        },
      ],
      subject: {mediaType: subject.mediaType, digest: subject.digest, size: subject.size},
      annotations: {[PREDICATE_ANNOTATION]: predicateType},
    }),
  )
}

/**
 * Attach the envelope in `file` to the image `ref` as a referrer. The statement must be about that image
 * (its digest among the subjects); with `keyFile`, the signature must verify first.
 */
export async function attachAttestation(
  o: {file: string; ref: string; keyFile?: string} & RegistryAccess,
): Promise<AttachResult> {
  const target = parseReference(o.ref)
  const parsed = await readEnvelope(o.file)
  if (o.keyFile) {
    const verifier = await loadVerifier(o.keyFile)
    if (!verifyEnvelope(parsed, verifier).valid)
      throw new AttestInputError(`${o.file}: the signature does not verify with --key ${o.keyFile}: not attached`)
  }
  const statement = parseStatement(parsed.payload, o.file)
  const bytes = parsed.bytes // the file as read and checked: what was signed stays byte-for-byte
  const repo = openRepository(target, o)
  const subject = await repo.resolve(target.digest ?? target.tag!)
  const about = subjectDigests(statement)
  if (!about.includes(subject.digest))
    throw new AttestInputError(
      `${o.file}: the statement is about ${about.join(', ') || 'no sha256/sha512 digest'}, not ${o.ref} (${subject.digest}): not attached`,
    )
  for (const [digest, data] of [
    [sha256Digest(EMPTY), EMPTY],
    [sha256Digest(bytes), bytes],
  ] as const) {
    if ((await repo.blobSize(digest)) === undefined) await repo.uploadBlob(digest, data)
  }
  const manifest = referrerManifest(bytes, statement.predicateType, subject)
  const {digest, fallback} = await repo.putReferrer(MT.ociManifest, manifest, subject.digest)
  return {
    schemaVersion: ATTEST_SCHEMA_VERSION,
    subject: formatReference({...target, digest: subject.digest}),
    subjectDigest: subject.digest,
    digest,
    artifactType: IN_TOTO_PAYLOAD_TYPE,
    predicateType: statement.predicateType,
    ...(fallback ? {fallbackTag: referrersTag(subject.digest)} : {}),
  }
}

export interface ListResult {
  schemaVersion: typeof ATTEST_SCHEMA_VERSION
  subject: string
  subjectDigest: string
  referrers: Array<{digest: string; mediaType: string; size: number; artifactType?: string; predicateType?: string}>
}

/** The referrers of `ref`'s manifest (all, or of one artifact type), sorted by digest. */
export async function listAttestations(o: {ref: string; artifactType?: string} & RegistryAccess): Promise<ListResult> {
  const target = parseReference(o.ref)
  const repo = openRepository(target, o)
  const subject = await repo.resolve(target.digest ?? target.tag!)
  const found = await repo.referrers(subject.digest, o.artifactType)
  const referrers = found
    .map((d) => ({
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      ...(typeof d.artifactType === 'string' ? {artifactType: d.artifactType} : {}),
      ...(typeof d.annotations?.[PREDICATE_ANNOTATION] === 'string'
        ? {predicateType: d.annotations[PREDICATE_ANNOTATION]}
        : {}),
    }))
    .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
  return {
    schemaVersion: ATTEST_SCHEMA_VERSION,
    subject: formatReference({...target, digest: subject.digest}),
    subjectDigest: subject.digest,
    referrers,
  }
}

/**
 * Verify the attestations attached to `ref` (its in-toto referrers): each envelope is fetched (bounded,
 * digest-checked), its signature checked with the key, and its statement must name the image's digest.
 * A referrer that is malformed is reported, not fatal: others may still verify.
 */
export async function verifyAttached(o: {ref: string; keyFile: string} & RegistryAccess): Promise<AttestVerifyResult> {
  const verifier = await loadVerifier(o.keyFile)
  const work = await mkdtemp(path.join(tmpdir(), 'repro-attest-'))
  const unregister = lifecycle.registerPath(work)
  try {
    return await verifyReferrers(o, verifier, work)
  } finally {
    await rm(work, {recursive: true, force: true})
    unregister()
  }
}

async function verifyReferrers(
  o: {ref: string} & RegistryAccess,
  verifier: Verifier,
  work: string,
): Promise<AttestVerifyResult> {
  const target = parseReference(o.ref)
  const repo = openRepository(target, o)
  const subject = await repo.resolve(target.digest ?? target.tag!)
  const found = await repo.referrers(subject.digest, IN_TOTO_PAYLOAD_TYPE)
  const attestations: CheckedAttestation[] = []
  for (const d of [...found].sort((a, b) => (a.digest < b.digest ? -1 : 1))) {
    try {
      const m = await repo.getManifest(d.digest, d)
      const layers = Array.isArray(m.json.layers) ? (m.json.layers as Descriptor[]) : []
      const layer = layers.find((l) => l?.mediaType === DSSE_ENVELOPE_MEDIA_TYPE)
      if (!layer) {
        attestations.push({digest: d.digest, valid: false, problem: 'no DSSE envelope layer'})
        continue
      }
      if (!Number.isSafeInteger(layer.size) || layer.size > MAX_ENVELOPE_BYTES || layer.size < 0) {
        attestations.push({digest: d.digest, valid: false, problem: `envelope of ${layer.size} bytes`})
        continue
      }
      const file = path.join(work, `${d.digest.replace(':', '-')}.json`)
      await repo.fetchBlob(layer, file)
      const parsed = await readEnvelope(file)
      const label = `${target.input}@${d.digest}`
      if (!verifyEnvelope(parsed, verifier).valid) {
        attestations.push({digest: d.digest, valid: false, problem: 'no signature verifies with the key'})
        continue
      }
      const statement = parseStatement(parsed.payload, label)
      const subjects = subjectDigests(statement)
      const about = subjects.includes(subject.digest)
      attestations.push({
        digest: d.digest,
        valid: about,
        predicateType: statement.predicateType,
        subjects,
        ...(about ? {} : {problem: `the statement is not about ${subject.digest}`}),
      })
    } catch (error) {
      if (!(error instanceof ReproError)) throw error
      attestations.push({digest: d.digest, valid: false, problem: error.message.split('\n')[0].slice(0, 300)})
    }
  }
  return {
    schemaVersion: ATTEST_SCHEMA_VERSION,
    target: o.ref,
    source: 'registry',
    valid: attestations.some((a) => a.valid),
    keyid: verifier.keyid,
    algorithm: verifier.algorithm,
    subject: formatReference({...target, digest: subject.digest}),
    attestations,
  }
}

/** The largest SBOM attached (64 MiB): a full distro image's SBOM is a few MB. */
export const MAX_SBOM_BYTES = 64 * 1024 * 1024

export interface SbomAttachResult {
  /** the file as given */
  file: string
  /** the referrer manifest */
  digest: string
  /** application/spdx+json or application/vnd.cyclonedx+json: the referrer's artifactType and its layer's media type */
  artifactType: 'application/spdx+json' | 'application/vnd.cyclonedx+json'
  /** sha256:HEX of the SBOM file */
  sbomDigest: string
}

/** What an SBOM file is, from its content (SPDX 2.x or CycloneDX JSON), else an error naming the file. */
export function sbomArtifactType(bytes: Buffer, file: string): SbomAttachResult['artifactType'] {
  let json: unknown
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new AttestInputError(`${file}: not JSON: not an SPDX or CycloneDX JSON SBOM`)
  }
  const o = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>
  if (typeof o.spdxVersion === 'string' && o.spdxVersion.startsWith('SPDX-2.')) return 'application/spdx+json'
  if (o.bomFormat === 'CycloneDX') return 'application/vnd.cyclonedx+json'
  throw new AttestInputError(
    `${file}: neither SPDX 2.x JSON (spdxVersion) nor CycloneDX JSON (bomFormat): not attached`,
  )
}

/**
 * Attach an SBOM file to a pushed image as an OCI referrer (OCI image spec 1.1 artifact): artifactType and
 * the one layer's media type are the SBOM's (application/spdx+json, application/vnd.cyclonedx+json), the
 * config the empty descriptor, no annotations (so the same SBOM and image give one manifest digest).
 */
export async function attachSbom(
  o: {file: string; bytes: Buffer; ref: string} & RegistryAccess,
): Promise<SbomAttachResult> {
  const artifactType = sbomArtifactType(o.bytes, o.file)
  const target = parseReference(o.ref)
  const repo = openRepository(target, o)
  const subject = await repo.resolve(target.digest ?? target.tag!)
  for (const [digest, data] of [
    [sha256Digest(EMPTY), EMPTY],
    [sha256Digest(o.bytes), o.bytes],
  ] as const) {
    if ((await repo.blobSize(digest)) === undefined) await repo.uploadBlob(digest, data)
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType,
      config: {mediaType: MT.ociEmpty, digest: sha256Digest(EMPTY), size: EMPTY.length, data: EMPTY.toString('base64')},
      layers: [{mediaType: artifactType, digest: sha256Digest(o.bytes), size: o.bytes.length}],
      subject: {mediaType: subject.mediaType, digest: subject.digest, size: subject.size},
    }),
  )
  const {digest} = await repo.putReferrer(MT.ociManifest, manifest, subject.digest)
  return {file: o.file, digest, artifactType, sbomDigest: sha256Digest(o.bytes)}
}
