import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {cacheFlag} from '../../pkg/cli-flags.js'
import {cacheClean} from '../../pkg/operations.js'

export default class CacheClean extends BaseCommand<typeof CacheClean> {
  static description = 'Remove every cached file, its metadata and partial downloads.'
  static flags = {...cacheFlag}

  async run(): Promise<{cache: string; blobs: number; bytes: number}> {
    const r = await cacheClean(this.flags, {exec: realExec, logger: this.logger})
    if (!this.jsonEnabled()) this.out(`removed ${r.blobs} file(s), ${r.bytes} bytes from ${r.cache}`)
    return r
  }
}
