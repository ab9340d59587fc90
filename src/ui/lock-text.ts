import type {LockResult} from '../lock/index.js'

/** stdout of `repro lock`: what was written or checked, and per input old → new. */
export function renderLock(r: LockResult): string {
  const lines: string[] = []
  const inputs = `${r.inputs} input${r.inputs === 1 ? '' : 's'}`
  if (r.mode === 'check') {
    lines.push(
      r.changes.length === 0
        ? `up to date: ${r.lockFile} (${inputs})`
        : `${r.lockFile}: ${r.changes.length} input(s) moved`,
    )
  } else {
    lines.push(`${r.written ? 'wrote' : 'unchanged'} ${r.lockFile} (${inputs}, ${r.sha256 ?? ''})`)
  }
  for (const c of r.changes) {
    const where = c.uses.length > 0 ? ` (${c.uses.join(', ')})` : ''
    lines.push(`  ${c.section} ${c.name}${where}: ${c.old ?? '(not locked)'} -> ${c.new ?? '(no longer used)'}`)
  }
  return lines.join('\n')
}
