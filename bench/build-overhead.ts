/**
 * Overhead of `repro build` over the equivalent raw engine command, and whole-process `repro build` against
 * the peer, repro-build's `build` (PyPI repro-build 2.0.0 in a venv, see lib/clis.ts), on the same context
 * with a warm builder and a warm cache.
 *
 *   node --import tsx bench/build-overhead.ts [--runtime docker|podman|buildkit] [--runs 5] [--buildkit-image IMG]
 *                                            [--buildkit-addr ADDR]
 *
 * Reads the test bed state (REPRO_TESTBED_STATE or /var/lib/repro-testbed/state.json) for DOCKER_HOST, the
 * local BuildKit image and the buildkitd address. Warm-ups create the builders, fill the caches and give the
 * plan; then the raw build command from that plan, repro from the single-file bundle, repro from the npm
 * install (bin/run.js over a freshly compiled dist/ with its manifest) and repro-build (docker and podman
 * only) run alternately, RUNS times each. Prints the medians, repro's overhead over the raw command (goal
 * <= 0.25 s), repro's client CPU, the ratio to repro-build (goal <= 1.0x) and whether repro's and
 * repro-build's tarballs are byte-identical.
 */
import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {cpus, loadavg, tmpdir} from 'node:os'
import path from 'node:path'

import {clis, median, run as runIn, timed} from './lib/clis.js'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

const run = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) => runIn(file, args, {env})

/** Undo shellJoin for the plan's commands (single-quoted words, '"'"' for a quote). */
function shellSplit(line: string): string[] {
  const out: string[] = []
  const re = /'((?:[^']|'"'"')*)'|(\S+)/g
  for (const m of line.matchAll(re)) out.push(m[1] !== undefined ? m[1].replaceAll(`'"'"'`, "'") : m[2])
  return out
}

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex')

async function main(): Promise<void> {
  const stateFile = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
  const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : undefined
  const runtime = arg('runtime', 'docker')
  const runs = Number(arg('runs', '5'))
  const bk = state?.buildkit?.versions?.[state?.buildkit?.default ?? 'v0.32.2']
  const image = arg('buildkit-image', bk?.image?.name ?? '')
  const addr = arg('buildkit-addr', bk?.host ?? '')
  const env: NodeJS.ProcessEnv = {...process.env}
  if (state?.docker?.host) env.DOCKER_HOST = state.docker.host
  if (bk?.buildctl) env.PATH = `${path.dirname(bk.buildctl)}:${env.PATH}`

  const c = await clis()
  const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-build-'))
  try {
    const ctx = path.join(dir, 'ctx')
    await mkdir(ctx)
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n')
    await writeFile(path.join(ctx, 'hello.txt'), 'hello\n')
    const engine = runtime === 'buildkit' ? ['--buildkit-addr', addr] : image ? ['--buildkit-image', image] : []
    const reproArgs = (out: string) => [
      'build',
      '--runtime',
      runtime,
      ...engine,
      '--sde',
      '0',
      '--json',
      '-q',
      '-o',
      out,
      ctx,
    ]
    // repro-build: same context, SDE, BuildKit image and output kind (a docker tarball); it names its builder
    // after the image and keeps it between runs
    const peerArgs = (out: string) => [
      'build',
      '--runtime',
      runtime,
      '--sde',
      '0',
      ...(image ? ['--buildkit-image', image] : []),
      '-o',
      out,
      ctx,
    ]
    const withPeer = runtime === 'docker' || runtime === 'podman'

    // warm-ups: create the builders, fill the caches, give the plan
    const warm = JSON.parse(
      (await run(c.npm[0], [...c.npm.slice(1), ...reproArgs(path.join(dir, 'warm.tar'))], env)).stdout,
    ) as {
      commands: string[]
    }
    await run(c.bundle[0], [...c.bundle.slice(1), ...reproArgs(path.join(dir, 'warm-bundle.tar'))], env)
    if (withPeer) await run(c.peer[0], [...c.peer.slice(1), ...peerArgs(path.join(dir, 'warm-peer.tar'))], env)
    const buildLine = warm.commands.find((line) => / build /.test(line) && !line.startsWith('docker buildx create'))
    if (!buildLine) throw new Error(`no build command in the plan: ${warm.commands.join('\n')}`)
    // the raw command writes where it says (the partial path); give it its own file
    const rawOut = path.join(dir, 'raw.tar')
    const rawArgs = shellSplit(buildLine).map((a) =>
      a.replace(/dest=[^,]+/, `dest=${runtime === 'podman' ? '/tmp/repro/output/raw.tar' : rawOut}`),
    )
    await run(rawArgs[0], rawArgs.slice(1), env) // warm the raw path too

    const variants: Record<string, (i: number) => string[]> = {
      raw: () => rawArgs,
      'repro, bundle': (i) => [...c.bundle, ...reproArgs(path.join(dir, `bundle-${i}.tar`))],
      'repro, npm install': (i) => [...c.npm, ...reproArgs(path.join(dir, `npm-${i}.tar`))],
    }
    if (withPeer) variants['repro-build (peer)'] = (i) => [...c.peer, ...peerArgs(path.join(dir, `peer-${i}.tar`))]
    const names = Object.keys(variants)
    const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
    const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
    for (let i = 0; i < runs; i++) {
      for (const n of names) {
        // CPU seconds of the client side (the command and its children, not the daemon): steadier than wall
        // time on a loaded machine, and what repro adds is all client side
        const r = await timed(variants[n](i), {env})
        wall[n].push(r.ms)
        cpu[n].push(r.cpu)
      }
    }
    console.log(
      `runtime: ${runtime}${image && runtime !== 'buildkit' ? ` (${image})` : ''}; ${runs} alternating runs each`,
    )
    console.log(`raw command:  ${rawArgs.join(' ').slice(0, 160)}...`)
    console.log(
      `load average during the runs: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} cores`,
    )
    for (const n of names) {
      console.log(
        `${n.padEnd(20)} wall median ${(median(wall[n]) / 1000).toFixed(3)} s (runs ${wall[n].map((x) => x.toFixed(0)).join(' ')} ms); client CPU median ${(median(cpu[n]) / 1000).toFixed(3)} s`,
      )
    }
    const raw = median(wall.raw)
    for (const n of ['repro, bundle', 'repro, npm install']) {
      const over = (median(wall[n]) - raw) / 1000
      const overCpu = (median(cpu[n]) - median(cpu.raw)) / 1000
      let line = `${n}: overhead ${over.toFixed(3)} s over raw (goal <= 0.25 s: ${over <= 0.25 ? 'met' : 'NOT met'}), of it ${overCpu.toFixed(3)} s repro's own CPU`
      if (withPeer) {
        const ratio = median(wall[n]) / median(wall['repro-build (peer)'])
        line += `; ${ratio.toFixed(2)}x repro-build (goal <= 1.0x: ${ratio <= 1 ? 'met' : 'NOT met'})`
      }
      console.log(line)
    }
    if (withPeer) {
      const ours = await sha256(path.join(dir, 'bundle-0.tar'))
      const npm = await sha256(path.join(dir, 'npm-0.tar'))
      const peer = await sha256(path.join(dir, 'peer-0.tar'))
      console.log(
        `tarballs: bundle ${ours.slice(0, 16)}, npm install ${npm.slice(0, 16)}, repro-build ${peer.slice(0, 16)}: ${ours === peer && npm === peer ? 'byte-identical' : 'DIFFERENT'}`,
      )
    }
  } finally {
    await rm(dir, {recursive: true, force: true})
    await c.cleanup()
  }
}

await main()
