/**
 * Debian's signature chain on the test bed (tests/e2e/testbed, state file $REPRO_TESTBED_STATE): its Debian root
 * filesystem (the mmdebstrap tar, extracted) and the InRelease and Packages files that root was built from
 * (images.debian.indexes), plus its pinned real .debs installed into the root with `repro get install --root`.
 * `hash generate --indexes` records the chain of every installed package; `hash verify` checks it with Debian's
 * gpgv and archive keyring down to the .deb bytes; `get install --verify-chain` checks it before installing.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {repro, STATE_FILE, type TestbedState} from '../support/pkg-fixtures.js'

const run = promisify(execFile)
/** the pins a minbase root can configure (see pkg.e2e.test.ts) */
const INSTALLABLE = new Set(['hello', 'figlet', 'tree', 'libonig5', 'fortunes-min', 'libtext-charwidth-perl'])

type State = Required<Pick<TestbedState, 'debs'>> & {images: {debian: {rootfsTar: string; indexes: string}}}

function readState(): State {
  if (!existsSync(STATE_FILE))
    throw new Error(`the test bed is not up (no ${STATE_FILE}): run \`npm run testbed -- up\` first`)
  const s = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as TestbedState & {images?: {debian?: {indexes?: string}}}
  if (!s.debs?.packages.length) throw new Error(`${STATE_FILE}: no .debs (the test bed's "debs" step did not run)`)
  if (!s.images?.debian?.rootfsTar)
    throw new Error(`${STATE_FILE}: no Debian root filesystem (images.debian.rootfsTar)`)
  if (!s.images.debian.indexes || !existsSync(s.images.debian.indexes))
    throw new Error(
      `${STATE_FILE}: no saved indexes of the Debian root (images.debian.indexes): the root was built before the test bed kept them; run \`npm run testbed -- up\``,
    )
  return s as State
}

describe("Debian's signature chain on the test bed's Debian root and its saved indexes", () => {
  let state: State
  let dir: string
  let root: string
  let cache: string
  let pins: State['debs']['packages']
  let sums: string

  before(async () => {
    state = readState()
    dir = await mkdtemp(path.join(tmpdir(), 'repro-chain-e2e-'))
    root = path.join(dir, 'rootfs')
    cache = path.join(dir, 'cache')
    pins = state.debs.packages.filter((p) => INSTALLABLE.has(p.name))
    assert.ok(pins.length >= 3)
    const wanted = new Set(pins.map((p) => p.filename))
    const lines = (await readFile(state.debs.sha256sums, 'utf8')).split('\n').filter((l) => wanted.has(l.slice(66)))
    const pinSums = path.join(dir, 'PINS')
    await writeFile(pinSums, `${lines.join('\n')}\n`)
    await mkdir(root)
    await run('tar', ['-xf', state.images.debian.rootfsTar, '-C', root, '--numeric-owner'])
    const r = await repro([
      'get',
      'install',
      '--root',
      root,
      '--cache',
      cache,
      '--provider',
      `file://${state.debs.dir}/{{.Name}}`,
      pinSums,
    ])
    assert.equal(r.code, 0, r.stderr)
    sums = path.join(dir, 'SHA256SUMS-amd64')
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('generate --indexes records the chain of every installed package; verify checks it to the .deb bytes', async () => {
    const g = await repro(['hash', 'generate', '--root', root, '--indexes', state.images.debian.indexes, '-o', sums])
    assert.equal(g.code, 0, g.stderr)
    const {stdout} = await run('dpkg-query', [
      '--admindir',
      path.join(root, 'var/lib/dpkg'),
      '-W',
      '-f',
      '${Package}\\n',
    ])
    const installed = stdout.trim().split('\n').length
    const chain = JSON.parse(await readFile(`${sums}.chain.json`, 'utf8'))
    assert.equal(chain.packages.length, installed, 'one chain record per installed package')
    assert.ok(chain.packages.every((p: {repository: {suite: string}}) => p.repository.suite === 'bookworm'))
    const v = await repro([
      'hash',
      'verify',
      '--indexes',
      state.images.debian.indexes,
      '--debs',
      state.debs.dir,
      sums,
      '--json',
    ])
    assert.equal(v.code, 0, v.stderr)
    const r = JSON.parse(v.stdout)
    assert.equal(r.verified, true)
    assert.equal(r.packages, installed)
    assert.equal(r.filesHashed, pins.length, "the pins' bytes are in the test bed's debs dir")
    assert.equal(r.releases.length, 1)
    assert.ok(r.releases[0].signedBy.length >= 1)
    assert.equal(r.releases[0].differsFromRecorded, false)
  })

  it('get install --verify-chain checks the chain of the pins before installing; a broken link stops it', async () => {
    const pinsFile = path.join(dir, 'SHA256SUMS-pins')
    const g = await repro([
      'hash',
      'generate',
      '--root',
      root,
      '--indexes',
      state.images.debian.indexes,
      '-o',
      pinsFile,
      ...pins.map((p) => p.name),
    ])
    assert.equal(g.code, 0, g.stderr)
    const args = [
      'get',
      'install',
      '--root',
      root,
      '--cache',
      cache,
      '--provider',
      `file://${state.debs.dir}/{{.Name}}`,
    ]
    const ok = await repro([...args, '--verify-chain', '--indexes', state.images.debian.indexes, pinsFile, '--json'])
    assert.equal(ok.code, 0, ok.stderr)
    const out = JSON.parse(ok.stdout)
    assert.equal(out.chain.verified, true)
    assert.equal(out.chain.packages, pins.length)
    assert.equal(out.skipped.length, pins.length, 'already installed')
    // the same hash file, its chain naming a sha256 the signed Packages does not list
    const forged = path.join(dir, 'SHA256SUMS-forged')
    const other = 'f'.repeat(64)
    await writeFile(forged, (await readFile(pinsFile, 'utf8')).replace(pins[0].sha256, other))
    await writeFile(
      `${forged}.chain.json`,
      (await readFile(`${pinsFile}.chain.json`, 'utf8')).replace(pins[0].sha256, other),
    )
    const bad = await repro([...args, '--verify-chain', '--indexes', state.images.debian.indexes, forged])
    assert.equal(bad.code, 2)
    assert.match(
      bad.stderr,
      new RegExp(`^Error: package ${pins[0].name} .*: sha256 ${other} is not listed in Packages `),
    )
  })
})
