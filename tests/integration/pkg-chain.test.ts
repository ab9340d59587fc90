/**
 * Debian's signature chain on real files: the InRelease and Packages files `apt-get update` fetched into
 * /var/lib/apt/lists (copied into a temp dir first; the machine's lists are never modified), real .debs (the
 * test bed's, else `apt-get download`), Debian's gpgv and archive keyring. The chain verifies; a tampered
 * signature, a tampered Packages, a package whose sha256 is not listed and an expired Release are each refused
 * naming the link. An archive signed here with gpg (an independent writer) covers Valid-Until through the CLI,
 * detached Release.gpg signatures, .gz/.xz indexes and SHA-1 signatures. Hostile index and chain files are
 * refused with exit 2 naming the file, in bounded time.
 */
import assert from 'node:assert/strict'
import {execFile, execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {ChainError} from '../../src/errors.js'
import {realExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {aptListName} from '../../src/pkg/debian/apt-lists.js'
import {verifyChain} from '../../src/pkg/debian/chain.js'
import {formatChainFile} from '../../src/pkg/debian/chain-file.js'
import {generateHashes} from '../../src/pkg/generate.js'
import {type Deb, packagesText, realDebs, repro, sumsText} from '../support/pkg-fixtures.js'
import {SchemaValidator} from '../support/schemas.js'

const run = promisify(execFile)
const LISTS = '/var/lib/apt/lists'
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const esc = (s: string): string => s.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Copy the machine's InRelease and Packages lists into dir (read-only use of /var/lib/apt/lists). */
async function copyLists(dir: string): Promise<string[]> {
  await mkdir(dir, {recursive: true})
  const names = (await readdir(LISTS)).filter((n) => /_(InRelease|Release|Release\.gpg)$|_Packages(\.\w+)?$/.test(n))
  for (const n of names) await copyFile(path.join(LISTS, n), path.join(dir, n))
  return names
}

async function makeRoot(
  root: string,
  lists: string,
  installed: {package: string; version: string; architecture: string}[],
): Promise<void> {
  await mkdir(path.join(root, 'etc'), {recursive: true})
  await mkdir(path.join(root, 'var/lib/dpkg'), {recursive: true})
  await mkdir(path.join(root, 'var/lib/apt'), {recursive: true})
  await writeFile(path.join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n')
  await writeFile(
    path.join(root, 'var/lib/dpkg/status'),
    installed
      .map(
        (p) =>
          `Package: ${p.package}\nStatus: install ok installed\nArchitecture: ${p.architecture}\nVersion: ${p.version}\n`,
      )
      .join('\n'),
  )
  await run('cp', ['-a', lists, path.join(root, 'var/lib/apt/lists')])
}

async function copyDir(from: string, to: string): Promise<string> {
  await run('cp', ['-a', from, to])
  return to
}

const lz4d = (file: string): Buffer => execFileSync('lz4', ['-dc', file], {maxBuffer: 1 << 30})
const lz4c = (data: Buffer): Buffer => execFileSync('lz4', ['-c'], {input: data, maxBuffer: 1 << 30})

describe("Debian's signature chain on this machine's apt lists and real .debs", () => {
  let dir: string
  let lists: string
  let root: string
  let pool: string
  let debs: Deb[]
  let sums: string
  let mainInRelease: string
  let mainPackages: string

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-chain-'))
    lists = path.join(dir, 'lists')
    const names = await copyLists(lists)
    mainInRelease = names.find((n) => /_debian_dists_bookworm_InRelease$/.test(n)) ?? ''
    mainPackages = names.find((n) => /_debian_dists_bookworm_main_binary-amd64_Packages\.lz4$/.test(n)) ?? ''
    if (!mainInRelease || !mainPackages)
      throw new Error(`${LISTS} has no bookworm InRelease and main Packages.lz4: run apt-get update first`)
    pool = path.join(dir, 'pool-dir')
    debs = await realDebs(pool, ['hello', 'sl'])
    assert.equal(debs.length, 2)
    root = path.join(dir, 'root')
    await makeRoot(root, lists, debs)
    sums = path.join(dir, 'SHA256SUMS-amd64')
    const g = await repro(['hash', 'generate', '--root', root, '-o', sums])
    assert.equal(g.code, 0, g.stderr)
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('generate -o writes a sha256sum -c compatible hash file and a deterministic chain file with the real digests', async () => {
    assert.equal(await readFile(sums, 'utf8'), sumsText(debs))
    // the hash file stays plain sha256sum lines
    const check = await run('sha256sum', ['-c', sums], {cwd: pool})
    assert.match(check.stdout, /hello_2\.10-3_amd64\.deb: OK/)
    const chain = JSON.parse(await readFile(`${sums}.chain.json`, 'utf8'))
    assert.equal(chain.format, 'repro-chain/v1')
    assert.deepEqual(
      chain.packages.map((p: {package: string}) => p.package),
      debs.map((d) => d.package),
    )
    const hello = chain.packages[0]
    assert.deepEqual(hello.repository, {
      origin: 'deb.debian.org/debian',
      suite: 'bookworm',
      component: 'main',
      architecture: 'amd64',
    })
    // digests checked with independent tools: the InRelease bytes, and the Packages as the lz4 program decompresses it
    assert.equal(hello.inRelease.sha256, sha256(await readFile(path.join(lists, mainInRelease))))
    const text = lz4d(path.join(lists, mainPackages))
    assert.deepEqual(hello.packages, {path: 'main/binary-amd64/Packages', sha256: sha256(text), size: text.length})
    assert.equal(hello.sha256, debs[0].sha256)
    assert.equal(hello.size, debs[0].size)
    // the InRelease itself lists that Packages digest
    assert.match(
      await readFile(path.join(lists, mainInRelease), 'utf8'),
      new RegExp(` ${sha256(text)} +${text.length} main/binary-amd64/Packages\n`),
    )
    // deterministic: a second run writes the same bytes; stdout + --chain writes the same chain
    const again = path.join(dir, 'again')
    assert.equal((await repro(['hash', 'generate', '--root', root, '-o', again])).code, 0)
    assert.equal(await readFile(`${again}.chain.json`, 'utf8'), await readFile(`${sums}.chain.json`, 'utf8'))
    const viaStdout = await repro(['hash', 'generate', '--root', root, '--chain', path.join(dir, 'c.json')])
    assert.equal(viaStdout.code, 0, viaStdout.stderr)
    assert.equal(viaStdout.stdout, sumsText(debs))
    assert.equal(await readFile(path.join(dir, 'c.json'), 'utf8'), await readFile(`${sums}.chain.json`, 'utf8'))
  })

  it('lists no signed release covers: -o refuses to record a chain (--no-chain writes the hash file only); a missing chain file is named', async () => {
    const root3 = path.join(dir, 'root-unsigned')
    const unsigned = path.join(dir, 'lists-unsigned')
    await mkdir(unsigned)
    // the real Packages, without its InRelease
    await copyFile(path.join(lists, mainPackages), path.join(unsigned, mainPackages))
    await makeRoot(root3, unsigned, debs)
    const out = path.join(dir, 'SUMS-unsigned')
    const r = await repro(['hash', 'generate', '--root', root3, '-o', out])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      new RegExp(
        `^Error: Packages ${esc(path.join(root3, 'var/lib/apt/lists', mainPackages))}: no InRelease .* covers it`,
      ),
    )
    await assert.rejects(readFile(out), /ENOENT/, 'nothing half-written')
    const n = await repro(['hash', 'generate', '--root', root3, '-o', out, '--no-chain'])
    assert.equal(n.code, 0, n.stderr)
    assert.equal(await readFile(out, 'utf8'), sumsText(debs))
    await assert.rejects(readFile(`${out}.chain.json`), /ENOENT/)
    const v = await repro(['hash', 'verify', '--indexes', lists, out])
    assert.equal(v.code, 2)
    assert.match(
      v.stderr,
      new RegExp(`^Error: chain file ${esc(`${out}.chain.json`)}: not found\n  hint: write the hash file`),
    )
    // --chain names it
    const c = await repro(['hash', 'verify', '--indexes', lists, '--chain', `${sums}.chain.json`, out])
    assert.equal(c.code, 0, c.stderr)
    const two = await repro(['hash', 'verify', '--chain', `${sums}.chain.json`, out, sums])
    assert.equal(two.code, 2)
    assert.match(two.stderr, /--chain names one chain file, but 2 hash files were given/)
    const fedora = await repro([
      'hash',
      'generate',
      '--root',
      root3,
      '--distro',
      'fedora',
      '--chain',
      path.join(dir, 'x.json'),
    ])
    assert.equal(fedora.code, 2)
    assert.match(
      fedora.stderr,
      /^Error: --chain: signature chains and apt indexes are for debian and ubuntu, not fedora/,
    )
  })

  it('hash verify: the chain holds from the archive keyring to the .deb bytes', async () => {
    const v = await repro(['hash', 'verify', '--root', root, '--debs', pool, sums, '--json'])
    assert.equal(v.code, 0, v.stderr)
    const r = JSON.parse(v.stdout)
    new SchemaValidator().check('hash verify', r)
    assert.equal(r.verified, true)
    assert.equal(r.packages, 2)
    assert.equal(r.filesHashed, 2)
    assert.deepEqual(r.keyrings, ['/usr/share/keyrings/debian-archive-keyring.gpg'])
    assert.equal(r.releases.length, 1)
    assert.equal(r.releases[0].file, mainInRelease)
    assert.ok(r.releases[0].signedBy.length >= 1)
    assert.equal(r.releases[0].expired, false)
    assert.equal(r.releases[0].differsFromRecorded, false)
    assert.equal(r.packagesIndexes[0].file, mainPackages)
    // human output; and from saved indexes only (no root), bytes not at hand
    const h = await repro(['hash', 'verify', '--indexes', lists, sums])
    assert.equal(h.code, 0, h.stderr)
    assert.match(h.stdout, /^chain verified: 2 packages through 1 signed release and 1 Packages index\n/)
    assert.match(h.stdout, /package files hashed: 0 of 2 \(not at hand: 2/)
    // several hash files, each with its own chain file; each release and index is checked once
    const again = path.join(dir, 'SUMS-copy')
    await copyFile(sums, again)
    await copyFile(`${sums}.chain.json`, `${again}.chain.json`)
    const m = await repro(['hash', 'verify', '--indexes', lists, sums, again, '--json'])
    assert.equal(m.code, 0, m.stderr)
    const mr = JSON.parse(m.stdout)
    assert.deepEqual(
      mr.files.map((f: {chainFile: string}) => f.chainFile),
      [`${sums}.chain.json`, `${again}.chain.json`],
    )
    assert.equal(mr.releases.length, 1)
    assert.equal(mr.packagesIndexes.length, 1)
  })

  it('a tampered signature, or a keyring without the signing keys, is refused naming the InRelease', async () => {
    const cases: [string, (t: string) => string][] = [
      // one byte of the signed text: gpgv reports BADSIG
      [
        'signed text',
        (t) => t.replace(/^Description: (.)/m, (_m, c: string) => `Description: ${c === 'X' ? 'Y' : 'X'}`),
      ],
      // a byte inside the armored signature
      [
        'signature',
        (t) => {
          const i = t.indexOf('-----BEGIN PGP SIGNATURE-----') + 80
          return t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1)
        },
      ],
      ['signature removed', (t) => t.slice(0, t.indexOf('-----BEGIN PGP SIGNATURE-----'))],
      ['text outside the signed message', (t) => `${t}Origin: evil\n`],
    ]
    for (const [name, tamper] of cases) {
      const t = await copyDir(lists, path.join(dir, `sig-${name.replaceAll(' ', '-')}`))
      const file = path.join(t, mainInRelease)
      await writeFile(file, tamper(await readFile(file, 'utf8')))
      const v = await repro(['hash', 'verify', '--indexes', t, sums])
      assert.equal(v.code, 2, name)
      assert.match(v.stderr, new RegExp(`^Error: InRelease ${esc(file)}: `), name)
      const j = await repro(['hash', 'verify', '--indexes', t, sums, '--json'])
      assert.equal(JSON.parse(j.stdout).error.code, 'E_CHAIN', name)
    }
    const empty = path.join(dir, 'empty.gpg')
    await writeFile(empty, '')
    const k = await repro(['hash', 'verify', '--indexes', lists, '--keyring', empty, sums])
    assert.equal(k.code, 2)
    assert.match(
      k.stderr,
      new RegExp(
        `^Error: InRelease ${esc(path.join(lists, mainInRelease))}: signature not accepted: signed by key [0-9A-F]+, which is not in the keyring`,
      ),
    )
  })

  it('a tampered Packages file is refused naming it and the InRelease', async () => {
    const t = await copyDir(lists, path.join(dir, 'pkgs-tampered'))
    const file = path.join(t, mainPackages)
    const text = lz4d(file)
    const i = text.indexOf('\nPackage: hello\n')
    const j = text.indexOf('\nDescription: ', i) + 14
    text[j] = text[j] === 0x58 ? 0x59 : 0x58
    await writeFile(file, lz4c(text))
    const v = await repro(['hash', 'verify', '--indexes', t, sums])
    assert.equal(v.code, 2)
    assert.match(
      v.stderr,
      new RegExp(
        `^Error: Packages ${esc(file)}: sha256 ${sha256(text)} \\(${text.length} bytes, decompressed\\) is not what InRelease ${esc(path.join(t, mainInRelease))} lists for main/binary-amd64/Packages`,
      ),
    )
    // stored uncompressed and one byte short: the bound is the signed size
    await rm(file)
    const plain = file.replace(/\.lz4$/, '')
    await writeFile(plain, text.subarray(0, text.length - 1))
    const p = await repro(['hash', 'verify', '--indexes', t, sums])
    assert.equal(p.code, 2)
    assert.match(p.stderr, new RegExp(`^Error: Packages ${esc(plain)}: sha256 `))
    // no Packages file at all
    await rm(plain)
    const m = await repro(['hash', 'verify', '--indexes', t, sums])
    assert.equal(m.code, 2)
    assert.match(
      m.stderr,
      /^Error: package hello 2\.10-3 amd64 \(pool\/main\/h\/hello\/hello_2\.10-3_amd64\.deb\): no Packages file for main\/binary-amd64\/Packages/,
    )
  })

  it('a package whose sha256 is not listed, a changed .deb, or an entry missing from the chain is refused naming the package', async () => {
    const other = 'c'.repeat(64)
    const forged = path.join(dir, 'SUMS-forged')
    await writeFile(forged, (await readFile(sums, 'utf8')).replace(debs[0].sha256, other))
    await writeFile(
      `${forged}.chain.json`,
      (await readFile(`${sums}.chain.json`, 'utf8')).replace(debs[0].sha256, other),
    )
    const v = await repro(['hash', 'verify', '--indexes', lists, forged])
    assert.equal(v.code, 2)
    assert.match(
      v.stderr,
      new RegExp(
        `^Error: package hello 2\\.10-3 amd64 \\(${esc(debs[0].filename)}\\): sha256 ${other} is not listed in Packages ${esc(path.join(lists, mainPackages))} \\(signed through InRelease`,
      ),
    )
    // the hash file says one thing, the chain another
    await writeFile(`${forged}.chain.json`, await readFile(`${sums}.chain.json`, 'utf8'))
    const d = await repro(['hash', 'verify', '--indexes', lists, forged])
    assert.equal(d.code, 2)
    assert.match(
      d.stderr,
      new RegExp(`^Error: ${esc(forged)}:1: ${esc(debs[0].filename)}: sha256 ${other} differs from the chain file`),
    )
    // the bytes: a .deb that is not the one Packages lists
    const badPool = await copyDir(pool, path.join(dir, 'pool-bad'))
    const deb = path.join(badPool, debs[1].filename)
    const bytes = await readFile(deb)
    bytes[bytes.length - 1] ^= 1
    await writeFile(deb, bytes)
    const b = await repro(['hash', 'verify', '--indexes', lists, '--debs', badPool, sums])
    assert.equal(b.code, 2)
    assert.match(
      b.stderr,
      new RegExp(
        `^Error: package sl 5\\.02-1\\+b1 amd64 \\(${esc(debs[1].filename)}\\): the file ${esc(deb)} has sha256 ${sha256(bytes)}`,
      ),
    )
    const typo = await repro(['hash', 'verify', '--indexes', lists, '--debs', path.join(dir, 'no-pool'), sums])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /^Error: --debs .*no-pool: not a directory/)
    // an entry the chain file does not describe
    const extra = path.join(dir, 'SUMS-extra')
    await writeFile(extra, `${await readFile(sums, 'utf8')}${'d'.repeat(64)}  pool/main/x/x/x_1_amd64.deb\n`)
    await copyFile(`${sums}.chain.json`, `${extra}.chain.json`)
    const e = await repro(['hash', 'verify', '--indexes', lists, extra])
    assert.equal(e.code, 2)
    assert.match(
      e.stderr,
      new RegExp(`^Error: ${esc(extra)}:3: pool/main/x/x/x_1_amd64\\.deb: no record in the chain file`),
    )
  })

  it('an expired Release (the real bookworm-security InRelease past its Valid-Until) is refused unless allowed', async () => {
    const names = await readdir(lists)
    const secIn = names.find((n) => n.endsWith('_bookworm-security_InRelease'))
    const secPk = names.find((n) => /_bookworm-security_main_binary-amd64_Packages\.lz4$/.test(n))
    assert.ok(secIn && secPk, 'the machine has bookworm-security lists')
    const validUntil = /^Valid-Until: (.+)$/m.exec(await readFile(path.join(lists, secIn), 'utf8'))?.[1]
    assert.ok(validUntil, 'the security InRelease carries a Valid-Until')
    // the first package of the security Packages, installed in a root
    const para = lz4d(path.join(lists, secPk)).toString('utf8').split('\n\n')[0]
    const f = (k: string): string => new RegExp(`^${k}: (.+)$`, 'm').exec(para)![1]
    const pkg = {package: f('Package'), version: f('Version'), architecture: f('Architecture')}
    const root2 = path.join(dir, 'root-security')
    await makeRoot(root2, lists, [pkg])
    const gen = await generateHashes({
      root: root2,
      distro: 'debian',
      packages: [],
      exec: realExec,
      logger: silentLogger,
      chain: true,
    })
    assert.equal(gen.entries.length, 1)
    assert.equal(gen.chain!.packages[0].repository.suite, 'bookworm-security')
    const file = path.join(dir, 'SUMS-security')
    await writeFile(file, `${gen.entries[0].sha256}  ${gen.entries[0].name}\n`)
    await writeFile(`${file}.chain.json`, formatChainFile(gen.chain!))
    const opts = (now: Date, allowExpired: boolean): Parameters<typeof verifyChain>[0] => ({
      files: [{hashFile: file, chainFile: `${file}.chain.json`}],
      indexes: lists,
      keyrings: [],
      allowExpired,
      now,
      debs: [],
      exec: realExec,
      logger: silentLogger,
    })
    const after = new Date(Date.parse(validUntil) + 3600_000)
    await assert.rejects(
      verifyChain(opts(after, false)),
      (e: Error) =>
        e instanceof ChainError &&
        e.message.startsWith(
          `InRelease ${path.join(lists, secIn)}: expired: Valid-Until ${new Date(Date.parse(validUntil)).toISOString()} is before now (${after.toISOString()})`,
        ) &&
        e.suggestions.some((s) => s.includes('--allow-expired')),
    )
    const allowed = await verifyChain(opts(after, true))
    assert.equal(allowed.releases[0].expired, true)
    assert.equal(allowed.allowExpired, true)
    const before = await verifyChain(opts(new Date(Date.parse(validUntil) - 3600_000), false))
    assert.equal(before.releases[0].expired, false)
  })

  it('get download --verify-chain checks the chain before downloading, and refuses a broken one with nothing cached', async () => {
    const cache = path.join(dir, 'cache')
    const provider = `file://${pool}/{{.Name}}`
    const ok = await repro([
      'get',
      'download',
      '--cache',
      cache,
      '--provider',
      provider,
      '--verify-chain',
      '--indexes',
      lists,
      sums,
      '--json',
    ])
    assert.equal(ok.code, 0, ok.stderr)
    const r = JSON.parse(ok.stdout)
    assert.equal(r.downloaded, 2)
    assert.equal(r.chain.verified, true)
    assert.equal(r.chain.packages, 2)
    const t = await copyDir(lists, path.join(dir, 'get-tampered'))
    const ir = path.join(t, mainInRelease)
    await writeFile(ir, (await readFile(ir, 'utf8')).replace('Label: Debian', 'Label: Debiam'))
    const cache2 = path.join(dir, 'cache2')
    const bad = await repro([
      'get',
      'download',
      '--cache',
      cache2,
      '--provider',
      provider,
      '--verify-chain',
      '--indexes',
      t,
      sums,
    ])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, new RegExp(`^Error: InRelease ${esc(ir)}: signature not accepted: BAD signature`))
    assert.deepEqual(await readdir(path.join(cache2, 'blobs', 'sha256')).catch(() => []), [])
  })

  it('hostile InRelease, Packages and chain files: exit 2 naming the file, in bounded time', async () => {
    const h = await copyDir(lists, path.join(dir, 'hostile'))
    const inRelease = path.join(h, mainInRelease)
    const packages = path.join(h, mainPackages)
    const goodIn = await readFile(inRelease)
    const goodPk = await readFile(packages)
    const cases: {name: string; file: string; setup: () => Promise<void>; re: RegExp; args?: string[]}[] = []
    for (const n of [0, 10, 40, 1000, Math.floor(goodIn.length / 2), goodIn.length - 40])
      cases.push({
        name: `InRelease cut at ${n}`,
        file: inRelease,
        setup: () => writeFile(inRelease, goodIn.subarray(0, n)),
        re: /InRelease/,
      })
    cases.push(
      {
        name: 'InRelease a symlink to /dev/zero',
        file: inRelease,
        setup: async () => {
          await rm(inRelease)
          await symlink('/dev/zero', inRelease)
        },
        re: /not a regular file/,
      },
      {
        name: 'InRelease garbage',
        file: inRelease,
        setup: () => writeFile(inRelease, Buffer.alloc(5000, 0xa5)),
        re: /not a clear-signed InRelease/,
      },
      {
        name: 'InRelease oversized',
        file: inRelease,
        setup: () => truncate(inRelease, 40 * 1024 * 1024),
        re: /41943040 bytes, more than the 33554432 bytes accepted/,
      },
      {
        name: 'Packages cut',
        file: packages,
        setup: () => writeFile(packages, goodPk.subarray(0, goodPk.length / 3)),
        re: /truncated LZ4|sha256/,
      },
      {
        name: 'Packages garbage',
        file: packages,
        setup: () => writeFile(packages, Buffer.alloc(1000, 7)),
        re: /not an LZ4 frame/,
      },
      {
        name: 'Packages bomb',
        file: packages,
        setup: () => writeFile(packages, lz4c(Buffer.alloc(128 * 1024 * 1024))),
        re: /decompresses to more than \d+ bytes/,
      },
    )
    const chainCopy = path.join(dir, 'SUMS-hostile')
    await copyFile(sums, chainCopy)
    const goodChain = await readFile(`${sums}.chain.json`)
    for (const n of [0, 1, 100, Math.floor(goodChain.length / 2)])
      cases.push({
        name: `chain cut at ${n}`,
        file: `${chainCopy}.chain.json`,
        setup: () => writeFile(`${chainCopy}.chain.json`, goodChain.subarray(0, n)),
        re: /chain file is not valid JSON/,
      })
    cases.push(
      {
        name: 'chain oversized',
        file: `${chainCopy}.chain.json`,
        setup: async () => {
          await writeFile(`${chainCopy}.chain.json`, '')
          await truncate(`${chainCopy}.chain.json`, 65 * 1024 * 1024)
        },
        re: /more than the 67108864 bytes accepted/,
      },
      {
        name: 'chain wrong shape',
        file: `${chainCopy}.chain.json`,
        setup: () =>
          writeFile(
            `${chainCopy}.chain.json`,
            '{"format":"repro-chain/v1","distro":"debian","packages":[{"filename":"../x"}]}',
          ),
        re: /packages\[0\]\.filename/,
      },
    )
    for (const c of cases) {
      await rm(inRelease, {force: true})
      await writeFile(inRelease, goodIn)
      await writeFile(packages, goodPk)
      await c.setup()
      const t0 = Date.now()
      const v = await repro(['hash', 'verify', '--indexes', h, c.file.startsWith(chainCopy) ? chainCopy : sums])
      assert.ok(Date.now() - t0 < 30_000, `${c.name}: bounded time`)
      assert.equal(v.code, 2, `${c.name}: ${v.stderr}`)
      assert.match(v.stderr, new RegExp(`^Error: .*${esc(c.file)}`), c.name)
      assert.match(v.stderr, c.re, c.name)
      assert.equal(v.stderr.split('\n').filter((l) => l.startsWith('Error:')).length, 1, c.name)
    }
  })
})

/** An archive made and signed here with gpg: Valid-Until through the CLI, detached signatures, .xz/.gz, SHA-1. */
describe('a gpg-signed test archive (Valid-Until, Release.gpg, .xz and .gz indexes, weak digests)', () => {
  let dir: string
  let gnupg: string
  let keyring: string
  let debs: Deb[]
  const base = 'repo.invalid/debian/dists/test'

  const gpg = (args: string[], input?: string): Buffer =>
    execFileSync(
      'gpg',
      ['--homedir', gnupg, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      {input},
    )
  const date = (t: number): string => new Date(t).toUTCString().replace('GMT', 'UTC')

  /** Write an archive's lists dir: Packages (compressed as asked), a Release with the given dates, signed. */
  async function archive(
    name: string,
    o: {validUntil?: number; detached?: boolean; compression?: '.xz' | '.gz'; digest?: string},
  ): Promise<{lists: string; sums: string}> {
    const lists = path.join(dir, name)
    await mkdir(lists, {recursive: true})
    const text = Buffer.from(packagesText(debs))
    const stored =
      o.compression === '.xz'
        ? execFileSync('xz', ['-c'], {input: text})
        : o.compression === '.gz'
          ? execFileSync('gzip', ['-nc'], {input: text})
          : text
    await writeFile(path.join(lists, aptListName(`${base}/main/binary-amd64/Packages${o.compression ?? ''}`)), stored)
    const release = [
      'Origin: repro-test',
      'Suite: test',
      'Codename: test',
      `Date: ${date(Date.now() - 86_400_000 * 30)}`,
      ...(o.validUntil ? [`Valid-Until: ${date(o.validUntil)}`] : []),
      'SHA256:',
      // the compressed form only: the chain goes through the stored bytes
      ...(o.compression ? [] : [` ${sha256(text)} ${text.length} main/binary-amd64/Packages`]),
      ...(o.compression ? [` ${sha256(stored)} ${stored.length} main/binary-amd64/Packages${o.compression}`] : []),
      '',
    ].join('\n')
    const digest = ['--digest-algo', o.digest ?? 'SHA256']
    if (o.detached) {
      const rel = path.join(lists, aptListName(`${base}/Release`))
      await writeFile(rel, release)
      gpg([...digest, '--detach-sign', '-o', `${rel}.gpg`, rel])
    } else {
      await writeFile(path.join(lists, aptListName(`${base}/InRelease`)), gpg([...digest, '--clearsign'], release))
    }
    const sums = path.join(lists, '..', `${name}.SUMS`)
    await writeFile(sums, sumsText(debs))
    const chain = {
      format: 'repro-chain/v1' as const,
      distro: 'debian' as const,
      packages: debs.map((d) => ({
        filename: d.filename,
        package: d.package,
        version: d.version,
        architecture: d.architecture,
        sha256: d.sha256,
        size: d.size,
        repository: {origin: 'repo.invalid/debian', suite: 'test', component: 'main', architecture: 'amd64'},
        inRelease: {sha256: 'e'.repeat(64), size: 1},
        packages: {path: 'main/binary-amd64/Packages', sha256: sha256(text), size: text.length},
      })),
    }
    // written with JSON.stringify, independently of the writer under test
    await writeFile(`${sums}.chain.json`, JSON.stringify(chain))
    return {lists, sums}
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-chain-gpg-'))
    gnupg = path.join(dir, 'gnupg')
    await mkdir(gnupg, {mode: 0o700})
    gpg(['--quick-gen-key', 'repro chain test <chain@example.invalid>', 'ed25519', 'sign', 'never'])
    keyring = path.join(dir, 'archive.gpg')
    await writeFile(keyring, gpg(['--export']))
    debs = await realDebs(path.join(dir, 'pool'), ['hello'])
  })
  after(async () => {
    execFileSync('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent'])
    await rm(dir, {recursive: true, force: true})
  })

  it('an expired InRelease is refused; --allow-expired accepts it and says so in the output and the JSON', async () => {
    const validUntil = Date.now() - 86_400_000
    const {lists, sums} = await archive('expired', {validUntil, compression: '.xz'})
    const file = path.join(lists, aptListName(`${base}/InRelease`))
    const v = await repro(['hash', 'verify', '--indexes', lists, '--keyring', keyring, sums])
    assert.equal(v.code, 2)
    assert.match(
      v.stderr,
      new RegExp(
        `^Error: InRelease ${esc(file)}: expired: Valid-Until ${new Date(Math.floor(validUntil / 1000) * 1000).toISOString()} is before now`,
      ),
    )
    assert.match(v.stderr, /hint: for a saved snapshot of the indexes, pass --allow-expired/)
    const a = await repro([
      'hash',
      'verify',
      '--indexes',
      lists,
      '--keyring',
      keyring,
      '--allow-expired',
      sums,
      '--json',
    ])
    assert.equal(a.code, 0, a.stderr)
    const r = JSON.parse(a.stdout)
    assert.equal(r.allowExpired, true)
    assert.equal(r.releases[0].expired, true)
    // recorded digest differs (the chain file was written by hand): reported, the chain itself holds
    assert.equal(r.releases[0].differsFromRecorded, true)
    assert.equal(r.packagesIndexes[0].file, aptListName(`${base}/main/binary-amd64/Packages.xz`))
    const human = await repro(['hash', 'verify', '--indexes', lists, '--keyring', keyring, '--allow-expired', sums])
    assert.match(human.stdout, /EXPIRED, accepted by --allow-expired/)
    assert.match(human.stdout, /--allow-expired was given/)
    assert.match(human.stderr, /warning: InRelease .*: expired on/)
    // the Debian keyring does not know this key
    const d = await repro(['hash', 'verify', '--indexes', lists, '--allow-expired', sums])
    assert.equal(d.code, 2)
    assert.match(d.stderr, /signature not accepted: signed by key [0-9A-F]+, which is not in the keyring/)
  })

  it('a detached Release.gpg and a .gz index verify; a SHA-1 signature is refused', async () => {
    const {lists, sums} = await archive('detached', {
      detached: true,
      compression: '.gz',
      validUntil: Date.now() + 86_400_000,
    })
    const v = await repro(['hash', 'verify', '--indexes', lists, '--keyring', keyring, sums, '--json'])
    assert.equal(v.code, 0, v.stderr)
    assert.equal(JSON.parse(v.stdout).releases[0].file, aptListName(`${base}/Release`))
    // the stored .gz is what the release signs: one more byte and it is named
    const gz = path.join(lists, aptListName(`${base}/main/binary-amd64/Packages.gz`))
    const gzBytes = Buffer.concat([await readFile(gz), Buffer.from([0])])
    await writeFile(gz, gzBytes)
    const t = await repro(['hash', 'verify', '--indexes', lists, '--keyring', keyring, sums])
    assert.equal(t.code, 2)
    assert.match(
      t.stderr,
      new RegExp(
        `^Error: Packages ${esc(gz)}: sha256 ${sha256(gzBytes)} \\(${gzBytes.length} bytes\\) is not what Release ${esc(path.join(lists, aptListName(`${base}/Release`)))} lists for main/binary-amd64/Packages\\.gz`,
      ),
    )
    const none = await repro(['hash', 'verify', '--indexes', path.join(dir, 'no-such-dir'), '--keyring', keyring, sums])
    assert.equal(none.code, 2)
    assert.match(
      none.stderr,
      new RegExp(`^Error: ${esc(path.join(dir, 'no-such-dir'))}: cannot read the indexes directory`),
    )
    const weak = await archive('weak', {digest: 'SHA1'})
    const w = await repro(['hash', 'verify', '--indexes', weak.lists, '--keyring', keyring, weak.sums])
    assert.equal(w.code, 2)
    assert.match(
      w.stderr,
      /^Error: InRelease .*: signature not accepted: signature by [0-9A-F]+ uses the weak digest SHA-1/,
    )
    // a release signed for another suite, served under this suite's name
    const made = await archive('plain', {})
    const plain = made.lists
    await writeFile(
      path.join(plain, aptListName(`${base}/InRelease`)),
      gpg(
        ['--clearsign'],
        `Origin: x\nSuite: unstable\nCodename: sid\nSHA256:\n ${'0'.repeat(64)} 1 main/binary-amd64/Packages\n`,
      ),
    )
    const s = await repro(['hash', 'verify', '--indexes', plain, '--keyring', keyring, made.sums])
    assert.equal(s.code, 2)
    assert.match(s.stderr, /signed for suite "unstable" \(codename "sid"\), not for test/)
  })
})
