import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {distroFlag, rootFlag} from '../../pkg/cli-flags.js'
import {hashGenerate, type HashGenerateResult} from '../../pkg/operations.js'

export default class HashGenerate extends BaseCommand<typeof HashGenerate> {
  static args = {packages: Args.string({description: 'Package names (default: every installed package).'})}
  static description =
    'Print a hash file (SHA256SUMS) of the INSTALLED versions of packages, from the distro metadata (dpkg status + apt lists, repodata, pacman dbs; alpine: the cached .apk files).'
  static examples = [
    '<%= config.bin %> hash generate > SHA256SUMS-amd64',
    '<%= config.bin %> hash generate --root /srv/rootfs hello',
    '<%= config.bin %> hash generate --dedupe SHA256SUMS-amd64.old',
  ]
  static flags = {
    ...rootFlag,
    ...distroFlag,
    dedupe: Flags.string({description: 'Leave out entries identical to those of this older hash file.'}),
  }
  static strict = false

  async run(): Promise<HashGenerateResult> {
    const {argv} = await this.parse(HashGenerate)
    const r = await hashGenerate(argv as string[], this.flags, {exec: realExec, logger: this.logger})
    if (r.deduped) this.logger.verbose(`--dedupe: left out ${r.deduped} unchanged entries`)
    if (!this.jsonEnabled()) process.stdout.write(r.text)
    return r
  }
}
