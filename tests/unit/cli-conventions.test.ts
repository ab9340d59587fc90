/**
 * The CLI conventions that need no child process: "did you mean" for flags, the --json document of oclif's
 * usage errors, topics with their own descriptions, secrets that --dry prints as they run, and the error
 * codes: every code the source can throw is documented in the README and in schemas/error.schema.json.
 */
import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'

import {parseSecret, secretArg} from '../../src/engine/args.js'
import {type BuildOptions, buildPlan, DEFAULT_BUILDKIT_IMAGE, type Facts} from '../../src/engine/plan.js'
import {closestFlag, editDistance, type FlagNames, usageError} from '../../src/ui/usage-errors.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (p: string): string => readFileSync(path.join(ROOT, p), 'utf8')

describe('did you mean, for flags', () => {
  const flags: Record<string, FlagNames> = {
    'build-arg': {},
    datetime: {},
    json: {},
    output: {char: 'o'},
    sde: {aliases: ['source-date-epoch']},
    'sde-from-git': {},
    verbose: {char: 'v'},
  }

  it('edit distance', () => {
    assert.equal(editDistance('', ''), 0)
    assert.equal(editDistance('sde', 'sdee'), 1)
    assert.equal(editDistance('kitten', 'sitting'), 3)
    assert.equal(editDistance('abc', ''), 3)
    assert.equal(editDistance('flaw', 'lawn'), 2)
    assert.equal(editDistance('jsno', 'json'), 1)
    assert.equal(editDistance('ca', 'abc'), 3)
  })

  it('suggests the nearest flag or alias, and nothing for a word far from every flag', () => {
    const cases: Array<[string, string | undefined]> = [
      ['--sdee', '--sde'],
      ['--sde-from-gti', '--sde-from-git'],
      ['--datetim', '--datetime'],
      ['--source-date-epcoh', '--source-date-epoch'],
      ['--build-args', '--build-arg'],
      ['--outptu=x', '--output'],
      ['--verb', '--verbose'],
      ['--jsno', '--json'],
      ['--platform', undefined],
      ['--zzzzzzzz', undefined],
      ['--', undefined],
    ]
    for (const [word, expected] of cases) assert.equal(closestFlag(word, flags), expected, word)
  })

  it('hostile input: a huge or odd unknown flag gets no suggestion, fast', () => {
    const words = [`--${'s'.repeat(1_000_000)}`, `--sde${'\u0000'.repeat(10)}`, '-', '---', `--${'é'.repeat(70)}`]
    for (let i = 0; i < 200; i++) {
      // generated: random code units, lengths 0-100
      words.push(
        `--${String.fromCharCode(...Array.from({length: (i * 7) % 101}, (_, j) => (i * 31 + j * 17) % 0xffff))}`,
      )
    }
    const known = new Set(Object.entries(flags).flatMap(([n, f]) => [n, ...(f.aliases ?? [])].map((x) => `--${x}`)))
    const start = process.hrtime.bigint()
    for (const w of words) {
      const s = closestFlag(w, flags)
      assert.ok(s === undefined || known.has(s), `${JSON.stringify(w.slice(0, 40))} → ${s}`)
    }
    assert.equal(closestFlag(words[0], flags), undefined)
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    assert.ok(ms < 2000, `${words.length} hostile words took ${ms} ms`)
  })

  it("adds the hint to oclif's parse error and gives the --json document (E_INVALID_ARGUMENT, exit 2)", () => {
    const err = Object.assign(new Error('Nonexistent flag: --sdee\nSee more help with --help'), {
      flags: ['--sdee'],
      parse: {},
    })
    const doc = usageError(err, flags)
    assert.deepEqual(doc, {
      code: 'E_INVALID_ARGUMENT',
      exitCode: 2,
      message: 'Nonexistent flag: --sdee',
      name: 'Error',
      suggestions: ['did you mean --sde (not --sdee)?'],
    })
    assert.deepEqual((err as {suggestions?: string[]}).suggestions, ['did you mean --sde (not --sdee)?'])
    assert.equal(usageError(new Error('not a usage error'), flags), undefined)
  })
})

describe('topics', () => {
  it('every topic has a description of its own, never a command summary', () => {
    const pjson = JSON.parse(read('package.json')) as {oclif: {topics: Record<string, {description: string}>}}
    const manifest = JSON.parse(read('oclif.manifest.json')) as {
      commands: Record<string, {summary?: string; description?: string}>
    }
    const topics = [
      ...new Set(
        Object.keys(manifest.commands)
          .filter((id) => id.includes(':'))
          .map((id) => id.split(':')[0]),
      ),
    ].sort()
    assert.deepEqual(Object.keys(pjson.oclif.topics).sort(), topics)
    const texts = new Set(Object.values(manifest.commands).flatMap((c) => [c.summary, c.description]))
    const descriptions = Object.values(pjson.oclif.topics).map((t) => t.description)
    for (const d of descriptions) {
      assert.ok(d && d.length > 20 && d.length <= 90, `topic description "${d}": one line of 20-90 characters`)
      assert.ok(!texts.has(d), `topic description "${d}" is a command's text`)
    }
    assert.equal(new Set(descriptions).size, descriptions.length)
  })
})

describe('--dry prints secrets as they run', () => {
  const options = (over: Partial<BuildOptions>): BuildOptions => ({
    annotations: [],
    buildArgs: [],
    buildContexts: [],
    buildkitArgs: [],
    buildkitImage: DEFAULT_BUILDKIT_IMAGE,
    buildxArgs: [],
    context: '/src/app',
    dockerfile: '/src/app/Dockerfile',
    format: 'docker',
    noCache: false,
    output: '/out/image.tar',
    platforms: [],
    rootless: false,
    sde: {epoch: 0, origin: '--sde'},
    secrets: [],
    tags: [],
    ...over,
  })
  const facts = (runtime: Facts['runtime']): Facts => ({
    assumptions: [],
    buildkitAddr: 'unix:///run/buildkit/buildkitd.sock',
    missingDirs: [],
    ociLayoutDigests: {},
    runtime,
  })

  it('secretArg keeps id, type, src and env as given', () => {
    const file = parseSecret("id=a,type=file,src=/run/my secret's.txt", '/')
    assert.equal(secretArg(file, file.src), `id=a,type=file,src=/run/my secret's.txt`)
    const env = parseSecret('id=b,env=MY_TOKEN', '/')
    assert.equal(secretArg(env, undefined), 'id=b,env=MY_TOKEN')
    const byType = parseSecret('id=GH_TOKEN,type=env', '/')
    assert.equal(secretArg(byType, undefined), 'id=GH_TOKEN,type=env,env=GH_TOKEN')
    const quoted = parseSecret('id=c,src=/a,b.txt', '/')
    assert.equal(quoted.src, '/a')
  })

  it('on every runtime, what --dry shows of a build with secrets is exactly the argv that runs', () => {
    const secrets = [parseSecret('id=a,src=/home/me/.netrc', '/'), parseSecret('id=b,env=GITHUB_TOKEN', '/')]
    for (const runtime of ['docker', 'podman', 'buildkit'] as const) {
      const plan = buildPlan(options({secrets}), facts(runtime))
      const execs = plan.steps.filter((s) => s.kind === 'exec')
      assert.ok(execs.length > 0, runtime)
      for (const s of execs) assert.deepEqual(s.display, s.argv, `${runtime}: ${s.why}`)
      const all = execs.flatMap((s) => s.argv)
      assert.ok(
        all.some((a) => a.includes('/home/me/.netrc')),
        `${runtime}: the secret file is in the plan: ${JSON.stringify(all)}`,
      )
      assert.ok(
        all.some((a) => a.includes('GITHUB_TOKEN')),
        `${runtime}: the variable name is in the plan`,
      )
    }
  })

  it('credentials in a BuildKit address are still never shown', () => {
    const plan = buildPlan(options({}), {...facts('buildkit'), buildkitAddr: 'tcp://user:pass@host:1234'})
    const s = plan.steps.find((x) => x.kind === 'exec')
    assert.ok(s && s.kind === 'exec')
    assert.ok(s.argv.includes('tcp://user:pass@host:1234'))
    assert.ok(!s.display.join(' ').includes('pass'), s.display.join(' '))
  })
})

describe('error codes', () => {
  /** Every `'E_...'` string literal in src/: the codes a command can print. */
  function sourceCodes(): Map<string, string[]> {
    const codes = new Map<string, string[]>()
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        const p = path.join(dir, name)
        if (statSync(p).isDirectory()) walk(p)
        else if (p.endsWith('.ts')) {
          for (const m of readFileSync(p, 'utf8').matchAll(/['"`](E_[A-Z][A-Z0-9_]*)['"`]/g)) {
            codes.set(m[1], [...(codes.get(m[1]) ?? []), path.relative(ROOT, p)])
          }
        }
      }
    }
    walk(path.join(ROOT, 'src'))
    return codes
  }

  /** The codes the README's "Exit codes and errors" section lists (the first column of its table). */
  function readmeCodes(): string[] {
    const readme = read('README.md')
    const start = readme.indexOf('\n## Exit codes and errors')
    assert.ok(start !== -1, 'README.md has no "## Exit codes and errors" section')
    const end = readme.indexOf('\n## ', start + 1)
    const section = readme.slice(start, end === -1 ? undefined : end)
    return [...section.matchAll(/^\| `(E_[A-Z0-9_]+)` \|/gm)].map((m) => m[1])
  }

  it('finds the codes in the source', () => {
    const codes = sourceCodes()
    for (const c of ['E_INVALID_ARGUMENT', 'E_INVALID_ARCHIVE', 'E_INTERNAL', 'E_VERIFY_FAILED'])
      assert.ok(codes.has(c), c)
  })

  it("every code in src/ is in the README's table, and the table lists no code the source lacks", () => {
    const source = sourceCodes()
    const readme = readmeCodes()
    const undocumented = [...source.keys()].filter((c) => !readme.includes(c)).sort()
    assert.deepEqual(
      undocumented,
      [],
      `not in README.md "Exit codes and errors": ${undocumented.map((c) => `${c} (${source.get(c)!.join(', ')})`).join('; ')}`,
    )
    const stale = readme.filter((c) => !source.has(c))
    assert.deepEqual(stale, [], `README.md lists codes no source throws: ${stale.join(', ')}`)
    assert.deepEqual(readme, [...readme].sort(), 'README.md: keep the table sorted by code')
  })

  it('schemas/error.schema.json allows exactly the codes of the source', () => {
    const schema = JSON.parse(read('schemas/error.schema.json')) as {
      properties: {error: {properties: {code: {enum: string[]}}}}
    }
    assert.deepEqual([...schema.properties.error.properties.code.enum].sort(), [...sourceCodes().keys()].sort())
  })
})
