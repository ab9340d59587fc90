/**
 * `repro diff` on pairs built by a real BuildKit from the test bed (tests/e2e/testbed), and the same pairs
 * through diffoci: both must agree on which files differ.
 *   1. the same Dockerfile with SOURCE_DATE_EPOCH 0 and 1 (rewrite-timestamp on both): timestamps only
 *   2. SOURCE_DATE_EPOCH 0 with and without rewrite-timestamp: file mtimes later than the epoch
 *   3. two builds with the same options: the same image (exit 0)
 * Images are exported by buildctl as docker-format tarballs, loaded into Docker for diffoci's docker://.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, rm, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {DiffResult} from '../../src/diff/types.js'
import {runDev} from '../support/diff-cli.js'
import {readTestbedState} from '../support/testbed.js'

interface TestbedState {
  docker: {ok: boolean; host: string}
  buildkit: {default: string; versions: Record<string, {running?: boolean; host: string; buildctl?: string}>}
  tools: {diffoci?: {path: string}}
}

function readState(): TestbedState {
  return readTestbedState<TestbedState>()
}

function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(
      argv[0],
      argv.slice(1),
      {env: {...process.env, ...env}, maxBuffer: 64 * 1024 * 1024, timeout: 10 * 60_000},
      (error, stdout, stderr) => {
        resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
      },
    )
  })
}

async function must(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(argv, env)
  assert.equal(r.code, 0, `${argv.join(' ')} failed:\n${r.stderr}`)
  return r.stdout
}

function filePaths(r: DiffResult): string[] {
  return [...new Set(r.differences.filter((e) => e.kind === 'file').map((e) => e.path))].sort()
}

describe('repro diff on real BuildKit builds, checked against diffoci', () => {
  let state: TestbedState
  let dir: string
  let ctx: string
  const tars: Record<string, string> = {}
  const tags: string[] = []

  before(async () => {
    state = readState()
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(
      bk?.running && bk.buildctl,
      `test bed: buildkitd ${state.buildkit.default} is not running; run \`npm run testbed -- up\``,
    )
    assert.ok(state.docker?.ok, 'test bed: docker is not ok')
    dir = await mkdtemp(path.join(tmpdir(), 'repro-diff-e2e-'))
    ctx = path.join(dir, 'ctx')
    await mkdir(path.join(ctx, 'dir'), {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nCOPY dir/ /dir/\n')
    await writeFile(path.join(ctx, 'hello.txt'), 'hello\n')
    await writeFile(path.join(ctx, 'dir', 'a.txt'), 'a\n')
    // context files newer than both epochs, so that a build without rewrite-timestamp keeps a late mtime
    const t = new Date('2024-06-01T00:00:00Z')
    for (const f of ['hello.txt', 'dir/a.txt', 'dir']) await utimes(path.join(ctx, f), t, t)
    const build = async (name: string, sde: number, rewrite: boolean): Promise<void> => {
      const out = path.join(dir, `${name}.tar`)
      const tag = `repro-e2e-diff:${name}`
      await must([
        bk.buildctl!,
        '--addr',
        bk.host,
        'build',
        '--no-cache',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${ctx}`,
        '--local',
        `dockerfile=${ctx}`,
        '--opt',
        `build-arg:SOURCE_DATE_EPOCH=${sde}`,
        '--output',
        `type=docker,name=${tag},dest=${out},rewrite-timestamp=${rewrite}`,
      ])
      await must(['docker', 'load', '-i', out], {DOCKER_HOST: state.docker.host})
      tars[name] = out
      tags.push(tag)
    }
    await build('sde0', 0, true)
    await build('sde0-again', 0, true)
    await build('sde1', 1, true)
    await build('sde0-norewrite', 0, false)
  })

  after(async () => {
    if (tags.length > 0) await run(['docker', 'rmi', ...tags], {DOCKER_HOST: state.docker.host})
    if (dir) await rm(dir, {force: true, recursive: true})
  })

  async function diff(a: string, b: string, ...extra: string[]): Promise<{code: number | null; json: DiffResult}> {
    const r = await runDev(['diff', a, b, '--json', ...extra])
    return {code: r.code, json: JSON.parse(r.stdout) as DiffResult}
  }

  async function diffoci(a: string, b: string): Promise<{code: number; out: string}> {
    const p = state.tools.diffoci?.path
    assert.ok(p && existsSync(p), 'test bed: no diffoci (tools.diffoci.path)')
    // diffoci runs `docker save --platform` with the 28.x client, an API dockerd 20.10 lacks: Debian's client
    const r = await run([p, 'diff', '--verbose', `docker://${a}`, `docker://${b}`], {
      DOCKER: '/usr/bin/docker',
      DOCKER_HOST: state.docker.host,
    })
    return {code: r.code, out: r.stdout + r.stderr}
  }

  it('two builds with the same options: only the image names differ; --ignore-image-name: the same, no layer decompressed', async () => {
    // tagged differently (they must be, to sit side by side in a store): strict mode reports the names only
    const strict = await diff(tars.sde0, tars['sde0-again'])
    assert.equal(strict.code, 1)
    assert.ok(strict.json.differences.length > 0)
    for (const e of strict.json.differences) assert.equal(e.cause, 'image-name', JSON.stringify(e))
    const {code, json} = await diff(tars.sde0, tars['sde0-again'], '--ignore-image-name')
    assert.equal(code, 0, JSON.stringify(json.differences, null, 2))
    assert.equal(json.summary.layersCompared, 0)
  })

  it('SOURCE_DATE_EPOCH 0 vs 1: only timestamps differ, and --ignore-timestamps makes them the same', async () => {
    const {code, json} = await diff(tars.sde0, tars.sde1)
    assert.equal(code, 1)
    const causes = new Set(json.differences.map((e) => e.cause))
    for (const c of causes)
      assert.ok(
        ['created-timestamp', 'file-timestamp', 'annotation', 'compression', 'image-name'].includes(c),
        `unexpected cause ${c}`,
      )
    assert.ok(causes.has('created-timestamp'))
    assert.deepEqual(filePaths(json), ['dir', 'dir/a.txt', 'hello.txt'])
    const ignored = await diff(tars.sde0, tars.sde1, '--ignore-timestamps', '--semantic')
    assert.equal(ignored.code, 0, JSON.stringify(ignored.json.differences, null, 2))
    // diffoci agrees on which files differ
    const d = await diffoci('repro-e2e-diff:sde0', 'repro-e2e-diff:sde1')
    assert.equal(d.code, 1, d.out)
    for (const f of filePaths(json))
      assert.match(d.out, new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `diffoci does not report ${f}`)
  })

  it('rewrite-timestamp missing: file mtimes later than SOURCE_DATE_EPOCH, with the cause', async () => {
    const {code, json} = await diff(tars.sde0, tars['sde0-norewrite'])
    assert.equal(code, 1)
    const mtimes = json.differences.filter((e) => e.kind === 'file' && e.field === 'mtime')
    assert.ok(mtimes.length > 0)
    for (const e of mtimes) assert.equal(e.cause, 'mtime-after-sde', JSON.stringify(e))
    assert.ok(mtimes.some((e) => e.path === 'hello.txt' && e.b!.startsWith('2024-06-01T00:00:00Z')))
    // the docker:// input reads the same images through docker save
    const viaDocker = await diff('docker://repro-e2e-diff:sde0', 'docker://repro-e2e-diff:sde0-norewrite')
    assert.equal(viaDocker.code, 1)
    assert.deepEqual(filePaths(viaDocker.json), filePaths(json))
    const d = await diffoci('repro-e2e-diff:sde0', 'repro-e2e-diff:sde0-norewrite')
    assert.equal(d.code, 1, d.out)
    for (const f of filePaths(json))
      assert.match(d.out, new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `diffoci does not report ${f}`)
  })
})
