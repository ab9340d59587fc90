/**
 * The engine test bed itself (tests/e2e/testbed/testbed.sh, state file $REPRO_TESTBED_STATE): the same two
 * fixtures built by the same BuildKit version through three engine paths must give the same bytes.
 *
 * Paths, for each BuildKit version under test:
 *  1. buildx: a docker-container builder on the test bed's dockerd running the local BuildKit image (the pull
 *     fails, no registry is reachable, and buildx falls back to the local image);
 *  2. podman: `podman run --privileged` of the same local image with buildctl-daemonless.sh;
 *  3. buildctl: the standalone buildkitd of that version on its unix socket.
 * Fixtures: FROM scratch + COPY of a file, and a RUN on the test bed's busybox base, which comes in as an
 * OCI-layout build context pinned by digest (a BuildKit container cannot see the host's image stores).
 * Every build runs twice with --no-cache, SOURCE_DATE_EPOCH=0, rewrite-timestamp=true, no provenance, into a
 * type=docker tarball: the two tarballs of a path must be byte-identical, and the image (manifest and config)
 * digests must agree across the three paths.
 *
 * Versions: every BuildKit version the test bed built (about 18 s each); REPRO_E2E_BUILDKIT_VERSIONS=default
 * or a comma list (v0.19.0,v0.32.2) narrows it. A standalone buildkitd that is not running is started for the
 * test and stopped after it.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream, existsSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import {readTestbedState} from '../support/testbed.js'

const STATE_FILE = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
const SDE = '0'

interface ImageState {
  name: string
  manifestDigest: string
  configDigest: string
  ociLayout: string
}

interface BuildkitVersionState {
  built?: boolean
  error?: string | null
  running?: boolean
  host?: string
  buildctl?: string
  start?: string
  image?: ImageState
}

interface TestbedState {
  ok: boolean
  testbed: string
  docker: {ok: boolean; host: string}
  podman: {ok: boolean}
  buildkit: {default: string; versions: Record<string, BuildkitVersionState>}
  images: {busybox: ImageState}
}

function readState(): TestbedState {
  return readTestbedState<TestbedState>()
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Run argv (no shell); resolves with the exit code and output, never rejects on a non-zero exit. */
function run(
  argv: string[],
  opts: {env?: Record<string, string>; cwd?: string; timeoutMs?: number} = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: {...process.env, ...opts.env},
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 10 * 60_000,
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

/** Run argv and fail with its command line and the tail of its output when it exits non-zero. */
async function must(argv: string[], opts: Parameters<typeof run>[1] = {}): Promise<Run> {
  const r = await run(argv, opts)
  if (r.code !== 0) {
    const tail = (r.stderr + r.stdout).trim().split('\n').slice(-25).join('\n')
    assert.fail(`${argv.join(' ')} exited ${r.code}:\n${tail}`)
  }
  return r
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

interface Built {
  archiveSha256: string
  manifestDigest: string
  configDigest: string
}

/** Digests of the single image in a BuildKit type=docker tarball (it carries an OCI index.json too). */
async function inspectArchive(file: string): Promise<Built> {
  const index = JSON.parse((await must(['tar', '-xOf', file, 'index.json'])).stdout) as {
    manifests: {digest: string}[]
  }
  const manifest = JSON.parse((await must(['tar', '-xOf', file, 'manifest.json'])).stdout) as {Config: string}[]
  assert.equal(index.manifests.length, 1, `${file}: expected one image in index.json`)
  assert.equal(manifest.length, 1, `${file}: expected one image in manifest.json`)
  return {
    archiveSha256: await fileSha256(file),
    manifestDigest: index.manifests[0].digest,
    configDigest: `sha256:${path.basename(manifest[0].Config)}`,
  }
}

type Fixture = 'copy' | 'run'
type EnginePath = 'buildctl' | 'buildx' | 'podman'
const FIXTURES: Fixture[] = ['copy', 'run']

async function writeFixtures(dir: string): Promise<Record<Fixture, string>> {
  const copy = path.join(dir, 'fixture-copy')
  const runDir = path.join(dir, 'fixture-run')
  await mkdir(copy, {recursive: true})
  await mkdir(runDir, {recursive: true})
  await writeFile(path.join(copy, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  await writeFile(path.join(copy, 'hello.txt'), 'hello from the repro engine test bed\n')
  await writeFile(
    path.join(runDir, 'Dockerfile'),
    'FROM base\nRUN echo hello > /greeting && mkdir -p /data && ls -l /bin/sh > /data/ls\n',
  )
  return {copy, run: runDir}
}

function selectedVersions(state: TestbedState): string[] {
  const want = process.env.REPRO_E2E_BUILDKIT_VERSIONS ?? 'all'
  if (want === 'default') return [state.buildkit.default]
  // a version the test bed could not build fails in its own suite (with the recorded reason), never silently
  if (want === 'all') return Object.keys(state.buildkit.versions).sort()
  return want.split(',').map((v) => v.trim())
}

let state: TestbedState | undefined
let stateError: Error | undefined
try {
  state = readState()
} catch (error) {
  stateError = error as Error
}

describe('engine test bed: one BuildKit version, three engine paths, the same bytes', () => {
  if (!state) {
    // never skip: a missing test bed is a failure, with the command that fixes it
    test('test bed state', () => {
      throw stateError ?? new Error(`cannot read ${STATE_FILE}`)
    })
    return
  }
  const st = state

  test('test bed is up and healthy', () => {
    assert.ok(st.docker?.ok, `test bed: docker is not ok in ${STATE_FILE}; run \`npm run testbed -- up\``)
    assert.ok(st.podman?.ok, `test bed: podman is not ok in ${STATE_FILE}; run \`npm run testbed -- up\``)
    const def = st.buildkit.versions[st.buildkit.default]
    assert.ok(def?.running, `test bed: buildkitd ${st.buildkit.default} is not running; run \`npm run testbed -- up\``)
    assert.ok(st.images?.busybox?.ociLayout, 'test bed: no busybox OCI layout; run `npm run testbed -- up`')
    assert.ok(existsSync(path.join(st.images.busybox.ociLayout, 'index.json')), 'busybox OCI layout has no index.json')
  })

  for (const version of selectedVersions(st)) {
    describe(`BuildKit ${version}`, () => {
      const bk = st.buildkit.versions[version]
      const builder = `repro-e2e-engines-${version.replace(/\./g, '-')}`
      const outName = (fixture: Fixture): string => `localhost/repro-e2e/engines-${fixture}:${version}`
      const results: Record<EnginePath, Partial<Record<Fixture, Built[]>>> = {buildctl: {}, buildx: {}, podman: {}}
      const base = st.images.busybox
      let dir = ''
      let fixtures: Record<Fixture, string>
      let startedDaemon = false
      const dockerEnv = {DOCKER_HOST: st.docker.host}

      before(async () => {
        assert.ok(bk?.built, `BuildKit ${version} was not built by the test bed: ${bk?.error ?? 'unknown version'}`)
        assert.ok(bk.image?.name, `test bed: no local BuildKit image for ${version}; run \`npm run testbed -- up\``)
        dir = await mkdtemp(path.join(os.tmpdir(), 'repro-e2e-engines-'))
        fixtures = await writeFixtures(dir)
        if (!bk.running) {
          await must(['bash', st.testbed, 'buildkitd-start', version])
          startedDaemon = true
        }
      })

      after(async () => {
        await run(['docker', 'buildx', 'rm', '--force', builder], {env: dockerEnv})
        if (startedDaemon) await run(['bash', st.testbed, 'buildkitd-stop', version])
        if (dir) await rm(dir, {recursive: true, force: true})
      })

      async function buildTwice(
        enginePath: EnginePath,
        fixture: Fixture,
        once: (dest: string) => Promise<void>,
      ): Promise<void> {
        const built: Built[] = []
        for (const i of [1, 2]) {
          const dest = path.join(dir, `${enginePath}-${fixture}-${i}.tar`)
          await once(dest)
          built.push(await inspectArchive(dest))
        }
        results[enginePath][fixture] = built
        assert.equal(
          built[1].archiveSha256,
          built[0].archiveSha256,
          `${enginePath} ${version} ${fixture}: two --no-cache builds gave different tarballs`,
        )
        assert.equal(built[1].manifestDigest, built[0].manifestDigest)
      }

      const frontendArgs = (fixture: Fixture): string[] => [
        'build',
        '--progress=plain',
        '--frontend=dockerfile.v0',
        '--no-cache',
        `--opt=build-arg:SOURCE_DATE_EPOCH=${SDE}`,
        ...(fixture === 'run' ? ['--opt', `context:base=oci-layout://base@${base.manifestDigest}`] : []),
      ]
      const dockerOutput = (dest: string, fixture: Fixture): string =>
        `type=docker,dest=${dest},name=${outName(fixture)},rewrite-timestamp=true`

      test('buildctl: standalone buildkitd, two --no-cache builds per fixture are byte-identical', async () => {
        const host = bk.host as string
        for (const fixture of FIXTURES) {
          await buildTwice('buildctl', fixture, async (dest) => {
            await must(
              [
                bk.buildctl as string,
                '--addr',
                host,
                ...frontendArgs(fixture),
                '--local',
                `context=${fixtures[fixture]}`,
                '--local',
                `dockerfile=${fixtures[fixture]}`,
                ...(fixture === 'run' ? ['--oci-layout', `base=${base.ociLayout}`] : []),
                '--output',
                dockerOutput(dest, fixture),
              ],
              {timeoutMs: 5 * 60_000},
            )
          })
        }
      })

      test('buildx: docker-container builder on the local BuildKit image, byte-identical rebuilds', async () => {
        const image = bk.image?.name as string
        await run(['docker', 'buildx', 'rm', '--force', builder], {env: dockerEnv})
        const created = await must(
          [
            'docker',
            'buildx',
            'create',
            '--name',
            builder,
            '--driver',
            'docker-container',
            '--driver-opt',
            `image=${image}`,
            '--bootstrap',
          ],
          {env: dockerEnv, timeoutMs: 5 * 60_000},
        )
        // no registry is reachable: the pull must have failed and buildx fallen back to the local image
        assert.match(created.stdout + created.stderr, new RegExp(`using local image ${image.replace(/[.]/g, '\\.')}`))
        const ps = await must(['docker', 'ps', '--filter', `name=buildx_buildkit_${builder}`, '--format', '{{.ID}}'], {
          env: dockerEnv,
        })
        const containerId = ps.stdout.trim().split('\n')[0]
        assert.ok(containerId, `no running container for builder ${builder}`)
        const imageId = (
          await must(['docker', 'inspect', '--format', '{{.Image}}', containerId], {env: dockerEnv})
        ).stdout.trim()
        assert.equal(imageId, bk.image?.configDigest, 'the builder container does not run the local BuildKit image')
        const inside = await must(['docker', 'exec', containerId, 'buildkitd', '--version'], {env: dockerEnv})
        assert.match(inside.stdout, new RegExp(` ${version.replace(/[.]/g, '\\.')}( |$)`, 'm'))

        for (const fixture of FIXTURES) {
          await buildTwice('buildx', fixture, async (dest) => {
            await must(
              [
                'docker',
                'buildx',
                'build',
                '--builder',
                builder,
                '--progress=plain',
                '--no-cache',
                '--provenance=false',
                '--sbom=false',
                '--build-arg',
                `SOURCE_DATE_EPOCH=${SDE}`,
                ...(fixture === 'run'
                  ? ['--build-context', `base=oci-layout://${base.ociLayout}@${base.manifestDigest}`]
                  : []),
                '--output',
                dockerOutput(dest, fixture),
                fixtures[fixture],
              ],
              {env: dockerEnv, timeoutMs: 5 * 60_000},
            )
          })
        }
      })

      test('podman: local BuildKit image --privileged with buildctl-daemonless.sh, byte-identical rebuilds', async () => {
        const image = bk.image?.name as string
        for (const fixture of FIXTURES) {
          await buildTwice('podman', fixture, async (dest) => {
            await must(
              [
                'podman',
                'run',
                '--rm',
                '--privileged',
                '-v',
                `${fixtures[fixture]}:/work/context:ro`,
                '-v',
                `${path.dirname(dest)}:/work/out`,
                ...(fixture === 'run' ? ['-v', `${base.ociLayout}:/work/base:ro`] : []),
                '--entrypoint',
                'buildctl-daemonless.sh',
                image,
                ...frontendArgs(fixture),
                '--local',
                'context=/work/context',
                '--local',
                'dockerfile=/work/context',
                ...(fixture === 'run' ? ['--oci-layout', 'base=/work/base'] : []),
                '--output',
                dockerOutput(`/work/out/${path.basename(dest)}`, fixture),
              ],
              {timeoutMs: 5 * 60_000},
            )
          })
        }
      })

      test('the three paths give the same image digests', () => {
        const report: string[] = []
        for (const fixture of FIXTURES) {
          for (const p of ['buildctl', 'buildx', 'podman'] as const) {
            const b = results[p][fixture]
            assert.ok(b, `${p} ${fixture} did not build (see its test above)`)
            report.push(
              `${fixture} ${p}: manifest ${b[0].manifestDigest} config ${b[0].configDigest} tar ${b[0].archiveSha256}`,
            )
          }
        }
        process.stderr.write(`BuildKit ${version}:\n  ${report.join('\n  ')}\n`)
        for (const fixture of FIXTURES) {
          const ref = results.buildctl[fixture]?.[0] as Built
          for (const p of ['buildx', 'podman'] as const) {
            const b = results[p][fixture]?.[0] as Built
            assert.equal(b.configDigest, ref.configDigest, `${fixture}: ${p} config digest differs from buildctl's`)
            assert.equal(
              b.manifestDigest,
              ref.manifestDigest,
              `${fixture}: ${p} manifest digest differs from buildctl's`,
            )
          }
        }
      })
    })
  }
})
