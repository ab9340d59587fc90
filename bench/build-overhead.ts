/**
 * Overhead of `repro build` over the equivalent raw engine command, with a warm builder and a warm cache.
 *
 *   node --import tsx bench/build-overhead.ts [--runtime docker|podman|buildkit] [--runs 5] [--buildkit-image IMG]
 *                                            [--buildkit-addr ADDR]
 *
 * Reads the test bed state (REPRO_TESTBED_STATE or /var/lib/repro-testbed/state.json) for DOCKER_HOST, the
 * local BuildKit image and the buildkitd address. One warm-up `repro build` creates the builder and fills the
 * cache and gives the plan; then the raw build command from that plan and `repro build` run alternately,
 * RUNS times each. Prints both medians, the difference (goal <= 0.5 s) and the ratio.
 * Runs bin/run.js over a private, freshly compiled dist/ (what users run).
 */
import {execFile} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {copyFile, mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import {cpus, loadavg, tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): Promise<{ms: number; stdout: string; stderr: string}> {
  const t0 = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    execFile(file, args, {cwd, env, maxBuffer: 64 * 1024 * 1024}, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.slice(-2000)}`))
      else resolve({ms: Number(process.hrtime.bigint() - t0) / 1e6, stdout, stderr})
    })
  })
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Undo shellJoin for the plan's commands (single-quoted words, '"'"' for a quote). */
function shellSplit(line: string): string[] {
  const out: string[] = []
  const re = /'((?:[^']|'"'"')*)'|(\S+)/g
  for (const m of line.matchAll(re)) out.push(m[1] !== undefined ? m[1].replaceAll(`'"'"'`, "'") : m[2])
  return out
}

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

  // what users run is bin/run.js over compiled dist/: compile the sources into a private copy of the package
  // (the work tree's dist/ may be stale or absent while others edit)
  const pkgDir = await mkdtemp(path.join(tmpdir(), 'repro-bench-pkg-'))
  await mkdir(path.join(pkgDir, 'bin'))
  await copyFile(path.join(ROOT, 'package.json'), path.join(pkgDir, 'package.json'))
  await copyFile(path.join(ROOT, 'bin/run.js'), path.join(pkgDir, 'bin/run.js'))
  await symlink(path.join(ROOT, 'node_modules'), path.join(pkgDir, 'node_modules'))
  await run(process.execPath, [
    path.join(ROOT, 'node_modules/typescript/bin/tsc'),
    '-p',
    path.join(ROOT, 'tsconfig.json'),
    '--outDir',
    path.join(pkgDir, 'dist'),
  ]).catch(() => undefined) // type errors elsewhere in the tree still emit JavaScript
  if (!existsSync(path.join(pkgDir, 'dist/commands/build.js')))
    throw new Error('tsc did not emit dist/commands/build.js')
  // a published package ships oclif.manifest.json: oclif then imports only the command it runs
  await run(process.execPath, [path.join(ROOT, 'node_modules/oclif/bin/run.js'), 'manifest'], {...process.env}, pkgDir)
  const cli = [path.join(pkgDir, 'bin/run.js')]

  const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-build-'))
  try {
    const ctx = path.join(dir, 'ctx')
    await mkdir(ctx)
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n')
    await writeFile(path.join(ctx, 'hello.txt'), 'hello\n')
    const engine = runtime === 'buildkit' ? ['--buildkit-addr', addr] : image ? ['--buildkit-image', image] : []
    const reproArgs = (out: string) => [
      ...cli,
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

    // warm-up: creates the builder, fills the cache, gives the plan
    const warm = JSON.parse((await run(process.execPath, reproArgs(path.join(dir, 'warm.tar')), env)).stdout) as {
      commands: string[]
    }
    const buildLine = warm.commands.find((c) => / build /.test(c) && !c.startsWith('docker buildx create'))
    if (!buildLine) throw new Error(`no build command in the plan: ${warm.commands.join('\n')}`)
    const raw = shellSplit(buildLine)
    // the raw command writes where it says (the partial path); give it its own file
    const rawOut = path.join(dir, 'raw.tar')
    const rawArgs = raw.map((a) =>
      a.replace(/dest=[^,]+/, `dest=${runtime === 'podman' ? '/tmp/repro/output/raw.tar' : rawOut}`),
    )
    await run(rawArgs[0], rawArgs.slice(1), env) // warm the raw path too

    const rawMs: number[] = []
    const reproMs: number[] = []
    // CPU seconds of the client side (the command and its children, not the daemon): steadier than wall
    // time on a loaded machine, and what repro adds is all client side
    const rawCpu: number[] = []
    const reproCpu: number[] = []
    const haveTime = existsSync('/usr/bin/time')
    const timed = async (argv: string[], ms: number[], cpu: number[]) => {
      const r = haveTime
        ? await run('/usr/bin/time', ['-f', 'CPU %U %S', ...argv], env)
        : await run(argv[0], argv.slice(1), env)
      ms.push(r.ms)
      const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr)
      if (m) cpu.push((Number(m[1]) + Number(m[2])) * 1000)
    }
    for (let i = 0; i < runs; i++) {
      await timed(rawArgs, rawMs, rawCpu)
      await timed([process.execPath, ...reproArgs(path.join(dir, `r${i}.tar`))], reproMs, reproCpu)
    }
    const r = median(rawMs)
    const p = median(reproMs)
    console.log(
      `runtime: ${runtime}${image && runtime !== 'buildkit' ? ` (${image})` : ''}; repro via bin/run.js over freshly compiled dist/`,
    )
    console.log(`raw command:  ${rawArgs.join(' ').slice(0, 160)}...`)
    console.log(
      `load average during the runs: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} cores`,
    )
    console.log(`raw runs (ms):   ${rawMs.map((x) => x.toFixed(0)).join(' ')}`)
    console.log(`repro runs (ms): ${reproMs.map((x) => x.toFixed(0)).join(' ')}`)
    console.log(`median raw ${(r / 1000).toFixed(3)} s, median repro ${(p / 1000).toFixed(3)} s`)
    console.log(
      `overhead ${((p - r) / 1000).toFixed(3)} s (goal <= 0.5 s: ${p - r <= 500 ? 'met' : 'NOT met'}), ratio repro/raw ${(p / r).toFixed(2)}`,
    )
    if (rawCpu.length === runs && reproCpu.length === runs) {
      const rc = median(rawCpu)
      const pc = median(reproCpu)
      console.log(
        `client CPU: median raw ${(rc / 1000).toFixed(3)} s, repro ${(pc / 1000).toFixed(3)} s: repro adds ${((pc - rc) / 1000).toFixed(3)} s of CPU`,
      )
    }
  } finally {
    await rm(dir, {recursive: true, force: true})
    await rm(pkgDir, {recursive: true, force: true})
  }
}

await main()
