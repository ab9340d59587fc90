/**
 * `repro build --runtime buildah`: the native build Arch Linux uses for its reproducible base image
 * (--source-date-epoch, --rewrite-timestamp), with the test bed's pinned buildah (testbed.sh buildah), its own
 * storage and the test bed's base images. For every nightly fixture (nightly/fixtures):
 *   1. two native builds give the same bytes (docker archive and OCI archive); the canary (canary-date) does
 *      not, and `repro diff` names its cause
 *   2. the same fixture built by the BuildKit runtime (the test bed's daemon) has another digest, and every
 *      difference `repro diff` reports is one of the named causes below (pinned per fixture), with
 *      `--semantic` reporting only what is true (packaging and metadata ignored; layer directory entries are
 *      content)
 *   3. Arch's verification: `repro diff --semantic` of a build against a rebuild passes (exit 0)
 * and Debian's own buildah (1.28) is refused with a one-line error before anything runs, and a hazard of
 * buildah's own is shown: the base image's name in the local store ends up in the image (history comment,
 * org.opencontainers.image.base.name), so an empty store gives another digest with the same layers.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {DiffResult} from '../../src/diff/types.js'
import type {BuildResult} from '../../src/engine/run.js'
import {loadFixtures, stageFixture} from '../../nightly/lib/fixtures.js'
import type {FixtureMeta} from '../../nightly/lib/matrix.js'
import {ROOT, runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

interface BuildahTool {
  path: string
  version: string
  storageConf: string
}

/** Why the BuildKit runtimes' image and buildah's differ: every cause `repro diff` may report, named. */
const NAMED_CAUSES: Record<string, string> = {
  'archive-format':
    "docker format: buildah writes `docker save`'s layout (manifest.json, no index.json); BuildKit's docker exporter adds an OCI index",
  'media-type': 'docker format: the docker archive carries Docker media types for the config; BuildKit writes OCI ones',
  compression: 'layers: buildah writes them uncompressed (BuildKit: gzip); the same diff IDs',
  annotation:
    'BuildKit annotates rewritten layers (buildkit/rewritten-timestamp); buildah annotates the manifest with its base (org.opencontainers.image.base.name/.digest)',
  'created-timestamp':
    'OCI format: the same creation time (SOURCE_DATE_EPOCH) annotated on index.json by BuildKit, on the manifest by buildah',
  history:
    'history text: buildah records `/bin/sh -c #(nop) ...|clamp-mtime=0` and the base as `FROM oci`, BuildKit `RUN ... # buildkit` and buildkit.dockerfile.v0',
  'file-added-or-removed':
    "layer directory entries: BuildKit's layer holds the parent directory of a changed file (/etc for /etc/passwd); buildah's holds a directory whose entries changed and came back (dpkg's /var/lib/dpkg/updates, /var/log after the logs were removed)",
  'timestamp-in-content':
    'canary-date only: /stamp holds the build time (irreproducible by design), decoded by the hazard detectors',
}

/** What `repro diff BUILDKIT BUILDAH` reports, per fixture and format: causes, and the content events exactly. */
const EXPECTED: Record<string, {causes: Record<'docker' | 'oci', string[]>; content: string[]}> = {
  'scratch-copy': {
    causes: {
      docker: ['annotation', 'archive-format', 'compression', 'history', 'media-type'],
      oci: ['annotation', 'compression', 'created-timestamp', 'history'],
    },
    content: [],
  },
  'busybox-run': {
    causes: {
      docker: ['annotation', 'archive-format', 'compression', 'file-added-or-removed', 'history', 'media-type'],
      oci: ['annotation', 'compression', 'created-timestamp', 'file-added-or-removed', 'history'],
    },
    content: ['layer 3: etc presence dir|-'],
  },
  'debian-debs': {
    causes: {
      docker: ['annotation', 'archive-format', 'compression', 'file-added-or-removed', 'history', 'media-type'],
      oci: ['annotation', 'compression', 'created-timestamp', 'file-added-or-removed', 'history'],
    },
    content: ['layer 2: var/lib/dpkg/updates presence -|dir', 'layer 2: var/log presence -|dir'],
  },
  'canary-date': {
    causes: {
      docker: ['annotation', 'archive-format', 'compression', 'history', 'media-type', 'timestamp-in-content'],
      oci: ['annotation', 'compression', 'created-timestamp', 'history', 'timestamp-in-content'],
    },
    content: ['layer 2: stamp content'],
  },
}

type Format = 'docker' | 'oci'

describe('repro build --runtime buildah (native, Arch Linux’s way) on the nightly fixtures', () => {
  let state: TestbedState
  let buildah: BuildahTool
  let dir: string
  let env: Record<string, string>
  let fixtures: FixtureMeta[]
  const staged = new Map<string, string>()
  const rows: string[] = []
  const timings: string[] = []
  const schemas = new SchemaValidator()

  before(async () => {
    state = readTestbedState<TestbedState>()
    const tool = state.tools.buildah as Partial<BuildahTool> | undefined
    assert.ok(
      tool?.path && tool.storageConf,
      'test bed: no buildah; run `bash tests/e2e/testbed/testbed.sh buildah` (or `npm run testbed -- up`)',
    )
    buildah = tool as BuildahTool
    const bk = state.buildkit.versions[state.buildkit.default]
    assert.ok(bk?.running && bk.buildctl && bk.host, `test bed: buildkitd ${state.buildkit.default} is not running`)
    dir = await mkdtemp(path.join(tmpdir(), 'repro-buildah-e2e-'))
    env = {
      // the pinned buildah and buildctl first (Debian's /usr/bin/buildah is 1.28)
      PATH: `${path.dirname(buildah.path)}:${path.dirname(bk.buildctl)}:${process.env.PATH ?? ''}`,
      // buildah's own storage (never podman's /var/lib/containers)
      CONTAINERS_STORAGE_CONF: buildah.storageConf,
      BUILDKIT_HOST: bk.host,
    }
    const fixturesDir = path.join(ROOT, 'nightly', 'fixtures')
    fixtures = await loadFixtures(fixturesDir)
    assert.deepEqual(fixtures.map((f) => f.name).sort(), Object.keys(EXPECTED).sort(), 'a table entry per fixture')
    for (const f of fixtures) staged.set(f.name, await stageFixture(fixturesDir, f, path.join(dir, 'ctx')))
  })

  after(async () => {
    // intermediate images of --layers builds (dangling): the test bed store keeps only the named bases
    if (buildah)
      await new Promise((resolve) =>
        execFile(buildah.path, ['rmi', '--prune'], {env: {...process.env, ...env}}, resolve),
      )
    if (rows.length > 0) {
      process.stderr.write(
        `\n| fixture | format | BuildKit ${state.buildkit.default} | buildah ${buildah.version.split(' ')[2]} (twice) | repro diff causes | --semantic |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n\n${timings.join('\n')}\n`,
      )
    }
    await rm(dir, {recursive: true, force: true})
  })

  function buildArgs(f: FixtureMeta, runtime: string, format: Format, out: string): string[] {
    const args = ['build', '--json', '--runtime', runtime, '--sde', '0', '--no-cache', '--format', format, '-o', out]
    if (f.base)
      args.push('--build-context', `base=oci-layout://${state.images[f.base as 'busybox' | 'debian'].ociLayout}`)
    if (f.hashfile) {
      args.push(
        '--hashfile',
        path.join(staged.get(f.name)!, f.hashfile),
        '--provider',
        `file://${state.debs.dir}/{{.Name}}`,
        '--pkg-cache',
        path.join(dir, 'pkg-cache'),
      )
    }
    return [...args, staged.get(f.name)!]
  }

  async function build(f: FixtureMeta, runtime: string, format: Format, name: string): Promise<BuildResult> {
    const out = path.join(dir, 'out', `${f.name}-${name}-${format}.tar`)
    const t0 = Date.now()
    const r = await runCli(buildArgs(f, runtime, format, out), {env})
    assert.equal(r.code, 0, `${runtime} build of ${f.name} failed:\n${r.stderr.slice(-3000)}`)
    timings.push(`${f.name} ${format} ${runtime} ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const result = JSON.parse(r.stdout) as BuildResult
    schemas.check('build', result)
    return result
  }

  async function diff(a: string, b: string, semantic: boolean): Promise<{code: number | null; result: DiffResult}> {
    const r = await runCli(['diff', '--json', ...(semantic ? ['--semantic'] : []), a, b], {env})
    assert.ok(r.code === 0 || r.code === 1, `repro diff ${a} ${b} failed (${r.code}):\n${r.stderr}`)
    return {code: r.code, result: JSON.parse(r.stdout) as DiffResult}
  }

  function contentEvents(d: DiffResult): string[] {
    return d.differences
      .filter((e) => e.category === 'content')
      .map((e) =>
        e.field === 'presence'
          ? `layer ${e.layer}: ${e.path} presence ${e.a ?? '-'}|${e.b ?? '-'}`
          : `layer ${e.layer}: ${e.path} ${e.field}`,
      )
      .sort()
  }

  it('refuses Debian 12’s buildah 1.28 in one line, before anything runs', async () => {
    const out = path.join(dir, 'refused', 'image.tar')
    const r = await runCli(
      [
        'build',
        '--runtime',
        'buildah',
        '--sde',
        '0',
        '-o',
        out,
        path.join(ROOT, 'nightly', 'fixtures', 'scratch-copy'),
      ],
      {
        env: {PATH: `/usr/bin:/bin:/usr/sbin:/sbin`, CONTAINERS_STORAGE_CONF: buildah.storageConf},
      },
    )
    assert.equal(r.code, 2)
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('Error:'))
    assert.deepEqual(lines.length, 1, r.stderr)
    assert.match(
      lines[0],
      /^Error: buildah 1\.28\.\d+: --source-date-epoch and --rewrite-timestamp need buildah >= 1\.41$/,
    )
    assert.ok(!r.stderr.includes(' at '), 'no stack trace')
  })

  it('a failing RUN: exit 2, no output, no partial file, no working container left in the store', async () => {
    const ctx = path.join(dir, 'failing')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM base\nRUN echo half > /half && false\n')
    const outDir = path.join(dir, 'failing-out')
    const r = await runCli(
      [
        'build',
        '--runtime',
        'buildah',
        '--sde',
        '0',
        '--build-context',
        `base=oci-layout://${state.images.busybox.ociLayout}`,
        '-o',
        path.join(outDir, 'image.tar'),
        ctx,
      ],
      {env},
    )
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^Error: command failed with exit code 1: buildah build --source-date-epoch=0 /m)
    assert.match(r.stderr, /Error: building at STEP "RUN echo half > \/half && false"/)
    assert.deepEqual(await readdir(outDir), [])
    const containers = await new Promise<string>((resolve, reject) =>
      execFile(buildah.path, ['containers', '--quiet'], {env: {...process.env, ...env}}, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    )
    assert.equal(containers.trim(), '', 'buildah --force-rm removed the working container')
  })

  it('the base image’s name in the local store is recorded: an empty store, the same layers, another digest', async () => {
    const f = fixtures.find((x) => x.name === 'busybox-run')!
    const named = (await build(f, 'buildah', 'oci', 'named-store')).outputs[0]
    const storeDir = path.join(dir, 'empty-store')
    await mkdir(storeDir, {recursive: true})
    const conf = path.join(storeDir, 'storage.conf')
    await writeFile(
      conf,
      `[storage]\ndriver = "overlay"\ngraphroot = "${storeDir}/root"\nrunroot = "${storeDir}/run"\n`,
    )
    const out = path.join(dir, 'out', 'busybox-run-empty-store.tar')
    const r = await runCli(buildArgs(f, 'buildah', 'oci', out), {env: {...env, CONTAINERS_STORAGE_CONF: conf}})
    assert.equal(r.code, 0, r.stderr.slice(-3000))
    const fresh = (JSON.parse(r.stdout) as BuildResult).outputs[0]
    assert.notEqual(fresh.digest, named.digest)
    const d = await diff(named.path, fresh.path, false)
    assert.equal(d.result.summary.layersSkipped, 3, 'every layer has the same diff ID')
    assert.deepEqual(d.result.differences.map((e) => `${e.cause} ${e.path} ${e.a ?? '-'} -> ${e.b ?? '-'}`).sort(), [
      `annotation manifest.annotations["org.opencontainers.image.base.name"] ${state.images.busybox.name} -> -`,
      `history .history[2].comment FROM ${state.images.busybox.name} -> FROM oci`,
    ])
    // what Arch's check sees: no difference that counts
    assert.equal((await diff(named.path, fresh.path, true)).code, 0)
  })

  it('repro verify --runtime buildah --against a published build: rebuilt, the same digest', async () => {
    const f = fixtures.find((x) => x.name === 'busybox-run')!
    const published = (await build(f, 'buildah', 'oci', 'published')).outputs[0]
    const args = buildArgs(f, 'buildah', 'oci', published.path).filter((a, i, all) => a !== '-o' && all[i - 1] !== '-o')
    const r = await runCli(
      ['verify', ...args.slice(1).filter((a) => a !== '--no-cache'), '--times', '1', '--against', published.path],
      {env},
    )
    assert.equal(r.code, 0, r.stderr.slice(-3000))
    const v = JSON.parse(r.stdout) as {reproduced: boolean; digest: string; runtimes: string[]}
    assert.deepEqual([v.reproduced, v.digest, v.runtimes], [true, published.digest, ['buildah']])
  })

  for (const name of Object.keys(EXPECTED)) {
    for (const format of ['docker', 'oci'] as const) {
      it(`${name} (${format}): natively twice, then against BuildKit with repro diff`, async () => {
        const f = fixtures.find((x) => x.name === name)!
        const expect = EXPECTED[name]
        const one = (await build(f, 'buildah', format, 'buildah-1')).outputs[0]
        const two = (await build(f, 'buildah', format, 'buildah-2')).outputs[0]
        const bk = (await build(f, 'buildkit', format, 'buildkit')).outputs[0]
        // docker archives from buildah hold no manifest: the image is its config digest (image ID)
        const id = (o: typeof one) => o.digest ?? o.manifests?.[0]?.configDigest ?? ''
        assert.ok(id(one).startsWith('sha256:') && id(bk).startsWith('sha256:'))
        if (format === 'oci') assert.ok(one.digest?.startsWith('sha256:'), 'an OCI archive has a manifest digest')

        const twice = await diff(one.path, two.path, false)
        if (f.expect === 'reproducible') {
          assert.equal(one.archiveSha256, two.archiveSha256, `${name}: two buildah builds, the same bytes`)
          assert.equal(id(one), id(two))
          assert.equal(twice.code, 0)
          // Arch's verification: the rebuild against the build, semantically
          const arch = await diff(one.path, two.path, true)
          assert.equal(arch.code, 0)
          assert.equal(arch.result.same, true)
        } else {
          assert.notEqual(id(one), id(two), `${name} is the canary: it must not reproduce`)
          assert.deepEqual(
            twice.result.summary.causes.map((c) => c.cause),
            f.expectCauses,
          )
        }

        assert.notEqual(id(one), id(bk), 'another builder, another digest')
        const full = await diff(bk.path, one.path, false)
        assert.equal(full.code, 1)
        const causes = full.result.summary.causes.map((c) => c.cause).sort()
        for (const c of causes) assert.ok(NAMED_CAUSES[c], `${name} ${format}: unexplained cause ${c}`)
        assert.deepEqual(causes, expect.causes[format], `${name} ${format}: the causes`)
        assert.deepEqual(contentEvents(full.result), expect.content, `${name} ${format}: the content differences`)

        const semantic = await diff(bk.path, one.path, true)
        const byCategory = semantic.result.summary.byCategory
        // --semantic: packaging and metadata never count; content only where it is real
        assert.equal(byCategory.packaging, 0)
        assert.equal(byCategory.metadata, 0)
        assert.deepEqual(contentEvents(semantic.result), expect.content)
        assert.equal(semantic.code, expect.content.length === 0 ? 0 : 1)

        const short = (d: string) => `\`${d.replace('sha256:', '').slice(0, 12)}\``
        rows.push(
          `| ${name} | ${format} | ${short(id(bk))} | ${short(id(one))}${f.expect === 'reproducible' ? ' (identical)' : ` / ${short(id(two))}`} | ${causes.join(', ')} | ${expect.content.length === 0 ? 'same' : expect.content.join('; ')} |`,
        )
      })
    }
  }
})
