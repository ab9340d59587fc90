/**
 * SBOMs on the test bed (tests/e2e/testbed): the Debian bookworm image in every form the test bed holds
 * (docker archive, OCI archive, OCI layout, the registry, docker://, podman://) and a hermetic build (`repro build
 * --hashfile --sbom`, as tests/e2e/hermetic.e2e.test.ts builds it): each SBOM byte-identical across two
 * runs, valid against the official SPDX 2.3 and CycloneDX 1.6 schemas, and listing exactly the packages
 * `dpkg-query -W` lists when run inside the image by docker and by podman. `verify --sbom --attest`: the
 * attestation carries the SBOM's digest.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {runCli} from '../support/cli.js'
import {buildImage, writeArchive} from '../support/image-fixtures.js'
import {cycloneDxProblems, spdxProblems} from '../support/sbom-schemas.js'
import {SchemaValidator} from '../support/schemas.js'
import {readTestbedState} from '../support/testbed.js'

const VERSION = 'v0.32.2'
const EPOCH = '1704067200'
const UNINSTALLABLE = ['sl']

interface State {
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
  buildkit: {versions: Record<string, {image?: {name: string}}>}
  registry: {address: string; ok: boolean}
  pkgRepos: {rpm: {repo: string}}
  images: {
    debian: {
      name: string
      ociLayout: string
      ociArchive: string
      dockerArchive: string
      registryRef: string
      manifestDigest: string
    }
  }
  debs: {
    dir: string
    sha256sums: string
    packages: Array<{name: string; version: string; architecture: string; sha256: string}>
  }
}

/** `dpkg-query -W` inside an image, with Architecture and the status: one "name arch version" line per installed package. */
function dpkgQuery(
  engine: 'docker' | 'podman',
  image: string,
  env: Record<string, string>,
): {installed: string[]; plain: string[]} {
  const name = `repro-sbom-e2e-${process.pid}-${engine}`
  const run = (fmt: string[]): string => {
    const r = spawnSync(
      engine,
      ['run', '--rm', '--name', name, '--network', 'none', '--entrypoint', 'dpkg-query', image, '-W', ...fmt],
      {encoding: 'utf8', env: {...process.env, ...env}, timeout: 120_000},
    )
    assert.equal(r.status, 0, `${engine} run ${image} dpkg-query: ${r.stderr}`)
    return r.stdout
  }
  const installed = run(['-f', '${Package} ${Architecture} ${Version} ${db:Status-Status}\\n'])
    .split('\n')
    .filter((l) => l.endsWith(' installed'))
    .map((l) => l.slice(0, -' installed'.length))
    .sort()
  const plain = run([]).split('\n').filter(Boolean).sort()
  return {installed, plain}
}

interface SbomPackages {
  /** "name arch version" per package */
  lines: string[]
  /** name → sha256 for pinned packages */
  pinned: Record<string, string>
}

function packagesOf(doc: Record<string, unknown>, format: string): SbomPackages {
  const lines: string[] = []
  const pinned: Record<string, string> = {}
  if (format === 'spdx') {
    for (const p of doc.packages as Array<{
      name: string
      versionInfo: string
      primaryPackagePurpose?: string
      checksums?: Array<{algorithm: string; checksumValue: string}>
      externalRefs: Array<{referenceLocator: string}>
    }>) {
      if (p.primaryPackagePurpose === 'CONTAINER') continue
      const arch = /[?&]arch=([^&]+)/.exec(p.externalRefs[0].referenceLocator)?.[1]
      lines.push(`${p.name} ${arch} ${p.versionInfo}`)
      const sha = p.checksums?.find((c) => c.algorithm === 'SHA256')
      if (sha) pinned[p.name] = sha.checksumValue
    }
  } else {
    for (const c of doc.components as Array<{
      type: string
      name: string
      version: string
      hashes?: Array<{alg: string; content: string}>
      properties?: Array<{name: string; value: string}>
    }>) {
      if (c.type !== 'library') continue
      const arch = c.properties?.find((p) => p.name === 'repro:package:architecture')?.value
      lines.push(`${c.name} ${arch} ${c.version}`)
      const sha = c.hashes?.find((h) => h.alg === 'SHA-256')
      if (sha) pinned[c.name] = sha.content
    }
  }
  return {lines: lines.sort(), pinned}
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

describe('SBOMs on the test bed', () => {
  let state: State
  let dir: string
  let env: Record<string, string>
  const loaded: string[] = []

  before(async () => {
    state = readTestbedState<State>()
    assert.ok(
      state.docker?.ok && state.podman?.ok,
      'test bed: docker and podman must be ok; run `npm run testbed -- up`',
    )
    dir = await mkdtemp(path.join(tmpdir(), 'repro-sbom-e2e-'))
    env = {DOCKER_HOST: state.docker.host}
  })

  after(async () => {
    for (const image of loaded) spawnSync('docker', ['rmi', '-f', image], {env: {...process.env, ...env}})
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  /** `repro sbom` twice: byte-identical, schema-valid; the document's packages. */
  async function twice(
    input: string,
    format: string,
    label: string,
  ): Promise<{doc: Record<string, unknown>; bytes: Buffer}> {
    const files = [1, 2].map((n) => path.join(dir, `${label}-${n}.${format}.json`))
    for (const f of files) {
      const r = await runCli(['sbom', input, '--format', format, '-o', f, '--json'], {env, timeoutMs: 5 * 60_000})
      assert.equal(r.code, 0, `repro sbom ${input}: ${r.stderr}`)
      assert.equal((JSON.parse(r.stdout) as {sha256: string}).sha256, sha256(await readFile(f)))
    }
    const [a, b] = await Promise.all(files.map((f) => readFile(f)))
    assert.ok(a.equals(b), `${label} ${format}: two runs differ`)
    const doc = JSON.parse(a.toString('utf8')) as Record<string, unknown>
    assert.deepEqual(
      format === 'spdx' ? spdxProblems(doc) : cycloneDxProblems(doc),
      [],
      `${label} ${format}: not schema-valid`,
    )
    return {doc, bytes: a}
  }

  it('the Debian image, from every form the test bed holds: the packages dpkg-query lists in docker and podman', async () => {
    const debian = state.images.debian
    const inDocker = dpkgQuery('docker', debian.name, env)
    const inPodman = dpkgQuery('podman', debian.name, env)
    assert.deepEqual(inPodman.installed, inDocker.installed, 'docker and podman run the same image')
    assert.ok(inDocker.installed.length > 50, `only ${inDocker.installed.length} packages in the Debian image?`)
    const inputs: Array<[string, string]> = [
      ['docker-archive', debian.dockerArchive],
      ['oci-archive', debian.ociArchive],
      ['oci-layout', debian.ociLayout],
      ['registry', debian.registryRef],
      ['docker', `docker://${debian.name}`],
      ['podman', `podman://${debian.name}`],
    ]
    for (const [label, input] of inputs) {
      for (const format of ['spdx', 'cyclonedx']) {
        const {doc} = await twice(input, format, label)
        const {lines} = packagesOf(doc, format)
        assert.deepEqual(lines, inDocker.installed, `${label} ${format}: the SBOM's packages are not dpkg-query's`)
        // plain `dpkg-query -W` prints "name[:arch]\tversion": the same count, the same names and versions
        assert.equal(
          lines.length,
          inDocker.plain.length,
          `${label} ${format}: dpkg-query -W lists ${inDocker.plain.length}`,
        )
        const plainPairs = inDocker.plain.map((l) => l.replace(/:[^\t]+\t/, '\t')).sort()
        assert.deepEqual(
          lines
            .map((l) => l.split(' '))
            .map(([n, , v]) => `${n}\t${v}`)
            .sort(),
          plainPairs,
        )
      }
    }
  })

  it('a hermetic build: --sbom byte-identical across two --no-cache builds, pins marked, the base by digest, equal to dpkg-query', async () => {
    const image = state.buildkit.versions[VERSION]?.image?.name
    assert.ok(image, `test bed: no BuildKit ${VERSION} image`)
    const debian = state.images.debian
    await mkdir(path.join(dir, 'install'), {recursive: true})
    const sums = (await readFile(state.debs.sha256sums, 'utf8'))
      .split('\n')
      .filter((l) => l && !UNINSTALLABLE.some((n) => l.includes(`/${n}_`)))
    await writeFile(path.join(dir, 'SHA256SUMS-amd64'), `${sums.join('\n')}\n`)
    const pkgs = state.debs.packages.filter((p) => !UNINSTALLABLE.includes(p.name))
    await writeFile(
      path.join(dir, 'install/Dockerfile'),
      'FROM base\nRUN --mount=from=repro-pkgs,target=/repro --network=none /repro/install\n',
    )
    const tag = `localhost/repro-sbom-e2e:${process.pid}`
    const build = async (n: number, format: string): Promise<Buffer> => {
      const sbom = path.join(dir, `hermetic-${n}.${format === 'spdx' ? 'spdx' : 'cdx'}.json`)
      const args = [
        'build',
        '--runtime',
        'docker',
        '--buildkit-image',
        image,
        '--sde',
        EPOCH,
        '--platform',
        'linux/amd64',
        '--provider',
        `file://${state.debs.dir}/{{.Name}}`,
        '--pkg-cache',
        path.join(dir, 'pkg-cache'),
        '--no-cache',
        '--hashfile',
        path.join(dir, 'SHA256SUMS-amd64'),
        '--build-context',
        `base=oci-layout://${debian.ociLayout}`,
        '-t',
        tag,
        '-o',
        path.join(dir, `hermetic-${n}.tar`),
        '--sbom',
        sbom,
        path.join(dir, 'install'),
      ]
      const r = await runCli(args, {cwd: dir, env, timeoutMs: 15 * 60_000})
      assert.equal(r.code, 0, `repro ${args.join(' ')}:\n${r.stderr.slice(-4000)}`)
      assert.match(r.stderr, /sbom: sha256:[0-9a-f]{64} {2}.*hermetic-\d\.(spdx|cdx)\.json/)
      return readFile(sbom)
    }
    const a = await build(1, 'spdx')
    const b = await build(2, 'spdx')
    assert.ok(a.equals(b), 'the SBOMs of two --no-cache builds differ')
    const doc = JSON.parse(a.toString('utf8')) as Record<string, unknown>
    assert.deepEqual(spdxProblems(doc), [])
    const c = await build(3, 'cyclonedx')
    const cdx = JSON.parse(c.toString('utf8')) as Record<string, unknown>
    assert.deepEqual(cycloneDxProblems(cdx), [])
    // the base: the test bed's Debian image, by its manifest digest
    const base = (doc.packages as Array<{name: string; versionInfo: string; comment: string}>).find((p) =>
      p.comment.startsWith('base image'),
    )
    assert.equal(base?.versionInfo, debian.manifestDigest)
    // every package of the hash file is marked pinned with its sha256; nothing else is
    for (const [label, d, format] of [
      ['spdx', doc, 'spdx'],
      ['cyclonedx', cdx, 'cyclonedx'],
    ] as const) {
      const {pinned, lines} = packagesOf(d, format)
      assert.deepEqual(pinned, Object.fromEntries(pkgs.map((p) => [p.name, p.sha256]).sort()), `${label}: pins`)
      // the image as docker runs it
      const load = spawnSync('docker', ['load', '-i', path.join(dir, 'hermetic-1.tar')], {
        encoding: 'utf8',
        env: {...process.env, ...env},
      })
      assert.equal(load.status, 0, load.stderr)
      loaded.push(tag)
      const q = dpkgQuery('docker', tag, env)
      assert.deepEqual(lines, q.installed, `${label}: the SBOM's packages are not dpkg-query's`)
      for (const p of pkgs)
        assert.ok(lines.includes(`${p.name} ${p.architecture} ${p.version}`), `${p.name} ${p.version}`)
    }
    // verify --sbom --attest: the SBOM of the rebuild is the build's, and the attestation names its digest
    const att = path.join(dir, 'verification.json')
    const vsbom = path.join(dir, 'verify.spdx.json')
    const v = await runCli(
      [
        'verify',
        '--runtime',
        'docker',
        '--buildkit-image',
        image,
        '--sde',
        EPOCH,
        '--platform',
        'linux/amd64',
        '--provider',
        `file://${state.debs.dir}/{{.Name}}`,
        '--pkg-cache',
        path.join(dir, 'pkg-cache'),
        '--hashfile',
        path.join(dir, 'SHA256SUMS-amd64'),
        '--build-context',
        `base=oci-layout://${debian.ociLayout}`,
        '-t',
        tag,
        '--times',
        '2',
        '--attest',
        att,
        '--sbom',
        vsbom,
        path.join(dir, 'install'),
      ],
      {cwd: dir, env, timeoutMs: 15 * 60_000},
    )
    assert.equal(v.code, 0, v.stderr.slice(-4000))
    const vbytes = await readFile(vsbom)
    assert.ok(vbytes.equals(a), "verify's SBOM of the rebuild differs from the build's")
    const statement = JSON.parse(await readFile(att, 'utf8')) as {predicate: {sbom?: unknown}}
    assert.deepEqual(statement.predicate.sbom, {
      name: 'verify.spdx.json',
      digest: {sha256: sha256(vbytes).slice(7)},
      mediaType: 'application/spdx+json',
    })
  })

  it('push --attach: the SBOM becomes an OCI referrer of the pushed image on the test bed registry', async () => {
    const debian = state.images.debian
    assert.ok(state.registry?.ok, 'test bed: the registry is not ok')
    const sbom = path.join(dir, 'push.spdx.json')
    const s = await runCli(['sbom', debian.ociArchive, '-o', sbom], {env})
    assert.equal(s.code, 0, s.stderr)
    const ref = `${state.registry.address}/repro-sbom-e2e-${process.pid}/debian:1`
    const r = await runCli(['push', debian.ociArchive, ref, '--attach', sbom, '--json'], {env, timeoutMs: 5 * 60_000})
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {
      digest: string
      attached: Array<{digest: string; artifactType: string; sbomDigest: string}>
    }
    new SchemaValidator().check('push', result)
    const bytes = await readFile(sbom)
    assert.equal(result.digest, debian.manifestDigest)
    assert.equal(result.attached[0].artifactType, 'application/spdx+json')
    assert.equal(result.attached[0].sbomDigest, sha256(bytes))
    // read back through the registry: the referrers (the fallback tag on Distribution 2.8), the manifest, the blob
    const base = `http://${state.registry.address}/v2/repro-sbom-e2e-${process.pid}/debian`
    const tagged = await fetch(`${base}/manifests/${debian.manifestDigest.replace(':', '-')}`, {
      headers: {accept: 'application/vnd.oci.image.index.v1+json'},
    })
    assert.equal(tagged.status, 200)
    const index = (await tagged.json()) as {manifests: Array<{digest: string; artifactType?: string}>}
    const entry = index.manifests.find((m) => m.digest === result.attached[0].digest)
    assert.equal(entry?.artifactType, 'application/spdx+json')
    const m = (await (
      await fetch(`${base}/manifests/${entry!.digest}`, {
        headers: {accept: 'application/vnd.oci.image.manifest.v1+json'},
      })
    ).json()) as {subject: {digest: string}; layers: Array<{digest: string; mediaType: string}>}
    assert.equal(m.subject.digest, debian.manifestDigest)
    assert.equal(m.layers[0].mediaType, 'application/spdx+json')
    const blob = Buffer.from(await (await fetch(`${base}/blobs/${m.layers[0].digest}`)).arrayBuffer())
    assert.ok(blob.equals(bytes), 'the attached SBOM is the file, byte for byte')
    // not an SBOM: refused before anything is pushed
    await writeFile(path.join(dir, 'not-sbom.json'), '{"a": 1}')
    const bad = await runCli(['push', debian.ociArchive, `${ref}-bad`, '--attach', path.join(dir, 'not-sbom.json')], {
      env,
    })
    assert.equal(bad.code, 2)
    assert.match(
      bad.stderr,
      /not-sbom\.json: neither SPDX 2\.x JSON \(spdxVersion\) nor CycloneDX JSON \(bomFormat\): not attached/,
    )
    assert.doesNotMatch(bad.stderr, /push: \d+ blobs uploaded/)
  })

  it('rpm: an rpmdb.sqlite written by the machine rpm, read through rpm: the packages rpm -qa lists, pins by file name', async () => {
    // the database: the test bed's .rpm files registered with rpm --justdb (rpm 4.18 writes sqlite)
    const rpms = ['repro-base-1.0-1.noarch.rpm', 'repro-app-2.1-3.noarch.rpm'].map((f) =>
      path.join(state.pkgRepos.rpm.repo, f),
    )
    const db = path.join(dir, 'rpmdb')
    const rpm = (args: string[]): string => {
      const r = spawnSync('rpm', ['--dbpath', db, ...args], {encoding: 'utf8'})
      assert.equal(r.status, 0, `rpm ${args.join(' ')}: ${r.stderr}`)
      return r.stdout
    }
    rpm(['--initdb'])
    rpm(['-i', '--justdb', '--nodeps', '--nosignature', '--ignorearch', '--ignoreos', ...rpms])
    const expected = rpm(['-qa', '--queryformat', '%{NAME} %{ARCH} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n'])
      .split('\n')
      .filter(Boolean)
      .sort()
    assert.equal(expected.length, 2)
    const img = await buildImage({
      layers: [
        [
          {path: 'etc/', type: 'dir'},
          {path: 'etc/os-release', content: 'ID=fedora\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39"\n'},
          {path: 'usr/', type: 'dir'},
          {path: 'usr/lib/', type: 'dir'},
          {path: 'usr/lib/sysimage/', type: 'dir'},
          {path: 'usr/lib/sysimage/rpm/', type: 'dir'},
          {path: 'usr/lib/sysimage/rpm/rpmdb.sqlite', content: await readFile(path.join(db, 'rpmdb.sqlite'))},
          {path: 'var/', type: 'dir'},
          {path: 'var/lib/', type: 'dir'},
          // as on Fedora: the old path is a link to the new one
          {path: 'var/lib/rpm', type: 'symlink', linkname: '../../usr/lib/sysimage/rpm'},
        ],
      ],
    })
    const archive = (await writeArchive('oci-archive', [img], path.join(dir, 'fedora.tar'))).path
    const sums = path.join(dir, 'SHA256SUMS-rpm')
    const appSha = createHash('sha256')
      .update(await readFile(rpms[1]))
      .digest('hex')
    await writeFile(sums, `${appSha}  repro-app-2.1-3.noarch.rpm\n`)
    const out = path.join(dir, 'fedora.cdx.json')
    const r = await runCli(['sbom', archive, '--hashfile', sums, '-o', out, '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as {unsupported: unknown[]}).unsupported, [])
    const doc = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>
    assert.deepEqual(cycloneDxProblems(doc), [])
    const {lines, pinned} = packagesOf(doc, 'cyclonedx')
    assert.deepEqual(lines, expected)
    assert.deepEqual(pinned, {'repro-app': appSha}, 'the file name drops the epoch: repro-app 1:2.1-3 is pinned')
    const purls = (doc.components as Array<{name: string; purl: string}>).map((c) => c.purl).sort()
    assert.ok(purls.includes('pkg:rpm/fedora/repro-app@2.1-3?arch=noarch&epoch=1&distro=fedora-39'), purls.join('\n'))
  })
})
