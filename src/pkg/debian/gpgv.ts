/**
 * OpenPGP signature checks with Debian's `gpgv` (the verifier apt itself runs), through the Exec seam.
 * The verdict comes from gpgv's machine-readable status lines (--status-fd), judged as apt does
 * (apt-pkg/contrib/gpgv.cc, methods/gpgv.cc): a signature counts when gpgv reports GOODSIG and VALIDSIG for
 * it with a strong digest; any BADSIG fails the file; an expired or revoked key, or a SHA-1/MD5 digest, does
 * not count; a signature by a key outside the keyrings (NO_PUBKEY) is ignored when another one is good.
 * For a clear-signed file the text that is parsed afterwards is gpgv's own output of what was signed.
 */
import {ChainError, EngineNotFoundError} from '../../errors.js'
import type {Exec} from '../../exec.js'

export interface GoodSignature {
  /** fingerprint of the signing (sub)key */
  fingerprint: string
  /** fingerprint of its primary key */
  primary: string
  uid: string
}

export interface SignatureCheck {
  /** the signed text (gpgv's output for a clear-signed file; the data file for a detached signature) */
  signed: string
  signers: GoodSignature[]
}

/** OpenPGP hash algorithm ids apt refuses (RFC 4880 9.4): MD5, SHA-1, RIPEMD-160. */
const WEAK_DIGESTS: Record<string, string> = {'1': 'MD5', '2': 'SHA-1', '3': 'RIPEMD-160'}

interface SigRecord {
  good?: {keyId: string; uid: string}
  valid?: {fingerprint: string; hashAlgo: string; primary: string}
  bad?: string
  problem?: string
  noPubkey?: string
}

/** Judge gpgv's status lines; returns the good signatures or a reason for refusing. */
export function judgeGpgvStatus(statusText: string): {signers: GoodSignature[]; refusal?: string} {
  const records: SigRecord[] = []
  let cur: SigRecord | undefined
  for (const line of statusText.split('\n')) {
    if (!line.startsWith('[GNUPG:] ')) continue
    const [kw, ...f] = line.slice(9).trim().split(' ')
    if (kw === 'NEWSIG' || !cur) {
      cur = {}
      records.push(cur)
      if (kw === 'NEWSIG') continue
    }
    switch (kw) {
      case 'GOODSIG':
        cur.good = {keyId: f[0] ?? '', uid: f.slice(1).join(' ')}
        break
      case 'VALIDSIG':
        // VALIDSIG fpr date timestamp expire version reserved pubkey-algo hash-algo class primary-fpr
        cur.valid = {fingerprint: f[0] ?? '', hashAlgo: f[7] ?? '', primary: f[9] ?? f[0] ?? ''}
        break
      case 'BADSIG':
        cur.bad = f.join(' ')
        break
      case 'EXPKEYSIG':
        cur.problem = `the signing key has expired (${f.join(' ')})`
        break
      case 'REVKEYSIG':
        cur.problem = `the signing key is revoked (${f.join(' ')})`
        break
      case 'EXPSIG':
        cur.problem = `the signature has expired (${f.join(' ')})`
        break
      case 'NO_PUBKEY':
        cur.noPubkey = f[0]
        break
      case 'ERRSIG':
        cur.problem ??= `gpgv could not check a signature (key ${f[0] ?? '?'}, rc ${f[5] ?? '?'})`
        break
    }
  }
  const bad = records.find((r) => r.bad)
  if (bad) return {signers: [], refusal: `BAD signature (${bad.bad})`}
  const signers: GoodSignature[] = []
  const reasons: string[] = []
  for (const r of records) {
    if (r.good && r.valid && !r.problem) {
      const weak = WEAK_DIGESTS[r.valid.hashAlgo]
      if (weak) reasons.push(`signature by ${r.valid.fingerprint} uses the weak digest ${weak}`)
      else signers.push({fingerprint: r.valid.fingerprint, primary: r.valid.primary, uid: r.good.uid})
    } else if (r.noPubkey) reasons.push(`signed by key ${r.noPubkey}, which is not in the keyring`)
    else if (r.problem) reasons.push(r.problem)
  }
  if (signers.length) return {signers}
  return {signers, refusal: reasons.length ? reasons.join('; ') : 'no valid signature'}
}

export interface GpgvOptions {
  exec: Exec
  keyrings: string[]
  /** the clear-signed file (InRelease), or the data file of a detached signature */
  file: string
  /**
   * the file's bytes, already read: gpgv gets them on stdin, so the bytes checked are the bytes hashed and parsed
   * (no second read of a file that could change in between)
   */
  data?: Buffer
  /** the detached signature (Release.gpg) */
  signature?: string
  /** how to name the file in errors, e.g. "InRelease /x/lists/..._InRelease" */
  what: string
  timeoutMs?: number
}

export async function gpgvVerify(o: GpgvOptions): Promise<SignatureCheck> {
  if (o.keyrings.length === 0) throw new ChainError(`${o.what}: no keyring to check the signature against`)
  const argv = ['gpgv', '--status-fd', '2', ...o.keyrings.flatMap((k) => ['--keyring', k])]
  const source = o.data ? '-' : o.file
  if (o.signature) argv.push(o.signature, source)
  else argv.push('--output', '-', source)
  const r = await o.exec(argv, {
    reject: false,
    input: o.data,
    timeoutMs: o.timeoutMs ?? 60_000,
    env: {LC_ALL: 'C', LANGUAGE: ''},
  })
  if (r.notFound)
    throw new EngineNotFoundError("gpgv: not found; checking signatures needs Debian's gpgv", [
      'apt-get install gpgv debian-archive-keyring',
    ])
  const verdict = judgeGpgvStatus(r.stderr)
  if (verdict.refusal || verdict.signers.length === 0) {
    const tail = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('gpgv: ') && !/^gpgv: +(using|Signature made)/.test(l))
      .at(-1)
    throw new ChainError(
      `${o.what}: signature not accepted: ${verdict.refusal ?? 'no valid signature'}${tail && !verdict.refusal?.startsWith('BAD') ? ` (${tail})` : ''}`,
      [`keyring${o.keyrings.length > 1 ? 's' : ''}: ${o.keyrings.join(', ')}`],
    )
  }
  return {signed: o.signature ? '' : r.stdout, signers: verdict.signers}
}
