/**
 * Run the CLI as a child process: the built bin/run.js over dist/ (`npm test` builds first; when running a
 * single test file, run `npm run build` before it), or, when REPRO_CLI is set, that script instead (a path
 * relative to the repository or absolute), e.g. `REPRO_CLI=action/repro.mjs` for the single-file bundle
 * (`npm run test:bundle` runs e2e tests so).
 */
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The script every test runs the CLI with (see above). */
export const CLI = process.env.REPRO_CLI ? path.resolve(ROOT, process.env.REPRO_CLI) : path.join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  stderr: string
  stdout: string
}

export async function runCli(
  args: string[],
  options: {cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number} = {},
): Promise<CliResult> {
  if (process.env.REPRO_CLI ? !existsSync(CLI) : !existsSync(path.join(ROOT, 'dist', 'commands'))) {
    throw new Error(
      process.env.REPRO_CLI
        ? `REPRO_CLI=${process.env.REPRO_CLI}: no such file (npm run bundle writes action/repro.mjs)`
        : 'dist/ is missing: run `npm run build` before running tests one by one (npm test builds first)',
    )
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
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
