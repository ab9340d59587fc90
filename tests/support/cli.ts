/**
 * Run the built CLI (bin/run.js over dist/) as a child process. `npm test` builds first; when running a
 * single test file, run `npm run build` before it.
 */
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface CliResult {
  code: number | null
  stderr: string
  stdout: string
}

export async function runCli(
  args: string[],
  options: {cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number} = {},
): Promise<CliResult> {
  if (!existsSync(path.join(ROOT, 'dist', 'commands'))) {
    throw new Error('dist/ is missing: run `npm run build` before running tests one by one (npm test builds first)')
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: {...process.env, NO_COLOR: '1', ...options.env},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr, stdout})
    })
    child.stdin.end(options.input ?? '')
  })
}
