/**
 * Start-up: whole-process `repro analyze` of a real archive against the peer, repro-build's `analyze`
 * (PyPI repro-build 2.0.0, pip-installed into a venv under bench/out/), side by side in one run, from the
 * single-file bundle and from the npm install (bin/run.js over compiled dist/ with its oclif manifest).
 * Goal: repro <= 0.8x repro-build (median wall time), from both. Also prints `node -e 0` and `python3 -c 0`,
 * the floor each language starts from.
 *
 *   node --import tsx bench/startup.ts [--runs 15] [--archive FILE]
 *
 * The archive: --archive, else the test bed's BuildKit-built busybox OCI archive (an index, a manifest, a
 * 1 MB layer), read by both tools without --verify (their default work: index, manifests, config, digests).
 */
import {existsSync, readFileSync} from 'node:fs'
import {cpus, loadavg} from 'node:os'

import {clis, median, timed} from './lib/clis.js'

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

const stateFile = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
const archive =
  arg('archive') ??
  (existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as {images: {busybox: {ociArchive: string}}}).images.busybox
        .ociArchive
    : undefined)
if (!archive || !existsSync(archive))
  throw new Error('no archive: pass --archive FILE or bring the test bed up (npm run testbed -- up)')
const runs = Number(arg('runs', '15'))

const c = await clis()
try {
  const variants: Record<string, string[]> = {
    'repro-build analyze (peer)': [...c.peer, 'analyze', archive],
    'repro analyze, bundle': [...c.bundle, 'analyze', archive],
    // the bundle's first run on a machine (or REPRO_NO_COMPILE_CACHE=1): no V8 code cache
    'repro analyze, bundle, no cache': ['env', 'REPRO_NO_COMPILE_CACHE=1', ...c.bundle, 'analyze', archive],
    'repro analyze, npm install': [...c.npm, 'analyze', archive],
    'node -e 0 (floor)': [process.execPath, '-e', '0'],
    'python3 -c 0 (floor)': ['python3', '-c', '0'],
  }
  const names = Object.keys(variants)
  const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
  const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
  // both print the image digest: the same work was done
  for (const n of names.slice(0, 4)) {
    const out = (await timed(variants[n])).stdout
    if (!/sha256:[0-9a-f]{64}/.test(out)) throw new Error(`${n}: no digest in its output`)
  }
  for (let i = 0; i < runs; i++) {
    for (const n of names) {
      const r = await timed(variants[n])
      wall[n].push(r.ms)
      cpu[n].push(r.cpu)
    }
  }
  console.log(`archive: ${archive}; ${runs} alternating runs each`)
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  )
  for (const n of names) {
    console.log(
      `${n.padEnd(32)} wall median ${median(wall[n]).toFixed(0).padStart(4)} ms, min ${Math.min(...wall[n])
        .toFixed(0)
        .padStart(4)} ms; CPU median ${median(cpu[n]).toFixed(0).padStart(4)} ms`,
    )
  }
  const peer = 'repro-build analyze (peer)'
  for (const n of ['repro analyze, bundle', 'repro analyze, bundle, no cache', 'repro analyze, npm install']) {
    const ratio = median(wall[n]) / median(wall[peer])
    const cpuRatio = median(cpu[n]) / median(cpu[peer])
    console.log(
      `${n}: ${ratio.toFixed(2)}x repro-build (wall median; goal <= 0.8x: ${ratio <= 0.8 ? 'met' : 'NOT met'}), CPU ${cpuRatio.toFixed(2)}x`,
    )
  }
} finally {
  await c.cleanup()
}
