import type {BuildResult} from '../engine/run.js'

/** stdout of `repro build`: the commands with --dry; else one `DIGEST  PATH` line per tarball. */
export function renderBuild(result: BuildResult): string {
  if (result.dry) return result.commands.join('\n')
  return result.outputs
    .map((o) => `${o.digest ?? '(no single image digest)'}  ${o.path}${o.platform ? `  (${o.platform})` : ''}`)
    .join('\n')
}
