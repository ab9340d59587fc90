/** The SBOM core, pure: purls, content-derived ids, format names, hash-file pins, database parsing, both writers. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {sbomArtifactType} from '../../src/attest/index.js'
import {ReproError, SbomInputError} from '../../src/errors.js'
import type {HashEntry} from '../../src/pkg/hash-file.js'
import {toCycloneDx} from '../../src/sbom/cyclonedx.js'
import {formatFromFileName} from '../../src/sbom/index.js'
import {SBOM_LIMITS} from '../../src/sbom/limits.js'
import {contentUuid, imagePurl, type SbomModel} from '../../src/sbom/model.js'
import {type InstalledPackage, markPins, packageUrl, scanPackages} from '../../src/sbom/packages.js'
import {type ImageDatabases, isDatabaseFile} from '../../src/sbom/rootfs.js'
import {toSpdx} from '../../src/sbom/spdx.js'
import {cycloneDxProblems, spdxProblems} from '../support/sbom-schemas.js'

const debian = {id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)'}
const none = {id: null, versionId: null, prettyName: null}

const dbs = (files: Record<string, string>): ImageDatabases => ({
  files: Object.entries(files).map(([path, text]) => ({path, data: Buffer.from(text, 'latin1'), layer: 0})),
  skipped: [],
})

const entry = (name: string, sha = 'ab'.repeat(32), file = '/home/u/SHA256SUMS-amd64'): HashEntry => ({
  sha256: sha,
  name,
  basename: name.split('/').pop()!,
  cids: [],
  source: {file, line: 1},
})

function pkg(p: Partial<InstalledPackage> & Pick<InstalledPackage, 'name' | 'version'>): InstalledPackage {
  const base = {
    type: 'deb' as const,
    architecture: 'amd64',
    sourceName: null,
    sourceVersion: null,
    sha1: null,
    database: 'var/lib/dpkg/status',
    pin: null,
    ...p,
  }
  return {...base, purl: packageUrl(base, debian)}
}

describe('purls and ids', () => {
  it('package URLs: percent-encoded version (epoch, +), arch and distro qualifiers, per-type namespace', () => {
    assert.equal(
      packageUrl({type: 'deb', name: 'libc6', version: '1:2.36-9+deb12u4', architecture: 'amd64'}, debian),
      'pkg:deb/debian/libc6@1%3A2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12',
    )
    assert.equal(
      packageUrl({type: 'apk', name: 'musl', version: '1.2.4-r2', architecture: 'x86_64'}, none),
      'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64',
    )
    assert.equal(
      packageUrl({type: 'pacman', name: 'Zlib', version: '1:1.3-1', architecture: null}, {...none, id: 'arch'}),
      'pkg:alpm/arch/zlib@1%3A1.3-1',
    )
    assert.equal(
      packageUrl(
        {type: 'rpm', name: 'bash', version: '1:5.2.15-5.fc39', architecture: 'x86_64'},
        {...none, id: 'fedora', versionId: '39'},
      ),
      'pkg:rpm/fedora/bash@5.2.15-5.fc39?arch=x86_64&epoch=1&distro=fedora-39',
    )
    assert.equal(
      imagePurl('localhost:5000/team/app:1', `sha256:${'a'.repeat(64)}`, 'linux/arm64/v8'),
      `pkg:oci/app@sha256%3A${'a'.repeat(64)}?arch=arm64%2Fv8&os=linux&repository_url=localhost%3A5000%2Fteam%2Fapp`,
    )
  })

  it('content UUIDs: RFC 9562 version 8 layout, the same for the same content, another for other content', () => {
    const a = contentUuid('x')
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.equal(contentUuid('x'), a)
    assert.notEqual(contentUuid('y'), a)
  })

  it('format from the file name', () => {
    assert.equal(formatFromFileName('out/image.spdx.json'), 'spdx')
    assert.equal(formatFromFileName('image.SPDX'), 'spdx')
    assert.equal(formatFromFileName('bom.cdx.json'), 'cyclonedx')
    assert.equal(formatFromFileName('x.cyclonedx.json'), 'cyclonedx')
    assert.equal(formatFromFileName('sbom.json'), undefined)
  })
})

describe('package databases', () => {
  it('which paths are databases: dpkg status and status.d (not .md5sums), apk, pacman desc one level down, rpm; never . or ..', () => {
    const yes = [
      'var/lib/dpkg/status',
      'var/lib/dpkg/status.d/tzdata',
      'lib/apk/db/installed',
      'var/lib/pacman/local/zlib-1.3-1/desc',
      'var/lib/rpm/rpmdb.sqlite',
      'usr/lib/sysimage/rpm/Packages',
      'etc/os-release',
    ]
    const no = [
      'var/lib/dpkg/status-old',
      'var/lib/dpkg/status.d/tzdata.md5sums',
      'var/lib/pacman/local/a/b/desc',
      'var/lib/pacman/local/../desc',
      'var/lib/dpkg/./status',
      'var/lib/rpm/Name',
      'var/lib/pacman/sync/core.db',
    ]
    for (const p of yes) assert.equal(isDatabaseFile(p), true, p)
    for (const p of no) assert.equal(isDatabaseFile(p), false, p)
  })

  it('dpkg: installed paragraphs only, Source with its version, status and status.d deduplicated, sorted', () => {
    const scan = scanPackages(
      'img.tar',
      dbs({
        'etc/os-release': 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
        'var/lib/dpkg/status': [
          'Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\nSource: zlib (1:1.2.13.dfsg-1)\n',
          'Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n',
          'Package: libc6\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 2.36-9\nSource: glibc\n',
        ].join('\n'),
        'var/lib/dpkg/status.d/libc6': 'Package: libc6\nArchitecture: amd64\nVersion: 2.36-9\n',
        'var/lib/dpkg/status.d/base': 'Package: base-files\nArchitecture: amd64\nVersion: 12.4\n',
      }),
    )
    assert.deepEqual(
      scan.packages.map((p) => [p.name, p.version, p.sourceName, p.sourceVersion]),
      [
        ['base-files', '12.4', null, null],
        ['libc6', '2.36-9', 'glibc', null],
        ['zlib1g', '1:1.2.13.dfsg-1', 'zlib', '1:1.2.13.dfsg-1'],
      ],
    )
    assert.deepEqual(scan.os, debian)
    assert.match(scan.warnings.join('\n'), /1 package\(s\) not in the installed state/)
  })

  it('more packages than maxPackages is an E_SBOM_INPUT error naming the input, the file and the limit', () => {
    const text = Array.from({length: 11}, (_, i) => `Package: p${i}\nStatus: i ok installed\nVersion: 1\n`).join('\n')
    assert.throws(
      () => scanPackages('img.tar', dbs({'var/lib/dpkg/status': text}), {...SBOM_LIMITS, maxPackages: 10}),
      (e: unknown) =>
        e instanceof SbomInputError &&
        e.code === 'E_SBOM_INPUT' &&
        /^img\.tar: var\/lib\/dpkg\/status lists more than 10 packages \(limit maxPackages = 10\)/.test(e.message),
    )
  })

  it('warnings are capped at maxWarnings, the rest counted', () => {
    const text = Array.from(
      {length: 30},
      (_, i) => `Package: bad\u0007${i}\nStatus: i ok installed\nVersion: 1\n`,
    ).join('\n')
    const scan = scanPackages('img.tar', dbs({'var/lib/dpkg/status': text}), {...SBOM_LIMITS, maxWarnings: 5})
    assert.equal(scan.packages.length, 0)
    assert.equal(scan.warnings.length, 6)
    assert.equal(scan.warnings[5], '25 more warnings not listed')
  })

  it('rpm: what rpm -qa said becomes packages (epoch:version-release); what it could not read stays unsupported', () => {
    const files = dbs({
      'usr/lib/sysimage/rpm/rpmdb.sqlite': 'x',
      'var/lib/rpm/Packages': 'y',
    })
    const scan = scanPackages('img.tar', files, SBOM_LIMITS, [
      {
        database: 'usr/lib/sysimage/rpm/rpmdb.sqlite',
        packages: [
          {name: 'bash', epoch: 0, version: '5.2', release: '1.fc39', arch: 'x86_64'},
          {name: 'tz', epoch: 2, version: '1', release: '2', arch: 'noarch'},
        ],
      },
      {database: 'var/lib/rpm/Packages', problem: 'rpm cannot read it (exit 1: bad)'},
    ])
    assert.deepEqual(
      scan.packages.map((p) => `${p.type} ${p.name} ${p.version} ${p.architecture}`),
      ['rpm bash 5.2-1.fc39 x86_64', 'rpm tz 2:1-2 noarch'],
    )
    assert.deepEqual(scan.unsupported, [
      {type: 'rpm', path: 'var/lib/rpm/Packages', why: 'rpm cannot read it (exit 1: bad)'},
    ])
    const unused = markPins(scan.packages, [entry('Packages/t/tz-1-2.noarch.rpm', '77'.repeat(32))])
    assert.deepEqual(unused, [])
    assert.equal(scan.packages[1].pin?.sha256, '77'.repeat(32), 'rpm file names drop the epoch')
  })

  it('apk and pacman: fields, the apk C: SHA-1 decoded to hex, rpm reported as unsupported', () => {
    const scan = scanPackages(
      'img.tar',
      dbs({
        'lib/apk/db/installed': 'C:Q1lRBXvkTBUlQT6yK2G6BUj/2KMMQ=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n',
        'var/lib/pacman/local/zlib-1:1.3-1/desc':
          '%NAME%\nzlib\n\n%VERSION%\n1:1.3-1\n\n%BASE%\nzlib\n\n%ARCH%\nx86_64\n',
        'var/lib/rpm/rpmdb.sqlite': 'SQLite format 3\u0000',
      }),
    )
    const musl = scan.packages.find((p) => p.name === 'musl')!
    assert.equal(musl.sha1, Buffer.from('lRBXvkTBUlQT6yK2G6BUj/2KMMQ=', 'base64').toString('hex'))
    assert.equal(musl.sourceName, 'musl')
    const zlib = scan.packages.find((p) => p.name === 'zlib')!
    assert.deepEqual(
      [zlib.type, zlib.version, zlib.architecture, zlib.sourceName],
      ['pacman', '1:1.3-1', 'x86_64', 'zlib'],
    )
    assert.deepEqual(
      scan.unsupported.map((u) => u.path),
      ['var/lib/rpm/rpmdb.sqlite'],
    )
  })
})

describe('hash-file pins', () => {
  it('match by name, version (Debian file names drop the epoch) and architecture; .sig ignored; the rest returned', () => {
    const pkgs = [
      pkg({name: 'hello', version: '2.10-3'}),
      pkg({name: 'libc6', version: '1:2.36-9'}),
      pkg({name: 'tzdata', version: '2024a-0', architecture: 'all'}),
      pkg({name: 'arm', version: '1.0', architecture: 'arm64'}),
    ]
    const unused = markPins(pkgs, [
      entry('pool/main/h/hello/hello_2.10-3_amd64.deb', '11'.repeat(32)),
      entry('pool/main/g/glibc/libc6_2.36-9_amd64.deb', '22'.repeat(32)),
      entry('pool/main/t/tzdata/tzdata_2024a-0_all.deb', '33'.repeat(32)),
      entry('pool/main/a/arm/arm_1.0_amd64.deb', '44'.repeat(32)),
      entry('pool/main/h/hello/hello_2.10-3_amd64.deb.sig', '55'.repeat(32)),
      entry('README', '66'.repeat(32)),
    ])
    assert.deepEqual(
      pkgs.map((p) => p.pin?.sha256.slice(0, 2) ?? null),
      ['11', '22', '33', null],
      'arm64 arm is not pinned by an amd64 file',
    )
    assert.deepEqual(pkgs[0].pin, {
      sha256: '11'.repeat(32),
      hashFile: 'SHA256SUMS-amd64',
      archivePath: 'pool/main/h/hello/hello_2.10-3_amd64.deb',
    })
    assert.deepEqual(
      unused.map((e) => e.name),
      ['README', 'pool/main/a/arm/arm_1.0_amd64.deb'],
    )
  })
})

describe('the writers', () => {
  const model = (version = '2.10-3'): SbomModel => {
    const hello = pkg({name: 'hello', version, sourceName: 'hello'})
    hello.pin = {
      sha256: '11'.repeat(32),
      hashFile: 'SHA256SUMS',
      archivePath: 'pool/main/h/hello/hello_2.10-3_amd64.deb',
    }
    const all = pkg({name: 'tzdata', version: '2024a', architecture: 'all'})
    return {
      name: 'example.com/app:1',
      digest: `sha256:${'0'.repeat(64)}`,
      images: ['linux/amd64', 'linux/arm64'].map((platform, i) => ({
        platform,
        manifestDigest: `sha256:${String(i + 1).repeat(64)}`,
        configDigest: `sha256:${String(i + 3).repeat(64)}`,
        os: debian,
        packages: [hello, all],
      })),
      bases: [{ref: 'debian:bookworm', digest: `sha256:${'9'.repeat(64)}`, from: 'lock'}],
      unsupported: [],
      created: '2024-01-01T00:00:00Z',
      tool: {name: 'repro', version: '0.1.0'},
    }
  }

  it('SPDX 2.3: schema-valid, multi-platform, sorted, the same model gives the same bytes, another model another namespace', () => {
    const a = JSON.stringify(toSpdx(model()))
    assert.equal(JSON.stringify(toSpdx(model())), a)
    const doc = JSON.parse(a) as Record<string, unknown>
    assert.deepEqual(spdxProblems(doc), [])
    const rels = doc.relationships as Array<{spdxElementId: string; relationshipType: string}>
    assert.equal(rels.filter((r) => r.relationshipType === 'DESCRIBES').length, 2)
    assert.equal(rels.filter((r) => r.relationshipType === 'CONTAINS').length, 4)
    assert.equal(rels.filter((r) => r.relationshipType === 'DESCENDANT_OF').length, 2)
    const keys = rels.map((r) => `${r.spdxElementId} ${r.relationshipType}`)
    assert.deepEqual(keys, [...keys].sort())
    const other = toSpdx(model('2.10-4'))
    assert.notEqual(other.documentNamespace, doc.documentNamespace)
  })

  it('CycloneDX 1.6: schema-valid, one component per platform and package, the serial number from the content', () => {
    const a = toCycloneDx(model())
    assert.equal(toCycloneDx(model()), a)
    const doc = JSON.parse(a) as {serialNumber: string; components: Array<{type: string; 'bom-ref': string}>}
    assert.deepEqual(cycloneDxProblems(doc as unknown as Record<string, unknown>), [])
    assert.equal(doc.components.filter((c) => c.type === 'library').length, 4)
    assert.equal(doc.components.filter((c) => c.type === 'container').length, 3, 'two platform images and the base')
    assert.notEqual((JSON.parse(toCycloneDx(model('2.10-4'))) as {serialNumber: string}).serialNumber, doc.serialNumber)
  })
})

describe('push --attach: what an SBOM file is', () => {
  it('SPDX 2.x and CycloneDX JSON by their content; anything else is refused naming the file', () => {
    assert.equal(sbomArtifactType(Buffer.from('{"spdxVersion":"SPDX-2.3"}'), 'a.json'), 'application/spdx+json')
    assert.equal(sbomArtifactType(Buffer.from('{"bomFormat":"CycloneDX"}'), 'b.json'), 'application/vnd.cyclonedx+json')
    for (const bad of ['{"spdxVersion":"SPDX-3.0"}', '[]', 'null', '\u0000garbage', '{"bomFormat":1}'])
      assert.throws(
        () => sbomArtifactType(Buffer.from(bad), 'x.json'),
        (e: unknown) => e instanceof ReproError && e.code === 'E_ATTEST_INPUT' && e.message.startsWith('x.json: '),
        bad,
      )
  })
})
