/**
 * `npm run bundle`: the whole CLI in one file, action/repro.mjs, that runs with `node repro.mjs` and no
 * node_modules (the GitHub Actions in action.yml and verify/action.yml run it at their ref).
 *
 *   node --import tsx scripts/bundle.ts [--outfile FILE]   build (default: action/repro.mjs)
 *   node --import tsx scripts/bundle.ts --check            rebuild into a temp file; exit 1 when the committed
 *                                                          action/repro.mjs differs from it (CI runs this)
 *
 * How oclif finds its commands in one file. oclif discovers commands, plugins and hooks by reading files
 * (package.json, oclif.manifest.json) and importing modules by path. Its `explicit` strategy (@oclif/core 4.8.4,
 * lib/config/plugin.js loadCommandsFromTarget) still `import()`s the target by file path, and takes every command
 * class at once, so every command's module graph would be evaluated at start-up. Instead the bundle embeds a
 * table of the files and modules oclif reads at run time, keyed by their path under the bundle's directory:
 * - the root package.json and an oclif.manifest.json generated here from src/commands/** (never a hand list:
 *   the manifest lists exactly the command files found, and the build fails when a file holds no command);
 * - for each plugin of package.json's oclif.plugins: its package.json, its oclif.manifest.json, and its
 *   command and hook modules;
 * - each command and hook module as a lazy `import()`, which esbuild turns into a module initialised on
 *   first use: `repro analyze` evaluates analyze's module graph, not build's.
 * Three of oclif's modules consult the table before the disk (util/fs readJson, util/find-root findRoot,
 * module-loader): see OCLIF_PATCHES. oclif then runs its ordinary code paths, manifest included.
 *
 * Deterministic: the same sources give the same bytes (paths relative to the repository, sorted tables,
 * no timestamps; esbuild's output is a function of its inputs).
 */
import {Plugin} from '@oclif/core'
import * as esbuild from 'esbuild'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BUNDLE = path.join(ROOT, 'action', 'repro.mjs')
const COMMANDS_DIR = path.join(ROOT, 'src', 'commands')

interface PackageJson {
  dependencies?: Record<string, string>
  description?: string
  engines?: Record<string, string>
  license?: string
  name: string
  oclif: {commands?: unknown; hooks?: Record<string, unknown>; plugins?: string[]; [key: string]: unknown}
  type?: string
  version: string
}
interface Manifest {
  commands: Record<string, {relativePath?: string[]; [key: string]: unknown}>
  version: string
}

/** src/commands/** as [id, repository-relative path], sorted by id: oclif's own naming (topic:name, index = topic). */
export async function commandFiles(dir = COMMANDS_DIR): Promise<Array<[string, string]>> {
  const found: Array<[string, string]> = []
  const walk = async (sub: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, sub), {withFileTypes: true})) {
      const rel = path.posix.join(sub, entry.name)
      if (entry.isDirectory()) await walk(rel)
      else if (/\.ts$/.test(entry.name) && !/\.(d|test|spec)\.ts$/.test(entry.name)) {
        const parts = rel.replace(/\.ts$/, '').split('/')
        if (parts.at(-1) === 'index') parts.pop()
        found.push([parts.join(':'), path.posix.join('src/commands', rel)])
      }
    }
  }
  await walk('')
  return found.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * oclif's manifest of the commands in src/commands, made by oclif itself from the TypeScript sources (this
 * script runs under tsx), as `oclif manifest` makes it from dist/. Fails when a command file yields no command.
 */
async function rootManifest(pjson: PackageJson, files: Array<[string, string]>): Promise<Manifest> {
  const plugin = new Plugin({
    errorOnManifestCreate: true,
    ignoreManifest: true,
    isRoot: true,
    pjson: {...pjson, oclif: {...pjson.oclif, commands: './src/commands'}} as never,
    root: ROOT,
  })
  try {
    await plugin.load()
  } catch (error) {
    // oclif: "command ID not found" when a file under src/commands exports no command class
    const id = /command (\S+) not found/.exec((error as Error).message)?.[1]
    const file = files.find(([i]) => i === id)?.[1]
    if (file) throw new Error(`bundle: src/commands files without an oclif command: ${id} (${file})`)
    throw error
  }
  const manifest = plugin.manifest as unknown as Manifest
  const ids = Object.keys(manifest.commands).sort()
  const expected = files.map(([id]) => id)
  if (JSON.stringify(ids) !== JSON.stringify(expected)) {
    const missing = expected.filter((id) => !ids.includes(id))
    throw new Error(`bundle: src/commands files without an oclif command: ${missing.join(', ') || '(none)'}`)
  }
  return {commands: sortKeys(manifest.commands), version: pjson.version}
}

interface Vfs {
  files: Record<string, string>
  /** bundle-relative path → absolute source file to import */
  modules: Record<string, string>
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  )
}

/** A hook or command target of a plugin as a file, the way oclif's module loader resolves it. */
async function resolveTarget(base: string): Promise<string> {
  for (const candidate of [base, `${base}.js`, path.join(base, 'index.js')]) {
    if (await exists(candidate)) return candidate
  }
  throw new Error(`bundle: no module at ${path.relative(ROOT, base)}`)
}

function hookTargets(hooks: Record<string, unknown> | undefined): string[] {
  const targets: string[] = []
  for (const value of Object.values(hooks ?? {})) {
    for (const hook of Array.isArray(value) ? value : [value]) {
      targets.push(typeof hook === 'string' ? hook : (hook as {target: string}).target)
    }
  }
  return targets
}

async function collectVfs(): Promise<{commandIds: string[]; vfs: Vfs}> {
  const pjson = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson
  const files = await commandFiles()
  const manifest = await rootManifest(pjson, files)
  const vfs: Vfs = {files: {}, modules: {}}
  // what oclif reads of the root package.json (name, version, oclif, the plugins among the dependencies)
  const plugins = pjson.oclif.plugins ?? []
  vfs.files['package.json'] = JSON.stringify({
    dependencies: Object.fromEntries(plugins.map((p) => [p, pjson.dependencies?.[p] ?? '*'])),
    description: pjson.description,
    engines: pjson.engines,
    license: pjson.license,
    name: pjson.name,
    oclif: {...pjson.oclif, commands: './src/commands'},
    type: pjson.type,
    version: pjson.version,
  })
  vfs.files['oclif.manifest.json'] = JSON.stringify(manifest)
  for (const [id, file] of files) {
    const relativePath = manifest.commands[id].relativePath?.join('/')
    if (relativePath !== file) throw new Error(`bundle: oclif placed command ${id} at ${relativePath}, not ${file}`)
    vfs.modules[file] = path.join(ROOT, file)
  }
  for (const name of plugins) {
    const dir = path.join(ROOT, 'node_modules', name)
    const rel = path.posix.join('node_modules', name)
    const ppjson = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as PackageJson
    const pmanifest = JSON.parse(await readFile(path.join(dir, 'oclif.manifest.json'), 'utf8')) as Manifest
    if (pmanifest.version !== ppjson.version)
      throw new Error(`bundle: ${name}'s oclif.manifest.json is not its version's`)
    if (ppjson.oclif.plugins?.length) throw new Error(`bundle: ${name} has plugins of its own, which is not supported`)
    vfs.files[`${rel}/package.json`] = JSON.stringify({
      name: ppjson.name,
      oclif: ppjson.oclif,
      type: ppjson.type,
      version: ppjson.version,
    })
    vfs.files[`${rel}/oclif.manifest.json`] = JSON.stringify({...pmanifest, commands: sortKeys(pmanifest.commands)})
    const targets = [
      ...Object.values(pmanifest.commands).map((c) => path.join(dir, ...(c.relativePath ?? []))),
      ...hookTargets(ppjson.oclif.hooks).map((t) => path.join(dir, t)),
    ]
    for (const target of targets) {
      const file = await resolveTarget(target)
      vfs.modules[path.relative(ROOT, file).split(path.sep).join('/')] = file
    }
  }
  return {commandIds: files.map(([id]) => id), vfs: {files: sortKeys(vfs.files), modules: sortKeys(vfs.modules)}}
}

/** The 'repro-bundle:vfs' module: the embedded file table and the lookups the oclif patches use. */
function vfsSource(commandIds: string[], vfs: Vfs): string {
  const modules = Object.entries(vfs.modules)
    .map(([rel, file]) => `  [${JSON.stringify(rel)}, () => import(${JSON.stringify(file)})],`)
    .join('\n')
  return `import {dirname, isAbsolute, join, relative, sep} from 'node:path'
export const root = dirname(__filename)
export const commandIds = ${JSON.stringify(commandIds)}
const files = new Map(Object.entries(${JSON.stringify(vfs.files)}))
const modules = new Map([
${modules}
])
function key(file) {
  const rel = relative(root, file)
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? undefined : rel.split(sep).join('/')
}
export function readFile(file) {
  const k = key(file)
  return k === undefined ? undefined : files.get(k)
}
export function resolveModule(file) {
  const k = key(file)
  if (k === undefined) return undefined
  for (const candidate of [k, k + '.js', k + '/index.js']) {
    const load = modules.get(candidate)
    if (load) return {load, path: join(root, candidate)}
  }
  return undefined
}
export function packageRoot(name) {
  const dir = name === undefined ? '' : 'node_modules/' + name + '/'
  return files.has(dir + 'package.json') ? join(root, dir) .replace(/[\\\\/]$/, '') : undefined
}
`
}

/**
 * Appended to three of @oclif/core's CommonJS modules: each exported function asks the embedded table first
 * and falls back to the original (user-installed plugins still load from the disk). oclif calls these through
 * the exports object (`(0, fs_1.readJson)(...)`), so replacing the export is enough.
 */
const OCLIF_PATCHES: Record<string, string> = {
  'lib/module-loader.js': `
;{
  const vfs = require('repro-bundle:vfs')
  const {join, sep} = require('node:path')
  const original = {load: exports.load, loadWithData: exports.loadWithData, loadWithDataFromManifest: exports.loadWithDataFromManifest}
  exports.load = async (config, modulePath) => {
    const hit = vfs.resolveModule(modulePath)
    return hit ? hit.load() : original.load(config, modulePath)
  }
  exports.loadWithData = async (config, modulePath) => {
    const hit = vfs.resolveModule(modulePath)
    return hit ? {filePath: hit.path, isESM: true, module: await hit.load()} : original.loadWithData(config, modulePath)
  }
  exports.loadWithDataFromManifest = async (cached, root) => {
    const hit = cached.relativePath ? vfs.resolveModule(join(root, cached.relativePath.join(sep))) : undefined
    return hit ? {filePath: hit.path, isESM: true, module: await hit.load()} : original.loadWithDataFromManifest(cached, root)
  }
}`,
  'lib/util/find-root.js': `
;{
  const vfs = require('repro-bundle:vfs')
  const original = exports.findRoot
  exports.findRoot = async (name, root) => vfs.packageRoot(name) ?? original(name, root)
}`,
  'lib/util/fs.js': `
;{
  const vfs = require('repro-bundle:vfs')
  const original = {existsSync: exports.existsSync, readJson: exports.readJson}
  exports.readJson = async (file, useCache) => {
    const text = vfs.readFile(file)
    return text === undefined ? original.readJson(file, useCache) : JSON.parse(text)
  }
  exports.safeReadJson = async (file, useCache) => {
    try {
      return await exports.readJson(file, useCache)
    } catch {}
  }
  exports.existsSync = (file) => vfs.readFile(file) !== undefined || original.existsSync(file)
}`,
}

/**
 * The file written: a small ES module that runs the CLI, a CommonJS program embedded as a string, through
 * node's vm with V8's code cache. Compiling the 1.4 MB program is about a third of the start-up; with the
 * cache (written once per program and node version, at exit, under $XDG_CACHE_HOME/repro or ~/.cache/repro;
 * REPRO_NO_COMPILE_CACHE=1 turns it off; a cache V8 rejects is rewritten) the next start deserializes instead
 * (measured: 158 -> 112 ms of CPU for `repro analyze`). Node 22's module.enableCompileCache does the same for
 * files, but the bundle must start on node 20.
 */
function wrapperSource(program: string): string {
  const sha = createHash('sha256').update(program).digest('hex')
  return `#!/usr/bin/env node
// repro, the whole CLI in one file: \`node repro.mjs --help\`. Generated by scripts/bundle.ts (npm run bundle): do not edit.
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import {homedir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import vm from 'node:vm'
const PROGRAM = ${JSON.stringify(program)}
const file = fileURLToPath(import.meta.url)
const cacheFile = process.env.REPRO_NO_COMPILE_CACHE
  ? undefined
  : join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'repro', 'compile-cache', '${sha.slice(0, 24)}-' + process.version + '-' + process.arch + '.v8')
let cachedData
try {
  if (cacheFile) cachedData = readFileSync(cacheFile)
} catch {}
const script = new vm.Script(Module.wrap(PROGRAM), {
  cachedData,
  filename: file,
  importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
})
if (cacheFile && (!cachedData || script.cachedDataRejected)) {
  process.once('exit', () => {
    try {
      mkdirSync(dirname(cacheFile), {recursive: true})
      const partial = cacheFile + '.' + process.pid
      writeFileSync(partial, script.createCachedData())
      renameSync(partial, cacheFile)
    } catch {}
  })
}
const module = {children: [], exports: {}, filename: file, id: '.', loaded: false, path: dirname(file)}
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
`
}

export async function bundle(outfile: string): Promise<{bytes: number; sha256: string}> {
  const {commandIds, vfs} = await collectVfs()
  const patched = new Set<string>()
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    bundle: true,
    charset: 'utf8',
    entryPoints: [path.join(ROOT, 'scripts', 'bundle-entry.ts')],
    // oclif requires typescript only to map compiled paths back to sources (util/read-tsconfig.js), which the
    // bundle turns off (settings.enableAutoTranspile = false); bundling it would add 10 MB;
    // and the CycloneDX library's optional plugins (XML writers/validators, a draft-2019 ajv format set) are
    // tried with require() in a try/catch at run time and never installed: repro writes CycloneDX JSON only
    external: ['typescript', 'ajv-formats-draft2019', 'libxmljs2', 'xmlbuilder2'],
    format: 'cjs',
    // class names are part of the output (error names in --json documents come from new.target.name)
    keepNames: true,
    legalComments: 'eof',
    logLevel: 'warning',
    minifySyntax: true,
    minifyWhitespace: true,
    outfile,
    platform: 'node',
    // module keys in the output are paths relative to the repository: keep node_modules/... even when
    // node_modules is a symlink (a work tree's), so every checkout gives the same bytes
    preserveSymlinks: true,
    plugins: [
      {
        name: 'repro-bundle',
        setup(build) {
          build.onResolve({filter: /^repro-bundle:vfs$/}, () => ({namespace: 'repro-bundle', path: 'vfs'}))
          build.onLoad({filter: /^vfs$/, namespace: 'repro-bundle'}, () => ({
            contents: vfsSource(commandIds, vfs),
            loader: 'js',
            resolveDir: ROOT,
          }))
          // @oclif/plugin-not-found imports only `confirm` from @inquirer/prompts, whose index also pulls in
          // the editor prompt with iconv-lite and chardet: 0.7 MB (a third of the bundle) that every start-up
          // would parse. Only confirm, then; another named import fails the build ("No matching export").
          build.onResolve({filter: /^@inquirer\/prompts$/}, (args) => {
            // node's lookup of the package, on the repository's paths: its own @inquirer/confirm, not the hoisted one
            let dir = args.resolveDir
            while (!existsSync(path.join(dir, 'node_modules', '@inquirer', 'prompts', 'package.json'))) {
              if (path.dirname(dir) === dir) throw new Error(`bundle: no @inquirer/prompts above ${args.resolveDir}`)
              dir = path.dirname(dir)
            }
            return {
              namespace: 'repro-bundle',
              path: 'inquirer-prompts',
              pluginData: path.join(dir, 'node_modules', '@inquirer', 'prompts'),
            }
          })
          build.onLoad({filter: /^inquirer-prompts$/, namespace: 'repro-bundle'}, (args) => ({
            contents: "export {default as confirm} from '@inquirer/confirm'\n",
            loader: 'js',
            resolveDir: args.pluginData as string,
          }))
          build.onLoad({filter: /[\\/]@oclif[\\/]core[\\/]lib[\\/].*\.js$/}, async (args) => {
            const rel = args.path
              .split(path.sep)
              .join('/')
              .replace(/^.*\/@oclif\/core\//, '')
            const patch = OCLIF_PATCHES[rel]
            if (!patch) return undefined
            patched.add(rel)
            return {contents: (await readFile(args.path, 'utf8')) + patch, loader: 'js'}
          })
        },
      },
    ],
    sourcemap: false,
    target: 'node20',
    write: false,
  })
  for (const rel of Object.keys(OCLIF_PATCHES)) {
    if (!patched.has(rel)) throw new Error(`bundle: @oclif/core/${rel} was not bundled: the oclif patch did not apply`)
  }
  if (result.errors.length > 0) throw new Error('bundle: esbuild failed')
  const bytes = Buffer.from(wrapperSource(result.outputFiles[0].text))
  await writeFile(outfile, bytes)
  if (bytes.includes(ROOT)) throw new Error(`bundle: ${outfile} holds the absolute path ${ROOT}`)
  return {bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex')}
}

const README = path.join(ROOT, 'README.md')
const sizeRow = (bytes: number) => `| size | ${bytes.toLocaleString('en-US')} bytes |`
const shaRow = (sha256: string) => `| sha256 | \`${sha256}\` (this commit's sources) |`

/** README's size and sha256 rows of the committed bundle, rewritten so the README stays true (`npm run bundle`). */
async function writeReadmeRows(built: {bytes: number; sha256: string}): Promise<void> {
  const text = await readFile(README, 'utf8')
  const next = text
    .replace(/^\| size \| [\d,]+ bytes \|$/m, sizeRow(built.bytes))
    .replace(/^\| sha256 \| `[0-9a-f]{64}` \(this commit's sources\) \|$/m, shaRow(built.sha256))
  if (next !== text) await writeFile(README, next)
}

async function readmeRowsMatch(built: {bytes: number; sha256: string}): Promise<boolean> {
  const text = await readFile(README, 'utf8')
  const lines = new Set(text.split('\n'))
  return lines.has(sizeRow(built.bytes)) && lines.has(shaRow(built.sha256))
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--check')) {
    const dir = await mkdtemp(path.join(tmpdir(), 'repro-bundle-'))
    try {
      const fresh = path.join(dir, 'repro.mjs')
      const built = await bundle(fresh)
      const committed = await readFile(BUNDLE).catch(() => undefined)
      const same = committed !== undefined && committed.equals(await readFile(fresh))
      if (!same) {
        process.stderr.write(
          `bundle: ${path.relative(ROOT, BUNDLE)} is not the bundle of these sources (rebuilt: ${built.bytes} bytes, sha256 ${built.sha256}): run \`npm run bundle\` and commit it\n`,
        )
        return 1
      }
      if (!(await readmeRowsMatch(built))) {
        process.stderr.write(
          `bundle: README.md's size and sha256 rows are not ${built.bytes} bytes and ${built.sha256}: run \`npm run bundle\` and commit README.md\n`,
        )
        return 1
      }
      process.stdout.write(
        `bundle: ${path.relative(ROOT, BUNDLE)} is up to date (${built.bytes} bytes, sha256 ${built.sha256})\n`,
      )
      return 0
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  }
  const i = argv.indexOf('--outfile')
  const outfile = i === -1 ? BUNDLE : path.resolve(argv[i + 1])
  const built = await bundle(outfile)
  if (outfile === BUNDLE) await writeReadmeRows(built)
  process.stdout.write(`${path.relative(process.cwd(), outfile)}: ${built.bytes} bytes, sha256 ${built.sha256}\n`)
  return 0
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2))
}
