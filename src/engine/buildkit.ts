/**
 * The buildctl build command (shared by the podman runtime, which runs it in a container, and the buildkit
 * runtime, which sends it to an existing daemon), and parsers for buildctl's version output.
 */
import path from 'node:path'

import {formatCsvPairs, secretArg} from './args.js'
import {
  type Arg,
  type BuildOptions,
  type EngineFiles,
  execStep,
  exporterAttrs,
  type Facts,
  type PlannedOutput,
  REDACTED,
  type Step,
  type TlsFiles,
} from './types.js'

// docker.ts takes the secret argument from here too
export {secretArg} from './args.js'

/** How buildctl sees the host paths (the same paths on the host, other paths inside a container). */
export interface BuildctlPaths {
  context: string
  dockerfileDir: string
  dest(output: PlannedOutput): string
  buildContext(index: number, hostPath: string): string
  secretSrc(index: number, hostPath: string): string
  /** the source policy file, as buildctl sees it */
  policy?: string
}

const RESERVED_LOCALS = new Set(['context', 'dockerfile'])

/** The name a build context gets as a buildctl --local / --oci-layout store (must not clash with ours). */
export function contextStoreName(name: string, index: number): string {
  return /^[\w.-]+$/.test(name) && !RESERVED_LOCALS.has(name) ? name : `context-${index}`
}

/** `buildctl build ...` arguments (after `buildctl [--addr A]`) for one output. */
export function buildctlBuildArgs(
  options: BuildOptions,
  facts: Facts,
  out: PlannedOutput,
  paths: BuildctlPaths,
): Arg[] {
  const args: Arg[] = [
    'build',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `context=${paths.context}`,
    '--local',
    `dockerfile=${paths.dockerfileDir}`,
    '--opt',
    `filename=${path.basename(options.dockerfile)}`,
    '--opt',
    `build-arg:SOURCE_DATE_EPOCH=${options.sde.epoch}`,
  ]
  for (const a of options.buildArgs) args.push('--opt', `build-arg:${a}`)
  if (out.platforms.length > 0) args.push('--opt', `platform=${out.platforms.join(',')}`)
  if (options.target) args.push('--opt', `target=${options.target}`)
  options.buildContexts.forEach((c, i) => {
    const store = contextStoreName(c.name, i)
    if (c.kind === 'dir') {
      args.push('--local', `${store}=${paths.buildContext(i, c.path)}`, '--opt', `context:${c.name}=local:${store}`)
    } else if (c.kind === 'oci-layout') {
      const digest = c.digest ?? facts.ociLayoutDigests[c.name]
      args.push(
        '--oci-layout',
        `${store}=${paths.buildContext(i, c.path)}`,
        '--opt',
        `context:${c.name}=oci-layout://${store}${digest ? `@${digest}` : ''}`,
      )
    } else {
      args.push('--opt', `context:${c.name}=${c.value}`)
    }
  })
  options.secrets.forEach((s, i) => {
    args.push('--secret', secretArg(s, s.src === undefined ? undefined : paths.secretSrc(i, s.src)))
  })
  if (options.noCache) args.push('--no-cache')
  args.push('--output', formatCsvPairs(exporterAttrs(options, paths.dest(out))))
  if (paths.policy !== undefined) args.push('--source-policy-file', paths.policy)
  args.push(...options.buildkitArgs)
  return args
}

/** Hide credentials in a daemon address (tcp://user:token@host:1234). */
export function redactAddr(addr: string): Arg {
  const shown = addr.replace(/^([a-z0-9+.-]+:\/\/)[^/@]*@/i, `$1${REDACTED}@`)
  return shown === addr ? addr : {value: addr, shown}
}

/**
 * buildctl's global connection flags: the address (credentials hidden) and the client TLS files. The paths
 * are shown as they are (a path is not a secret; the key's content never appears).
 */
export function buildctlConnArgs(addr: string, tls: TlsFiles | undefined): Arg[] {
  const args: Arg[] = ['--addr', redactAddr(addr)]
  if (tls?.ca) args.push('--tlscacert', tls.ca)
  if (tls?.cert) args.push('--tlscert', tls.cert)
  if (tls?.key) args.push('--tlskey', tls.key)
  if (tls?.serverName) args.push('--tlsservername', tls.serverName)
  return args
}

/** The buildkit runtime: buildctl talks to an existing daemon (local socket, tcp, kube-pod://, ...). */
export function buildkitSteps(
  options: BuildOptions,
  facts: Facts,
  outputs: PlannedOutput[],
  files: EngineFiles = {},
): Step[] {
  const addr = facts.buildkitAddr ?? ''
  const paths: BuildctlPaths = {
    context: options.context,
    dockerfileDir: path.dirname(options.dockerfile),
    dest: (o) => o.partial,
    buildContext: (_i, p) => p,
    secretSrc: (_i, p) => p,
    policy: files.policy,
  }
  return outputs.map((o) =>
    execStep(
      ['buildctl', ...buildctlConnArgs(addr, options.tls), ...buildctlBuildArgs(options, facts, o, paths)],
      `build${o.platform ? ` ${o.platform}` : ''} on the BuildKit daemon`,
    ),
  )
}

/** `buildctl --version`: "buildctl github.com/moby/buildkit v0.13.2 <commit>" */
export function parseBuildctlVersion(stdout: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+[\w.+-]*)/.exec(stdout.replace(/^buildctl\s+\S+\s+/, ''))?.[0]
}

/** `buildctl debug info`: "BuildKit: github.com/moby/buildkit v0.32.2 <commit>" */
export function parseBuildkitInfo(stdout: string): string | undefined {
  const line = /^BuildKit:\s*(.*)$/im.exec(stdout)?.[1]
  if (!line) return undefined
  return /\bv\d+\.\d+\.\d+[\w.+-]*/.exec(line)?.[0]
}
