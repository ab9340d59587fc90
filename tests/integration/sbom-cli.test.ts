/**
 * `repro sbom` on real archives (written by tests/support/image-fixtures.ts with node-tar and zlib, not by
 * the reader under test): the merged file system view (whiteouts, opaque directories, a file replacing a
 * directory), every database format (dpkg status and status.d, apk, pacman; rpm reported), hash-file pins,
 * determinism (two runs, two archive formats of one image), and both documents valid against the official
 * schemas (SPDX 2.3 vendored, CycloneDX 1.6 from @cyclonedx/cyclonedx-library).
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {SbomInputError} from '../../src/errors.js'
import {readImageArchive} from '../../src/image/archive.js'
import {createSbom} from '../../src/sbom/index.js'
import {SBOM_LIMITS} from '../../src/sbom/limits.js'
import {runCli} from '../support/cli.js'
import {buildImage, type FileSpec, tempDir, writeArchive} from '../support/image-fixtures.js'
import {cycloneDxProblems, spdxProblems} from '../support/sbom-schemas.js'
import {SchemaValidator} from '../support/schemas.js'

let dir: string
const validator = new SchemaValidator()

before(async () => {
  dir = await tempDir('repro-sbom-')
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'

function stanza(name: string, version: string, arch = 'amd64', extra = ''): string {
  return `Package: ${name}\nStatus: install ok installed\nPriority: optional\nArchitecture: ${arch}\nVersion: ${version}\n${extra}Description: ${name}\n a package\n`
}

const file = (p: string, content: string): FileSpec => ({path: p, content})
const dirs = (...ps: string[]): FileSpec[] => ps.map((p) => ({path: `${p}/`, type: 'dir'}))

interface Listed {
  type: string
  name: string
  version: string
  arch: string | null
  sha256: string | null
}

/** The packages of a CycloneDX document, from its purls and properties (sorted). */
function cdxPackages(doc: Record<string, unknown>): Listed[] {
  const comps = (doc.components ?? []) as Array<{
    purl?: string
    name: string
    version: string
    type: string
    hashes?: Array<{alg: string; content: string}>
    properties?: Array<{name: string; value: string}>
  }>
  return comps
    .filter((c) => c.type === 'library')
    .map((c) => {
      const prop = (n: string): string | null => c.properties?.find((p) => p.name === n)?.value ?? null
      return {
        type: prop('repro:package:type')!,
        name: c.name,
        version: c.version,
        arch: prop('repro:package:architecture'),
        sha256: c.hashes?.find((h) => h.alg === 'SHA-256')?.content ?? null,
      }
    })
    .sort((a, b) => (`${a.type} ${a.name}` < `${b.type} ${b.name}` ? -1 : 1))
}

async function sbom(
  args: string[],
  code = 0,
): Promise<{doc: Record<string, unknown>; bytes: Buffer; result: Record<string, unknown>; stderr: string}> {
  const out = args[args.indexOf('-o') + 1]
  const r = await runCli(['sbom', ...args, '--json'])
  assert.equal(r.code, code, `repro sbom ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout.slice(0, 2000)}`)
  const result = JSON.parse(r.stdout) as Record<string, unknown>
  validator.check('sbom', result)
  const bytes = await readFile(out)
  const doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  assert.equal(result.sha256, `sha256:${createHash('sha256').update(bytes).digest('hex')}`, 'sha256 of the file')
  const problems = result.format === 'spdx' ? spdxProblems(doc) : cycloneDxProblems(doc)
  assert.deepEqual(problems, [], `${out} is not schema-valid`)
  return {doc, bytes, result, stderr: r.stderr}
}

describe('repro sbom: the merged view of the layers', () => {
  let archive: string
  let ociArchive: string
  let exporter: string
  before(async () => {
    const layer1: FileSpec[] = [
      ...dirs('etc', 'var', 'var/lib', 'var/lib/dpkg', 'lib', 'lib/apk', 'lib/apk/db', 'var/lib/pacman'),
      ...dirs('var/lib/pacman/local', 'var/lib/pacman/local/zlib-1.3-1', 'var/lib/pacman/local/gone-1-1'),
      file('etc/os-release', OS_RELEASE),
      file(
        'var/lib/dpkg/status',
        [
          stanza('libc6', '2.36-9+deb12u4', 'amd64', 'Source: glibc\nMulti-Arch: same\n'),
          stanza('base-files', '12.4+deb12u5'),
          stanza('removed-later', '1.0'),
        ].join('\n'),
      ),
      file('lib/apk/db/installed', 'P:musl\nV:1.2.4-r2\nA:x86_64\n\n'),
      file('var/lib/pacman/local/zlib-1.3-1/desc', '%NAME%\nzlib\n\n%VERSION%\n1:1.3-1\n\n%ARCH%\nx86_64\n'),
      file('var/lib/pacman/local/gone-1-1/desc', '%NAME%\ngone\n\n%VERSION%\n1-1\n'),
    ]
    const layer2: FileSpec[] = [
      // dpkg rewrote its status: removed-later is gone, hello came in (epoch in the version)
      file(
        'var/lib/dpkg/status',
        [
          stanza('libc6', '2.36-9+deb12u4', 'amd64', 'Source: glibc\nMulti-Arch: same\n'),
          stanza('base-files', '12.4+deb12u5'),
          stanza('hello', '1:2.10-3'),
          'Package: half\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n',
        ].join('\n'),
      ),
      // the apk database deleted by a whiteout, a pacman package by one, the other pacman dir made opaque
      file('lib/apk/.wh.db', ''),
      file('var/lib/pacman/local/.wh.gone-1-1', ''),
      // an rpm database: detected, not read
      ...dirs('usr', 'usr/lib', 'usr/lib/sysimage', 'usr/lib/sysimage/rpm'),
      file('usr/lib/sysimage/rpm/rpmdb.sqlite', 'SQLite format 3\u0000'),
      // a "desc" reached only through a ".." name is not where a container looks
      file('var/lib/pacman/local/../desc', '%NAME%\nsneaky\n\n%VERSION%\n1-1\n'),
    ]
    const layer3: FileSpec[] = [
      ...dirs('var/lib/dpkg/status.d'),
      // distroless style: one file per package, no Status field
      file('var/lib/dpkg/status.d/tzdata', 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n'),
      file('var/lib/dpkg/status.d/tzdata.md5sums', 'd41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n'),
      file('var/lib/pacman/local/zlib-1.3-1/.wh..wh..opq', ''),
      file('var/lib/pacman/local/zlib-1.3-1/files', '%FILES%\n'),
    ]
    const img = await buildImage({layers: [layer1, layer2, layer3], created: '2024-01-01T00:00:00Z'})
    archive = (await writeArchive('docker-exporter', [img], path.join(dir, 'img.tar'))).path
    ociArchive = (await writeArchive('oci-archive', [img], path.join(dir, 'img-oci.tar'))).path
    exporter = (await writeArchive('docker-exporter', [img], path.join(dir, 'img.tar.gz'), {gzip: true})).path
  })

  it('lists what a container of the image would see, in both formats, schema-valid', async () => {
    const {doc, result, stderr} = await sbom([archive, '-o', path.join(dir, 'a.cdx.json')])
    assert.equal(result.format, 'cyclonedx', 'the format comes from the .cdx.json extension')
    assert.deepEqual(
      cdxPackages(doc).map((p) => `${p.type} ${p.name} ${p.version} ${p.arch}`),
      [
        'deb base-files 12.4+deb12u5 amd64',
        'deb hello 1:2.10-3 amd64',
        'deb libc6 2.36-9+deb12u4 amd64',
        'deb tzdata 2024a-0+deb12u1 all',
      ],
      'apk deleted by a whiteout, pacman zlib by an opaque directory, gone by a whiteout, removed-later by the rewrite',
    )
    // a broken rpm database: the machine's rpm cannot read it, and says so (without rpm: it is not installed)
    const [u] = result.unsupported as Array<{type: string; path: string; why: string}>
    assert.deepEqual([u.type, u.path], ['rpm', 'usr/lib/sysimage/rpm/rpmdb.sqlite'])
    assert.match(
      u.why,
      /^(rpm cannot read it \(exit 1: .*usr\/lib\/sysimage\/rpm\)|rpm is not installed on this machine)/,
    )
    assert.ok(!u.why.includes('repro-sbom-rpm-'), 'the temp dir is not named')
    assert.match(stderr, /usr\/lib\/sysimage\/rpm\/rpmdb\.sqlite: rpm /)
    assert.match(stderr, /1 package\(s\) not in the installed state/)
    const purls = ((doc.components ?? []) as Array<{purl: string}>).map((c) => c.purl)
    assert.ok(purls.includes('pkg:deb/debian/hello@1%3A2.10-3?arch=amd64&distro=debian-12'), purls.join('\n'))
    assert.equal((doc.metadata as {timestamp: string}).timestamp, '2024-01-01T00:00:00.000Z')
    const spdx = await sbom([archive, '-o', path.join(dir, 'a.spdx.json')])
    assert.equal(spdx.result.format, 'spdx')
    const names = (spdx.doc.packages as Array<{name: string; primaryPackagePurpose?: string}>)
      .filter((p) => !p.primaryPackagePurpose)
      .map((p) => p.name)
      .sort()
    assert.deepEqual(names, ['base-files', 'hello', 'libc6', 'tzdata'])
    assert.equal((spdx.doc.creationInfo as {created: string}).created, '2024-01-01T00:00:00Z')
    const rels = spdx.doc.relationships as Array<{relationshipType: string}>
    assert.equal(rels.filter((r) => r.relationshipType === 'CONTAINS').length, 4)
  })

  it('is byte-identical across runs and for the plain and gzipped archive; an OCI archive differs only by the name', async () => {
    for (const fmt of ['spdx', 'cyclonedx']) {
      const a = await sbom([archive, '--format', fmt, '-o', path.join(dir, `r1.${fmt}`)])
      const b = await sbom([archive, '--format', fmt, '-o', path.join(dir, `r2.${fmt}`)])
      const c = await sbom([ociArchive, '--format', fmt, '-o', path.join(dir, `r3.${fmt}`)])
      const d = await sbom([exporter, '--format', fmt, '-o', path.join(dir, `r4.${fmt}`)])
      assert.ok(a.bytes.equals(b.bytes), `${fmt}: two runs differ`)
      // the oci archive names no tag: the name (packaging, not content) differs, the rest is the same
      const strip = (t: Buffer): string =>
        t
          .toString()
          .replaceAll('example.com/app:1', 'image')
          .replaceAll(/"(documentNamespace|serialNumber|bom-ref|purl|referenceLocator|ref|dependsOn)":[^\n]*/g, '')
      assert.equal(strip(a.bytes), strip(c.bytes), `${fmt}: docker exporter and oci archive of one image differ`)
      assert.ok(a.bytes.equals(d.bytes), `${fmt}: plain and gzipped archive differ`)
    }
  })

  it('marks the packages a hash file pins, with their sha256 and archive path', async () => {
    const sums = path.join(dir, 'SHA256SUMS-amd64')
    const h = 'ab'.repeat(32)
    const other = 'cd'.repeat(32)
    await writeFile(
      sums,
      `${h}  pool/main/h/hello/hello_2.10-3_amd64.deb\n${other}  pool/main/n/nothere/nothere_1.0_amd64.deb\n`,
    )
    const {doc, result} = await sbom([archive, '--hashfile', sums, '-o', path.join(dir, 'pinned.cdx.json')])
    const hello = cdxPackages(doc).find((p) => p.name === 'hello')!
    assert.equal(hello.sha256, h, 'Debian file names drop the epoch: 1:2.10-3 matches hello_2.10-3')
    assert.ok(
      cdxPackages(doc)
        .filter((p) => p.name !== 'hello')
        .every((p) => p.sha256 === null),
    )
    assert.deepEqual(result.unusedPins, ['pool/main/n/nothere/nothere_1.0_amd64.deb'])
    assert.equal((result.platforms as Array<{pinned: number}>)[0].pinned, 1)
    const comp = (doc.components as Array<{name: string; properties: Array<{name: string; value: string}>}>).find(
      (c) => c.name === 'hello',
    )!
    assert.ok(comp.properties.some((p) => p.name === 'repro:pinned:hash-file' && p.value === 'SHA256SUMS-amd64'))
    assert.ok(!JSON.stringify(doc).includes(dir), 'no host path in the document')
    const spdx = await sbom([archive, '--hashfile', sums, '-o', path.join(dir, 'pinned.spdx.json')])
    const pkg = (spdx.doc.packages as Array<{name: string; checksums?: unknown[]; comment?: string}>).find(
      (p) => p.name === 'hello',
    )!
    assert.deepEqual(pkg.checksums, [{algorithm: 'SHA256', checksumValue: h}])
    assert.match(pkg.comment!, /pinned by hash file SHA256SUMS-amd64: pool\/main\/h\/hello\/hello_2\.10-3_amd64\.deb/)
  })

  it('records base images from the manifest annotations, and apk/pacman images list their packages', async () => {
    const base = `sha256:${'e'.repeat(64)}`
    const img = await buildImage({
      layers: [
        [
          ...dirs('etc', 'lib', 'lib/apk', 'lib/apk/db'),
          file('etc/os-release', 'ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'),
          file(
            'lib/apk/db/installed',
            'C:Q1lRBXvkTBUlQT6yK2G6BUj/2KMMQ=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r15\nA:x86_64\n\n',
          ),
        ],
      ],
      manifestAnnotations: {
        'org.opencontainers.image.base.name': 'docker.io/library/alpine:3.19',
        'org.opencontainers.image.base.digest': base,
      },
    })
    const a = (await writeArchive('oci-archive', [img], path.join(dir, 'alpine.tar'))).path
    const {doc, result} = await sbom([a, '-o', path.join(dir, 'alpine.spdx.json')])
    assert.deepEqual(result.bases, [{ref: 'docker.io/library/alpine:3.19', digest: base, from: 'annotation'}])
    const pk = doc.packages as Array<{
      name: string
      checksums?: Array<{algorithm: string}>
      externalRefs: Array<{referenceLocator: string}>
    }>
    const musl = pk.find((p) => p.name === 'musl')!
    assert.equal(
      musl.externalRefs[0].referenceLocator,
      'pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1',
    )
    assert.deepEqual(
      musl.checksums?.map((c) => c.algorithm),
      ['SHA1'],
      "apk's C: field is a SHA-1",
    )
    const rels = doc.relationships as Array<{relationshipType: string; relatedSpdxElement: string}>
    const baseId = pk.find((p) => p.name === 'docker.io/library/alpine:3.19')
    assert.ok(baseId)
    assert.equal(rels.filter((r) => r.relationshipType === 'DESCENDANT_OF').length, 1)
  })

  it('without rpm on the machine the rpm database is reported as not read, and the rest is listed', async () => {
    const out = path.join(dir, 'no-rpm.spdx.json')
    const r = await runCli(['sbom', archive, '-o', out, '--json'], {env: {PATH: '/nonexistent'}})
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {unsupported: Array<{why: string}>; platforms: Array<{packages: number}>}
    assert.deepEqual(
      result.unsupported.map((u) => u.why),
      ['rpm is not installed on this machine: its packages are not listed'],
    )
    assert.equal(result.platforms[0].packages, 4)
  })

  it('all database files of the image over maxDatabaseBytes: E_SBOM_INPUT naming the input and the limit', async () => {
    const img = await readImageArchive(archive)
    try {
      await assert.rejects(
        createSbom({
          input: 'img.tar',
          archive: img,
          format: 'spdx',
          tool: {name: 'repro', version: '0'},
          limits: {...SBOM_LIMITS, maxDatabaseBytes: 300},
        }),
        (e: unknown) =>
          e instanceof SbomInputError &&
          /^img\.tar: the package database files of the image hold more than 300 bytes \(limit maxDatabaseBytes = 300 bytes\)/.test(
            e.message,
          ),
      )
    } finally {
      await img.source.close()
    }
  })

  it('bad input: one line naming the input, exit 2, nothing written', async () => {
    const out = path.join(dir, 'never.spdx.json')
    const bad = path.join(dir, 'not-an-image.tar')
    await writeFile(bad, 'hello')
    const r = await runCli(['sbom', bad, '-o', out])
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`${bad.replaceAll('/', '\\/').replaceAll('.', '\\.')}`))
    await assert.rejects(readFile(out), /ENOENT/)
    const j = await runCli(['sbom', archive, '--json'])
    assert.equal(j.code, 2)
    validator.check('error', JSON.parse(j.stdout))
    assert.match(j.stdout, /--json: give --output FILE/)
  })

  it('without --output prints the document itself on stdout', async () => {
    const r = await runCli(['sbom', archive])
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout) as Record<string, unknown>
    assert.deepEqual(spdxProblems(doc), [])
    assert.equal(r.stdout, (await readFile(path.join(dir, 'a.spdx.json'), 'utf8')).replace(/x/g, 'x'))
  })
})
