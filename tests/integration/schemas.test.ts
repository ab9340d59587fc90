/**
 * The published JSON Schemas (schemas/) against the real world:
 * - every command that prints --json has a schema, and every schema a command (or the error document);
 * - each schema matches its command's result type, property by property (tests/support/result-types.ts);
 * - the built CLI's real --json outputs (real archives of every format, real .debs, real files) are valid,
 *   and so are its error documents; build and verify on real engines, and get push to a real registry, are in
 *   tests/e2e/schemas.e2e.test.ts;
 * - the schemas are strict: a wrong shape (an extra field, a missing one, a wrong type) is refused;
 * - `build --dry` with secrets prints commands that a shell parses back into the very argv.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type CliResult, ROOT, runCli} from '../support/cli.js'
import {buildImage, tempDir, writeArchive, type ArchiveKind, type BuiltImage} from '../support/image-fixtures.js'
import {type Deb, makeDpkgRoot, realDebs, sumsText} from '../support/pkg-fixtures.js'
import {commandResultTypes, compareWithSchema} from '../support/result-types.js'
import {schemaFile, SchemaValidator} from '../support/schemas.js'

/** Commands whose --json output needs real engines or a registry: proven in tests/e2e/schemas.e2e.test.ts. */
const E2E_ONLY = new Set(['get push', 'verify'])
/** validated against its schema where its real fixtures are made (the machine's apt lists, gpgv) */
const VALIDATED_ELSEWHERE = new Set([
  'hash verify', // tests/integration/pkg-chain.test.ts
  // tests/integration/push-cli.test.ts, attest-cli.test.ts and attest-registry.test.ts (a spec-written registry)
  'push',
  'attest attach',
  'attest keygen',
  'attest list',
  'attest verify',
  'report html', // tests/integration/html-report.test.ts
])

const validator = new SchemaValidator()
const covered = new Set<string>()
let dir: string

before(async () => {
  dir = await tempDir('repro-schemas-')
})

after(async () => {
  await rm(dir, {force: true, recursive: true})
})

/** Our own commands that take --json, from the manifest `npm run build` wrote. */
function jsonCommands(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, {flags: Record<string, unknown>}>
  }
  return Object.entries(manifest.commands)
    .filter(([, c]) => 'json' in c.flags)
    .map(([id]) => id.replaceAll(':', ' '))
    .sort()
}

/** Run `repro ARGS --json`, check the exit code, parse stdout and validate it against `command`'s schema. */
async function jsonOf(
  command: string,
  args: string[],
  options: {code?: number; env?: Record<string, string | undefined>; cwd?: string} = {},
): Promise<Record<string, unknown>> {
  const r: CliResult = await runCli([...args, '--json'], {cwd: options.cwd ?? dir, env: options.env})
  const what = `repro ${args.join(' ')} --json`
  assert.equal(r.code, options.code ?? 0, `${what}: exit ${r.code}\n${r.stderr}${r.stdout.slice(0, 2000)}`)
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(r.stdout) as Record<string, unknown>
  } catch {
    assert.fail(`${what}: stdout is not one JSON document:\n${r.stdout.slice(0, 2000)}`)
  }
  validator.check(command, doc, what)
  if (command !== 'error') covered.add(command)
  return doc
}

describe('schemas: one per command, matching the result types', () => {
  it('every command with --json has a schema, and every schema is a command or the error document', () => {
    const commands = jsonCommands()
    assert.ok(commands.length >= 16, `oclif.manifest.json lists ${commands.length} commands: run npm run build`)
    const files = [...validator.schemas.keys()]
    assert.deepEqual(files, [...commands.map((c) => schemaFile(c)), 'error.schema.json'].sort())
    for (const [file, schema] of validator.schemas) {
      assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema', `schemas/${file}: $schema`)
      assert.equal(schema.$id, `https://repro.dev/schemas/${file}`, `schemas/${file}: $id`)
    }
  })

  it("each schema names every property of its command's result type, required exactly when not optional", () => {
    const {checker, results} = commandResultTypes()
    assert.deepEqual([...results.keys()].sort(), jsonCommands())
    const problems: string[] = []
    for (const [command, type] of results) {
      const schema = validator.schemas.get(schemaFile(command))
      assert.ok(schema, `no schemas/${schemaFile(command)}`)
      for (const p of compareWithSchema(checker, type, schema)) problems.push(`schemas/${schemaFile(command)} ${p}`)
    }
    assert.deepEqual(
      problems,
      [],
      `the schemas differ from the result types (src/commands/*.ts run()):\n${problems.join('\n')}`,
    )
  })

  it('the type comparison catches a missing, an extra and a wrongly required property, and a wrong type', () => {
    const {checker, results} = commandResultTypes()
    const base = validator.schemas.get('cache-clean.schema.json')!
    const props = base.properties as Record<string, unknown>
    const mutants: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        'missing',
        {...base, properties: {...props, bytes: undefined}},
        /#\/properties\/bytes: property "bytes" .* missing/,
      ],
      [
        'extra',
        {...base, properties: {...props, extra: {type: 'string'}}},
        /#\/properties\/extra: in the schema, not a property/,
      ],
      [
        'not required',
        {...base, required: ['cache', 'blobs']},
        /#\/properties\/bytes: required in the type, not in the schema's required/,
      ],
      [
        'wrong type',
        {...base, properties: {...props, cache: {type: 'integer'}}},
        /#\/properties\/cache: the type is string/,
      ],
      [
        'open',
        {...base, additionalProperties: true},
        /#: the type .* is closed, the schema needs additionalProperties: false/,
      ],
    ]
    for (const [name, schema, expected] of mutants) {
      const clean = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>
      const problems = compareWithSchema(checker, results.get('cache clean')!, clean)
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${name}: expected a problem matching ${expected}, got ${JSON.stringify(problems)}`,
      )
    }
  })
})

describe('schemas: real --json outputs of the built CLI', () => {
  let images: BuiltImage[]
  const archives: Partial<Record<ArchiveKind | 'gzip', string>> = {}

  before(async () => {
    images = [
      await buildImage({
        layers: [[{content: 'hello\n', path: 'hello.txt'}], [{content: 'app\n', path: 'app/main.txt'}]],
      }),
      await buildImage({architecture: 'arm64', layers: [[{content: 'hello\n', path: 'hello.txt'}]]}),
    ]
    const kinds: ArchiveKind[] = [
      'docker-archive',
      'docker-exporter',
      'docker-save-oci',
      'oci-archive',
      'oci-layout-dir',
      'podman-oci-archive',
    ]
    for (const kind of kinds) {
      const out = path.join(dir, kind === 'oci-layout-dir' ? 'layout' : `${kind}.tar`)
      archives[kind] = (await writeArchive(kind, [images[0]], out)).path
    }
    archives['oci-multi'] = (await writeArchive('oci-multi', images, path.join(dir, 'multi.tar'))).path
    archives.gzip = (await writeArchive('oci-archive', [images[0]], path.join(dir, 'gz.tar.gz'), {gzip: true})).path
  })

  it('analyze: every archive format, with --show-contents, --verify and --expected-image-digest', async () => {
    for (const [kind, file] of Object.entries(archives)) {
      const doc = await jsonOf('analyze', ['analyze', file])
      assert.ok(Array.isArray(doc.images) && doc.images.length > 0, `${kind}: images`)
    }
    await jsonOf('analyze', ['analyze', archives['oci-multi']!, '--show-contents', '--verify'])
    await jsonOf('analyze', ['analyze', archives['oci-multi']!, '--platform', 'linux/arm64', '--verify'])
    const match = await jsonOf('analyze', [
      'analyze',
      archives['docker-exporter']!,
      '--expected-image-digest',
      images[0].manifestDigest,
    ])
    assert.equal((match.expected as {matched: boolean}).matched, true)
    const miss = await jsonOf(
      'analyze',
      ['analyze', archives['docker-archive']!, '--expected-image-digest', 'a'.repeat(64)],
      {code: 1},
    )
    assert.equal((miss.expected as {matched: boolean}).matched, false)
  })

  it('diff: differing images (exit 1, with --report-dir) and identical ones (exit 0)', async () => {
    const other = await buildImage({
      layers: [[{content: 'hello!\n', path: 'hello.txt'}], [{content: 'app\n', path: 'app/main.txt'}]],
    })
    const b = (await writeArchive('oci-archive', [other], path.join(dir, 'other.tar'))).path
    const differ = await jsonOf(
      'diff',
      ['diff', archives['oci-archive']!, b, '--report-dir', path.join(dir, 'report')],
      {code: 1},
    )
    assert.equal(differ.same, false)
    assert.ok((differ.differences as unknown[]).length > 0)
    const same = await jsonOf('diff', ['diff', archives['oci-archive']!, archives['docker-exporter']!, '--semantic'])
    assert.equal(same.same, true)
  })

  describe('hash, get, cache, info with real .debs', () => {
    let debs: Deb[]
    let sums: string
    let mirror: string
    let root: string

    before(async () => {
      mirror = path.join(dir, 'mirror')
      debs = await realDebs(mirror)
      sums = path.join(dir, 'SHA256SUMS-amd64')
      await writeFile(
        sums,
        `${sumsText(debs)}${debs[0].sha256}  /ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy\n`,
      )
      root = path.join(dir, 'root')
      await makeDpkgRoot(root, debs.slice(0, 2), debs)
    })

    it('hash inspect, generate, update', async () => {
      const inspected = await jsonOf('hash inspect', ['hash', 'inspect', sums])
      assert.equal((inspected.entries as unknown[]).length, debs.length)
      const generated = await jsonOf('hash generate', ['hash', 'generate', '--root', root])
      assert.equal((generated.entries as unknown[]).length, 2)
      const stale = path.join(dir, 'SUMS-stale')
      await writeFile(stale, `${'e'.repeat(64)}  ${debs[0].filename}\n`)
      const updated = await jsonOf('hash update', ['hash', 'update', '--root', root, stale])
      assert.equal((updated.updated as unknown[]).length, 1)
    })

    it('get download, get install --dry, cache export/import/clean, info', async () => {
      const cache = path.join(dir, 'cache')
      const provider = `file://${mirror}/{{.Name}}`
      const dl = await jsonOf('get download', ['get', 'download', '--cache', cache, '--provider', provider, sums])
      assert.equal(dl.downloaded, debs.length)
      const install = await jsonOf('get install', [
        'get',
        'install',
        '--dry',
        '--root',
        root,
        '--cache',
        cache,
        '--provider',
        provider,
        sums,
      ])
      assert.equal(install.dry, true)
      const exported = await jsonOf('cache export', ['cache', 'export', '--cache', cache, path.join(dir, 'exported')])
      assert.equal((exported.files as unknown[]).length, debs.length)
      const cache2 = path.join(dir, 'cache2')
      const imported = await jsonOf('cache import', ['cache', 'import', '--cache', cache2, path.join(dir, 'exported')])
      assert.equal((imported.files as unknown[]).length, debs.length)
      const cleaned = await jsonOf('cache clean', ['cache', 'clean', '--cache', cache2])
      assert.equal(cleaned.blobs, debs.length)
      await jsonOf('info', ['info', '--cache', cache, '--root', root])
      await jsonOf('info', ['info', '--cache', cache, '--root', dir], {env: {SOURCE_DATE_EPOCH: '0'}})
    })
  })

  it('dockerfile generate and snapshot sources', async () => {
    const digest = `sha256:${'b'.repeat(64)}`
    const gen = await jsonOf('dockerfile generate', [
      'dockerfile',
      'generate',
      '--sde',
      '1704067200',
      path.join(dir, 'gen'),
      `debian:bookworm-20240110@${digest}`,
      'hello',
    ])
    assert.equal(gen.digest, digest)
    await jsonOf('snapshot sources', ['snapshot', 'sources', '--sde', '1704067200'])
    const linted = await jsonOf('lint', ['lint', path.join(ROOT, 'nightly', 'fixtures', 'canary-date')], {code: 1})
    assert.equal(linted.failed, true)
    await jsonOf('snapshot sources', ['snapshot', 'sources', '--method', 'rewrite', '-o', path.join(dir, 'src.sh')], {
      env: {REPRO_SOURCE_DATE_EPOCH: undefined, SOURCE_DATE_EPOCH: undefined},
    })
  })

  it('lock and lock --check (a Dockerfile with no remote input)', async () => {
    const ctx = path.join(dir, 'lock-ctx')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /\n')
    const written = await jsonOf('lock', ['lock', '--sde', '0', ctx])
    assert.equal(written.written, true)
    const checked = await jsonOf('lock', ['lock', '--check', ctx])
    assert.deepEqual(checked.changes, [])
  })

  it('build --dry with no engine installed, every runtime', async () => {
    const ctx = path.join(dir, 'ctx')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /\n')
    for (const runtime of ['docker', 'podman', 'buildkit']) {
      const doc = await jsonOf(
        'build',
        ['build', '--sde', '0', '--dry', '--runtime', runtime, '--platform', 'linux/amd64,linux/arm64', ctx],
        {
          env: {PATH: path.join(dir, 'no-engines'), REPRO_RUNTIME: undefined, BUILDKIT_HOST: undefined},
        },
      )
      assert.equal(doc.dry, true)
    }
  })

  it('error documents: bad archive, bad flag, missing argument, unreadable hash file, --verify mismatch', async () => {
    const notTar = path.join(dir, 'not-a.tar')
    await writeFile(notTar, 'this is not a tar archive, just text\n'.repeat(20))
    const cases: Array<[string[], string]> = [
      [['analyze', notTar], 'E_INVALID_ARCHIVE'],
      [['analyze', '--verfy', notTar], 'E_INVALID_ARGUMENT'],
      [['diff', archives['oci-archive']!], 'E_INVALID_ARGUMENT'],
      [['hash', 'inspect', path.join(dir, 'missing')], 'E_HASH_FILE'],
      [['snapshot', 'sources', '--method', 'nope'], 'E_INVALID_ARGUMENT'],
    ]
    for (const [args, code] of cases) {
      const doc = await jsonOf('error', args, {code: 2})
      assert.equal((doc.error as {code: string}).code, code, args.join(' '))
    }
    // a layer blob with one byte flipped: --verify lists the mismatch in the error document
    const layout = path.join(dir, 'corrupt')
    await writeArchive('oci-layout-dir', [images[0]], layout)
    const blob = path.join(layout, 'blobs/sha256', images[0].layerDigests[0].slice(7))
    const bytes = await readFile(blob)
    bytes[bytes.length >> 1] ^= 0xff
    await writeFile(blob, bytes)
    const doc = await jsonOf('error', ['analyze', '--verify', layout], {code: 2})
    const error = doc.error as {code: string; mismatches: unknown[]}
    assert.equal(error.code, 'E_VERIFY_FAILED')
    assert.ok(error.mismatches.length > 0)
  })

  it('the schemas refuse a wrong shape: an extra field, a missing field, a wrong type, an unknown error code', async () => {
    const doc = await jsonOf('analyze', ['analyze', archives['docker-exporter']!])
    const clone = (): Record<string, unknown> => JSON.parse(JSON.stringify(doc)) as Record<string, unknown>
    const extra = {...clone(), surprise: 1}
    assert.match(validator.errors('analyze', extra), /at \/: must NOT have additional properties.*surprise/)
    const missing = clone()
    delete missing.imageDigest
    assert.match(validator.errors('analyze', missing), /at \/: must have required property 'imageDigest'/)
    const wrongType = clone()
    ;(wrongType.images as Array<{layers: Array<{size: unknown}>}>)[0].layers[0].size = '12'
    assert.match(validator.errors('analyze', wrongType), /at \/images\/0\/layers\/0\/size: must be integer/)
    const badDigest = clone()
    badDigest.imageDigest = 'sha256:xyz'
    assert.match(validator.errors('analyze', badDigest), /at \/imageDigest: must match pattern/)
    const nested = clone()
    ;(nested.images as Array<Record<string, unknown>>)[0].config = {
      ...((nested.images as Array<Record<string, unknown>>)[0].config as object),
      extra: true,
    }
    assert.match(validator.errors('analyze', nested), /at \/images\/0\/config: must NOT have additional properties/)
    const err = {error: {code: 'E_SOMETHING_NEW', exitCode: 2, message: 'x', name: 'X', suggestions: []}}
    assert.match(validator.errors('error', err), /at \/error\/code: must be equal to one of the allowed values/)
  })

  it('sbom: every archive format and a multi-platform one, both document formats', async () => {
    for (const [kind, file] of Object.entries(archives)) {
      const doc = await jsonOf('sbom', ['sbom', file, '-o', path.join(dir, `sbom-${kind}.cdx.json`)])
      assert.equal(doc.format, 'cyclonedx', kind)
    }
    const multi = await jsonOf('sbom', ['sbom', archives['oci-multi']!, '-o', path.join(dir, 'multi.spdx.json')])
    assert.equal((multi.platforms as unknown[]).length, 2)
  })

  it('covers every command here or in tests/e2e/schemas.e2e.test.ts', () => {
    const missing = jsonCommands().filter((c) => !covered.has(c) && !E2E_ONLY.has(c) && !VALIDATED_ELSEWHERE.has(c))
    assert.deepEqual(missing, [], `no real --json output validated for: ${missing.join(', ')}`)
  })
})

describe('build --dry with secrets prints commands that paste and run', () => {
  it('a shell parses each printed command back into the argv, secret path and variable name included', async () => {
    const ctx = path.join(dir, 'secret ctx')
    await mkdir(ctx, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n')
    // a path a shell must quote: a space, a quote and a dollar sign
    const file = path.join(dir, "it's a $ecret.txt")
    await writeFile(file, 'the-file-value')
    for (const runtime of ['docker', 'podman', 'buildkit']) {
      const r = await runCli(
        [
          'build',
          '--sde',
          '0',
          '--dry',
          '--runtime',
          runtime,
          '--secret',
          `id=a,src=${file}`,
          '--secret',
          'id=b,env=MY_TOKEN',
          ctx,
        ],
        {env: {PATH: path.join(dir, 'no-engines'), MY_TOKEN: 'the-env-value', BUILDKIT_HOST: undefined}},
      )
      assert.equal(r.code, 0, r.stderr)
      assert.ok(!r.stdout.includes('the-file-value') && !r.stdout.includes('the-env-value'), r.stdout)
      const lines = r.stdout.trim().split('\n')
      const build = lines.find((l) => / build /.test(l) && !l.startsWith('#'))
      assert.ok(build, `${runtime}: no build command in\n${r.stdout}`)
      const sh = spawnSync('sh', ['-c', `printf '%s\\n' ${build}`], {encoding: 'utf8'})
      assert.equal(sh.status, 0, sh.stderr)
      const argv = sh.stdout.replace(/\n$/, '').split('\n')
      if (runtime === 'podman') {
        // podman mounts the file into the BuildKit container and hands the variable over by name
        assert.ok(argv.includes(`${file}:/tmp/repro/secrets/0:ro`), `${runtime}: ${JSON.stringify(argv)}`)
        assert.equal(argv[argv.indexOf('-e') + 1], 'MY_TOKEN', `${runtime}: ${JSON.stringify(argv)}`)
        assert.ok(argv.includes('id=a,src=/tmp/repro/secrets/0'), `${runtime}: ${JSON.stringify(argv)}`)
      } else {
        assert.ok(argv.includes(`id=a,src=${file}`), `${runtime}: ${JSON.stringify(argv)}`)
      }
      assert.ok(argv.includes('id=b,env=MY_TOKEN'), `${runtime}: ${JSON.stringify(argv)}`)
      assert.ok(argv.includes(path.join(dir, 'secret ctx')) || argv.some((a) => a.includes('secret ctx')), runtime)
    }
  })

  it('generated hostile file names survive the round trip: printed, parsed by sh, then by a CSV reader', async () => {
    const ctx = path.join(dir, 'hostile-ctx')
    const files = path.join(dir, 'hostile')
    await mkdir(ctx, {recursive: true})
    await mkdir(files, {recursive: true})
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n')
    const specials = ` '"$\`\\\n\t*?[]~#;&|<>(){}!=,%@:é-`
    const names = Array.from(
      {length: 40},
      (_, i) =>
        Array.from({length: 1 + (i % 9)}, (_, j) => specials[(i * 7 + j * 13) % specials.length]).join('') + `-${i}`,
    )
    names.push('-leading-dash', 'a,b=c', '"quoted"', "it's", 'new\nline', '$(touch pwned)', '`touch pwned`')
    const secrets: string[] = []
    for (const [i, name] of names.entries()) {
      await writeFile(path.join(files, name), `value-${i}`)
      secrets.push('--secret', `"id=s${i}","src=${path.join(files, name).replaceAll('"', '""')}"`)
    }
    const r = await runCli(['build', '--sde', '0', '--dry', '--json', '--runtime', 'buildkit', ...secrets, ctx], {
      cwd: dir,
      env: {PATH: path.join(dir, 'no-engines'), BUILDKIT_HOST: undefined},
    })
    assert.equal(r.code, 0, r.stderr)
    const commands = (JSON.parse(r.stdout) as {commands: string[]}).commands
    const build = commands.find((c) => c.startsWith('buildctl '))
    assert.ok(build, commands.join('\n'))
    const sh = spawnSync('sh', ['-c', `printf '%s\\0' ${build}`], {cwd: dir, encoding: 'utf8'})
    assert.equal(sh.status, 0, sh.stderr)
    const argv = sh.stdout.split('\0').slice(0, -1)
    const values = argv.filter((_, i) => argv[i - 1] === '--secret')
    assert.equal(values.length, names.length)
    // Python's csv module reads what buildctl reads: KEY=VALUE fields, quoted when they hold , " or newlines
    const py = spawnSync(
      'python3',
      ['-c', 'import csv,json,sys; print(json.dumps([next(csv.reader([v])) for v in json.load(sys.stdin)]))'],
      {encoding: 'utf8', input: JSON.stringify(values)},
    )
    assert.equal(py.status, 0, py.stderr)
    const parsed = JSON.parse(py.stdout) as string[][]
    for (const [i, name] of names.entries()) {
      assert.deepEqual(parsed[i], [`id=s${i}`, `src=${path.join(files, name)}`], JSON.stringify(name))
    }
    assert.ok(!existsSync(path.join(dir, 'pwned')), 'nothing in a file name ran')
  })
})
