/**
 * Package downloads, cache, hash generate/update and install plans with real .deb files, a local HTTP
 * server (node:http, 127.0.0.1, random port) and file:// layouts, through the CLI in dev mode.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile} from 'node:fs/promises'
import type {Server} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {silentLogger} from '../../src/log.js'
import {PackageCache} from '../../src/pkg/cache.js'
import {downloadEntries} from '../../src/pkg/download.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {parseProvider} from '../../src/pkg/providers.js'
import {
  type Deb,
  makeDpkgRoot,
  realDebs,
  repro,
  serveDir,
  sha256,
  startServer,
  sumsText,
} from '../support/pkg-fixtures.js'

describe('repro get / cache / hash with real .debs', () => {
  let dir: string
  let mirror: string
  let debs: Deb[]
  let sums: string
  let server: Server
  let base: string
  let hits: string[]
  const flaky = new Map<string, number>()

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-pkg-'))
    mirror = path.join(dir, 'mirror')
    debs = await realDebs(mirror)
    assert.ok(debs.length >= 3, 'at least three real .debs')
    sums = path.join(dir, 'SHA256SUMS-amd64')
    await writeFile(sums, sumsText(debs))
    const good = serveDir(mirror)
    ;({server, base, hits} = await startServer({
      good,
      corrupt: serveDir(mirror, (b) => {
        const c = Buffer.from(b)
        c[c.length >> 1] ^= 0xff
        return c
      }),
      // 503 twice per path, then the real bytes
      flaky: (req, res, rest) => {
        const n = (flaky.get(rest) ?? 0) + 1
        flaky.set(rest, n)
        if (n <= 2) res.writeHead(503).end('busy')
        else good(req, res, rest)
      },
      // headers, a few bytes, then silence
      stall: (_req, res) => {
        res.writeHead(200, {'content-length': '1000000'})
        res.write('x'.repeat(100))
      },
    }))
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await rm(dir, {recursive: true, force: true})
  })

  const cacheDir = (name: string): string => path.join(dir, 'caches', name)
  const blobs = async (cache: string): Promise<string[]> => {
    try {
      return (await readdir(path.join(cache, 'blobs/sha256'))).sort()
    } catch {
      return []
    }
  }
  const tmpFiles = async (cache: string): Promise<string[]> =>
    existsSync(path.join(cache, 'tmp')) ? readdir(path.join(cache, 'tmp')) : []

  it('a provider serving corrupted bytes falls back to the next; the bad bytes never enter the cache', async () => {
    const cache = cacheDir('fallback')
    const r = await repro([
      'get',
      'download',
      '--cache',
      cache,
      '--distro',
      'debian',
      '--provider',
      `${base}/corrupt/{{.Name}}`,
      '--provider',
      `${base}/good/{{.Name}}`,
      sums,
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^${debs.length} downloaded, 0 already cached`))
    assert.deepEqual(await blobs(cache), debs.map((d) => d.sha256).sort())
    for (const d of debs) assert.equal(sha256(await readFile(path.join(cache, 'blobs/sha256', d.sha256))), d.sha256)
    assert.deepEqual(await tmpFiles(cache), [])
    assert.ok(
      hits.some((h) => h.startsWith('/corrupt/')),
      'the corrupt provider was tried first',
    )
    // a second run is served from the cache
    const again = await repro([
      'get',
      'download',
      '--cache',
      cache,
      '--distro',
      'debian',
      '--provider',
      `${base}/good/{{.Name}}`,
      sums,
      '--json',
    ])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(JSON.parse(again.stdout).cached, debs.length)
  })

  it('a 404-only provider list fails with exit 2, naming the line and the providers; nothing is cached', async () => {
    const cache = cacheDir('404')
    const r = await repro([
      'get',
      'download',
      '--cache',
      cache,
      '--distro',
      'debian',
      '--provider',
      `${base}/nothing/{{.Name}}`,
      '--provider',
      `${base}/void/{{.Basename}}`,
      sums,
    ])
    assert.equal(r.code, 2)
    const first = [...debs].sort((a, b) => (a.filename < b.filename ? -1 : 1))[0]
    assert.equal(
      r.stderr.split('\n')[0],
      `Error: ${sums}:1: ${first.filename}: every provider failed (${base}/nothing/{{.Name}}: HTTP 404; ${base}/void/{{.Basename}}: HTTP 404) (and ${debs.length - 1} more file(s) failed)`,
    )
    assert.doesNotMatch(r.stderr, /at .*\.ts:/, 'no stack trace')
    assert.deepEqual(await blobs(cache), [])
    assert.deepEqual(await tmpFiles(cache), [])
  })

  it('file:// layouts work; a {{.CID}} provider without /ipfs/ lines is skipped, not fatal', async () => {
    const cache = cacheDir('file')
    const r = await repro(
      [
        'get',
        'download',
        '--cache',
        cache,
        '--distro',
        'debian',
        '--provider',
        `${base}/ipfs/{{.CID}}`,
        '--provider',
        `file://${mirror}/{{.Name}}`,
        sums,
        '--json',
        '--verbose',
      ],
      {SOURCE_DATE_EPOCH: '1704067200'},
    )
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.downloaded, debs.length)
    assert.ok(out.entries.every((e: {from: string}) => e.from === `file://${mirror}/{{.Name}}`))
    assert.match(r.stderr, /epoch 1704067200 \(2024-01-01T00:00:00.000Z\) from SOURCE_DATE_EPOCH/)
    assert.ok(!hits.some((h) => h.startsWith('/ipfs/')), 'no request for an entry without a CID')
  })

  it('the epoch of a hash file is its mtime without SOURCE_DATE_EPOCH, and templates see it', async () => {
    const file = path.join(dir, 'SUMS-mtime')
    await writeFile(file, sumsText(debs.slice(0, 1)))
    await utimes(file, 1700000000, 1700000000)
    const snapshot = path.join(dir, 'snap', '20231114T221320Z')
    await mkdir(path.dirname(path.join(snapshot, debs[0].filename)), {recursive: true})
    await writeFile(path.join(snapshot, debs[0].filename), await readFile(debs[0].path))
    const r = await repro(
      [
        'get',
        'download',
        '--cache',
        cacheDir('epoch'),
        '--distro',
        'debian',
        '--provider',
        `file://${dir}/snap/{{timeToDebianSnapshot .Epoch}}/{{.Name}}`,
        file,
        '--verbose',
      ],
      {SOURCE_DATE_EPOCH: ''},
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /epoch 1700000000 .* from the file's mtime/)
  })

  it('retries transient 5xx with backoff, and an idle body times out to the next provider', async () => {
    const entries = parseHashFiles([{file: sums, text: sumsText(debs)}])
    const cache = new PackageCache(cacheDir('flaky'))
    const r = await downloadEntries(entries, {
      cache,
      providers: [parseProvider(`${base}/flaky/{{.Name}}`)],
      epochFor: () => 0,
      backoffMs: 10,
      logger: silentLogger,
    })
    assert.ok(r.entries.every((e) => e.attempts === 3))
    const cache2 = new PackageCache(cacheDir('stall'))
    const t0 = Date.now()
    const r2 = await downloadEntries(entries.slice(0, 1), {
      cache: cache2,
      providers: [parseProvider(`${base}/stall/{{.Name}}`), parseProvider(`${base}/good/{{.Name}}`)],
      epochFor: () => 0,
      idleTimeoutMs: 200,
      retries: 1,
      backoffMs: 10,
      logger: silentLogger,
    })
    assert.equal(r2.entries[0].from, `${base}/good/{{.Name}}`)
    assert.ok(Date.now() - t0 < 5000)
    assert.deepEqual(await tmpFiles(cache2.dir), [])
  })

  it('refuses traversal names with exit 2, naming file and line, before any download', async () => {
    const bad = path.join(dir, 'SUMS-bad')
    await writeFile(bad, `# ok\n${debs[0].sha256}  ../../etc/${debs[0].filename}\n`)
    const r = await repro([
      'get',
      'install',
      '--cache',
      cacheDir('bad'),
      '--distro',
      'debian',
      '--provider',
      `${base}/good/{{.Name}}`,
      bad,
    ])
    assert.equal(r.code, 2)
    assert.equal(
      r.stderr.split('\n')[0],
      `Error: ${bad}:2: file name "../../etc/${debs[0].filename}" escapes with ".." and is refused`,
    )
    assert.equal(hits.filter((h) => h.includes('etc')).length, 0)
  })

  it('an unknown provider field or distro is a clear exit-2 error', async () => {
    const r = await repro([
      'get',
      'download',
      '--cache',
      cacheDir('x'),
      '--distro',
      'debian',
      '--provider',
      'http://x/{{.Nmae}}',
      sums,
    ])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /^Error: --provider: provider "http:\/\/x\/\{\{\.Nmae\}\}": \{\{\.Nmae\}\}: unknown field "\.Nmae"/,
    )
    const d = await repro(['get', 'download', '--distro', 'gentoo', sums])
    assert.equal(d.code, 2)
    assert.match(
      d.stderr,
      /^Error: --distro: unknown distro "gentoo" \(supported: debian, ubuntu, fedora, alpine, arch\)/,
    )
  })

  it('cache export writes basenames in order, never overwrites a different file; import reports every error', async () => {
    const cache = cacheDir('fallback')
    const out = path.join(dir, 'export')
    const r = await repro(['cache', 'export', '--cache', cache, out, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const names = debs.map((d) => path.basename(d.filename)).sort()
    assert.deepEqual(
      JSON.parse(r.stdout).files.map((f: {basename: string}) => f.basename),
      names,
    )
    assert.deepEqual((await readdir(out)).sort(), names)
    const again = await repro(['cache', 'export', '--cache', cache, out, '--json'])
    assert.ok(JSON.parse(again.stdout).files.every((f: {action: string}) => f.action === 'unchanged'))
    // a different file under one of the names: refused, nothing written
    const other = path.join(dir, 'export2')
    await mkdir(other)
    await writeFile(path.join(other, names[1]), 'something else')
    const clash = await repro(['cache', 'export', '--cache', cache, other])
    assert.equal(clash.code, 2)
    assert.match(
      clash.stderr,
      new RegExp(
        `^Error: cache export: ${path.join(other, names[1])} exists with different content; refusing to overwrite`,
      ),
    )
    assert.deepEqual(await readdir(other), [names[1]])
    assert.equal(await readFile(path.join(other, names[1]), 'utf8'), 'something else')

    const imported = cacheDir('imported')
    const imp = await repro(['cache', 'import', '--cache', imported, out, '--json'])
    assert.equal(imp.code, 0, imp.stderr)
    assert.deepEqual(await blobs(imported), debs.map((d) => d.sha256).sort())
    const missing = path.join(dir, 'no-such-dir')
    const bad = await repro(['cache', 'import', '--cache', imported, out, missing])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, new RegExp(`Error: cache import: 1 path\\(s\\) failed, first: ${missing}: ENOENT`))

    const clean = await repro(['cache', 'clean', '--cache', imported, '--json'])
    assert.equal(JSON.parse(clean.stdout).blobs, debs.length)
    assert.deepEqual(await blobs(imported), [])
  })

  it('hash generate on a root filesystem round-trips the hash file, hashing the installed version', async () => {
    const root = path.join(dir, 'root-gen')
    // the lists also carry a newer version of the first package: the installed one must win
    const newer = {
      ...debs[0],
      version: `${debs[0].version}+new1`,
      filename: debs[0].filename.replace('.deb', '+new1.deb'),
      sha256: 'f'.repeat(64),
    }
    await makeDpkgRoot(root, debs, [newer, ...debs])
    const r = await repro(['hash', 'generate', '--root', root])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, sumsText(debs))
    const one = await repro(['hash', 'generate', '--root', root, debs[1].package])
    assert.equal(one.stdout, sumsText([debs[1]]))
    // --dedupe against a file that has the first one
    const old = path.join(dir, 'SUMS-old')
    await writeFile(old, sumsText([debs[0]]))
    const dd = await repro(['hash', 'generate', '--root', root, '--dedupe', old])
    assert.equal(dd.stdout, sumsText(debs.slice(1)))
  })

  it('hash generate: an installed package missing from the lists, or an unknown name, is an error naming it', async () => {
    const root = path.join(dir, 'root-missing')
    await makeDpkgRoot(root, debs, debs.slice(1))
    const r = await repro(['hash', 'generate', '--root', root])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      new RegExp(
        `^Error: installed package not found in ${root}/var/lib/apt/lists/\\*_Packages: ${debs[0].package}=${debs[0].version.replace(/[+.]/g, '\\$&')} \\(${debs[0].architecture}\\)`,
      ),
    )
    assert.equal(r.stdout, '')
    const u = await repro(['hash', 'generate', '--root', root, 'no-such-package'])
    assert.equal(u.code, 2)
    assert.match(u.stderr, new RegExp(`^Error: package not installed in ${root}: no-such-package`))
  })

  it('hash update rewrites changed entries, keeping comments, order and /ipfs/ lines', async () => {
    const root = path.join(dir, 'root-update')
    await makeDpkgRoot(root, debs, debs)
    const file = path.join(dir, 'SUMS-update')
    const stale = 'e'.repeat(64)
    const [d0, d1] = debs
    await writeFile(
      file,
      `# pinned for the demo\n${d1.sha256}  ${d1.filename}\n${d1.sha256}  /ipfs/QmKeep\n\n${stale} *${d0.filename}\n${stale}  /ipfs/QmStale\n`,
    )
    const r = await repro(['hash', 'update', '--root', root, file, '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).updated.length, 1)
    assert.equal(
      await readFile(file, 'utf8'),
      `# pinned for the demo\n${d1.sha256}  ${d1.filename}\n${d1.sha256}  /ipfs/QmKeep\n\n${d0.sha256} *${d0.filename}\n`,
    )
  })

  it('get install --dry prints one dpkg --root batch and skips the exact installed version', async () => {
    const root = path.join(dir, 'root-install')
    await makeDpkgRoot(root, [debs[0]], [])
    const cache = cacheDir('fallback')
    const r = await repro([
      'get',
      'install',
      '--dry',
      '--root',
      root,
      '--cache',
      cache,
      '--provider',
      `${base}/good/{{.Name}}`,
      sums,
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.distro, 'debian')
    assert.deepEqual(
      out.skipped.map((s: {name: string}) => s.name),
      [debs[0].filename],
    )
    assert.equal(out.commands.length, 1)
    assert.match(out.commands[0], new RegExp(`^dpkg --root ${root} --install `))
    assert.equal(out.installed.length, debs.length - 1)
  })

  it('hash inspect merges files and shows package fields', async () => {
    const r = await repro(['hash', 'inspect', sums, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const e = JSON.parse(r.stdout).entries
    assert.equal(e.length, debs.length)
    assert.ok(e.every((x: {format: string}) => x.format === 'deb'))
  })
})
