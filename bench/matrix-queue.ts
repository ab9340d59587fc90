/**
 * The bounded queue of `repro verify --matrix` overlaps jobs whose builds wait: N jobs, each `RUN sleep 3` on
 * the test bed's busybox base with a build arg unique to the job and to this run (never cached; verify builds
 * without cache anyway), 2 rebuilds each, on the test bed's BuildKit daemons (the default one and, when it
 * runs, an older one: jobs alternate). The same matrix runs with --jobs 1 and with --jobs N (--fresh: nothing
 * resumed). Prints both wall times, the sleep-bound limits (N × 2 × 3 s one at a time, 2 × 3 s all at once) and
 * the ratio --jobs N / --jobs 1 (goal <= 0.6).
 *
 *   npm run build && node --import tsx bench/matrix-queue.ts [--jobs 4] [--sleep 3]
 */
import {execFile} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

interface Testbed {
  buildkit: {default: string; versions: Record<string, {running?: boolean; host?: string; buildctl?: string}>}
  images: {busybox: {ociLayout: string}}
}

function repro(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{seconds: number; stdout: string}> {
  const t0 = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin', 'run.js'), ...args],
      {cwd, env, maxBuffer: 64 * 1024 * 1024},
      (error, stdout, stderr) => {
        if (error) reject(new Error(`repro ${args.join(' ')} failed (${error.code}): ${stderr.slice(-3000)}`))
        else resolve({seconds: Number(process.hrtime.bigint() - t0) / 1e9, stdout})
      },
    )
  })
}

async function main(): Promise<void> {
  const n = Number(arg('jobs', '4'))
  const sleep = Number(arg('sleep', '3'))
  if (!existsSync(path.join(ROOT, 'dist', 'commands'))) throw new Error('run `npm run build` first')
  const stateFile = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
  if (!existsSync(stateFile)) throw new Error(`no engine test bed (${stateFile}): npm run testbed -- up`)
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as Testbed
  const daemons = Object.entries(state.buildkit.versions)
    .filter(([, v]) => v.running && v.host)
    .sort(([a], [b]) => Number(b === state.buildkit.default) - Number(a === state.buildkit.default))
  if (daemons.length === 0) throw new Error('no BuildKit daemon of the test bed is running')
  const buildctl = state.buildkit.versions[state.buildkit.default]?.buildctl
  const env = {...process.env, PATH: `${buildctl ? `${path.dirname(buildctl)}:` : ''}${process.env.PATH}`}

  const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-matrix-'))
  try {
    await mkdir(path.join(dir, 'sleep'))
    await writeFile(
      path.join(dir, 'sleep', 'Dockerfile'),
      `FROM base\nARG JOB\nRUN sleep ${sleep} && echo "$JOB" > /job\n`,
    )
    const nonce = `${process.pid}-${Date.now()}`
    const builders = daemons.map(
      ([v, d]) => `  bk-${v}: {runtime: buildkit, addr: "${d.host}", image: "moby/buildkit:${v}"}`,
    )
    const jobs = Array.from(
      {length: n},
      (_, i) =>
        `  - {id: sleep-${i}, context: sleep, builder: bk-${daemons[i % daemons.length][0]}, buildArgs: {JOB: "${nonce}-${i}"}, ` +
        `buildContexts: {base: "oci-layout://${state.images.busybox.ociLayout}"}}`,
    )
    await writeFile(path.join(dir, 'matrix.yaml'), `builders:\n${builders.join('\n')}\njobs:\n${jobs.join('\n')}\n`)
    const common = ['verify', '--matrix', 'matrix.yaml', '--fresh', '--json', '-q']
    process.stderr.write(
      `bench matrix-queue: ${n} jobs × 2 rebuilds × RUN sleep ${sleep} on ${daemons.map(([v]) => v).join(', ')}\n`,
    )
    const one = await repro([...common, '--jobs', '1', '--report-dir', 'one'], dir, env)
    const many = await repro([...common, '--jobs', String(n), '--report-dir', 'many'], dir, env)
    for (const r of [one, many]) {
      const report = JSON.parse(r.stdout) as {ok: boolean; summary: {passed: number}}
      if (!report.ok || report.summary.passed !== n)
        throw new Error(`a run did not verify every job: ${r.stdout.slice(0, 2000)}`)
    }
    const ratio = many.seconds / one.seconds
    console.log(`jobs: ${n}, rebuilds per job: 2, RUN sleep ${sleep} s, daemons: ${daemons.length}`)
    console.log(`--jobs 1: ${one.seconds.toFixed(1)} s (sleep-bound limit ${n * 2 * sleep} s)`)
    console.log(`--jobs ${n}: ${many.seconds.toFixed(1)} s (sleep-bound limit ${2 * sleep} s)`)
    console.log(`ratio --jobs ${n} / --jobs 1: ${ratio.toFixed(2)}x (goal <= 0.6x) ${ratio <= 0.6 ? 'OK' : 'MISSED'}`)
    if (ratio > 0.6) process.exitCode = 1
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench matrix-queue: ${error.message}\n`)
  process.exitCode = 2
})
