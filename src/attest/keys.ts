/**
 * Signing keys for attestations, through node:crypto only: ECDSA P-256 (the default, as cosign) or Ed25519.
 * Private keys are PKCS#8 PEM written 0600, public keys SPKI PEM; the key id is the sha256 of the public
 * key's SPKI DER (hex), the same for a key pair whichever half a command is given.
 */
import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject} from 'node:crypto'
import {open, readFile, rm, stat} from 'node:fs/promises'

import {ReproError} from '../errors.js'

export type KeyAlgorithm = 'ecdsa-p256' | 'ed25519'
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ed25519']

/** A PEM key file is a few hundred bytes; anything past this is not one. */
export const MAX_KEY_FILE_BYTES = 64 * 1024

/** A key file or an envelope cannot be used: malformed, wrong type, unreadable (exit 2). */
export class AttestInputError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_ATTEST_INPUT', message, {suggestions})
  }
}

export interface Signer {
  algorithm: KeyAlgorithm
  keyid: string
  privateKey: KeyObject
  publicKey: KeyObject
}

export interface Verifier {
  algorithm: KeyAlgorithm
  keyid: string
  publicKey: KeyObject
}

/** sha256 (hex) of the public key's SubjectPublicKeyInfo DER. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({type: 'spki', format: 'der'}))
    .digest('hex')
}

/** Which of our algorithms a key is; undefined for any other (RSA, P-384, X25519, ...). */
export function algorithmOf(key: KeyObject): KeyAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256'
  return undefined
}

async function readKeyFile(file: string, flag: string): Promise<string> {
  let size: number
  try {
    size = (await stat(file)).size
  } catch (error) {
    throw new AttestInputError(`${flag} ${file}: cannot read the key file (${(error as NodeJS.ErrnoException).code})`)
  }
  if (size > MAX_KEY_FILE_BYTES)
    throw new AttestInputError(
      `${flag} ${file}: ${size} bytes, more than a PEM key file (${MAX_KEY_FILE_BYTES}) can be`,
    )
  const text = await readFile(file, 'latin1')
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(text)) throw new AttestInputError(`${flag} ${file}: not a PEM key file`)
  return text
}

function supported(key: KeyObject, flag: string, file: string): KeyAlgorithm {
  const algorithm = algorithmOf(key)
  if (!algorithm) {
    const what = key.asymmetricKeyType === 'ec' ? `ec ${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType
    throw new AttestInputError(`${flag} ${file}: a ${what} key; only ECDSA P-256 and Ed25519 keys are supported`)
  }
  return algorithm
}

/** A private key PEM (PKCS#8, or SEC1 "EC PRIVATE KEY"), unencrypted. */
export async function loadSigner(file: string, flag = '--sign-key'): Promise<Signer> {
  const text = await readKeyFile(file, flag)
  if (/-----BEGIN PUBLIC KEY-----/.test(text))
    throw new AttestInputError(`${flag} ${file}: a public key; signing needs the private key (the .key file)`)
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text))
    throw new AttestInputError(`${flag} ${file}: an encrypted private key; repro reads unencrypted PKCS#8 keys`)
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({key: text, format: 'pem'})
  } catch (error) {
    throw new AttestInputError(`${flag} ${file}: not a valid private key (${firstLine(error)})`)
  }
  const algorithm = supported(privateKey, flag, file)
  const publicKey = createPublicKey(privateKey)
  return {algorithm, keyid: keyId(publicKey), privateKey, publicKey}
}

/** A public key PEM (SPKI); a private key is accepted too (its public half is used). */
export async function loadVerifier(file: string, flag = '--key'): Promise<Verifier> {
  const text = await readKeyFile(file, flag)
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({key: text, format: 'pem'})
  } catch (error) {
    throw new AttestInputError(`${flag} ${file}: not a valid public key (${firstLine(error)})`)
  }
  return {algorithm: supported(publicKey, flag, file), keyid: keyId(publicKey), publicKey}
}

function firstLine(error: unknown): string {
  return String((error as Error).message ?? error)
    .split('\n')[0]
    .slice(0, 120)
}

export interface KeygenResult {
  algorithm: KeyAlgorithm
  keyid: string
  privateKeyFile: string
  publicKeyFile: string
}

/**
 * Make a key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM). Refuses to overwrite
 * either file; when the second cannot be written, the first is removed (nothing half-written).
 */
export async function generateKeys(prefix: string, algorithm: KeyAlgorithm = 'ecdsa-p256'): Promise<KeygenResult> {
  const pair =
    algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', {namedCurve: 'prime256v1'})
  const privatePem = pair.privateKey.export({type: 'pkcs8', format: 'pem'}) as string
  const publicPem = pair.publicKey.export({type: 'spki', format: 'pem'}) as string
  const privateKeyFile = `${prefix}.key`
  const publicKeyFile = `${prefix}.pub`
  const create = async (file: string, text: string, mode: number): Promise<void> => {
    let fh
    try {
      fh = await open(file, 'wx', mode)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new AttestInputError(
        code === 'EEXIST'
          ? `${file}: already exists; repro never overwrites a key`
          : `${file}: cannot create (${code})`,
        code === 'EEXIST' ? ['choose another --output-prefix, or remove the old key pair yourself'] : [],
      )
    }
    try {
      await fh.writeFile(text)
      await fh.chmod(mode) // the umask may have widened or narrowed what open() gave
    } finally {
      await fh.close()
    }
  }
  await create(privateKeyFile, privatePem, 0o600)
  try {
    await create(publicKeyFile, publicPem, 0o644)
  } catch (error) {
    await rm(privateKeyFile, {force: true})
    throw error
  }
  return {algorithm, keyid: keyId(pair.publicKey), privateKeyFile, publicKeyFile}
}
