/**
 * analyze benchmarks (issue #2), ratios measured in one run:
 *  1. analyze without --verify on a 2 GiB archive vs a 1 MiB one: time must not grow with layer size
 *     (goal: < 0.2 s for 2 GiB, RSS < 100 MB).
 *  2. analyze --verify throughput vs `openssl dgst -sha256` over the same file (goal: >= 0.7x).
 *  3. analyze of a gzip-compressed archive (one streaming pass through the one tar parser) vs
 *     `gzip -dc` of the same file to /dev/null (goal: <= 1.5x; RSS < 150 MB: layers are not kept).
 * Run: npm run build && node --import tsx bench/analyze.ts  [--size-mib N] [--gz-mib N] [--root DIR]
 * (--root: measure the dist/ of another checkout, for before/after numbers)
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, openSync, writeSync} from 'node:fs'
import {mkdtemp, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {ROOT} from '../tests/support/cli.js'
import {tarHeader, tarPad as pad} from './lib/tar.js'

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}
const BIG_MIB = Number(arg('--size-mib') ?? 2048)
const GZ_MIB = Number(arg('--gz-mib') ?? 256)
const DIST = path.join(path.resolve(arg('--root') ?? ROOT), 'dist')

/**
 * A BuildKit-docker-exporter-shaped archive with one uncompressed layer of `mib` MiB of pseudo-random
 * bytes (so nothing compresses and nothing is special-cased), written straight to disk.
 */
function writeArchive(file: string, mib: number): void {
  // the layer: a tar holding one file
  const fileBytes = mib * 1024 * 1024 - 2048
  const layerHash = createHash('sha256')
  const chunk = Buffer.alloc(1024 * 1024)
  let seed = 1
  for (let i = 0; i < chunk.length; i += 4) {
    seed = (seed * 1103515245 + 12345) >>> 0
    chunk.writeUInt32LE(seed, i)
  }
  const layerHead = tarHeader('data.bin', fileBytes)
  const layerSize = 512 + fileBytes + pad(fileBytes).length + 1024
  // first pass: the layer digest (same bytes as written below)
  layerHash.update(layerHead)
  let left = fileBytes
  while (left > 0) {
    const n = Math.min(left, chunk.length)
    layerHash.update(chunk.subarray(0, n))
    left -= n
  }
  layerHash.update(pad(fileBytes))
  layerHash.update(Buffer.alloc(1024))
  const layerDigest = `sha256:${layerHash.digest('hex')}`
  const config = Buffer.from(
    JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: [layerDigest], type: 'layers'}}),
  )
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`
  const manifest = Buffer.from(
    JSON.stringify({
      config: {digest: configDigest, mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length},
      layers: [{digest: layerDigest, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: layerSize}],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
    }),
  )
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`
  const index = Buffer.from(
    JSON.stringify({
      manifests: [
        {digest: manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length},
      ],
      mediaType: 'application/vnd.oci.image.index.v1+json',
      schemaVersion: 2,
    }),
  )
  const fd = openSync(file, 'w')
  const entry = (name: string, data: Buffer): void => {
    writeSync(fd, tarHeader(name, data.length))
    writeSync(fd, data)
    writeSync(fd, pad(data.length))
  }
  entry('blobs/sha256/' + configDigest.slice(7), config)
  entry('blobs/sha256/' + manifestDigest.slice(7), manifest)
  writeSync(fd, tarHeader('blobs/sha256/' + layerDigest.slice(7), layerSize))
  writeSync(fd, layerHead)
  left = fileBytes
  while (left > 0) {
    const n = Math.min(left, chunk.length)
    writeSync(fd, chunk, 0, n)
    left -= n
  }
  writeSync(fd, pad(fileBytes))
  writeSync(fd, Buffer.alloc(1024))
  writeSync(fd, pad(layerSize))
  entry('index.json', index)
  entry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'))
  writeSync(fd, Buffer.alloc(1024))
  closeSync(fd)
}

interface Measured {
  maxRssMb: number
  ms: number
}

/** Analyze in a fresh Node process (built dist/), returning in-process time and peak RSS. */
function measure(file: string, verify: boolean): Measured {
  const script = `
    const {analyzeImage} = await import(${JSON.stringify(path.join(DIST, 'image/analyze.js'))});
    const t = performance.now();
    const r = await analyzeImage(${JSON.stringify(file)}, {verify: ${verify}});
    const ms = performance.now() - t;
    if (${verify} && !r.verification.ok) throw new Error('verification failed');
    console.log(JSON.stringify({ms, maxRssMb: process.resourceUsage().maxRSS / 1024}));`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'})
  return JSON.parse(out) as Measured
}

function opensslSeconds(file: string): number {
  const t = performance.now()
  const r = spawnSync('openssl', ['dgst', '-sha256', file], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
  return (performance.now() - t) / 1000
}

function gunzipSeconds(file: string): number {
  const t = performance.now()
  const r = spawnSync('gzip', ['-dc', file], {stdio: ['ignore', 'ignore', 'pipe']})
  if (r.status !== 0) throw new Error(`gzip -dc failed: ${r.stderr}`)
  return (performance.now() - t) / 1000
}

const best = <T>(runs: T[], key: (t: T) => number): T => runs.reduce((a, b) => (key(b) < key(a) ? b : a))

const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-analyze-'))
try {
  const small = path.join(dir, 'small.tar')
  const big = path.join(dir, 'big.tar')
  writeArchive(small, 1)
  process.stderr.write(`writing a ${BIG_MIB} MiB archive...\n`)
  writeArchive(big, BIG_MIB)
  const bigBytes = (await stat(big)).size

  const smallRun = best(
    [1, 2, 3].map(() => measure(small, false)),
    (m) => m.ms,
  )
  const bigRun = best(
    [1, 2, 3].map(() => measure(big, false)),
    (m) => m.ms,
  )
  console.log(
    `analyze (headers only): 1 MiB archive ${smallRun.ms.toFixed(1)} ms, ${(bigBytes / 2 ** 30).toFixed(2)} GiB archive ${bigRun.ms.toFixed(1)} ms`,
  )
  console.log(`  ratio big/small: ${(bigRun.ms / smallRun.ms).toFixed(2)}x (1.0 = independent of layer size)`)
  console.log(
    `  goal < 200 ms for 2 GiB: ${bigRun.ms < 200 ? 'met' : 'NOT met'}; peak RSS ${bigRun.maxRssMb.toFixed(0)} MB (goal < 100 MB: ${bigRun.maxRssMb < 100 ? 'met' : 'NOT met'})`,
  )

  opensslSeconds(big) // warm the page cache for both contenders
  const openssl = Math.min(opensslSeconds(big), opensslSeconds(big))
  const verifyRun = best(
    [1, 2].map(() => measure(big, true)),
    (m) => m.ms,
  )
  const ourMBs = bigBytes / 1e6 / (verifyRun.ms / 1000)
  const opensslMBs = bigBytes / 1e6 / openssl
  console.log(`analyze --verify: ${ourMBs.toFixed(0)} MB/s; openssl dgst -sha256: ${opensslMBs.toFixed(0)} MB/s`)
  console.log(
    `  ratio: ${(ourMBs / opensslMBs).toFixed(2)}x of openssl (goal >= 0.7x: ${ourMBs / opensslMBs >= 0.7 ? 'met' : 'NOT met'}); peak RSS ${verifyRun.maxRssMb.toFixed(0)} MB`,
  )

  const gzTar = path.join(dir, 'gz.tar')
  writeArchive(gzTar, GZ_MIB)
  execFileSync('gzip', ['-1', gzTar]) // writes gz.tar.gz
  const gz = `${gzTar}.gz`
  gunzipSeconds(gz)
  const gunzip = Math.min(gunzipSeconds(gz), gunzipSeconds(gz))
  const gzRun = best(
    [1, 2].map(() => measure(gz, false)),
    (m) => m.ms,
  )
  const gzRatio = gzRun.ms / 1000 / gunzip
  console.log(
    `analyze of a ${GZ_MIB} MiB archive, gzipped: ${gzRun.ms.toFixed(0)} ms; gzip -dc: ${(gunzip * 1000).toFixed(0)} ms`,
  )
  console.log(
    `  ratio: ${gzRatio.toFixed(2)}x of gzip -dc (goal <= 1.5x: ${gzRatio <= 1.5 ? 'met' : 'NOT met'}); peak RSS ${gzRun.maxRssMb.toFixed(0)} MB (goal < 150 MB: ${gzRun.maxRssMb < 150 ? 'met' : 'NOT met'})`,
  )
} finally {
  await rm(dir, {force: true, recursive: true})
}
