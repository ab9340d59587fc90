/**
 * What `repro build` takes from a lock file: the file (next to the Dockerfile, or --lock), its sha256, and
 * the source policy BuildKit enforces; with --locked, the proof that the lock covers every input the
 * Dockerfile names, checked before any engine starts.
 */
import {access} from 'node:fs/promises'

import {defaultLockPath, LockError, type LockFile, readLockFile} from './format.js'
import type {SourcePolicy} from './policy.js'
import {sha256Digest} from '../image/digest.js'

export interface BuildLockInput {
  context: string
  dockerfile: string
  /** --lock FILE (absolute); default repro.lock.yaml next to the Dockerfile, when there is one */
  lockFile?: string
  /** --locked: deny every remote source the lock does not list, and fail when it does not cover the Dockerfile */
  locked: boolean
  buildArgs: string[]
  platforms: string[]
  target?: string
  buildContexts: string[]
  sde: number
}

/** A lock a build used (in the build's summary, JSON result and attestation). */
export interface LockUse {
  path: string
  /** sha256 of the lock file's bytes */
  sha256: string
  locked: boolean
  /** every pinned input: section/name → pin */
  inputs: Record<string, string>
}

export interface BuildLock {
  use: LockUse
  lock: LockFile
  policy: SourcePolicy
  /** the policy file's content */
  policyText: string
}

export async function lockForBuild(input: BuildLockInput): Promise<BuildLock | undefined> {
  const file = input.lockFile ?? defaultLockPath(input.dockerfile)
  if (input.lockFile === undefined) {
    const exists = await access(file).then(
      () => true,
      () => false,
    )
    if (!exists) {
      if (input.locked)
        throw new LockError(`--locked: no lock file at ${file}`, ['make one with `repro lock` and commit it'])
      return undefined
    }
  }
  const {lock, bytes} = await readLockFile(file)
  // the policy and the Dockerfile reader load only when there is a lock: they cost every build ~0.07 s of start-up
  const {checkLockCovers, lockPolicy, policyText} = await import('./policy.js')
  if (input.locked) {
    const {targetInputs} = await import('./resolve.js')
    const inputs = await targetInputs({...input, hashfiles: [], sde: null, buildkitImage: ''})
    checkLockCovers(lock, file, inputs, input.sde)
  }
  const policy = lockPolicy(lock, {locked: input.locked})
  return {
    use: {
      path: file,
      sha256: sha256Digest(bytes),
      locked: input.locked,
      inputs: lockedInputs(lock),
    },
    lock,
    policy,
    policyText: policyText(policy),
  }
}

/** `images/REF` → digest, `urls/URL` → checksum, `git/KEY` → commit, ...: sorted. */
export function lockedInputs(lock: LockFile): Record<string, string> {
  const out: Array<[string, string]> = []
  for (const [k, v] of Object.entries(lock.frontend)) out.push([`frontend/${k}`, v.digest])
  for (const [k, v] of Object.entries(lock.images)) out.push([`images/${k}`, v.digest])
  for (const [k, v] of Object.entries(lock.urls)) out.push([`urls/${k}`, v.checksum])
  for (const [k, v] of Object.entries(lock.git)) out.push([`git/${k}`, v.commit])
  for (const [k, v] of Object.entries(lock.contexts)) out.push([`contexts/${k}`, v.pinned])
  for (const [k, v] of Object.entries(lock.hashfiles)) out.push([`hashfiles/${k}`, v])
  return Object.fromEntries(out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * BuildKit's error for an ADD URL whose bytes changed names only the digests ("digest mismatch sha256:A:
 * sha256:B"): name the URL the lock pinned to one of them, and what to do.
 */
export function explainLockFailure(error: unknown, used: BuildLock): LockError | undefined {
  const text = (error as {stderrTail?: string; message?: string}).stderrTail ?? (error as Error)?.message ?? ''
  const m = /digest mismatch (sha256:[a-f0-9]{64}): (sha256:[a-f0-9]{64})/.exec(text)
  if (!m) return undefined
  for (const [url, entry] of Object.entries(used.lock.urls)) {
    if (entry.checksum !== m[1] && entry.checksum !== m[2]) continue
    const served = entry.checksum === m[1] ? m[2] : m[1]
    return new LockError(
      `ADD ${url}: checksum mismatch: ${used.use.path} pins ${entry.checksum}, the server now sends ${served}`,
      ['if the new content is expected: `repro lock --update` and commit the lock file'],
    )
  }
  return undefined
}
