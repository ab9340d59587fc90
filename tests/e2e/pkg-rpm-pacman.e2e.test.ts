/**
 * rpm and pacman for real: the test bed's own signed packages (step pkg-repos: rpmbuild + createrepo_c,
 * makepkg + repo-add; repro-app needs repro-base) served over http by this test on 127.0.0.1.
 * - `hash generate --distro fedora|arch` from the real repodata / sync db in a root where rpm / pacman
 *   installed them (the roots are made here with the real tools, not with repro);
 * - `get install` into empty roots with the real `rpm --root` and `pacman --root`, signatures checked with
 *   `--key`; a package signed by another key, an unsigned rpm and a wrong checksum are refused and leave
 *   the root as it was;
 * - two installs of the same hash file are compared file by file: the stamps that remain are asserted
 *   exactly (README "rpm and pacman installs" lists them);
 * - the Dockerfiles `repro dockerfile generate` writes for Fedora and Arch build with `repro build --hashfile`
 *   on the test bed (docker + the local BuildKit image) from these repositories. There is no Fedora or Arch
 *   image here (no registry to pull from), so the bases are made in this test: the test bed's busybox root
 *   plus the host's own rpm (Debian's 4.18) or pacman (6.0.2, with gpg and a keyring holding the test key,
 *   LocalFileSigLevel = Required), with their libraries, assembled into an OCI layout by hand. The
 *   Dockerfile.generate-hash files need dnf / pacman -Sy against real mirrors: generated, not built.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {runCli} from '../support/cli.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

const run = promisify(execFile)
const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex')

type Repos = NonNullable<TestbedState['pkgRepos']>
const BUILDKIT = 'v0.32.2'

function repos(): Repos {
  const s = readTestbedState()
  if (!s.pkgRepos)
    throw new Error('the test bed has no local rpm/pacman repositories (step pkg-repos): run `npm run testbed -- up`')
  return s.pkgRepos
}

/** Serve DIR read-only on 127.0.0.1 (regular files under it only). */
async function serve(dir: string): Promise<{server: Server; url: string}> {
  const server = createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    const file = path.join(dir, rel)
    if (!file.startsWith(dir + path.sep)) {
      res.writeHead(403).end()
      return
    }
    stat(file).then(
      (st) => {
        if (!st.isFile()) {
          res.writeHead(404).end()
          return
        }
        res.writeHead(200, {'content-length': st.size})
        createReadStream(file).pipe(res)
      },
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`}
}

interface Entry {
  type: string
  mode: number
  uid: number
  gid: number
  mtime: number
  content: string
}

/** Every entry of a root: type, mode, owner, whole-second mtime and content (sha256 or link target). */
async function walk(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>()
  const visit = async (rel: string): Promise<void> => {
    const p = path.join(root, rel)
    const st = await lstat(p)
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other'
    out.set(rel, {
      type,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      content: type === 'file' ? await sha256(p) : type === 'link' ? await readlink(p) : '',
    })
    if (type === 'dir') for (const n of (await readdir(p)).sort()) await visit(rel === '.' ? n : `${rel}/${n}`)
  }
  await visit('.')
  return out
}

/** pacman's desc files: which %FIELD%s differ between two versions */
function descFields(a: string, b: string): string[] {
  const fields = (t: string): Map<string, string> =>
    new Map(
      t
        .split('\n\n')
        .filter(Boolean)
        .map((blk) => [blk.split('\n')[0], blk] as [string, string]),
    )
  const fa = fields(a)
  const fb = fields(b)
  return [...new Set([...fa.keys(), ...fb.keys()])].filter((k) => fa.get(k) !== fb.get(k)).sort()
}

/** The stamps two installs show, one "path: what" line each, sorted. */
async function stamps(a: string, b: string, epoch: number): Promise<string[]> {
  const wa = await walk(a)
  const wb = await walk(b)
  const out: string[] = []
  for (const p of [...new Set([...wa.keys(), ...wb.keys()])].sort()) {
    const x = wa.get(p)
    const y = wb.get(p)
    if (!x || !y) {
      out.push(`${p}: only in one install`)
      continue
    }
    for (const k of ['type', 'mode', 'uid', 'gid'] as const) if (x[k] !== y[k]) out.push(`${p}: ${k}`)
    // a wall-clock mtime: later than SOURCE_DATE_EPOCH (what the packages' own files carry) in either install;
    // mtimes of files written through mmap (sqlite's -shm) need not change on every write, so no comparison
    if (x.mtime > epoch || y.mtime > epoch) out.push(`${p}: mtime`)
    if (x.content !== y.content) {
      if (p.startsWith('var/lib/pacman/local/') && p.endsWith('/desc'))
        for (const f of descFields(await readFile(path.join(a, p), 'utf8'), await readFile(path.join(b, p), 'utf8')))
          out.push(`${p}: ${f}`)
      else out.push(`${p}: content`)
    }
  }
  return out
}

const exists = async (p: string): Promise<boolean> =>
  lstat(p).then(
    () => true,
    () => false,
  )

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms)
  })

describe('rpm and pacman installs from hash files, for real (test bed repositories)', () => {
  let r: Repos
  let dir: string
  let server: Server
  let url: string
  let env: Record<string, string>

  before(async () => {
    r = repos()
    dir = await mkdtemp(path.join(tmpdir(), 'repro-rpm-pacman-e2e-'))
    ;({server, url} = await serve(r.dir))
    env = {SOURCE_DATE_EPOCH: String(r.epoch), REPRO_CACHE: path.join(dir, 'cache')}
  })
  after(async () => {
    server?.close()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  const cli = (args: string[], extra: Record<string, string> = {}) =>
    runCli(args, {env: {...env, ...extra}, timeoutMs: 120_000})

  describe('fedora (rpm 4.18)', () => {
    const dbpath = ['--dbpath', '/usr/lib/sysimage/rpm']
    let sums: string
    const provider = (): string => `${url}/rpm/{{.Basename}}`

    before(async () => {
      // a root set up by hand: the key imported and both packages installed by rpm itself, the repository
      // metadata where dnf keeps it
      const gen = path.join(dir, 'fedora-gen')
      await run('rpmkeys', ['--root', gen, ...dbpath, '--import', r.keys.signer])
      const rpms = (await readdir(r.rpm.repo)).filter((n) => n.endsWith('.rpm')).map((n) => path.join(r.rpm.repo, n))
      await run('rpm', ['--root', gen, ...dbpath, '-U', ...rpms])
      await mkdir(path.join(gen, 'var/cache/dnf/repro-local'), {recursive: true})
      await cp(path.join(r.rpm.repo, 'repodata'), path.join(gen, 'var/cache/dnf/repro-local/repodata'), {
        recursive: true,
      })
      const g = await cli(['hash', 'generate', '--distro', 'fedora', '--root', gen])
      assert.equal(g.code, 0, g.stderr)
      sums = path.join(dir, 'SHA256SUMS-fedora')
      await writeFile(sums, g.stdout)
    })

    it('hash generate: koji names and the sha256 of the real files, from createrepo_c repodata', async () => {
      const text = await readFile(sums, 'utf8')
      assert.equal(
        text,
        `${await sha256(path.join(r.rpm.repo, 'repro-app-2.1-3.noarch.rpm'))}  repro-app/2.1/3/noarch/repro-app-2.1-3.noarch.rpm\n` +
          `${await sha256(path.join(r.rpm.repo, 'repro-base-1.0-1.noarch.rpm'))}  repro-base/1.0/1/noarch/repro-base-1.0-1.noarch.rpm\n`,
      )
    })

    it('get install into two empty roots: both packages (the dependency resolved in one batch), signatures checked; the remaining stamps are exactly these', async () => {
      const roots = [path.join(dir, 'fedora-a'), path.join(dir, 'fedora-b')]
      for (const [i, root] of roots.entries()) {
        if (i > 0) await sleep(1100) // the second install starts in another second: every wall-clock stamp differs
        const res = await cli([
          'get',
          'install',
          '--distro',
          'fedora',
          '--root',
          root,
          '--provider',
          provider(),
          '--key',
          r.keys.signer,
          sums,
        ])
        assert.equal(res.code, 0, res.stderr)
        assert.match(res.stdout, /^2 installed, 0 already installed$/m)
        assert.match(res.stderr, /repro-app-2\.1-3\.noarch\.rpm: digests signatures OK/)
      }
      const q = await run('rpm', [
        '--root',
        roots[0],
        ...dbpath,
        '-qa',
        '--qf',
        '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{INSTALLTIME} %{INSTALLTID}\\n',
      ])
      // SOURCE_DATE_EPOCH clamps rpm's install time and transaction id (rpm >= 4.18); each package gets +1
      assert.deepEqual(q.stdout.trim().split('\n').sort(), [
        `gpg-pubkey 0:${r.keys.fingerprint.slice(-8).toLowerCase()}-${r.epoch.toString(16)} ${r.epoch} ${r.epoch}`,
        `repro-app 1:2.1-3 ${r.epoch + 1} ${r.epoch}`,
        `repro-base 0:1.0-1 ${r.epoch} ${r.epoch}`,
      ])
      assert.equal(await readFile(path.join(roots[0], 'usr/share/repro-base/VERSION'), 'utf8'), 'base 1.0\n')
      assert.deepEqual(await stamps(roots[0], roots[1], r.epoch), [
        '.: mtime',
        'etc: mtime',
        'usr: mtime',
        'usr/bin: mtime',
        'usr/lib: mtime',
        'usr/lib/sysimage: mtime',
        'usr/lib/sysimage/rpm: mtime',
        'usr/lib/sysimage/rpm/.rpm.lock: mtime',
        'usr/lib/sysimage/rpm/rpmdb.sqlite: mtime',
        'usr/lib/sysimage/rpm/rpmdb.sqlite-shm: mtime',
        'usr/lib/sysimage/rpm/rpmdb.sqlite-shm: content',
        'usr/lib/sysimage/rpm/rpmdb.sqlite-wal: mtime',
        'usr/share: mtime',
        'usr/share/repro-base: mtime',
      ])
    })

    it('a second install skips both exact versions (epoch included)', async () => {
      const res = await cli([
        'get',
        'install',
        '--distro',
        'fedora',
        '--root',
        path.join(dir, 'fedora-a'),
        '--provider',
        provider(),
        '--key',
        r.keys.signer,
        sums,
      ])
      assert.equal(res.code, 0, res.stderr)
      assert.match(res.stdout, /^0 installed, 2 already installed$/m)
    })

    it('a package signed by a key that was not given is refused before the root is touched', async () => {
      const root = path.join(dir, 'fedora-otherkey')
      const res = await cli([
        'get',
        'install',
        '--distro',
        'fedora',
        '--root',
        root,
        '--provider',
        provider(),
        '--key',
        r.keys.other,
        sums,
      ])
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /rpmkeys .*--checksig/)
      assert.equal(await exists(root), false)
    })

    it('an unsigned rpm is refused (every package must carry a good signature)', async () => {
      const root = path.join(dir, 'fedora-unsigned')
      const file = path.join(dir, 'SHA256SUMS-unsigned')
      await writeFile(
        file,
        `${await sha256(path.join(r.rpm.unsigned, 'repro-base-1.0-1.noarch.rpm'))}  repro-base-1.0-1.noarch.rpm\n`,
      )
      const res = await cli([
        'get',
        'install',
        '--distro',
        'fedora',
        '--root',
        root,
        '--provider',
        `${url}/unsigned/{{.Basename}}`,
        '--key',
        r.keys.signer,
        file,
      ])
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /rpmkeys failed \(exit 1\): .*repro-base-1\.0-1\.noarch\.rpm: digests SIGNATURES NOT OK/)
      assert.equal(await exists(root), false)
    })

    it('a wrong checksum is refused before anything is installed', async () => {
      const root = path.join(dir, 'fedora-badsum')
      await mkdir(root)
      const bad = path.join(dir, 'SHA256SUMS-fedora-bad')
      const text = await readFile(sums, 'utf8')
      await writeFile(bad, text.replace(/^[0-9a-f]{64}(?= {2}repro-base)/m, '0'.repeat(64)))
      const res = await cli([
        'get',
        'install',
        '--distro',
        'fedora',
        '--root',
        root,
        '--provider',
        provider(),
        '--key',
        r.keys.signer,
        '--cache',
        path.join(dir, 'cache-badsum'),
        bad,
      ])
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /SHA256SUMS-fedora-bad:2/)
      assert.match(res.stderr, /sha256|checksum/i)
      assert.deepEqual(await readdir(root), [])
    })
  })

  describe('arch (pacman 6.0.2)', () => {
    let sums: string
    const provider = (): string => `${url}/pacman/{{.Basename}}`

    before(async () => {
      // a root set up by hand with pacman itself (its own throwaway keyring), and the repo-add database as a sync db
      const gen = path.join(dir, 'arch-gen')
      const gnupg = path.join(dir, 'arch-gen-gnupg')
      await mkdir(path.join(gen, 'var/lib/pacman/sync'), {recursive: true})
      await mkdir(gnupg, {mode: 0o700})
      const gpg = ['--homedir', gnupg, '--batch', '--quiet', '--no-autostart']
      await run('gpg', [
        ...gpg,
        '--no-default-keyring',
        '--keyring',
        path.join(gnupg, 'pubring.gpg'),
        '--import',
        r.keys.signer,
      ])
      await writeFile(path.join(dir, 'ownertrust'), `${r.keys.fingerprint}:6:\n`)
      await run('gpg', [...gpg, '--import-ownertrust', path.join(dir, 'ownertrust')])
      await writeFile(path.join(dir, 'pacman.conf'), '[options]\nArchitecture = auto\nSigLevel = Required\n')
      const pkgs = (await readdir(r.pacman.repo))
        .filter((n) => n.endsWith('.pkg.tar.zst'))
        .map((n) => path.join(r.pacman.repo, n))
      await run('pacman', [
        '--root',
        gen,
        '--dbpath',
        path.join(gen, 'var/lib/pacman'),
        '--config',
        path.join(dir, 'pacman.conf'),
        '--gpgdir',
        gnupg,
        '--logfile',
        '/dev/null',
        '--noconfirm',
        '-U',
        ...pkgs,
      ])
      await cp(r.pacman.db, path.join(gen, 'var/lib/pacman/sync/repro.db'))
      const g = await cli(['hash', 'generate', '--distro', 'arch', '--root', gen])
      assert.equal(g.code, 0, g.stderr)
      sums = path.join(dir, 'SHA256SUMS-arch')
      await writeFile(sums, g.stdout)
    })

    it("hash generate: archive names, each package with its .sig (the sha256 of %PGPSIG%), from repo-add's database", async () => {
      const f = (n: string): string => path.join(r.pacman.repo, n)
      assert.equal(
        await readFile(sums, 'utf8'),
        `${await sha256(f('repro-app-1:2.1-3-any.pkg.tar.zst'))}  r/repro-app/repro-app-1:2.1-3-any.pkg.tar.zst\n` +
          `${await sha256(f('repro-app-1:2.1-3-any.pkg.tar.zst.sig'))}  r/repro-app/repro-app-1:2.1-3-any.pkg.tar.zst.sig\n` +
          `${await sha256(f('repro-base-1.0-1-any.pkg.tar.zst'))}  r/repro-base/repro-base-1.0-1-any.pkg.tar.zst\n` +
          `${await sha256(f('repro-base-1.0-1-any.pkg.tar.zst.sig'))}  r/repro-base/repro-base-1.0-1-any.pkg.tar.zst.sig\n`,
      )
    })

    it('get install into two empty roots: both packages, signatures checked (gpgv, then pacman itself); the remaining stamps are exactly these', async () => {
      const roots = [path.join(dir, 'arch-a'), path.join(dir, 'arch-b')]
      for (const [i, root] of roots.entries()) {
        if (i > 0) await sleep(1100)
        const res = await cli([
          'get',
          'install',
          '--distro',
          'arch',
          '--root',
          root,
          '--provider',
          provider(),
          '--key',
          r.keys.signer,
          sums,
        ])
        assert.equal(res.code, 0, res.stderr)
        assert.match(res.stdout, /^2 installed, 0 already installed$/m)
      }
      const desc = await readFile(path.join(roots[0], 'var/lib/pacman/local/repro-app-1:2.1-3/desc'), 'utf8')
      assert.match(desc, /%VALIDATION%\npgp\n/)
      assert.match(desc, /%DEPENDS%\nrepro-base=1\.0-1\n/)
      // pacman 6.0.2 writes the wall-clock time, SOURCE_DATE_EPOCH or not
      assert.ok(Number(/%INSTALLDATE%\n(\d+)/.exec(desc)?.[1]) > r.epoch)
      assert.equal(await exists(path.join(roots[0], 'etc/pacman.d/gnupg')), false, 'no keyring is left in the root')
      assert.deepEqual(await stamps(roots[0], roots[1], r.epoch), [
        '.: mtime',
        'etc: mtime',
        'usr: mtime',
        'usr/bin: mtime',
        'usr/share: mtime',
        'usr/share/repro-base: mtime',
        'var: mtime',
        'var/cache: mtime',
        'var/cache/pacman: mtime',
        'var/cache/pacman/pkg: mtime',
        'var/lib: mtime',
        'var/lib/pacman: mtime',
        'var/lib/pacman/local: mtime',
        'var/lib/pacman/local/ALPM_DB_VERSION: mtime',
        'var/lib/pacman/local/repro-app-1:2.1-3: mtime',
        'var/lib/pacman/local/repro-app-1:2.1-3/desc: mtime',
        'var/lib/pacman/local/repro-app-1:2.1-3/desc: %INSTALLDATE%',
        'var/lib/pacman/local/repro-app-1:2.1-3/files: mtime',
        'var/lib/pacman/local/repro-base-1.0-1: mtime',
        'var/lib/pacman/local/repro-base-1.0-1/desc: mtime',
        'var/lib/pacman/local/repro-base-1.0-1/desc: %INSTALLDATE%',
        'var/lib/pacman/local/repro-base-1.0-1/files: mtime',
      ])
    })

    it('a signature by a key that was not given is refused before the root is touched', async () => {
      const root = path.join(dir, 'arch-otherkey')
      const res = await cli([
        'get',
        'install',
        '--distro',
        'arch',
        '--root',
        root,
        '--provider',
        provider(),
        '--key',
        r.keys.other,
        sums,
      ])
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /gpgv/)
      assert.equal(await exists(root), false)
    })

    it('a hash file without the .sig entries is refused (pacman packages are installed only with their signature)', async () => {
      const nosig = path.join(dir, 'SHA256SUMS-arch-nosig')
      await writeFile(
        nosig,
        (await readFile(sums, 'utf8'))
          .split('\n')
          .filter((l) => !l.endsWith('.sig'))
          .join('\n'),
      )
      const root = path.join(dir, 'arch-nosig')
      const res = await cli([
        'get',
        'install',
        '--distro',
        'arch',
        '--root',
        root,
        '--provider',
        provider(),
        '--key',
        r.keys.signer,
        nosig,
      ])
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /has no r\/repro-app\/repro-app-1:2\.1-3-any\.pkg\.tar\.zst\.sig entry/)
      assert.equal(await exists(root), false)
    })

    it('a wrong checksum is refused before anything is installed', async () => {
      const root = path.join(dir, 'arch-badsum')
      await mkdir(root)
      const bad = path.join(dir, 'SHA256SUMS-arch-bad')
      await writeFile(
        bad,
        (await readFile(sums, 'utf8')).replace(
          /^[0-9a-f]{64}(?= {2}r\/repro-base\/repro-base-1\.0-1-any\.pkg\.tar\.zst\n)/m,
          'f'.repeat(64),
        ),
      )
      const res = await cli([
        'get',
        'install',
        '--distro',
        'arch',
        '--root',
        root,
        '--provider',
        provider(),
        '--key',
        r.keys.signer,
        '--cache',
        path.join(dir, 'cache-badsum-arch'),
        bad,
      ])
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /SHA256SUMS-arch-bad:3/)
      assert.deepEqual(await readdir(root), [])
    })
  })

  describe('the generated Fedora and Arch Dockerfiles, built on the test bed', () => {
    let state: TestbedState & {
      images: {busybox: {rootfsTar?: string}}
      buildkit: {versions: Record<string, {image?: {name: string}}>}
    }
    before(() => {
      state = readTestbedState() as typeof state
      assert.ok(state.docker?.ok, 'test bed: docker is not ok; run `npm run testbed -- up`')
      assert.ok(state.images.busybox.rootfsTar, 'test bed: no busybox root filesystem tar')
      assert.ok(state.buildkit.versions[BUILDKIT]?.image?.name, `test bed: no BuildKit ${BUILDKIT} image`)
    })

    /** busybox + the host's BINARIES with every library ldd lists, at the same paths */
    async function miniRoot(root: string, binaries: string[]): Promise<void> {
      await mkdir(root, {recursive: true})
      await run('tar', ['-xf', state.images.busybox.rootfsTar as string, '-C', root])
      for (const b of binaries) {
        // busybox has an rpm applet: no applet may shadow the real tool, whatever the PATH order
        for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin'])
          await rm(path.join(root, d, path.basename(b)), {force: true})
        const libs = (await run('ldd', [b])).stdout.match(/\/\S+/g) ?? []
        for (const f of [b, ...libs]) {
          await mkdir(path.join(root, path.dirname(f)), {recursive: true})
          await cp(f, path.join(root, f), {dereference: true})
        }
      }
    }

    /** ROOT as a one-layer OCI layout (sorted tar, uid 0, mtime 0); returns the manifest digest */
    async function ociLayout(root: string, layout: string, ref: string): Promise<string> {
      await mkdir(path.join(layout, 'blobs/sha256'), {recursive: true})
      const layer = path.join(layout, 'layer.tar')
      await run('tar', [
        '--sort=name',
        '--format=posix',
        '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
        '--mtime=@0',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '-C',
        root,
        '-cf',
        layer,
        '.',
      ])
      const blob = async (data: Buffer): Promise<{digest: string; size: number}> => {
        const hex = createHash('sha256').update(data).digest('hex')
        await writeFile(path.join(layout, 'blobs/sha256', hex), data)
        return {digest: `sha256:${hex}`, size: data.length}
      }
      const l = await blob(await readFile(layer))
      await rm(layer)
      const config = await blob(
        Buffer.from(
          JSON.stringify({
            architecture: 'amd64',
            os: 'linux',
            config: {Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh']},
            rootfs: {type: 'layers', diff_ids: [l.digest]},
          }),
        ),
      )
      const manifest = await blob(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: {mediaType: 'application/vnd.oci.image.config.v1+json', ...config},
            layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l}],
          }),
        ),
      )
      await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
      await writeFile(
        path.join(layout, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              ...manifest,
              annotations: {'org.opencontainers.image.ref.name': ref},
            },
          ],
        }),
      )
      return manifest.digest
    }

    /** every path in every layer of an image archive (docker or OCI format) */
    async function layerPaths(archive: string): Promise<Set<string>> {
      const x = path.join(path.dirname(archive), `${path.basename(archive)}.x`)
      await mkdir(x)
      await run('tar', ['-xf', archive, '-C', x])
      const out = new Set<string>()
      const walkFiles = async (d: string): Promise<string[]> => {
        const found: string[] = []
        for (const e of await readdir(d, {withFileTypes: true}))
          found.push(...(e.isDirectory() ? await walkFiles(path.join(d, e.name)) : [path.join(d, e.name)]))
        return found
      }
      for (const f of await walkFiles(x)) {
        const listed = await run('tar', ['-tf', f], {maxBuffer: 64 << 20}).catch(() => undefined)
        for (const line of listed?.stdout.split('\n') ?? []) if (line) out.add(line.replace(/^\.\//, ''))
      }
      await rm(x, {recursive: true, force: true})
      return out
    }

    async function buildGenerated(opts: {
      distro: 'fedora' | 'arch'
      name: string
      root: string
      sums: string
      provider: string
      /** a build expected to fail: its stderr */
      fails?: boolean
    }): Promise<{files: Set<string>; stderr: string}> {
      const tag = path.basename(opts.root)
      const layout = path.join(dir, `${tag}-layout`)
      const digest = await ociLayout(opts.root, layout, 'mini')
      const base = `${opts.name}:mini@${digest}`
      const gen = path.join(dir, `${tag}-generated`)
      const g = await cli(['dockerfile', 'generate', '--sde', String(r.epoch), gen, base, 'repro-base', 'repro-app'])
      assert.equal(g.code, 0, g.stderr)
      assert.match(
        await readFile(path.join(gen, 'Dockerfile'), 'utf8'),
        new RegExp(`ARG BASE=${base.replace(/[.]/g, '\\.')}`),
      )
      // a hash file without an architecture suffix applies to every platform
      const hashfile = path.join(dir, `${tag}-build`, 'SHA256SUMS')
      await mkdir(path.dirname(hashfile))
      await cp(opts.sums, hashfile)
      const out = path.join(dir, `${tag}-image.tar`)
      const args = [
        'build',
        '--runtime',
        'docker',
        '--buildkit-image',
        state.buildkit.versions[BUILDKIT].image?.name as string,
        '--sde',
        String(r.epoch),
        '--platform',
        'linux/amd64',
        '--distro',
        opts.distro,
        '--provider',
        opts.provider,
        '--pkg-cache',
        path.join(dir, `${tag}-pkg-cache`),
        '--hashfile',
        hashfile,
        '--build-context',
        `${base}=oci-layout://${layout}@${digest}`,
        '--json',
        '-o',
        out,
        gen,
      ]
      const b = await runCli(args, {env: {...env, DOCKER_HOST: state.docker.host}, timeoutMs: 15 * 60_000})
      if (opts.fails) {
        assert.equal(b.code, 2, `repro ${args.join(' ')} should fail:\n${b.stderr.slice(-4000)}`)
        return {files: new Set(), stderr: b.stderr}
      }
      assert.equal(b.code, 0, `repro ${args.join(' ')} failed:\n${b.stderr.slice(-4000)}`)
      return {files: await layerPaths(out), stderr: b.stderr}
    }

    it('Fedora: the generated Dockerfile installs both rpms with --network=none on an rpm base', async () => {
      const root = path.join(dir, 'fedora-mini')
      // busybox's static sh runs its own rpm applet whatever the PATH says: dash is /bin/sh here
      await miniRoot(root, ['/usr/bin/rpm', '/usr/bin/dash'])
      await rm(path.join(root, 'bin/sh'))
      await symlink('../usr/bin/dash', path.join(root, 'bin/sh'))
      await cp('/usr/lib/rpm', path.join(root, 'usr/lib/rpm'), {recursive: true})
      await writeFile(path.join(root, 'etc/os-release'), 'ID=fedora\nNAME="repro test bed rpm base"\n')
      const {files} = await buildGenerated({
        distro: 'fedora',
        name: 'localhost/repro-e2e-rpm-pacman/fedora',
        root,
        sums: path.join(dir, 'SHA256SUMS-fedora'),
        provider: `${url}/rpm/{{.Basename}}`,
      })
      assert.ok(files.has('usr/bin/repro-app'), 'repro-app installed')
      assert.ok(files.has('usr/share/repro-base/VERSION'), 'repro-base installed')
    })

    async function archRoot(root: string, trusted: boolean): Promise<void> {
      await miniRoot(root, ['/usr/bin/pacman', '/usr/bin/gpg', '/usr/bin/gpgconf'])
      await mkdir(path.join(root, 'var/lib/pacman'), {recursive: true})
      const gnupg = path.join(root, 'etc/pacman.d/gnupg')
      await mkdir(gnupg, {recursive: true, mode: 0o700})
      const gpg = ['--homedir', gnupg, '--batch', '--quiet', '--no-autostart']
      await run('gpg', [
        ...gpg,
        '--no-default-keyring',
        '--keyring',
        path.join(gnupg, 'pubring.gpg'),
        '--import',
        trusted ? r.keys.signer : r.keys.other,
      ])
      const fpr = trusted
        ? r.keys.fingerprint
        : ((await run('gpg', [...gpg, '--with-colons', '--show-keys', r.keys.other])).stdout.match(
            /^fpr:+([0-9A-F]+):/m,
          )?.[1] ?? '')
      await writeFile(path.join(root, 'ownertrust'), `${fpr}:6:\n`)
      await run('gpg', [...gpg, '--import-ownertrust', path.join(root, 'ownertrust')])
      await rm(path.join(root, 'ownertrust'))
      await rm(path.join(gnupg, 'pubring.gpg~'), {force: true})
      await writeFile(
        path.join(root, 'etc/pacman.conf'),
        '[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\nLocalFileSigLevel = Required\n',
      )
      await writeFile(path.join(root, 'etc/os-release'), 'ID=arch\nNAME="repro test bed pacman base"\n')
    }

    it('Arch: the generated Dockerfile installs both packages with --network=none, pacman checking each .sig in the build', async () => {
      const root = path.join(dir, 'arch-mini')
      await archRoot(root, true)
      const {files} = await buildGenerated({
        distro: 'arch',
        name: 'localhost/repro-e2e-rpm-pacman/archlinux',
        root,
        sums: path.join(dir, 'SHA256SUMS-arch'),
        provider: `${url}/pacman/{{.Basename}}`,
      })
      assert.ok(files.has('usr/bin/repro-app'), 'repro-app installed')
      assert.ok(files.has('var/lib/pacman/local/repro-app-1:2.1-3/desc'), "pacman's local db records repro-app")
    })

    it('Arch: with only another key trusted in the base, pacman refuses the packages inside the build', async () => {
      const root = path.join(dir, 'arch-mini-otherkey')
      await archRoot(root, false)
      const {stderr} = await buildGenerated({
        distro: 'arch',
        name: 'localhost/repro-e2e-rpm-pacman/archlinux',
        root,
        sums: path.join(dir, 'SHA256SUMS-arch'),
        provider: `${url}/pacman/{{.Basename}}`,
        fails: true,
      })
      // the signer's key is not in the base's keyring: pacman tries to fetch it (no network), then refuses
      assert.match(stderr, /error: required key missing from keyring/)
      assert.match(stderr, /'\/repro\/amd64\/repro-base-1\.0-1-any\.pkg\.tar\.zst': unexpected error/)
    })
  })
})
