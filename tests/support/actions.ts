/**
 * Run the steps of a composite GitHub Action (action.yml, verify/action.yml) the way the runner does: each
 * `run` step through `bash --noprofile --norc -eo pipefail`, in the workspace, with the step's `env` (its
 * `${{ inputs.* }}` expressions evaluated), GITHUB_ACTION_PATH, a fresh GITHUB_OUTPUT per step, RUNNER_TEMP
 * and the run ids; `if:` conditions and the action's `outputs` evaluated from the inputs and the steps'
 * outputs. Only the expressions these actions use are understood: any other one throws, so a new expression
 * in an action fails the test instead of being skipped.
 */
import {spawn} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import yaml from 'js-yaml'

interface ActionStep {
  env?: Record<string, string>
  id?: string
  if?: string
  run?: string
  shell?: string
  uses?: string
}
export interface ActionFile {
  inputs: Record<string, {default?: string; description: string; required?: boolean}>
  outputs: Record<string, {description: string; value: string}>
  runs: {steps: ActionStep[]; using: string}
}

export interface ActionRun {
  code: number
  /** the action's outputs */
  outputs: Record<string, string>
  stderr: string
  stdout: string
}

export async function readAction(dir: string): Promise<ActionFile> {
  return yaml.load(await readFile(path.join(dir, 'action.yml'), 'utf8')) as ActionFile
}

/** name=value lines of a GITHUB_OUTPUT file (the only form these actions write). */
function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (!line) continue
    const i = line.indexOf('=')
    if (i <= 0) throw new Error(`GITHUB_OUTPUT: not name=value: ${line}`)
    out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

type Context = {inputs: Record<string, string>; steps: Record<string, Record<string, string>>}

function evaluate(expr: string, ctx: Context): string {
  const e = expr.trim()
  let m = /^inputs\.([\w-]+)$/.exec(e)
  if (m) {
    if (!(m[1] in ctx.inputs)) throw new Error(`unknown input ${m[1]}`)
    return ctx.inputs[m[1]]
  }
  m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(e)
  if (m) return ctx.steps[m[1]]?.[m[2]] ?? ''
  m = /^inputs\.([\w-]+) (==|!=) '([^']*)'$/.exec(e)
  if (m) {
    if (!(m[1] in ctx.inputs)) throw new Error(`unknown input ${m[1]}`)
    return String((ctx.inputs[m[1]] === m[3]) === (m[2] === '=='))
  }
  throw new Error(`expression not understood by tests/support/actions.ts: ${expr}`)
}

/** A string with ${{ }} expressions substituted. */
function interpolate(value: string, ctx: Context): string {
  return String(value).replace(/\$\{\{(.*?)\}\}/g, (_, e: string) => evaluate(e, ctx))
}

function bash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{code: number; stderr: string; stdout: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? 128, stderr, stdout}))
  })
}

/**
 * Run the composite action in `actionDir` with `inputs` (the rest take their defaults) in `workspace`.
 * Stops at the first failing step, as the runner does, and returns its exit code.
 */
export async function runAction(
  actionDir: string,
  inputs: Record<string, string>,
  options: {env?: Record<string, string>; workspace: string},
): Promise<ActionRun> {
  const action = await readAction(actionDir)
  if (action.runs.using !== 'composite') throw new Error(`${actionDir}: not a composite action`)
  for (const name of Object.keys(inputs)) {
    if (!(name in action.inputs)) throw new Error(`${actionDir}/action.yml has no input ${name}`)
  }
  const ctx: Context = {
    inputs: Object.fromEntries(Object.entries(action.inputs).map(([n, d]) => [n, inputs[n] ?? d.default ?? ''])),
    steps: {},
  }
  const temp = await mkdtemp(path.join(tmpdir(), 'repro-action-run-'))
  // RUNNER_TEMP outlives the run (the build action's `result` output points into it): inside the workspace
  const runnerTemp = path.join(options.workspace, '.runner-temp')
  await mkdir(runnerTemp, {recursive: true})
  let stdout = ''
  let stderr = ''
  let code = 0
  try {
    for (const [i, step] of action.runs.steps.entries()) {
      if (step.uses) throw new Error(`${actionDir}: step ${i} uses ${step.uses}: only run steps are supported`)
      if (step.shell !== 'bash') throw new Error(`${actionDir}: step ${step.id ?? i} does not say shell: bash`)
      if (step.if !== undefined && evaluate(step.if.replace(/^\$\{\{(.*)\}\}$/, '$1'), ctx) !== 'true') continue
      const script = path.join(temp, `step-${i}.sh`)
      const output = path.join(temp, `output-${i}`)
      // the runner substitutes expressions in run: too; these actions keep them out of scripts (env only)
      if (/\$\{\{/.test(step.run ?? '')) throw new Error(`${actionDir}: step ${step.id ?? i} has an expression in run:`)
      await writeFile(script, step.run ?? '')
      await writeFile(output, '')
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, interpolate(v, ctx)]))
      const r = await bash(script, options.workspace, {
        ...process.env,
        ...options.env,
        GITHUB_ACTION_PATH: actionDir,
        GITHUB_ACTIONS: 'true',
        GITHUB_OUTPUT: output,
        GITHUB_RUN_ATTEMPT: '1',
        GITHUB_RUN_ID: String(process.pid),
        GITHUB_WORKSPACE: options.workspace,
        RUNNER_TEMP: runnerTemp,
        ...stepEnv,
      })
      stdout += r.stdout
      stderr += r.stderr
      if (step.id) ctx.steps[step.id] = parseOutputs(await readFile(output, 'utf8'))
      if (r.code !== 0) {
        code = r.code
        break
      }
    }
    const outputs = Object.fromEntries(Object.entries(action.outputs).map(([n, o]) => [n, interpolate(o.value, ctx)]))
    return {code, outputs, stderr, stdout}
  } finally {
    await rm(temp, {force: true, recursive: true})
  }
}
