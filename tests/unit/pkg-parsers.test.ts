import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseApkIndex} from '../../src/pkg/apk-meta.js'
import {indexPackages, parseDeb822, parseDpkgStatus} from '../../src/pkg/deb822.js'
import {lz4Decompress} from '../../src/pkg/decompress.js'
import {distroFromOsRelease, parseOsRelease} from '../../src/pkg/distro.js'
import {parsePackageFileName} from '../../src/pkg/filename.js'
import {archArchiveName, parsePacmanDesc} from '../../src/pkg/pacman-meta.js'
import {kojiName, parsePrimaryXml, parseRpmQa} from '../../src/pkg/rpm-meta.js'
import {readTar} from '../../src/pkg/tar-entries.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = 'b'.repeat(64)

describe('dpkg status', () => {
  const status = [
    'Package: hello',
    'Status: install ok installed',
    'Architecture: amd64',
    'Version: 2.10-3',
    'Description: hello',
    ' continued line',
    '',
    'Package: removed-one',
    'Status: deinstall ok config-files',
    'Architecture: amd64',
    'Version: 1.0',
    '',
    'Package: libc6',
    'Status: install ok installed',
    'Architecture: i386',
    'Version: 2.36-9+deb12u4',
    '',
    'Package: epochy',
    'Status: hold ok installed',
    'Architecture: all',
    'Version: 1:0.5-2',
    '',
  ].join('\n')

  it('keeps installed packages only, with epochs, sorted', () => {
    assert.deepEqual(
      parseDpkgStatus(status).map((p) => [p.package, p.version, p.architecture]),
      [
        ['epochy', '1:0.5-2', 'all'],
        ['hello', '2.10-3', 'amd64'],
        ['libc6', '2.36-9+deb12u4', 'i386'],
      ],
    )
  })

  it('joins continuation lines', () => {
    assert.equal(parseDeb822(status)[0].Description, 'hello\ncontinued line')
  })
})

describe('apt Packages', () => {
  const lists = [
    'Package: hello',
    'Version: 2.10-3',
    'Architecture: amd64',
    'Description: example',
    ' Package: not-a-field',
    'Filename: pool/main/h/hello/hello_2.10-3_amd64.deb',
    'Size: 53080',
    `SHA256: ${SHA_A.toUpperCase()}`,
    '',
    'Package: hello',
    'Version: 2.10-4',
    'Architecture: amd64',
    'Filename: pool/main/h/hello/hello_2.10-4_amd64.deb',
    `SHA256: ${SHA_B}`,
    '',
    'Package: other',
    'Version: 1',
    'Architecture: all',
    'Filename: pool/main/o/other/other_1_all.deb',
    `SHA256: ${SHA_B}`,
  ].join('\n')

  it('indexes every version by (package, version, architecture), lowercasing sha256', () => {
    const m = indexPackages(lists)
    assert.equal(m.size, 3)
    const hit = m.get('hello\u00002.10-3\u0000amd64')
    assert.equal(hit?.filename, 'pool/main/h/hello/hello_2.10-3_amd64.deb')
    assert.equal(hit?.sha256, SHA_A)
    assert.equal(hit?.size, 53080)
  })

  it('with a wanted set, skips the other names', () => {
    const m = indexPackages(Buffer.from(lists), undefined, new Set(['other']))
    assert.deepEqual(
      [...m.values()].map((p) => p.package),
      ['other'],
    )
  })

  it('finds a paragraph whose Package field is not first', () => {
    const m = indexPackages(
      `Version: 3\nPackage: late\nArchitecture: all\nFilename: pool/l/late_3_all.deb\nSHA256: ${SHA_A}\n`,
    )
    assert.equal(m.get('late\u00003\u0000all')?.filename, 'pool/l/late_3_all.deb')
  })
})

describe('LZ4 frames (apt stores its lists as .lz4)', () => {
  const fixture =
    'BCJNGGxAThsAAAAAAAAc6gMAAPApUGFja2FnZTogcGtnMApWZXJzaW9uOiAxLjAtMQpBcmNoaXRlY3R1cmU6IGFtZDY0CkZpbGVuYW0yALBvb2wvbWFpbi9wLz4AAQUAEV86ABFfLAD/AC5kZWIKU0hBMjU2OiBhYgIAKygKCqsAGDGrAB8xqwAdEDGrACExXzoAD6sAThgyqwAfMqsAHRAyqwAhMl86AA+rAE4YM6sAHzOrAB0QM6sAITNfOgAPqwBOGDSrAB80qwAdEDSrACE0XzoAD6sAThg1qwAfNasAHRA1qwAhNV86AA+rAE4YNqsAHzarAB0QNqsAITZfOgAPqwBOGDerAB83qwAdEDerACE3XzoAD6sAThg4qwAfOKsAHRA4qwAhOF86AA+rAE4YOasAHzmrAB0QOasAITlfOgAPqwBOGTGvBh8xsAYeIDEwrgAgMTAHBh8wsABRCrQGD7UGHwK2BgG3Bh8xsABRCbkGHzG6Bh4RMbsGEDG8BgA9AA8QAk8JvgYfMb8GHhExwAYQMcEGAD0AD7AATwnDBh8xxAYeETHFBhAxxgYAPQAPsABPCcgGHzHJBh4RMcoGEDHLBgA9AA+wAE8JzQYfMc4GHhExzwYQMdAGAD0AD7AATwnSBh8x0wYeETHUBhAx1QYAPQAPsABPCdcGHzHYBh4RMdkGEDHaBgA9AA+wAE8J3AYfMd0GHhEx3gYQMd8GAD0AD7AAThky4AYfMuAGHhEy4AYQMuAGAD0AD7AATwngBh8y4AYeETLgBhAy4AYAPQAPsABPCeAGHzLgBh4RMuAGEDLgBgA9AA+wAE8J4AYfMuAGHhEy4AYQMuAGAD0AD7AATwngBh8y4AYeETLgBhAy4AYAPQAPsABPCeAGHzLgBh4RMuAGEDLgBgA9AA+wAE8J4AYfMuAGHhEy4AYQMuAGAD0AD7AATwngBh8y4AYeETLgBhAy4AYAPQAPsABPCeAGHzLgBh4RMuAGEDLgBgA9AA+wAE8J4AYfMuAGHhEy4AYQMuAGAD0AD7AAThkz4AYfM+AGHhEz4AYQM+AGAD0AD7AATwngBh8z4AYeETPgBhAz4AYAPQAPsABPCeAGHzPgBh4RM+AGEDPgBgA9AA+wAE8J4AYfM+AGHhEz4AYQM+AGAD0AD7AATwngBh8z4AYeETPgBhAz4AYAPQAPsABPCeAGHzPgBh4RM+AGEDPgBgA9AA+wAE8J4AYfM+AGHhEz4AYQM+AGAD0AD7AATwngBh8z4AYeETPgBhAz4AYAPQAPsABPCeAGHzPgBh4RM+AGEDPgBgA9AA+wAE8J4AYfM+AGHhEz4AYQM+AGAD0AD7AAPVBiYWIKCgAAAAAFojjB'
  it('decompresses a frame with content size and back-references', () => {
    const expected = Array.from(
      {length: 40},
      (_, i) =>
        `Package: pkg${i}\nVersion: 1.${i}-1\nArchitecture: amd64\nFilename: pool/main/p/pkg${i}/pkg${i}_1.${i}-1_amd64.deb\nSHA256: ${'ab'.repeat(32)}\n\n`,
    ).join('')
    assert.equal(lz4Decompress(Buffer.from(fixture, 'base64')).toString('utf8'), expected)
  })
  it('decodes an uncompressed block and refuses garbage', () => {
    // frame: magic, FLG=0x40 (v1), BD=0x40, HC, block with the high bit set (stored), end mark
    const stored = Buffer.concat([
      Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0xc0]),
      Buffer.from([3, 0, 0, 0x80]),
      Buffer.from('abc'),
      Buffer.from([0, 0, 0, 0]),
    ])
    assert.equal(lz4Decompress(stored).toString(), 'abc')
    assert.throws(() => lz4Decompress(Buffer.from('not lz4 at all')), /not an LZ4 frame/)
    assert.throws(() => lz4Decompress(stored.subarray(0, 12)), /truncated/)
  })
})

describe('repodata primary.xml and rpm -qa', () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>hello</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="2.12.1" rel="2.fc40"/>
  <checksum type="sha256" pkgid="YES">${SHA_A}</checksum>
  <summary>Prints a familiar, friendly greeting &amp; more</summary>
  <location href="Packages/h/hello-2.12.1-2.fc40.x86_64.rpm"/>
  <format><rpm:sourcerpm>hello-2.12.1-2.fc40.src.rpm</rpm:sourcerpm></format>
</package>
<package type="rpm">
  <name>python3-libs</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="3.12.2" rel="1.fc40"/>
  <checksum type="sha256" pkgid="YES">${SHA_B}</checksum>
  <location href="Packages/p/python3-libs-3.12.2-1.fc40.x86_64.rpm"/>
  <format><rpm:sourcerpm>python3.12-3.12.2-1.fc40.src.rpm</rpm:sourcerpm></format>
</package>
</metadata>`

  it('reads name, EVR, checksum and location', () => {
    const p = parsePrimaryXml(xml)
    assert.equal(p.length, 2)
    assert.deepEqual(
      {name: p[1].name, epoch: p[1].epoch, version: p[1].version, release: p[1].release, checksum: p[1].checksum},
      {name: 'python3-libs', epoch: 1, version: '3.12.2', release: '1.fc40', checksum: SHA_B},
    )
  })

  it('names files in koji layout by their source package', () => {
    const p = parsePrimaryXml(xml)
    assert.equal(kojiName(p[0]), 'hello/2.12.1/2.fc40/x86_64/hello-2.12.1-2.fc40.x86_64.rpm')
    assert.equal(kojiName(p[1]), 'python3.12/3.12.2/1.fc40/x86_64/python3-libs-3.12.2-1.fc40.x86_64.rpm')
  })

  it('parses rpm -qa output and drops gpg-pubkey', () => {
    const q = parseRpmQa(
      'bash\t0\t5.2.26\t3.fc40\tx86_64\ngpg-pubkey\t0\ta15b79cc\t63d04c2c\t(none)\nperl-Foo\t4\t1.0\t1.fc40\tnoarch\n',
    )
    assert.deepEqual(
      q.map((p) => `${p.name}:${p.epoch}`),
      ['bash:0', 'perl-Foo:4'],
    )
    assert.throws(() => parseRpmQa('broken line\n'), /unexpected rpm -qa line/)
  })
})

describe('APKINDEX', () => {
  it('reads P/V/A/C/S per paragraph', () => {
    const idx = parseApkIndex(
      'C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\n\nC:Q1def=\nP:busybox\nV:1.36.1-r15\nA:x86_64\n\n',
    )
    assert.deepEqual(
      idx.map((r) => [r.package, r.version, r.checksum, r.size]),
      [
        ['musl', '1.2.4-r2', 'Q1abc=', 383152],
        ['busybox', '1.36.1-r15', 'Q1def=', undefined],
      ],
    )
  })
})

describe('pacman desc', () => {
  const desc = `%FILENAME%\nzstd-1.5.6-1-x86_64.pkg.tar.zst\n\n%NAME%\nzstd\n\n%VERSION%\n1.5.6-1\n\n%ARCH%\nx86_64\n\n%SHA256SUMSUM%\nwrong\n\n%SHA256SUM%\n${SHA_A.toUpperCase()}\n\n%DEPENDS%\nglibc\ngcc-libs\n`
  it('reads name, version, file name and sha256', () => {
    const d = parsePacmanDesc(desc)
    assert.deepEqual(d, {
      name: 'zstd',
      version: '1.5.6-1',
      arch: 'x86_64',
      filename: 'zstd-1.5.6-1-x86_64.pkg.tar.zst',
      sha256: SHA_A,
    })
    assert.equal(archArchiveName(d as never), 'z/zstd/zstd-1.5.6-1-x86_64.pkg.tar.zst')
  })
  it('returns undefined without a name', () => {
    assert.equal(parsePacmanDesc('%VERSION%\n1\n'), undefined)
  })
})

describe('os-release', () => {
  it('parses quoting and detects ID, then ID_LIKE in order', () => {
    const osr = parseOsRelease(
      'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\nPRETTY_NAME=\'x\'\n# comment\n',
    )
    assert.equal(osr.NAME, 'Linux Mint')
    assert.equal(distroFromOsRelease(osr), 'ubuntu')
    assert.equal(distroFromOsRelease(parseOsRelease('ID=rocky\nID_LIKE="rhel centos fedora"')), 'fedora')
    assert.equal(distroFromOsRelease(parseOsRelease('ID=debian\n')), 'debian')
    assert.equal(distroFromOsRelease(parseOsRelease('ID=archarm\nID_LIKE=arch')), 'arch')
    assert.equal(distroFromOsRelease(parseOsRelease('ID=gentoo\n')), undefined)
  })
})

describe('package file names', () => {
  it('per format', () => {
    assert.deepEqual(parsePackageFileName('pool/main/h/hello/hello_2.10-3_amd64.deb'), {
      format: 'deb',
      name: 'hello',
      version: '2.10-3',
      architecture: 'amd64',
      auxiliary: false,
    })
    assert.equal(parsePackageFileName('pool/x/libfoo_1%3a2.0-1_all.deb')?.version, '1:2.0-1')
    assert.deepEqual(parsePackageFileName('h/hello-2.12.1-2.fc40.x86_64.rpm'), {
      format: 'rpm',
      name: 'hello',
      version: '2.12.1',
      release: '2.fc40',
      architecture: 'x86_64',
      auxiliary: false,
    })
    assert.deepEqual(parsePackageFileName('v3.19/main/x86_64/py3-foo-bar-1.2.3-r0.apk'), {
      format: 'apk',
      name: 'py3-foo-bar',
      version: '1.2.3-r0',
      auxiliary: false,
    })
    const sig = parsePackageFileName('z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst.sig')
    assert.deepEqual(sig, {
      format: 'pacman',
      name: 'zstd',
      version: '1:1.5.6-1',
      architecture: 'x86_64',
      auxiliary: true,
    })
    assert.equal(parsePackageFileName('README.txt'), undefined)
  })
})

describe('tar reader', () => {
  it('reads ustar entries and GNU long names', () => {
    const header = (name: string, size: number, type = '0'): Buffer => {
      const h = Buffer.alloc(512)
      h.write(name.slice(0, 100), 0)
      h.write(size.toString(8).padStart(11, '0'), 124)
      h.write(type, 156)
      h.write('ustar\u000000', 257)
      return h
    }
    const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)])
    const long = `${'d'.repeat(120)}/desc`
    const tar = Buffer.concat([
      header('a/desc', 3),
      pad(Buffer.from('abc')),
      header('././@LongLink', long.length + 1, 'L'),
      pad(Buffer.from(`${long}\u0000`)),
      header('truncated', 2),
      pad(Buffer.from('xy')),
      Buffer.alloc(1024),
    ])
    const e = readTar(tar)
    assert.deepEqual(
      e.map((x) => [x.path, x.data.toString()]),
      [
        ['a/desc', 'abc'],
        [long, 'xy'],
      ],
    )
  })
})
