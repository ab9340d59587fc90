/**
 * Probing the machine: which runtime, which versions, whether the builder exists, which digest an
 * oci-layout build context holds. Every probe is a read-only command through the Exec seam. With --dry,
 * what cannot be probed is assumed and said so (Facts.assumptions); without it, it is an error.
 */
import {readFile, stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import {connect} from 'node:tls'
import path from 'node:path'
// the two functions, not the whole package: every millisecond of start-up is overhead on each build
import coerce from 'semver/functions/coerce.js'
import lt from 'semver/functions/lt.js'

import {EngineNotFoundError, InvalidArgumentError, tail} from '../errors.js'
import type {Exec, ExecResult} from '../exec.js'
import {pinnedDigest} from '../verify/attestation.js'
import {builderName, builderStaleReason, parseBuildxInspect, parseBuildxInstance, parseBuildxVersion} from './docker.js'
import {buildctlConnArgs, parseBuildctlVersion, parseBuildkitInfo, redactAddr} from './buildkit.js'
import {checkBuildahOptions, checkBuildahVersion, ociLayoutRefs, parseBuildahVersion} from './buildah.js'
import {
  type Arg,
  type BuildOptions,
  DEFAULT_BUILDKIT_ADDR,
  type Facts,
  MIN_BUILDKIT_VERSION,
  plannedOutputs,
  type Runtime,
  type ServedBuildkit,
  type TlsFiles,
} from './plan.js'

export interface ProbeInput {
  /** --runtime / REPRO_RUNTIME */
  runtime?: Runtime
  /** --buildkit-addr */
  buildkitAddr?: string
  /** BUILDKIT_HOST */
  buildkitHost?: string
  /** DOCKER_HOST and DOCKER_CONFIG, to find buildx's record of our builder */
  dockerHost?: string
  dockerConfig?: string
  dry: boolean
}

const PROBE_TIMEOUT_MS = 30_000

async function tryRun(exec: Exec, argv: string[]): Promise<ExecResult> {
  try {
    return await exec(argv, {reject: false, timeoutMs: PROBE_TIMEOUT_MS})
  } catch (error) {
    return {argv, exitCode: undefined, stderr: String(error), stdout: '', notFound: true}
  }
}

function why(r: ExecResult): string {
  if (r.notFound) return `${r.argv[0]}: not found in PATH`
  const t = tail(r.stderr || r.stdout, 1).trim()
  return `${r.argv.join(' ')} exited with ${r.exitCode ?? 'unknown'}${t ? `: ${t}` : ''}`
}

const ok = (r: ExecResult) => !r.notFound && r.exitCode === 0

/** The version a BuildKit image tag names (`moby/buildkit:v0.32.2-rootless@sha256:...` → 0.32.2). */
export function imageTagVersion(image: string): string | undefined {
  const noDigest = image.split('@')[0]
  const slash = noDigest.lastIndexOf('/')
  const colon = noDigest.lastIndexOf(':')
  if (colon <= slash) return undefined
  const tag = noDigest.slice(colon + 1)
  if (!/^v?\d+\.\d+(\.\d+)?([-+].*)?$/.test(tag)) return undefined
  return coerce(tag)?.version
}

/** rewrite-timestamp needs BuildKit >= 0.13: say so before anything runs. */
export function checkBuildkitVersion(version: string | undefined, where: string): void {
  if (version === undefined) return
  const v = coerce(version)
  if (v && lt(v, MIN_BUILDKIT_VERSION)) {
    throw new EngineNotFoundError(
      `${where} is BuildKit ${version}: rewrite-timestamp needs BuildKit >= ${MIN_BUILDKIT_VERSION.replace(/\.0$/, '')}`,
      ['pass a newer image with --buildkit-image (default: the pinned moby/buildkit v0.32.2)'],
    )
  }
}

export async function probe(options: BuildOptions, input: ProbeInput, exec: Exec): Promise<Facts> {
  const facts: Facts = {
    runtime: input.runtime ?? 'docker',
    missingDirs: [],
    ociLayoutDigests: {},
    assumptions: [],
  }
  const assume = (problem: string, assumption: string) => {
    if (!input.dry) throw new EngineNotFoundError(problem)
    facts.assumptions.push(`${problem}; assuming ${assumption}`)
  }

  // which runtime
  let dockerProbe: ExecResult | undefined
  if (input.runtime === undefined) {
    const tried: string[] = []
    // TLS files only make sense for a BuildKit daemon: with BUILDKIT_HOST they select it as --buildkit-addr does
    if (input.buildkitAddr || (options.tls && input.buildkitHost)) {
      facts.runtime = 'buildkit'
    } else {
      dockerProbe = await tryRun(exec, ['docker', 'version', '--format', '{{.Server.Version}}'])
      if (ok(dockerProbe)) facts.runtime = 'docker'
      else {
        tried.push(`docker (${why(dockerProbe)})`)
        const p = await tryRun(exec, ['podman', 'version', '--format', '{{.Client.Version}}'])
        if (ok(p)) {
          facts.runtime = 'podman'
          facts.runtimeVersion = p.stdout.trim()
        } else {
          tried.push(`podman (${why(p)})`)
          if (input.buildkitHost) facts.runtime = 'buildkit'
          else {
            tried.push('a BuildKit daemon (BUILDKIT_HOST is not set and no --buildkit-addr)')
            const problem = `no container runtime found: looked for ${tried.join(', ')}`
            if (!input.dry) {
              throw new EngineNotFoundError(problem, [
                'install Docker (with the buildx plugin) or Podman, or point --buildkit-addr at a BuildKit daemon',
              ])
            }
            facts.assumptions.push(`${problem}; assuming docker`)
            facts.runtime = 'docker'
            dockerProbe = undefined
          }
        }
      }
    }
  }

  if (facts.runtime === 'buildah') {
    // native: no BuildKit to find, pin or check
    await probeBuildah(options, facts, exec, assume)
    await probeFiles(options, facts)
    facts.ociLayoutRefs = await ociLayoutRefs(options, facts)
    return facts
  }
  if (facts.runtime === 'docker') await probeDocker(options, facts, exec, assume, dockerProbe, input)
  else if (facts.runtime === 'podman') await probePodman(options, facts, exec, assume)
  else await probeBuildkit(options, facts, exec, assume, input)

  if (facts.runtime !== 'buildkit' && facts.buildkitVersion === undefined) {
    const v = imageTagVersion(options.buildkitImage)
    if (v) {
      facts.buildkitVersion = `v${v}`
      facts.buildkitVersionFrom = 'the image tag'
    }
  }
  if (facts.buildkitVersion === undefined && facts.assumptions.length === 0) {
    facts.assumptions.push(
      `cannot tell the BuildKit version of ${facts.runtime === 'buildkit' ? 'the daemon' : options.buildkitImage} before it runs; rewrite-timestamp needs >= 0.13`,
    )
  }
  checkBuildkitVersion(
    facts.buildkitVersion,
    facts.runtime === 'buildkit' ? `the daemon at ${facts.buildkitAddr}` : options.buildkitImage,
  )
  if (facts.served) checkPin(options, facts.served)

  await probeFiles(options, facts)
  return facts
}

type Assume = (problem: string, assumption: string) => void

async function probeDocker(
  options: BuildOptions,
  facts: Facts,
  exec: Exec,
  assume: Assume,
  dockerProbe: ExecResult | undefined,
  input: ProbeInput,
): Promise<void> {
  if (options.builder) {
    await probeNamedBuilder(options, options.builder, facts, exec, assume, dockerProbe)
    return
  }
  const name = builderName(options.buildkitImage)
  facts.builder = {name, exists: false}
  if (facts.assumptions.length > 0) {
    facts.assumptions.push(`assuming the builder ${name} does not exist yet`)
    return
  }
  // Warm path: buildx's record of our builder and the plugin file spare `docker buildx inspect` and
  // `docker buildx version` (each starts the docker CLI and the plugin twice: 0.15-0.3 s).
  const dockerConfig = input.dockerConfig || path.join(homedir(), '.docker')
  const instanceFile = path.join(dockerConfig, 'buildx', 'instances', name)
  const [instanceText, plugin] = await Promise.all([
    readFile(instanceFile, 'utf8').catch(() => ''),
    findBuildxPlugin(dockerConfig),
  ])
  const instance = parseBuildxInstance(instanceText)
  const warm = instance !== undefined && plugin !== undefined
  // the probes are independent: run them together
  const [v, bx, inspect] = await Promise.all([
    dockerProbe ?? tryRun(exec, ['docker', 'version', '--format', '{{.Server.Version}}']),
    warm ? undefined : tryRun(exec, ['docker', 'buildx', 'version']),
    instance ? undefined : tryRun(exec, ['docker', 'buildx', 'inspect', name]),
  ])
  if (!ok(v)) {
    assume(`docker is not usable: ${why(v)}`, 'a docker with buildx and no builder yet')
    return
  }
  facts.runtimeVersion = v.stdout.trim()
  if (bx && !ok(bx)) {
    // a missing plugin is a clear error even with --dry: docker is here, it just cannot build
    throw new EngineNotFoundError(`the docker buildx plugin is missing or broken (${why(bx)})`, [
      'install buildx as ~/.docker/cli-plugins/docker-buildx (or $DOCKER_CONFIG/cli-plugins/docker-buildx)',
      'or use --runtime podman / --runtime buildkit',
    ])
  }
  facts.buildxVersion = bx ? parseBuildxVersion(bx.stdout) : `(not probed: plugin ${plugin})`
  const found = instance ?? (inspect && ok(inspect) ? parseBuildxInspect(inspect.stdout) : undefined)
  if (found) {
    const stale = builderStaleReason(found, options.buildkitImage, input.dockerHost)
    facts.builder = {name, exists: true, image: found.image, buildkitVersion: found.buildkitVersion, stale}
    if (!stale && found.buildkitVersion) {
      facts.buildkitVersion = found.buildkitVersion
      facts.buildkitVersionFrom = `the builder ${name}`
    }
  }
}

async function probePodman(options: BuildOptions, facts: Facts, exec: Exec, assume: Assume): Promise<void> {
  if (facts.runtimeVersion === undefined) {
    const p = await tryRun(exec, ['podman', 'version', '--format', '{{.Client.Version}}'])
    if (!ok(p)) {
      assume(`podman is not usable: ${why(p)}`, 'a rootful podman')
      return
    }
    facts.runtimeVersion = p.stdout.trim()
  }
  if (options.rootless) {
    const r = await tryRun(exec, ['podman', 'info', '--format', '{{.Host.Security.Rootless}}'])
    facts.podmanRootless = ok(r) ? r.stdout.trim() === 'true' : false
  }
}

/** buildah (only when asked for with --runtime buildah): a version with --source-date-epoch/--rewrite-timestamp. */
async function probeBuildah(options: BuildOptions, facts: Facts, exec: Exec, assume: Assume): Promise<void> {
  checkBuildahOptions(options)
  const r = await tryRun(exec, ['buildah', '--version'])
  if (!ok(r)) {
    assume(`buildah is not usable: ${why(r)}`, `buildah >= 1.41`)
    return
  }
  const v = parseBuildahVersion(r.stdout) ?? r.stdout.trim()
  // a too old buildah is an error even with --dry: it is here, it just cannot build reproducibly
  checkBuildahVersion(v)
  facts.runtimeVersion = v
}

/** An existing buildx builder (--builder NAME, any driver): used as it is; its driver and BuildKit probed. */
async function probeNamedBuilder(
  options: BuildOptions,
  name: string,
  facts: Facts,
  exec: Exec,
  assume: Assume,
  dockerProbe: ExecResult | undefined,
): Promise<void> {
  facts.builder = {name, exists: true}
  if (facts.assumptions.length > 0) {
    facts.assumptions.push(`assuming the builder ${name} exists and runs the pinned BuildKit`)
    return
  }
  // --bootstrap: a stopped builder (or a remote one never contacted) reports its BuildKit only when started
  const [v, inspect] = await Promise.all([
    dockerProbe ?? tryRun(exec, ['docker', 'version', '--format', '{{.Server.Version}}']),
    tryRun(exec, ['docker', 'buildx', 'inspect', name, '--bootstrap']),
  ])
  if (ok(v)) facts.runtimeVersion = v.stdout.trim()
  if (!ok(inspect)) {
    if (inspect.notFound) {
      assume(`docker is not usable: ${why(inspect)}`, `the builder ${name} exists and runs the pinned BuildKit`)
      return
    }
    throw new EngineNotFoundError(`--builder ${name}: ${describeFailure(inspect)}`, [
      'list the builders with: docker buildx ls',
      'create one, e.g.: docker buildx create --name NAME --driver remote tcp://HOST:PORT',
    ])
  }
  const found = parseBuildxInspect(inspect.stdout)
  facts.builder = {name, exists: true, image: found.image, buildkitVersion: found.buildkitVersion}
  facts.builderDriver = found.driver
  facts.served = served(options, found.buildkitVersion, `the builder ${name}`, found.image)
  if (found.buildkitVersion) {
    facts.buildkitVersion = found.buildkitVersion
    facts.buildkitVersionFrom = `the builder ${name}`
  }
}

async function probeBuildkit(
  options: BuildOptions,
  facts: Facts,
  exec: Exec,
  assume: Assume,
  input: ProbeInput,
): Promise<void> {
  const addr = input.buildkitAddr ?? input.buildkitHost ?? DEFAULT_BUILDKIT_ADDR
  facts.buildkitAddr = addr
  const conn = buildctlConnArgs(addr, options.tls).map((a: Arg) => (typeof a === 'string' ? a : a.value))
  // client and daemon versions together: each buildctl start costs 0.1 s or more
  const [c, info] = await Promise.all([
    tryRun(exec, ['buildctl', '--version']),
    tryRun(exec, ['buildctl', ...conn, 'debug', 'info']),
  ])
  if (!ok(c)) {
    assume(`buildctl is not usable: ${why(c)}`, 'a BuildKit daemon at ' + redacted(addr))
    return
  }
  facts.runtimeVersion = parseBuildctlVersion(c.stdout)
  if (!ok(info)) {
    // TLS 1.3: the daemon refuses a client certificate after the handshake, and buildctl often sees only a
    // broken pipe or EOF; then a handshake of our own with the same files names what failed
    const tls = tlsFailure(info) ?? (options.tls ? await tlsHandshakeProblem(addr, options.tls) : undefined)
    if (tls) {
      // a certificate problem is never assumed away, not even with --dry: nothing would ever connect
      throw new EngineNotFoundError(`the BuildKit daemon at ${redacted(addr)}: TLS failure: ${tls}`, [
        'check --tls-ca (the CA that signed the daemon), --tls-cert/--tls-key (a client certificate the daemon trusts) and --tls-server-name',
      ])
    }
    assume(
      `the BuildKit daemon at ${redacted(addr)} is not reachable: ${describeFailure(info)}`,
      'it is there and recent',
    )
    return
  }
  const v = parseBuildkitInfo(info.stdout)
  if (v) {
    facts.buildkitVersion = v
    facts.buildkitVersionFrom = 'the daemon'
  }
  facts.served = served(options, v, `the daemon at ${redacted(addr)}`)
}

function redacted(addr: string): string {
  const a = redactAddr(addr)
  return typeof a === 'string' ? a : a.shown
}

/** The probe's failure without echoing its argv (it may hold a daemon address with credentials). */
function describeFailure(r: ExecResult): string {
  if (r.notFound) return `${r.argv[0]}: not found in PATH`
  const t = tail(r.stderr || r.stdout, 1).trim()
  return `${r.argv[0]} exited with ${r.exitCode ?? 'unknown'}${t ? `: ${t}` : ''}`
}

/** The TLS part of a failed buildctl's message (handshake, certificate, authority), if that is what failed. */
export function tlsFailure(r: ExecResult): string | undefined {
  const text = `${r.stderr}\n${r.stdout}`
  const line = text
    .split('\n')
    .reverse()
    .find((l) => /\btls\b|x509|certificate|handshake/i.test(l))
  if (!line) return undefined
  // grpc wraps the cause in layers ("rpc error: ... desc = connection error: desc = \"transport: ...\""): keep the cause
  const m = /(tls:[^"]*|x509:[^"]*|remote error:[^"]*|[^"]*certificate[^"]*)/i.exec(line)
  return (m?.[1] ?? line).trim().slice(0, 300)
}

const HANDSHAKE_TIMEOUT_MS = 5000
/** the HTTP/2 client preface: gRPC's first bytes, which the daemon answers only once it accepted the client */
const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'

/**
 * A TLS handshake with the daemon at tcp://HOST:PORT using the client's files: the problem (the daemon
 * refused the client certificate, or the daemon's certificate is not trusted), or undefined when TLS works
 * (or the address is not tcp://, or nothing answers: then it is not a TLS problem).
 */
export async function tlsHandshakeProblem(
  addr: string,
  tls: TlsFiles,
  timeoutMs = HANDSHAKE_TIMEOUT_MS,
): Promise<string | undefined> {
  const m = /^tcp:\/\/(?:[^/@]*@)?(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(addr)
  if (!m) return undefined
  const host = m[1].replace(/^\[|\]$/g, '')
  let files: {ca?: Buffer; cert?: Buffer; key?: Buffer}
  try {
    files = {
      ca: tls.ca ? await readFile(tls.ca) : undefined,
      cert: tls.cert ? await readFile(tls.cert) : undefined,
      key: tls.key ? await readFile(tls.key) : undefined,
    }
  } catch {
    return undefined // checked before the probe: a file that went away is reported by buildctl
  }
  return new Promise((resolve) => {
    let done = false
    const finish = (problem: string | undefined) => {
      if (done) return
      done = true
      socket.destroy()
      resolve(problem)
    }
    const socket = connect({
      host,
      port: Number(m[2]),
      servername: tls.serverName ?? (/^[\d.]+$|:/.test(host) ? undefined : host),
      ...files,
      ALPNProtocols: ['h2'],
    })
    socket.setTimeout(timeoutMs, () => finish(undefined))
    let secured = false
    socket.on('secureConnect', () => {
      secured = true
      socket.write(H2_PREFACE)
    })
    socket.on('data', () => finish(undefined))
    // closed after the handshake without a word: a server that refuses the client certificate without an alert
    socket.on('close', () =>
      finish(
        secured && tls.cert
          ? 'the daemon closed the connection right after the TLS handshake: it refused the client certificate'
          : undefined,
      ),
    )
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const text = error.message.split('\n')[0]
      if (/alert/i.test(text)) {
        const alert = /(tlsv1\d? alert [\w ]+|sslv3 alert [\w ]+)/i.exec(text)?.[1] ?? text
        finish(`the daemon refused the client certificate (${alert.trim()})`)
      } else if (/certificate|self.signed|verify|altnames|hostname|CERT_|UNABLE_TO/i.test(`${error.code} ${text}`)) {
        finish(`the daemon's certificate is not trusted (${error.code ? `${error.code}: ` : ''}${text})`)
      } else finish(undefined)
    })
  })
}

/** The served BuildKit against the pin: the version the --buildkit-image tag names. */
export function served(
  options: BuildOptions,
  version: string | undefined,
  from: string,
  image?: string,
): ServedBuildkit {
  const pin = imageTagVersion(options.buildkitImage)
  const v = version ? coerce(version)?.version : undefined
  const imageDigest = image ? (pinnedDigest(image) ?? undefined) : undefined
  return {
    version: version ?? '(unknown)',
    from,
    ...(imageDigest ? {imageDigest} : {}),
    ...(pin ? {pin: `v${pin}`} : {}),
    pinned: pin !== undefined && v === pin,
  }
}

/** Refuse a build served by another BuildKit than the pin, unless --allow-unpinned-builder (then say so). */
export function checkPin(options: BuildOptions, s: ServedBuildkit): void {
  if (s.pinned || options.allowUnpinnedBuilder) return
  const what = s.pin
    ? `serves BuildKit ${s.version}, not the pinned ${s.pin}`
    : `serves BuildKit ${s.version}, and --buildkit-image ${options.buildkitImage} names no version to compare with`
  throw new EngineNotFoundError(`${s.from} ${what}`, [
    'point at a daemon or builder running the pinned BuildKit',
    `or pass --buildkit-image with the version it runs (e.g. moby/buildkit:${s.version})`,
    'or pass --allow-unpinned-builder to build anyway (the result records the served version)',
  ])
}

/** Local files: output directories to create, digests of oci-layout build contexts. */
async function probeFiles(options: BuildOptions, facts: Facts): Promise<void> {
  for (const o of plannedOutputs(options)) {
    const dir = path.dirname(o.path)
    if (facts.missingDirs.includes(dir)) continue
    const s = await stat(dir).catch(() => undefined)
    if (!s) facts.missingDirs.push(dir)
    else if (!s.isDirectory()) throw new InvalidArgumentError(`--output ${o.path}: ${dir} is not a directory`)
  }
  for (const c of options.buildContexts) {
    if (c.kind !== 'oci-layout') continue
    facts.ociLayoutDigests[c.name] = c.digest ?? (await ociLayoutDigest(c.path, c.name))
  }
}

/**
 * The one image in an OCI layout. Pinning it by digest makes every runtime resolve the same base
 * (buildx and the dockerfile frontend would otherwise each pick by tag, or fail, in their own way).
 */
export async function ociLayoutDigest(dir: string, name: string): Promise<string> {
  const file = path.join(dir, 'index.json')
  let index: {manifests?: Array<{digest?: string; annotations?: Record<string, string>}>}
  try {
    index = JSON.parse(await readFile(file, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(
      `--build-context ${name}: cannot read ${file} (${(error as Error).message.split('\n')[0]}): not an OCI layout`,
    )
  }
  const manifests = index.manifests ?? []
  const digests = [...new Set(manifests.map((m) => m.digest).filter((d): d is string => typeof d === 'string'))]
  if (digests.length === 1) return digests[0]
  const latest = manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest')
  if (latest.length === 1 && latest[0].digest) return latest[0].digest
  throw new InvalidArgumentError(
    `--build-context ${name}: ${file} holds ${digests.length} images: pick one with oci-layout://${dir}@sha256:...`,
  )
}

/** Where the docker CLI looks for plugins (cli-plugins/manager): the user's config, then the system dirs. */
export function buildxPluginPaths(dockerConfig: string): string[] {
  return [
    path.join(dockerConfig, 'cli-plugins'),
    '/usr/local/lib/docker/cli-plugins',
    '/usr/local/libexec/docker/cli-plugins',
    '/usr/lib/docker/cli-plugins',
    '/usr/libexec/docker/cli-plugins',
  ].map((d) => path.join(d, 'docker-buildx'))
}

async function findBuildxPlugin(dockerConfig: string): Promise<string | undefined> {
  for (const p of buildxPluginPaths(dockerConfig)) {
    if ((await stat(p).catch(() => undefined))?.isFile()) return p
  }
  return undefined
}
