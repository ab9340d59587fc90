import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {pkgFlags, verifyChainFlags} from '../../pkg/cli-flags.js'
import {renderChainText} from '../../pkg/debian/chain-text.js'
import {resolveContext} from '../../pkg/context.js'
import type {DownloadResult} from '../../pkg/download.js'
import {getDownload} from '../../pkg/operations.js'
import {downloadProgress} from '../../ui/download-progress.js'

export default class GetDownload extends BaseCommand<typeof GetDownload> {
  static description =
    'Download the files of hash files into the cache: in parallel, from the providers in order, each verified against its sha256 before it enters the cache.'
  static examples = [
    '<%= config.bin %> get download SHA256SUMS-amd64',
    "<%= config.bin %> get download --provider 'file:///mnt/pkgs/{{.Basename}}' SHA256SUMS-amd64",
  ]
  static flags = {...pkgFlags, ...verifyChainFlags}
  static strict = false

  async run(): Promise<DownloadResult & {cache: string}> {
    const {argv} = await this.parse(GetDownload)
    const ctx = await resolveContext(this.flags)
    const progress = downloadProgress(this.logger, {
      tty: Boolean(process.stderr.isTTY),
      quiet: Boolean(this.flags.quiet),
    })
    try {
      const r = await getDownload(
        argv as string[],
        ctx,
        {...this.flags, verifyChain: this.flags['verify-chain'], allowExpired: this.flags['allow-expired']},
        {
          exec: realExec,
          logger: this.logger,
          events: progress,
        },
      )
      if (r.chain && !this.jsonEnabled()) this.out(renderChainText(r.chain))
      if (!this.jsonEnabled()) this.out(`${r.downloaded} downloaded, ${r.cached} already cached (${ctx.cache.dir})`)
      return r
    } finally {
      progress.finish()
    }
  }
}
