import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {cacheFlag, chainFlags, rootFlag} from '../../pkg/cli-flags.js'
import {resolveCache} from '../../pkg/context.js'
import {hashVerify, type VerifyChainResult} from '../../pkg/debian/chain.js'
import {renderChainText} from '../../pkg/debian/chain-text.js'

export default class HashVerify extends BaseCommand<typeof HashVerify> {
  static description =
    "Verify Debian's signature chain for every entry of hash files: the InRelease's OpenPGP signature (gpgv, the archive keyring) and Valid-Until, the Packages index's sha256 and size as the InRelease lists them, each package's sha256 as Packages lists it, and the package files' bytes when they are at hand (--debs, the cache). Reads FILE.chain.json (written by hash generate -o FILE). Any broken link exits 2 naming it (E_CHAIN)."
  static examples = [
    '<%= config.bin %> hash verify SHA256SUMS-amd64',
    '<%= config.bin %> hash verify --indexes saved-lists/ --allow-expired --debs pool/ SHA256SUMS-amd64',
    '<%= config.bin %> hash verify --root /srv/rootfs --keyring my-archive.gpg SHA256SUMS-amd64 --json',
  ]
  static flags = {
    ...rootFlag,
    ...cacheFlag,
    ...chainFlags,
    chain: Flags.string({
      description: 'The chain file (default FILE.chain.json; one hash file only).',
      helpGroup: 'CHAIN',
    }),
    debs: Flags.string({
      description:
        'Directory holding package files (under their hash-file name or basename) whose bytes are hashed too (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'CHAIN',
    }),
  }
  static strict = false

  async run(): Promise<VerifyChainResult> {
    const {argv} = await this.parse(HashVerify)
    const r = await hashVerify(
      argv as string[],
      {...this.flags, allowExpired: this.flags['allow-expired']},
      {exec: realExec, logger: this.logger, cache: resolveCache(this.flags)},
    )
    if (!this.jsonEnabled()) process.stdout.write(renderChainText(r))
    return r
  }
}
