/**
 * The package cache under concurrency (src/pkg/cache.ts): the write lock excludes other processes, `clean`
 * keeps what live writers and running builds use and removes the rest, leftovers of dead processes are swept,
 * and real concurrent writer and cleaner processes leave only verified blobs and no strays.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'

import {processAlive} from '../../src/lifecycle.js'
import {PackageCache} from '../../src/pkg/cache.js'

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'cache-worker.ts')
const sha = (t: string) => createHash('sha256').update(t).digest('hex')

function worker(...args: string[]): Promise<{code: number | null; stderr: string}> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    c.stderr.on('data', (d) => (stderr += d))
    c.on('close', (code) => resolve({code, stderr}))
  })
}

function deadPid(): number {
  let pid = 4_000_000
  while (processAlive(pid)) pid++
  return pid
}

describe('package cache locking and clean', () => {
  let dir: string
  let cache: PackageCache
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-cache-lock-'))
    cache = new PackageCache(path.join(dir, 'cache'))
    await cache.init()
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  async function put(text: string): Promise<string> {
    const h = sha(text)
    const tmp = cache.tempPath(h)
    await writeFile(tmp, text)
    await cache.commit(tmp, h, h, {basename: `${h.slice(0, 6)}.deb`})
    return h
  }

  it("clean removes blobs, dead writers' partial files and unused contexts; keeps live ones and contexts in use", async () => {
    await put('a')
    await put('b')
    const dead = deadPid()
    const tmp = path.join(cache.dir, 'tmp')
    await writeFile(path.join(tmp, `abc.${process.pid}.0a0b.part`), 'live writer')
    await writeFile(path.join(tmp, `abc.${dead}.0a0b.part`), 'dead writer')
    const used = path.join(cache.contextsDir, 'repro-pkgs-1111111111111111')
    const unused = path.join(cache.contextsDir, 'repro-pkgs-2222222222222222')
    await mkdir(used, {recursive: true})
    await mkdir(unused, {recursive: true})
    const done = await cache.markInUse(used)
    const r = await cache.clean()
    assert.deepEqual(r, {blobs: 2, bytes: 2, contexts: 1, kept: 2})
    assert.deepEqual(await cache.list(), [])
    assert.deepEqual(await readdir(path.join(cache.dir, 'metadata', 'sha256')), [])
    assert.deepEqual(await readdir(tmp), [`abc.${process.pid}.0a0b.part`])
    assert.deepEqual(await readdir(cache.contextsDir), ['repro-pkgs-1111111111111111'])
    await done()
    assert.equal((await cache.clean()).contexts, 1, 'once the build is done, its context goes too')
    // a commit after a clean works: the layout is still there
    assert.ok(await cache.has(await put('c')))
    assert.ok(!(await readdir(cache.dir)).includes('lock'), 'no lock left behind')
  })

  it('init sweeps the partial files, context temp dirs and in-use marks of dead processes', async () => {
    const dead = deadPid()
    await writeFile(path.join(cache.dir, 'tmp', `abc.${dead}.0a0b.part`), 'x')
    await mkdir(path.join(cache.contextsDir, `repro-pkgs-1111111111111111.tmp-${dead}-0a0b`), {recursive: true})
    await mkdir(path.join(cache.dir, 'inuse'), {recursive: true})
    await writeFile(path.join(cache.dir, 'inuse', `repro-pkgs-1111111111111111.${dead}-0a0b`), '')
    await cache.init()
    assert.deepEqual(await readdir(path.join(cache.dir, 'tmp')), [])
    assert.deepEqual(await readdir(cache.contextsDir), [])
    assert.deepEqual(await readdir(path.join(cache.dir, 'inuse')), [])
  })

  it('an existing blob counts as done: a second commit of the same bytes drops its temp file', async () => {
    const h = await put('same')
    await put('same')
    assert.equal(await readFile(cache.blobPath(h), 'utf8'), 'same')
    assert.deepEqual(await readdir(path.join(cache.dir, 'tmp')), [])
  })

  it('the lock excludes other processes', async () => {
    const log = path.join(dir, 'log')
    const runs = await Promise.all(['1', '2', '3', '4'].map((id) => worker('locked', cache.dir, log, id)))
    for (const r of runs) assert.equal(r.code, 0, r.stderr)
    const lines = (await readFile(log, 'utf8')).trim().split('\n')
    assert.equal(lines.length, 8)
    for (let i = 0; i < lines.length; i += 2) {
      const id = lines[i].split(' ')[1]
      assert.deepEqual([lines[i], lines[i + 1]], [`start ${id}`, `end ${id}`], `interleaved: ${lines.join(', ')}`)
    }
  })

  it('six writer processes and a cleaner on one cache: all succeed, every blob verifies, no strays', async () => {
    const runs = await Promise.all([
      ...['1', '2', '3', '4', '5', '6'].map((seed) => worker('write', cache.dir, '30', seed)),
      worker('clean', cache.dir, '20'),
    ])
    for (const r of runs) assert.equal(r.code, 0, r.stderr)
    const blobs = await cache.list()
    for (const b of blobs) assert.equal(sha(await readFile(b.path, 'utf8')), b.sha256, `${b.path} does not verify`)
    assert.ok(
      blobs.every((b) => b.basename === `f-${b.sha256.slice(0, 8)}.deb`),
      'every blob has its metadata',
    )
    assert.deepEqual(await readdir(path.join(cache.dir, 'tmp')), [], 'no partial files left')
    assert.ok(!(await readdir(cache.dir)).includes('lock'), 'no lock left')
  })

  it("hostile names in tmp/, contexts/ and inuse/: only dead processes' well-formed leftovers go, links are not followed", async () => {
    const dead = deadPid()
    const outside = path.join(dir, 'outside')
    await mkdir(outside)
    await writeFile(path.join(outside, 'precious'), 'keep me')
    const pids = ['0', '-1', '1e3', '99999999999999999999', 'NaN', ' 1', String(process.pid), String(dead), '']
    const hints = ['abc', '', ' ', '\n', '..', 'a b', 'ü', '-rf', '*']
    const rands = ['0a0b', 'ZZ', '', 'g']
    const removed: string[] = []
    const kept: string[] = []
    const tmp = path.join(cache.dir, 'tmp')
    let i = 0
    for (const pid of pids) {
      for (const hint of hints) {
        for (const rand of rands) {
          const name = `${hint}.${pid}.${rand}.part`
          if (name.includes('/')) continue
          // by construction: a hint without dots, a decimal pid, lowercase hex: the writer's own format
          const wellFormed = !hint.includes('.') && /^\d+$/.test(pid) && /^[0-9a-f]+$/.test(rand)
          const live = wellFormed && pid === String(process.pid)
          const target = path.join(tmp, name)
          // every third entry is a directory, every fifth a link to a directory outside the cache
          if (i % 5 === 0) await symlink(outside, target)
          else if (i % 3 === 0) await mkdir(target)
          else await writeFile(target, 'x')
          i++
          ;(wellFormed && !live && pid !== '1' ? removed : kept).push(name)
        }
      }
    }
    // pid 0 is "no process" and goes; pid 1 (init) is alive and its file stays
    await writeFile(path.join(tmp, `abc.1.0a0b.part`), 'x')
    kept.push('abc.1.0a0b.part')
    await mkdir(path.join(cache.contextsDir, `..tmp-${dead}-0a`), {recursive: true})
    await mkdir(path.join(cache.contextsDir, `x.tmp-${dead}-zz`))
    const t0 = Date.now()
    const r = await cache.sweep()
    const ms = Date.now() - t0
    assert.equal(r.removed, removed.length + 1)
    assert.deepEqual((await readdir(tmp)).sort(), kept.sort())
    assert.deepEqual(await readdir(cache.contextsDir), [`x.tmp-${dead}-zz`])
    assert.equal(await readFile(path.join(outside, 'precious'), 'utf8'), 'keep me', 'a link was not followed')
    assert.ok(ms < 5000, `${i} hostile names swept in ${ms} ms`)
    // clean copes with the same directory, and still keeps the live writer's files
    await cache.clean()
    assert.deepEqual(
      (await readdir(tmp)).sort(),
      kept.sort(),
      'clean removes no more than the sweep: unknown names stay',
    )
  })
})
