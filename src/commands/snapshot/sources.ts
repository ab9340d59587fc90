import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {snapshotSources, type SnapshotSourcesResult} from '../../hermetic/snapshot.js'

export default class SnapshotSources extends BaseCommand<typeof SnapshotSources> {
  static override summary =
    'Print a POSIX sh script that points apt or pacman at the snapshot archive of SOURCE_DATE_EPOCH.'
  static override description = `Debian (snapshot archive by YYYYMMDDTHHMMSSZ), Ubuntu (snapshot service) and Arch Linux (archive by
YYYY/MM/DD), in UTC. Debian >= 13 and Ubuntu >= 23.10 use apt's own snapshot support (Snapshot: yes +
APT::Snapshot); older releases get their URIs rewritten (classic sources.list and deb822 .sources). The epoch
is embedded; $SOURCE_DATE_EPOCH inside the build overrides it. Without an epoch the script requires
$SOURCE_DATE_EPOCH at run time. Mount it into a RUN, or let repro build --snapshot-sources stage it:
  RUN --mount=from=repro-snapshot,target=/repro-snapshot /repro-snapshot/sources && apt-get update && apt-get install -y PKG`

  static override examples = [
    '<%= config.bin %> snapshot sources --datetime 2024-01-01 > repro-sources.sh',
    '<%= config.bin %> snapshot sources --sde 1704067200 --output repro-sources.sh',
    '<%= config.bin %> snapshot sources --method rewrite --sde 1704067200',
  ]

  static override flags = {
    sde: Flags.string({
      description: 'SOURCE_DATE_EPOCH in seconds (default: REPRO_SOURCE_DATE_EPOCH, else SOURCE_DATE_EPOCH)',
    }),
    datetime: Flags.string({description: 'SOURCE_DATE_EPOCH as an ISO 8601 date-time (UTC when no zone)'}),
    method: Flags.string({
      description: "auto: apt's Snapshot where apt has it, else rewritten URIs; or force one",
      options: ['auto', 'apt-snapshot', 'rewrite'],
      default: 'auto',
    }),
    output: Flags.string({char: 'o', description: 'write the script to FILE (mode 0755) instead of stdout'}),
  }

  async run(): Promise<SnapshotSourcesResult> {
    const {flags} = this
    const r = await snapshotSources({
      sde: flags.sde,
      datetime: flags.datetime,
      method: flags.method,
      output: flags.output,
      cwd: process.cwd(),
      env: {
        REPRO_SOURCE_DATE_EPOCH: process.env.REPRO_SOURCE_DATE_EPOCH,
        SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH,
      },
    })
    if (r.sourceDateEpoch === undefined)
      this.logger.warn('no SOURCE_DATE_EPOCH given: the script reads $SOURCE_DATE_EPOCH when it runs')
    else
      this.logger.verbose(
        `snapshot ${r.snapshot} (SOURCE_DATE_EPOCH=${r.sourceDateEpoch}, from ${r.sourceDateEpochFrom})`,
      )
    if (r.output) this.logger.info(`wrote ${r.output}`)
    else if (!this.jsonEnabled()) process.stdout.write(r.script)
    return r
  }
}
