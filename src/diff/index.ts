/**
 * `repro diff`: resolve both inputs, compare them, build the result, write --report-dir. Temp files from
 * docker/podman save and registry fetches are always removed; a report directory is only left behind
 * when the comparison finished.
 */
import {rm} from 'node:fs/promises'

import {type Exec, realExec} from '../exec.js'
import {platformImages, topImageDigest} from '../image/archive.js'
import type {Logger} from '../log.js'
import {compareArchives} from './compare.js'
import type {IgnoreOptions} from './ignore.js'
import {type ResolvedInput, resolveInput} from './inputs.js'
import {buildResult, ReportDir} from './report.js'
import type {DiffResult, InputSummary} from './types.js'

export interface DiffOptions {
  ignore: IgnoreOptions
  platform?: string
  reportDir?: string
  plainHttp?: boolean
  concurrency?: number
  exec?: Exec
  logger?: Logger
}

function summaryOf(r: ResolvedInput): InputSummary {
  return {
    input: r.input,
    format: r.archive.format,
    imageDigest: topImageDigest(r.archive) ?? null,
    platforms: platformImages(r.archive)
      .map((i) => i.platform)
      .sort(),
  }
}

export async function diffImages(inputA: string, inputB: string, options: DiffOptions): Promise<DiffResult> {
  const resolved: ResolvedInput[] = []
  const inputOptions = {
    exec: options.exec ?? realExec,
    logger: options.logger,
    plainHttp: options.plainHttp,
    platform: options.platform,
  }
  let createdReport: ReportDir | undefined
  try {
    const [a, b] = await Promise.allSettled([resolveInput(inputA, inputOptions), resolveInput(inputB, inputOptions)])
    for (const r of [a, b]) if (r.status === 'fulfilled') resolved.push(r.value)
    if (a.status === 'rejected') throw a.reason
    if (b.status === 'rejected') throw b.reason
    const report = options.reportDir ? ReportDir.create(options.reportDir) : undefined
    createdReport = report
    const outcome = await compareArchives(a.value.archive, b.value.archive, {
      concurrency: options.concurrency,
      ignore: options.ignore,
      logger: options.logger,
      platform: options.platform,
      reportDir: report,
    })
    const result = buildResult(
      summaryOf(a.value),
      summaryOf(b.value),
      outcome.events,
      options.ignore.semantic,
      outcome.stats,
      outcome.warnings,
    )
    if (report && options.reportDir) {
      result.reportDir = options.reportDir
      report.writeReport(result)
    }
    createdReport = undefined
    return result
  } finally {
    if (createdReport) await rm(createdReport.root, {force: true, recursive: true})
    await Promise.all(resolved.map((r) => r.cleanup()))
  }
}
