/**
 * `repro lint` as users run it (the built CLI): outputs, exit codes, config, SARIF validated against the
 * SARIF 2.1.0 schema, the nightly fixtures and the test bed's Dockerfiles, and generated hostile files.
 * `npm run build` first.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {Ajv} from 'ajv'
import addFormats from 'ajv-formats'

import {ROOT, runCli} from '../support/cli.js'

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`
const BASE = `base=oci-layout:///var/cache/repro-testbed/images/debian-bookworm/oci@${DIGEST}`

let dir: string
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'repro-lint-'))
})
after(() => rmSync(dir, {recursive: true, force: true}))

function context(name: string, files: Record<string, string | Buffer>): string {
  const d = path.join(dir, name)
  mkdirSync(d, {recursive: true})
  for (const [f, content] of Object.entries(files)) writeFileSync(path.join(d, f), content)
  return d
}

function sarifValidator(): (doc: unknown) => boolean {
  const schema = JSON.parse(readFileSync(path.join(ROOT, 'tests/fixtures/sarif/sarif-schema-2.1.0.json'), 'utf8'))
  // draft-04 -> draft-07: only the top-level `id` differs (see tests/fixtures/sarif/README.md)
  const {$schema: _drop, id, ...rest} = schema
  const ajv = new Ajv({strict: false, allErrors: true})
  addFormats.default(ajv)
  const validate = ajv.compile({$id: id, ...rest})
  return (doc) => {
    const ok = validate(doc)
    if (!ok) assert.fail(JSON.stringify(validate.errors?.slice(0, 5), null, 2))
    return ok
  }
}

describe('repro lint: outputs and exit codes', () => {
  it('prints file:line:column, severity, rule, message and fix, and exits 1 on findings', async () => {
    const ctx = context('text', {Dockerfile: 'FROM debian:12\nRUN date > /stamp\n', '.dockerignore': '.git\n'})
    const r = await runCli(['lint', ctx], {cwd: dir})
    assert.equal(r.code, 1, r.stderr)
    assert.equal(
      r.stdout,
      [
        'text/Dockerfile:1:6: warning RL001 base image "debian:12" is a tag without a digest',
        '  fix: pin it: debian:12@sha256:<digest> (or list it in repro.lock.yaml, or give it with --build-context NAME=oci-layout://…@sha256:…)',
        'text/Dockerfile:2:5: error RL010 date (the clock of the build): a value of this build, different in every rebuild',
        '  fix: derive it from SOURCE_DATE_EPOCH (date -u -d @"$SOURCE_DATE_EPOCH"), a build argument or the source; never from the build host',
        '2 findings (1 error, 1 warning, 0 info) in 1 Dockerfile; failing at warning: yes',
        '',
      ].join('\n'),
    )
  })

  it('--json gives the typed result; --fail-on error passes warnings; --disable and .repro-lint.yaml skip rules', async () => {
    const ctx = context('json', {Dockerfile: 'FROM debian:12\nCOPY . /src\n'})
    const r = await runCli(['lint', '--json', '--fail-on', 'error', ctx], {cwd: dir})
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout)
    assert.deepEqual(
      result.findings.map((f: {rule: string; line: number}) => `${f.rule}:${f.line}`),
      ['RL001:1', 'RL012:2'],
    )
    assert.equal(result.failed, false)
    assert.deepEqual(result.counts, {error: 0, warning: 2, info: 0})

    const disabled = await runCli(['lint', '--json', '--disable', 'RL001', '--disable', 'copy-git-dir', ctx], {
      cwd: dir,
    })
    assert.equal(disabled.code, 0)
    assert.deepEqual(JSON.parse(disabled.stdout).findings, [])

    writeFileSync(path.join(ctx, '.repro-lint.yaml'), 'disable: [RL012]\nfailOn: error\n')
    const configured = await runCli(['lint', '--format', 'json', ctx], {cwd: dir})
    assert.equal(configured.code, 0)
    const doc = JSON.parse(configured.stdout)
    assert.deepEqual(doc.disabled, ['RL012'])
    assert.equal(doc.failOn, 'error')
    assert.equal(doc.findings.length, 1)
  })

  it('takes images listed in repro.lock.yaml as pinned, and -f names the Dockerfile in a context', async () => {
    const ctx = context('locked', {
      'Dockerfile.app': 'FROM debian:12\nFROM docker.io/library/alpine:3.20\n',
      'repro.lock.yaml': `images:\n  debian:12: sha256:${'1'.repeat(64)}\n`,
    })
    const r = await runCli(['lint', '--json', '-f', 'Dockerfile.app', ctx], {cwd: dir})
    assert.equal(r.code, 1, r.stderr)
    assert.deepEqual(
      JSON.parse(r.stdout).findings.map(
        (f: {rule: string; line: number; file: string}) => `${f.file}:${f.line} ${f.rule}`,
      ),
      ['locked/Dockerfile.app:2 RL001'],
    )
  })

  it('exits 2 with one line naming the input on a bad config, an unknown rule, a missing Dockerfile', async () => {
    const bad = context('badconfig', {Dockerfile: 'FROM scratch\n', '.repro-lint.yaml': 'disable: RL001\n'})
    const r1 = await runCli(['lint', bad], {cwd: dir})
    assert.equal(r1.code, 2)
    assert.equal(r1.stderr, 'Error: badconfig/.repro-lint.yaml: disable must be a list of rule ids or names\n')
    const r2 = await runCli(['lint', '--disable', 'RL999', bad], {cwd: dir})
    assert.equal(r2.code, 2)
    assert.match(r2.stderr, /^Error: --disable: unknown rule "RL999"/)
    context('empty', {})
    const r3 = await runCli(['lint', 'empty'], {cwd: dir})
    assert.equal(r3.code, 2)
    assert.equal(r3.stderr, 'Error: empty: no Dockerfile or Containerfile in this directory\n')
  })

  it('writes SARIF 2.1.0 that validates against the schema, deterministically', async () => {
    const validate = sarifValidator()
    const ctx = context('sarif', {
      Dockerfile:
        '# syntax=docker/dockerfile:1\nFROM debian:12\nRUN apt-get update && apt-get install -y curl\nRUN useradd app\n',
    })
    const out1 = path.join(dir, 'a.sarif')
    const out2 = path.join(dir, 'b.sarif')
    const r = await runCli(['lint', '--sarif', out1, ctx], {cwd: dir})
    assert.equal(r.code, 1, r.stderr)
    await runCli(['lint', '--sarif', out2, ctx], {cwd: dir})
    const text = readFileSync(out1, 'utf8')
    assert.equal(text, readFileSync(out2, 'utf8'))
    const doc = JSON.parse(text)
    assert.ok(validate(doc))
    assert.equal(doc.version, '2.1.0')
    // every rule: the 14 Dockerfile rules and the 10 image rules (RL101…RL110)
    assert.equal(doc.runs[0].tool.driver.rules.length, 24)
    assert.deepEqual(
      doc.runs[0].results.map((x: {ruleId: string; level: string}) => `${x.ruleId}:${x.level}`),
      ['RL002:warning', 'RL001:warning', 'RL013:error', 'RL003:warning', 'RL011:error'],
    )
    assert.deepEqual(doc.runs[0].results[0].locations[0].physicalLocation, {
      artifactLocation: {uri: 'sarif/Dockerfile', uriBaseId: '%SRCROOT%'},
      region: {startLine: 1, startColumn: 10},
    })
    assert.equal(text.includes(dir), false, 'no host paths')
    // --format sarif on stdout is the same document
    const stdout = await runCli(['lint', '--format', 'sarif', ctx], {cwd: dir})
    assert.equal(`${stdout.stdout}`, text)
    // an empty result validates too
    const clean = context('clean', {Dockerfile: 'FROM scratch\nCOPY a /a\n'})
    const r2 = await runCli(['lint', '--format', 'sarif', clean], {cwd: dir})
    assert.equal(r2.code, 0)
    assert.ok(validate(JSON.parse(r2.stdout)))
  })
})

describe('repro lint on the nightly fixtures and the test bed Dockerfiles', () => {
  it('flags the date canary and finds the careful fixtures clean (base given as a pinned named context)', async () => {
    const fixtures = ['busybox-run', 'canary-date', 'debian-debs', 'scratch-copy'].map((f) => `nightly/fixtures/${f}`)
    const r = await runCli(['lint', '--json', '--build-context', BASE, ...fixtures], {cwd: ROOT})
    assert.equal(r.code, 1, r.stderr)
    const result = JSON.parse(r.stdout)
    assert.deepEqual(
      result.files.map((f: {file: string; findings: unknown[]}) => [f.file, f.findings.length]),
      [
        ['nightly/fixtures/busybox-run/Dockerfile', 0],
        ['nightly/fixtures/canary-date/Dockerfile', 1],
        ['nightly/fixtures/debian-debs/Dockerfile', 0],
        ['nightly/fixtures/scratch-copy/Dockerfile', 0],
      ],
    )
    assert.deepEqual(
      result.findings.map((f: {rule: string; file: string; line: number}) => `${f.file}:${f.line} ${f.rule}`),
      ['nightly/fixtures/canary-date/Dockerfile:2 RL010'],
    )
    // without the named context, FROM base is an unpinned image
    const bare = await runCli(['lint', '--json', 'nightly/fixtures/busybox-run'], {cwd: ROOT})
    assert.deepEqual(
      JSON.parse(bare.stdout).findings.map((f: {rule: string}) => f.rule),
      ['RL001'],
    )
  })

  it('finds the Dockerfile `repro dockerfile generate` writes clean, and its snapshot-resolving one pinned', async () => {
    const out = path.join(dir, 'generated')
    const base = `debian:bookworm@${DIGEST}`
    const g = await runCli(
      ['dockerfile', 'generate', out, base, 'hello', '--distro', 'debian', '--sde', '1700000000'],
      {
        cwd: dir,
      },
    )
    assert.equal(g.code, 0, g.stderr)
    const r = await runCli(['lint', '--json', out, path.join(out, 'Dockerfile.generate-hash')], {cwd: dir})
    const result = JSON.parse(r.stdout)
    assert.deepEqual(
      result.files.map((f: {file: string}) => f.file),
      ['generated/Dockerfile', 'generated/Dockerfile.generate-hash'],
    )
    assert.deepEqual(result.files[0].findings, [])
    // the hash-generating stage resolves from the snapshot (no RL003); its layer is thrown away, but
    // RL013 judges every stage (README: limits)
    assert.deepEqual(
      result.findings.map((f: {rule: string}) => f.rule),
      ['RL013'],
    )
  })

  it("finds the test bed's Dockerfiles (written by testbed.sh) clean", async () => {
    const script = readFileSync(path.join(ROOT, 'tests/e2e/testbed/testbed.sh'), 'utf8')
    const texts = [...script.matchAll(/printf '(FROM [^']*)' >"\$work\/ctx\/Dockerfile"/g)].map((m) =>
      m[1].replaceAll('\\n', '\n'),
    )
    const heredoc = /cat >"\$work\/Dockerfile" <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(script)
    assert.ok(heredoc, 'the BuildKit image Dockerfile in testbed.sh')
    texts.push(`${heredoc[1]}\n`)
    assert.ok(texts.length >= 3, `${texts.length} Dockerfiles`)
    const targets = texts.map((t, i) => path.join(context(`testbed-${i}`, {Dockerfile: t}), 'Dockerfile'))
    const r = await runCli(['lint', '--json', ...targets], {cwd: dir})
    assert.equal(r.code, 0, r.stdout)
    assert.deepEqual(JSON.parse(r.stdout).findings, [])
  })
})

describe('repro lint on hostile Dockerfiles', () => {
  // written here with plain string building, not with the parser under test; each stays under the 1 MiB bound
  // unless it tests that bound. `findings` is the summary line the run must end with.
  const cases: {name: string; content: () => string | Buffer; error?: RegExp; findings?: string}[] = [
    {name: 'huge-line', content: () => `FROM scratch\nRUN echo ${'a'.repeat(900_000)}\n`},
    {
      name: 'deep-continuation',
      content: () => `FROM scratch\nRUN true \\\n${'  && echo x \\\n'.repeat(50_000)}  && true\n`,
    },
    {name: 'many-instructions', content: () => `FROM scratch\n${'USER u\n'.repeat(100_000)}`},
    {
      name: 'many-chained-stages',
      content: () =>
        `FROM scratch AS s0\nENV A=1\n${Array.from({length: 30_000}, (_, i) => `FROM s${i} AS s${i + 1}\n`).join('')}`,
    },
    {name: 'huge-heredoc', content: () => `FROM scratch\nRUN <<EOF\n${'echo hi\n'.repeat(100_000)}EOF\n`},
    {
      name: 'many-findings',
      content: () => `FROM scratch\n${'RUN date\n'.repeat(100_000)}`,
      findings: '100000 findings (100000 error, 0 warning, 0 info) in 1 Dockerfile; failing at warning: yes',
    },
    {
      name: 'one-run-many-commands',
      content: () => `FROM scratch\nRUN ${'apk add b && '.repeat(40_000)}true\n`,
      findings: '40001 findings (1 error, 40000 warning, 0 info) in 1 Dockerfile; failing at warning: yes',
    },
    {
      name: 'nested-substitutions',
      content: () => `FROM scratch\nRUN echo ${'$('.repeat(20_000)}true${')'.repeat(20_000)}\n`,
    },
    {name: 'nul-bytes', content: () => Buffer.from('FROM scratch\nRUN echo \0\n'), error: /contains NUL bytes/},
    {
      name: 'invalid-utf8',
      content: () => Buffer.from([...Buffer.from('FROM scratch\nRUN echo '), 0xc3, 0x28, 0x0a]),
      error: /not valid UTF-8/,
    },
    {
      name: 'unterminated-heredoc',
      content: () => 'FROM scratch\nRUN <<EOF\necho never ends\n',
      error: /line 2: unterminated heredoc <<EOF/,
    },
    {name: 'oversized', content: () => `FROM scratch\n${'# x\n'.repeat(300_000)}`, error: /larger than 1 MiB/},
    {
      name: 'not-a-dockerfile',
      content: () => Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x09]),
      error: /unknown instruction "\\u007fELF\\u0002/,
    },
  ]
  for (const c of cases) {
    const expect = c.error
      ? 'exit 2 and one line naming the file'
      : c.findings
        ? 'exit 1 with every finding'
        : 'a clean result'
    it(`${c.name}: bounded time, ${expect}`, {timeout: 120_000}, async () => {
      const file = path.join(context(`hostile-${c.name}`, {}), 'Dockerfile')
      writeFileSync(file, c.content())
      const r = await runCli(['lint', file], {cwd: dir, timeoutMs: 110_000})
      assert.notEqual(r.code, null, 'killed at the time bound')
      if (c.error) {
        assert.equal(r.code, 2, r.stdout)
        const lines = r.stderr.trimEnd().split('\n')
        assert.equal(lines.length, 1, r.stderr)
        assert.ok(lines[0].startsWith(`Error: hostile-${c.name}/Dockerfile: `), lines[0])
        assert.match(lines[0], c.error)
        assert.equal(r.stdout, '')
      } else if (c.findings) {
        assert.equal(r.code, 1, r.stderr)
        assert.equal(r.stdout.trimEnd().split('\n').at(-1), c.findings)
      } else {
        assert.equal(r.code, 0, r.stderr)
        assert.match(r.stdout, /no reproducibility hazard found/)
      }
    })
  }
})
