/** Run `repro diff` (or any command) through the built CLI; see cli.ts. */
import {runCli, type CliResult} from './cli.js'

export {ROOT} from './cli.js'
export type DevResult = CliResult

export async function runDev(
  args: string[],
  options: {env?: Record<string, string | undefined>; timeoutMs?: number} = {},
): Promise<DevResult> {
  return runCli(args, {env: options.env, timeoutMs: options.timeoutMs ?? 300_000})
}
