/**
 * repro get / hash on the test bed's real parts (tests/e2e/testbed, state file $REPRO_TESTBED_STATE):
 * its pinned .debs (lines of its SHA256SUMS, the ones a minbase root can configure) are installed with `repro get install --root` into its Debian root
 * filesystem (the mmdebstrap tar, extracted to a temp dir; dpkg --root runs the maintainer scripts in it),
 * a second install skips every exact version (fortunes-min carries an epoch), `hash generate --root` gives
 * the test bed's SHA256SUMS back, and the files go to the test bed's registry with `get push` and come
 * back through an oci+http:// provider.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {repro, STATE_FILE, type TestbedState} from '../support/pkg-fixtures.js'

/**
 * The pins whose dependencies a minbase root has (cowsay needs perl, sl needs libncurses6: dpkg would unpack
 * them and fail to configure, which tests Debian's dependency rules rather than repro).
 */
const INSTALLABLE = new Set(['hello', 'figlet', 'tree', 'libonig5', 'fortunes-min', 'libtext-charwidth-perl'])

const run = promisify(execFile)

function readState(): Required<Pick<TestbedState, 'debs' | 'registry'>> & {images: {debian: {rootfsTar: string}}} {
  if (!existsSync(STATE_FILE)) {
    throw new Error(
      process.env.CI
        ? `CI: the test bed state file ${STATE_FILE} is missing: the CI job must run \`npm run testbed -- up\` before the e2e tests`
        : `the test bed is not up (no ${STATE_FILE}): run \`npm run testbed -- up\` first`,
    )
  }
  const s = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as TestbedState
  if (!s.debs?.packages.length) throw new Error(`${STATE_FILE}: no .debs (the test bed's "debs" step did not run)`)
  if (!s.images?.debian?.rootfsTar)
    throw new Error(`${STATE_FILE}: no Debian root filesystem (images.debian.rootfsTar)`)
  if (!s.registry?.ok) throw new Error(`${STATE_FILE}: the registry is not up`)
  return s as never
}

describe('repro get / hash on the test bed (real .debs, Debian root filesystem, registry)', () => {
  let state: ReturnType<typeof readState>
  let dir: string
  let root: string
  let cache: string
  let sums: string
  let pins: NonNullable<TestbedState['debs']>['packages']

  before(async () => {
    state = readState()
    dir = await mkdtemp(path.join(tmpdir(), 'repro-pkg-e2e-'))
    root = path.join(dir, 'rootfs')
    cache = path.join(dir, 'cache')
    // a hash file of the installable pins, lines taken from the test bed's SHA256SUMS as they are
    pins = state.debs.packages.filter((p) => INSTALLABLE.has(p.name))
    assert.ok(pins.length >= 3, 'the test bed pins at least three installable packages')
    sums = path.join(dir, 'SHA256SUMS-amd64')
    const wanted = new Set(pins.map((p) => p.filename))
    const lines = (await readFile(state.debs.sha256sums, 'utf8')).split('\n').filter((l) => wanted.has(l.slice(66)))
    await writeFile(sums, `# test bed pins installable on minbase\n${lines.join('\n')}\n`)
    await mkdir(root)
    await run('tar', ['-xf', state.images.debian.rootfsTar, '-C', root, '--numeric-owner'])
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  const provider = (): string => `file://${state.debs.dir}/{{.Name}}`

  it('get install --root installs every pinned .deb into the Debian root filesystem with dpkg --root', async () => {
    const dry = await repro([
      'get',
      'install',
      '--dry',
      '--root',
      root,
      '--cache',
      cache,
      '--provider',
      provider(),
      sums,
    ])
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, new RegExp(`^dpkg --root ${root} --install `))

    const r = await repro([
      'get',
      'install',
      '--root',
      root,
      '--cache',
      cache,
      '--provider',
      provider(),
      sums,
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.distro, 'debian', 'detected from the root filesystem os-release')
    assert.equal(out.installed.length, pins.length)
    const {stdout} = await run('dpkg-query', [
      '--admindir',
      path.join(root, 'var/lib/dpkg'),
      '-W',
      '-f',
      '${Package}=${Version}\\n',
    ])
    const installed = new Set(stdout.trim().split('\n'))
    for (const p of pins) assert.ok(installed.has(`${p.name}=${p.version}`), `${p.name}=${p.version} installed`)
    const hello = await run('chroot', [root, '/usr/bin/hello'])
    assert.equal(hello.stdout, 'Hello, world!\n')
  })

  it('a second install skips every exact installed version, epochs included', async () => {
    const r = await repro([
      'get',
      'install',
      '--root',
      root,
      '--cache',
      cache,
      '--provider',
      provider(),
      sums,
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.installed.length, 0)
    assert.equal(out.skipped.length, pins.length)
    assert.ok(
      out.skipped.some((s: {reason: string}) => /^fortunes-min 1:/.test(s.reason)),
      'the epoch is part of the match',
    )
    assert.equal(out.commands.length, 0)
  })

  it('hash generate --root gives the test bed SHA256SUMS back from dpkg status + apt lists', async () => {
    // the root filesystem carries no apt lists (no sources): give it this machine's, which the pins came from
    const lists = path.join(root, 'var/lib/apt/lists')
    await mkdir(lists, {recursive: true})
    for (const n of await readdir('/var/lib/apt/lists'))
      if (/_Packages(\.\w+)?$/.test(n)) await cp(path.join('/var/lib/apt/lists', n), path.join(lists, n))
    const names = pins.map((p) => p.name)
    const r = await repro(['hash', 'generate', '--root', root, ...names])
    assert.equal(r.code, 0, r.stderr)
    const expected = (await readFile(sums, 'utf8'))
      .split('\n')
      .filter((l) => /^[0-9a-f]{64} {2}/.test(l))
      .sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1))
      .join('\n')
    assert.equal(r.stdout.trim(), expected)
  })

  it('get push to the test bed registry, then fetch back through oci+http://', async () => {
    const to = `oci+http://${state.registry.address}/repro-e2e/debs:pinned`
    const push = await repro(['get', 'push', '--cache', cache, sums, '--to', to, '--json'])
    assert.equal(push.code, 0, push.stderr)
    assert.match(JSON.parse(push.stdout).manifestDigest, /^sha256:[0-9a-f]{64}$/)
    const fresh = path.join(dir, 'cache-oci')
    const dl = await repro([
      'get',
      'download',
      '--cache',
      fresh,
      '--distro',
      'debian',
      '--provider',
      `oci+http://${state.registry.address}/repro-e2e/debs`,
      sums,
      '--json',
    ])
    assert.equal(dl.code, 0, dl.stderr)
    assert.equal(JSON.parse(dl.stdout).downloaded, pins.length)
    assert.deepEqual((await readdir(path.join(fresh, 'blobs/sha256'))).sort(), pins.map((p) => p.sha256).sort())
  })
})
