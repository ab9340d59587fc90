/**
 * A separate process working on one package cache, for tests/unit/cache-lock.test.ts:
 *   write DIR N SEED   commit N blobs (half shared by every seed, half its own) through tempPath + commit
 *   clean DIR N        run `clean` N times
 *   locked DIR LOG ID  hold the cache lock for 100 ms, logging "start ID" / "end ID" to LOG
 */
import {createHash} from 'node:crypto'
import {appendFile, writeFile} from 'node:fs/promises'

import {PackageCache} from '../../src/pkg/cache.js'

const [mode, dir, a, b] = process.argv.slice(2)
const cache = new PackageCache(dir)
await cache.init()
if (mode === 'write') {
  for (let i = 0; i < Number(a); i++) {
    const text = i % 2 === 0 ? `shared ${i}\n` : `own ${b} ${i}\n`
    const sha = createHash('sha256').update(text).digest('hex')
    const tmp = cache.tempPath(sha)
    await writeFile(tmp, text)
    await cache.commit(tmp, sha, sha, {basename: `f-${sha.slice(0, 8)}.deb`})
  }
} else if (mode === 'clean') {
  for (let i = 0; i < Number(a); i++) await cache.clean()
} else if (mode === 'locked') {
  await cache.withLock(async () => {
    await appendFile(a, `start ${b}\n`)
    await new Promise((r) => setTimeout(r, 100))
    await appendFile(a, `end ${b}\n`)
  })
}
