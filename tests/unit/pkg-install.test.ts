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
import {planInstall} from '../../src/pkg/install.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

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

  it('rpm: checks signatures with rpmkeys, then rpm -Uvh, both with --root', async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${A}  hello/2.12/1.fc40/x86_64/hello-2.12-1.fc40.x86_64.rpm\n${B}  b/1/1/noarch/bash-5.2-1.fc40.x86_64.rpm\n`,
      },
    ])
    const exec = fakeExec((argv) => {
      if (argv.includes('-qp')) return {stdout: 'bash\t0\t5.2\t1.fc40\tx86_64\nhello\t0\t2.12\t1.fc40\tx86_64\n'}
      if (argv.includes('-qa')) return {stdout: 'bash\t0\t5.2\t1.fc40\tx86_64\n'}
      return undefined
    })
    const plan = await planInstall({root, distro: 'fedora', entries, cache, exec, logger: silentLogger})
    const staged = join(plan.stagingDir, 'hello-2.12-1.fc40.x86_64.rpm')
    assert.deepEqual(plan.commands, [
      ['rpmkeys', '--root', root, '--checksig', staged],
      ['rpm', '--root', root, '-Uvh', staged],
    ])
    assert.equal(plan.skipped.length, 1)
  })

  it('pacman: verifies each .sig with pacman-key, then one pacman --upgrade; full versions with epochs from the file name', async () => {
    const entries = parseHashFiles([
      {
        file: 'S',
        text: `${A}  z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst\n${B}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst\n${C}  h/hello/hello-2.12-2-x86_64.pkg.tar.zst.sig\n`,
      },
    ])
    const exec = fakeExec()
    const plan = await planInstall({root, distro: 'arch', entries, cache, exec, logger: silentLogger})
    const staged = join(plan.stagingDir, 'hello-2.12-2-x86_64.pkg.tar.zst')
    assert.deepEqual(
      plan.skipped.map((s) => s.name),
      ['z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst'],
    )
    assert.deepEqual(plan.commands, [
      ['pacman-key', '--gpgdir', join(root, 'etc/pacman.d/gnupg'), '--verify', `${staged}.sig`, staged],
      ['pacman', '--root', root, '--upgrade', '--noconfirm', staged],
    ])
    assert.equal(exec.calls.length, 0)
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
