/**
 * Package benchmarks, measured in one run:
 * 1. 50 synthetic package files (200 KB each) from a local HTTP server that adds 20 ms per request:
 *    the same download code at concurrency 1 (sequential, like repro-get) and at --jobs 8. Prints the ratio
 *    and the latency floors (50 x 20 ms sequential; ceil(50/8) x 20 ms parallel).
 * 2. hash generate over a root filesystem's installed packages: the test bed's Debian root filesystem when
 *    REPRO_BENCH_ROOT names one, else a root made from this machine's own dpkg status (the packages whose
 *    installed version the apt lists still carry) and its apt lists; against `dpkg-query -W` and
 *    `apt-cache show` (repro-get's way) of the same packages.
 * Run: node --import tsx bench/pkg-download.ts
 */
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Worker} from 'node:worker_threads'

import {realExec} from '../src/exec.js'
import {silentLogger} from '../src/log.js'
import {PackageCache} from '../src/pkg/cache.js'
import {aptKey, indexPackages, parseDeb822} from '../src/pkg/deb822.js'
import {decompressByName} from '../src/pkg/decompress.js'
import {downloadEntries} from '../src/pkg/download.js'
import {generateHashes} from '../src/pkg/generate.js'
import {parseHashFiles} from '../src/pkg/hash-file.js'
import {parseProvider} from '../src/pkg/providers.js'

const N = 50
const SIZE = 200 * 1024
const LATENCY_MS = 20
const JOBS = 8

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6

/** The server runs in a worker thread, as a real mirror runs elsewhere: its CPU is not the client's. */
const SERVER = `
const {createServer} = require('node:http')
const {readFileSync} = require('node:fs')
const {parentPort, workerData} = require('node:worker_threads')
const files = new Map(workerData.files.map((f) => [f.url, readFileSync(f.path)]))
const server = createServer((req, res) => {
  const data = files.get(req.url)
  setTimeout(() => {
    if (!data) res.writeHead(404).end()
    else res.writeHead(200, {'content-length': data.length}).end(data)
  }, workerData.latency)
})
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))
`

async function downloadBench(dir: string): Promise<void> {
  const served: {url: string; path: string}[] = []
  let sums = ''
  await mkdir(path.join(dir, 'files'), {recursive: true})
  for (let i = 0; i < N; i++) {
    const name = `pool/main/p/pkg${i}/pkg${i}_1.0-1_amd64.deb`
    const data = randomBytes(SIZE)
    const file = path.join(dir, 'files', `${i}.deb`)
    await writeFile(file, data)
    served.push({url: `/${name}`, path: file})
    sums += `${createHash('sha256').update(data).digest('hex')}  ${name}\n`
  }
  const worker = new Worker(SERVER, {eval: true, workerData: {files: served, latency: LATENCY_MS}})
  const port = await new Promise<number>((r) => worker.once('message', r))
  const base = `http://127.0.0.1:${port}`
  const entries = parseHashFiles([{file: 'SHA256SUMS', text: sums}])
  const run = async (jobs: number, label: string): Promise<number> => {
    const cache = new PackageCache(path.join(dir, `cache-${label}`))
    const t0 = process.hrtime.bigint()
    const r = await downloadEntries(entries, {
      cache,
      providers: [parseProvider(`${base}/{{.Name}}`)],
      epochFor: () => 0,
      jobs,
      logger: silentLogger,
    })
    const t = ms(t0)
    if (r.downloaded !== N) throw new Error(`${label}: ${r.downloaded} downloaded`)
    return t
  }
  await run(JOBS, 'warmup')
  const seqs: number[] = []
  const pars: number[] = []
  for (let i = 0; i < 3; i++) {
    seqs.push(await run(1, `seq${i}`))
    pars.push(await run(JOBS, `par${i}`))
  }
  await worker.terminate()
  const seq = Math.min(...seqs)
  const par = Math.min(...pars)
  const mb = (N * SIZE) / 1e6
  console.log(
    `download: ${N} files x ${SIZE / 1024} KB (${mb.toFixed(1)} MB), +${LATENCY_MS} ms per request, local HTTP server in a worker thread; best of 3`,
  )
  console.log(`  sequential (jobs 1): ${seq.toFixed(0)} ms  (latency floor ${N * LATENCY_MS} ms)`)
  console.log(
    `  parallel (jobs ${JOBS}):   ${par.toFixed(0)} ms  (latency floor ${Math.ceil(N / JOBS) * LATENCY_MS} ms)`,
  )
  console.log(`  ratio sequential/parallel: ${(seq / par).toFixed(2)}x (goal >= 4x)`)
}

/** A root with this machine's installed packages that its apt lists still carry (so generate succeeds). */
async function hostRoot(dir: string): Promise<{root: string; count: number; dropped: number}> {
  const root = path.join(dir, 'root')
  const lists = '/var/lib/apt/lists'
  await mkdir(path.join(root, 'var/lib/dpkg'), {recursive: true})
  await mkdir(path.join(root, 'var/lib/apt/lists'), {recursive: true})
  const index = new Map()
  for (const n of (await readdir(lists)).filter((x) => /_Packages(\.\w+)?$/.test(x))) {
    await symlink(path.join(lists, n), path.join(root, 'var/lib/apt/lists', n))
    indexPackages(await decompressByName(n, await readFile(path.join(lists, n)), realExec), index)
  }
  const paras = parseDeb822(await readFile('/var/lib/dpkg/status', 'utf8')).filter((p) =>
    / installed$/.test(p.Status ?? ''),
  )
  const kept = paras.filter((p) => index.has(aptKey(p.Package, p.Version, p.Architecture)))
  await writeFile(
    path.join(root, 'var/lib/dpkg/status'),
    kept
      .map(
        (p) =>
          Object.entries(p)
            .map(([k, v]) => `${k}: ${v.replaceAll('\n', '\n ')}`)
            .join('\n') + '\n',
      )
      .join('\n'),
  )
  return {root, count: kept.length, dropped: paras.length - kept.length}
}

async function generateBench(dir: string): Promise<void> {
  let root = process.env.REPRO_BENCH_ROOT
  let what: string
  if (root) what = `root ${root}`
  else {
    const h = await hostRoot(dir)
    root = h.root
    what = `this machine's packages still in its apt lists (${h.count} of ${h.count + h.dropped}; ${h.dropped} upgraded since)`
  }
  const times: number[] = []
  let count = 0
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint()
    const r = await generateHashes({root, distro: 'debian', packages: [], exec: realExec, logger: silentLogger})
    times.push(ms(t0))
    count = r.entries.length
  }
  const best = Math.min(...times)
  const median = times.sort((a, b) => a - b)[2]
  const names = execFileSync(
    'dpkg-query',
    ['--admindir', path.join(root, 'var/lib/dpkg'), '-W', '-f', '${Package}=${Version}\\n'],
    {encoding: 'utf8'},
  )
    .trim()
    .split('\n')
  const t1 = process.hrtime.bigint()
  execFileSync('dpkg-query', ['--admindir', path.join(root, 'var/lib/dpkg'), '-W'], {stdio: 'ignore'})
  const dq = ms(t1)
  const t2 = process.hrtime.bigint()
  execFileSync('apt-cache', ['show', ...names], {stdio: 'ignore', maxBuffer: 1 << 30})
  const ac = ms(t2)
  // the whole CLI: the build (bin/run.js over dist/) when there is one, else the sources through tsx
  const built = existsSync(path.join(import.meta.dirname, '../dist/commands/hash/generate.js'))
  const cliArgv = built
    ? [path.join(import.meta.dirname, '../bin/run.js')]
    : ['--import', 'tsx', '--no-warnings', path.join(import.meta.dirname, '../bin/dev.js')]
  const t3 = process.hrtime.bigint()
  execFileSync(process.execPath, [...cliArgv, 'hash', 'generate', '--root', root, '--distro', 'debian'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const cli = ms(t3)
  const t4 = process.hrtime.bigint()
  execFileSync(process.execPath, [...cliArgv, '--version'], {stdio: 'ignore'})
  const startup = ms(t4)
  console.log(`hash generate: ${what}`)
  console.log(
    `  ${count} entries: best ${best.toFixed(0)} ms, median ${median.toFixed(0)} ms in-process (goal < 1000 ms); whole CLI (${built ? 'built' : 'from source via tsx'}) ${cli.toFixed(0)} ms, of which ${startup.toFixed(0)} ms is its startup (--version)`,
  )
  console.log(
    `  peers: dpkg-query -W ${dq.toFixed(0)} ms (names and versions only, no hashes); apt-cache show of the same ${names.length} package=version pairs ${ac.toFixed(0)} ms (repro-get's way)`,
  )
  console.log(`  ratio repro/dpkg-query: ${(best / dq).toFixed(1)}x, apt-cache/repro: ${(ac / best).toFixed(1)}x`)
}

const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-pkg-'))
try {
  await downloadBench(dir)
  await generateBench(dir)
} finally {
  await rm(dir, {recursive: true, force: true})
}
