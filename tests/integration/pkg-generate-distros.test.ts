/**
 * hash generate (and update) for Fedora, Arch and Alpine on root filesystems built in a temp dir with the
 * real metadata formats: repodata primary.xml.gz in dnf's cache, pacman sync dbs (gzip tars) and local db,
 * apk's installed db, cached APKINDEX.<id>.tar.gz and cached .apk files. `rpm -qa` goes through a fake Exec.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {GenerateError, generateHashes} from '../../src/pkg/generate.js'
import {hashUpdate} from '../../src/pkg/operations.js'
import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')

/** A ustar archive of text files (what pacman's sync dbs and APKINDEX.tar.gz contain). */
function tar(files: Record<string, string>): Buffer {
  const parts: Buffer[] = []
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text)
    const h = Buffer.alloc(512)
    h.write(name, 0)
    h.write('0000644\0', 100)
    h.write(data.length.toString(8).padStart(11, '0'), 124)
    h.write('0', 156)
    h.write('ustar\u000000', 257)
    h.fill(' ', 148, 156)
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

describe('hash generate for fedora, arch and alpine roots', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-gen-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('fedora: rpm -qa (installed EVR) + repodata primary.xml.gz, koji names, the installed version wins', async () => {
    const root = path.join(dir, 'fedora')
    const repodata = path.join(root, 'var/cache/libdnf5/fedora-abc123/repodata')
    await mkdir(repodata, {recursive: true})
    await mkdir(path.join(root, 'usr/lib/sysimage/rpm'), {recursive: true})
    const pkg = (name: string, epoch: number, ver: string, rel: string, src: string, sum: string): string =>
      `<package type="rpm"><name>${name}</name><arch>x86_64</arch><version epoch="${epoch}" ver="${ver}" rel="${rel}"/><checksum type="sha256" pkgid="YES">${sum}</checksum><location href="Packages/${name[0]}/${name}-${ver}-${rel}.x86_64.rpm"/><format><rpm:sourcerpm>${src}-${ver}-${rel}.src.rpm</rpm:sourcerpm></format></package>`
    const xml = `<metadata packages="3">${pkg('hello', 0, '2.12.1', '2.fc40', 'hello', 'a'.repeat(64))}${pkg('hello', 0, '2.12.1', '3.fc40', 'hello', 'c'.repeat(64))}${pkg('python3-libs', 1, '3.12.2', '1.fc40', 'python3.12', 'b'.repeat(64))}</metadata>`
    await writeFile(path.join(repodata, 'deadbeef-primary.xml.gz'), gzipSync(xml))
    const exec = fakeExec((argv) =>
      argv[0] === 'rpm'
        ? {
            stdout:
              'hello\t0\t2.12.1\t2.fc40\tx86_64\npython3-libs\t1\t3.12.2\t1.fc40\tx86_64\ngpg-pubkey\t0\tx\ty\t(none)\n',
          }
        : undefined,
    )
    const r = await generateHashes({root, distro: 'fedora', packages: [], exec, logger: silentLogger})
    assert.deepEqual(exec.calls[0].slice(0, 6), ['rpm', '--root', root, '--dbpath', '/usr/lib/sysimage/rpm', '-qa'])
    assert.deepEqual(r.entries, [
      {sha256: 'a'.repeat(64), name: 'hello/2.12.1/2.fc40/x86_64/hello-2.12.1-2.fc40.x86_64.rpm'},
      {sha256: 'b'.repeat(64), name: 'python3.12/3.12.2/1.fc40/x86_64/python3-libs-3.12.2-1.fc40.x86_64.rpm'},
    ])
    // an installed EVR the repodata lacks is an error naming it (with the epoch)
    const exec2 = fakeExec(() => ({stdout: 'python3-libs\t2\t3.12.2\t1.fc40\tx86_64\n'}))
    await assert.rejects(
      generateHashes({root, distro: 'fedora', packages: [], exec: exec2, logger: silentLogger}),
      (e: Error) =>
        e instanceof GenerateError &&
        /installed package not found in the repodata: python3-libs-2:3\.12\.2-1\.fc40\.x86_64/.test(e.message),
    )
  })

  it('arch: local db + sync db (gzip tar); the .sig entry comes from %PGPSIG%; hash update keeps comments', async () => {
    const root = path.join(dir, 'arch')
    await mkdir(path.join(root, 'var/lib/pacman/local/zstd-1:1.5.6-1'), {recursive: true})
    await mkdir(path.join(root, 'var/lib/pacman/sync'), {recursive: true})
    await mkdir(path.join(root, 'etc'), {recursive: true})
    await writeFile(path.join(root, 'etc/os-release'), 'NAME="Arch Linux"\nID=arch\n')
    await writeFile(path.join(root, 'var/lib/pacman/local/ALPM_DB_VERSION'), '9\n')
    await writeFile(
      path.join(root, 'var/lib/pacman/local/zstd-1:1.5.6-1/desc'),
      '%NAME%\nzstd\n\n%VERSION%\n1:1.5.6-1\n\n%ARCH%\nx86_64\n',
    )
    const sig = Buffer.from('pretend signature bytes')
    const desc = (v: string, s: string): string =>
      `%FILENAME%\nzstd-${v}-x86_64.pkg.tar.zst\n\n%NAME%\nzstd\n\n%VERSION%\n${v}\n\n%SHA256SUM%\n${s}\n\n%PGPSIG%\n${sig.toString('base64')}\n\n%ARCH%\nx86_64\n`
    await writeFile(
      path.join(root, 'var/lib/pacman/sync/core.db'),
      gzipSync(
        tar({
          'zstd-1:1.5.6-1/desc': desc('1:1.5.6-1', 'd'.repeat(64)),
          'zstd-1:1.5.7-1/desc': desc('1:1.5.7-1', 'e'.repeat(64)),
        }),
      ),
    )
    const r = await generateHashes({root, distro: 'arch', packages: ['zstd'], exec: fakeExec(), logger: silentLogger})
    assert.deepEqual(r.entries, [
      {sha256: 'd'.repeat(64), name: 'z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst'},
      {sha256: sha(sig), name: 'z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst.sig'},
    ])
    const file = path.join(dir, 'SHA256SUMS-arch')
    await writeFile(
      file,
      `# arch pins\n${'0'.repeat(64)}  z/zstd/zstd-1:1.5.5-1-x86_64.pkg.tar.zst\n${'0'.repeat(64)}  /ipfs/QmOld\n`,
    )
    const u = await hashUpdate(file, {root}, {exec: fakeExec(), logger: silentLogger})
    assert.equal(u.distro, 'arch')
    assert.equal(u.updated.length, 1)
    assert.equal(
      await readFile(file, 'utf8'),
      `# arch pins\n${'d'.repeat(64)}  z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst\n`,
    )
  })

  it('alpine: hashes the cached .apk files (APKINDEX has only a SHA-1 of the control segment); a package without one is an error', async () => {
    const root = path.join(dir, 'alpine')
    const repo = 'https://mirror.invalid/alpine/v3.19/main'
    await mkdir(path.join(root, 'etc/apk/cache'), {recursive: true})
    await mkdir(path.join(root, 'lib/apk/db'), {recursive: true})
    await writeFile(path.join(root, 'etc/apk/arch'), 'x86_64\n')
    await writeFile(path.join(root, 'etc/apk/repositories'), `# main\n${repo}\n`)
    await writeFile(
      path.join(root, 'lib/apk/db/installed'),
      'C:Q1musl=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nC:Q1bb=\nP:busybox\nV:1.36.1-r15\nA:x86_64\n\n',
    )
    const id = createHash('sha1').update(repo).digest('hex').slice(0, 8)
    await writeFile(
      path.join(root, 'etc/apk/cache', `APKINDEX.${id}.tar.gz`),
      gzipSync(tar({APKINDEX: 'C:Q1musl=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nC:Q1bb=\nP:busybox\nV:1.36.1-r15\n\n'})),
    )
    const musl = Buffer.from('musl apk bytes')
    await writeFile(path.join(root, 'etc/apk/cache', 'musl-1.2.4-r2.0a1b2c3d.apk'), musl)
    await assert.rejects(
      generateHashes({root, distro: 'alpine', packages: [], exec: fakeExec(), logger: silentLogger}),
      (e: Error) =>
        e instanceof GenerateError &&
        /^alpine: no cached \.apk file to hash for: busybox-1\.36\.1-r15 \(APKINDEX only carries a SHA-1/.test(
          e.message,
        ),
    )
    const r = await generateHashes({root, distro: 'alpine', packages: ['musl'], exec: fakeExec(), logger: silentLogger})
    assert.deepEqual(r.entries, [{sha256: sha(musl), name: 'v3.19/main/x86_64/musl-1.2.4-r2.apk'}])
  })
})
