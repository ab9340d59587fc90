/** RL001 unpinned-base-image, RL002 unpinned-syntax. */
import {expandWord} from '../model.js'
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

/** Why an image reference is not pinned, or null when it is fine. */
function judge(ctx: RuleContext, ref: string, stageNames: ReadonlySet<string>): {problem: string; fix: string} | null {
  const r = ref.trim()
  if (r === '' || r.toLowerCase() === 'scratch') return null
  const lower = r.toLowerCase()
  if (stageNames.has(lower) || /^\d+$/.test(r)) return null
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
  const {model} = ctx
  // FROM may only name stages defined before it
  const earlier = new Set<string>()
  for (const stageInfo of model.stages) {
    const {stage} = stageInfo
    if (!stageInfo.imageUnresolved) {
      const verdict = judge(ctx, stageInfo.image, earlier)
      if (verdict) {
        out.push({
          rule: 'RL001',
          line: stage.imageLine,
          column: stage.imageColumn,
          message: `base ${verdict.problem}`,
          fix: verdict.fix,
        })
      }
    }
    for (const item of stageInfo.instructions) {
      const {ins} = item
      const refs: {value: string; column: number}[] = []
      if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
        for (const f of ins.flags) if (f.name === 'from' && f.value) refs.push({value: f.value, column: f.column})
      }
      if (ins.keyword === 'RUN') {
        for (const m of item.mounts) if (m.from) refs.push({value: m.from, column: ins.column})
      }
      for (const ref of refs) {
        const expanded = expandWord(ref.value, item.vars)
        const verdict = judge(ctx, expanded, model.stageNames)
        if (verdict) {
          out.push({
            rule: 'RL001',
            line: ins.line,
            column: ref.column,
            message: `${ins.keyword} --from ${verdict.problem}`,
            fix: verdict.fix,
          })
        }
      }
    }
    if (stage.name) earlier.add(stage.name)
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
