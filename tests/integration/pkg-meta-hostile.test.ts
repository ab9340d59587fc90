/**
 * Hostile Fedora and Arch metadata for `hash generate`: repodata primary.xml(.gz), pacman sync databases
 * and local desc files that are malformed, truncated or oversized, generated here by writers that share no
 * code with the readers (string templates, node:zlib, a tar writer below). Every case fails with a
 * ReproError (exit 2) whose one printable line names the metadata file, within a bounded time; a gzip bomb
 * stops at the size limit. A few arch cases go through the real CLI to see the exit code and the line.
 */
import assert from 'node:assert/strict'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {ReproError} from '../../src/errors.js'
import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {generateHashes} from '../../src/pkg/generate.js'
import {runCli} from '../support/cli.js'

const HEX = 'ab'.repeat(32)
/** No single case may take longer than this; the whole corpus is asserted too. */
const CASE_MS = 5000

/** A ustar archive of text files, written here (pacman's sync dbs are gzip tars of NAME-VER/desc). */
function tar(files: [string, string | Buffer][]): Buffer {
  const parts: Buffer[] = []
  for (const [name, body] of files) {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(body)
    const h = Buffer.alloc(512)
    h.write(name.slice(0, 100), 0)
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

const rpmPackage = (
  f: Partial<Record<'name' | 'arch' | 'version' | 'checksum' | 'location' | 'src', string>> = {},
): string =>
  `<package type="rpm">` +
  (f.name ?? '<name>repro-base</name>') +
  (f.arch ?? '<arch>noarch</arch>') +
  (f.version ?? '<version epoch="0" ver="1.0" rel="1"/>') +
  (f.checksum ?? `<checksum type="sha256" pkgid="YES">${HEX}</checksum>`) +
  (f.location ?? '<location href="repro-base-1.0-1.noarch.rpm"/>') +
  `<format>${f.src ?? '<rpm:sourcerpm>repro-base-1.0-1.src.rpm</rpm:sourcerpm>'}</format></package>\n`

const primary = (pkgs: string[], declared = pkgs.length): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" packages="${declared}">\n${pkgs.join('')}</metadata>\n`

const desc = (f: Record<string, string | undefined>): string =>
  Object.entries(f)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `%${k}%\n${v}\n`)
    .join('\n')

const syncDesc = (over: Record<string, string | undefined> = {}): string =>
  desc({
    FILENAME: 'repro-base-1.0-1-any.pkg.tar.zst',
    NAME: 'repro-base',
    VERSION: '1.0-1',
    SHA256SUM: HEX,
    PGPSIG: Buffer.from('sig').toString('base64'),
    ARCH: 'any',
    ...over,
  })

const BIG = 'x'.repeat(1 << 20)

interface Case {
  name: string
  /** the file that must be named (relative to the root) */
  file: string
  /** writes the root's metadata */
  setup: (root: string) => Promise<void>
  distro: 'fedora' | 'arch'
  /** what the line must also say */
  says: RegExp
  maxMetadataBytes?: number
}

const REPODATA = 'var/cache/dnf/repro-local/repodata'
const PRIMARY = `${REPODATA}/primary.xml.gz`
const SYNC = 'var/lib/pacman/sync/repro.db'
const LOCAL = 'var/lib/pacman/local/repro-base-1.0-1/desc'
const goodLocal = desc({NAME: 'repro-base', VERSION: '1.0-1', ARCH: 'any'})

async function put(root: string, rel: string, data: string | Buffer): Promise<void> {
  await mkdir(path.dirname(path.join(root, rel)), {recursive: true})
  await writeFile(path.join(root, rel), data)
}

function cases(): Case[] {
  const out: Case[] = []
  const fedora = (name: string, xml: string | Buffer, says: RegExp, gz = true, extra: Partial<Case> = {}): void => {
    const file = gz ? PRIMARY : `${REPODATA}/primary.xml`
    out.push({
      name: `fedora: ${name}`,
      file,
      distro: 'fedora',
      says,
      setup: (root) => put(root, file, gz && typeof xml === 'string' ? gzipSync(xml) : xml),
      ...extra,
    })
  }
  const good = primary([rpmPackage()])
  // truncated: the gzip stream cut at generated offsets, and the XML itself cut inside and between packages
  const gz = gzipSync(good)
  for (const cut of [1, 10, Math.floor(gz.length / 2), gz.length - 4])
    fedora(`gzip cut at byte ${cut}`, gz.subarray(0, cut), /cannot decompress|decompress|not valid gzip data/, false, {
      file: `${REPODATA}/primary.xml.gz`,
      setup: (root) => put(root, PRIMARY, gz.subarray(0, cut)),
    })
  const two = primary([rpmPackage(), rpmPackage({name: '<name>repro-app</name>'})])
  for (const frac of [0.3, 0.5, 0.7, 0.95])
    fedora(
      `XML cut at ${Math.round(frac * 100)}%`,
      two.slice(0, Math.floor(two.length * frac)),
      /truncated|declares packages/,
    )
  fedora('declares 5 packages, holds 1', primary([rpmPackage()], 5), /declares packages="5" but holds 1/)
  // malformed: each required field missing in turn
  for (const field of ['name', 'arch', 'version', 'checksum', 'location'] as const)
    fedora(`no <${field}>`, primary([rpmPackage({[field]: ''})]), new RegExp(`<${field}|no <${field}`))
  fedora(
    'checksum not hex',
    primary([rpmPackage({checksum: `<checksum type="sha256">${'zz'.repeat(32)}</checksum>`})]),
    /not 64 hex digits/,
  )
  fedora(
    'checksum too short',
    primary([rpmPackage({checksum: '<checksum type="sha256">abcd</checksum>'})]),
    /not 64 hex digits/,
  )
  fedora(
    'epoch not a number',
    primary([rpmPackage({version: '<version epoch="1e9x" ver="1.0" rel="1"/>'})]),
    /epoch .* is not a number/,
  )
  fedora(
    'a control character in the name',
    primary([rpmPackage({name: '<name>repro\u001b[31m</name>'})]),
    /<name> .* has the character U\+001B/,
  )
  fedora(
    'an entity outside Unicode (no crash in the decoder)',
    primary([rpmPackage({checksum: `<checksum type="sha256">&#99999999;${HEX.slice(11)}</checksum>`})]),
    /not 64 hex digits/,
  )
  fedora(
    'a location whose file name starts with "-" (kojiName keeps only the basename)',
    primary([rpmPackage({location: '<location href="../../-rf.rpm"/>'})]),
    /has a segment starting with "-"/,
  )
  // oversized fields
  fedora('a 1 MiB name', primary([rpmPackage({name: `<name>${BIG}</name>`})]), /<name> is 1048576 characters long/)
  fedora(
    'a 1 MiB checksum',
    primary([rpmPackage({checksum: `<checksum type="sha256">${BIG}</checksum>`})]),
    /not 64 hex digits/,
  )
  fedora('a 1 MiB location', primary([rpmPackage({location: `<location href="${BIG}.rpm"/>`})]), /over 1024 characters/)
  // a gzip bomb: 64 MiB of zeros in 64 KiB, against a 1 MiB limit
  fedora('a gzip bomb', gzipSync(Buffer.alloc(64 << 20)), /decompresses to more than 1048576 bytes/, false, {
    setup: (root) => put(root, PRIMARY, gzipSync(Buffer.alloc(64 << 20))),
    file: PRIMARY,
    maxMetadataBytes: 1 << 20,
  })

  const arch = (
    name: string,
    file: string,
    setup: (root: string) => Promise<void>,
    says: RegExp,
    extra: Partial<Case> = {},
  ): void => {
    out.push({name: `arch: ${name}`, file, distro: 'arch', says, setup, ...extra})
  }
  const withLocal = (fn: (root: string) => Promise<void>) => async (root: string) => {
    await put(root, LOCAL, goodLocal)
    await fn(root)
  }
  const db = (entries: [string, string | Buffer][]) => gzipSync(tar(entries))
  const goodDb = db([['repro-base-1.0-1/desc', syncDesc()]])
  for (const cut of [2, 20, Math.floor(goodDb.length / 2), goodDb.length - 3])
    arch(
      `sync db gzip cut at byte ${cut}`,
      SYNC,
      withLocal((root) => put(root, SYNC, goodDb.subarray(0, cut))),
      /decompress|not a tar|not valid gzip data/,
    )
  arch(
    'sync db holds no tar',
    SYNC,
    withLocal((root) => put(root, SYNC, gzipSync('not a tar at all'))),
    /not a tar archive/,
  )
  const desc1 = syncDesc()
  for (const frac of [0.1, 0.4, 0.6, 0.8])
    arch(
      `a sync desc cut at ${Math.round(frac * 100)}%`,
      SYNC,
      withLocal((root) =>
        put(root, SYNC, db([['repro-base-1.0-1/desc', desc1.slice(0, Math.floor(desc1.length * frac))]])),
      ),
      /missing|no %NAME%|not 64 hex|%PGPSIG%/,
    )
  for (const field of ['NAME', 'VERSION', 'FILENAME', 'SHA256SUM'])
    arch(
      `a sync desc without %${field}%`,
      SYNC,
      withLocal((root) => put(root, SYNC, db([['repro-base-1.0-1/desc', syncDesc({[field]: undefined})]]))),
      /missing|no %NAME%|not 64 hex/,
    )
  arch(
    '%SHA256SUM% not hex',
    SYNC,
    withLocal((root) => put(root, SYNC, db([['x/desc', syncDesc({SHA256SUM: 'g'.repeat(64)})]]))),
    /%SHA256SUM% is not 64 hex digits/,
  )
  arch(
    '%FILENAME% with a slash',
    SYNC,
    withLocal((root) => put(root, SYNC, db([['x/desc', syncDesc({FILENAME: '../../x.pkg.tar.zst'})]]))),
    /not a plain file name/,
  )
  arch(
    'a 1 MiB %VERSION%',
    SYNC,
    withLocal((root) => put(root, SYNC, db([['x/desc', syncDesc({VERSION: BIG})]]))),
    /%VERSION% is 1048576 characters long/,
  )
  arch(
    '%PGPSIG% not base64',
    SYNC,
    withLocal((root) => put(root, SYNC, db([['x/desc', syncDesc({PGPSIG: '!!notbase64!!'})]]))),
    /%PGPSIG% is not base64/,
  )
  arch(
    'a bidi override in an entry name',
    SYNC,
    withLocal((root) => put(root, SYNC, db([['repro\u202e/desc', syncDesc({NAME: 'repro\u202e'})]]))),
    /%NAME% .* has the character U\+202E/,
  )
  arch(
    'a sync db gzip bomb',
    SYNC,
    withLocal((root) => put(root, SYNC, gzipSync(Buffer.alloc(64 << 20)))),
    /decompresses to more than 1048576 bytes/,
    {maxMetadataBytes: 1 << 20},
  )
  // the local database
  arch(
    'a local desc without %NAME%',
    LOCAL,
    (root) => put(root, LOCAL, desc({VERSION: '1.0-1'})),
    /no %NAME% or %VERSION%/,
  )
  arch(
    'a local desc over 1 MiB',
    LOCAL,
    (root) => put(root, LOCAL, desc({NAME: 'repro-base', VERSION: '1.0-1', DESC: BIG + BIG})),
    /over the 1048576-byte limit/,
  )
  arch(
    'a local desc that is a directory',
    LOCAL,
    async (root) => {
      await mkdir(path.join(root, LOCAL), {recursive: true})
    },
    /not a regular file/,
  )
  arch(
    'a 300,000-character %NAME% in the local db',
    LOCAL,
    (root) => put(root, LOCAL, desc({NAME: 'n'.repeat(300_000), VERSION: '1'})),
    /%NAME% is 300000 characters long/,
  )
  return out
}

describe('hostile rpm and pacman metadata for hash generate', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-meta-hostile-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  const all = cases()

  it(`${all.length} generated cases: each a ReproError (exit 2), one printable line naming the file, in bounded time and memory`, async () => {
    // rpm -qa of the fedora roots: the installed repro-base
    const exec = fakeExec((argv) => (argv[0] === 'rpm' ? {stdout: 'repro-base\t0\t1.0\t1\tnoarch\n'} : undefined))
    const t0 = Date.now()
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    for (const [i, c] of all.entries()) {
      const root = path.join(dir, `case-${i}`)
      await c.setup(root)
      if (c.distro === 'fedora') await mkdir(path.join(root, 'usr/lib/sysimage/rpm'), {recursive: true})
      const started = Date.now()
      const error = await generateHashes({
        root,
        distro: c.distro,
        packages: [],
        exec,
        logger: silentLogger,
        maxMetadataBytes: c.maxMetadataBytes,
      }).then(
        () => undefined,
        (e: unknown) => e,
      )
      peak = Math.max(peak, process.memoryUsage().rss)
      assert.ok(error instanceof ReproError, `${c.name}: a ReproError, got ${String(error)}`)
      assert.equal(error.exitCode, 2, c.name)
      assert.ok(
        error.message.startsWith(path.join(root, c.file)),
        `${c.name}: names ${c.file}: ${error.message.slice(0, 300)}`,
      )
      assert.match(error.message, /^[\x20-\x7e]+$/, `${c.name}: one printable ASCII line`)
      assert.ok(error.message.length < 600, `${c.name}: short (${error.message.length})`)
      assert.match(error.message, c.says, c.name)
      assert.ok(Date.now() - started < CASE_MS, `${c.name}: ${Date.now() - started} ms`)
      await rm(root, {recursive: true, force: true})
    }
    assert.ok(Date.now() - t0 < 30_000, `the corpus took ${Date.now() - t0} ms`)
    // the 64 MiB bombs are stopped at 1 MiB: no case grows the process by anything near their size
    assert.ok(peak - rss0 < 48 << 20, `peak rss grew by ${Math.round((peak - rss0) / 1048576)} MiB`)
  })

  it('fedora: a root without an rpm database is an error, and rpm is not run (it would create one)', async () => {
    const root = path.join(dir, 'no-rpmdb')
    await put(root, PRIMARY, gzipSync(primary([rpmPackage()])))
    const exec = fakeExec(() => ({stdout: ''}))
    await assert.rejects(
      generateHashes({root, distro: 'fedora', packages: [], exec, logger: silentLogger}),
      (e: Error) =>
        e instanceof ReproError &&
        e.message === `${root}: no rpm database (neither usr/lib/sysimage/rpm nor var/lib/rpm)`,
    )
    assert.equal(exec.calls.length, 0)
    assert.deepEqual(await readdir(root), ['var'])
  })

  it('through the CLI: exit 2 and one "Error:" line naming the file', async () => {
    for (const c of all
      .filter((x) => x.distro === 'arch')
      .slice(0, 12)
      .filter((_, i) => i % 4 === 0)) {
      const root = path.join(dir, 'cli')
      await rm(root, {recursive: true, force: true})
      await c.setup(root)
      const r = await runCli(['hash', 'generate', '--distro', 'arch', '--root', root], {timeoutMs: 30_000})
      assert.equal(r.code, 2, `${c.name}: ${r.stderr}`)
      assert.equal(r.stdout, '', `${c.name}: nothing on stdout`)
      const first = r.stderr.split('\n')[0]
      assert.ok(first.startsWith(`Error: ${path.join(root, c.file)}`), `${c.name}: ${first}`)
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack')
    }
  })
})
