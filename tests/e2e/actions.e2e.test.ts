/**
 * The GitHub Actions of this repository (action.yml: build; verify/action.yml: verify) and its workflows:
 * - actionlint (the test bed's, pinned; it runs shellcheck) passes on every workflow, and on each action's
 *   steps lifted into a workflow_call workflow (actionlint reads action metadata, not composite run scripts);
 *   a broken workflow is reported, so the lint is live;
 * - the actions' steps run as the runner runs them (tests/support/actions.ts), with the committed bundle
 *   action/repro.mjs, on the test bed's BuildKit daemon and registry: build + push, lock check, verify
 *   against the digest and against the pushed image per platform with attestations, and a wrong digest
 *   that fails the step with reproduced=false.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import {promisify} from 'node:util'

import yaml from 'js-yaml'

import {type ActionFile, readAction, runAction} from '../support/actions.js'
import {ROOT} from '../support/cli.js'
import {readTestbedState} from '../support/testbed.js'

const pexec = promisify(execFile)

interface State {
  buildkit: {default: string; versions: Record<string, {buildctl?: string; host: string; running?: boolean}>}
  registry: {address: string; ok: boolean}
  tools: Record<string, {path: string; version: string} | undefined>
}

let dir: string
let state: State

before(async () => {
  state = readTestbedState<State>()
  dir = await mkdtemp(path.join(tmpdir(), 'repro-actions-e2e-'))
})

after(async () => {
  if (dir) await rm(dir, {force: true, recursive: true})
})

/** The action's steps as a reusable workflow, so actionlint checks their expressions and shellchecks them. */
function actionAsWorkflow(action: ActionFile): string {
  const inputs = Object.fromEntries(
    Object.entries(action.inputs).map(([n, i]) => [
      n,
      {default: i.default ?? '', description: i.description, required: false, type: 'string'},
    ]),
  )
  return yaml.dump({
    jobs: {steps: {'runs-on': 'ubuntu-24.04', steps: action.runs.steps}},
    name: 'action steps',
    on: {workflow_call: {inputs}},
  })
}

async function actionlint(files: string[]): Promise<{code: number; out: string}> {
  const bin = state.tools.actionlint?.path
  assert.ok(bin && existsSync(bin), 'test bed: no actionlint (step actionlint); run `npm run testbed -- up`')
  return pexec(bin, ['-no-color', ...files], {cwd: ROOT}).then(
    (r) => ({code: 0, out: r.stdout + r.stderr}),
    (e: {code: number; stderr: string; stdout: string}) => ({code: e.code, out: e.stdout + e.stderr}),
  )
}

describe('actionlint', () => {
  test('every workflow and both actions pass, with shellcheck on every script', async () => {
    await pexec('shellcheck', ['--version']).catch(() =>
      assert.fail('shellcheck is not installed (a test bed apt pin): actionlint would skip the scripts'),
    )
    const workflows = (await readdir(path.join(ROOT, '.github', 'workflows')))
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => path.join('.github', 'workflows', f))
    assert.ok(workflows.includes('.github/workflows/actions.yml'), `workflows: ${workflows.join(' ')}`)
    const lifted: string[] = []
    for (const action of ['.', 'verify']) {
      const file = path.join(dir, `lint-${action === '.' ? 'build' : action}`, '.github', 'workflows', 'steps.yml')
      await mkdir(path.dirname(file), {recursive: true})
      await writeFile(file, actionAsWorkflow(await readAction(path.join(ROOT, action))))
      lifted.push(file)
    }
    const r = await actionlint([...workflows, ...lifted])
    assert.equal(r.code, 0, r.out)
  })

  test('a broken workflow is reported (unquoted expansion, unknown input, bad runner label)', async () => {
    const file = path.join(dir, 'broken', '.github', 'workflows', 'broken.yml')
    await mkdir(path.dirname(file), {recursive: true})
    await writeFile(
      file,
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: rm -rf $DIR/*\n      - run: echo ${{ inputs.nope }}\n',
    )
    const r = await actionlint([file])
    assert.equal(r.code, 1, r.out)
    assert.match(r.out, /SC2086/)
    assert.match(r.out, /inputs/)
  })
})

describe('the Actions run on the test bed with the committed bundle', () => {
  let env: Record<string, string>
  let common: Record<string, string>
  let workspace: string
  let digest: string
  let pushed: string

  before(async () => {
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(bk?.running, 'test bed: the default buildkitd is not running; run `npm run testbed -- up`')
    assert.ok(state.registry?.ok, 'test bed: the registry is not up; run `npm run testbed -- up`')
    env = {PATH: `${path.dirname(bk.buildctl ?? '/usr/bin/buildctl')}:${process.env.PATH}`}
    workspace = path.join(dir, 'workspace')
    await mkdir(workspace)
    await cp(path.join(ROOT, 'nightly/fixtures/scratch-copy'), path.join(workspace, 'ctx'), {recursive: true})
    common = {'buildkit-addr': bk.host, context: 'ctx', runtime: 'buildkit', 'source-date-epoch': '0'}
  })

  test('build: outputs the digest and tarball; pushes with the same digest', async () => {
    const ref = `${state.registry.address}/repro-actions-e2e-${process.pid}:v1`
    const r = await runAction(
      ROOT,
      {...common, output: 'out/image.tar', 'plain-http': 'true', push: ref},
      {env, workspace},
    )
    assert.equal(r.code, 0, r.stderr.slice(-3000))
    digest = r.outputs.digest
    assert.match(digest, /^sha256:[0-9a-f]{64}$/)
    assert.equal(r.outputs.tarball, path.join(workspace, 'out', 'image.tar'))
    assert.deepEqual(JSON.parse(r.outputs.tarballs), [path.join(workspace, 'out', 'image.tar')])
    assert.equal(r.outputs['push-reference'], `${ref}@${digest}`)
    pushed = ref
    const result = JSON.parse(await readFile(r.outputs.result, 'utf8'))
    assert.equal(result.outputs[0].digest, digest)
    // the tarball on disk holds that digest, by the bundle's own analyze
    const a = await pexec(process.execPath, [
      path.join(ROOT, 'action/repro.mjs'),
      'analyze',
      path.join(workspace, 'out/image.tar'),
      '--json',
    ])
    assert.equal(JSON.parse(a.stdout).imageDigest, digest)
  })

  test('build with lock-check: passes with a fresh lock, fails when the lock pins something else', async () => {
    const lock = await pexec(process.execPath, [path.join(ROOT, 'action/repro.mjs'), 'lock', 'ctx', '--sde', '0'], {
      cwd: workspace,
    })
    assert.ok(existsSync(path.join(workspace, 'ctx', 'repro.lock.yaml')), lock.stderr)
    const ok = await runAction(ROOT, {...common, 'lock-check': 'true', output: 'locked.tar'}, {env, workspace})
    assert.equal(ok.code, 0, ok.stderr.slice(-3000))
    assert.equal(ok.outputs.digest, digest)
    const file = path.join(workspace, 'ctx', 'repro.lock.yaml')
    const text = await readFile(file, 'utf8')
    const moved = text.replace(/sha256:[0-9a-f]{64}/, `sha256:${'0'.repeat(64)}`)
    assert.notEqual(moved, text, 'the lock pins no digest to move')
    await writeFile(file, moved)
    const bad = await runAction(ROOT, {...common, 'lock-check': 'true', output: 'moved.tar'}, {env, workspace})
    assert.notEqual(bad.code, 0, 'a lock that pins another digest passed the lock check')
    assert.equal(bad.outputs.digest, '', 'the build ran after a failed lock check')
    assert.ok(!existsSync(path.join(workspace, 'moved.tar')))
    await rm(file)
  })

  test('verify: against the digest, and against the pushed image per platform, with attestations', async () => {
    assert.ok(digest && pushed, 'the build test did not run')
    const action = path.join(ROOT, 'verify')
    const r = await runAction(
      action,
      {...common, 'attestation-dir': 'att', 'expected-digest': digest, platforms: 'linux/amd64', times: '2'},
      {env, workspace},
    )
    assert.equal(r.code, 0, r.stderr.slice(-3000))
    assert.equal(r.outputs.reproduced, 'true')
    assert.equal(r.outputs.digest, digest)
    const statement = JSON.parse(await readFile(path.join(workspace, 'att', 'linux-amd64.intoto.json'), 'utf8'))
    assert.match(JSON.stringify(statement), new RegExp(digest.slice(7)))

    const against = await runAction(
      action,
      {...common, against: pushed, 'plain-http': 'true', platforms: 'linux/amd64', times: '1'},
      {env, workspace},
    )
    assert.equal(against.code, 0, against.stderr.slice(-3000))
    assert.equal(against.outputs.reproduced, 'true')
    assert.deepEqual(JSON.parse(against.outputs.digests), [digest])
  })

  test('verify: a wrong expected digest fails the step, says so, and outputs reproduced=false', async () => {
    const r = await runAction(
      path.join(ROOT, 'verify'),
      {...common, 'expected-digest': `sha256:${'0'.repeat(64)}`, times: '1'},
      {env, workspace},
    )
    assert.equal(r.code, 1, r.stderr.slice(-3000))
    assert.equal(r.outputs.reproduced, 'false')
    assert.match(r.stdout + r.stderr, /::error title=repro verify::the image did not verify \(exit 1\)/)
  })
})
