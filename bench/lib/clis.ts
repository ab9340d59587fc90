/**
 * The CLIs the start-up benches compare, each as a whole process: repro from the single-file bundle
 * (action/repro.mjs, rebuilt from the sources into a temp dir), repro as an npm install (bin/run.js over a
 * freshly compiled dist/ with oclif.manifest.json, node_modules beside it), and the peer, repro-build 2.0.0
 * from PyPI, installed with pip into a venv under bench/out/.
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {copyFile, mkdir, mkdtemp, rm, symlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PEER_VERSION = '2.0.0'

export function run(
  file: string,
  args: string[],
  options: {cwd?: string; env?: NodeJS.ProcessEnv} = {},
): Promise<{ms: number; stderr: string; stdout: string}> {
  const t0 = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024},
      (e, o, s) => {
        if (e) reject(new Error(`${file} ${args.join(' ')} failed: ${s.slice(-2000)}`))
        else resolve({ms: Number(process.hrtime.bigint() - t0) / 1e6, stderr: s, stdout: o})
      },
    )
  })
}

export interface Clis {
  /** argv prefixes */
  bundle: string[]
  cleanup: () => Promise<void>
  npm: string[]
  peer: string[]
}

/** repro-build from PyPI in bench/out/repro-build-venv (created once; pip install -q repro-build==2.0.0). */
export async function peerCli(): Promise<string[]> {
  const venv = path.join(ROOT, 'bench', 'out', `repro-build-${PEER_VERSION}-venv`)
  const bin = path.join(venv, 'bin', 'repro-build')
  if (!existsSync(bin)) {
    await mkdir(path.dirname(venv), {recursive: true})
    await run('python3', ['-m', 'venv', venv])
    await run(path.join(venv, 'bin', 'pip'), [
      'install',
      '-q',
      '--disable-pip-version-check',
      `repro-build==${PEER_VERSION}`,
    ])
  }
  return [bin]
}

export async function clis(): Promise<Clis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'repro-bench-clis-'))
  // the bundle, rebuilt from the sources (the committed one may lag while others edit)
  const bundle = path.join(dir, 'bundle', 'repro.mjs')
  await mkdir(path.dirname(bundle))
  await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bundle.ts'), '--outfile', bundle])
  // the npm install: package.json, bin/run.js, a freshly compiled dist/, its oclif manifest, node_modules
  const pkg = path.join(dir, 'pkg')
  await mkdir(path.join(pkg, 'bin'), {recursive: true})
  await copyFile(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'))
  await copyFile(path.join(ROOT, 'bin/run.js'), path.join(pkg, 'bin/run.js'))
  await symlink(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'))
  await run(process.execPath, [
    path.join(ROOT, 'node_modules/typescript/bin/tsc'),
    '-p',
    path.join(ROOT, 'tsconfig.json'),
    '--outDir',
    path.join(pkg, 'dist'),
  ]).catch(() => undefined) // type errors elsewhere in the tree still emit JavaScript
  if (!existsSync(path.join(pkg, 'dist/commands/build.js'))) throw new Error('tsc did not emit dist/commands/build.js')
  await run(process.execPath, [path.join(ROOT, 'node_modules/oclif/bin/run.js'), 'manifest'], {cwd: pkg})
  return {
    bundle: [process.execPath, bundle],
    cleanup: () => rm(dir, {force: true, recursive: true}),
    npm: [process.execPath, path.join(pkg, 'bin/run.js')],
    peer: await peerCli(),
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Wall ms and client CPU ms (user + sys of the process and its children, from /usr/bin/time). */
export async function timed(
  argv: string[],
  options: {cwd?: string; env?: NodeJS.ProcessEnv} = {},
): Promise<{cpu: number; ms: number; stdout: string}> {
  const r = await run('/usr/bin/time', ['-f', 'CPU %U %S', ...argv], options)
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr)
  if (!m) throw new Error(`no /usr/bin/time line in: ${r.stderr.slice(-500)}`)
  return {cpu: (Number(m[1]) + Number(m[2])) * 1000, ms: r.ms, stdout: r.stdout}
}
