/**
 * Hostile hash files and hostile provider trees through the real CLI (bin/run.js: `npm run build` first).
 * Every case of the generated corpus (tests/support/hostile-hashfiles.ts) runs `repro get download` with a
 * file:// provider in its own sandbox: exit 2 with one line naming file:line (or exit 0 when the file is
 * legitimate), no stack, no hang, nothing written but the cache's blobs, no `.part`. Then the provider side:
 * traversal, symlinks out of the root, FIFOs, /dev/zero, directories, sockets, a file over the size cap,
 * a checksum mismatch, 3,000 missing files, and http servers that never stop or never finish.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {lstat, mkdir, mkdtemp, open, readdir, rm, symlink, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import {createServer as createNetServer, type Server as NetServer} from 'node:net'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {silentLogger} from '../../src/log.js'
import {PackageCache} from '../../src/pkg/cache.js'
import {downloadEntries} from '../../src/pkg/download.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {parseProvider} from '../../src/pkg/providers.js'
import {openRegularFile, readChunks, RegularFileError} from '../../src/pkg/regular-file.js'
import {runCli} from '../support/cli.js'
import {hostileCorpus} from '../support/hostile-hashfiles.js'

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')
const run = promisify(execFile)
/** No case may take longer than this (a hang is killed and fails the case). */
const CASE_TIMEOUT_MS = 30_000

/** Every path under dir (files, links, FIFOs, sockets; directories only as part of paths), sorted. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const d of await readdir(path.join(dir, prefix), {withFileTypes: true})) {
    const rel = path.join(prefix, d.name)
    if (d.isDirectory()) out.push(...(await tree(dir, rel)))
    else out.push(rel)
  }
  return out.sort()
}

/** The error line: exactly one "Error: " line, printable ASCII, only hints after it, no stack. */
function errorLine(stderr: string): string {
  assert.doesNotMatch(stderr, /\n\s+at |Unhandled|node:internal/, `no stack: ${stderr.slice(0, 500)}`)
  const lines = stderr.split('\n').filter(Boolean)
  assert.equal(lines.filter((l) => l.startsWith('Error: ')).length, 1, stderr.slice(0, 500))
  assert.ok(lines[0].startsWith('Error: '), stderr.slice(0, 500))
  for (const l of lines.slice(1)) assert.ok(l.startsWith('  hint: '), `only hints follow: ${l.slice(0, 200)}`)
  assert.match(lines[0], /^[\x20-\x7e]+$/, 'printable ASCII only (hostile names escaped)')
  assert.ok(lines[0].length <= 600, `one short line (${lines[0].length})`)
  return lines[0]
}

describe('hostile hash-file corpus through `repro get download`', {concurrency: 4}, () => {
  const corpus = hostileCorpus()
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-hostile-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('is large enough', () => {
    assert.ok(corpus.length >= 100, `${corpus.length} cases`)
  })

  for (const [i, c] of corpus.entries()) {
    it(`${c.id}: ${c.expect === 'valid' ? 'exit 0' : `exit 2 naming ${c.errorAt!.file}:${c.errorAt!.line}`}`, async () => {
      const box = path.join(dir, String(i))
      const root = path.join(box, 'root')
      await mkdir(root, {recursive: true})
      for (const f of c.files) await writeFile(path.join(box, f.name), f.bytes)
      const written = c.files.map((f) => f.name)
      for (const e of c.entries ?? []) {
        await mkdir(path.dirname(path.join(root, e.name)), {recursive: true})
        await writeFile(path.join(root, e.name), e.content)
        written.push(path.join('root', e.name))
      }
      const t0 = Date.now()
      const r = await runCli(
        [
          'get',
          'download',
          '--distro',
          'debian',
          '--cache',
          'cache',
          '--provider',
          `file://${root}/{{.Name}}`,
          ...c.files.map((f) => f.name),
        ],
        {cwd: box, timeoutMs: CASE_TIMEOUT_MS},
      )
      assert.ok(Date.now() - t0 < CASE_TIMEOUT_MS, 'no hang')
      const after = await tree(box)
      const tmp = after.filter((p) => p.startsWith(`cache${path.sep}tmp`) || p.endsWith('.part'))
      assert.deepEqual(tmp, [], 'no .part left')
      if (c.expect === 'valid') {
        assert.equal(r.code, 0, r.stderr)
        const shas = [...new Set(c.entries!.map((e) => sha(e.content)))]
        assert.match(r.stdout, new RegExp(`^${shas.length} downloaded`))
        const cache = shas.flatMap((s) => [
          path.join('cache', 'blobs', 'sha256', s),
          path.join('cache', 'metadata', 'sha256', s),
        ])
        assert.deepEqual(after, [...written, ...cache].sort(), 'only the cache was written')
      } else {
        assert.equal(r.code, 2, r.stderr.slice(0, 500))
        const line = errorLine(r.stderr)
        assert.ok(
          line.startsWith(`Error: ${c.errorAt!.file}:${c.errorAt!.line}: `),
          `names ${c.errorAt!.file}:${c.errorAt!.line}: ${line.slice(0, 200)}`,
        )
        assert.deepEqual(after, written.sort(), 'nothing was written')
      }
    })
  }
})

describe('hash inspect on hostile files', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-hostile-inspect-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('refuses one case of every category, naming file:line on one escaped line', async () => {
    const seen = new Set<string>()
    const picked = hostileCorpus().filter(
      (c) => c.expect === 'refused' && !seen.has(c.category) && seen.add(c.category),
    )
    assert.ok(picked.length >= 12, `${picked.length} categories`)
    for (const c of picked) {
      const box = path.join(dir, c.id)
      await mkdir(box)
      for (const f of c.files) await writeFile(path.join(box, f.name), f.bytes)
      const r = await runCli(['hash', 'inspect', ...c.files.map((f) => f.name)], {cwd: box, timeoutMs: CASE_TIMEOUT_MS})
      assert.equal(r.code, 2, `${c.id}: ${r.stderr}`)
      assert.ok(errorLine(r.stderr).startsWith(`Error: ${c.errorAt!.file}:${c.errorAt!.line}: `), c.id)
      assert.equal(r.stdout, '')
    }
  })

  it('the reported traversals: %2e%2e and ../ are refused before anything is read', async () => {
    const sums = path.join(dir, 'SUMS-traversal')
    await writeFile(sums, `${'a'.repeat(64)}  %2e%2e/%2e%2e/%2e%2e/etc/passwd\n`)
    const r = await runCli(['hash', 'inspect', sums])
    assert.equal(r.code, 2)
    assert.equal(
      errorLine(r.stderr),
      `Error: ${sums}:1: file name "%2e%2e/%2e%2e/%2e%2e/etc/passwd" contains "%" (names are literal; percent-encoding is refused)`,
    )
    await writeFile(sums, `# x\n${'a'.repeat(64)}  ../../etc/passwd\n`)
    const r2 = await runCli(['hash', 'inspect', sums, '--json'])
    assert.equal(r2.code, 2)
    assert.equal(JSON.parse(r2.stdout).error.code, 'E_HASH_FILE')
    assert.match(JSON.parse(r2.stdout).error.message, /:2: file name "\.\.\/\.\.\/etc\/passwd" escapes with "\.\."/)
  })

  it('a hash file that is a FIFO, /dev/zero or a directory is refused at once', async () => {
    const fifo = path.join(dir, 'fifo')
    await run('mkfifo', [fifo])
    for (const [file, what] of [
      [fifo, 'a FIFO'],
      ['/dev/zero', 'a character device'],
      [dir, 'a directory'],
    ]) {
      const r = await runCli(['hash', 'inspect', file], {timeoutMs: CASE_TIMEOUT_MS})
      assert.equal(r.code, 2, file)
      assert.equal(errorLine(r.stderr), `Error: ${file}: cannot read: not a regular file (${what})`)
    }
  })
})

describe('providers: hostile trees and servers', () => {
  let dir: string
  let root: string
  let good: string
  let sock: NetServer
  let server: Server
  let base: string
  const hits: string[] = []
  const debBytes = Buffer.from('a real package would be here')
  const passwd = readFileSync('/etc/passwd')

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-hostile-prov-'))
    root = path.join(dir, 'root')
    good = path.join(dir, 'good')
    await mkdir(path.join(root, 'pool'), {recursive: true})
    await mkdir(path.join(good, 'pool'), {recursive: true})
    for (const n of ['fifo', 'zero', 'pw', 'dir', 'sock', 'huge', 'bad', 'ok'])
      await writeFile(path.join(good, 'pool', `${n}_1_all.deb`), debBytes)
    await run('mkfifo', [path.join(root, 'pool', 'fifo_1_all.deb')])
    await symlink('/dev/zero', path.join(root, 'pool', 'zero_1_all.deb'))
    await symlink('/etc/passwd', path.join(root, 'pool', 'pw_1_all.deb'))
    await symlink('/etc', path.join(root, 'etc'))
    await symlink('/dev', path.join(dir, 'devroot'))
    await mkdir(path.join(root, 'pool', 'dir_1_all.deb'))
    sock = createNetServer()
    await new Promise<void>((r) => sock.listen(path.join(root, 'pool', 'sock_1_all.deb'), r))
    // 3 GiB, sparse: over the 2 GiB cap without using the disk
    const fh = await open(path.join(root, 'pool', 'huge_1_all.deb'), 'w')
    await fh.truncate(3 * 2 ** 30)
    await fh.close()
    await writeFile(path.join(root, 'pool', 'bad_1_all.deb'), 'not the bytes the hash file pins')
    await writeFile(path.join(root, 'pool', 'ok_1_all.deb'), debBytes)
    server = createServer((req, res) => {
      hits.push(req.url ?? '')
      if (req.url?.startsWith('/endless/')) {
        // no Content-Length, never ends
        res.writeHead(200)
        const chunk = Buffer.alloc(64 * 1024)
        const pump = (): void => {
          while (res.write(chunk));
          res.once('drain', pump)
        }
        pump()
        req.on('close', () => res.destroy())
      } else if (req.url?.startsWith('/huge/')) {
        res.writeHead(200, {'content-length': String(3 * 2 ** 30)})
        res.write('x')
      } else if (req.url?.startsWith('/drip/')) {
        res.writeHead(200)
        const t = setInterval(() => res.write('x'), 50)
        req.on('close', () => clearInterval(t))
      } else if (req.url?.startsWith('/reset/')) {
        // half a body, then the connection is cut
        res.writeHead(200, {'content-length': '100000'})
        res.write(Buffer.alloc(50_000), () => res.socket?.destroy())
      } else if (req.url?.startsWith('/ok/')) {
        res.writeHead(200, {'content-length': String(debBytes.length)}).end(debBytes)
      } else res.writeHead(404).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await new Promise((r) => sock.close(r))
    await rm(dir, {recursive: true, force: true})
  })

  let n = 0
  /** get download of `lines` in a fresh sandbox; returns the result and what the cache holds. */
  async function download(lines: string, providers: string[]) {
    const box = path.join(dir, `box${n++}`)
    await mkdir(box)
    await writeFile(path.join(box, 'SUMS'), lines)
    const t0 = Date.now()
    const r = await runCli(
      [
        'get',
        'download',
        '--distro',
        'debian',
        '--cache',
        'cache',
        ...providers.flatMap((p) => ['--provider', p]),
        'SUMS',
      ],
      {cwd: box, timeoutMs: CASE_TIMEOUT_MS},
    )
    const ms = Date.now() - t0
    assert.ok(ms < CASE_TIMEOUT_MS, 'no hang')
    const files = await tree(box)
    assert.deepEqual(
      files.filter((f) => f.startsWith(`cache${path.sep}tmp`)),
      [],
      'no .part left',
    )
    return {...r, files, blobs: files.filter((f) => f.startsWith(path.join('cache', 'blobs')))}
  }

  const rootT = (): string => `file://${root}/{{.Name}}`
  const goodT = (): string => `file://${good}/{{.Name}}`

  it('%2e%2e and ../ names never reach a file:// provider: exit 2, nothing cached', async () => {
    for (const name of [
      '%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '../../../../etc/passwd',
      'etc/../../../etc/passwd',
    ]) {
      const r = await download(`${sha(passwd)}  ${name}\n`, [rootT()])
      assert.equal(r.code, 2)
      assert.match(errorLine(r.stderr), /^Error: SUMS:1: file name "/)
      assert.deepEqual(r.blobs, [])
    }
  })

  it('a symlink out of the root (file or directory) is refused even when the sha256 matches', async () => {
    const r = await download(`${sha(passwd)}  etc/passwd\n${sha(passwd)}  pool/pw_1_all.deb\n`, [rootT()])
    assert.equal(r.code, 2)
    assert.equal(
      errorLine(r.stderr),
      `Error: SUMS:1: etc/passwd: every provider failed (${rootT()}: resolves (through a symlink) outside the provider's root ${root}) (and 1 more file(s) failed)`,
    )
    assert.deepEqual(r.blobs, [])
  })

  it('a FIFO, /dev/zero, a directory, a socket: refused at once, the next provider serves the file', async () => {
    const names = ['fifo', 'zero', 'dir', 'sock'].map((x) => `pool/${x}_1_all.deb`)
    const lines = names.map((nm) => `${sha(debBytes)}  ${nm}\n`).join('')
    const alone = await download(lines.split('\n')[0] + '\n', [rootT()])
    assert.equal(alone.code, 2)
    assert.equal(
      errorLine(alone.stderr),
      `Error: SUMS:1: pool/fifo_1_all.deb: every provider failed (${rootT()}: not a regular file (a FIFO))`,
    )
    const dirOnly = await download(`${sha(debBytes)}  pool/dir_1_all.deb\n`, [rootT()])
    assert.match(errorLine(dirOnly.stderr), /: not a regular file \(a directory\)\)$/)
    const sockOnly = await download(`${sha(debBytes)}  pool/sock_1_all.deb\n`, [rootT()])
    assert.match(errorLine(sockOnly.stderr), /: not a regular file \(a socket\)\)$/)
    const r = await download(lines, [rootT(), goodT()])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^4 downloaded/)
    assert.deepEqual(r.blobs, [path.join('cache', 'blobs', 'sha256', sha(debBytes))])
  })

  it('/dev/zero itself (a provider rooted in /dev, directly or through a symlink) is a character device, refused', async () => {
    for (const t of ['file:///dev/{{.Basename}}', `file://${dir}/devroot/{{.Basename}}`]) {
      const r = await download(`${sha(debBytes)}  x/zero\n`, [t])
      assert.equal(r.code, 2)
      assert.equal(
        errorLine(r.stderr),
        `Error: SUMS:1: x/zero: every provider failed (${t}: not a regular file (a character device))`,
      )
      assert.deepEqual(r.blobs, [])
    }
  })

  it('a file over the 2 GiB cap is refused without reading it; a checksum mismatch leaves no .part', async () => {
    const r = await download(`${sha(debBytes)}  pool/bad_1_all.deb\n${sha(debBytes)}  pool/huge_1_all.deb\n`, [rootT()])
    assert.equal(r.code, 2)
    assert.equal(
      errorLine(r.stderr),
      `Error: SUMS:1: pool/bad_1_all.deb: every provider failed (${rootT()}: sha256 mismatch (got ${sha('not the bytes the hash file pins')})) (and 1 more file(s) failed)`,
    )
    const huge = await download(`${sha(debBytes)}  pool/huge_1_all.deb\n`, [rootT()])
    assert.match(errorLine(huge.stderr), /: 3221225472 bytes, over the cap of 2 GiB\)$/)
    assert.deepEqual([...r.blobs, ...huge.blobs], [])
  })

  it('3,000 entries whose files are missing: one clean error naming the first line and each provider once', async () => {
    // names in reverse order of the lines: the error names line 1, not the first name
    const lines = Array.from(
      {length: 3000},
      (_, i) => `${sha(String(i))}  pool/m/p${String(2999 - i).padStart(4, '0')}_1_all.deb\n`,
    )
    const r = await download(lines.join(''), [rootT(), goodT()])
    assert.equal(r.code, 2)
    assert.equal(
      errorLine(r.stderr),
      `Error: SUMS:1: pool/m/p2999_1_all.deb: every provider failed (${rootT()}: no such file; ${goodT()}: no such file) (and 2999 more file(s) failed)`,
    )
    assert.deepEqual(r.blobs, [])
  })

  it('http: names are encoded segment by segment (^ as %5E), the path keeps its structure', async () => {
    const name = 'vim/9.1^1/1.fc41/x86_64/vim-9.1^1-1.fc41.x86_64.rpm'
    const r = await download(`${sha(debBytes)}  ${name}\n`, [`${base}/ok/{{.Name}}?v={{.RPM.Version}}`])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(hits.includes(`/ok/vim/9.1%5E1/1.fc41/x86_64/vim-9.1%5E1-1.fc41.x86_64.rpm?v=9.1%5E1`), hits.join(' '))
  })

  it('http: an endless body, a Content-Length over the cap, a drip that never ends and a cut connection all stop, leaving no .part', async () => {
    const entries = parseHashFiles([{file: 'S', text: `${sha(debBytes)}  pool/ok_1_all.deb\n`}])
    for (const [route, options, reason] of [
      ['endless', {maxBytes: 2 ** 20}, /more than 1 MiB \(the package size cap\)/],
      ['huge', {}, /Content-Length 3221225472 is over the cap of 2 GiB/],
      ['drip', {attemptTimeoutMs: 500, retries: 0}, /not complete within 500 ms/],
      ['reset', {retries: 1}, /every provider failed \(http:\/\/127\.0\.0\.1:\d+\/reset\/\{\{\.Name\}\}: /],
    ] as const) {
      const cache = new PackageCache(path.join(dir, `http-${route}`))
      await assert.rejects(
        downloadEntries(entries, {
          cache,
          providers: [parseProvider(`${base}/${route}/{{.Name}}`)],
          epochFor: () => 0,
          logger: silentLogger,
          backoffMs: 10,
          ...options,
        }),
        (e: Error) => reason.test(e.message),
      )
      assert.deepEqual(await readdir(path.join(cache.dir, 'tmp')), [], `${route}: no .part`)
      assert.deepEqual(await readdir(path.join(cache.dir, 'blobs', 'sha256')), [])
    }
  })

  it('a file that grows after its size was checked is cut at the cap', async () => {
    const file = path.join(dir, 'growing')
    await writeFile(file, Buffer.alloc(1000))
    const {fh} = await openRegularFile(file, 1000)
    try {
      await writeFile(file, Buffer.alloc(5000), {flag: 'a'})
      await assert.rejects(
        (async () => {
          for await (const chunk of readChunks(fh, 1000, 512)) assert.ok(chunk.length <= 512)
        })(),
        (e: Error) => e instanceof RegularFileError && /grew over the cap of 1000 bytes/.test(e.message),
      )
    } finally {
      await fh.close()
    }
    await rm(file)
  })

  it('nothing outside the sandboxes was touched: the provider trees are as they were made', async () => {
    assert.equal((await lstat(path.join(root, 'pool', 'fifo_1_all.deb'))).isFIFO(), true)
    assert.deepEqual(await readdir(path.join(root, 'pool')), [
      'bad_1_all.deb',
      'dir_1_all.deb',
      'fifo_1_all.deb',
      'huge_1_all.deb',
      'ok_1_all.deb',
      'pw_1_all.deb',
      'sock_1_all.deb',
      'zero_1_all.deb',
    ])
  })
})
