/**
 * Run `repro diff` as a child process via ./bin/dev.js (its shebang loads tsx, so src/ runs as is).
 * oclif reads oclif.manifest.json whenever it exists, even in development mode; until the manifest lists
 * `diff`, the same sources run through a root plugin loaded with ignoreManifest (dev-no-manifest.ts).
 */
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface DevResult {
  code: number | null
  stderr: string
  stdout: string
}

function manifestHas(command: string): boolean {
  try {
    const m = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands?: object}
    return Boolean(m.commands && command in m.commands)
  } catch {
    return true // no manifest: bin/dev.js finds commands in src/
  }
}

export async function runDev(
  args: string[],
  options: {env?: Record<string, string | undefined>; timeoutMs?: number} = {},
): Promise<DevResult> {
  const argv = manifestHas(args[0])
    ? [path.join(ROOT, 'bin', 'dev.js'), ...args]
    : [
        process.execPath,
        '--import',
        'tsx',
        '--no-warnings',
        path.join(ROOT, 'tests', 'support', 'dev-no-manifest.ts'),
        ...args,
      ]
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env: {...process.env, NO_COLOR: '1', ...options.env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr, stdout})
    })
  })
}
