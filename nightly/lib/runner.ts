/**
 * Runs the nightly matrix with the build domain itself (src/engine/run.ts build(), src/diff diffImages()):
 * each cell builds its fixture twice without cache, compares bytes and digests, explains a difference with
 * the semantic diff, checks the golden digest; then every runtime of one BuildKit version must agree.
 * Cells run one after the other: builds are CPU bound.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {NO_IGNORES} from '../../src/diff/ignore.js'
import {diffImages} from '../../src/diff/index.js'
import {ociLayoutDigest} from '../../src/engine/detect.js'
import {build, type BuildInput} from '../../src/engine/run.js'
import {type Exec, realExec} from '../../src/exec.js'
import type {Logger} from '../../src/log.js'
import {stageFixture} from './fixtures.js'
import {checkGolden, type Golden, type GoldenChange, updateGolden} from './golden.js'
import {type Cell, cellEngineProblem, type Engines, type FixtureMeta, type MatrixSelection} from './matrix.js'
import {
  type Agreement,
  agreementGroups,
  type BuildRun,
  type CauseCount,
  type CellResult,
  evaluateCell,
  type NightlyReport,
  REPORT_SCHEMA_VERSION,
  summarize,
} from './report.js'

export interface RunOptions {
  selection: MatrixSelection
  cells: Cell[]
  fixtures: FixtureMeta[]
  fixturesDir: string
  engines: Engines
  bases: Record<string, string>
  debsDir?: string
  env: Record<string, string>
  golden: Golden
  updateGolden: boolean
  sde: string
  log: (line: string) => void
  /** the build's own logger (engine output); quiet unless --verbose */
  buildLogger: Logger
}

export interface RunOutcome {
  report: NightlyReport
  golden: Golden
  goldenChanges: GoldenChange[]
}

function withEnv(env: Record<string, string>): Exec {
  return (argv, options = {}) => realExec(argv, {...options, env: {...env, ...options.env}})
}

/** The diff's causes, each with the first paths it was seen at (e.g. `stamp` for the date canary). */
function causesOf(d: {
  summary: {causes: Array<{cause: string; count: number; title: string}>}
  differences: Array<{cause: string; path: string}>
}): CauseCount[] {
  return d.summary.causes.map((c) => ({
    cause: c.cause,
    count: c.count,
    title: c.title,
    paths: [...new Set(d.differences.filter((e) => e.cause === c.cause).map((e) => e.path))].slice(0, 3),
  }))
}

export async function runMatrix(o: RunOptions): Promise<RunOutcome> {
  const started = new Date()
  const t0 = Date.now()
  const exec = withEnv(o.env)
  const work = await mkdtemp(path.join(tmpdir(), 'repro-nightly-'))
  const metas = new Map(o.fixtures.map((f) => [f.name, f]))
  const cells: CellResult[] = []
  /** the first tarball of each cell, for the cross-runtime diff */
  const firstTar = new Map<string, string>()
  try {
    // bases: digests pinned once (golden digests are only comparable on the same bases)
    const baseDigests: Record<string, string> = {}
    const neededBases = new Set(o.selection.fixtures.map((f) => metas.get(f)?.base).filter((b): b is string => !!b))
    for (const b of [...neededBases].sort()) {
      if (o.bases[b]) baseDigests[b] = await ociLayoutDigest(o.bases[b], b)
    }
    const staged = new Map<string, string>()
    for (const f of o.selection.fixtures) {
      staged.set(f, await stageFixture(o.fixturesDir, metas.get(f)!, path.join(work, 'contexts')))
    }

    for (const [i, cell] of o.cells.entries()) {
      const meta = metas.get(cell.fixture)!
      const prefix = `[${i + 1}/${o.cells.length}] ${cell.id}`
      const base: CellResult = {
        ...cell,
        status: 'error',
        expect: meta.expect,
        builds: [],
        causes: [],
        failures: [],
        seconds: 0,
      }
      const problem =
        cellEngineProblem(cell, o.engines) ??
        (meta.base && !o.bases[meta.base]
          ? `no base image ${meta.base} (pass --base ${meta.base}=DIR or --testbed)`
          : undefined)
      if (problem) {
        o.log(`${prefix}: ERROR ${problem}`)
        cells.push({...base, failures: [`${cell.id}: ${problem}`]})
        continue
      }
      const c0 = Date.now()
      try {
        const builds: BuildRun[] = []
        const tars: string[] = []
        let versions: {runtimeVersion?: string; buildkitVersion?: string} = {}
        for (const attempt of [1, 2]) {
          const out = path.join(work, 'out', `${cell.id.replaceAll('/', '_')}-${attempt}.tar`)
          const input: BuildInput = {
            cwd: work,
            context: staged.get(cell.fixture)!,
            output: out,
            format: 'docker',
            tags: [],
            buildArgs: [],
            annotations: [],
            platforms: [],
            noCache: true,
            buildContexts: meta.base ? [`base=oci-layout://${o.bases[meta.base]}`] : [],
            secrets: [],
            ...(meta.hashfile
              ? {
                  hashfiles: [path.join(staged.get(cell.fixture)!, meta.hashfile)],
                  providers: [`file://${o.debsDir}/{{.Name}}`],
                  pkgCache: path.join(work, 'pkg-cache'),
                }
              : {}),
            // buildkit: the daemon is never run from the image, but its tag is the pin the daemon is checked against
            buildkitImage:
              cell.runtime === 'buildkit' ? `moby/buildkit:${cell.buildkit}` : o.engines.images[cell.buildkit],
            buildkitAddr: cell.runtime === 'buildkit' ? o.engines.addrs[cell.buildkit] : undefined,
            rootless: false,
            runtime: cell.runtime,
            sde: o.sde,
            sdeFromGit: false,
            dry: false,
            env: {},
          }
          const b0 = Date.now()
          const r = await build(input, {exec, logger: o.buildLogger})
          const output = r.outputs[0]
          builds.push({
            digest: output.digest ?? '',
            archiveSha256: output.archiveSha256 ?? '',
            platform: (output.manifests ?? []).map((m) => m.platform).join(','),
            seconds: Math.round((Date.now() - b0) / 100) / 10,
          })
          tars.push(out)
          versions = {runtimeVersion: r.runtimeVersion, buildkitVersion: r.buildkitVersion}
          if (r.buildkitVersion && r.buildkitVersion.replace(/^v/, '') !== cell.buildkit.replace(/^v/, '')) {
            throw new Error(`asked for BuildKit ${cell.buildkit}, the engine reports ${r.buildkitVersion}`)
          }
        }
        let causes: CauseCount[] = []
        if (builds[0].digest !== builds[1].digest || builds[0].archiveSha256 !== builds[1].archiveSha256) {
          const d = await diffImages(tars[0], tars[1], {ignore: NO_IGNORES, exec, logger: o.buildLogger})
          causes = causesOf(d)
        }
        const platform = builds[0].platform
        const golden =
          meta.expect === 'reproducible'
            ? checkGolden(
                o.golden,
                {fixture: cell.fixture, buildkit: cell.buildkit, platform},
                builds[0].digest,
                meta.base && baseDigests[meta.base] ? {[meta.base]: baseDigests[meta.base]} : {},
              )
            : undefined
        const verdict = evaluateCell(cell, meta, builds, causes, golden, o.updateGolden)
        const result: CellResult = {
          ...base,
          ...verdict,
          ...versions,
          platform,
          builds,
          causes,
          golden,
          seconds: Math.round((Date.now() - c0) / 100) / 10,
        }
        cells.push(result)
        firstTar.set(cell.id, tars[0])
        await rm(tars[1], {force: true})
        o.log(
          `${prefix}: ${result.status.toUpperCase()} ${builds[0].digest} ${builds.map((b) => `${b.seconds}s`).join(' + ')}` +
            (result.failures.length > 0 ? `\n  ${result.failures.join('\n  ')}` : ''),
        )
      } catch (error) {
        const msg = (error as Error).message.split('\n').slice(0, 6).join('\n    ')
        o.log(`${prefix}: ERROR ${msg}`)
        cells.push({
          ...base,
          failures: [`${cell.id}: error: ${msg}`],
          seconds: Math.round((Date.now() - c0) / 100) / 10,
        })
      }
    }

    // every runtime of one BuildKit version gives the same digest
    const agreements: Agreement[] = []
    for (const g of agreementGroups(cells)) {
      let causes: CauseCount[] = []
      if (!g.agree) {
        const entries = Object.entries(g.digests)
        const ra = entries[0][0]
        const rb = entries.find(([, d]) => d !== entries[0][1])?.[0]
        const ta = firstTar.get(`${g.fixture}/${g.buildkit}/${ra}`)
        const tb = firstTar.get(`${g.fixture}/${g.buildkit}/${rb}`)
        if (ta && tb) {
          try {
            causes = causesOf(await diffImages(ta, tb, {ignore: NO_IGNORES, exec, logger: o.buildLogger}))
          } catch (error) {
            o.log(
              `diff ${ra} vs ${rb} for ${g.fixture}/${g.buildkit} failed: ${(error as Error).message.split('\n')[0]}`,
            )
          }
        }
      }
      agreements.push({...g, causes})
    }

    // --update-golden: digests of the cells that reproduced, and only when all their runtimes agree
    let golden = o.golden
    let changes: GoldenChange[] = []
    if (o.updateGolden) {
      const disagreeing = new Set(agreements.filter((a) => !a.agree).map((a) => `${a.fixture}/${a.buildkit}`))
      const observed = cells
        .filter(
          (c) =>
            c.expect === 'reproducible' && c.reproduced && c.platform && !disagreeing.has(`${c.fixture}/${c.buildkit}`),
        )
        .map((c) => ({fixture: c.fixture, buildkit: c.buildkit, platform: c.platform!, digest: c.builds[0].digest}))
      const unique = [...new Map(observed.map((x) => [`${x.fixture}/${x.buildkit}/${x.platform}`, x])).values()]
      ;({golden, changes} = updateGolden(o.golden, unique, baseDigests))
    }

    const {ok, failures, summary} = summarize(cells, agreements)
    const buildkitImages: Record<string, string> = {}
    const usesImages = o.selection.runtimes.some((r) => r !== 'buildkit')
    for (const v of o.selection.buildkits)
      if (usesImages && o.engines.images[v]) buildkitImages[v] = o.engines.images[v]!
    const report: NightlyReport = {
      schemaVersion: REPORT_SCHEMA_VERSION,
      ok,
      startedAt: started.toISOString(),
      seconds: Math.round((Date.now() - t0) / 100) / 10,
      selection: o.selection,
      buildkitImages,
      bases: baseDigests,
      summary,
      cells,
      agreements,
      goldenChanges: changes,
      failures,
    }
    return {report, golden, goldenChanges: changes}
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}
