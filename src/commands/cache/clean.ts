import {BaseCommand} from '../../base-command.js'
import {type CleanResult} from '../../pkg/cache.js'
import {cacheFlag} from '../../pkg/cli-flags.js'
import {resolveCache} from '../../pkg/context.js'

export default class CacheClean extends BaseCommand<typeof CacheClean> {
  static description = `Remove every cached file and its metadata, and the staged build contexts no running build uses.
Safe while other repro processes run: it waits for the cache lock, keeps the partial downloads of live
processes (their names carry the pid) and the contexts of running builds, and removes those of dead ones.`

  static flags = {...cacheFlag}

  async run(): Promise<{cache: string} & CleanResult> {
    const cache = resolveCache(this.flags, process.env)
    const r = {cache: cache.dir, ...(await cache.clean())}
    if (!this.jsonEnabled()) {
      this.out(
        `removed ${r.blobs} file(s), ${r.bytes} bytes and ${r.contexts} staged context(s) from ${r.cache}` +
          (r.kept ? `; kept ${r.kept} in use by running repro processes` : ''),
      )
    }
    return r
  }
}
