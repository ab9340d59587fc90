/**
 * A build plan is data: the list of steps (argv arrays, plus the rename that publishes the output) computed
 * from the options and the probed facts. `--dry` prints it; the executor (run.ts) runs the very same list.
 * Everything here is pure, so unit tests pin the exact argv of each runtime.
 */
import path from 'node:path'

import {stageText} from '../hermetic/stage.js'
import {formatEpoch} from '../sde.js'
import {shellJoin} from '../ui/shell-quote.js'
import {type BuildContext, perPlatformOutput, partialPath, privateOutDir} from './args.js'
import {builderNeedsRecreate, dockerSteps} from './docker.js'
import {podmanSteps} from './podman.js'
import {buildkitSteps} from './buildkit.js'
import {buildahSteps} from './buildah.js'
import {
  BUILDKITD_CONFIG,
  type BuildOptions,
  type EngineFiles,
  type Facts,
  type Plan,
  type PlannedOutput,
  type Step,
} from './types.js'

export * from './types.js'

/** One tarball per platform in the docker format (the exporter is single-platform); one archive with --format oci. */
export function plannedOutputs(options: BuildOptions): PlannedOutput[] {
  if (options.format === 'docker' && options.platforms.length > 1) {
    return options.platforms.map((p) => {
      const out = perPlatformOutput(options.output, p)
      return {path: out, partial: partialPath(out), platform: p, platforms: [p]}
    })
  }
  return [{path: options.output, partial: partialPath(options.output), platforms: options.platforms}]
}

/**
 * `runId` names what one run creates beside the destination and on the engine (podman: the private output
 * directory and the container name); the pid, so concurrent builds never share them.
 */
export function buildPlan(options: BuildOptions, facts: Facts, runId = String(process.pid)): Plan {
  let outputs = plannedOutputs(options)
  if (facts.runtime === 'podman') {
    outputs = outputs.map((o) => {
      const outDir = privateOutDir(o.path, runId)
      return {...o, outDir, partial: path.join(outDir, path.basename(o.partial))}
    })
  }
  const steps: Step[] = facts.missingDirs.map((d) => ({kind: 'mkdir', path: d, why: 'create the output directory'}))
  for (const stage of options.stages ?? [])
    steps.push({kind: 'stage', stage, why: `stage the ${stage.context} build context`})
  for (const o of outputs) {
    if (o.outDir) {
      steps.push({
        kind: 'mkdir',
        path: o.outDir,
        private: true,
        why: "a private output directory for the BuildKit container (never the destination's parent)",
      })
    }
  }
  // files the engine reads, beside the destination: the lock's source policy, the builder's buildkitd.toml
  const files: EngineFiles = {}
  if (options.sourcePolicy !== undefined) {
    files.policy = sideFile(options.output, runId, 'policy.json')
    steps.push({
      kind: 'write',
      path: files.policy,
      content: options.sourcePolicy,
      why: 'the source policy of the lock file',
    })
  }
  const createsBuilder = facts.runtime === 'docker' && (!facts.builder?.exists || builderNeedsRecreate(options, facts))
  if (facts.runtime === 'podman' || createsBuilder) {
    files.buildkitdConfig = sideFile(options.output, runId, 'buildkitd.toml')
    steps.push({
      kind: 'write',
      path: files.buildkitdConfig,
      content: BUILDKITD_CONFIG,
      why: 'the buildkitd.toml of the builder',
    })
  }
  const engine =
    facts.runtime === 'docker'
      ? dockerSteps(options, facts, outputs, files)
      : facts.runtime === 'podman'
        ? podmanSteps(options, facts, outputs, runId, files)
        : facts.runtime === 'buildah'
          ? buildahSteps(options, facts, outputs)
          : buildkitSteps(options, facts, outputs, files)
  steps.push(...engine)
  for (const o of outputs)
    steps.push({kind: 'rename', from: o.partial, to: o.path, why: 'publish the finished tarball'})
  for (const o of outputs)
    if (o.outDir) steps.push({kind: 'remove', path: o.outDir, why: 'remove the private output directory'})
  for (const f of [files.policy, files.buildkitdConfig])
    if (f) steps.push({kind: 'remove', path: f, why: 'remove a file only the engine needed'})
  return {runtime: facts.runtime, steps, outputs}
}

/** `.NAME.repro-RUNID-WHAT` beside the destination: a file the engine reads during one run. */
export function sideFile(output: string, runId: string, what: string): string {
  return path.join(path.dirname(output), `.${path.basename(output)}.repro-${runId}-${what}`)
}

/** The shell form of one step, as --dry prints it. */
export function stepText(step: Step): string {
  switch (step.kind) {
    case 'exec':
      // `NAME=VALUE command`: an assignment the shell applies to this command only
      return [
        ...Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${shellJoin([v])}`),
        shellJoin(step.display),
      ].join(' ')
    case 'write': {
      // one line per command: printf repeats its format for each line of the content
      const lines = (step.content.endsWith('\n') ? step.content.slice(0, -1) : step.content).split('\n')
      return `printf '%s\\n' ${shellJoin(lines)} > ${shellJoin([step.path])}`
    }
    case 'mkdir':
      return shellJoin(step.private ? ['mkdir', '-m', '700', step.path] : ['mkdir', '-p', step.path])
    case 'remove':
      return shellJoin(['rm', '-rf', step.path])
    case 'stage':
      return stageText(step.stage)
    default:
      return shellJoin(['mv', '-f', step.from, step.to])
  }
}

/** --dry output: one command per line. */
export function planText(plan: Plan): string {
  return plan.steps.map((s) => `${stepText(s)}\n`).join('')
}

/** Human summary of the build environment (stderr). */
export function summaryLines(options: BuildOptions, facts: Facts, plan: Plan): string[] {
  const list = (xs: string[], none = '(none)') => (xs.length > 0 ? xs.join(' ') : none)
  const runtimeLine =
    facts.runtime === 'docker'
      ? `docker ${facts.runtimeVersion ?? '(version unknown)'}, buildx ${facts.buildxVersion ?? '(version unknown)'}`
      : facts.runtime === 'podman'
        ? `podman ${facts.runtimeVersion ?? '(version unknown)'}`
        : facts.runtime === 'buildah'
          ? `buildah ${facts.runtimeVersion ?? '(version unknown)'} (native: --source-date-epoch, --rewrite-timestamp; no BuildKit)`
          : `buildkit daemon at ${facts.buildkitAddr}, buildctl ${facts.runtimeVersion ?? '(version unknown)'}`
  const lines = ['Build environment:', `- Runtime: ${runtimeLine}`]
  if (facts.runtime === 'buildkit')
    lines.push(`- BuildKit: ${facts.buildkitVersion ?? '(version unknown)'} (the daemon)`)
  else if (facts.runtime !== 'buildah') {
    lines.push(
      `- BuildKit image: ${options.buildkitImage} (${facts.buildkitVersion ? `${facts.buildkitVersion}, from ${facts.buildkitVersionFrom}` : 'version unknown'})`,
    )
  }
  if (facts.served) {
    const s = facts.served
    lines.push(
      `- BuildKit pin: ${s.pin ?? '(no version in the image tag)'}, served ${s.version} by ${s.from}${s.pinned ? '' : ' (NOT the pin: --allow-unpinned-builder)'}`,
    )
  }
  if (options.tls) {
    const t = options.tls
    lines.push(
      `- TLS: ca ${t.ca ?? '(system)'}, cert ${t.cert ?? '(none)'}, key ${t.key ?? '(none)'}${t.serverName ? `, server name ${t.serverName}` : ''}`,
    )
  }
  if (facts.builder) {
    lines.push(`- Builder: ${facts.builder.name} (${builderState(options, facts)})`)
  }
  lines.push(
    `- Rootless: ${options.rootless ? 'yes' : 'no'}`,
    `- Cache: ${options.noCache ? 'off (--no-cache)' : 'on'}`,
    `- Context: ${options.context}`,
    `- Dockerfile: ${options.dockerfile}`,
    `- Output: ${plan.outputs.map((o) => o.path).join(', ')} (${options.format} format)`,
    'Build parameters:',
    `- SOURCE_DATE_EPOCH: ${options.sde.epoch} (${formatEpoch(options.sde.epoch)}, from ${options.sde.origin})`,
    `- Build args: ${list(options.buildArgs)}`,
    `- Platform: ${list(options.platforms, '(default)')}`,
    `- Target: ${options.target ?? '(last stage)'}`,
    `- Tags: ${list(options.tags)}`,
    `- Annotations: ${list(options.annotations)}`,
    `- Build contexts: ${list(options.buildContexts.map((c) => `${c.name}=${contextText(c, facts)}`))}`,
    `- Secrets: ${list(options.secrets.map((s) => s.id))}`,
  )
  if (options.buildkitArgs.length > 0) lines.push(`- BuildKit args: ${shellJoin(options.buildkitArgs)}`)
  if (options.buildxArgs.length > 0) lines.push(`- Buildx args: ${shellJoin(options.buildxArgs)}`)
  return lines
}

function builderState(options: BuildOptions, facts: Facts): string {
  const b = facts.builder
  if (options.builder) return `existing, ${facts.builderDriver ?? 'driver unknown'} driver`
  if (!b?.exists) return 'will be created'
  return builderNeedsRecreate(options, facts) ? `will be recreated: ${b.stale}` : 'reused'
}

function contextText(c: BuildContext, facts: Facts): string {
  if (c.kind === 'dir') return c.path
  if (c.kind === 'other') return c.value
  const digest = c.digest ?? facts.ociLayoutDigests[c.name]
  return `oci-layout://${c.path}${digest ? `@${digest}` : ''}`
}
