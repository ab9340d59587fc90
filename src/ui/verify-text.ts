import type {VerifyResult} from '../verify/index.js'

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12)

/** stdout of `repro verify`: the verdict, each rebuild, each check, and the causes of a mismatch. */
export function renderVerify(r: VerifyResult): string {
  const lines: string[] = []
  lines.push(r.reproduced ? `REPRODUCED ${r.digest ?? ''}`.trimEnd() : 'NOT REPRODUCED')
  for (const b of r.builds) {
    lines.push(`  ${b.runtime} #${b.attempt}  ${b.digest}  ${b.platform}  ${b.seconds}s${b.path ? `  ${b.path}` : ''}`)
  }
  for (const c of r.checks) lines.push(`  [${c.ok ? 'ok' : 'FAIL'}] ${c.name}: ${c.detail}`)
  if (r.diff) {
    lines.push(`Why (${r.diff.a} vs ${r.diff.b}): ${r.diff.differences} difference(s)`)
    for (const c of r.diff.causes) lines.push(`  - ${c.title} (${c.cause}, ${c.count}): ${c.hint}`)
    for (const e of r.diff.events.slice(0, 10)) {
      const where = `${e.kind}${e.layer ? ` layer ${e.layer}` : ''} ${e.path}${e.field ? ` ${e.field}` : ''}`
      lines.push(`    ${where}: ${fmt(e.a)} -> ${fmt(e.b)}`)
    }
  }
  if (r.attestation) lines.push(`Attestation: ${r.attestation}`)
  return lines.join('\n')
}

function fmt(v: string | null): string {
  if (v === null) return '(absent)'
  const one = v.replace(/\n/g, '\\n')
  return one.length > 60 ? `${one.slice(0, 57)}...` : /^sha256:[a-f0-9]{64}$/.test(one) ? short(one) : one
}
