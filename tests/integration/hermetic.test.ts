/**
 * src/hermetic with real files and real shells: the staged installer run by sh and busybox sh (with a
 * recording fake dpkg), the snapshot sources script run against fake root filesystems of Debian 11/12/13,
 * Ubuntu 22.04/24.04 and Arch, and the CLI (`repro snapshot sources`, `repro dockerfile generate`,
 * `repro build --dry --hashfile`) as a child process.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {executeStage, planPkgStage} from '../../src/hermetic/stage.js'
import {silentLogger} from '../../src/log.js'
import {PackageCache} from '../../src/pkg/cache.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {parseProvider} from '../../src/pkg/providers.js'
import {runCli} from '../support/cli.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const SHELLS = [['sh'], ['/bin/busybox', 'sh']]

function run(
  argv: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), {env: {...process.env, ...env}, cwd}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
    })
  })
}

let dir: string
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'repro-hermetic-int-'))
})
after(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('the staged installer', () => {
  let stageDir: string
  let fakeBin: string
  const files = {'pool/main/h/hello/hello_2.10-3_amd64.deb': 'hello', 'pool/main/t/tree/tree_2.1.0-1_amd64.deb': 'tree'}

  before(async () => {
    for (const [n, b] of Object.entries(files)) {
      await mkdir(path.join(dir, 'mirror', path.dirname(n)), {recursive: true})
      await writeFile(path.join(dir, 'mirror', n), b)
    }
    const text = Object.entries(files)
      .map(([n, b]) => `${sha(b)}  ${n}\n`)
      .join('')
    const stage = await planPkgStage({
      platforms: [
        {
          platform: 'linux/amd64',
          slug: 'amd64',
          hashFiles: ['SHA256SUMS-amd64'],
          entries: parseHashFiles([{file: 'SHA256SUMS-amd64', text}]),
        },
      ],
      cache: new PackageCache(path.join(dir, 'cache')),
      providers: [parseProvider(`file://${dir}/mirror/{{.Name}}`)],
      epoch: 0,
    })
    await executeStage(stage, silentLogger)
    stageDir = stage.dir
    fakeBin = path.join(dir, 'bin')
    await mkdir(fakeBin)
    // a dpkg that records its arguments
    await writeFile(path.join(fakeBin, 'dpkg'), `#!/bin/sh\necho "dpkg $*" >> "${dir}/dpkg.log"\n`)
    await chmod(path.join(fakeBin, 'dpkg'), 0o755)
  })

  it('verifies and installs every staged .deb with dpkg -i (sh)', async () => {
    await rm(path.join(dir, 'dpkg.log'), {force: true})
    const r = await run(['sh', path.join(stageDir, 'install')], {
      PATH: `${fakeBin}:${process.env.PATH}`,
      REPRO_KEEP_LOGS: '1',
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /repro install: 2 deb package\(s\) for amd64/)
    assert.equal(
      await readFile(path.join(dir, 'dpkg.log'), 'utf8'),
      `dpkg -i ${stageDir}/amd64/hello_2.10-3_amd64.deb ${stageDir}/amd64/tree_2.1.0-1_amd64.deb\n`,
    )
  })

  // busybox sh runs its own dpkg and rpm applets before PATH: an .apk set (no apk applet) for this shell
  it('verifies with busybox and installs .apk files with apk add --no-network (busybox sh)', async () => {
    assert.ok(existsSync('/bin/busybox'), 'this test needs /bin/busybox (apt-get install busybox-static)')
    const text = `${sha('apk')}  v3.22/main/x86_64/hello-2.12-r0.apk\n`
    await mkdir(path.join(dir, 'mirror/v3.22/main/x86_64'), {recursive: true})
    await writeFile(path.join(dir, 'mirror/v3.22/main/x86_64/hello-2.12-r0.apk'), 'apk')
    const stage = await planPkgStage({
      platforms: [
        {platform: 'linux/amd64', slug: 'amd64', hashFiles: ['h'], entries: parseHashFiles([{file: 'h', text}])},
      ],
      cache: new PackageCache(path.join(dir, 'cache')),
      providers: [parseProvider(`file://${dir}/mirror/{{.Name}}`)],
      epoch: 0,
    })
    await executeStage(stage, silentLogger)
    await writeFile(path.join(fakeBin, 'apk'), `#!/bin/sh\necho "apk $*" >> "${dir}/apk.log"\n`)
    await chmod(path.join(fakeBin, 'apk'), 0o755)
    const r = await run(['/bin/busybox', 'sh', path.join(stage.dir, 'install')], {
      PATH: `${fakeBin}:${process.env.PATH}`,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      await readFile(path.join(dir, 'apk.log'), 'utf8'),
      `apk add --no-network ${stage.dir}/amd64/hello-2.12-r0.apk\n`,
    )
  })

  it('refuses to install when a staged file changed, and when the platform is not staged', async () => {
    const copy = path.join(dir, 'copy')
    await run(['cp', '-a', stageDir, copy])
    await chmod(path.join(copy, 'amd64/tree_2.1.0-1_amd64.deb'), 0o644)
    await writeFile(path.join(copy, 'amd64/tree_2.1.0-1_amd64.deb'), 'tampered')
    await rm(path.join(dir, 'dpkg.log'), {force: true})
    const r = await run(['sh', path.join(copy, 'install')], {PATH: `${fakeBin}:${process.env.PATH}`})
    assert.notEqual(r.code, 0)
    assert.match(r.stdout + r.stderr, /tree_2\.1\.0-1_amd64\.deb: FAILED/)
    assert.match(r.stderr, /sha256 mismatch/)
    assert.equal(existsSync(path.join(dir, 'dpkg.log')), false, 'dpkg ran')
    const r2 = await run(['sh', path.join(stageDir, 'install'), 'arm64'], {PATH: `${fakeBin}:${process.env.PATH}`})
    assert.notEqual(r2.code, 0)
    assert.match(r2.stderr, /no packages staged for arm64 \(staged: amd64\)/)
  })
})

describe('repro snapshot sources', () => {
  let script: string

  before(async () => {
    const r = await runCli([
      'snapshot',
      'sources',
      '--datetime',
      '2024-01-01T00:00:00Z',
      '-o',
      path.join(dir, 'sources.sh'),
    ])
    assert.equal(r.code, 0, r.stderr)
    script = path.join(dir, 'sources.sh')
    assert.equal((await stat(script)).mode & 0o777, 0o755)
  })

  async function fakeRoot(name: string, osRelease: string, files: Record<string, string>): Promise<string> {
    const root = path.join(dir, 'roots', name)
    await mkdir(path.join(root, 'etc'), {recursive: true})
    await writeFile(path.join(root, 'etc/os-release'), osRelease)
    for (const [f, text] of Object.entries(files)) {
      await mkdir(path.join(root, path.dirname(f)), {recursive: true})
      await writeFile(path.join(root, f), text)
    }
    return root
  }

  const deb822 = (uri: string, suites: string) =>
    `Types: deb\nURIs: ${uri}\nSuites: ${suites}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`

  for (const shell of SHELLS) {
    it(`Debian 12 deb822: URIs rewritten to the snapshot archive (${shell.join(' ')})`, async () => {
      const root = await fakeRoot(`d12-${shell.length}`, 'ID=debian\nVERSION_ID="12"\n', {
        'etc/apt/sources.list.d/debian.sources': `${deb822('http://deb.debian.org/debian', 'bookworm bookworm-updates')}\n${deb822('http://deb.debian.org/debian-security', 'bookworm-security')}`,
      })
      const r = await run([...shell, script], {REPRO_SNAPSHOT_ROOT: root})
      assert.equal(r.code, 0, r.stderr)
      assert.equal(
        await readFile(path.join(root, 'etc/apt/sources.list.d/debian.sources'), 'utf8'),
        `${deb822('http://snapshot.debian.org/archive/debian/20240101T000000Z/', 'bookworm bookworm-updates')}Check-Valid-Until: no\n\n${deb822('http://snapshot.debian.org/archive/debian-security/20240101T000000Z/', 'bookworm-security')}Check-Valid-Until: no\n`,
      )
      assert.equal(existsSync(path.join(root, 'etc/apt/apt.conf.d/50repro-snapshot')), false)
    })
  }

  it('Debian 11 sources.list: one-line entries rewritten, options kept, comments untouched', async () => {
    const root = await fakeRoot('d11', 'ID=debian\nVERSION_ID="11"\n', {
      'etc/apt/sources.list':
        '# main\ndeb http://deb.debian.org/debian bullseye main\ndeb [arch=amd64] http://security.debian.org/debian-security bullseye-security main\n',
    })
    const r = await run(['sh', script], {REPRO_SNAPSHOT_ROOT: root})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      await readFile(path.join(root, 'etc/apt/sources.list'), 'utf8'),
      '# main\ndeb [check-valid-until=no] http://snapshot.debian.org/archive/debian/20240101T000000Z/ bullseye main\ndeb [check-valid-until=no arch=amd64] http://snapshot.debian.org/archive/debian-security/20240101T000000Z/ bullseye-security main\n',
    )
  })

  it("Debian 13 and Ubuntu 24.04: apt's Snapshot, with $SOURCE_DATE_EPOCH overriding the embedded time", async () => {
    const d13 = await fakeRoot('d13', 'ID=debian\nVERSION_ID="13"\n', {
      'etc/apt/sources.list.d/debian.sources': deb822('http://deb.debian.org/debian', 'trixie'),
    })
    const r = await run(['sh', script], {REPRO_SNAPSHOT_ROOT: d13})
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      await readFile(path.join(d13, 'etc/apt/sources.list.d/debian.sources'), 'utf8'),
      /^URIs: http:\/\/deb\.debian\.org\/debian\n(.*\n)*Snapshot: yes\n$/m,
    )
    assert.equal(
      await readFile(path.join(d13, 'etc/apt/apt.conf.d/50repro-snapshot'), 'utf8'),
      'APT::Snapshot "20240101T000000Z";\nAcquire::Check-Valid-Until "false";\n',
    )
    const u24 = await fakeRoot('u24', 'ID=ubuntu\nVERSION_ID="24.04"\n', {
      'etc/apt/sources.list.d/ubuntu.sources':
        'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble\nComponents: main\nSnapshot: no\n',
    })
    const r2 = await run(['sh', script], {REPRO_SNAPSHOT_ROOT: u24, SOURCE_DATE_EPOCH: '1700000000'})
    assert.equal(r2.code, 0, r2.stderr)
    // an explicit Snapshot field is the user's choice: kept
    assert.match(await readFile(path.join(u24, 'etc/apt/sources.list.d/ubuntu.sources'), 'utf8'), /Snapshot: no\n$/)
    assert.match(await readFile(path.join(u24, 'etc/apt/apt.conf.d/50repro-snapshot'), 'utf8'), /"20231114T221320Z"/)
  })

  it('Ubuntu 22.04: URIs rewritten to the snapshot service; Arch: the archive of the day', async () => {
    const u22 = await fakeRoot('u22', 'ID=ubuntu\nVERSION_ID="22.04"\n', {
      'etc/apt/sources.list':
        'deb http://archive.ubuntu.com/ubuntu/ jammy main\ndeb http://security.ubuntu.com/ubuntu/ jammy-security main\n',
    })
    assert.equal((await run(['sh', script], {REPRO_SNAPSHOT_ROOT: u22})).code, 0)
    assert.equal(
      await readFile(path.join(u22, 'etc/apt/sources.list'), 'utf8'),
      'deb [check-valid-until=no] http://snapshot.ubuntu.com/ubuntu/20240101T000000Z/ jammy main\ndeb [check-valid-until=no] http://snapshot.ubuntu.com/ubuntu/20240101T000000Z/ jammy-security main\n',
    )
    const arch = await fakeRoot('arch', 'ID=arch\n', {
      'etc/pacman.d/mirrorlist': 'Server = https://mirror/$repo/os/$arch\n',
    })
    assert.equal((await run(['sh', script], {REPRO_SNAPSHOT_ROOT: arch})).code, 0)
    assert.equal(
      await readFile(path.join(arch, 'etc/pacman.d/mirrorlist'), 'utf8'),
      'Server = https://archive.archlinux.org/repos/2024/01/01/$repo/os/$arch\n',
    )
  })

  it('fails clearly on an unknown distro, and without any epoch at all', async () => {
    const fedora = await fakeRoot('fedora', 'ID=fedora\nVERSION_ID=42\n', {})
    const r = await run(['sh', script], {REPRO_SNAPSHOT_ROOT: fedora})
    assert.equal(r.code, 1)
    assert.match(r.stderr, /distro 'fedora' has no snapshot archive repro knows/)
    const noEpoch = await runCli(['snapshot', 'sources'], {env: {SOURCE_DATE_EPOCH: '', REPRO_SOURCE_DATE_EPOCH: ''}})
    assert.equal(noEpoch.code, 0, noEpoch.stderr)
    assert.match(noEpoch.stderr, /no SOURCE_DATE_EPOCH given/)
    await writeFile(path.join(dir, 'runtime.sh'), noEpoch.stdout)
    const d12 = await fakeRoot('d12-noepoch', 'ID=debian\nVERSION_ID="12"\n', {
      'etc/apt/sources.list.d/debian.sources': deb822('http://deb.debian.org/debian', 'bookworm'),
    })
    const r2 = await run(['sh', path.join(dir, 'runtime.sh')], {REPRO_SNAPSHOT_ROOT: d12, SOURCE_DATE_EPOCH: ''})
    assert.equal(r2.code, 1)
    assert.match(r2.stderr, /SOURCE_DATE_EPOCH is not set/)
  })
})

describe('repro dockerfile generate', () => {
  const D = `sha256:${'2'.repeat(64)}`
  it('writes the Dockerfiles and scripts, and refuses to overwrite without --force', async () => {
    const out = path.join(dir, 'gen')
    const r = await runCli([
      'dockerfile',
      'generate',
      '--sde',
      '1704067200',
      '--json',
      out,
      `debian:bookworm@${D}`,
      'hello',
      'tree',
    ])
    assert.equal(r.code, 0, r.stderr)
    const res = JSON.parse(r.stdout) as {distro: string; snapshot: string; files: Array<{path: string}>}
    assert.equal(res.distro, 'debian')
    assert.equal(res.snapshot, '20240101T000000Z')
    assert.deepEqual(
      res.files.map((f) => f.path),
      ['Dockerfile', 'Dockerfile.generate-hash', 'repro-scripts/hash-generate', 'repro-scripts/snapshot-sources'],
    )
    assert.equal((await stat(path.join(out, 'repro-scripts/hash-generate'))).mode & 0o777, 0o755)
    const sh = await run(['sh', '-n', path.join(out, 'repro-scripts/hash-generate')])
    assert.equal(sh.code, 0, sh.stderr)
    const again = await runCli(['dockerfile', 'generate', '--sde', '0', out, `debian:bookworm@${D}`, 'hello'])
    assert.equal(again.code, 2)
    assert.match(again.stderr, /already exist; pass --force/)
    const forced = await runCli([
      'dockerfile',
      'generate',
      '--sde',
      '0',
      '--force',
      out,
      `debian:bookworm@${D}`,
      'hello',
    ])
    assert.equal(forced.code, 0, forced.stderr)
  })

  it('refuses a BASE without digest and says how to get one', async () => {
    const r = await runCli(['dockerfile', 'generate', '--sde', '0', path.join(dir, 'gen2'), 'debian:bookworm', 'hello'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^Error: BASE 'debian:bookworm': not pinned by digest/m)
    assert.match(r.stderr, /hint: docker buildx imagetools inspect debian:bookworm/)
    assert.equal(existsSync(path.join(dir, 'gen2')), false)
  })

  it('checks every distro script with sh -n', async () => {
    for (const [base, name] of [
      [`ubuntu:24.04@${D}`, 'u'],
      [`fedora:42@${D}`, 'f'],
      [`alpine:3.22@${D}`, 'a'],
      [`archlinux:base@${D}`, 'r'],
    ]) {
      const out = path.join(dir, `gen-${name}`)
      const r = await runCli(['dockerfile', 'generate', '--sde', '0', out, base, 'git'])
      assert.equal(r.code, 0, r.stderr)
      for (const s of ['hash-generate', 'snapshot-sources']) {
        const f = path.join(out, 'repro-scripts', s)
        if (!existsSync(f)) continue
        const c = await run(['sh', '-n', f])
        assert.equal(c.code, 0, `${base} ${s}: ${c.stderr}`)
      }
    }
  })
})

describe('repro build --dry --hashfile', () => {
  it('prints the staging (what comes from where) and the build, and downloads nothing', async () => {
    const ctx = path.join(dir, 'ctx')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n')
    await writeFile(path.join(ctx, 'SHA256SUMS-amd64'), `${sha('hello')}  pool/main/h/hello/hello_2.10-3_amd64.deb\n`)
    const cache = path.join(dir, 'dry-cache')
    const r = await runCli(
      [
        'build',
        '--sde',
        '0',
        '--dry',
        '--runtime',
        'buildkit',
        '--buildkit-addr',
        'unix:///nonexistent.sock',
        '--platform',
        'linux/amd64',
        '--hashfile',
        path.join(ctx, 'SHA256SUMS-amd64'),
        '--snapshot-sources',
        '--provider',
        'http://mirror.invalid/debian/{{.Name}}',
        '--pkg-cache',
        cache,
        '-o',
        path.join(dir, 'dry.tar'),
        ctx,
      ],
      {env: {PATH: '/nonexistent'}},
    )
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(
      lines[0],
      /^# stage build context repro-pkgs at .*\/dry-cache\/contexts\/repro-pkgs-[0-9a-f]{16}: amd64\//,
    )
    assert.ok(
      lines.includes(
        `#   pool/main/h/hello/hello_2.10-3_amd64.deb sha256:${sha('hello').slice(0, 12)}: fetch http://mirror.invalid/debian/pool/main/h/hello/hello_2.10-3_amd64.deb`,
      ),
      r.stdout,
    )
    assert.ok(lines.some((l) => l.startsWith('# stage build context repro-snapshot at ')))
    assert.ok(lines.some((l) => l.startsWith('buildctl ') && l.includes('--opt context:repro-pkgs=local:repro-pkgs')))
    assert.equal(existsSync(cache), false, '--dry created the cache')
  })

  it('names a platform without a hash file', async () => {
    const ctx = path.join(dir, 'ctx')
    const r = await runCli([
      'build',
      '--sde',
      '0',
      '--dry',
      '--runtime',
      'buildkit',
      '--buildkit-addr',
      'unix:///nonexistent.sock',
      '--platform',
      'linux/arm64',
      '--hashfile',
      path.join(ctx, 'SHA256SUMS-amd64'),
      ctx,
    ])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /no hash file for linux\/arm64/)
  })
})
