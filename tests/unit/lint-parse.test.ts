import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decodeDockerfile, DockerfileParseError, expandVariables, parseDockerfile} from '../../src/dockerfile/parse.js'
import {imageReferences, scopeDockerfile} from '../../src/dockerfile/scope.js'
import {parseShell} from '../../src/lint/shell.js'

describe('parseDockerfile', () => {
  it('reads stages, lower-case instructions, flags, directives and global ARGs', () => {
    const df = parseDockerfile(
      '# syntax=docker/dockerfile:1.7\nARG BASE=alpine:3\nfrom --platform=$BUILDPLATFORM ${BASE} as Build\nrun echo hi\nFROM build\n',
      'Dockerfile',
    )
    assert.deepEqual(df.directives, [{name: 'syntax', value: 'docker/dockerfile:1.7', line: 1, column: 10}])
    assert.equal(df.globalInstructions.length, 1)
    assert.deepEqual(df.globalInstructions[0].properties, [{name: 'BASE', value: 'alpine:3'}])
    assert.equal(df.stages.length, 2)
    assert.equal(df.stages[0].name, 'build')
    assert.equal(df.stages[0].image, '${BASE}')
    assert.deepEqual([df.stages[0].imageLine, df.stages[0].imageColumn], [3, 32])
    assert.equal(df.stages[0].platform, '$BUILDPLATFORM')
    assert.equal(df.stages[0].instructions[1].keyword, 'RUN')
    assert.equal(df.stages[1].image, 'build')
  })

  it('keeps the position of every character of a RUN through continuations and drops comment lines in them', () => {
    const df = parseDockerfile('FROM a\nRUN apt-get update \\\n# a comment \\\n\n    && apt-get install -y curl\n', 'D')
    const shell = df.instructions[1].shell!
    assert.equal(shell.text.includes('comment'), false)
    const cmds = parseShell(shell)
    assert.deepEqual(
      cmds.map((c) => [c.name, c.line, c.column]),
      [
        ['apt-get', 2, 5],
        ['apt-get', 5, 8],
      ],
    )
  })

  it('takes the script of RUN <<EOF from the heredoc body, and leaves data heredocs out of the command', () => {
    const df = parseDockerfile(
      'FROM a\nRUN <<EOF\napk update\napk add git\nEOF\nRUN cat <<X > /f && date\nuseradd no\nX\n',
      'D',
    )
    const script = parseShell(df.instructions[1].shell!)
    assert.deepEqual(
      script.map((c) => [c.name, c.line]),
      [
        ['apk', 3],
        ['apk', 4],
      ],
    )
    assert.deepEqual(df.instructions[1].heredocs[0], {
      name: 'EOF',
      line: 2,
      body: 'apk update\napk add git',
      bodyLine: 3,
    })
    const data = parseShell(df.instructions[2].shell!)
    assert.deepEqual(
      data.map((c) => c.name),
      ['cat', 'date'],
    )
  })

  it('honours the escape directive', () => {
    const df = parseDockerfile('# escape=`\nFROM a\nRUN echo a `\n  && date\n', 'D')
    assert.equal(df.escape, '`')
    assert.deepEqual(
      parseShell(df.instructions[1].shell!).map((c) => [c.name, c.line]),
      [
        ['echo', 3],
        ['date', 4],
      ],
    )
  })

  it('reads FROM/COPY/ADD words as BuildKit does: quotes removed, continuations joined, JSON form', () => {
    const df = parseDockerfile('FROM a\nADD --chown=1 "https://x/r.git#$V" \\\n  \'/d st\'\nCOPY ["a b", "/c"]\n', 'D')
    assert.deepEqual(df.instructions[1].args, [
      {value: 'https://x/r.git#$V', line: 2, column: 15},
      {value: '/d st', line: 3, column: 3},
    ])
    assert.deepEqual(
      df.instructions[2].args.map((a) => a.value),
      ['a b', '/c'],
    )
  })

  it('reads the exec form', () => {
    const df = parseDockerfile('FROM a\nRUN ["pip", "install", "x"]\n', 'D')
    assert.deepEqual(df.instructions[1].exec, ['pip', 'install', 'x'])
    assert.equal(df.instructions[1].shell, null)
  })

  it('refuses what BuildKit refuses, naming the file and the line', () => {
    assert.throws(
      () => parseDockerfile('RUN echo\n', 'a/Dockerfile'),
      /^DockerfileParseError: a\/Dockerfile: no FROM instruction/,
    )
    assert.throws(
      () => parseDockerfile('FROM a\nRUN <<EOF\necho\n', 'D'),
      (e: unknown) => e instanceof DockerfileParseError && e.message === 'D: line 2: unterminated heredoc <<EOF',
    )
    assert.throws(() => parseDockerfile('FROM a\nFETCH x\n', 'D'), /D: line 2: unknown instruction "FETCH"/)
  })
})

describe('decodeDockerfile', () => {
  it('refuses NUL bytes, invalid UTF-8 and oversized files with one line naming the file', () => {
    assert.throws(() => decodeDockerfile(Buffer.from('FROM a\0\n'), 'x/Dockerfile'), {
      message: 'x/Dockerfile: contains NUL bytes: not a text file',
    })
    assert.throws(() => decodeDockerfile(Buffer.from([0x46, 0x52, 0xff, 0xfe]), 'D'), {
      message: 'D: is not valid UTF-8',
    })
    assert.throws(() => decodeDockerfile(Buffer.alloc(2 * 1024 * 1024, 0x41), 'D'), /D: larger than 1 MiB/)
    assert.equal(decodeDockerfile(Buffer.from('\uFEFFFROM a\n'), 'D'), 'FROM a\n')
  })
})

describe('expandVariables', () => {
  const vars = new Map<string, string | null>([
    ['A', 'x'],
    ['EMPTY', ''],
    ['NONE', null],
  ])
  it('expands $X, ${X}, defaults and alternatives, and lists what it cannot resolve', () => {
    assert.deepEqual(expandVariables('$A-${A}', vars), {value: 'x-x', unresolved: []})
    assert.deepEqual(expandVariables('${NONE:-d}/${EMPTY:-e}/${EMPTY-f}', vars), {value: 'd/e/', unresolved: []})
    assert.deepEqual(expandVariables('${A:+alt}${NONE:+no}', vars), {value: 'alt', unresolved: []})
    assert.deepEqual(expandVariables('img:$TAG', vars), {value: 'img:', unresolved: ['TAG']})
    assert.deepEqual(expandVariables('\\$A', vars), {value: '$A', unresolved: []})
  })
})

describe('scopeDockerfile and imageReferences (shared with repro lock)', () => {
  const text = [
    '# syntax=docker/dockerfile:1.7',
    'ARG BASE=debian:12',
    'ARG TAG',
    'FROM ${BASE} AS build',
    'ENV A=1',
    'ARG B=$A-x',
    // a global ARG is visible in a stage only when the stage declares it again
    'ARG TAG',
    'COPY --from=nginx:$TAG /a /a',
    'FROM build AS next',
    'RUN --mount=type=cache,target=/c --mount=from=busybox:1,target=/b true',
    'COPY --from=build /x /x',
    'FROM scratch',
    'COPY --from=1 /y /y',
    'FROM ${TAG}',
    '',
  ].join('\n')

  it('gives the variables in effect at each instruction, ENV inherited by stages built FROM a stage', () => {
    const parsed = parseDockerfile(text, 'D')
    const scoped = scopeDockerfile(parsed)
    assert.equal(scoped.stages[0].image, 'debian:12')
    assert.equal(scoped.stages[0].vars[2].get('B'), '1-x')
    assert.equal(scoped.stages[0].vars[1].has('B'), false)
    assert.equal(scoped.stages[1].parent, 0)
    assert.equal(scoped.stages[1].vars[0].get('A'), '1')
    assert.equal(scoped.stages[1].vars[0].has('B'), false)
    assert.equal(scoped.stages[3].imageUnresolved, true)
  })

  it('lists every image the build pulls, with --build-arg values taking precedence over defaults', () => {
    const parsed = parseDockerfile(text, 'D')
    const refs = imageReferences(parsed, scopeDockerfile(parsed, new Map([['TAG', '1.27']])))
    assert.deepEqual(
      refs.map((r) => `${r.kind} ${r.ref} ${r.line}`),
      [
        'syntax docker/dockerfile:1.7 1',
        'from debian:12 4',
        'copy-from nginx:1.27 8',
        'mount-from busybox:1 10',
        'from 1.27 14',
      ],
    )
  })
})
