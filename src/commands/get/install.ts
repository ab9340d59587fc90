import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {pkgFlags, verifyChainFlags} from '../../pkg/cli-flags.js'
import {renderChainText} from '../../pkg/debian/chain-text.js'
import {resolveContext} from '../../pkg/context.js'
import {getInstall, type GetInstallResult} from '../../pkg/operations.js'
import {downloadProgress} from '../../ui/download-progress.js'

export default class GetInstall extends BaseCommand<typeof GetInstall> {
  static description =
    'Download and verify every file of the hash files, then install them in one batch with the distro tool (dpkg, rpm, apk, pacman), into --root if given. Exact installed versions (epochs included) are skipped.'
  static examples = [
    '<%= config.bin %> get install SHA256SUMS-amd64',
    '<%= config.bin %> get install --root /srv/rootfs --dry SHA256SUMS-amd64',
    '<%= config.bin %> get install --root /srv/fedora --distro fedora --key RPM-GPG-KEY-fedora SHA256SUMS-amd64',
  ]
  static flags = {
    ...pkgFlags,
    ...verifyChainFlags,
    dry: Flags.boolean({description: 'Download and verify, then print the install commands instead of running them.'}),
    key: Flags.string({
      description:
        "OpenPGP public key file whose signatures are accepted (repeatable; rpm and pacman): rpm imports it into the root's rpmdb after the packages verified against it; pacman uses a keyring of these keys for this install only.",
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: 'PACKAGES',
    }),
  }
  static strict = false

  async run(): Promise<GetInstallResult> {
    const {argv} = await this.parse(GetInstall)
    const ctx = await resolveContext(this.flags)
    const progress = downloadProgress(this.logger, {
      tty: Boolean(process.stderr.isTTY),
      quiet: Boolean(this.flags.quiet),
    })
    let r: GetInstallResult
    try {
      r = await getInstall(
        argv as string[],
        ctx,
        {...this.flags, verifyChain: this.flags['verify-chain'], allowExpired: this.flags['allow-expired']},
        {exec: realExec, logger: this.logger, events: progress},
      )
    } finally {
      progress.finish()
    }
    if (!this.jsonEnabled()) {
      if (r.chain) this.out(renderChainText(r.chain))
      if (r.dry) for (const c of r.commands) this.out(c)
      else {
        for (const s of r.skipped) this.logger.info(`skipped ${s.name}: ${s.reason}`)
        this.out(`${r.installed.length} installed, ${r.skipped.length} already installed`)
      }
    }
    return r
  }
}
