/**
 * Fixtures for the package tests: real .deb files (from the test bed when it is up, else `apt-get download`
 * into a temp dir), a pool/ layout with a SHA256SUMS, apt lists made from them, a local HTTP server with
 * misbehaving routes, and the CLI run from the sources (tsx, no build needed).
 */
import {execFile, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {copyFile, mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

import {CLI} from './cli.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const STATE_FILE = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'
const run = promisify(execFile)

export interface TestbedState {
  debs?: {
    dir: string
    sha256sums: string
    packages: {name: string; version: string; architecture: string; filename: string; sha256: string; path: string}[]
  }
  images?: {debian?: {rootfsTar: string; rootfsEpoch?: number}}
  registry?: {ok: boolean; address: string}
}

export function readTestbedState(): TestbedState | undefined {
  if (!existsSync(STATE_FILE)) return undefined
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as TestbedState
}

export interface Deb {
  package: string
  version: string
  architecture: string
  /** pool/main/h/hello/hello_2.10-3_amd64.deb */
  filename: string
  sha256: string
  size: number
  /** absolute path of the file under the pool dir */
  path: string
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/**
 * Lay out real .debs as an archive pool under `dir` (dir/pool/main/<x>/<pkg>/<file>) and return them.
 * Source: the test bed's debs when present, else `apt-get download` of `names`.
 */
export async function realDebs(dir: string, names = ['hello', 'sl', 'cowsay']): Promise<Deb[]> {
  const state = readTestbedState()
  let files: string[]
  if (state?.debs?.packages.length) {
    files = state.debs.packages.filter((p) => names.includes(p.name)).map((p) => p.path)
  } else {
    const dl = path.join(dir, '.download')
    await mkdir(dl, {recursive: true})
    await run('apt-get', ['download', ...names], {cwd: dl})
    files = (await readdir(dl)).filter((n) => n.endsWith('.deb')).map((n) => path.join(dl, n))
  }
  const debs: Deb[] = []
  for (const f of files.sort()) {
    const {stdout} = await run('dpkg-deb', ['--field', f, 'Package', 'Version', 'Architecture'])
    const fields = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
    )
    const pkg = fields.Package
    const filename = `pool/main/${pkg[0]}/${pkg}/${path.basename(f)}`
    const dest = path.join(dir, filename)
    await mkdir(path.dirname(dest), {recursive: true})
    await copyFile(f, dest)
    const data = await readFile(dest)
    debs.push({
      package: pkg,
      version: fields.Version,
      architecture: fields.Architecture,
      filename,
      sha256: sha256(data),
      size: data.length,
      path: dest,
    })
  }
  return debs
}

export function sumsText(debs: Deb[]): string {
  return [...debs]
    .sort((a, b) => (a.filename < b.filename ? -1 : 1))
    .map((d) => `${d.sha256}  ${d.filename}\n`)
    .join('')
}

/** An apt Packages paragraph list for the debs (as apt-ftparchive would write the fields we read). */
export function packagesText(debs: Deb[]): string {
  return debs
    .map(
      (d) =>
        `Package: ${d.package}\nVersion: ${d.version}\nArchitecture: ${d.architecture}\nDescription: test\n long text\nFilename: ${d.filename}\nSize: ${d.size}\nSHA256: ${d.sha256}\n`,
    )
    .join('\n')
}

/** A root filesystem with a dpkg status saying `installed` are installed, and apt lists for `listed`. */
export async function makeDpkgRoot(
  root: string,
  installed: {package: string; version: string; architecture: string}[],
  listed: Deb[],
): Promise<void> {
  await mkdir(path.join(root, 'var/lib/dpkg'), {recursive: true})
  await mkdir(path.join(root, 'var/lib/apt/lists'), {recursive: true})
  await mkdir(path.join(root, 'etc'), {recursive: true})
  await writeFile(
    path.join(root, 'etc/os-release'),
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
  )
  await writeFile(
    path.join(root, 'var/lib/dpkg/status'),
    installed
      .map(
        (p) =>
          `Package: ${p.package}\nStatus: install ok installed\nArchitecture: ${p.architecture}\nVersion: ${p.version}\n`,
      )
      .join('\n'),
  )
  await writeFile(
    path.join(root, 'var/lib/apt/lists/mirror_debian_dists_bookworm_main_binary-amd64_Packages'),
    packagesText(listed),
  )
}

export type Route = (req: IncomingMessage, res: ServerResponse, rest: string) => void

/** A local HTTP server on 127.0.0.1 (random port) dispatching on the first path element. */
export async function startServer(
  routes: Record<string, Route>,
): Promise<{server: Server; base: string; hits: string[]}> {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(req.url ?? '')
    const url = new URL(req.url ?? '/', 'http://x')
    const [, first, ...rest] = decodeURIComponent(url.pathname).split('/')
    const route = routes[first]
    if (!route) {
      res.writeHead(404).end('not found')
      return
    }
    route(req, res, rest.join('/'))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const {port} = server.address() as AddressInfo
  return {server, base: `http://127.0.0.1:${port}`, hits}
}

export function serveDir(dir: string, transform?: (b: Buffer) => Buffer): Route {
  return (_req, res, rest) => {
    const file = path.join(dir, rest)
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end()
      return
    }
    const data = readFileSync(file)
    const body = transform ? transform(data) : data
    res.writeHead(200, {'content-length': body.length}).end(body)
  }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** The CLI of the tests (bin/run.js over dist/, or REPRO_CLI: see cli.ts). */
export async function repro(
  args: string[],
  env: Record<string, string | undefined> = {},
  cwd = ROOT,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: {...process.env, NO_COLOR: '1', ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}
