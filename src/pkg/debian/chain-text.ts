/** Human rendering of a verified chain (stdout of `repro hash verify` without --json). */
import type {VerifyChainResult} from './chain.js'

export function renderChainText(r: VerifyChainResult): string {
  const lines: string[] = []
  lines.push(
    `chain verified: ${r.packages} package${r.packages === 1 ? '' : 's'} through ${r.releases.length} signed release${r.releases.length === 1 ? '' : 's'} and ${r.packagesIndexes.length} Packages ${r.packagesIndexes.length === 1 ? 'index' : 'indexes'}`,
  )
  for (const rel of r.releases) {
    const validity = rel.validUntil
      ? `valid until ${rel.validUntil}${rel.expired ? ' (EXPIRED, accepted by --allow-expired)' : ''}`
      : 'no Valid-Until'
    lines.push(`  ${rel.origin} ${rel.suite || '(flat)'}: ${rel.file} sha256 ${rel.sha256}`)
    lines.push(`    signed by ${rel.signedBy.join(', ')}; dated ${rel.date ?? '?'}; ${validity}`)
    if (rel.differsFromRecorded)
      lines.push('    (not the InRelease recorded in the chain file: verified through this one)')
    for (const ix of r.packagesIndexes.filter((i) => i.origin === rel.origin && i.suite === rel.suite))
      lines.push(`    ${ix.path} sha256 ${ix.sha256} (${ix.size} bytes, from ${ix.file})`)
  }
  lines.push(
    `  package files hashed: ${r.filesHashed} of ${r.packages}${r.filesNotFound.length ? ` (not at hand: ${r.filesNotFound.length}; their sha256 was checked against Packages)` : ''}`,
  )
  if (r.allowExpired) lines.push('  --allow-expired was given')
  return `${lines.join('\n')}\n`
}
