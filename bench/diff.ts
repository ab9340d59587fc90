/**
 * diff benchmarks (issue #5), one run, ratios measured in the same run:
 *  1. two 1 GiB images (4 gzip layers of 256 MiB) differing in one file: repro diff vs diffoci --semantic
 *     when the test bed has diffoci (goal <= 1/3), and vs the physical limit of a decompressing diff:
 *     `gzip -dc | tar -t` over every layer of both images
 *  2. identical images (separate copies): repro diff vs the same peers (goal <= 1/10): equal diff IDs mean
 *     no layer is decompressed
 *  3. peak RSS of repro diff (goal <= 200 MB whatever the image size)
 * Run: node --import tsx bench/diff.ts [--mib-per-layer N] [--keep]
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {createCipheriv, createHash} from 'node:crypto'
import {createWriteStream, existsSync, readdirSync, readFileSync} from 'node:fs'
import {cp, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {createGzip} from 'node:zlib'
import {tarHeader} from './lib/tar.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}
const MIB_PER_LAYER = Number(arg('--mib-per-layer') ?? 256)
const LAYERS = 4
const MIB = 1024 * 1024

/** 1 MiB file contents: half pseudo-random, half repetitive text (gzip gets about 2:1, like real binaries). */
function fileContent(layer: number, i: number, variant: number): Buffer {
  const b = Buffer.alloc(MIB)
  // deterministic noise per (layer, file): AES-CTR over zeros, keyed by the file's identity
  const key = createHash('sha256').update(`${layer}/${i}`).digest().subarray(0, 16)
  createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
    .update(Buffer.alloc(MIB / 2))
    .copy(b, 0)
  b.write(`layer ${layer} file ${i} `.repeat(40000).slice(0, MIB / 2), MIB / 2)
  if (variant) b[100] ^= variant
  return b
}

/** Write a gzip layer blob into `blobs`; returns digest, diff ID and size. */
async function writeLayer(
  blobs: string,
  layer: number,
  changed?: number,
): Promise<{digest: string; diffId: string; size: number}> {
  const tmp = path.join(blobs, `tmp-${layer}-${changed ?? 'x'}`)
  const diffHash = createHash('sha256')
  const blobHash = createHash('sha256')
  let size = 0
  const gz = createGzip({level: 1})
  const out = createWriteStream(tmp)
  gz.on('data', (c: Buffer) => {
    blobHash.update(c)
    size += c.length
  })
  gz.pipe(out)
  const write = async (b: Buffer): Promise<void> => {
    diffHash.update(b)
    if (!gz.write(b)) await new Promise<void>((r) => gz.once('drain', () => r()))
  }
  const files = MIB_PER_LAYER
  for (let i = 0; i < files; i++) {
    await write(tarHeader(`layer${layer}/file${String(i).padStart(4, '0')}.bin`, MIB))
    await write(fileContent(layer, i, changed === i ? 1 : 0))
  }
  await write(Buffer.alloc(1024))
  gz.end()
  await new Promise<void>((r) => out.on('close', () => r()))
  const digest = `sha256:${blobHash.digest('hex')}`
  execFileSync('mv', [tmp, path.join(blobs, digest.slice(7))])
  return {digest, diffId: `sha256:${diffHash.digest('hex')}`, size}
}

async function writeImage(dir: string, layers: Array<{digest: string; diffId: string; size: number}>): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256')
  const put = async (b: Buffer): Promise<{digest: string; size: number}> => {
    const digest = `sha256:${createHash('sha256').update(b).digest('hex')}`
    await writeFile(path.join(blobs, digest.slice(7)), b)
    return {digest, size: b.length}
  }
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        created: '1970-01-01T00:00:00Z',
        os: 'linux',
        rootfs: {diff_ids: layers.map((l) => l.diffId), type: 'layers'},
      }),
    ),
  )
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        config: {...config, mediaType: 'application/vnd.oci.image.config.v1+json'},
        layers: layers.map((l) => ({
          digest: l.digest,
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          size: l.size,
        })),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        schemaVersion: 2,
      }),
    ),
  )
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      manifests: [{...manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json'}],
      mediaType: 'application/vnd.oci.image.index.v1+json',
      schemaVersion: 2,
    }),
  )
  await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
}

interface Measured {
  seconds: number
  maxRssMb: number
  code: number | null
  stdout: string
}

function timed(argv: string[], env: Record<string, string> = {}): Measured {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {...process.env, ...env},
    maxBuffer: 64 * MIB,
  })
  const last = r.stderr.trim().split('\n').pop() ?? ''
  const [s, kb] = last.split(' ').map(Number)
  return {seconds: s, maxRssMb: kb / 1024, code: r.status, stdout: r.stdout}
}

/** The built CLI when there is one (what users run), else the sources through bin/dev.js. */
function reproArgv(): string[] {
  if (existsSync(path.join(ROOT, 'dist', 'commands', 'diff.js')))
    return [process.execPath, path.join(ROOT, 'bin', 'run.js')]
  return [path.join(ROOT, 'bin', 'dev.js')]
}

function findDiffoci(): string | undefined {
  try {
    const state = JSON.parse(readFileSync('/var/lib/repro-testbed/state.json', 'utf8'))
    const p = state?.tools?.diffoci?.path
    if (p && existsSync(p)) return p
  } catch {
    // no test bed state
  }
  const base = '/var/cache/repro-testbed/bin/diffoci'
  if (existsSync(base))
    for (const v of readdirSync(base))
      if (existsSync(path.join(base, v, 'diffoci'))) return path.join(base, v, 'diffoci')
  return undefined
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-diff-'))
  try {
    const a = path.join(dir, 'a')
    const a2 = path.join(dir, 'a-copy')
    const b = path.join(dir, 'b')
    for (const d of [a, b]) await mkdir(path.join(d, 'blobs', 'sha256'), {recursive: true})
    const t0 = Date.now()
    const layersA = []
    for (let l = 0; l < LAYERS; l++) layersA.push(await writeLayer(path.join(a, 'blobs', 'sha256'), l))
    await writeImage(a, layersA)
    // B: the same lower layers (copied), the last layer with one changed byte in one file
    for (const l of layersA.slice(0, -1))
      await cp(path.join(a, 'blobs', 'sha256', l.digest.slice(7)), path.join(b, 'blobs', 'sha256', l.digest.slice(7)))
    const changed = await writeLayer(path.join(b, 'blobs', 'sha256'), LAYERS - 1, Math.min(100, MIB_PER_LAYER - 1))
    await writeImage(b, [...layersA.slice(0, -1), changed])
    await cp(a, a2, {recursive: true})
    const compressed = layersA.reduce((s, l) => s + l.size, 0)
    console.log(
      `images: ${LAYERS} layers x ${MIB_PER_LAYER} MiB = ${(LAYERS * MIB_PER_LAYER) / 1024} GiB uncompressed, ${(compressed / MIB).toFixed(0)} MiB gzip each (generated in ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    )

    const repro = reproArgv()
    const run = (x: string, y: string, extra: string[] = []): Measured =>
      timed([...repro, 'diff', x, y, '--json', ...extra])
    // warm the page cache and tsx's cache once, untimed
    run(a, a2)
    spawnSync('cat', [...readdirSync(path.join(b, 'blobs', 'sha256')).map((f) => path.join(b, 'blobs', 'sha256', f))], {
      stdio: 'ignore',
    })

    const one = run(a, b, ['--semantic'])
    const oneJson = JSON.parse(one.stdout)
    const same = run(a, a2, ['--semantic'])
    const sameJson = JSON.parse(same.stdout)
    if (one.code !== 1 || oneJson.summary.differences < 1)
      throw new Error(`expected a difference: ${one.stdout.slice(0, 400)}`)
    if (same.code !== 0) throw new Error(`expected no difference: ${same.stdout.slice(0, 400)}`)
    const found = oneJson.differences.map((e: {path: string; field: string}) => `${e.path} ${e.field}`).join(', ')

    // physical limits measured now: every layer of both images decompressed and listed, and read+hashed
    const layerFiles = (d: string, ls: Array<{digest: string}>): string[] =>
      ls.map((l) => path.join(d, 'blobs', 'sha256', l.digest.slice(7)))
    const allLayers = [...layerFiles(a, layersA), ...layerFiles(b, [...layersA.slice(0, -1), changed])]
    const script = allLayers.map((f) => `gzip -dc '${f}' | tar -t >/dev/null`).join(' && ')
    const decompressAll = timed(['bash', '-c', script])
    const sha = timed(['sha256sum', ...allLayers])
    const identicalA2 = [...layerFiles(a, layersA), ...layerFiles(a2, layersA)]
    const decompressIdentical = timed([
      'bash',
      '-c',
      identicalA2.map((f) => `gzip -dc '${f}' | tar -t >/dev/null`).join(' && '),
    ])

    console.log(`\n1. one file differs (repro found: ${found})`)
    console.log(
      `   repro diff --semantic              ${one.seconds.toFixed(2)} s, peak RSS ${one.maxRssMb.toFixed(0)} MB`,
    )
    console.log(
      `   gzip -dc | tar -t, all 8 layers     ${decompressAll.seconds.toFixed(2)} s  -> ratio ${(one.seconds / decompressAll.seconds).toFixed(2)} (limit of a full decompressing diff)`,
    )
    console.log(
      `   sha256sum of all 8 layer blobs      ${sha.seconds.toFixed(2)} s  -> ratio ${(one.seconds / sha.seconds).toFixed(2)}`,
    )
    console.log(`\n2. identical images`)
    console.log(
      `   repro diff --semantic              ${same.seconds.toFixed(2)} s, peak RSS ${same.maxRssMb.toFixed(0)} MB (layers skipped: ${sameJson.summary.layersSkipped})`,
    )
    console.log(
      `   gzip -dc | tar -t, all 8 layers     ${decompressIdentical.seconds.toFixed(2)} s  -> ratio ${(same.seconds / decompressIdentical.seconds).toFixed(3)}`,
    )
    console.log(
      `   sha256sum of all 8 layer blobs      ${sha.seconds.toFixed(2)} s  -> ratio ${(same.seconds / sha.seconds).toFixed(3)}`,
    )

    const diffoci = findDiffoci()
    if (diffoci) {
      // diffoci reads images from a store (it cannot read tarballs or layouts, its #35): load both into
      // dockerd. Its registry pull speaks only https, and the test bed's registry is plain http.
      const load = (d: string, tag: string): void =>
        void execFileSync('skopeo', ['copy', `oci:${d}`, `docker-daemon:repro-bench-diff:${tag}`], {stdio: 'ignore'})
      load(a, 'a')
      load(b, 'b')
      load(a2, 'a2')
      // the 28.x docker client makes diffoci ask dockerd 20.10 for an API it lacks: use Debian's client
      const docci = (x: string, y: string): Measured => {
        const m = timed(
          [diffoci, 'diff', '--semantic', `docker://repro-bench-diff:${x}`, `docker://repro-bench-diff:${y}`],
          {
            DOCKER: '/usr/bin/docker',
          },
        )
        if (m.code !== 0 && m.code !== 1) throw new Error(`diffoci failed (exit ${m.code}) comparing ${x} and ${y}`)
        return m
      }
      docci('a', 'b') // warm-up: diffoci imports the images into its store
      const dOne = docci('a', 'b')
      const dSame = docci('a', 'a2')
      if (dOne.code !== 1) throw new Error('diffoci found no difference between a and b: the comparison is void')
      if (dSame.code !== 0)
        throw new Error('diffoci found differences between identical images: the comparison is void')
      console.log(`\n3. diffoci (${diffoci}), images loaded into dockerd beforehand`)
      console.log(
        `   one file differs: diffoci ${dOne.seconds.toFixed(2)} s (RSS ${dOne.maxRssMb.toFixed(0)} MB), repro/diffoci = ${(one.seconds / dOne.seconds).toFixed(2)} (goal <= 0.33)`,
      )
      console.log(
        `   identical:        diffoci ${dSame.seconds.toFixed(2)} s, repro/diffoci = ${(same.seconds / dSame.seconds).toFixed(3)} (goal <= 0.10)`,
      )
    } else {
      console.log(
        '\n3. diffoci: not found (test bed state has no tools.diffoci): ratios above are against physical limits',
      )
    }
    console.log(`\npeak RSS: ${Math.max(one.maxRssMb, same.maxRssMb).toFixed(0)} MB (goal <= 200 MB)`)
  } finally {
    if (!process.argv.includes('--keep')) await rm(dir, {force: true, recursive: true})
    else console.log(`kept ${dir}`)
  }
}

await main()
