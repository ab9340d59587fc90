import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {distroFlag, rootFlag} from '../../pkg/cli-flags.js'
import {hashUpdate, type HashUpdateResult} from '../../pkg/operations.js'

export default class HashUpdate extends BaseCommand<typeof HashUpdate> {
  static args = {file: Args.string({description: 'Hash file to rewrite in place.', required: true})}
  static description =
    'Rewrite a hash file for the installed versions of the packages it names, keeping its comments, order and /ipfs/ lines (CID lines of bytes no entry has any more are dropped).'
  static examples = ['<%= config.bin %> hash update SHA256SUMS-amd64']
  static flags = {...rootFlag, ...distroFlag}

  async run(): Promise<HashUpdateResult> {
    const r = await hashUpdate(this.args.file, this.flags, {exec: realExec, logger: this.logger})
    if (!this.jsonEnabled()) {
      for (const u of r.updated) this.out(`updated ${u.from} -> ${u.name}`)
      this.logger.info(
        `${r.file}: ${r.updated.length} updated, ${r.unchanged} unchanged${r.droppedCidLines ? `, ${r.droppedCidLines} stale /ipfs/ line(s) dropped` : ''}`,
      )
    }
    return r
  }
}
