/**
 * DSSE envelopes (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md, protocol.md) around
 * in-toto Statements: the signature is over PAE(payloadType, payload) =
 *   "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body     (LEN: ASCII decimal byte count)
 * ECDSA P-256 signs the PAE with SHA-256 (ASN.1 DER signature, as cosign and sigstore-go write it), Ed25519
 * signs it directly. The envelope is `{"payload","payloadType","signatures":[{"keyid","sig"}]}`, payload and
 * sig in standard base64.
 *
 * Hand-written on node:crypto: the PAE is six lines, and signing and verifying are node:crypto calls.
 * @sigstore/core has the same PAE but is built around Sigstore bundles (certificates, Rekor); it would add a
 * dependency for nothing we use. tests/integration/attest-cli.test.ts cross-checks both ways with openssl.
 *
 * Reading an envelope is reading hostile input: size-bounded, every field type-checked, base64 strict; a
 * malformed envelope is an AttestInputError (exit 2) naming the file, a bad signature is a verdict (exit 1).
 */
import {sign as cryptoSign, verify as cryptoVerify} from 'node:crypto'
import {readFile, stat} from 'node:fs/promises'

import {parseDigest} from '../image/digest.js'
import {MT} from '../image/media-types.js'
import {AttestInputError, type Signer, type Verifier} from './keys.js'

export const IN_TOTO_PAYLOAD_TYPE = MT.inToto
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json'
export const STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'] as const

/** An attestation envelope of our own is a few KB; this leaves room for large predicates, not for abuse. */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
const MAX_SIGNATURES = 64
const MAX_SUBJECTS = 10_000

export interface Signature {
  keyid: string
  sig: string
}

export interface Envelope {
  payload: string
  payloadType: string
  signatures: Signature[]
}

export interface StatementSummary {
  type: string
  predicateType: string
  subject: Array<{name: string; digest: Record<string, string>}>
}

/** The pre-authentication encoding the signature covers. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8')
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ])
}

function rawSign(signer: Signer, data: Buffer): Buffer {
  return signer.algorithm === 'ed25519'
    ? cryptoSign(null, data, signer.privateKey)
    : cryptoSign('sha256', data, {key: signer.privateKey, dsaEncoding: 'der'})
}

function rawVerify(verifier: Verifier, data: Buffer, sig: Buffer): boolean {
  try {
    if (verifier.algorithm === 'ed25519') return cryptoVerify(null, data, verifier.publicKey, sig)
    if (cryptoVerify('sha256', data, {key: verifier.publicKey, dsaEncoding: 'der'}, sig)) return true
    // some signers write r||s (IEEE P1363) instead of DER: 64 bytes for P-256
    return sig.length === 64 && cryptoVerify('sha256', data, {key: verifier.publicKey, dsaEncoding: 'ieee-p1363'}, sig)
  } catch {
    return false // a malformed DER signature is a bad signature, not a crash
  }
}

/** Sign `payload` (the exact bytes, never re-serialized) into an envelope. */
export function signEnvelope(payload: Buffer, signer: Signer, payloadType = IN_TOTO_PAYLOAD_TYPE): Envelope {
  const sig = rawSign(signer, pae(payloadType, payload))
  return {
    payload: payload.toString('base64'),
    payloadType,
    signatures: [{keyid: signer.keyid, sig: sig.toString('base64')}],
  }
}

/** The envelope as written to a file: one JSON document, fixed key order, final newline. */
export function envelopeJson(e: Envelope): string {
  return `${JSON.stringify({payload: e.payload, payloadType: e.payloadType, signatures: e.signatures})}\n`
}

/**
 * Strict base64 (standard or URL-safe alphabet, padding optional, as DSSE allows): undefined when the
 * text is not base64 (Buffer.from would silently skip bad characters).
 */
export function decodeBase64(text: string): Buffer | undefined {
  const s = text.replace(/-/g, '+').replace(/_/g, '/')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined
  const bare = s.replace(/=+$/, '')
  if (bare.length % 4 === 1) return undefined
  if (s.length !== bare.length && s.length % 4 !== 0) return undefined
  const bytes = Buffer.from(bare, 'base64')
  if (bytes.toString('base64').replace(/=+$/, '') !== bare) return undefined // non-zero trailing bits
  return bytes
}

export interface ParsedEnvelope {
  envelope: Envelope
  payload: Buffer
  signatures: Array<{keyid: string; sig: Buffer}>
}

/** Parse an envelope's text; `file` names it in every message. */
export function parseEnvelope(text: string, file: string): ParsedEnvelope {
  const bad = (problem: string): AttestInputError => new AttestInputError(`${file}: ${problem}`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw bad(`not a DSSE envelope: invalid JSON (${(error as Error).message.slice(0, 100)})`)
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad('not a DSSE envelope: not a JSON object')
  const e = json as Record<string, unknown>
  if (typeof e._type === 'string' && e.payload === undefined)
    throw new AttestInputError(`${file}: an unsigned in-toto Statement, not a DSSE envelope`, [
      'sign it: repro verify --attest FILE --sign-key KEY writes the envelope',
    ])
  if (typeof e.payloadType !== 'string') throw bad('not a DSSE envelope: "payloadType" is not a string')
  if (typeof e.payload !== 'string') throw bad('not a DSSE envelope: "payload" is not a string')
  if (!Array.isArray(e.signatures)) throw bad('not a DSSE envelope: "signatures" is not an array')
  if (e.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw bad(
      `payloadType ${JSON.stringify(e.payloadType.slice(0, 100))} is not ${IN_TOTO_PAYLOAD_TYPE}: not an in-toto attestation`,
    )
  const payload = decodeBase64(e.payload)
  if (!payload) throw bad('"payload" is not valid base64')
  if (e.signatures.length === 0) throw bad('the envelope has no signatures')
  if (e.signatures.length > MAX_SIGNATURES)
    throw bad(`the envelope has ${e.signatures.length} signatures, more than ${MAX_SIGNATURES}`)
  const signatures = e.signatures.map((s: unknown, i) => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw bad(`signatures[${i}] is not an object`)
    const {keyid, sig} = s as Record<string, unknown>
    if (typeof sig !== 'string') throw bad(`signatures[${i}].sig is not a string`)
    if (keyid !== undefined && typeof keyid !== 'string') throw bad(`signatures[${i}].keyid is not a string`)
    const bytes = decodeBase64(sig)
    if (!bytes || bytes.length === 0) throw bad(`signatures[${i}].sig is not valid base64`)
    return {keyid: keyid ?? '', sig: bytes}
  })
  return {
    envelope: {
      payload: e.payload,
      payloadType: e.payloadType,
      signatures: signatures.map((s) => ({keyid: s.keyid, sig: s.sig.toString('base64')})),
    },
    payload,
    signatures,
  }
}

/** Read and parse an envelope file (bounded); `bytes` is the file as read, for storing it unchanged. */
export async function readEnvelope(file: string): Promise<ParsedEnvelope & {bytes: Buffer}> {
  let size: number
  try {
    const st = await stat(file)
    if (!st.isFile()) throw new AttestInputError(`${file}: not a file`)
    size = st.size
  } catch (error) {
    if (error instanceof AttestInputError) throw error
    throw new AttestInputError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code})`)
  }
  if (size > MAX_ENVELOPE_BYTES)
    throw new AttestInputError(`${file}: ${size} bytes, more than the ${MAX_ENVELOPE_BYTES} an envelope may be`)
  const bytes = await readFile(file)
  return {...parseEnvelope(bytes.toString('utf8'), file), bytes}
}

/** Does any signature verify with this key? The keyid is a hint only (DSSE): every signature is tried. */
export function verifyEnvelope(parsed: ParsedEnvelope, verifier: Verifier): {valid: boolean; keyid?: string} {
  const data = pae(parsed.envelope.payloadType, parsed.payload)
  for (const s of parsed.signatures) if (rawVerify(verifier, data, s.sig)) return {valid: true, keyid: verifier.keyid}
  return {valid: false}
}

/** The in-toto Statement inside a payload, checked for shape (its predicate is not interpreted). */
export function parseStatement(payload: Buffer, file: string): StatementSummary {
  const bad = (problem: string): AttestInputError => new AttestInputError(`${file}: payload: ${problem}`)
  let json: unknown
  try {
    json = JSON.parse(payload.toString('utf8'))
  } catch {
    throw bad('not valid JSON')
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad('not a JSON object')
  const s = json as Record<string, unknown>
  if (!(STATEMENT_TYPES as readonly unknown[]).includes(s._type))
    throw bad(`_type ${JSON.stringify(String(s._type).slice(0, 100))} is not an in-toto Statement`)
  if (typeof s.predicateType !== 'string' || s.predicateType === '') throw bad('"predicateType" is not a string')
  if (!Array.isArray(s.subject) || s.subject.length === 0) throw bad('"subject" is not a non-empty array')
  if (s.subject.length > MAX_SUBJECTS) throw bad(`more than ${MAX_SUBJECTS} subjects`)
  const subject = s.subject.map((x: unknown, i) => {
    const d = (x as {digest?: unknown})?.digest
    if (!d || typeof d !== 'object' || Array.isArray(d)) throw bad(`subject[${i}] has no digest object`)
    const digest: Record<string, string> = {}
    for (const [alg, hex] of Object.entries(d)) {
      if (typeof hex !== 'string') throw bad(`subject[${i}].digest.${alg.slice(0, 20)} is not a string`)
      digest[alg] = hex
    }
    const name = (x as {name?: unknown}).name
    return {name: typeof name === 'string' ? name : '', digest}
  })
  return {type: s._type as string, predicateType: s.predicateType, subject}
}

/** The subject digests as `alg:hex` (sha256 and sha512 only: what a registry names manifests with). */
export function subjectDigests(statement: StatementSummary): string[] {
  const out: string[] = []
  for (const s of statement.subject)
    for (const [alg, hex] of Object.entries(s.digest)) if (parseDigest(`${alg}:${hex}`)) out.push(`${alg}:${hex}`)
  return [...new Set(out)].sort()
}
