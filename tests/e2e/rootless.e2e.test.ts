/**
 * Rootless podman for real: `repro build --runtime podman --rootless` run by the test bed's unprivileged user
 * (state `rootless`, made by testbed.sh step rootless) with its own podman storage and the test bed's rootless
 * BuildKit image (BuildKit + rootlesskit, user 1000). The nightly fixtures scratch-copy and busybox-run (base:
 * the test bed's busybox as an OCI-layout build context) are built twice with --no-cache and SOURCE_DATE_EPOCH=0:
 * the two tarballs must be byte-identical and the image digest must equal nightly/golden.yaml's digest for the
 * default BuildKit version, which the rootful runtimes (docker, podman --privileged, buildkitd) give. The same
 * for the rootful BuildKit image run by the same user without --rootless (podman's --privileged then stays in the
 * user's namespace). A context file the unprivileged user cannot read fails with exit 2 and leaves nothing
 * behind (BuildKit alone put it into the image as an empty file, exit 0); excluded by .dockerignore, it builds.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, existsSync} from 'node:fs'
import {chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import {fileURLToPath} from 'node:url'

import {parseGolden} from '../../nightly/lib/golden.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const CLI = path.join(ROOT, 'bin', 'run.js')
const FIXTURES = path.join(ROOT, 'nightly', 'fixtures')
const PLATFORM = 'linux/amd64'

interface RootlessState {
  ok: boolean
  user: string
  uid: number
  home: string
  runtimeDir: string
  image: {name: string}
  /** the rootful BuildKit image, in the user's storage too */
  rootfulImage: string
}

type State = TestbedState & {rootless?: RootlessState}

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** argv as the rootless user, with only its own environment (no root's TMPDIR, HOME or XDG dirs leak in) */
function asUser(r: RootlessState, argv: string[], cwd: string): Promise<Run> {
  const env = [
    `HOME=${r.home}`,
    `USER=${r.user}`,
    `XDG_RUNTIME_DIR=${r.runtimeDir}`,
    'PATH=/usr/local/bin:/usr/bin:/bin',
  ]
  return new Promise((resolve, reject) => {
    const child = spawn('runuser', ['-u', r.user, '--', 'env', '-i', ...env, ...argv], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5 * 60_000,
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', reject)
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    )
  })
}

function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file)
      .on('data', (b) => h.update(b))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')))
  })
}

/** Every path in the image's layers, read with python3's tarfile (an independent reader). */
function layerNames(archive: string): Promise<string[]> {
  const script = [
    'import json, sys, tarfile',
    'outer = tarfile.open(sys.argv[1])',
    "m = json.load(outer.extractfile('manifest.json'))",
    "print(json.dumps([n for l in m[0]['Layers'] for n in tarfile.open(fileobj=outer.extractfile(l), mode='r:*').getnames()]))",
  ].join('\n')
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, archive], {stdio: ['ignore', 'pipe', 'inherit'], timeout: 60_000})
    const out: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as string[])
        : reject(new Error(`python3 exited ${code}`)),
    )
  })
}

/**
 * The CLI as the rootless user can run it: the checkout itself when the user can read it, else a copy of what
 * bin/run.js loads (bin, dist, the manifest, package.json; node_modules hard-linked) under `dir`. CI clones into
 * a 0700 temp directory, which another user cannot enter.
 */
async function cliForUser(r: RootlessState, dir: string): Promise<string> {
  const readable = spawnSyncOk('runuser', ['-u', r.user, '--', 'test', '-r', CLI])
  if (readable) return CLI
  const copy = path.join(dir, 'cli')
  await mkdir(copy)
  for (const name of ['bin', 'dist', 'package.json', 'oclif.manifest.json'])
    execFileSync('cp', ['-a', path.join(ROOT, name), copy])
  try {
    execFileSync('cp', ['-al', path.join(ROOT, 'node_modules'), copy], {stdio: 'ignore'})
  } catch {
    execFileSync('cp', ['-a', path.join(ROOT, 'node_modules'), copy]) // another filesystem: no hard links
  }
  return path.join(copy, 'bin', 'run.js')
}

function spawnSyncOk(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** chown -R to the rootless user: it builds from and writes into these directories */
async function chownTree(dir: string, uid: number): Promise<void> {
  await chown(dir, uid, uid)
  for (const e of await readdir(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) await chownTree(p, uid)
    else await chown(p, uid, uid)
  }
}

describe('rootless podman: repro build --runtime podman --rootless as an unprivileged user', () => {
  let state: State
  let rootless: RootlessState
  let work: string
  let golden: ReturnType<typeof parseGolden>
  let cli: string

  before(async () => {
    state = readTestbedState<State>()
    assert.ok(state.rootless?.ok, 'the test bed has no rootless user: run `npm run testbed -- up` (step rootless)')
    rootless = state.rootless
    assert.ok(existsSync(CLI), `${CLI} missing: run npm run build first`)
    golden = parseGolden(await readFile(path.join(ROOT, 'nightly', 'golden.yaml'), 'utf8'))
    assert.equal(
      golden.bases.busybox,
      state.images.busybox.manifestDigest,
      'golden.yaml was recorded with another busybox base than the test bed has: its digests do not apply',
    )
    work = await mkdtemp(path.join(os.tmpdir(), 'repro-rootless-e2e-'))
    await chmod(work, 0o755)
    cli = await cliForUser(rootless, work)
  })
  after(async () => {
    if (work) await rm(work, {recursive: true, force: true})
  })

  /**
   * rootless: the rootless BuildKit image with --rootless (rootlesskit, user 1000 mapped to the caller);
   * privileged: the rootful image with --privileged, which rootless podman confines to the user's namespace
   */
  type Mode = 'privileged' | 'rootless'
  async function build(mode: Mode, context: string, out: string, base: boolean): Promise<Run> {
    return asUser(
      rootless,
      [
        process.execPath,
        cli,
        'build',
        '--runtime',
        'podman',
        ...(mode === 'rootless'
          ? ['--rootless', '--buildkit-image', rootless.image.name]
          : ['--buildkit-image', rootless.rootfulImage]),
        '--sde',
        '0',
        '--no-cache',
        ...(base ? ['--build-context', `base=oci-layout://${state.images.busybox.ociLayout}`] : []),
        '-o',
        out,
        context,
      ],
      work,
    )
  }

  for (const mode of ['rootless', 'privileged'] as const) {
    for (const [fixture, base] of [
      ['scratch-copy', false],
      ['busybox-run', true],
    ] as const) {
      test(
        `${mode}: ${fixture} twice byte-identical, the rootful runtimes' golden digest`,
        {timeout: 6 * 60_000},
        async () => {
          const version = state.buildkit.default
          const want = golden.digests[fixture]?.[version]?.[PLATFORM]
          assert.ok(want, `nightly/golden.yaml has no digest for ${fixture} ${version} ${PLATFORM}`)
          const dir = path.join(work, `${mode}-${fixture}`)
          await cp(path.join(FIXTURES, fixture), path.join(dir, 'context'), {recursive: true})
          await mkdir(path.join(dir, 'out'))
          await chownTree(dir, rootless.uid)
          const runs: {digest: string; sha: string}[] = []
          for (const n of [1, 2]) {
            const out = path.join(dir, 'out', `image-${n}.tar`)
            const r = await build(mode, path.join(dir, 'context'), out, base)
            assert.equal(
              r.code,
              0,
              `build ${n} exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-20).join('\n')}`,
            )
            const podmanRun = r.stderr.split('\n').find((l) => l.startsWith('+ podman run '))
            assert.ok(podmanRun, 'the podman run step is printed')
            if (mode === 'rootless') {
              // rootless podman was detected as that user: the image's user 1000 is mapped to it, nothing privileged
              assert.match(podmanRun, / --userns keep-id:uid=1000,gid=1000 /)
              assert.doesNotMatch(podmanRun, /--privileged/)
            } else assert.match(podmanRun, / --privileged /)
            const [digest, printed] = r.stdout.trim().split(/\s+/)
            assert.equal(printed, out)
            runs.push({digest, sha: await fileSha256(out)})
          }
          assert.equal(runs[0].sha, runs[1].sha, 'the two tarballs are byte-identical')
          assert.equal(runs[0].digest, runs[1].digest)
          assert.equal(runs[0].digest, want, `${fixture}: the digest equals the rootful runtimes' (golden.yaml)`)
        },
      )
    }

    test(
      `${mode}: a context file the user cannot read is exit 2 with nothing left; excluded, it builds`,
      {timeout: 3 * 60_000},
      async () => {
        const dir = path.join(work, `${mode}-unreadable`)
        await mkdir(path.join(dir, 'context'), {recursive: true})
        await mkdir(path.join(dir, 'out'))
        // generated names (spaces, quotes, a newline, unicode) around one root-only file
        const generated = Array.from({length: 5}, (_, i) => `f ${i} '${randomBytes(3).toString('hex')}"\n✓`)
        for (const n of generated) await writeFile(path.join(dir, 'context', n), `${n}\n`)
        await writeFile(path.join(dir, 'context', 'Dockerfile'), 'FROM scratch\nCOPY . /\n')
        await chownTree(dir, rootless.uid)
        const secret = path.join(dir, 'context', 'root-only')
        await writeFile(secret, 'not for the build user\n', {mode: 0o600})
        await chown(secret, 0, 0)
        const out = path.join(dir, 'out', 'image.tar')
        const r = await build(mode, path.join(dir, 'context'), out, false)
        assert.equal(r.code, 2, `exit ${r.code}:\n${r.stderr.trim().split('\n').slice(-10).join('\n')}`)
        assert.equal(r.stdout, '', 'no result on stdout')
        const error = r.stderr.trim().split('\n').at(-1) ?? ''
        assert.match(error, /"root-only" is not readable by this user/, 'a one-line error names the file')
        assert.deepEqual(await readdir(path.join(dir, 'out')), [], 'no destination, partial file or private directory')
        // excluded by .dockerignore, the file is not sent: the build runs, and every generated name is in the image
        await writeFile(path.join(dir, 'context', '.dockerignore'), 'root-only\n')
        await chown(path.join(dir, 'context', '.dockerignore'), rootless.uid, rootless.uid)
        const ok = await build(mode, path.join(dir, 'context'), out, false)
        assert.equal(ok.code, 0, `exit ${ok.code}:\n${ok.stderr.trim().split('\n').slice(-10).join('\n')}`)
        const names = await layerNames(out)
        for (const n of generated) assert.ok(names.includes(n), `${JSON.stringify(n)} is in the image`)
        assert.ok(!names.includes('root-only'), 'the excluded file is not')
      },
    )
  }
})
