/**
 * push benchmark (issue #17): `repro push` against `skopeo copy` (the peer: containers/image, Go) for the
 * same kind of image, an OCI layout with one gzip layer of random bytes, to the test bed's registry, measured in
 * one run. Each tool gets its own layouts (different random bytes), so neither finds blobs the other
 * uploaded; the order alternates over two rounds and the best time of each counts.
 * Also checked: the digest each tool leaves in the registry (repro: the layout's manifest digest).
 * Goal: repro / skopeo <= 1.5 (measured: 0.87 at 256 MiB, 1.24 at 128 MiB where repro's ~0.5 s of Node and
 * oclif start-up weighs more; with a temp copy of each blob first it was 1.8-2.6).
 * Run: npm run build && node --import tsx bench/push.ts [--size-mib N]   (needs the test bed: registry + skopeo)
 */
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {closeSync, mkdirSync, openSync, writeFileSync, writeSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

import {RegistryClient} from '../src/image/registry/client.js'
import {ROOT} from '../tests/support/cli.js'
import {readTestbedState} from '../tests/support/testbed.js'

const sizeArg = process.argv.indexOf('--size-mib')
const MIB = sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 256

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

/**
 * An OCI layout directory with one gzip layer of `mib` MiB of random bytes (gzip, so that skopeo keeps the
 * layer as it is: given an uncompressed layer it compresses it and changes the digest); returns the manifest
 * digest.
 */
function writeLayout(dir: string, mib: number): string {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), {recursive: true})
  const tmp = path.join(dir, 'layer.tmp')
  const fd = openSync(tmp, 'w')
  const hash = createHash('sha256')
  const diff = createHash('sha256')
  let size = 0
  const parts: Buffer[] = []
  for (let i = 0; i < mib; i++) {
    const chunk = randomBytes(1 << 20)
    diff.update(chunk)
    parts.push(chunk)
  }
  const gz = gzipSync(Buffer.concat(parts), {level: 1})
  hash.update(gz)
  writeSync(fd, gz)
  size = gz.length
  closeSync(fd)
  const layerDigest = `sha256:${hash.digest('hex')}`
  const diffId = `sha256:${diff.digest('hex')}`
  execFileSync('mv', [tmp, path.join(dir, 'blobs', 'sha256', layerDigest.slice(7))])
  const config = Buffer.from(
    JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: [diffId], type: 'layers'}}),
  )
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length},
      layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size}],
    }),
  )
  for (const b of [config, manifest]) writeFileSync(path.join(dir, 'blobs', 'sha256', sha256(b).slice(7)), b)
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length},
      ],
    }),
  )
  return sha256(manifest)
}

function timed(argv: string[]): number {
  const t = performance.now()
  execFileSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {...process.env, DOCKER_CONFIG: tmpdir()},
  })
  return (performance.now() - t) / 1000
}

const registry = readTestbedState().registry.address
const client = new RegistryClient({registry})
const ns = `repro-test-17/bench-${randomBytes(3).toString('hex')}`
const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-push-'))
const pushed: Array<[string, string]> = []
try {
  const times: Record<'repro' | 'skopeo', number[]> = {repro: [], skopeo: []}
  const digests: Record<string, string[]> = {repro: [], skopeo: []}
  for (let round = 0; round < 2; round++) {
    const order = round === 0 ? (['repro', 'skopeo'] as const) : (['skopeo', 'repro'] as const)
    for (const tool of order) {
      const layout = path.join(dir, `${tool}-${round}`)
      const local = writeLayout(layout, MIB)
      const repo = `${ns}/${tool}-${round}`
      const ref = `${registry}/${repo}:1`
      const seconds =
        tool === 'repro'
          ? timed([process.execPath, path.join(ROOT, 'bin', 'run.js'), 'push', '-q', layout, ref])
          : timed(['skopeo', 'copy', '-q', '--dest-tls-verify=false', `oci:${layout}`, `docker://${ref}`])
      times[tool].push(seconds)
      const remote = (await client.repository(repo).resolve('1')).digest
      digests[tool].push(remote === local ? 'same as the layout' : `changed (${remote})`)
      pushed.push([repo, remote])
      await rm(layout, {recursive: true, force: true})
    }
  }
  const best = (xs: number[]): number => Math.min(...xs)
  const mbps = (s: number): string => ((MIB / s) | 0).toString()
  console.log(`push of a ${MIB} MiB single-layer OCI layout to ${registry} (best of 2, fresh repositories):`)
  console.log(
    `  repro push:  ${best(times.repro).toFixed(2)} s (${mbps(best(times.repro))} MiB/s), digest ${digests.repro[0]}`,
  )
  console.log(
    `  skopeo copy: ${best(times.skopeo).toFixed(2)} s (${mbps(best(times.skopeo))} MiB/s), digest ${digests.skopeo[0]}`,
  )
  const ratio = best(times.repro) / best(times.skopeo)
  console.log(`  ratio repro/skopeo: ${ratio.toFixed(2)} (goal <= 1.5)`)
} finally {
  for (const [repo, digest] of pushed)
    await client
      .repository(repo)
      .deleteManifest(digest)
      .catch(() => false)
  await rm(dir, {recursive: true, force: true})
}
