/**
 * src/hermetic: per-architecture hash file selection, snapshot URLs and script text, the installer text,
 * staging determinism (stage twice, compare tree digests), the generated Dockerfiles per distro, and the
 * --dry text of a build with --hashfile / --snapshot-sources.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {InvalidArgumentError} from '../../src/errors.js'
import {type BuildOptions, buildPlan, type Facts, planText} from '../../src/engine/plan.js'
import {distroFromBase, generateFiles, hashGenerateScript, parseBase} from '../../src/hermetic/dockerfile.js'
import {resolveHermetic} from '../../src/hermetic/inject.js'
import {INSTALL_RUN_LINE, installerScript} from '../../src/hermetic/installer.js'
import {
  hashFileApplies,
  hashFileArch,
  hostPlatform,
  parsePlatform,
  platformSlug,
  selectHashFiles,
} from '../../src/hermetic/platform.js'
import {archArchiveDay, resolveEpoch, snapshotId, snapshotUrls, sourcesScript} from '../../src/hermetic/snapshot.js'
import {executeStage, pkgsTree, planPkgStage, stageText, treeDigest, treeKey} from '../../src/hermetic/stage.js'
import {silentLogger} from '../../src/log.js'
import {PackageCache} from '../../src/pkg/cache.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {parseProvider} from '../../src/pkg/providers.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')

describe('per-architecture hash files', () => {
  it('reads the architecture from the file name', () => {
    assert.deepEqual(hashFileArch('SHA256SUMS-amd64'), {arch: 'amd64'})
    assert.deepEqual(hashFileArch('/x/SHA256SUMS-arm64'), {arch: 'arm64'})
    assert.deepEqual(hashFileArch('SHA256SUMS-arm-v7'), {arch: 'arm', variant: 'v7'})
    assert.deepEqual(hashFileArch('SHA256SUMS-ppc64le'), {arch: 'ppc64le'})
    assert.equal(hashFileArch('SHA256SUMS'), undefined)
    assert.equal(hashFileArch('SHA256SUMS-amd64.old'), undefined)
  })

  it('normalizes platforms as BuildKit does', () => {
    assert.deepEqual(parsePlatform('linux/arm'), {os: 'linux', arch: 'arm', variant: 'v7'})
    assert.deepEqual(parsePlatform('linux/arm64/v8'), {os: 'linux', arch: 'arm64'})
    assert.equal(platformSlug(parsePlatform('linux/arm/v6')), 'arm-v6')
    assert.equal(platformSlug(hostPlatform('x64')), 'amd64')
    assert.equal(platformSlug(hostPlatform('arm64')), 'arm64')
    assert.throws(() => parsePlatform('amd64'), InvalidArgumentError)
  })

  it('applies a file to its architecture, a plain file to all, a variant-less arm file to every arm', () => {
    const amd64 = parsePlatform('linux/amd64')
    const armv7 = parsePlatform('linux/arm/v7')
    assert.equal(hashFileApplies('SHA256SUMS-amd64', amd64), true)
    assert.equal(hashFileApplies('SHA256SUMS-arm64', amd64), false)
    assert.equal(hashFileApplies('SHA256SUMS', armv7), true)
    assert.equal(hashFileApplies('SHA256SUMS-arm', armv7), true)
    assert.equal(hashFileApplies('SHA256SUMS-arm-v6', armv7), false)
    assert.equal(hashFileApplies('SHA256SUMS-arm64-v8', parsePlatform('linux/arm64')), true)
  })

  it('selects per platform and reports unused files', () => {
    const files = ['SHA256SUMS-amd64', 'SHA256SUMS-arm64', 'SHA256SUMS', 'SHA256SUMS-s390x']
    const r = selectHashFiles(files, [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')])
    assert.deepEqual(
      r.perPlatform.map((p) => p.files),
      [
        ['SHA256SUMS-amd64', 'SHA256SUMS'],
        ['SHA256SUMS-arm64', 'SHA256SUMS'],
      ],
    )
    assert.deepEqual(r.unused, ['SHA256SUMS-s390x'])
  })

  it('fails when a platform has no hash file, naming it', () => {
    assert.throws(
      () => selectHashFiles(['SHA256SUMS-amd64'], [parsePlatform('linux/arm64')]),
      (e: Error) =>
        e instanceof InvalidArgumentError && /no hash file for linux\/arm64.*SHA256SUMS-arm64/.test(e.message),
    )
  })
})

describe('snapshot sources', () => {
  it('computes snapshot ids and URLs in UTC', () => {
    assert.equal(snapshotId(0), '19700101T000000Z')
    assert.equal(snapshotId(1704067200), '20240101T000000Z')
    assert.equal(snapshotId(1700000000), '20231114T221320Z')
    assert.equal(archArchiveDay(1704067199), '2023/12/31')
    const u = snapshotUrls(1704067200)
    assert.equal(u.debian, 'http://snapshot.debian.org/archive/debian/20240101T000000Z/')
    assert.equal(u.debianSecurity, 'http://snapshot.debian.org/archive/debian-security/20240101T000000Z/')
    assert.equal(u.ubuntu, 'http://snapshot.ubuntu.com/ubuntu/20240101T000000Z/')
    assert.equal(u.arch, 'https://archive.archlinux.org/repos/2024/01/01/$repo/os/$arch')
  })

  it('embeds the epoch, lets $SOURCE_DATE_EPOCH override it, and never stats a file for the time', () => {
    const s = sourcesScript({epoch: 1704067200})
    assert.match(s, /^#!\/bin\/sh\n/)
    assert.match(s, /epoch=\$\{SOURCE_DATE_EPOCH:-1704067200\}/)
    assert.match(s, /snap=20240101T000000Z/)
    assert.match(s, /day=2024\/01\/01/)
    assert.doesNotMatch(s, /\bstat\b/)
    assert.doesNotMatch(s, /bash|pipefail|\[\[/)
    assert.match(s, /Snapshot: yes/)
    assert.match(s, /APT::Snapshot/)
    assert.match(s, /Check-Valid-Until: no/)
    const runtime = sourcesScript({})
    assert.match(runtime, /SOURCE_DATE_EPOCH is not set/)
    assert.equal(sourcesScript({epoch: 5}), sourcesScript({epoch: 5}))
  })

  it('resolves the epoch from flags, then REPRO_SOURCE_DATE_EPOCH, then SOURCE_DATE_EPOCH', () => {
    assert.deepEqual(resolveEpoch({sde: '10', env: {}}), {epoch: 10, origin: '--sde'})
    assert.deepEqual(resolveEpoch({datetime: '2024-01-01', env: {}}), {epoch: 1704067200, origin: '--datetime'})
    assert.deepEqual(resolveEpoch({env: {SOURCE_DATE_EPOCH: '7'}}), {epoch: 7, origin: 'SOURCE_DATE_EPOCH'})
    assert.equal(resolveEpoch({env: {}}), undefined)
    assert.throws(() => resolveEpoch({sde: '1', datetime: '2024-01-01', env: {}}), InvalidArgumentError)
  })
})

describe('installer', () => {
  const text = installerScript()
  it('is POSIX sh that re-checks every sha256 and installs with the distro tool', () => {
    assert.match(text, /^#!\/bin\/sh\n/)
    assert.doesNotMatch(text, /bash|\[\[|pipefail|local /)
    assert.match(text, /sha256sum -c SHA256SUMS/)
    assert.match(text, /busybox sha256sum -c SHA256SUMS/)
    assert.match(text, /dpkg -i "\$@"/)
    assert.match(text, /rpm -Uvh --replacepkgs "\$@"/)
    assert.match(text, /apk add --no-network "\$@"/)
    assert.match(text, /pacman -U --noconfirm --needed "\$@"/)
    assert.match(text, /x86_64\|amd64\) arch=amd64/)
    assert.match(text, /armv7\*\) arch=arm-v7/)
    assert.ok(text.includes(INSTALL_RUN_LINE))
    assert.equal(INSTALL_RUN_LINE, 'RUN --mount=from=repro-pkgs,target=/repro --network=none /repro/install')
  })
})

describe('staging', () => {
  let dir: string
  let cache: PackageCache
  const debs = {
    'pool/main/h/hello/hello_2.10-3_amd64.deb': 'hello bytes',
    'pool/main/t/tree/tree_2.1.0-1_amd64.deb': 'tree bytes',
    'pool/main/h/hello/hello_2.10-3_arm64.deb': 'hello arm bytes',
  }
  const line = (name: keyof typeof debs) => `${sha(debs[name])}  ${name}\n`

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repro-hermetic-'))
    await mkdir(path.join(dir, 'mirror'), {recursive: true})
    for (const [name, bytes] of Object.entries(debs)) {
      await mkdir(path.join(dir, 'mirror', path.dirname(name)), {recursive: true})
      await writeFile(path.join(dir, 'mirror', name), bytes)
    }
    await writeFile(
      path.join(dir, 'SHA256SUMS-amd64'),
      line('pool/main/t/tree/tree_2.1.0-1_amd64.deb') + line('pool/main/h/hello/hello_2.10-3_amd64.deb'),
    )
    await writeFile(path.join(dir, 'SHA256SUMS-arm64'), line('pool/main/h/hello/hello_2.10-3_arm64.deb'))
    cache = new PackageCache(path.join(dir, 'cache'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  const platforms = () => [
    {
      platform: 'linux/amd64',
      slug: 'amd64',
      hashFiles: ['SHA256SUMS-amd64'],
      entries: parseHashFiles([
        {
          file: 'SHA256SUMS-amd64',
          text: line('pool/main/h/hello/hello_2.10-3_amd64.deb') + line('pool/main/t/tree/tree_2.1.0-1_amd64.deb'),
        },
      ]),
    },
  ]

  it('lays out install + per-platform SHA256SUMS and basenames, sorted', () => {
    const tree = pkgsTree(platforms())
    assert.deepEqual(
      tree.map((f) => `${f.path} ${f.mode.toString(8)}`),
      ['amd64/SHA256SUMS 644', 'amd64/hello_2.10-3_amd64.deb 644', 'amd64/tree_2.1.0-1_amd64.deb 644', 'install 755'],
    )
    const sums = tree.find((f) => f.path === 'amd64/SHA256SUMS')
    assert.equal(
      sums?.kind === 'text' && sums.text,
      `${sha('hello bytes')}  hello_2.10-3_amd64.deb\n${sha('tree bytes')}  tree_2.1.0-1_amd64.deb\n`,
    )
    assert.equal(treeKey(tree, 0), treeKey(pkgsTree(platforms()), 0))
    assert.notEqual(treeKey(tree, 0), treeKey(tree, 1))
  })

  it('refuses two different files with the same basename', () => {
    const p = platforms()
    p[0].entries.push({...p[0].entries[0], name: 'other/hello_2.10-3_amd64.deb', sha256: sha('x')})
    assert.throws(() => pkgsTree(p), /same file name hello_2.10-3_amd64.deb but different sha256/)
  })

  it('plans without downloading or writing, and shows where each file would come from', async () => {
    const stage = await planPkgStage({
      platforms: platforms(),
      cache,
      providers: [parseProvider(`file://${dir}/mirror/{{.Name}}`), parseProvider('http://mirror.invalid/{{.Name}}')],
      epoch: 1704067200,
    })
    await assert.rejects(stat(cache.dir), /ENOENT/)
    const text = stageText(stage)
    assert.match(
      text,
      new RegExp(
        `^# stage build context repro-pkgs at ${cache.dir}/contexts/repro-pkgs-[0-9a-f]{16}: amd64/ \\(2 files for linux/amd64, from SHA256SUMS-amd64\\), mtimes 1704067200`,
      ),
    )
    assert.ok(
      text.includes(
        `#   pool/main/h/hello/hello_2.10-3_amd64.deb sha256:${sha('hello bytes').slice(0, 12)}: fetch file://${dir}/mirror/pool/main/h/hello/hello_2.10-3_amd64.deb (then 1 more provider(s))`,
      ),
      text,
    )
    assert.ok(text.split('\n').every((l) => l.startsWith('#')))
  })

  it('stages twice to the same bytes (paths, modes, mtimes, contents)', async () => {
    const providers = [parseProvider(`file://${dir}/mirror/{{.Name}}`)]
    const one = await planPkgStage({platforms: platforms(), cache, providers, epoch: 1704067200})
    await executeStage(one, silentLogger)
    const first = await treeDigest(one.dir)
    const st = await stat(path.join(one.dir, 'amd64', 'hello_2.10-3_amd64.deb'))
    assert.equal(st.mtimeMs, 1704067200 * 1000)
    assert.equal((await stat(path.join(one.dir, 'install'))).mode & 0o777, 0o755)
    const two = await planPkgStage({platforms: platforms(), cache, providers, epoch: 1704067200})
    assert.equal(two.dir, one.dir)
    assert.ok(two.fetch.every((f) => f.from === 'cache'))
    await executeStage(two, silentLogger)
    assert.equal(await treeDigest(two.dir), first)
    // no temp directories left next to it
    assert.deepEqual(await readdir(path.dirname(one.dir)), [path.basename(one.dir)])
  })

  it('fails before anything is staged when a checksum is wrong, naming the package', async () => {
    const bad = path.join(dir, 'SHA256SUMS-bad')
    await writeFile(bad, `${sha('not the bytes')}  pool/main/t/tree/tree_2.1.0-1_amd64.deb\n`)
    const h = await resolveHermetic({
      cwd: dir,
      hashfiles: [bad],
      snapshotSources: false,
      providers: [`file://${dir}/mirror/{{.Name}}`],
      pkgCache: path.join(dir, 'cache2'),
      platforms: ['linux/amd64'],
      epoch: 0,
      takenContexts: [],
      env: {},
    })
    await assert.rejects(executeStage(h.stages[0], silentLogger), (e: Error) =>
      /SHA256SUMS-bad:1: pool\/main\/t\/tree\/tree_2.1.0-1_amd64.deb: every provider failed.*sha256 mismatch/.test(
        e.message,
      ),
    )
    await assert.rejects(stat(h.stages[0].dir), /ENOENT/)
  })

  it('adds repro-pkgs and repro-snapshot contexts and the staging steps to the --dry plan', async () => {
    const h = await resolveHermetic({
      cwd: dir,
      hashfiles: ['SHA256SUMS-amd64', 'SHA256SUMS-arm64'],
      snapshotSources: true,
      providers: [`file://${dir}/mirror/{{.Name}}`],
      pkgCache: 'cache',
      platforms: ['linux/amd64', 'linux/arm64'],
      epoch: 0,
      takenContexts: ['base'],
      env: {},
    })
    assert.deepEqual(
      h.contexts.map((c) => c.name),
      ['repro-pkgs', 'repro-snapshot'],
    )
    const options: BuildOptions = {
      context: '/src',
      dockerfile: '/src/Dockerfile',
      output: '/out/image.tar',
      format: 'oci',
      tags: [],
      buildArgs: [],
      annotations: [],
      platforms: ['linux/amd64', 'linux/arm64'],
      noCache: false,
      buildContexts: [...h.contexts],
      secrets: [],
      buildkitArgs: [],
      buildxArgs: [],
      buildkitImage: 'moby/buildkit:v0.32.2',
      rootless: false,
      sde: {epoch: 0, origin: '--sde'},
      stages: h.stages,
    }
    const facts: Facts = {
      runtime: 'buildkit',
      buildkitAddr: 'unix:///run/buildkit/buildkitd.sock',
      missingDirs: [],
      ociLayoutDigests: {},
      assumptions: [],
    }
    const text = planText(buildPlan(options, facts))
    const lines = text.trimEnd().split('\n')
    assert.match(
      lines[0],
      /^# stage build context repro-pkgs at .*\/cache\/contexts\/repro-pkgs-[0-9a-f]{16}: amd64\/ \(2 files for linux\/amd64, from .*SHA256SUMS-amd64\), arm64\/ \(1 files for linux\/arm64/,
    )
    assert.ok(lines.some((l) => /^# stage build context repro-snapshot at .*repro-snapshot-[0-9a-f]{16}/.test(l)))
    const buildctl = lines.find((l) => l.startsWith('buildctl '))
    assert.match(
      buildctl ?? '',
      /--local repro-pkgs=\S+\/repro-pkgs-[0-9a-f]{16} --opt context:repro-pkgs=local:repro-pkgs/,
    )
    assert.match(buildctl ?? '', /--opt context:repro-snapshot=local:repro-snapshot/)
    // the build commands come after every staging line
    assert.ok(lines.indexOf(buildctl ?? '') > lines.map((l) => l.startsWith('#')).lastIndexOf(true))
  })

  it('refuses a user context named repro-pkgs and mixed package formats', async () => {
    await assert.rejects(
      resolveHermetic({
        cwd: dir,
        hashfiles: ['SHA256SUMS-amd64'],
        snapshotSources: false,
        platforms: ['linux/amd64'],
        epoch: 0,
        takenContexts: ['repro-pkgs'],
        env: {},
      }),
      /--build-context repro-pkgs: the name is reserved/,
    )
    const mixed = path.join(dir, 'SHA256SUMS')
    await writeFile(mixed, `${sha('a')}  a_1_amd64.deb\n${sha('b')}  b-1-1.x86_64.rpm\n`)
    await assert.rejects(
      resolveHermetic({
        cwd: dir,
        hashfiles: [mixed],
        snapshotSources: false,
        platforms: ['linux/amd64'],
        epoch: 0,
        takenContexts: [],
        env: {},
      }),
      /mixed package formats \(deb, rpm\)/,
    )
  })
})

describe('dockerfile generate', () => {
  const D = `sha256:${'1'.repeat(64)}`
  it('requires a digest unless allowed, and says how to get one', () => {
    assert.throws(
      () => parseBase('debian:bookworm', false),
      (e: InvalidArgumentError) =>
        /not pinned by digest/.test(e.message) &&
        e.suggestions.some((s) => s.includes('docker buildx imagetools inspect debian:bookworm')),
    )
    assert.equal(parseBase('debian:bookworm', true).digest, undefined)
    assert.deepEqual(parseBase(`localhost/repro-testbed/debian:bookworm@${D}`, false), {
      ref: `localhost/repro-testbed/debian:bookworm@${D}`,
      name: 'localhost/repro-testbed/debian',
      digest: D,
    })
    assert.throws(() => parseBase('debian@sha256:abc', false), /not an image reference|not a sha256/)
  })

  it('tells the distro from the image name', () => {
    assert.equal(distroFromBase('docker.io/library/debian'), 'debian')
    assert.equal(distroFromBase('quay.io/fedora/fedora'), 'fedora')
    assert.equal(distroFromBase('archlinux'), 'arch')
    assert.equal(distroFromBase('ubuntu'), 'ubuntu')
    assert.equal(distroFromBase('alpine'), 'alpine')
    assert.equal(distroFromBase('busybox'), undefined)
  })

  const cases = [
    {
      base: `debian:trixie@${D}`,
      distro: 'debian',
      install: /apt-get install -y --no-install-recommends hello/,
      snapshot: true,
    },
    {
      base: `ubuntu:24.04@${D}`,
      distro: 'ubuntu',
      install: /apt-get install -y --no-install-recommends hello/,
      snapshot: true,
    },
    {
      base: `fedora:42@${D}`,
      distro: 'fedora',
      install: /dnf -y --setopt=keepcache=True .*install hello/,
      snapshot: false,
    },
    {base: `alpine:3.22@${D}`, distro: 'alpine', install: /apk add hello/, snapshot: false},
    {base: `archlinux:base@${D}`, distro: 'arch', install: /pacman -Sy --noconfirm --needed hello/, snapshot: true},
  ]
  for (const c of cases) {
    it(`writes both Dockerfiles and the scripts for ${c.distro}`, () => {
      const r = generateFiles({dir: '/out', base: c.base, packages: ['hello'], epoch: 1704067200, allowUnpinned: false})
      assert.equal(r.distro, c.distro)
      const byPath = new Map(r.files.map((f) => [f.path, f]))
      const df = byPath.get('Dockerfile')?.text ?? ''
      const gen = byPath.get('Dockerfile.generate-hash')?.text ?? ''
      assert.match(df, new RegExp(`^ARG BASE=${c.base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'))
      assert.match(df, /^FROM \$\{BASE\}$/m)
      assert.ok(df.includes(INSTALL_RUN_LINE))
      assert.doesNotMatch(df + gen, /# syntax=/) // no frontend image to pull
      assert.match(gen, /^ARG SOURCE_DATE_EPOCH=1704067200$/m)
      assert.match(gen, c.install)
      assert.match(gen, /\/SHA256SUMS-\$\{TARGETARCH\}\$\{TARGETVARIANT:\+-\$\{TARGETVARIANT\}\}/)
      assert.match(gen, /^COPY --from=generate \/SHA256SUMS-\* \/$/m)
      assert.equal(gen.includes('/repro-scripts/snapshot-sources'), c.snapshot)
      assert.equal(byPath.has('repro-scripts/snapshot-sources'), c.snapshot)
      assert.equal(byPath.get('repro-scripts/hash-generate')?.mode, 0o755)
      assert.match(byPath.get('repro-scripts/hash-generate')?.text ?? '', /^#!\/bin\/sh\n/)
    })
  }

  it('reads dpkg status and the apt lists in the Debian hash generator', () => {
    const s = hashGenerateScript('debian')
    assert.match(s, /dpkg-query -W/)
    assert.match(s, /\/var\/lib\/apt\/lists\/\*_Packages/)
    assert.match(s, /comm -13/)
    assert.doesNotMatch(s, /\brepro (hash generate|get install)/) // no repro binary in the image
  })

  it('refuses bad package names and a BASE of unknown distro', () => {
    assert.throws(
      () => generateFiles({dir: '/o', base: `debian@${D}`, packages: ['a;rm'], epoch: 0, allowUnpinned: false}),
      /PKG 'a;rm': not a package name/,
    )
    assert.throws(
      () => generateFiles({dir: '/o', base: `busybox@${D}`, packages: ['a'], epoch: 0, allowUnpinned: false}),
      /pass --distro/,
    )
  })
})
