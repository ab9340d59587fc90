/**
 * The pure parts of the Debian signature chain: apt's list names, Release files, clear-signed structure, gpgv's
 * status lines, the chain file (with generated hostile documents), and bounded decompression of index files.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {ChainError} from '../../src/errors.js'
import {fakeExec, realExec} from '../../src/exec.js'
import {aptListName, decodeAptListName, indexPathParts, scanAptLists} from '../../src/pkg/debian/apt-lists.js'
import {
  CHAIN_FORMAT,
  type ChainFile,
  canonicalJson,
  formatChainFile,
  parseChainFile,
} from '../../src/pkg/debian/chain-file.js'
import {gpgvVerify, judgeGpgvStatus} from '../../src/pkg/debian/gpgv.js'
import {checkClearSigned, parseRelease, parseReleaseDate} from '../../src/pkg/debian/release.js'
import {decompressByName, lz4Decompress} from '../../src/pkg/decompress.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = 'b'.repeat(64)

describe("apt's list file names", () => {
  it('encodes as apt does and decodes back', () => {
    assert.equal(
      aptListName('deb.debian.org/debian/dists/bookworm/InRelease'),
      'deb.debian.org_debian_dists_bookworm_InRelease',
    )
    assert.equal(aptListName('host:8080/my_repo/dists/a b/InRelease'), 'host:8080_my%5frepo_dists_a%20b_InRelease')
    assert.equal(
      decodeAptListName('host:8080_my%5frepo_dists_a%20b_InRelease'),
      'host:8080/my_repo/dists/a b/InRelease',
    )
  })
  it('round-trips generated URIs (underscores, percent signs, spaces, non-ASCII)', () => {
    const alphabet = 'ab_/%~ .-:é'
    for (let n = 0; n < 500; n++) {
      const uri = Array.from({length: 1 + (n % 30)}, () => alphabet[randomBytes(1)[0] % alphabet.length]).join('')
      const name = aptListName(uri)
      assert.ok(!name.includes('/'), name)
      assert.equal(decodeAptListName(name), uri)
    }
  })
  it('pairs Packages lists with the release that covers them', () => {
    const names = [
      'deb.debian.org_debian_dists_bookworm_InRelease',
      'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4',
      'deb.debian.org_debian_dists_bookworm-updates_main_binary-all_Packages',
      'deb.debian.org_debian-security_dists_bookworm-security_Release',
      'deb.debian.org_debian-security_dists_bookworm-security_Release.gpg',
      'deb.debian.org_debian-security_dists_bookworm-security_updates_main_binary-arm64_Packages.gz',
      'local_repo_._Packages',
    ].sort()
    const lists = scanAptLists('/L', names)
    assert.deepEqual([...lists.releases.keys()].sort(), [
      'deb.debian.org/debian-security/dists/bookworm-security',
      'deb.debian.org/debian/dists/bookworm',
    ])
    const sec = lists.releases.get('deb.debian.org/debian-security/dists/bookworm-security')!
    assert.equal(sec.origin, 'deb.debian.org/debian-security')
    assert.equal(sec.suite, 'bookworm-security')
    assert.equal(sec.inRelease, undefined)
    assert.equal(sec.releaseGpg, '/L/deb.debian.org_debian-security_dists_bookworm-security_Release.gpg')
    const byName = Object.fromEntries(lists.packages.map((p) => [p.name, p]))
    const main = byName['deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4']
    assert.deepEqual(
      [main.base, main.path, main.component, main.architecture, main.compression],
      ['deb.debian.org/debian/dists/bookworm', 'main/binary-amd64/Packages', 'main', 'amd64', '.lz4'],
    )
    const upd = byName['deb.debian.org_debian-security_dists_bookworm-security_updates_main_binary-arm64_Packages.gz']
    assert.deepEqual([upd.component, upd.architecture], ['updates/main', 'arm64'])
    // no release file for bookworm-updates or the flat repository: the lists are kept, uncovered
    assert.equal(byName['deb.debian.org_debian_dists_bookworm-updates_main_binary-all_Packages'].base, undefined)
    assert.equal(byName['local_repo_._Packages'].base, undefined)
    assert.deepEqual(indexPathParts('Packages'), {component: '', architecture: ''})
  })
})

describe('Release files', () => {
  const release = [
    'Origin: Debian',
    'Suite: oldstable',
    'Codename: bookworm',
    'Date: Sat, 11 Jul 2026 10:16:37 UTC',
    'Valid-Until: Sat, 18 Jul 2026 10:16:37 +0200',
    'MD5Sum:',
    ' 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all',
    'SHA256:',
    ` ${SHA_A} 50060337 main/binary-amd64/Packages`,
    ` ${SHA_B.toUpperCase()}  8790396 main/binary-amd64/Packages.xz`,
    '',
  ].join('\n')
  it('reads suite, dates and the SHA256 list', () => {
    const r = parseRelease(release, 'R')
    assert.equal(r.codename, 'bookworm')
    assert.equal(r.date?.toISOString(), '2026-07-11T10:16:37.000Z')
    assert.equal(r.validUntil?.toISOString(), '2026-07-18T08:16:37.000Z')
    assert.deepEqual(r.sha256.get('main/binary-amd64/Packages'), {sha256: SHA_A, size: 50060337})
    assert.deepEqual(r.sha256.get('main/binary-amd64/Packages.xz'), {sha256: SHA_B, size: 8790396})
    assert.equal(r.sha256.size, 2)
  })
  it('dates are strict RFC 2822', () => {
    assert.equal(parseReleaseDate('Tue, 08 Dec 2026 19:40:00 UTC')?.toISOString(), '2026-12-08T19:40:00.000Z')
    assert.equal(parseReleaseDate('8 Dec 2026 19:40:00 GMT')?.toISOString(), '2026-12-08T19:40:00.000Z')
    for (const bad of [
      '2026',
      '2026-12-08T19:40:00Z',
      'Tue, 08 Dex 2026 19:40:00 UTC',
      'Tue, 32 Dec 2026 19:40:00 UTC',
      '',
    ])
      assert.equal(parseReleaseDate(bad), undefined, bad)
  })
  it('refuses malformed Release files, naming the file and the line', () => {
    assert.throws(
      () => parseRelease('Origin: x\n', 'F1'),
      (e: Error) => e instanceof ChainError && /^F1: .*no SHA256/.test(e.message),
    )
    assert.throws(
      () => parseRelease(release.replace('50060337', '5e7'), 'F2'),
      /^ChainError: F2: SHA256 line 1: expected/,
    )
    assert.throws(
      () => parseRelease(release.replace('Sat, 18 Jul', '18/07/'), 'F3'),
      /F3: Valid-Until: not an RFC 2822 date/,
    )
    assert.throws(() => parseRelease(`${release}\0`, 'F4'), /F4: not a Release file/)
  })
  it('accepts exactly one clear-signed message and nothing around it', () => {
    const msg =
      '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: x\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n'
    checkClearSigned(msg, 'ok')
    assert.throws(() => checkClearSigned(`Origin: evil\n${msg}`, 'I'), /^ChainError: I: not a clear-signed InRelease/)
    assert.throws(() => checkClearSigned(`${msg}Origin: evil\n`, 'I'), /I: text after the signature block/)
    assert.throws(() => checkClearSigned(msg + msg, 'I'), /I: more than one signed message/)
    assert.throws(
      () => checkClearSigned(msg.replace('-----END PGP SIGNATURE-----\n', ''), 'I'),
      /exactly one signature block/,
    )
  })
})

describe("gpgv's status lines, judged as apt does", () => {
  const sig = (lines: string[]): string => ['[GNUPG:] NEWSIG', ...lines.map((l) => `[GNUPG:] ${l}`)].join('\n')
  const good = (fpr: string, hash = '8'): string[] => [
    `GOODSIG ${fpr.slice(-16)} Debian Archive Automatic Signing Key`,
    `VALIDSIG ${fpr} 2026-07-11 1783765031 0 4 0 1 ${hash} 01 ${fpr}`,
  ]
  const F1 = '4CB50190207B4758A3F73A796ED0E7B82643E131'
  const F2 = 'B8E5F13176D2A7A75220028078DBA3BC47EF2265'
  it('good signatures count; a missing key is ignored when another is good', () => {
    assert.deepEqual(
      judgeGpgvStatus([sig(good(F1)), sig(['ERRSIG 1234 1 8 01 1 9', 'NO_PUBKEY 1234'])].join('\n')).signers.map(
        (s) => s.fingerprint,
      ),
      [F1],
    )
  })
  it('any BAD signature, expired or revoked keys, weak digests and unknown keys are refused', () => {
    assert.match(judgeGpgvStatus([sig(good(F1)), sig(['BADSIG 0011 x'])].join('\n')).refusal!, /^BAD signature/)
    assert.match(judgeGpgvStatus(sig(['EXPKEYSIG 0011 x', ...good(F2).slice(1)])).refusal!, /signing key has expired/)
    assert.match(judgeGpgvStatus(sig(['REVKEYSIG 0011 x', ...good(F2).slice(1)])).refusal!, /revoked/)
    assert.match(judgeGpgvStatus(sig(good(F2, '2'))).refusal!, /weak digest SHA-1/)
    assert.match(
      judgeGpgvStatus(sig(['ERRSIG 1234 1 8 01 1 9', 'NO_PUBKEY 1234'])).refusal!,
      /key 1234, which is not in the keyring/,
    )
    assert.equal(judgeGpgvStatus('gpgv: no signature found').refusal, 'no valid signature')
  })
  it('runs gpgv with the keyrings, status on fd 2 and the signed text on stdout', async () => {
    const exec = fakeExec(() => ({stdout: 'Origin: x\n', stderr: sig(good(F1))}))
    const r = await gpgvVerify({
      exec,
      keyrings: ['/k1.gpg', '/k2.gpg'],
      file: '/L/InRelease',
      what: 'InRelease /L/InRelease',
    })
    assert.deepEqual(exec.calls, [
      ['gpgv', '--status-fd', '2', '--keyring', '/k1.gpg', '--keyring', '/k2.gpg', '--output', '-', '/L/InRelease'],
    ])
    assert.equal(r.signed, 'Origin: x\n')
    // bytes already read go to gpgv on stdin; a detached signature names the signature file first
    const stdin = fakeExec(() => ({stderr: sig(good(F1))}))
    await gpgvVerify({
      exec: stdin,
      keyrings: ['/k'],
      file: '/L/R',
      data: Buffer.from('x'),
      signature: '/L/R.gpg',
      what: 'R',
    })
    assert.deepEqual(stdin.calls, [['gpgv', '--status-fd', '2', '--keyring', '/k', '/L/R.gpg', '-']])
    const bad = fakeExec(() => ({exitCode: 1, stderr: `${sig(['BADSIG 0011 x'])}\ngpgv: BAD signature from "x"`}))
    await assert.rejects(
      gpgvVerify({exec: bad, keyrings: ['/k'], file: '/L/I', what: 'InRelease /L/I'}),
      (e: Error) =>
        e instanceof ChainError &&
        e.code === 'E_CHAIN' &&
        /^InRelease \/L\/I: signature not accepted: BAD/.test(e.message),
    )
  })
})

describe('chain files', () => {
  const chain: ChainFile = {
    format: CHAIN_FORMAT,
    distro: 'debian',
    packages: ['z', 'a'].map((n) => ({
      filename: `pool/main/${n}/${n}/${n}_1_amd64.deb`,
      package: n,
      version: '1',
      architecture: 'amd64',
      sha256: SHA_A,
      size: 10,
      repository: {origin: 'deb.debian.org/debian', suite: 'bookworm', component: 'main', architecture: 'amd64'},
      inRelease: {sha256: SHA_B, size: 100},
      packages: {path: 'main/binary-amd64/Packages', sha256: SHA_B, size: 1000},
    })),
  }
  it('are written with sorted keys and sorted packages, and read back', () => {
    const text = formatChainFile(chain)
    assert.equal(text, formatChainFile({...chain, packages: [...chain.packages].reverse()}))
    assert.ok(text.indexOf('"distro"') < text.indexOf('"format"') && text.indexOf('/a/a_1') < text.indexOf('/z/z_1'))
    assert.deepEqual(
      parseChainFile(text, 'C').packages.map((p) => p.package),
      ['a', 'z'],
    )
    assert.equal(canonicalJson({b: 1, a: {d: 1, c: 2}}), '{\n  "a": {\n    "c": 2,\n    "d": 1\n  },\n  "b": 1\n}\n')
  })
  it('generated hostile documents are refused with a ChainError naming the file, quickly', () => {
    const text = formatChainFile(chain)
    const doc = JSON.parse(text) as Record<string, unknown> & {packages: Record<string, unknown>[]}
    const mutate = (f: (d: typeof doc) => void): string => {
      const d = structuredClone(doc)
      f(d)
      return JSON.stringify(d)
    }
    const cases: [string, string, RegExp][] = [
      ['not json', '{"format":', /not valid JSON/],
      ['array', '[]', /top level: not an object/],
      ['format', mutate((d) => (d.format = 'v0')), /format: expected "repro-chain\/v1"/],
      ['distro', mutate((d) => (d.distro = 'fedora')), /distro: expected/],
      ['packages', mutate((d) => (d.packages = {} as never)), /packages: not an array/],
      [
        'sha',
        mutate((d) => (d.packages[0].sha256 = SHA_A.toUpperCase())),
        /packages\[0\]\.sha256: not a lowercase sha256/,
      ],
      ['size', mutate((d) => (d.packages[1].size = -1)), /packages\[1\]\.size: not a non-negative integer/],
      ['big size', mutate((d) => (d.packages[1].size = 2 ** 60)), /packages\[1\]\.size/],
      ['escape', mutate((d) => (d.packages[0].filename = '../../etc/passwd')), /packages\[0\]\.filename: .*escapes/],
      ['absolute', mutate((d) => (d.packages[0].filename = '/etc/passwd')), /absolute file name/],
      ['dup', mutate((d) => (d.packages[1].filename = d.packages[0].filename)), /appears twice/],
      ['path', mutate((d) => ((d.packages[0].packages as {path: string}).path = '../x')), /unsafe path/],
      ['nested', mutate((d) => (d.packages[0].repository = 'x' as never)), /repository: not an object/],
      ['long', mutate((d) => (d.packages[0].version = 'v'.repeat(5000))), /version: empty, too long/],
      ['newline', mutate((d) => (d.packages[0].package = 'a\nb')), /package: empty, too long or with control/],
      ['deep', `${'['.repeat(5000)}${']'.repeat(5000)}`, /top level: not an object/],
    ]
    for (const [name, bad, re] of cases) {
      assert.throws(
        () => parseChainFile(bad, 'SUMS.chain.json'),
        (e: Error) => e instanceof ChainError && e.message.startsWith('SUMS.chain.json: ') && re.test(e.message),
        name,
      )
    }
    // every truncation of a valid document
    const t0 = Date.now()
    for (let n = 0; n < text.length; n += 7)
      assert.throws(
        () => parseChainFile(text.slice(0, n), 'T'),
        (e: Error) => e instanceof ChainError && e.message.startsWith('T: '),
      )
    assert.ok(Date.now() - t0 < 5000, 'truncations parse in bounded time')
  })
})

describe('bounded decompression of index files', () => {
  it('an LZ4 frame claiming a huge content size is refused before the memory is taken', () => {
    // magic, FLG = version 1 + content size, BD, content size 2^40, header checksum
    const frame = Buffer.concat([
      Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x48, 0x40]),
      Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]),
      Buffer.from([0, 0, 0, 0, 0]),
    ])
    assert.throws(() => lz4Decompress(frame, 'L', 1000), /L: decompresses to more than 1000 bytes/)
  })
  it('an LZ4 bomb written by the lz4 program stops at the bound', () => {
    const bomb = execFileSync('lz4', ['-c', '-9'], {input: Buffer.alloc(16 * 1024 * 1024), maxBuffer: 1 << 26})
    assert.ok(bomb.length < 100_000)
    assert.throws(() => lz4Decompress(bomb, 'bomb.lz4', 1 << 20), /bomb\.lz4: decompresses to more than 1048576 bytes/)
    assert.equal(lz4Decompress(bomb, 'bomb.lz4', 16 * 1024 * 1024).length, 16 * 1024 * 1024)
  })
  it('xz and zstd bombs: the program is killed once its output passes the bound', async () => {
    for (const [tool, ext] of [
      ['xz', '.xz'],
      ['zstd', '.zst'],
    ]) {
      // 64 MiB of zeros in ~10 KB; the bound is 1 MiB
      const bomb = execFileSync(tool, [tool === 'xz' ? '-0' : '-1', '-c'], {input: Buffer.alloc(64 * 1024 * 1024)})
      assert.ok(bomb.length < 1_000_000, `${tool} bomb is small`)
      const t0 = Date.now()
      const rss0 = process.memoryUsage().rss
      await assert.rejects(
        decompressByName(`P${ext}`, bomb, realExec, {maxBytes: 1 << 20}),
        new RegExp(`^DecompressError: P\\${ext}: decompresses to more than 1048576 bytes`),
      )
      assert.ok(process.memoryUsage().rss - rss0 < 32 * 1024 * 1024, `${tool}: memory bounded`)
      assert.ok(Date.now() - t0 < 10_000, `${tool}: time bounded`)
    }
    assert.equal(
      (await decompressByName('P.xz', execFileSync('xz', ['-c'], {input: 'abc'}), realExec, {maxBytes: 3})).toString(),
      'abc',
    )
  })
  it('gzip bombs and garbage are refused naming the file', async () => {
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024))
    await assert.rejects(
      decompressByName('P.gz', bomb, undefined, {maxBytes: 1 << 20}),
      /^DecompressError: P\.gz: decompresses to more than 1048576 bytes/,
    )
    await assert.rejects(decompressByName('P.gz', bomb.subarray(0, 100)), /P\.gz: not valid gzip data/)
    await assert.rejects(
      decompressByName('P', Buffer.alloc(10), undefined, {maxBytes: 9}),
      /P: decompresses to more than 9 bytes/,
    )
  })
})
