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
    '<%= config.bin %> hash generate -o SHA256SUMS-amd64   # and SHA256SUMS-amd64.chain.json (debian, ubuntu)',
    '<%= config.bin %> hash generate --chain SHA256SUMS-amd64.chain.json > SHA256SUMS-amd64',
  ]
  static flags = {
    ...rootFlag,
    ...distroFlag,
    dedupe: Flags.string({description: 'Leave out entries identical to those of this older hash file.'}),
    output: Flags.string({
      char: 'o',
      description:
        'Write the hash file to FILE instead of stdout, and for debian/ubuntu its signature chain to FILE.chain.json (both atomically).',
    }),
    chain: Flags.string({
      description:
        'Write the signature chain (repository, InRelease and Packages digests of each package) to this file; with stdout as the hash file, this is how the chain is asked for.',
      helpGroup: 'CHAIN',
    }),
    'no-chain': Flags.boolean({
      description: 'With -o: write only the hash file (for lists no signed InRelease covers, e.g. a local repository).',
      exclusive: ['chain'],
      helpGroup: 'CHAIN',
    }),
    indexes: Flags.string({
      description: 'Read the apt lists from this directory (saved indexes) instead of ROOT/var/lib/apt/lists.',
      helpGroup: 'CHAIN',
    }),
  }
  static strict = false

  async run(): Promise<HashGenerateResult> {
    const {argv} = await this.parse(HashGenerate)
    const r = await hashGenerate(
      argv as string[],
      {...this.flags, noChain: this.flags['no-chain']},
      {exec: realExec, logger: this.logger},
    )
    if (r.deduped) this.logger.verbose(`--dedupe: left out ${r.deduped} unchanged entries`)
    if (!this.jsonEnabled()) {
      if (r.output)
        this.out(`wrote ${r.output} (${r.entries.length} entries)${r.chainFile ? ` and ${r.chainFile}` : ''}`)
      else process.stdout.write(r.text)
      if (r.chainFile && !r.output) this.logger.info(`wrote ${r.chainFile}`)
    }
    return r
  }
}
