import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {InvalidArgumentError} from '../../src/errors.js'
import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {PackageCache} from '../../src/pkg/cache.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {InstallError, planInstall, planScript} from '../../src/pkg/install.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)
const D = 'd'.repeat(64)

describe('install plans', () => {
  let dir: string
  let root: string
  let cache: PackageCache
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'repro-install-'))
    root = join(dir, 'root')
    cache = new PackageCache(join(dir, 'cache'))
    await mkdir(join(root, 'var/lib/dpkg'), {recursive: true})
    await writeFile(
      join(root, 'var/lib/dpkg/status'),
      'Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n\nPackage: epochy\nStatus: install ok installed\nArchitecture: all\nVersion: 1:0.5-2\n',
    )
    await mkdir(join(root, 'var/lib/pacman/local/zstd-1:1.5.6-1'), {recursive: true})
    await writeFile(
      join(root, 'var/lib/pacman/local/zstd-1:1.5.6-1/desc'),
      '%NAME%\nzstd\n\n%VERSION%\n1:1.5.6-1\n\n%ARCH%\nx86_64\n',
    )
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('deb: skips the exact installed version, epoch included; one dpkg --root --install batch', async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${A}  pool/h/hello_2.10-3_amd64.deb\n${B}  pool/e/epochy_0.5-2_all.deb\n${C}  pool/s/sl_5.02-1+b1_amd64.deb\n`,
      },
    ])
    const exec = fakeExec((argv) => {
      if (argv[0] !== 'dpkg-deb') return undefined
      const file = argv[2]
      if (file.endsWith(A)) return {stdout: 'Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n'}
      // same file-name version as the installed 1:0.5-2, but epoch 0: a different version, not skipped
      if (file.endsWith(B)) return {stdout: 'Package: epochy\nVersion: 0.5-2\nArchitecture: all\n'}
      return {stdout: 'Package: sl\nVersion: 5.02-1+b1\nArchitecture: amd64\n'}
    })
    const plan = await planInstall({root, distro: 'debian', entries, cache, exec, logger: silentLogger})
    assert.deepEqual(plan.skipped, [
      {name: 'pool/h/hello_2.10-3_amd64.deb', reason: 'hello 2.10-3 (amd64) is installed'},
    ])
    assert.deepEqual(
      plan.install.map((p) => p.package.version),
      ['0.5-2', '5.02-1+b1'],
    )
    assert.deepEqual(plan.commands, [
      [
        'dpkg',
        '--root',
        root,
        '--install',
        join(plan.stagingDir, 'epochy_0.5-2_all.deb'),
        join(plan.stagingDir, 'sl_5.02-1+b1_amd64.deb'),
      ],
    ])
    assert.deepEqual(
      exec.calls.map((c) => c.slice(0, 2)),
      [
        ['dpkg-deb', '--field'],
        ['dpkg-deb', '--field'],
        ['dpkg-deb', '--field'],
      ],
    )
  })

  it("rpm: explicit --dbpath (Debian's rpm defaults to ~/.rpmdb); rpmkeys --checksig then rpm -Uvh, every signature required", async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${A}  hello/2.12/1.fc40/x86_64/hello-2.12-1.fc40.x86_64.rpm\n${B}  b/1/1/noarch/bash-5.2-1.fc40.x86_64.rpm\n`,
      },
    ])
    // a root with an rpmdb at the old place: it is used, and rpm -qa reads it
    await mkdir(join(root, 'var/lib/rpm'), {recursive: true})
    const exec = fakeExec((argv) => {
      if (argv.includes('-qp')) return {stdout: 'bash\t0\t5.2\t1.fc40\tx86_64\nhello\t0\t2.12\t1.fc40\tx86_64\n'}
      if (argv.includes('-qa')) return {stdout: 'bash\t0\t5.2\t1.fc40\tx86_64\n'}
      return undefined
    })
    const plan = await planInstall({
      root,
      distro: 'fedora',
      entries,
      cache,
      exec,
      logger: silentLogger,
      sourceDateEpoch: 1704067200,
    })
    const staged = join(plan.stagingDir, 'hello-2.12-1.fc40.x86_64.rpm')
    const db = ['--root', root, '--dbpath', '/var/lib/rpm']
    assert.deepEqual(exec.calls.find((c) => c.includes('-qa'))?.slice(0, 6), ['rpm', ...db, '-qa'])
    assert.deepEqual(plan.commands, [
      ['rpmkeys', ...db, '--define', '_pkgverify_level all', '--checksig', staged],
      ['env', 'SOURCE_DATE_EPOCH=1704067200', 'rpm', ...db, '--define', '_pkgverify_level all', '-Uvh', staged],
    ])
    assert.equal(plan.skipped.length, 1)
    await rm(join(root, 'var/lib/rpm'), {recursive: true})
  })

  it('rpm with --key into an empty root: verified in a scratch root first, then the key is imported, no rpm -qa on a root without a database', async () => {
    const key = join(dir, 'key.asc')
    await writeFile(key, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n')
    const empty = join(dir, 'empty-fedora')
    const entries = parseHashFiles([{file: 'S', text: `${A}  hello/2.12/1.fc40/x86_64/hello-2.12-1.fc40.x86_64.rpm\n`}])
    const exec = fakeExec((argv) => (argv.includes('-qp') ? {stdout: 'hello\t0\t2.12\t1.fc40\tx86_64\n'} : undefined))
    const plan = await planInstall({
      root: empty,
      distro: 'fedora',
      entries,
      cache,
      exec,
      logger: silentLogger,
      keys: [key],
    })
    assert.equal(exec.calls.filter((c) => c.includes('-qa')).length, 0)
    const staged = join(plan.stagingDir, 'hello-2.12-1.fc40.x86_64.rpm')
    const scratch = ['--root', join(plan.stagingDir, 'keyroot'), '--dbpath', '/usr/lib/sysimage/rpm']
    const db = ['--root', empty, '--dbpath', '/usr/lib/sysimage/rpm']
    const strict = ['--define', '_pkgverify_level all']
    assert.deepEqual(plan.commands, [
      ['rpmkeys', ...scratch, '--import', key],
      ['rpmkeys', ...scratch, ...strict, '--checksig', staged],
      ['rpmkeys', ...db, '--import', key],
      ['rpm', ...db, ...strict, '-Uvh', staged],
    ])
  })

  it('pacman on /: pacman-key --verify of each .sig, then one pacman --upgrade; full versions with epochs from the file name', async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${A}  z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst\n${B}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst\n${C}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst.sig\n`,
      },
    ])
    // the installed set of / is read from /var/lib/pacman/local, which this host lacks: nothing is skipped
    const plan = await planInstall({
      root: '/',
      distro: 'arch',
      entries,
      cache,
      exec: fakeExec(),
      logger: silentLogger,
    }).catch((e: Error) => e)
    // zstd has no .sig entry: refused, naming the hash file and the entry
    assert.ok(plan instanceof InstallError)
    assert.equal(
      plan.message,
      'S: z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst has no z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst.sig entry; pacman packages are installed only with their signature checked',
    )
    const ok = await planInstall({
      root: '/',
      distro: 'arch',
      entries: entries.filter((e) => !e.name.startsWith('z/')),
      cache,
      exec: fakeExec(),
      logger: silentLogger,
    })
    const staged = join(ok.stagingDir, 'hello-2.12-2-x86_64.pkg.tar.zst')
    assert.deepEqual(ok.commands, [
      ['pacman-key', '--gpgdir', '/etc/pacman.d/gnupg', '--verify', `${staged}.sig`, staged],
      ['pacman', '--noconfirm', '--noprogressbar', '--upgrade', staged],
    ])
    assert.deepEqual(ok.files, [])
  })

  it('pacman into a root with --key: every path explicit, our pacman.conf (signatures required), a keyring for this install only, gpgv before the root is touched', async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${A}  z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst\n${D}  z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst.sig\n${B}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst\n${C}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst.sig\n`,
      },
    ])
    const key = join(dir, 'key.asc')
    await writeFile(key, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n')
    const FPR = 'EB0AE8FF2DBA3746D59CC4EE83916A4605AB9996'
    const exec = fakeExec((argv) =>
      argv.includes('--show-keys')
        ? {
            stdout: `pub:-:255:22:83916A4605AB9996:1704067200:::-:::scSC:::::ed25519:::0:\nfpr:::::::::${FPR}:\nuid:-::::1704067200::X::repro test bed::::::::::0:\n`,
          }
        : undefined,
    )
    const plan = await planInstall({
      root,
      distro: 'arch',
      entries,
      cache,
      exec,
      logger: silentLogger,
      keys: [key],
      sourceDateEpoch: 0,
    })
    const s = plan.stagingDir
    const staged = join(s, 'hello-2.12-2-x86_64.pkg.tar.zst')
    const g = join(s, 'gnupg')
    assert.deepEqual(
      plan.skipped.map((x) => x.name),
      ['z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst'],
    )
    assert.deepEqual(plan.files, [
      {
        path: join(s, 'pacman.conf'),
        content: '[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\nLocalFileSigLevel = Required\n',
      },
      {path: join(s, 'ownertrust.txt'), content: `${FPR}:6:\n`},
    ])
    const gpg = ['gpg', '--homedir', g, '--batch', '--no-autostart', '--quiet']
    assert.deepEqual(plan.commands, [
      ['mkdir', '-m', '0700', g],
      [...gpg, '--no-default-keyring', '--keyring', join(g, 'pubring.gpg'), '--import', key],
      [...gpg, '--import-ownertrust', join(s, 'ownertrust.txt')],
      ['gpgv', '--homedir', g, '--keyring', join(g, 'pubring.gpg'), `${staged}.sig`, staged],
      ['mkdir', '-p', join(root, 'var/lib/pacman')],
      [
        'env',
        'SOURCE_DATE_EPOCH=0',
        'pacman',
        '--noconfirm',
        '--noprogressbar',
        '--root',
        root,
        '--config',
        join(s, 'pacman.conf'),
        '--dbpath',
        join(root, 'var/lib/pacman'),
        '--cachedir',
        join(root, 'var/cache/pacman/pkg'),
        '--hookdir',
        join(root, 'etc/pacman.d/hooks'),
        '--logfile',
        join(s, 'pacman.log'),
        '--gpgdir',
        g,
        '--upgrade',
        staged,
      ],
    ])
    // --dry prints the staged files as here-documents, then the commands
    assert.equal(planScript(plan)[0], `cat > ${join(s, 'pacman.conf')} <<'EOF'\n${plan.files[0].content}EOF`)
  })

  it('--key: a missing file, a directory, a non-key file and keys for deb are refused naming the flag', async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${B}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst\n${C}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst.sig\n`,
      },
    ])
    const notKey = join(dir, 'not-a-key')
    await writeFile(notKey, 'hello\n')
    const cases: [string, string, 'arch' | 'debian'][] = [
      [join(dir, 'missing.asc'), `--key ${join(dir, 'missing.asc')}: ENOENT`, 'arch'],
      [dir, `--key ${dir}: not a regular file`, 'arch'],
      [notKey, `--key ${notKey}: not an OpenPGP public key (armored or binary)`, 'arch'],
      [notKey, '--key: deb installs do not take keys (only rpm and pacman do)', 'debian'],
    ]
    for (const [key, message, distro] of cases)
      await assert.rejects(
        planInstall({
          root,
          distro,
          entries: distro === 'arch' ? entries : [],
          cache,
          exec: fakeExec(),
          logger: silentLogger,
          keys: [key],
        }),
        (e: Error) => e instanceof InvalidArgumentError && e.message === message,
      )
  })

  it('apk: apk add --root --no-network; no --root flags when the root is /', async () => {
    const entries = parseHashFiles([{file: 'S', text: `${A}  v3.19/main/x86_64/musl-1.2.4-r2.apk\n`}])
    const plan = await planInstall({
      root: '/nonexistent-root-for-test',
      distro: 'alpine',
      entries,
      cache,
      exec: fakeExec(),
      logger: silentLogger,
    })
    assert.deepEqual(plan.commands[0].slice(0, 5), [
      'apk',
      'add',
      '--root',
      '/nonexistent-root-for-test',
      '--no-network',
    ])
  })

  it('refuses a file of another format, naming the line', async () => {
    const entries = parseHashFiles([{file: 'S', text: `\n${A}  x/hello-2.12-1.fc40.x86_64.rpm\n`}])
    await assert.rejects(
      planInstall({root, distro: 'debian', entries, cache, exec: fakeExec(), logger: silentLogger}),
      (e: Error) =>
        e instanceof InvalidArgumentError &&
        e.message === 'S:2: x/hello-2.12-1.fc40.x86_64.rpm is not a deb package file, and the distro is debian',
    )
  })
})
