/**
 * Staged contexts under concurrency (src/hermetic/stage.ts): a `cache clean` that lands between a stage's
 * download and its write (simulated: blobs removed while the stage waits for the cache lock) makes the stage
 * fetch the files again instead of failing; a staged directory that exists is used as is, never replaced
 * (before, two builds with the same --hashfile removed and renamed it under each other).
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {executeStage, planPkgStage} from '../../src/hermetic/stage.js'
import {type Logger, silentLogger} from '../../src/log.js'
import {importToCache, PackageCache} from '../../src/pkg/cache.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {parseProvider} from '../../src/pkg/providers.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')

describe('staging and the cache lock', () => {
  let dir: string
  let cache: PackageCache
  const files = {
    'pool/main/h/hello/hello_2.10-3_amd64.deb': 'hello bytes',
    'pool/main/t/tree/tree_2.1_amd64.deb': 'tree',
  }
  const text = Object.entries(files)
    .map(([name, body]) => `${sha(body)}  ${name}\n`)
    .join('')
  const platforms = () => [
    {
      platform: 'linux/amd64',
      slug: 'amd64',
      hashFiles: ['SHA256SUMS'],
      entries: parseHashFiles([{file: 'SHA256SUMS', text}]),
    },
  ]
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-stage-lock-'))
    for (const [name, body] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, 'mirror', name)), {recursive: true})
      await writeFile(path.join(dir, 'mirror', name), body)
    }
    cache = new PackageCache(path.join(dir, 'cache'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('files cleaned away while the stage waits for the lock are fetched again', async () => {
    const providers = [parseProvider(`file://${dir}/mirror/{{.Name}}`)]
    const stage = await planPkgStage({platforms: platforms(), cache, providers, epoch: 0})
    const lines: string[] = []
    let downloaded!: () => void
    const afterDownload = new Promise<void>((r) => (downloaded = r))
    const logger: Logger = {
      ...silentLogger,
      info: (m) => {
        lines.push(m)
        if (m.includes('package file(s) verified')) downloaded()
      },
      warn: (m) => void lines.push(`warning: ${m}`),
    }
    // in the cache already: the stage's download finds them without taking the lock
    await importToCache(
      cache,
      Object.keys(files).map((n) => path.join(dir, 'mirror', n)),
    )
    let staged: Promise<() => Promise<void>> | undefined
    // hold the lock the way `cache clean` does, and remove the blobs once the stage has downloaded them
    await cache.withLock(async () => {
      staged = executeStage(stage, logger)
      await afterDownload
      for (const b of await cache.list()) await rm(b.path)
    })
    const done = await staged!
    assert.ok(
      lines.some((l) => /warning: repro-pkgs: package files left the cache while staging/.test(l)),
      lines.join('\n'),
    )
    assert.match(
      lines.filter((l) => l.includes('package file(s) verified')).join('\n'),
      /2 from the cache\)\n.*\(2 downloaded/,
    )
    assert.equal(await readFile(path.join(stage.dir, 'amd64', 'hello_2.10-3_amd64.deb'), 'utf8'), 'hello bytes')
    assert.deepEqual(await readdir(path.join(cache.dir, 'inuse')).then((n) => n.length), 1, 'marked in use')
    await done()
    assert.deepEqual(await readdir(path.join(cache.dir, 'inuse')), [])
  })

  it('a staged directory that exists counts as done: a second stage neither rewrites nor removes it', async () => {
    const providers = [parseProvider(`file://${dir}/mirror/{{.Name}}`)]
    const stage = await planPkgStage({platforms: platforms(), cache, providers, epoch: 0})
    const before = (await stat(stage.dir)).ino
    // a file only this test put there: a rewrite (rm + rename) would lose it
    await writeFile(path.join(stage.dir, 'witness'), 'still here')
    const [a, b] = await Promise.all([executeStage(stage, silentLogger), executeStage(stage, silentLogger)])
    assert.equal(await readFile(path.join(stage.dir, 'witness'), 'utf8'), 'still here')
    assert.equal((await stat(stage.dir)).ino, before, 'the same directory, not a replacement')
    await a()
    await b()
    assert.deepEqual(
      (await readdir(cache.contextsDir)).filter((n) => n.includes('.tmp-')),
      [],
      'no temp directories left',
    )
  })
})
