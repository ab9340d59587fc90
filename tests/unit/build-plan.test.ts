import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer as createTcpServer, type AddressInfo, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {createServer as createTlsServer} from 'node:tls'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {EngineFailedError, EngineNotFoundError, InvalidArgumentError} from '../../src/errors.js'
import {fakeExec} from '../../src/exec.js'
import {silentLogger} from '../../src/log.js'
import {
  csvField,
  parseBuildContext,
  parseCsvPairs,
  parseSecret,
  perPlatformOutput,
  splitArgs,
  splitPlatforms,
} from '../../src/engine/args.js'
import {parseBuildctlVersion, parseBuildkitInfo} from '../../src/engine/buildkit.js'
import {
  checkBuildkitVersion,
  imageTagVersion,
  ociLayoutDigest,
  probe,
  tlsFailure,
  tlsHandshakeProblem,
} from '../../src/engine/detect.js'
import {
  builderName,
  builderStaleReason,
  parseBuildxInspect,
  parseBuildxInstance,
  parseBuildxVersion,
} from '../../src/engine/docker.js'
import {
  type BuildOptions,
  buildPlan,
  DEFAULT_BUILDKIT_IMAGE,
  DEFAULT_BUILDKIT_IMAGE_ROOTLESS,
  type Facts,
  planText,
} from '../../src/engine/plan.js'
import {qualifyImage} from '../../src/engine/podman.js'
import {build, type BuildInput, checkRuntimeFlags, executePlan, parseRuntime, resolveTls} from '../../src/engine/run.js'

const DIGEST = `sha256:${'a'.repeat(64)}`
/** a DOCKER_CONFIG without buildx records, so probes never read this machine's ~/.docker */
const NO_CONFIG = '/nonexistent/repro-test-docker-config'

function options(over: Partial<BuildOptions> = {}): BuildOptions {
  return {
    context: '/src/app',
    dockerfile: '/src/app/Dockerfile',
    output: '/out/image.tar',
    format: 'docker',
    tags: [],
    buildArgs: [],
    annotations: [],
    platforms: [],
    noCache: false,
    buildContexts: [],
    secrets: [],
    buildkitArgs: [],
    buildxArgs: [],
    buildkitImage: DEFAULT_BUILDKIT_IMAGE,
    rootless: false,
    sde: {epoch: 0, origin: '--sde'},
    ...over,
  }
}

function facts(over: Partial<Facts> = {}): Facts {
  return {runtime: 'docker', missingDirs: [], ociLayoutDigests: {}, assumptions: [], ...over}
}

/** the run id (normally the pid) that names podman's private output directory and container */
const RUN = '4242'

const argvOf = (o: BuildOptions, f: Facts) =>
  buildPlan(o, f, RUN).steps.map((s) =>
    s.kind === 'exec'
      ? s.argv
      : s.kind === 'mkdir'
        ? ['mkdir', s.path]
        : s.kind === 'stage'
          ? ['stage', s.stage.dir]
          : s.kind === 'remove'
            ? ['rm', s.path]
            : s.kind === 'write'
              ? ['write', s.path]
              : ['mv', s.from, s.to],
  )

describe('docker plan', () => {
  const builder = {name: 'repro-add30976f7cb', exists: false}
  it('creates the builder with the pinned image, then builds into a partial file and renames it', () => {
    assert.equal(builderName(DEFAULT_BUILDKIT_IMAGE), 'repro-add30976f7cb')
    const config = `/out/.image.tar.repro-${RUN}-buildkitd.toml`
    assert.deepEqual(argvOf(options(), facts({builder})), [
      ['write', config],
      [
        'docker',
        'buildx',
        'create',
        '--name',
        'repro-add30976f7cb',
        '--driver',
        'docker-container',
        '--driver-opt',
        `image=${DEFAULT_BUILDKIT_IMAGE}`,
        '--driver-opt',
        'network=host',
        '--buildkitd-config',
        config,
        '--bootstrap',
      ],
      [
        'docker',
        'buildx',
        'build',
        '--builder',
        'repro-add30976f7cb',
        '--file',
        '/src/app/Dockerfile',
        '--build-arg',
        'SOURCE_DATE_EPOCH=0',
        '--provenance',
        'false',
        '--sbom',
        'false',
        '--output',
        'type=docker,dest=/out/.image.tar.repro-partial,rewrite-timestamp=true',
        '/src/app',
      ],
      ['mv', '/out/.image.tar.repro-partial', '/out/image.tar'],
      ['rm', config],
    ])
  })
  it('reuses an existing builder running the same image', () => {
    const plan = buildPlan(options(), facts({builder: {...builder, exists: true, image: DEFAULT_BUILDKIT_IMAGE}}))
    assert.equal(plan.steps.length, 2)
    assert.equal(plan.steps[0].kind === 'exec' && plan.steps[0].argv[2], 'build')
  })
  it('recreates a builder of the same name running another image', () => {
    const argv = argvOf(
      options(),
      facts({
        builder: {...builder, exists: true, image: 'moby/buildkit:latest', stale: 'it runs moby/buildkit:latest'},
      }),
    )
    assert.deepEqual(argv[0], ['write', `/out/.image.tar.repro-${RUN}-buildkitd.toml`])
    assert.deepEqual(argv[1], ['docker', 'buildx', 'rm', 'repro-add30976f7cb'])
    assert.deepEqual(argv[2].slice(0, 3), ['docker', 'buildx', 'create'])
  })
  it('passes every build flag', () => {
    const o = options({
      dockerfile: '/src/Dockerfile.prod',
      tags: ['app:1', 'app:latest'],
      buildArgs: ['A=1', 'B=x y'],
      annotations: ['org.example=a,b'],
      platforms: ['linux/arm64'],
      target: 'final',
      noCache: true,
      buildContexts: [
        {kind: 'dir', name: 'extra', path: '/src/extra'},
        {kind: 'oci-layout', name: 'base', path: '/layouts/busybox'},
        {kind: 'other', name: 'img', value: 'docker-image://busybox'},
      ],
      secrets: [{id: 'tok', src: '/home/me/token', pairs: []}],
      buildxArgs: ['--network', 'host'],
    })
    const plan = buildPlan(
      o,
      facts({builder: {...builder, exists: true, image: DEFAULT_BUILDKIT_IMAGE}, ociLayoutDigests: {base: DIGEST}}),
    )
    assert.equal(
      planText(plan),
      [
        `docker buildx build --builder repro-add30976f7cb --file /src/Dockerfile.prod --build-arg SOURCE_DATE_EPOCH=0 --build-arg A=1 --build-arg 'B=x y' --platform linux/arm64 --target final --build-context extra=/src/extra --build-context base=oci-layout:///layouts/busybox@${DIGEST} --build-context img=docker-image://busybox --secret id=tok,src=/home/me/token --no-cache --provenance false --sbom false --output 'type=docker,dest=/out/.image.tar.repro-partial,rewrite-timestamp=true,"name=app:1,app:latest","annotation.org.example=a,b"' --network host /src/app`,
        'mv -f /out/.image.tar.repro-partial /out/image.tar',
        '',
      ].join('\n'),
    )
    const exec = plan.steps[0]
    assert.ok(
      exec.kind === 'exec' && exec.argv.includes('id=tok,src=/home/me/token'),
      'the real argv holds the secret source',
    )
  })
  it('builds one docker tarball per platform', () => {
    const plan = buildPlan(
      options({platforms: ['linux/amd64', 'linux/arm/v7']}),
      facts({builder: {...builder, exists: true, image: DEFAULT_BUILDKIT_IMAGE}}),
    )
    assert.deepEqual(
      plan.outputs.map((o) => [o.path, o.platform]),
      [
        ['/out/image-linux-amd64.tar', 'linux/amd64'],
        ['/out/image-linux-arm-v7.tar', 'linux/arm/v7'],
      ],
    )
    assert.deepEqual(
      planText(plan)
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^.*--platform (\S+).*--output (\S+).*$/, '$1 $2')),
      [
        'linux/amd64 type=docker,dest=/out/.image-linux-amd64.tar.repro-partial,rewrite-timestamp=true',
        'linux/arm/v7 type=docker,dest=/out/.image-linux-arm-v7.tar.repro-partial,rewrite-timestamp=true',
        'mv -f /out/.image-linux-amd64.tar.repro-partial /out/image-linux-amd64.tar',
        'mv -f /out/.image-linux-arm-v7.tar.repro-partial /out/image-linux-arm-v7.tar',
      ],
    )
  })
  it('builds one multi-platform archive with --format oci', () => {
    const plan = buildPlan(
      options({format: 'oci', platforms: ['linux/amd64', 'linux/arm64']}),
      facts({builder: {...builder, exists: true, image: DEFAULT_BUILDKIT_IMAGE}}),
    )
    assert.equal(plan.outputs.length, 1)
    assert.match(
      planText(plan),
      /--platform linux\/amd64,linux\/arm64 .*--output type=oci,dest=\/out\/\.image\.tar\.repro-partial,rewrite-timestamp=true /,
    )
  })
  it('creates a missing output directory first', () => {
    const plan = buildPlan(
      options(),
      facts({builder: {...builder, exists: true, image: DEFAULT_BUILDKIT_IMAGE}, missingDirs: ['/out']}),
    )
    assert.equal(planText(plan).split('\n')[0], 'mkdir -p /out')
  })
})

describe('podman plan', () => {
  it('runs the pinned BuildKit privileged with buildctl-daemonless.sh, mounts and a cache volume', () => {
    const container = `repro-build-${RUN}-${createHash('sha256').update('/out/image.tar').digest('hex').slice(0, 12)}`
    assert.equal(
      planText(buildPlan(options(), facts({runtime: 'podman'}), RUN)),
      `mkdir -m 700 /out/.image.tar.repro-out-${RUN}
printf '%s\\n' '[registry."127.0.0.1:5000"]' '  http = true' '[registry."localhost:5000"]' '  http = true' > /out/.image.tar.repro-${RUN}-buildkitd.toml
podman volume create repro-buildkit-0097b7e93e8b
podman run --rm --name ${container} --privileged -v repro-buildkit-0097b7e93e8b:/var/lib/buildkit --network host -v /out/.image.tar.repro-${RUN}-buildkitd.toml:/etc/buildkit/buildkitd.toml:ro -v /src/app:/tmp/repro/context:ro -v /out/.image.tar.repro-out-${RUN}:/tmp/repro/output --entrypoint buildctl-daemonless.sh docker.io/${DEFAULT_BUILDKIT_IMAGE} build --frontend dockerfile.v0 --local context=/tmp/repro/context --local dockerfile=/tmp/repro/context --opt filename=Dockerfile --opt build-arg:SOURCE_DATE_EPOCH=0 --output type=docker,dest=/tmp/repro/output/.image.tar.repro-partial,rewrite-timestamp=true
mv -f /out/.image.tar.repro-out-${RUN}/.image.tar.repro-partial /out/image.tar
rm -rf /out/.image.tar.repro-out-${RUN}
rm -rf /out/.image.tar.repro-${RUN}-buildkitd.toml
`,
    )
  })
  it("mounts a private output directory, never the destination's parent; names the container; tolerates a concurrent volume creator", () => {
    const plan = buildPlan(options({output: '/home/me/image.tar'}), facts({runtime: 'podman'}), RUN)
    const run = plan.steps.find((s) => s.kind === 'exec' && s.argv[1] === 'run')
    assert.ok(run?.kind === 'exec')
    const mounts = run.argv.flatMap((a, i) => (run.argv[i - 1] === '-v' ? [a.split(':')[0]] : []))
    assert.ok(!mounts.includes('/home/me'), `the destination's parent is never mounted: ${mounts.join(' ')}`)
    assert.ok(mounts.includes(`/home/me/.image.tar.repro-out-${RUN}`))
    assert.equal(plan.outputs[0].outDir, `/home/me/.image.tar.repro-out-${RUN}`)
    assert.equal(run.container?.name, run.argv[run.argv.indexOf('--name') + 1])
    assert.match(run.container?.name ?? '', new RegExp(`^repro-build-${RUN}-[0-9a-f]{12}$`))
    const volume = plan.steps.find((s) => s.kind === 'exec' && s.argv[1] === 'volume')
    assert.ok(
      volume?.kind === 'exec' &&
        volume.tolerate &&
        new RegExp(volume.tolerate).test(
          'Error: volume with name repro-buildkit-0097b7e93e8b already exists: volume already exists',
        ),
    )
    const other = buildPlan(options({output: '/home/me/image.tar'}), facts({runtime: 'podman'}), '4243')
    assert.notEqual(other.outputs[0].outDir, plan.outputs[0].outDir, 'concurrent runs never share a directory')
  })
  it('runs the rootless image without privileges, with the flags it needs', () => {
    const o = options({
      rootless: true,
      buildkitImage: DEFAULT_BUILDKIT_IMAGE_ROOTLESS,
      noCache: true,
      dockerfile: '/src/docker/Dockerfile.x',
    })
    assert.deepEqual(argvOf(o, facts({runtime: 'podman', podmanRootless: true}))[2], [
      'podman',
      'run',
      '--rm',
      '--name',
      `repro-build-${RUN}-${createHash('sha256').update('/out/image.tar').digest('hex').slice(0, 12)}`,
      '--userns',
      'keep-id:uid=1000,gid=1000',
      '--security-opt',
      'seccomp=unconfined',
      '--security-opt',
      'apparmor=unconfined',
      '--security-opt',
      'label=disable',
      '--device',
      '/dev/fuse',
      '-e',
      'BUILDKITD_FLAGS=--oci-worker-no-process-sandbox',
      '--network',
      'host',
      '-v',
      `/out/.image.tar.repro-${RUN}-buildkitd.toml:/home/user/.config/buildkit/buildkitd.toml:ro`,
      '-v',
      '/src/app:/tmp/repro/context:ro',
      '-v',
      '/src/docker:/tmp/repro/dockerfile:ro',
      '-v',
      `/out/.image.tar.repro-out-${RUN}:/tmp/repro/output`,
      '--entrypoint',
      'buildctl-daemonless.sh',
      `docker.io/${DEFAULT_BUILDKIT_IMAGE_ROOTLESS}`,
      'build',
      '--frontend',
      'dockerfile.v0',
      '--local',
      'context=/tmp/repro/context',
      '--local',
      'dockerfile=/tmp/repro/dockerfile',
      '--opt',
      'filename=Dockerfile.x',
      '--opt',
      'build-arg:SOURCE_DATE_EPOCH=0',
      '--no-cache',
      '--output',
      'type=docker,dest=/tmp/repro/output/.image.tar.repro-partial,rewrite-timestamp=true',
    ])
  })
  it('mounts build contexts and secrets, never printing secret sources or variable names', () => {
    const o = options({
      buildContexts: [{kind: 'oci-layout', name: 'docker.io/library/busybox', path: '/layouts/bb'}],
      secrets: [
        {id: 'a', src: '/home/me/.netrc', pairs: []},
        {id: 'b', env: 'GITHUB_TOKEN', pairs: []},
      ],
      buildkitArgs: ['--progress', 'plain'],
      buildkitImage: 'localhost/repro-testbed/buildkit:v0.32.2',
    })
    const text = planText(
      buildPlan(o, facts({runtime: 'podman', ociLayoutDigests: {'docker.io/library/busybox': DIGEST}})),
    )
    // a path and a variable name are not secrets: --dry prints them, so the printed command runs
    assert.match(
      text,
      / -v \/layouts\/bb:\/tmp\/repro\/contexts\/0:O -v \/home\/me\/.netrc:\/tmp\/repro\/secrets\/0:ro -e GITHUB_TOKEN --entrypoint buildctl-daemonless.sh localhost\/repro-testbed\/buildkit:v0.32.2 build /,
    )
    assert.match(
      text,
      new RegExp(
        `--oci-layout context-0=/tmp/repro/contexts/0 --opt context:docker.io/library/busybox=oci-layout://context-0@${DIGEST} --secret id=a,src=/tmp/repro/secrets/0 --secret id=b,env=GITHUB_TOKEN --output \\S+ --progress plain\n`,
      ),
    )
    const step = buildPlan(o, facts({runtime: 'podman'})).steps.find((s) => s.kind === 'exec' && s.argv[1] === 'run')
    assert.ok(step)
    assert.ok(
      step.kind === 'exec' &&
        step.argv.includes('/home/me/.netrc:/tmp/repro/secrets/0:ro') &&
        step.argv.includes('GITHUB_TOKEN'),
    )
  })
  it('qualifies short image names for podman', () => {
    assert.equal(qualifyImage('moby/buildkit:v0.32.2'), 'docker.io/moby/buildkit:v0.32.2')
    assert.equal(qualifyImage('buildkit'), 'docker.io/library/buildkit')
    assert.equal(qualifyImage('localhost/repro-testbed/buildkit:v0.32.2'), 'localhost/repro-testbed/buildkit:v0.32.2')
    assert.equal(qualifyImage('127.0.0.1:5000/buildkit:x'), '127.0.0.1:5000/buildkit:x')
    assert.equal(qualifyImage('ghcr.io/a/b'), 'ghcr.io/a/b')
  })
})

describe('buildkit plan', () => {
  it('sends buildctl build to the daemon with host paths', () => {
    const o = options({
      platforms: ['linux/amd64'],
      tags: ['app:1'],
      buildContexts: [{kind: 'dir', name: 'context', path: '/src/other'}],
    })
    assert.equal(
      planText(buildPlan(o, facts({runtime: 'buildkit', buildkitAddr: 'unix:///run/buildkit/buildkitd.sock'}))),
      `buildctl --addr unix:///run/buildkit/buildkitd.sock build --frontend dockerfile.v0 --local context=/src/app --local dockerfile=/src/app --opt filename=Dockerfile --opt build-arg:SOURCE_DATE_EPOCH=0 --opt platform=linux/amd64 --local context-0=/src/other --opt context:context=local:context-0 --output type=docker,dest=/out/.image.tar.repro-partial,rewrite-timestamp=true,name=app:1
mv -f /out/.image.tar.repro-partial /out/image.tar
`,
    )
  })
  it('hides credentials in the daemon address', () => {
    const plan = buildPlan(options(), facts({runtime: 'buildkit', buildkitAddr: 'tcp://me:s3cret@host:1234'}))
    assert.ok(!planText(plan).includes('s3cret'))
    assert.match(planText(plan), /^buildctl --addr 'tcp:\/\/<redacted>@host:1234' build/)
    assert.ok(plan.steps[0].kind === 'exec' && plan.steps[0].argv[2] === 'tcp://me:s3cret@host:1234')
  })
})

describe('version parsers', () => {
  it('reads buildx, buildctl and daemon versions', () => {
    assert.equal(parseBuildxVersion('github.com/docker/buildx v0.19.3 48d6a39\n'), 'v0.19.3')
    assert.equal(parseBuildctlVersion('buildctl github.com/moby/buildkit v0.13.2 abcdef\n'), 'v0.13.2')
    assert.equal(parseBuildkitInfo('BuildKit: github.com/moby/buildkit v0.32.2 0123abc\n'), 'v0.32.2')
    assert.equal(parseBuildkitInfo('nothing here'), undefined)
  })
  it('reads buildx inspect', () => {
    const text = `Name:          repro-x
Driver:        docker-container
Last Activity: 2026-01-01 00:00:00 +0000 UTC

Nodes:
Name:                  repro-x0
Endpoint:              unix:///var/run/docker.sock
Driver Options:        image="localhost/repro-testbed/buildkit:v0.32.2"
Status:                running
BuildKit daemon flags: --allow-insecure-entitlement=network.host
BuildKit version:      v0.32.2
Platforms:             linux/amd64
`
    assert.deepEqual(parseBuildxInspect(text), {
      driver: 'docker-container',
      image: 'localhost/repro-testbed/buildkit:v0.32.2',
      endpoint: 'unix:///var/run/docker.sock',
      buildkitVersion: 'v0.32.2',
      status: 'running',
    })
  })
  it('reads versions from image tags', () => {
    assert.equal(imageTagVersion(DEFAULT_BUILDKIT_IMAGE), '0.32.2')
    assert.equal(imageTagVersion(DEFAULT_BUILDKIT_IMAGE_ROOTLESS), '0.32.2')
    assert.equal(imageTagVersion('localhost:5000/buildkit:v0.12.5'), '0.12.5')
    assert.equal(imageTagVersion('localhost:5000/buildkit'), undefined)
    assert.equal(imageTagVersion('moby/buildkit:latest'), undefined)
    assert.equal(imageTagVersion(`moby/buildkit@${DIGEST}`), undefined)
  })
  it('refuses BuildKit older than 0.13', () => {
    assert.throws(
      () => checkBuildkitVersion('v0.12.5', 'moby/buildkit:v0.12.5'),
      (e: unknown) =>
        e instanceof EngineNotFoundError &&
        /moby\/buildkit:v0.12.5 is BuildKit v0.12.5: rewrite-timestamp needs BuildKit >= 0.13/.test(e.message),
    )
    checkBuildkitVersion('v0.13.0', 'x')
    checkBuildkitVersion(undefined, 'x')
  })
})

describe('builder reuse', () => {
  const image = DEFAULT_BUILDKIT_IMAGE
  it('reuses a docker-container builder running our image on our daemon', () => {
    assert.equal(
      builderStaleReason({driver: 'docker-container', image, endpoint: 'unix:///d.sock'}, image, 'unix:///d.sock'),
      undefined,
    )
    assert.equal(
      builderStaleReason({driver: 'docker-container', image, endpoint: 'default'}, image, 'unix:///d.sock'),
      undefined,
    )
  })
  it('says why a builder of our name cannot be reused', () => {
    assert.equal(builderStaleReason({driver: 'docker', image}, image), 'it uses the docker driver')
    assert.equal(builderStaleReason({driver: 'docker-container', image: 'x:1'}, image), 'it runs x:1')
    assert.equal(
      builderStaleReason({driver: 'docker-container', image, endpoint: 'unix:///a.sock'}, image, 'unix:///b.sock'),
      'it was created on unix:///a.sock, not unix:///b.sock',
    )
  })
  it("reads buildx's instance record", () => {
    const text = JSON.stringify({
      Name: 'repro-x',
      Driver: 'docker-container',
      Nodes: [{Name: 'repro-x0', Endpoint: 'unix:///d.sock', DriverOpts: {image}}],
    })
    assert.deepEqual(parseBuildxInstance(text), {driver: 'docker-container', image, endpoint: 'unix:///d.sock'})
    assert.equal(parseBuildxInstance('not json'), undefined)
    assert.equal(parseBuildxInstance(''), undefined)
  })
  it('uses the instance record instead of docker buildx inspect', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'repro-buildx-config-'))
    try {
      await mkdir(path.join(dir, 'buildx/instances'), {recursive: true})
      await writeFile(
        path.join(dir, 'buildx/instances/repro-add30976f7cb'),
        JSON.stringify({Driver: 'docker-container', Nodes: [{Endpoint: 'unix:///d.sock', DriverOpts: {image}}]}),
      )
      const exec = fakeExec((argv) =>
        argv[1] === 'buildx' ? {stdout: 'github.com/docker/buildx v0.19.3 x\n'} : {stdout: '20.10.24\n'},
      )
      const f = await probe(options(), {dry: false, dockerConfig: dir, dockerHost: 'unix:///d.sock'}, exec)
      assert.equal(f.builder?.exists, true)
      assert.equal(f.builder?.stale, undefined)
      assert.ok(!exec.calls.some((c) => c.includes('inspect')), 'no docker buildx inspect')
      // with the plugin file there too, docker itself is the only command probed
      await mkdir(path.join(dir, 'cli-plugins'))
      await writeFile(path.join(dir, 'cli-plugins/docker-buildx'), '')
      const warmExec = fakeExec(() => ({stdout: '20.10.24\n'}))
      const warm = await probe(options(), {dry: false, dockerConfig: dir, dockerHost: 'unix:///d.sock'}, warmExec)
      assert.deepEqual(warmExec.calls, [['docker', 'version', '--format', '{{.Server.Version}}']])
      assert.equal(warm.builder?.exists, true)
      assert.equal(warm.buildxVersion, `(not probed: plugin ${dir}/cli-plugins/docker-buildx)`)
      const moved = await probe(options(), {dry: false, dockerConfig: dir, dockerHost: 'unix:///other.sock'}, exec)
      assert.equal(moved.builder?.stale, 'it was created on unix:///d.sock, not unix:///other.sock')
      assert.deepEqual(
        argvOf(options(), moved)
          .filter((a) => a[0] === 'docker')
          .slice(0, 2)
          .map((a) => a.slice(0, 3)),
        [
          ['docker', 'buildx', 'rm'],
          ['docker', 'buildx', 'create'],
        ],
      )
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('argument helpers', () => {
  it('splits like a shell', () => {
    assert.deepEqual(splitArgs(`--a 'b c' "d \\"e\\"" f\\ g`, 'x'), ['--a', 'b c', 'd "e"', 'f g'])
    assert.throws(() => splitArgs(`'open`, '--buildx-args'), /--buildx-args: unbalanced '/)
  })
  it('quotes and parses CSV fields', () => {
    assert.equal(csvField('name=a,b'), '"name=a,b"')
    assert.deepEqual(parseCsvPairs('id=a,"src=/x,y",type=file'), [
      ['id', 'a'],
      ['src', '/x,y'],
      ['type', 'file'],
    ])
  })
  it('parses build contexts', () => {
    assert.deepEqual(parseBuildContext('base=oci-layout://./l@' + DIGEST, '/w'), {
      kind: 'oci-layout',
      name: 'base',
      path: '/w/l',
      digest: DIGEST,
    })
    assert.deepEqual(parseBuildContext('x=../d', '/w/a'), {kind: 'dir', name: 'x', path: '/w/d'})
    assert.throws(() => parseBuildContext('nodir', '/w'), /--build-context 'nodir': expected NAME=DIR/)
    assert.throws(() => parseBuildContext('b=oci-layout://l@sha256:12', '/w'), /is not a sha256:<64 hex> digest/)
  })
  it('parses secrets', () => {
    assert.deepEqual(parseSecret('id=a,src=tok', '/w'), {id: 'a', src: '/w/tok', env: undefined, pairs: []})
    assert.throws(() => parseSecret('src=tok', '/w'), /--secret: missing id=/)
    assert.throws(() => parseSecret('id=a', '/w'), /--secret id=a: missing src=FILE or env=VAR/)
  })
  it('names per-platform outputs and checks platforms', () => {
    assert.equal(perPlatformOutput('/o/image.tar', 'linux/arm64'), '/o/image-linux-arm64.tar')
    assert.equal(perPlatformOutput('/o/image', 'linux/arm64'), '/o/image-linux-arm64')
    assert.deepEqual(splitPlatforms(['linux/amd64,linux/arm64', 'linux/amd64']), ['linux/amd64', 'linux/arm64'])
    assert.throws(() => splitPlatforms(['amd64']), /--platform 'amd64': expected OS\/ARCH/)
  })
  it('refuses runtime flags for another runtime', () => {
    assert.throws(() => parseRuntime('containerd'), /expected one of docker, podman, buildkit/)
    assert.throws(
      () => checkRuntimeFlags(options({buildkitArgs: ['x']}), facts()),
      /--buildkit-args applies to the podman and buildkit runtimes/,
    )
    assert.throws(
      () => checkRuntimeFlags(options({buildxArgs: ['x']}), facts({runtime: 'podman'})),
      /--buildx-args applies to the docker runtime/,
    )
    assert.throws(
      () => checkRuntimeFlags(options({rootless: true}), facts()),
      /--rootless applies to the podman runtime/,
    )
  })
})

describe('probe', () => {
  const notFound = {exitCode: undefined, notFound: true, stderr: 'spawn ENOENT'}
  it('says what it looked for when no runtime is found', async () => {
    const exec = fakeExec(() => notFound)
    await assert.rejects(
      probe(options(), {dry: false, dockerConfig: NO_CONFIG}, exec),
      (e: unknown) =>
        e instanceof EngineNotFoundError &&
        e.message ===
          'no container runtime found: looked for docker (docker: not found in PATH), podman (podman: not found in PATH), a BuildKit daemon (BUILDKIT_HOST is not set and no --buildkit-addr)',
    )
  })
  it('with --dry, assumes docker and a new builder, with a warning', async () => {
    const f = await probe(
      options(),
      {dry: true, dockerConfig: NO_CONFIG},
      fakeExec(() => notFound),
    )
    assert.equal(f.runtime, 'docker')
    assert.equal(f.builder?.exists, false)
    assert.match(f.assumptions[0], /no container runtime found: .*; assuming docker/)
    assert.equal(f.buildkitVersion, 'v0.32.2')
  })
  it('refuses docker without buildx, before anything runs', async () => {
    const exec = fakeExec((argv) =>
      argv[1] === 'buildx'
        ? {exitCode: 1, stderr: "docker: 'buildx' is not a docker command."}
        : {stdout: '20.10.24\n'},
    )
    await assert.rejects(
      probe(options(), {dry: false, dockerConfig: NO_CONFIG}, exec),
      /the docker buildx plugin is missing or broken/,
    )
    assert.deepEqual(exec.calls, [
      ['docker', 'version', '--format', '{{.Server.Version}}'],
      ['docker', 'buildx', 'version'],
      ['docker', 'buildx', 'inspect', 'repro-add30976f7cb'],
    ])
  })
  it('refuses an old BuildKit image by its tag', async () => {
    const exec = fakeExec((argv) =>
      argv[2] === 'inspect' ? {exitCode: 1} : {stdout: 'github.com/docker/buildx v0.19.3 x\n'},
    )
    await assert.rejects(
      probe(
        options({buildkitImage: 'moby/buildkit:v0.12.5'}),
        {dry: false, runtime: 'docker', dockerConfig: NO_CONFIG},
        exec,
      ),
      /moby\/buildkit:v0.12.5 is BuildKit v0.12.5: rewrite-timestamp needs BuildKit >= 0.13/,
    )
  })
  it('refuses an old BuildKit daemon', async () => {
    const exec = fakeExec((argv) =>
      argv.includes('debug')
        ? {stdout: 'BuildKit: github.com/moby/buildkit v0.12.0 x\n'}
        : {stdout: 'buildctl github.com/moby/buildkit v0.12.0 x\n'},
    )
    await assert.rejects(
      probe(
        options(),
        {dry: false, buildkitHost: 'unix:///b.sock'},
        fakeExec(() => notFound),
      ),
      EngineNotFoundError,
    )
    await assert.rejects(
      probe(options(), {dry: false, buildkitAddr: 'unix:///b.sock'}, exec),
      /the daemon at unix:\/\/\/b.sock is BuildKit v0.12.0: rewrite-timestamp needs/,
    )
  })
  it('finds docker, buildx and the builder', async () => {
    const exec = fakeExec((argv) =>
      argv[2] === 'inspect'
        ? {
            stdout: `Driver: docker-container\nDriver Options: image="${DEFAULT_BUILDKIT_IMAGE}"\nBuildKit version: v0.32.2\n`,
          }
        : argv[1] === 'buildx'
          ? {stdout: 'github.com/docker/buildx v0.19.3 x\n'}
          : {stdout: '20.10.24\n'},
    )
    const f = await probe(options(), {dry: false, dockerConfig: NO_CONFIG}, exec)
    assert.deepEqual(
      {runtime: f.runtime, v: f.runtimeVersion, bx: f.buildxVersion, b: f.builder, bk: f.buildkitVersion},
      {
        runtime: 'docker',
        v: '20.10.24',
        bx: 'v0.19.3',
        b: {
          name: 'repro-add30976f7cb',
          exists: true,
          image: DEFAULT_BUILDKIT_IMAGE,
          buildkitVersion: 'v0.32.2',
          stale: undefined,
        },
        bk: 'v0.32.2',
      },
    )
  })
  it('falls back to podman, then to BUILDKIT_HOST', async () => {
    const podman = await probe(
      options(),
      {dry: false, dockerConfig: NO_CONFIG},
      fakeExec((argv) => (argv[0] === 'docker' ? notFound : {stdout: '4.3.1\n'})),
    )
    assert.deepEqual([podman.runtime, podman.runtimeVersion], ['podman', '4.3.1'])
    const bk = await probe(
      options({buildkitImage: 'moby/buildkit:v0.19.0'}),
      {dry: false, buildkitHost: 'unix:///b.sock'},
      fakeExec((argv) =>
        argv[0] !== 'buildctl'
          ? notFound
          : argv.includes('debug')
            ? {stdout: 'BuildKit: github.com/moby/buildkit v0.19.0 x\n'}
            : {stdout: 'buildctl x v0.19.0 y'},
      ),
    )
    assert.deepEqual([bk.runtime, bk.buildkitAddr, bk.buildkitVersion], ['buildkit', 'unix:///b.sock', 'v0.19.0'])
  })
})

describe('files', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-build-plan-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })
  it('pins the single image of an OCI layout, and refuses an ambiguous one', async () => {
    const one = path.join(dir, 'one')
    await mkdir(one)
    await writeFile(path.join(one, 'index.json'), JSON.stringify({manifests: [{digest: DIGEST}]}))
    assert.equal(await ociLayoutDigest(one, 'base'), DIGEST)
    const two = path.join(dir, 'two')
    await mkdir(two)
    await writeFile(
      path.join(two, 'index.json'),
      JSON.stringify({manifests: [{digest: DIGEST}, {digest: `sha256:${'b'.repeat(64)}`}]}),
    )
    await assert.rejects(
      ociLayoutDigest(two, 'base'),
      /--build-context base: .*index.json holds 2 images: pick one with oci-layout:/,
    )
    await assert.rejects(ociLayoutDigest(path.join(dir, 'none'), 'base'), /cannot read .*: not an OCI layout/)
  })
  it('removes the partial file when the engine fails, and leaves the destination alone', async () => {
    const out = path.join(dir, 'image.tar')
    await writeFile(out, 'previous')
    const o = options({context: dir, dockerfile: path.join(dir, 'Dockerfile'), output: out})
    const plan = buildPlan(o, facts({builder: {name: 'b', exists: true, image: DEFAULT_BUILDKIT_IMAGE}}))
    const partial = plan.outputs[0].partial
    const exec = fakeExec(() => ({exitCode: 1, stderr: 'ERROR: failed to solve: boom\n'}))
    const failing = Object.assign(
      async (argv: string[], opts?: object) => {
        await writeFile(partial, 'half')
        return exec(argv, opts)
      },
      {calls: exec.calls},
    )
    await assert.rejects(
      executePlan(plan, failing, silentLogger),
      (e: unknown) =>
        e instanceof EngineFailedError && e.childExitCode === 1 && /failed to solve: boom/.test(e.message),
    )
    await assert.rejects(readFile(partial), {code: 'ENOENT'})
    assert.equal(await readFile(out, 'utf8'), 'previous')
  })
  it('--dry runs no engine command and writes nothing', async () => {
    const ctx = path.join(dir, 'ctx')
    await mkdir(ctx)
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n')
    const input: BuildInput = {
      cwd: dir,
      context: 'ctx',
      output: 'out/image.tar',
      format: 'docker',
      tags: [],
      buildArgs: [],
      annotations: [],
      platforms: [],
      noCache: false,
      buildContexts: [],
      secrets: [],
      rootless: false,
      sdeFromGit: false,
      sde: '0',
      dry: true,
      env: {},
    }
    const exec = fakeExec(() => ({exitCode: undefined, notFound: true}))
    const r = await build(input, {exec, logger: silentLogger})
    assert.deepEqual(r.commands, [
      `mkdir -p ${dir}/out`,
      `printf '%s\\n' '[registry."127.0.0.1:5000"]' '  http = true' '[registry."localhost:5000"]' '  http = true' > ${dir}/out/.image.tar.repro-${process.pid}-buildkitd.toml`,
      `docker buildx create --name repro-add30976f7cb --driver docker-container --driver-opt image=${DEFAULT_BUILDKIT_IMAGE} --driver-opt network=host --buildkitd-config ${dir}/out/.image.tar.repro-${process.pid}-buildkitd.toml --bootstrap`,
      `docker buildx build --builder repro-add30976f7cb --file ${ctx}/Dockerfile --build-arg SOURCE_DATE_EPOCH=0 --provenance false --sbom false --output type=docker,dest=${dir}/out/.image.tar.repro-partial,rewrite-timestamp=true ${ctx}`,
      `mv -f ${dir}/out/.image.tar.repro-partial ${dir}/out/image.tar`,
      `rm -rf ${dir}/out/.image.tar.repro-${process.pid}-buildkitd.toml`,
    ])
    assert.ok(
      exec.calls.every((c) => c.includes('version')),
      'only version probes ran',
    )
    await assert.rejects(readFile(path.join(dir, 'out')), {code: 'ENOENT'})
    await assert.rejects(build({...input, sde: undefined}, {exec, logger: silentLogger}), InvalidArgumentError)
    await assert.rejects(
      build({...input, buildArgs: ['SOURCE_DATE_EPOCH=1']}, {exec, logger: silentLogger}),
      /set it with --sde/,
    )
  })
})

describe('remote BuildKit: TLS, --builder and the pin', () => {
  const tls = {ca: '/pki/ca.pem', cert: '/pki/client cert.pem', key: '/pki/key.pem', serverName: 'bk.example'}
  const INFO = (v: string) => ({stdout: `BuildKit: github.com/moby/buildkit ${v} abc\n`})
  const bkExec = (v: string) =>
    fakeExec((argv) => (argv.includes('debug') ? INFO(v) : {stdout: 'buildctl github.com/moby/buildkit v0.32.2 x\n'}))

  it('passes the TLS files to buildctl, in the plan and the probe, and shows their paths with --dry', async () => {
    const o = options({tls})
    const f = facts({runtime: 'buildkit', buildkitAddr: 'tcp://127.0.0.1:1234'})
    const steps = buildPlan(o, f).steps
    assert.ok(steps[0].kind === 'exec')
    assert.deepEqual(steps[0].argv.slice(0, 12), [
      'buildctl',
      '--addr',
      'tcp://127.0.0.1:1234',
      '--tlscacert',
      '/pki/ca.pem',
      '--tlscert',
      '/pki/client cert.pem',
      '--tlskey',
      '/pki/key.pem',
      '--tlsservername',
      'bk.example',
      'build',
    ])
    assert.match(
      planText(buildPlan(o, f)),
      /^buildctl --addr tcp:\/\/127\.0\.0\.1:1234 --tlscacert \/pki\/ca\.pem --tlscert '\/pki\/client cert\.pem' --tlskey \/pki\/key\.pem --tlsservername bk\.example build /,
    )
    const exec = bkExec('v0.32.2')
    const probed = await probe(o, {dry: false, buildkitAddr: 'tcp://127.0.0.1:1234'}, exec)
    assert.deepEqual(exec.calls[1], [
      'buildctl',
      '--addr',
      'tcp://127.0.0.1:1234',
      '--tlscacert',
      '/pki/ca.pem',
      '--tlscert',
      '/pki/client cert.pem',
      '--tlskey',
      '/pki/key.pem',
      '--tlsservername',
      'bk.example',
      'debug',
      'info',
    ])
    assert.deepEqual(probed.served, {
      version: 'v0.32.2',
      from: 'the daemon at tcp://127.0.0.1:1234',
      pin: 'v0.32.2',
      pinned: true,
    })
  })

  it('names a TLS failure (exit 2), even with --dry', async () => {
    const exec = fakeExec((argv) =>
      argv.includes('debug')
        ? {
            exitCode: 1,
            stderr:
              'error: failed to call info: Unavailable: connection error: desc = "transport: authentication handshake failed: remote error: tls: unknown certificate authority"\n',
          }
        : {stdout: 'buildctl github.com/moby/buildkit v0.32.2 x\n'},
    )
    for (const dry of [false, true]) {
      await assert.rejects(probe(options({tls}), {dry, buildkitAddr: 'tcp://127.0.0.1:1234'}, exec), (e: Error) => {
        assert.ok(e instanceof EngineNotFoundError)
        assert.equal(e.exitCode, 2)
        assert.equal(
          e.message,
          'the BuildKit daemon at tcp://127.0.0.1:1234: TLS failure: transport: authentication handshake failed: remote error: tls: unknown certificate authority',
        )
        return true
      })
    }
    assert.equal(
      tlsFailure({
        argv: [],
        exitCode: 1,
        notFound: false,
        stderr: 'x509: certificate signed by unknown authority',
        stdout: '',
      }),
      'x509: certificate signed by unknown authority',
    )
    assert.equal(
      tlsFailure({argv: [], exitCode: 1, notFound: false, stderr: 'connection refused', stdout: ''}),
      undefined,
    )
  })

  it('refuses a daemon serving another BuildKit than the pin, unless --allow-unpinned-builder', async () => {
    const addr = 'unix:///run/bk-v0.19.0.sock'
    await assert.rejects(
      probe(options(), {dry: false, buildkitAddr: addr}, bkExec('v0.19.0')),
      (e: Error) =>
        e instanceof EngineNotFoundError &&
        e.message === `the daemon at ${addr} serves BuildKit v0.19.0, not the pinned v0.32.2`,
    )
    const allowed = await probe(
      options({allowUnpinnedBuilder: true}),
      {dry: false, buildkitAddr: addr},
      bkExec('v0.19.0'),
    )
    assert.deepEqual(allowed.served, {version: 'v0.19.0', from: `the daemon at ${addr}`, pin: 'v0.32.2', pinned: false})
    // the nightly's older versions pass their own image: that version is the pin
    const own = await probe(
      options({buildkitImage: 'moby/buildkit:v0.19.0'}),
      {dry: false, buildkitAddr: addr},
      bkExec('v0.19.0'),
    )
    assert.equal(own.served?.pinned, true)
    // an image tag without a version gives nothing to compare with: refused too
    await assert.rejects(
      probe(options({buildkitImage: 'localhost/bk:latest'}), {dry: false, buildkitAddr: addr}, bkExec('v0.32.2')),
      /names no version to compare with/,
    )
  })

  it('--builder: builds on the existing builder, never creates or removes it, and checks its BuildKit', async () => {
    const o = options({builder: 'team-remote'})
    const inspect = (v: string) =>
      fakeExec((argv) =>
        argv[2] === 'inspect'
          ? {
              stdout: `Name: team-remote\nDriver: remote\nNodes:\nName: team-remote0\nEndpoint: tcp://10.0.0.5:1234\nStatus: running\nBuildKit version: ${v}\n`,
            }
          : {stdout: '20.10.24\n'},
      )
    const exec = inspect('v0.32.2')
    const f = await probe(o, {dry: false, runtime: 'docker', dockerConfig: NO_CONFIG}, exec)
    assert.deepEqual(
      exec.calls.find((c) => c[2] === 'inspect'),
      ['docker', 'buildx', 'inspect', 'team-remote', '--bootstrap'],
    )
    assert.equal(f.builderDriver, 'remote')
    assert.deepEqual(f.served, {version: 'v0.32.2', from: 'the builder team-remote', pin: 'v0.32.2', pinned: true})
    const argv = argvOf(o, f)
    assert.ok(!argv.some((a) => a[2] === 'create' || a[2] === 'rm'), 'no builder is created or removed')
    assert.deepEqual(
      argv.filter((a) => a[0] === 'docker').map((a) => a.slice(0, 5)),
      [['docker', 'buildx', 'build', '--builder', 'team-remote']],
    )
    await assert.rejects(
      probe(o, {dry: false, runtime: 'docker', dockerConfig: NO_CONFIG}, inspect('v0.19.0')),
      /the builder team-remote serves BuildKit v0.19.0, not the pinned v0.32.2/,
    )
    // a docker-container builder pinned by digest: the digest is recorded
    const pinnedImage = `moby/buildkit:v0.32.2@${DIGEST}`
    const dc = await probe(
      options({builder: 'dc', buildkitImage: pinnedImage}),
      {dry: false, runtime: 'docker', dockerConfig: NO_CONFIG},
      fakeExec((argv) =>
        argv[2] === 'inspect'
          ? {stdout: `Driver: docker-container\nDriver Options: image="${pinnedImage}"\nBuildKit version: v0.32.2\n`}
          : {stdout: '20.10.24\n'},
      ),
    )
    assert.equal(dc.served?.imageDigest, DIGEST)
    await assert.rejects(
      probe(
        o,
        {dry: false, runtime: 'docker', dockerConfig: NO_CONFIG},
        fakeExec((argv) =>
          argv[2] === 'inspect' ? {exitCode: 1, stderr: 'ERROR: no builder "team-remote" found\n'} : {stdout: '20\n'},
        ),
      ),
      /^EngineNotFoundError: --builder team-remote: docker exited with 1: ERROR: no builder "team-remote" found$/,
    )
  })

  it('refuses TLS flags off the buildkit runtime and --builder off docker', () => {
    assert.throws(() => checkRuntimeFlags(options({tls}), facts()), /--tls-\* applies to a BuildKit daemon/)
    assert.throws(
      () => checkRuntimeFlags(options({builder: 'b'}), facts({runtime: 'buildkit'})),
      /--builder applies to the docker runtime/,
    )
  })

  describe('TLS files', () => {
    let dir: string
    const input = (over: Partial<BuildInput>): BuildInput => ({cwd: dir, ...over}) as BuildInput
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'repro-tls-'))
      await mkdir(path.join(dir, 'pki'))
      for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFile(path.join(dir, 'pki', f), 'x\n')
      await mkdir(path.join(dir, 'half'))
      await writeFile(path.join(dir, 'half', 'ca.pem'), 'x\n')
    })
    after(async () => rm(dir, {recursive: true, force: true}))

    it('takes ca.pem, cert.pem and key.pem from --tls-dir; a flag overrides one', async () => {
      const pki = path.join(dir, 'pki')
      assert.deepEqual(await resolveTls(input({tlsDir: 'pki', tlsServerName: 'localhost'})), {
        ca: path.join(pki, 'ca.pem'),
        cert: path.join(pki, 'cert.pem'),
        key: path.join(pki, 'key.pem'),
        serverName: 'localhost',
      })
      assert.equal((await resolveTls(input({tlsDir: 'pki', tlsCa: 'half/ca.pem'})))?.ca, path.join(dir, 'half/ca.pem'))
      assert.equal(await resolveTls(input({})), undefined)
    })

    it('names the flag and the file that is missing or wrong, before anything runs', async () => {
      const cases: Array<[Partial<BuildInput>, string]> = [
        [{tlsCa: 'nope.pem'}, `--tls-ca ${path.join(dir, 'nope.pem')}: no such file`],
        [{tlsCert: 'pki/cert.pem', tlsKey: 'gone.pem'}, `--tls-key ${path.join(dir, 'gone.pem')}: no such file`],
        [{tlsCert: 'pki', tlsKey: 'pki/key.pem'}, `--tls-cert ${path.join(dir, 'pki')}: not a regular file`],
        [{tlsDir: 'half'}, `--tls-dir ${path.join(dir, 'half', 'cert.pem')}: no such file`],
        [{tlsDir: 'pki/ca.pem'}, `--tls-dir ${path.join(dir, 'pki/ca.pem')}: not a directory`],
        [
          {tlsCert: 'pki/cert.pem'},
          '--tls-cert: a client certificate needs its key (--tls-cert and --tls-key together)',
        ],
      ]
      for (const [over, message] of cases) {
        await assert.rejects(resolveTls(input(over)), (e: Error) => {
          assert.ok(e instanceof InvalidArgumentError, message)
          assert.equal(e.message, message)
          assert.equal(e.exitCode, 2)
          return true
        })
      }
    })

    it('hostile server names and paths: refused or quoted, never split into other arguments', async () => {
      // generated: shell metacharacters, option look-alikes, newlines, long names
      const hostile = ['a b', '--addr=x', 'x;rm -rf /', 'x\ny', '$(id)', 'é.example', 'a'.repeat(300), '']
      for (const name of hostile) {
        await assert.rejects(resolveTls(input({tlsServerName: name})), /--tls-server-name '.*': not a host name/s)
      }
      const odd = path.join(dir, "it's $(x) ; `y`.pem")
      await writeFile(odd, 'x\n')
      const t = await resolveTls(input({tlsCa: odd}))
      const plan = buildPlan(options({tls: t}), facts({runtime: 'buildkit', buildkitAddr: 'tcp://h:1'}))
      assert.ok(plan.steps[0].kind === 'exec')
      assert.equal(plan.steps[0].argv[4], odd, 'the path stays one argument')
      // a shell parses the printed line back into the very argv
      const line = planText(plan).split('\n')[0]
      const parsed = spawnSync('bash', ['-c', `printf '%s\\0' ${line}`], {encoding: 'utf8'}).stdout.split('\0')
      assert.deepEqual(parsed.slice(0, 5), ['buildctl', '--addr', 'tcp://h:1', '--tlscacert', odd])
    })
  })
})

describe('naming a TLS failure with a handshake of our own', () => {
  let dir: string
  const servers: Server[] = []
  const pem = (...p: string[]) => path.join(dir, ...p)
  // certificates from openssl (an independent writer): a CA, a server for 127.0.0.1, a client, and a client
  // signed by another CA
  const ssl = (...args: string[]) => execFileSync('openssl', args, {stdio: 'ignore'})
  function cert(name: string, cn: string, usage: string, ca: string, san?: string) {
    ssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      pem(`${name}-key.pem`),
      '-out',
      pem(`${name}.csr`),
    )
    execFileSync('sh', [
      '-c',
      `printf 'extendedKeyUsage=${usage}\\n${san ? `subjectAltName=${san}\\n` : ''}' > '${pem(`${name}.ext`)}'`,
    ])
    ssl(
      'x509',
      '-req',
      '-in',
      pem(`${name}.csr`),
      '-CA',
      pem(`${ca}.pem`),
      '-CAkey',
      pem(`${ca}-key.pem`),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      pem(`${name}.ext`),
      '-out',
      pem(`${name}.pem`),
    )
  }
  const listen = (server: Server) =>
    new Promise<number>((resolve) => {
      servers.push(server)
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
    })

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-tls-handshake-'))
    for (const ca of ['ca', 'other-ca']) {
      ssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${ca}`,
        '-keyout',
        pem(`${ca}-key.pem`),
        '-out',
        pem(`${ca}.pem`),
      )
    }
    cert('server', 'localhost', 'serverAuth', 'ca', 'IP:127.0.0.1,DNS:localhost')
    cert('client', 'client', 'clientAuth', 'ca')
    cert('untrusted', 'untrusted', 'clientAuth', 'other-ca')
  })
  after(async () => {
    for (const s of servers) s.close()
    await rm(dir, {recursive: true, force: true})
  })

  it('says which side failed, and nothing when TLS works or nothing answers', async () => {
    const server = createTlsServer({
      cert: await readFile(pem('server.pem')),
      key: await readFile(pem('server-key.pem')),
      ca: await readFile(pem('ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    })
    server.on('secureConnection', (s) => s.write('\0\0\0\x04\0\0\0\0\0')) // an HTTP/2 SETTINGS frame, as gRPC answers
    server.on('tlsClientError', () => {})
    const port = await listen(server)
    const addr = `tcp://127.0.0.1:${port}`
    const client = {ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client-key.pem'), serverName: 'localhost'}
    assert.equal(await tlsHandshakeProblem(addr, client), undefined)
    assert.match(
      (await tlsHandshakeProblem(addr, {...client, cert: pem('untrusted.pem'), key: pem('untrusted-key.pem')})) ?? '',
      // OpenSSL servers (Node) close without an alert in TLS 1.3; Go servers (buildkitd) send one: both named
      /^the daemon (refused the client certificate \(tlsv1\d? alert [a-z ]+\)|closed the connection right after the TLS handshake: it refused the client certificate)$/,
    )
    assert.match(
      (await tlsHandshakeProblem(addr, {...client, ca: pem('other-ca.pem')})) ?? '',
      /^the daemon's certificate is not trusted \(/,
    )
    assert.match(
      (await tlsHandshakeProblem(addr, {...client, serverName: 'elsewhere.example'})) ?? '',
      /^the daemon's certificate is not trusted \(.*elsewhere\.example/,
    )
    // not TLS problems: not tcp://, nothing listening, a peer that never answers (bounded by the timeout)
    assert.equal(await tlsHandshakeProblem('unix:///run/x.sock', client), undefined)
    const closed = createTcpServer()
    const closedPort = await listen(closed)
    closed.close()
    assert.equal(await tlsHandshakeProblem(`tcp://127.0.0.1:${closedPort}`, client), undefined)
    const silent = await listen(createTcpServer(() => {}))
    const t0 = Date.now()
    assert.equal(await tlsHandshakeProblem(`tcp://127.0.0.1:${silent}`, client, 300), undefined)
    assert.ok(Date.now() - t0 < 5000)
  })
})
