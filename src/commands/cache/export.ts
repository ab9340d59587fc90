import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import type {ExportResult} from '../../pkg/cache.js'
import {cacheFlag} from '../../pkg/cli-flags.js'
import {cacheExport} from '../../pkg/operations.js'

export default class CacheExport extends BaseCommand<typeof CacheExport> {
  static args = {
    dir: Args.string({description: 'Directory to write the files to (created if missing).', required: true}),
  }
  static description =
    'Copy the cached files to DIR under their file names, in name order; a different file already there is never overwritten.'
  static flags = {...cacheFlag}

  async run(): Promise<ExportResult> {
    const r = await cacheExport(this.args.dir, this.flags, {exec: realExec, logger: this.logger})
    for (const s of r.skipped) this.logger.warn(`sha256:${s.sha256}: ${s.reason}`)
    if (!this.jsonEnabled()) for (const f of r.files) this.out(`${f.action} ${f.basename}`)
    return r
  }
}
