import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {dockerfileInputs, type InputsOptions, isGitSource, splitGitSource} from '../../src/dockerfile/inputs.js'
import {parseDockerfile} from '../../src/dockerfile/parse.js'

const inputs = (text: string, options: InputsOptions = {}) =>
  dockerfileInputs(parseDockerfile(text, 'Dockerfile'), options)
const refs = (text: string, options: InputsOptions = {}) => inputs(text, options).images.map((i) => `${i.use}:${i.ref}`)

describe('dockerfileInputs: Dockerfile shapes', () => {
  it('1. a single FROM', () => {
    const r = inputs('FROM busybox:1\nRUN true\n')
    assert.deepEqual(
      r.images.map((i) => [i.ref, i.use, i.line, i.stage]),
      [['busybox:1', 'from', 1, 0]],
    )
    assert.equal(r.target, 0)
    assert.equal(r.syntax, null)
  })

  it('2. multi-stage: every stage the last one needs, in order', () => {
    const df = 'FROM golang:1.22 AS build\nRUN go build\nFROM debian:12 AS run\nCOPY --from=build /out /out\n'
    assert.deepEqual(refs(df), ['from:golang:1.22', 'from:debian:12'])
    const r = inputs(df)
    assert.deepEqual(r.stages[1].dependsOn, [0])
    assert.deepEqual(r.stages[1].base, {kind: 'image', ref: 'debian:12'})
  })

  it('3. ARG in FROM with a default, overridden by --build-arg', () => {
    const df = 'ARG TAG=1.36\nFROM busybox:${TAG}\n'
    assert.deepEqual(refs(df), ['from:busybox:1.36'])
    assert.deepEqual(refs(df, {buildArgs: {TAG: '1.37'}}), ['from:busybox:1.37'])
    assert.deepEqual(inputs(df).selectingArgs, ['TAG'])
    assert.deepEqual(inputs(df).argValues, {TAG: '1.36'})
    assert.deepEqual(inputs(df, {buildArgs: {TAG: '1.37'}}).argValues, {TAG: '1.37'})
  })

  it('4. an ARG with no default used in FROM: an error naming the ARG and the line, unless --build-arg gives it', () => {
    const df = 'ARG BASE\nFROM ${BASE}\n'
    assert.throws(
      () => inputs(df),
      /Dockerfile: line 2: FROM "\$\{BASE\}" uses ARG BASE, which has no value.*--build-arg BASE=/,
    )
    assert.deepEqual(refs(df, {buildArgs: {BASE: 'alpine:3'}}), ['from:alpine:3'])
  })

  it('5. --platform=$BUILDPLATFORM and $TARGETARCH in FROM', () => {
    const df = 'FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM busybox:1-${TARGETARCH}\nCOPY --from=b /x /x\n'
    const r = inputs(df, {buildPlatform: 'linux/amd64', platforms: ['linux/arm64']})
    assert.equal(r.stages[0].platform, 'linux/amd64')
    assert.equal(r.images[0].platform, 'linux/amd64')
    assert.equal(r.images[1].ref, 'busybox:1-arm64')
    assert.equal(r.stages[1].platform, null)
  })

  it('6. named build contexts replace FROM and --from references', () => {
    const df = 'FROM base\nCOPY --from=tools /bin/x /x\nCOPY --from=alpine:3 /etc/os-release /\n'
    const r = inputs(df, {buildContexts: {base: 'oci-layout:///l@sha256:' + 'a'.repeat(64), tools: './tools'}})
    assert.deepEqual(
      r.images.map((i) => i.ref),
      ['alpine:3'],
    )
    assert.deepEqual(r.contextsUsed, ['base', 'tools'])
    assert.equal(r.stages[0].base.kind, 'context')
  })

  it('7. heredocs: RUN and COPY heredoc bodies are not sources', () => {
    const df =
      'FROM busybox:1\nRUN <<EOF\nwget http://example.invalid/x\nEOF\nCOPY <<EOT /etc/x\nADD http://a.invalid/y /y\nEOT\nADD <<EOF /z\nhttp://b.invalid/z\nEOF\n'
    const r = inputs(df)
    assert.deepEqual(r.urls, [])
    assert.deepEqual(refs(df), ['from:busybox:1'])
  })

  it('8. the escape directive (backtick) with line continuations', () => {
    const df =
      '# escape=`\nFROM mcr.example/windows:ltsc `\n  AS base\nADD `\n  https://example.invalid/a.zip `\n  C:/a.zip\n'
    const r = inputs(df)
    assert.deepEqual(
      r.images.map((i) => i.ref),
      ['mcr.example/windows:ltsc'],
    )
    assert.deepEqual(
      r.urls.map((u) => [u.url, u.line]),
      [['https://example.invalid/a.zip', 4]],
    )
  })

  it('9. lower-case instructions', () => {
    const df = 'from busybox:1 as one\nadd https://example.invalid/f /f\ncopy --from=alpine:3 / /a\nfrom one\n'
    assert.deepEqual(refs(df), ['from:busybox:1', 'copy-from:alpine:3'])
    assert.equal(inputs(df).urls[0].url, 'https://example.invalid/f')
  })

  it('10. FROM scratch is no input', () => {
    const r = inputs('FROM scratch\nCOPY a /a\n')
    assert.deepEqual(r.images, [])
    assert.deepEqual(r.stages[0].base, {kind: 'scratch'})
  })

  it('11. stages referring to stages (by name and by index), case-insensitively', () => {
    const df = 'FROM busybox:1 AS Base\nFROM base AS mid\nFROM mid\nCOPY --from=0 /a /a\n'
    const r = inputs(df)
    assert.deepEqual(refs(df), ['from:busybox:1'])
    assert.deepEqual(r.stages[1].base, {kind: 'stage', index: 0})
    assert.deepEqual(r.stages[2].dependsOn, [0, 1])
  })

  it('12. --target drops stages the target does not need', () => {
    const df =
      'FROM alpine:3 AS a\nFROM debian:12 AS b\nADD https://x.invalid/b /b\nFROM busybox:1 AS c\nCOPY --from=a / /\n'
    assert.deepEqual(refs(df, {target: 'a'}), ['from:alpine:3'])
    assert.deepEqual(refs(df), ['from:alpine:3', 'from:busybox:1'])
    assert.deepEqual(inputs(df).urls, [])
    assert.equal(inputs(df, {target: 'B'}).urls.length, 1)
    assert.throws(() => inputs(df, {target: 'nope'}), /--target nope: no such stage \(stages: a, b, c\)/)
  })

  it('13. COPY --from an image, with an ARG in the stage', () => {
    const df = 'FROM busybox:1\nARG V=2\nCOPY --from=registry.example/tools:${V} /t /t\n'
    assert.deepEqual(refs(df), ['from:busybox:1', 'copy-from:registry.example/tools:2'])
    assert.deepEqual(refs(df, {buildArgs: {V: '3'}}), ['from:busybox:1', 'copy-from:registry.example/tools:3'])
    assert.deepEqual(inputs(df).selectingArgs, ['V'])
  })

  it('14. RUN --mount from an image and from a stage', () => {
    const df =
      'FROM busybox:1 AS s\nFROM alpine:3\nRUN --mount=type=bind,from=golang:1.22,source=/usr/local/go,target=/go --mount=type=cache,target=/c,from=s true\n'
    const r = inputs(df)
    assert.deepEqual(refs(df), ['from:busybox:1', 'from:alpine:3', 'run-mount:golang:1.22'])
    assert.deepEqual(r.stages[1].dependsOn, [0])
  })

  it('15. ADD of URLs: shell form, JSON form, --checksum kept, local files ignored', () => {
    const df =
      'FROM busybox:1\nADD https://a.invalid/1 local.txt /d/\nADD ["http://127.0.0.1:8080/f", "/f"]\nADD --checksum=sha256:' +
      'b'.repeat(64) +
      ' https://a.invalid/2 /2\nCOPY https://not-a-source.invalid/x /x\n'
    const r = inputs(df)
    assert.deepEqual(
      r.urls.map((u) => [u.url, u.checksum]),
      [
        ['https://a.invalid/1', null],
        ['http://127.0.0.1:8080/f', null],
        ['https://a.invalid/2', 'sha256:' + 'b'.repeat(64)],
      ],
    )
  })

  it('16. ADD of git sources: ref, subdir, git://, git@, .git over https', () => {
    const df =
      'FROM busybox:1\nADD https://git.invalid/a/b.git#v1.0:sub /src\nADD git://127.0.0.1:9418/r.git /r\nADD git@git.invalid:o/r.git#main /r2\nADD https://git.invalid/plain /p\n'
    const r = inputs(df)
    assert.deepEqual(
      r.gits.map((g) => [g.url, g.ref, g.subdir]),
      [
        ['https://git.invalid/a/b.git', 'v1.0', 'sub'],
        ['git://127.0.0.1:9418/r.git', null, null],
        ['git@git.invalid:o/r.git', 'main', null],
      ],
    )
    assert.deepEqual(
      r.urls.map((u) => u.url),
      ['https://git.invalid/plain'],
    )
  })

  it('17. # syntax= is the frontend image', () => {
    const r = inputs('# syntax=docker/dockerfile:1.7\nFROM busybox:1\n')
    assert.deepEqual(r.syntax, {ref: 'docker/dockerfile:1.7', use: 'syntax', line: 1, stage: -1, platform: null})
  })

  it('18. a global ARG is visible in a stage only after a bare ARG', () => {
    const df = 'ARG V=1\nFROM busybox:1\nADD https://x.invalid/${V}/a /a\nARG V\nADD https://x.invalid/${V}/b /b\n'
    assert.deepEqual(
      inputs(df).urls.map((u) => u.url),
      ['https://x.invalid//a', 'https://x.invalid/1/b'],
    )
  })

  it('19. ARG defaults referring to other ARGs, and ${X:-default} forms', () => {
    const df = 'ARG REG=registry.example\nARG IMG=${REG}/base\nARG TAG\nFROM ${IMG}:${TAG:-stable}\n'
    assert.deepEqual(refs(df), ['from:registry.example/base:stable'])
    assert.deepEqual(refs(df, {buildArgs: {TAG: '2'}}), ['from:registry.example/base:2'])
    assert.deepEqual(inputs(df).selectingArgs, ['IMG', 'TAG'])
    assert.deepEqual(inputs(df).argValues, {IMG: 'registry.example/base', TAG: null})
  })

  it('20. images pinned by digest are listed as written', () => {
    const d = 'sha256:' + 'c'.repeat(64)
    assert.deepEqual(refs(`FROM busybox:1@${d}\n`), [`from:busybox:1@${d}`])
  })

  it('21. ENV in a stage feeds ADD URLs', () => {
    const df = 'FROM busybox:1\nENV VER=3.1\nADD https://dl.invalid/app-${VER}.tar.gz /a\n'
    assert.equal(inputs(df).urls[0].url, 'https://dl.invalid/app-3.1.tar.gz')
  })

  it('21b. ENV of a parent stage is seen by a stage built FROM it', () => {
    const df = 'FROM busybox:1 AS base\nENV V=9\nFROM base\nADD https://dl.invalid/${V}/x /x\n'
    assert.equal(inputs(df).urls[0].url, 'https://dl.invalid/9/x')
  })

  it('22. a stage naming itself or a later stage by index is an error with the line', () => {
    assert.throws(
      () => inputs('FROM busybox:1 AS a\nCOPY --from=1 / /\nFROM a\n'),
      /line 2: stage 1 is not an earlier stage/,
    )
    assert.throws(() => inputs('FROM busybox:1 AS a\nFROM alpine AS a\n'), /line 2: duplicate stage name "a"/)
  })

  it('23. the same image used twice gives two uses (the lock dedupes)', () => {
    assert.deepEqual(refs('FROM busybox:1 AS a\nFROM busybox:1\nCOPY --from=a / /\n'), [
      'from:busybox:1',
      'from:busybox:1',
    ])
  })

  it('24. platform of the target stage follows --platform for TARGETPLATFORM in ADD', () => {
    const df = 'FROM busybox:1\nARG TARGETARCH\nADD https://dl.invalid/${TARGETARCH}/x /x\n'
    assert.equal(inputs(df, {platforms: ['linux/arm64']}).urls[0].url, 'https://dl.invalid/arm64/x')
    assert.equal(inputs(df).urls[0].url, 'https://dl.invalid/amd64/x')
  })

  it('25. hostile: 2,000 stages chained by name resolve in bounded time', () => {
    let df = 'FROM busybox:1 AS s0\n'
    for (let i = 1; i < 2000; i++) df += `FROM s${i - 1} AS s${i}\nCOPY --from=s${Math.floor(i / 2)} /a /a${i}\n`
    const t = performance.now()
    const r = inputs(df)
    assert.ok(performance.now() - t < 10_000)
    assert.equal(r.stages.filter((s) => s.reachable).length, 2000)
    assert.deepEqual(
      r.images.map((i) => i.ref),
      ['busybox:1'],
    )
  })
})

describe('dockerfileInputs helpers', () => {
  it('isGitSource follows BuildKit', () => {
    assert.equal(isGitSource('https://h/r.git'), true)
    assert.equal(isGitSource('https://h/r.git#main'), true)
    assert.equal(isGitSource('git@h:o/r'), true)
    assert.equal(isGitSource('https://h/r.tar.gz'), false)
    assert.equal(isGitSource('./local.git'), false)
  })
  it('splitGitSource', () => {
    assert.deepEqual(splitGitSource('git://h/r.git#abc:d/e'), {url: 'git://h/r.git', ref: 'abc', subdir: 'd/e'})
    assert.deepEqual(splitGitSource('git://h/r.git'), {url: 'git://h/r.git', ref: null, subdir: null})
  })
})
