/**
 * Run every benchmark in bench/ one after another (they print ratios measured in the same run).
 * Run: npm run build && npm run bench [-- NAME...]
 */
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort()
let failed = 0
for (const b of benches) {
  console.log(`\n## ${b}`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, b)], {stdio: 'inherit'})
  if (r.status !== 0) failed++
}
process.exitCode = failed > 0 ? 1 : 0
