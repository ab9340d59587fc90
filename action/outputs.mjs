// Step outputs of the repro Actions (action.yml, verify/action.yml) from repro's --json results: appends
// name=value lines to $GITHUB_OUTPUT. Plain node, no dependencies, like the bundle beside it.
//   node outputs.mjs build RESULT.json
//   node outputs.mjs verify RESULT.json...   (one result per platform)
import {appendFileSync, readFileSync} from 'node:fs'

const [kind, ...files] = process.argv.slice(2)
const target = process.env.GITHUB_OUTPUT
if (!target) throw new Error('outputs.mjs: GITHUB_OUTPUT is not set')
const results = files.map((f) => JSON.parse(readFileSync(f, 'utf8')))
const out = {}
if (kind === 'build') {
  const [r] = results
  const first = r.outputs[0]
  out.digest = first.digest
  out.tarball = first.path
  out.digests = JSON.stringify(Object.fromEntries(r.outputs.map((o) => [o.platform ?? '', o.digest])))
  out.tarballs = JSON.stringify(r.outputs.map((o) => o.path))
  out['push-reference'] = r.push?.reference ?? ''
} else if (kind === 'verify') {
  out.reproduced = String(results.length > 0 && results.every((r) => r.reproduced === true))
  out.digest = results[0]?.digest ?? ''
  out.digests = JSON.stringify(results.map((r) => r.digest ?? null))
  out.attestations = JSON.stringify(results.map((r) => r.attestation ?? null).filter(Boolean))
} else {
  throw new Error(`outputs.mjs: unknown kind ${kind}`)
}
for (const [name, value] of Object.entries(out)) {
  if (/[\r\n]/.test(value)) throw new Error(`outputs.mjs: output ${name} holds a newline`)
  appendFileSync(target, `${name}=${value}\n`)
}
process.stdout.write(
  `${Object.entries(out)
    .map(([n, v]) => `${n}=${v}`)
    .join('\n')}\n`,
)
