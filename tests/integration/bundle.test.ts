/**
 * The single-file bundle (scripts/bundle.ts, action/repro.mjs): deterministic wherever it is built, every
 * command of src/commands inside it (a new command file gets in with no list to edit), and it runs alone in
 * an empty directory with no node_modules, reading nothing but itself and its inputs.
 * `npm run bundle:check` (in npm test) separately fails when the committed action/repro.mjs is stale.
 */
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {copyFile, cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import {promisify} from 'node:util'

import {bundle, commandFiles} from '../../scripts/bundle.js'
import {ROOT} from '../support/cli.js'
import {buildImage, tempDir, writeArchive} from '../support/image-fixtures.js'

const pexec = promisify(execFile)
let dir: string
let built: string
let pjson: {version: string}

interface Run {
  code: number | null
  stderr: string
  stdout: string
}

/** node FILE args in cwd, with an environment that points nowhere near the repository. */
function runNode(
  file: string,
  args: string[],
  cwd: string,
  prefix: string[] = [],
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const argv = [...prefix, process.execPath, file, ...args]
    const child = spawn(argv[0], argv.slice(1), {
      cwd,
      env: {
        HOME: cwd,
        NO_COLOR: '1',
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        XDG_CACHE_HOME: path.join(cwd, '.cache'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stderr, stdout}))
  })
}

/** A copy of what the bundle is built from, at another path (node_modules linked, as in a work tree). */
async function copyCheckout(to: string): Promise<void> {
  await mkdir(to, {recursive: true})
  for (const entry of ['src', 'scripts']) await cp(path.join(ROOT, entry), path.join(to, entry), {recursive: true})
  for (const file of ['package.json', 'tsconfig.json']) await copyFile(path.join(ROOT, file), path.join(to, file))
  await symlink(path.join(ROOT, 'node_modules'), path.join(to, 'node_modules'))
}

/** Build the bundle of the checkout at `root` with its own copy of scripts/bundle.ts (its ROOT is its dir). */
async function bundleAt(root: string, outfile: string): Promise<void> {
  await pexec(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'bundle.ts'), '--outfile', outfile], {
    cwd: root,
  })
}

before(async () => {
  dir = await tempDir('repro-bundle-test-')
  built = path.join(dir, 'here.mjs')
  await bundle(built)
  pjson = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'))
})

after(async () => {
  await rm(dir, {force: true, recursive: true})
})

describe('the bundle is built deterministically from src/commands', () => {
  test('two builds, in two checkouts at different paths, give the same bytes', async () => {
    const copy = path.join(dir, 'elsewhere', 'checkout')
    await copyCheckout(copy)
    const there = path.join(dir, 'there.mjs')
    await bundleAt(copy, there)
    const a = await readFile(built)
    const b = await readFile(there)
    assert.ok(a.length > 100_000, `bundle of ${a.length} bytes`)
    assert.ok(a.equals(b), 'the bundle differs between the two checkouts')
    assert.ok(!a.includes(ROOT) && !a.includes(copy), 'the bundle holds an absolute path of the checkout')
  })

  test('a new command file is in the next bundle with nothing else edited; a file with no command fails the build', async () => {
    const copy = path.join(dir, 'with-probe')
    await copyCheckout(copy)
    await mkdir(path.join(copy, 'src', 'commands', 'probe'), {recursive: true})
    await writeFile(
      path.join(copy, 'src', 'commands', 'probe', 'echo.ts'),
      [
        "import {Args} from '@oclif/core'",
        "import {BaseCommand} from '../../base-command.js'",
        'export default class ProbeEcho extends BaseCommand<typeof ProbeEcho> {',
        '  static args = {word: Args.string({required: true})}',
        "  static summary = 'Echo a word (a command added after the bundle script was written).'",
        '  async run(): Promise<{word: string}> {',
        '    return {word: this.args.word}',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
    const out = path.join(dir, 'probe.mjs')
    await bundleAt(copy, out)
    const empty = path.join(dir, 'empty-probe')
    await mkdir(empty)
    await copyFile(out, path.join(empty, 'repro.mjs'))
    const r = await runNode('repro.mjs', ['probe', 'echo', 'hello', '--json'], empty)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {word: 'hello'})

    await writeFile(path.join(copy, 'src', 'commands', 'probe', 'nothing.ts'), 'export const x = 1\n')
    await assert.rejects(bundleAt(copy, path.join(dir, 'broken.mjs')), /without an oclif command: probe:nothing/)
    assert.ok(!existsSync(path.join(dir, 'broken.mjs')), 'a failed build wrote a bundle')
  })
})

describe('the bundle runs alone in an empty directory', () => {
  let empty: string
  before(async () => {
    empty = path.join(dir, 'empty')
    await mkdir(empty)
    await copyFile(built, path.join(empty, 'repro.mjs'))
  })

  test('--version is package.json version; --help lists every command file of src/commands and every topic', async () => {
    const v = await runNode('repro.mjs', ['--version'], empty)
    assert.equal(v.code, 0, v.stderr)
    assert.match(v.stdout, new RegExp(`^repro/${pjson.version.replaceAll('.', '\\.')} `))
    const ids = (await commandFiles()).map(([id]) => id)
    assert.ok(ids.includes('analyze') && ids.includes('build') && ids.length >= 20, `ids: ${ids.join(' ')}`)
    for (const topic of new Set(ids.filter((id) => id.includes(':')).map((id) => id.split(':')[0]))) {
      const h = await runNode('repro.mjs', [topic, '--help'], empty)
      assert.equal(h.code, 0, h.stderr)
      for (const id of ids.filter((i) => i.startsWith(`${topic}:`)))
        assert.ok(h.stdout.includes(id.replace(':', ' ')), `${id} not in ${topic} --help`)
    }
    const help = await runNode('repro.mjs', ['--help'], empty)
    for (const id of ids.filter((i) => !i.includes(':'))) assert.match(help.stdout, new RegExp(`^  ${id} `, 'm'))
    assert.match(help.stdout, /^ {2}autocomplete /m)
  })

  test('every command module loads from the bundle (each --help imports its command)', async () => {
    for (const [id] of await commandFiles()) {
      const r = await runNode('repro.mjs', [...id.split(':'), '--help'], empty)
      assert.equal(r.code, 0, `${id}: ${r.stderr}`)
      assert.match(r.stdout, /USAGE/)
    }
  })

  test('both plugins work: a mistyped command exits 127 (plugin-not-found), autocomplete prints a script', async () => {
    const typo = await runNode('repro.mjs', ['biuld'], empty)
    assert.equal(typo.code, 127)
    assert.match(typo.stderr, /biuld is not a repro command/)
    const ac = await runNode('repro.mjs', ['autocomplete', 'script', 'bash'], empty)
    assert.equal(ac.code, 0, ac.stderr)
    assert.match(ac.stdout, /REPRO_AC_BASH_SETUP_PATH|repro/)
  })

  test('V8 code cache: written once under XDG_CACHE_HOME, then used; off with REPRO_NO_COMPILE_CACHE', async () => {
    const home = path.join(dir, 'cache-home')
    await mkdir(home)
    await copyFile(built, path.join(home, 'repro.mjs'))
    const cacheDir = path.join(home, '.cache', 'repro', 'compile-cache')
    const off = await runNode('repro.mjs', ['--version'], home, [], {REPRO_NO_COMPILE_CACHE: '1'})
    assert.equal(off.code, 0, off.stderr)
    assert.ok(!existsSync(cacheDir), 'REPRO_NO_COMPILE_CACHE=1 wrote a cache')
    const first = await runNode('repro.mjs', ['--version'], home)
    const files = await readdir(cacheDir)
    assert.equal(files.length, 1, files.join(' '))
    assert.match(files[0], new RegExp(`-${process.version.replaceAll('.', '\\.')}-${process.arch}\\.v8$`))
    const stamp = (await stat(path.join(cacheDir, files[0]))).mtimeMs
    const second = await runNode('repro.mjs', ['--version'], home)
    assert.equal(second.stdout, first.stdout)
    assert.equal(second.stdout, off.stdout)
    assert.equal((await stat(path.join(cacheDir, files[0]))).mtimeMs, stamp, 'an accepted cache was rewritten')
    // a cache V8 rejects (here: garbage) is replaced, and the run still works
    await writeFile(path.join(cacheDir, files[0]), 'not a code cache')
    const third = await runNode('repro.mjs', ['--version'], home)
    assert.equal(third.stdout, first.stdout)
    assert.ok((await stat(path.join(cacheDir, files[0]))).size > 100_000, 'the rejected cache was not rewritten')
    // an unwritable cache directory: the CLI still runs
    await rm(path.join(home, '.cache'), {force: true, recursive: true})
    await writeFile(path.join(home, '.cache'), 'a file where the cache directory would go')
    const ro = await runNode('repro.mjs', ['--version'], home)
    assert.equal(ro.code, 0, ro.stderr)
    assert.equal(ro.stdout, first.stdout)
  })

  test('analyze of a real archive gives the same JSON as bin/run.js, and opens no file but its inputs', async () => {
    const img = await buildImage({layers: [[{content: 'hello\n', path: 'etc/hello'}]]})
    const archive = path.join(empty, 'image.tar')
    await writeArchive('oci-archive', [img], archive)
    const fromBundle = await runNode('repro.mjs', ['analyze', 'image.tar', '--json'], empty)
    assert.equal(fromBundle.code, 0, fromBundle.stderr)
    const doc = JSON.parse(fromBundle.stdout)
    assert.equal(doc.imageDigest, img.manifestDigest)
    // npm test builds dist/ first; the same result from both
    const fromDist = await runNode(path.join(ROOT, 'bin', 'run.js'), ['analyze', 'image.tar', '--json'], empty)
    assert.equal(fromDist.code, 0, fromDist.stderr)
    assert.equal(fromBundle.stdout, fromDist.stdout)
    // strace: every file the process opens (successfully) is the bundle, the archive, or the system's
    const trace = path.join(dir, 'strace.txt')
    await pexec('strace', ['-V']).catch(() => assert.fail('strace is not installed (an apt pin of the test bed)'))
    const traced = await runNode('repro.mjs', ['analyze', 'image.tar', '--json'], empty, [
      'strace',
      '-f',
      '-qq',
      '-e',
      'trace=open,openat',
      '-o',
      trace,
    ])
    assert.equal(traced.code, 0, traced.stderr)
    const opened = [...(await readFile(trace, 'utf8')).matchAll(/open(?:at)?\((?:AT_FDCWD, )?"([^"]+)".*= \d+$/gm)].map(
      (m) => path.resolve(empty, m[1]),
    )
    assert.ok(opened.includes(path.join(empty, 'repro.mjs')), `strace saw no bundle: ${opened.join(' ')}`)
    assert.ok(opened.includes(archive), 'strace saw no archive')
    const cache = path.join(empty, '.cache', 'repro', 'compile-cache')
    const strays = opened.filter(
      (f) =>
        f !== path.join(empty, 'repro.mjs') &&
        f !== archive &&
        !f.startsWith(`${cache}/`) &&
        !/^\/(etc|proc|sys|lib|lib64|usr|dev)\//.test(f),
    )
    assert.deepEqual([...new Set(strays)], [], 'the bundle opened files outside itself')
  })
})
