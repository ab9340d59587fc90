/** RL001 unpinned-base-image, RL002 unpinned-syntax. */
import {imageReferences} from '../../dockerfile/scope.js'
import type {Check, RawFinding, RuleContext} from './common.js'

/** repro's own staged build contexts (`repro build` names them repro-…) are inputs it pinned itself. */
const REPRO_CONTEXT_PREFIX = 'repro-'

export function normalizeImage(ref: string): string {
  let r = ref.trim().toLowerCase()
  if (r.startsWith('docker.io/library/')) r = r.slice('docker.io/library/'.length)
  else if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length)
  else if (r.startsWith('index.docker.io/library/')) r = r.slice('index.docker.io/library/'.length)
  return r
}

/** Why an image reference (not a stage, not scratch: imageReferences filtered those) is not pinned, or null. */
function judge(ctx: RuleContext, ref: string): {problem: string; fix: string} | null {
  const r = ref.trim()
  const lower = r.toLowerCase()
  if (lower.startsWith(REPRO_CONTEXT_PREFIX)) return null
  const named = ctx.buildContexts.get(r) ?? ctx.buildContexts.get(lower)
  if (named !== undefined) {
    if (named.includes('@sha256:') || !named.includes('://')) return null
    return {
      problem: `named context "${r}" (${named}) is not pinned by digest`,
      fix: `give it with a digest: --build-context ${r}=${named}@sha256:<digest>`,
    }
  }
  if (/@sha256:[0-9a-f]{64}/.test(lower)) return null
  if (ctx.lockedImages.has(normalizeImage(r))) return null
  return {
    problem: `image "${r}" is a tag without a digest`,
    fix: `pin it: ${r.replace(/@.*$/, '')}@sha256:<digest> (or list it in repro.lock.yaml, or give it with --build-context NAME=oci-layout://…@sha256:…)`,
  }
}

export const unpinnedBaseImage: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const ref of imageReferences(ctx.model.file, ctx.model.scoped)) {
    if (ref.kind === 'syntax') continue // RL002
    const verdict = judge(ctx, ref.ref)
    if (!verdict) continue
    out.push({
      rule: 'RL001',
      line: ref.line,
      column: ref.column,
      message:
        ref.kind === 'from' ? `base ${verdict.problem}` : `${ref.instruction?.keyword ?? ''} --from ${verdict.problem}`,
      fix: verdict.fix,
    })
  }
  return out
}

export const unpinnedSyntax: Check = (ctx) => {
  const d = ctx.model.file.directives.find((x) => x.name === 'syntax')
  if (!d || /@sha256:[0-9a-f]{64}/.test(d.value)) return []
  return [
    {
      rule: 'RL002',
      line: d.line,
      column: d.column,
      message: `# syntax=${d.value} is not pinned by digest: the Dockerfile frontend can change under the same tag`,
      fix: `pin it: # syntax=${d.value}@sha256:<digest>`,
    },
  ]
}
