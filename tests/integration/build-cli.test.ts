/**
 * `repro build` as a child process, with no engine on PATH: flag wiring (aliases, repeatable flags,
 * REPRO_* variables), --dry's stdout/stderr split, --json, and one-line errors with exit code 2.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const IMAGE = 'moby/buildkit:v0.32.2@sha256:28a898719c18a33f4e8000685287fa36fd0dd9560c6440227d3a732d79bb41d8'

let dir: string
let emptyPath: string

function repro(
  args: string[],
  env: Record<string, string> = {},
): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const base = {...process.env}
    delete base.REPRO_RUNTIME
    delete base.REPRO_SOURCE_DATE_EPOCH
    delete base.REPRO_BUILDKIT_IMAGE
    delete base.BUILDKIT_HOST
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/run.js'), 'build', ...args],
      {cwd: dir, env: {...base, PATH: emptyPath, ...env}},
      (error, stdout, stderr) => resolve({code: error ? Number(error.code) : 0, stdout, stderr}),
    )
  })
}

describe('repro build (CLI, no engine installed)', () => {
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-build-cli-'))
    emptyPath = path.join(dir, 'empty-path')
    await mkdir(emptyPath)
    await mkdir(path.join(dir, 'app'))
    await writeFile(path.join(dir, 'app/Dockerfile'), 'FROM scratch\n')
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('--dry prints the commands on stdout, assumptions and the summary on stderr, and writes nothing', async () => {
    const r = await repro(['--source-date-epoch', '0', '--dry', '-o', 'dist/image.tar', 'app'])
    assert.equal(r.code, 0, r.stderr)
    // the buildkitd.toml beside the output is named after the run (the child's pid)
    const config = `${dir}/dist/.image.tar.repro-PID-buildkitd.toml`
    assert.equal(
      r.stdout.replace(/repro-\d+-buildkitd/g, 'repro-PID-buildkitd'),
      [
        `mkdir -p ${dir}/dist`,
        `printf '%s\\n' '[registry."127.0.0.1:5000"]' '  http = true' '[registry."localhost:5000"]' '  http = true' > ${config}`,
        `docker buildx create --name repro-add30976f7cb --driver docker-container --driver-opt image=${IMAGE} --driver-opt network=host --buildkitd-config ${config} --bootstrap`,
        `docker buildx build --builder repro-add30976f7cb --file ${dir}/app/Dockerfile --build-arg SOURCE_DATE_EPOCH=0 --provenance false --sbom false --output type=docker,dest=${dir}/dist/.image.tar.repro-partial,rewrite-timestamp=true ${dir}/app`,
        `mv -f ${dir}/dist/.image.tar.repro-partial ${dir}/dist/image.tar`,
        `rm -rf ${config}`,
        '',
      ].join('\n'),
    )
    assert.match(
      r.stderr,
      /warning: no container runtime found: looked for docker \(docker: not found in PATH\), .*; assuming docker/,
    )
    assert.match(r.stderr, /- SOURCE_DATE_EPOCH: 0 \(1970-01-01T00:00:00Z, from --sde\)/)
    assert.ok(!existsSync(path.join(dir, 'dist')), '--dry created the output directory')
  })

  it('reads REPRO_RUNTIME and REPRO_SOURCE_DATE_EPOCH, takes repeatable flags, and answers --json', async () => {
    const r = await repro(
      [
        // the context first: oclif's repeatable flags take every following word when the manifest lacks multipleNonGreedy
        'app',
        '--dry',
        '--json',
        '--build-arg',
        'A=1',
        '--build-arg',
        'B=2',
        '--platform',
        'linux/amd64',
        '--platform',
        'linux/arm64',
      ],
      {REPRO_RUNTIME: 'podman', REPRO_SOURCE_DATE_EPOCH: '1700000000'},
    )
    assert.equal(r.code, 0, r.stderr)
    const res = JSON.parse(r.stdout)
    assert.equal(res.runtime, 'podman')
    assert.equal(res.sourceDateEpoch, 1_700_000_000)
    assert.equal(res.sourceDateEpochFrom, 'REPRO_SOURCE_DATE_EPOCH')
    assert.deepEqual(
      res.outputs.map((o: {path: string}) => o.path),
      [`${dir}/image-linux-amd64.tar`, `${dir}/image-linux-arm64.tar`],
    )
    // two private output dirs, the buildkitd.toml, the cache volume, two runs, two renames, two private dirs
    // and the buildkitd.toml removed
    assert.equal(res.commands.length, 11)
    assert.match(
      res.commands.find((c: string) => c.startsWith('podman run')),
      /^podman run --rm --name repro-build-\d+-[0-9a-f]{12} --privileged .*--network host .* --opt build-arg:SOURCE_DATE_EPOCH=1700000000 --opt build-arg:A=1 --opt build-arg:B=2 --opt platform=linux\/amd64 /,
    )
  })

  it('prints secret paths and variable names, never their values', async () => {
    await writeFile(path.join(dir, 'token'), 's3cret-file-value')
    const r = await repro(
      ['app', '--sde', '0', '--dry', '--secret', `id=tok,src=${dir}/token`, '--secret', 'id=gh,env=GH_TOKEN'],
      {GH_TOKEN: 's3cret-env-value'},
    )
    assert.equal(r.code, 0, r.stderr)
    assert.ok(!`${r.stdout}${r.stderr}`.includes('s3cret'), r.stdout)
    assert.ok(r.stdout.includes(`--secret id=tok,src=${dir}/token --secret id=gh,env=GH_TOKEN`), r.stdout)
  })

  it('fails with one line and exit code 2 on bad input', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['app'], /^Error: no SOURCE_DATE_EPOCH given: /],
      [
        ['--sde', '0', '--datetime', '2024-01-01', 'app'],
        /^Error: SOURCE_DATE_EPOCH given more than once \(--sde, --datetime\)/,
      ],
      [['--sde', 'yesterday', 'app'], /^Error: --sde: expected a non-negative integer/],
      [['--sde', '0', 'nowhere'], /^Error: build context .*nowhere: not a directory/],
      [
        ['--sde', '0', '--buildkit-args', '--foo', '--runtime', 'docker', '--dry', 'app'],
        /^Error: --buildkit-args applies to the podman and buildkit runtimes/,
      ],
      [
        ['--sde', '0', 'app'],
        /^Error: no container runtime found: looked for docker \(docker: not found in PATH\), podman \(podman: not found in PATH\), a BuildKit daemon/,
      ],
      [
        ['--sde', '0', '--buildkit-image', 'moby/buildkit:v0.12.5', '--dry', 'app'],
        /^Error: moby\/buildkit:v0.12.5 is BuildKit v0.12.5: rewrite-timestamp needs BuildKit >= 0.13/,
      ],
    ]
    for (const [args, message] of cases) {
      const r = await repro(args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message, args.join(' '))
      assert.equal(r.stdout, '', args.join(' '))
    }
  })
})
