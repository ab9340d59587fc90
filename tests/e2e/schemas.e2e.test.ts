/**
 * The --json outputs that need real engines, against schemas/ (the rest: tests/integration/schemas.test.ts):
 * `repro build` on a standalone buildkitd and on Docker (a buildx docker-container builder), `repro verify`
 * reproduced and not reproduced (with the semantic diff), and `repro get push` to the test bed's registry.
 * And `build --dry --secret`: the printed commands, pasted into sh, build for real, and the build sees
 * the secret file's content and the variable's value, which never appear in what was printed.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {readTestbedState} from '../support/testbed.js'

const VERSION = 'v0.32.2'

interface State {
  buildkit: {versions: Record<string, {running?: boolean; host: string; buildctl?: string; image?: {name: string}}>}
  debs: {dir: string; sha256sums: string; packages: Array<{name: string; filename: string; sha256: string}>}
  docker: {ok: boolean; host: string}
  images: {busybox: {ociLayout: string}}
  registry: {ok: boolean; address: string}
}

describe('schemas: --json of build, verify and get push on the test bed', () => {
  const validator = new SchemaValidator()
  let state: State
  let dir: string
  let env: Record<string, string>
  let buildkit: string[]
  let base: string[]

  before(async () => {
    state = readTestbedState<State>()
    const bk = state.buildkit.versions[VERSION]
    assert.ok(bk?.running, `test bed: buildkitd ${VERSION} is not running; run \`npm run testbed -- up\``)
    assert.ok(state.registry?.ok, 'test bed: the registry is not up; run `npm run testbed -- up`')
    dir = await mkdtemp(path.join(tmpdir(), 'repro-schemas-e2e-'))
    env = {DOCKER_HOST: state.docker.host, PATH: `${path.dirname(bk.buildctl ?? '')}:${process.env.PATH}`}
    buildkit = ['--runtime', 'buildkit', '--buildkit-addr', bk.host]
    base = ['--build-context', `base=oci-layout://${state.images.busybox.ociLayout}`]
    await mkdir(path.join(dir, 'scratch'))
    await writeFile(path.join(dir, 'scratch/Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
    await writeFile(path.join(dir, 'scratch/hello.txt'), 'hello\n')
    await mkdir(path.join(dir, 'canary'))
    // busybox date has no %N: the random device makes two rebuilds differ for sure
    await writeFile(path.join(dir, 'canary/Dockerfile'), 'FROM base\nRUN head -c 16 /dev/urandom > /stamp\n')
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  async function json(command: string, args: string[], code = 0): Promise<Record<string, unknown>> {
    const r = await runCli([...args, '--json'], {cwd: dir, env, timeoutMs: 15 * 60_000})
    assert.equal(r.code, code, `repro ${args.join(' ')} --json: exit ${r.code}\n${r.stderr.slice(-3000)}`)
    const doc = JSON.parse(r.stdout) as Record<string, unknown>
    validator.check(command, doc, `repro ${args.join(' ')} --json`)
    return doc
  }

  it('build on a BuildKit daemon and on Docker', async () => {
    const a = await json('build', ['build', '--sde', '0', ...buildkit, '-o', path.join(dir, 'bk.tar'), 'scratch'])
    const image = state.buildkit.versions[VERSION].image?.name
    assert.ok(image, `test bed: no local BuildKit ${VERSION} image`)
    const b = await json('build', [
      'build',
      '--sde',
      '0',
      '--runtime',
      'docker',
      '--buildkit-image',
      image,
      '-o',
      path.join(dir, 'docker.tar'),
      'scratch',
    ])
    const digest = (doc: Record<string, unknown>): unknown => (doc.outputs as Array<{digest: string}>)[0].digest
    assert.equal(digest(a), digest(b))
  })

  it('verify: reproduced (exit 0) and not reproduced with the diff (exit 1)', async () => {
    const ok = await json('verify', ['verify', '--sde', '0', ...buildkit, '--times', '2', 'scratch'])
    assert.equal(ok.reproduced, true)
    const canary = await json('verify', ['verify', '--sde', '0', ...buildkit, ...base, '--times', '2', 'canary'], 1)
    assert.equal(canary.reproduced, false)
    assert.ok(canary.diff, 'the semantic diff of the two rebuilds')
  })

  it('get push to the registry', async () => {
    const deb = state.debs.packages.find((p) => p.name === 'hello')
    assert.ok(deb, 'test bed: the hello .deb')
    const sums = path.join(dir, 'SHA256SUMS-amd64')
    await writeFile(sums, `${deb.sha256}  ${deb.filename}\n`)
    const cache = path.join(dir, 'cache')
    await json('get download', [
      'get',
      'download',
      '--cache',
      cache,
      '--provider',
      `file://${state.debs.dir}/{{.Name}}`,
      sums,
    ])
    const repo = `repro-schemas-e2e-${randomBytes(4).toString('hex')}`
    const push = await json('get push', [
      'get',
      'push',
      '--cache',
      cache,
      '--to',
      `oci+http://${state.registry.address}/${repo}/debs`,
      sums,
    ])
    assert.equal((push.blobs as unknown[]).length, 1)
  })

  it('build --dry --secret: the printed commands paste into sh and build with the secrets', async () => {
    const ctx = path.join(dir, 'secrets')
    await mkdir(ctx)
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      [
        'FROM base',
        // the build fails unless it sees the file's content and the variable's value
        'RUN --mount=type=secret,id=a,required=true --mount=type=secret,id=b,env=B,required=true \\',
        '    test "$(cat /run/secrets/a)" = the-file-value && test "$B" = the-env-value && echo ok > /ok',
        '',
      ].join('\n'),
    )
    const file = path.join(dir, "it's a $ecret.txt")
    await writeFile(file, 'the-file-value')
    const out = path.join(dir, 'out', 'secret.tar')
    const r = await runCli(
      [
        'build',
        '--sde',
        '0',
        '--dry',
        '--no-cache',
        ...buildkit,
        ...base,
        '--secret',
        `id=a,src=${file}`,
        '--secret',
        'id=b,env=MY_TOKEN',
        '-o',
        out,
        ctx,
      ],
      {cwd: dir, env: {...env, MY_TOKEN: 'the-env-value'}},
    )
    assert.equal(r.code, 0, r.stderr)
    assert.ok(!r.stdout.includes('the-file-value') && !r.stdout.includes('the-env-value'), r.stdout)
    assert.match(r.stdout, /--secret id=b,env=MY_TOKEN/)
    const script = path.join(dir, 'pasted.sh')
    await writeFile(script, r.stdout)
    // a wrong value fails the build: the RUN really checks what it received
    const wrong = spawnSync('sh', ['-e', script], {env: {...process.env, ...env, MY_TOKEN: 'wrong'}, encoding: 'utf8'})
    assert.notEqual(wrong.status, 0, 'the build must fail with the wrong variable value')
    assert.ok(!existsSync(out), 'no tarball from a failed build')
    const run = spawnSync('sh', ['-e', script], {
      env: {...process.env, ...env, MY_TOKEN: 'the-env-value'},
      encoding: 'utf8',
    })
    assert.equal(run.status, 0, `the pasted commands failed:\n${run.stderr.slice(-3000)}`)
    const analyzed = await json('analyze', ['analyze', out])
    assert.match(String(analyzed.imageDigest), /^sha256:[0-9a-f]{64}$/)
  })
})
