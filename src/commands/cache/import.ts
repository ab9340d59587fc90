import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import type {ImportResult} from '../../pkg/cache.js'
import {cacheFlag} from '../../pkg/cli-flags.js'
import {cacheImport} from '../../pkg/operations.js'

export default class CacheImport extends BaseCommand<typeof CacheImport> {
  static description =
    'Import package files (or directories of them) into the cache by their sha256. Every failure is reported; any failure exits 2.'
  static flags = {...cacheFlag}
  static strict = false

  async run(): Promise<ImportResult> {
    const {argv} = await this.parse(CacheImport)
    const r = await cacheImport(argv as string[], this.flags, {exec: realExec, logger: this.logger})
    if (!this.jsonEnabled()) for (const f of r.files) this.out(`${f.action} ${f.basename} sha256:${f.sha256}`)
    return r
  }
}
