import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {type ReportHtmlResult, writeReportPages} from '../../report/html/reports.js'

export default class ReportHtml extends BaseCommand<typeof ReportHtml> {
  static override summary =
    'Write self-contained HTML pages for JSON reports: diff, verify, verify --matrix and its history.'
  static override description = `PATH is one report or a directory of them: a \`repro diff\` report.json (--report-dir), a \`repro verify
--json\` result, a \`repro verify --matrix\` report (or the nightly's). Each page goes next to its JSON (X.json →
X.html). A matrix report also gets the diff page of every job that kept a diff; a directory with several matrix
runs (DIR/*.json or DIR/RUN/report.json) gets DIR/index.html, the history of every job run after run. Pages load
nothing from the network and are deterministic; --timings adds start times and durations.`

  static override examples = [
    '<%= config.bin %> report html reports/nightly/',
    '<%= config.bin %> report html out/report.json --timings',
  ]

  static override args = {
    path: Args.string({description: 'a JSON report, or a directory of reports', required: true}),
  }

  static override flags = {
    timings: Flags.boolean({description: 'show start times and durations (run-dependent: pages differ run to run)'}),
  }

  async run(): Promise<ReportHtmlResult> {
    const {args, flags} = this
    const result = writeReportPages(args.path, {timings: flags.timings})
    for (const s of result.skipped) this.logger.warn(`report html: ${s}: not a repro report, skipped`)
    if (!this.jsonEnabled()) for (const p of result.pages) this.out(p)
    return result
  }
}
