/**
 * `hash generate` output for all five distros round-trips through the hash-file name grammar: roots with the
 * real metadata formats (dpkg status + apt lists, repodata primary.xml.gz, pacman local + sync dbs, apk's
 * installed db + APKINDEX + cached .apk) whose package names carry what the grammar must keep accepting
 * (Debian `+` and `~`, rpm `^` and `~`, Arch `epoch:` and `.sig`, Alpine repo paths). Metadata archives are
 * written with the `tar` package and zlib, not with repro's readers.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {generateHashes} from '../../src/pkg/generate.js'
import {checkEntryName, formatHashFile, parseHashFiles} from '../../src/pkg/hash-file.js'
import {runCli} from '../support/cli.js'
import {layerTar} from '../support/image-fixtures.js'
import {type Deb, makeDpkgRoot} from '../support/pkg-fixtures.js'

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')

/** generate → format → parse: the same names and sha256s come back, and each name passes the grammar. */
function roundTrip(entries: {name: string; sha256: string}[], expected: string[]): void {
  assert.deepEqual(entries.map((e) => e.name).sort(), [...expected].sort())
  for (const e of entries) assert.equal(checkEntryName(e.name), undefined, e.name)
  const parsed = parseHashFiles([{file: 'SHA256SUMS', text: formatHashFile(entries)}])
  assert.deepEqual(
    parsed.map((e) => [e.name, e.sha256]),
    [...entries].sort((a, b) => (a.name < b.name ? -1 : 1)).map((e) => [e.name, e.sha256]),
  )
}

const deb = (pkg: string, version: string, filename: string): Deb => ({
  package: pkg,
  version,
  architecture: filename.endsWith('_all.deb') ? 'all' : 'amd64',
  filename,
  sha256: sha(filename),
  size: 1000,
  path: `/nonexistent/${filename}`,
})

describe('hash generate output round-trips through the name grammar, for all five distros', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-roundtrip-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  const debianDebs = [
    deb('libstdc++6', '14.2.0-4~bpo12+1', 'pool/main/g/gcc-14/libstdc++6_14.2.0-4~bpo12+1_amd64.deb'),
    deb('systemd', '252.30-1~deb12u2', 'pool/main/s/systemd/systemd_252.30-1~deb12u2_amd64.deb'),
    deb('python3-apt', '1:2.6.0', 'pool/main/p/python-apt/python3-apt_2.6.0_amd64.deb'),
    deb('hello', '2.10-3', 'pool/main/h/hello/hello_2.10-3_amd64.deb'),
  ]
  const ubuntuDebs = [
    deb('g++-13', '13.2.0-23ubuntu4', 'pool/main/g/gcc-13/g++-13_13.2.0-23ubuntu4_amd64.deb'),
    deb('nginx-common', '1.24.0-2ubuntu7.1', 'pool/main/n/nginx/nginx-common_1.24.0-2ubuntu7.1_all.deb'),
    deb('tzdata', '2024a-3ubuntu1.1', 'pool/main/t/tzdata/tzdata_2024a-3ubuntu1.1_all.deb'),
  ]

  it('debian and ubuntu: pool paths with + and ~, epochs dropped from file names (also through the CLI)', async () => {
    for (const [distro, debs] of [
      ['debian', debianDebs],
      ['ubuntu', ubuntuDebs],
    ] as const) {
      const root = path.join(dir, distro)
      await makeDpkgRoot(root, debs, debs)
      if (distro === 'ubuntu')
        await writeFile(path.join(root, 'etc/os-release'), 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n')
      const r = await generateHashes({root, distro, packages: [], exec: fakeExec(), logger: silentLogger})
      roundTrip(
        r.entries,
        debs.map((d) => d.filename),
      )
      // the CLI: hash generate writes it, hash inspect reads it back
      const gen = await runCli(['hash', 'generate', '--root', root])
      assert.equal(gen.code, 0, gen.stderr)
      const file = path.join(dir, `SHA256SUMS-${distro}`)
      await writeFile(file, gen.stdout)
      const inspect = await runCli(['hash', 'inspect', file, '--json'])
      assert.equal(inspect.code, 0, inspect.stderr)
      assert.deepEqual(
        JSON.parse(inspect.stdout).entries.map((e: {name: string; version: string}) => [e.name, e.version]),
        [...debs]
          .sort((a, b) => (a.filename < b.filename ? -1 : 1))
          .map((d) => [d.filename, d.version.replace(/^\d+:/, '')]),
      )
    }
  })

  it('fedora: koji paths with rpm ^ and ~ (and an epoch, which koji names leave out)', async () => {
    const root = path.join(dir, 'fedora')
    const repodata = path.join(root, 'var/cache/libdnf5/fedora-0123abcd/repodata')
    await mkdir(repodata, {recursive: true})
    await mkdir(path.join(root, 'usr/lib/sysimage/rpm'), {recursive: true}) // hash generate refuses a root without an rpm database
    const pkgs = [
      {name: 'vim-enhanced', epoch: 2, ver: '9.1.825^20241121git', rel: '1.fc41', src: 'vim'},
      {name: 'python3-libs', epoch: 0, ver: '3.12.2~rc1', rel: '1.fc40', src: 'python3.12'},
      {name: 'libstdc++', epoch: 0, ver: '14.2.1', rel: '3.fc41', src: 'gcc'},
    ]
    const xml = `<metadata packages="${pkgs.length}">${pkgs
      .map(
        (p) =>
          `<package type="rpm"><name>${p.name}</name><arch>x86_64</arch><version epoch="${p.epoch}" ver="${p.ver}" rel="${p.rel}"/><checksum type="sha256" pkgid="YES">${sha(p.name)}</checksum><location href="Packages/${p.name[0]}/${p.name}-${p.ver}-${p.rel}.x86_64.rpm"/><format><rpm:sourcerpm>${p.src}-${p.ver}-${p.rel}.src.rpm</rpm:sourcerpm></format></package>`,
      )
      .join('')}</metadata>`
    await writeFile(path.join(repodata, 'feed-primary.xml.gz'), gzipSync(xml))
    const exec = fakeExec(() => ({
      stdout: pkgs.map((p) => `${p.name}\t${p.epoch}\t${p.ver}\t${p.rel}\tx86_64\n`).join(''),
    }))
    const r = await generateHashes({root, distro: 'fedora', packages: [], exec, logger: silentLogger})
    roundTrip(
      r.entries,
      pkgs.map((p) => `${p.src}/${p.ver}/${p.rel}/x86_64/${p.name}-${p.ver}-${p.rel}.x86_64.rpm`),
    )
  })

  it('arch: epoch names with ":" and their .sig files, versions with +', async () => {
    const root = path.join(dir, 'arch')
    const pkgs = [
      {name: 'zstd', version: '1:1.5.6-1'},
      {name: 'lib32-gcc-libs', version: '14.2.1+r134+gab884fffe3fc-1'},
    ]
    for (const p of pkgs) {
      await mkdir(path.join(root, 'var/lib/pacman/local', `${p.name}-${p.version}`), {recursive: true})
      await writeFile(
        path.join(root, 'var/lib/pacman/local', `${p.name}-${p.version}`, 'desc'),
        `%NAME%\n${p.name}\n\n%VERSION%\n${p.version}\n\n%ARCH%\nx86_64\n`,
      )
    }
    await mkdir(path.join(root, 'var/lib/pacman/sync'), {recursive: true})
    await mkdir(path.join(root, 'etc'), {recursive: true})
    await writeFile(path.join(root, 'etc/os-release'), 'NAME="Arch Linux"\nID=arch\n')
    const sig = Buffer.from('signature bytes')
    const db = await layerTar(
      pkgs.map((p) => ({
        path: `${p.name}-${p.version}/desc`,
        content: `%FILENAME%\n${p.name}-${p.version}-x86_64.pkg.tar.zst\n\n%NAME%\n${p.name}\n\n%VERSION%\n${p.version}\n\n%SHA256SUM%\n${sha(p.name)}\n\n%PGPSIG%\n${sig.toString('base64')}\n\n%ARCH%\nx86_64\n`,
      })),
    )
    await writeFile(path.join(root, 'var/lib/pacman/sync/core.db'), gzipSync(db))
    const r = await generateHashes({root, distro: 'arch', packages: [], exec: fakeExec(), logger: silentLogger})
    const names = pkgs.map((p) => `${p.name[0]}/${p.name}/${p.name}-${p.version}-x86_64.pkg.tar.zst`)
    roundTrip(r.entries, [...names, ...names.map((n) => `${n}.sig`)])
    const gen = await runCli(['hash', 'generate', '--root', root])
    assert.equal(gen.code, 0, gen.stderr)
    const file = path.join(dir, 'SHA256SUMS-arch')
    await writeFile(file, gen.stdout)
    const inspect = await runCli(['hash', 'inspect', file, '--json'])
    assert.equal(inspect.code, 0, inspect.stderr)
    assert.equal(JSON.parse(inspect.stdout).entries.length, 4)
  })

  it('alpine: repository paths (edge/testing/<arch>/...) with _ in versions', async () => {
    const root = path.join(dir, 'alpine')
    const repo = 'https://mirror.invalid/alpine/edge/testing'
    await mkdir(path.join(root, 'etc/apk/cache'), {recursive: true})
    await mkdir(path.join(root, 'lib/apk/db'), {recursive: true})
    await writeFile(path.join(root, 'etc/apk/arch'), 'aarch64\n')
    await writeFile(path.join(root, 'etc/apk/repositories'), `${repo}\n`)
    const pkgs = [
      {p: 'py3-foo_bar', v: '0.1_git20240101-r0'},
      {p: 'musl', v: '1.2.4-r2'},
    ]
    const installed = pkgs.map((x) => `C:Q1${x.p}=\nP:${x.p}\nV:${x.v}\nA:aarch64\n\n`).join('')
    await writeFile(path.join(root, 'lib/apk/db/installed'), installed)
    const id = createHash('sha1').update(repo).digest('hex').slice(0, 8)
    await writeFile(
      path.join(root, 'etc/apk/cache', `APKINDEX.${id}.tar.gz`),
      gzipSync(await layerTar([{path: 'APKINDEX', content: installed}])),
    )
    for (const x of pkgs)
      await writeFile(path.join(root, 'etc/apk/cache', `${x.p}-${x.v}.0a1b2c3d.apk`), `${x.p} bytes`)
    const r = await generateHashes({root, distro: 'alpine', packages: [], exec: fakeExec(), logger: silentLogger})
    roundTrip(
      r.entries,
      pkgs.map((x) => `edge/testing/aarch64/${x.p}-${x.v}.apk`),
    )
  })
})
