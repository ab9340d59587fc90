/**
 * A lock file as a BuildKit source policy (buildctl --source-policy-file, buildx's
 * EXPERIMENTAL_BUILDKIT_SOURCE_POLICY): CONVERT rules that pin each locked source, and with --locked a DENY
 * of every other remote source. BuildKit evaluates the rules in order, re-evaluates a converted source, and
 * for ALLOW/DENY the last matching rule wins (sourcepolicy/engine.go), so the order is: DENY *, the
 * CONVERTs, then the ALLOWs.
 */
import path from 'node:path'

import type {DockerfileInputs} from '../dockerfile/inputs.js'
import {formatReference, parseReference} from '../image/registry/reference.js'
import {LockError, type LockFile} from './format.js'
import {gitKey} from './resolve.js'

export interface PolicyRule {
  action: 'ALLOW' | 'CONVERT' | 'DENY'
  /** `match_type` is the JSON name BuildKit's Go struct reads (encoding/json); 0, the default, is WILDCARD */
  selector: {identifier: string; match_type: 'EXACT' | 'REGEX' | 'WILDCARD'}
  updates?: {identifier?: string; attrs?: Record<string, string>}
}

export interface SourcePolicy {
  rules: PolicyRule[]
}

/** BuildKit's identifier of an image source: docker-image:// + the normalised name (`:latest` when no tag). */
export function imageIdentifier(ref: string): string {
  const r = parseReference(ref)
  return `docker-image://${formatReference(r)}`
}

/** BuildKit's identifier of a git source (client/llb Git): git:// + host + path [+ #ref[:subdir]]. */
export function gitIdentifier(url: string, ref: string | null, subdir: string | null): string {
  let host: string
  let p: string
  const scp = /^(?:[\w.-]+@)?([^:/]+):(?!\/)(.+)$/.exec(url)
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    host = scp[1]
    p = scp[2]
  } else {
    try {
      const u = new URL(url)
      host = u.host
      p = u.pathname
    } catch {
      return `git://${url}`
    }
  }
  let id = `git://${host}${path.posix.join('/', p)}`
  if (ref !== null || subdir !== null) id += `#${ref ?? ''}${subdir ? `:${subdir}` : ''}`
  return id
}

const exact = (identifier: string): PolicyRule['selector'] => ({identifier, match_type: 'EXACT'})

/** The policy of a lock: pins always; with `locked`, nothing remote that the lock does not name. */
export function lockPolicy(lock: LockFile, options: {locked: boolean}): SourcePolicy {
  const converts: PolicyRule[] = []
  const allows: PolicyRule[] = []
  const images = [...Object.entries(lock.frontend), ...Object.entries(lock.images)]
  for (const [ref, entry] of images) {
    const r = parseReference(ref)
    const pinned = `docker-image://${formatReference({...r, digest: entry.digest})}`
    if (r.digest === undefined)
      converts.push({action: 'CONVERT', selector: exact(imageIdentifier(ref)), updates: {identifier: pinned}})
    allows.push({action: 'ALLOW', selector: exact(pinned)})
  }
  for (const [url, entry] of Object.entries(lock.urls)) {
    converts.push({action: 'CONVERT', selector: exact(url), updates: {attrs: {'http.checksum': entry.checksum}}})
    allows.push({action: 'ALLOW', selector: exact(url)})
  }
  for (const entry of Object.values(lock.git)) {
    const pinned = gitIdentifier(entry.url, entry.commit, entry.subdir)
    const from = gitIdentifier(entry.url, entry.ref, entry.subdir)
    if (from !== pinned) converts.push({action: 'CONVERT', selector: exact(from), updates: {identifier: pinned}})
    allows.push({action: 'ALLOW', selector: exact(pinned)})
  }
  if (!options.locked) return {rules: dedupe(converts)}
  return {
    rules: dedupe([
      {action: 'DENY', selector: {identifier: '*', match_type: 'WILDCARD'}},
      ...converts,
      // the build's own directories (context, Dockerfile, named dir contexts, repro-pkgs, repro-snapshot)
      {action: 'ALLOW', selector: {identifier: 'local://*', match_type: 'WILDCARD'}},
      // named OCI-layout contexts are pinned by digest on the command line (repro build pins them)
      {action: 'ALLOW', selector: {identifier: 'oci-layout://*', match_type: 'WILDCARD'}},
      ...allows,
    ]),
  }
}

function dedupe(rules: PolicyRule[]): PolicyRule[] {
  const seen = new Set<string>()
  return rules.filter((r) => {
    const k = JSON.stringify(r)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** The policy file's bytes: one line (--dry prints it as one command), rule order as built, fixed key order. */
export function policyText(policy: SourcePolicy): string {
  return `${JSON.stringify(policy)}\n`
}

/**
 * For --locked: every input the build will pull must be in the lock, and the lock's SOURCE_DATE_EPOCH (when
 * it has one) must be the build's. Throws a LockError naming the first input that is missing (and how many).
 */
export function checkLockCovers(
  lock: LockFile,
  lockFile: string,
  inputs: DockerfileInputs,
  sde: number | undefined,
): void {
  const missing: string[] = []
  if (inputs.syntax && !(inputs.syntax.ref in lock.frontend))
    missing.push(`# syntax=${inputs.syntax.ref} (line ${inputs.syntax.line})`)
  for (const i of inputs.images) {
    if (!(i.ref in lock.images)) {
      const what = i.use === 'from' ? 'FROM' : i.use === 'copy-from' ? 'COPY --from' : 'RUN --mount from'
      missing.push(`${what} ${i.ref} (line ${i.line})`)
    }
  }
  for (const u of inputs.urls) if (!(u.url in lock.urls)) missing.push(`ADD ${u.url} (line ${u.line})`)
  for (const g of inputs.gits) {
    const key = gitKey(g.url, g.ref, g.subdir)
    if (!(key in lock.git)) missing.push(`ADD ${key} (line ${g.line})`)
  }
  const uniq = [...new Set(missing)]
  if (uniq.length > 0) {
    throw new LockError(
      `--locked: ${lockFile} does not lock ${uniq[0]}${uniq.length > 1 ? ` (and ${uniq.length - 1} more: ${uniq.slice(1).join(', ')})` : ''}`,
      ['run `repro lock` (or `repro lock --update`) and commit the lock file'],
    )
  }
  if (lock.sourceDateEpoch && sde !== undefined && lock.sourceDateEpoch.epoch !== sde) {
    throw new LockError(
      `--locked: SOURCE_DATE_EPOCH ${sde} differs from the ${lock.sourceDateEpoch.epoch} in ${lockFile} (from ${lock.sourceDateEpoch.source})`,
    )
  }
}
