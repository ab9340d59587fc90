/**
 * `repro build` end to end: flags → options → probe → plan → (print | execute) → read the tarballs → result.
 * The executor runs exactly the steps of the plan; the engine writes a partial file next to the destination,
 * which is read back and renamed only when the engine succeeded and the archive reads as an image.
 */
import {tmpdir} from 'node:os'
import {access, chmod, constants, mkdir, readdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {lock} from 'proper-lockfile'

import {EngineFailedError, EngineNotFoundError, InvalidArgumentError, tail} from '../errors.js'
import type {Exec} from '../exec.js'
import {resolveHermetic} from '../hermetic/inject.js'
import {explainLockFailure, type LockUse, lockForBuild} from '../lock/build.js'
import {executeStage} from '../hermetic/stage.js'
import {platformImages, readImageArchive, topImageDigest} from '../image/archive.js'
import {fileDigest} from '../image/digest.js'
import {lifecycle, processAlive} from '../lifecycle.js'
import type {Logger} from '../log.js'
import {gitSdeArgv, parseGitSde, resolveSdeSource, type Sde} from '../sde.js'
import {checkContextsReadable} from './context-access.js'
import {checkKeyValue, parseBuildContext, parseSecret, privateOutDirPid, splitArgs, splitPlatforms} from './args.js'
import {probe} from './detect.js'
import {VOLUME_EXISTS} from './podman.js'
import {
  type BuildOptions,
  buildPlan,
  DEFAULT_BUILDKIT_IMAGE,
  DEFAULT_BUILDKIT_IMAGE_ROOTLESS,
  type ExecStep,
  execStep,
  type Facts,
  type Plan,
  type Runtime,
  RUNTIME_CHOICES,
  type ServedBuildkit,
  stepText,
  summaryLines,
} from './plan.js'

/** What the command hands over: flag values as given, plus the environment it read. */
export interface BuildInput {
  cwd: string
  context: string
  file?: string
  output: string
  format: 'docker' | 'oci'
  tags: string[]
  buildArgs: string[]
  annotations: string[]
  platforms: string[]
  target?: string
  noCache: boolean
  buildContexts: string[]
  secrets: string[]
  buildkitArgs?: string
  buildxArgs?: string
  buildkitImage?: string
  rootless: boolean
  runtime?: string
  buildkitAddr?: string
  /** --tls-ca, --tls-cert, --tls-key, --tls-server-name, --tls-dir */
  tlsCa?: string
  tlsCert?: string
  tlsKey?: string
  tlsServerName?: string
  tlsDir?: string
  /** --builder: an existing buildx builder */
  builder?: string
  allowUnpinnedBuilder?: boolean
  sde?: string
  datetime?: string
  sdeFromGit: boolean
  dry: boolean
  /** --lock FILE: the lock file (default: repro.lock.yaml next to the Dockerfile, when there is one) */
  lock?: string
  /** --locked: deny every remote source the lock does not list; fail before the build when it does not cover the Dockerfile */
  locked?: boolean
  /** --hashfile: packages to stage as the repro-pkgs build context */
  hashfiles?: string[]
  /** --snapshot-sources: stage the snapshot sources script as the repro-snapshot build context */
  snapshotSources?: boolean
  providers?: string[]
  pkgCache?: string
  distro?: string
  env: {
    BUILDKIT_HOST?: string
    DOCKER_CONFIG?: string
    DOCKER_HOST?: string
    REPRO_SOURCE_DATE_EPOCH?: string
    REPRO_CACHE?: string
    REPRO_PROVIDERS?: string
    REPRO_DISTRO?: string
  }
}

export interface BuildOutput {
  path: string
  /** the platform of this tarball when there is one tarball per platform */
  platform?: string
  format: 'docker' | 'oci'
  /** image digest: the manifest's (one platform) or the index's (a multi-platform oci archive) */
  digest?: string
  /** per-platform manifest digests inside the archive (no digest: an archive without manifests, e.g. buildah's docker archive) */
  manifests?: Array<{digest?: string; platform: string; configDigest: string}>
  /** sha256 of the tarball file itself (bit-for-bit identity) */
  archiveSha256?: string
  size?: number
}

export interface BuildResult {
  dry: boolean
  runtime: Runtime
  runtimeVersion?: string
  buildkitImage?: string
  buildkitVersion?: string
  /** the BuildKit that served the build (a daemon or an existing builder), probed, against the pin */
  buildkitServed?: ServedBuildkit
  builder?: string
  sourceDateEpoch: number
  sourceDateEpochFrom: string
  /** the plan, one shell command per step, as --dry prints it */
  commands: string[]
  outputs: BuildOutput[]
  warnings: string[]
  /** the lock file the build followed (src/lock): its path, sha256 and every pinned input */
  lock?: LockUse
}

export interface BuildDeps {
  exec: Exec
  logger: Logger
}

export async function resolveSde(input: BuildInput, exec: Exec): Promise<Sde> {
  const source = resolveSdeSource({
    sde: input.sde,
    datetime: input.datetime,
    sdeFromGit: input.sdeFromGit,
    env: input.env.REPRO_SOURCE_DATE_EPOCH,
  })
  if (source.kind === 'value') return {epoch: source.epoch, origin: source.origin}
  const context = path.resolve(input.cwd, input.context)
  const r = await exec(gitSdeArgv(context), {reject: false})
  if (r.notFound) throw new EngineNotFoundError('--sde-from-git: git is not installed (not found in PATH)')
  if (r.exitCode !== 0) {
    throw new InvalidArgumentError(
      `--sde-from-git: git log failed in ${context}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
    )
  }
  return {epoch: parseGitSde(r.stdout, context), origin: '--sde-from-git'}
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false
}

/** One readable regular file, or a one-line error naming the flag and the file. */
async function checkReadable(flag: string, file: string): Promise<string> {
  const s = await stat(file).catch(() => undefined)
  if (!s) throw new InvalidArgumentError(`${flag} ${file}: no such file`)
  if (!s.isFile()) throw new InvalidArgumentError(`${flag} ${file}: not a regular file`)
  await access(file, constants.R_OK).catch(() => {
    throw new InvalidArgumentError(`${flag} ${file}: not readable`)
  })
  return file
}

/**
 * The client TLS files: each --tls-* flag, else DIR/ca.pem, DIR/cert.pem, DIR/key.pem of --tls-dir (the
 * names buildctl's --tlsdir reads). Every file is checked before anything runs.
 */
export async function resolveTls(input: BuildInput): Promise<BuildOptions['tls']> {
  const {tlsCa, tlsCert, tlsKey, tlsServerName, tlsDir} = input
  if (!tlsCa && !tlsCert && !tlsKey && tlsServerName === undefined && !tlsDir) return undefined
  const abs = (p: string) => path.resolve(input.cwd, p)
  const tls: NonNullable<BuildOptions['tls']> = {}
  if (tlsDir) {
    const dir = abs(tlsDir)
    if (!(await isDir(dir))) throw new InvalidArgumentError(`--tls-dir ${dir}: not a directory`)
    const pick = async (flag: string, given: string | undefined, name: string) =>
      given ? checkReadable(flag, abs(given)) : checkReadable('--tls-dir', path.join(dir, name))
    tls.ca = await pick('--tls-ca', tlsCa, 'ca.pem')
    tls.cert = await pick('--tls-cert', tlsCert, 'cert.pem')
    tls.key = await pick('--tls-key', tlsKey, 'key.pem')
  } else {
    if (tlsCa) tls.ca = await checkReadable('--tls-ca', abs(tlsCa))
    if (tlsCert) tls.cert = await checkReadable('--tls-cert', abs(tlsCert))
    if (tlsKey) tls.key = await checkReadable('--tls-key', abs(tlsKey))
  }
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new InvalidArgumentError(
      `${tls.cert ? '--tls-cert' : '--tls-key'}: a client certificate needs its key (--tls-cert and --tls-key together)`,
    )
  }
  if (tlsServerName !== undefined) {
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(tlsServerName))
      throw new InvalidArgumentError(`--tls-server-name '${tlsServerName}': not a host name`)
    tls.serverName = tlsServerName
  }
  return tls
}

/** Validate flags into options: paths made absolute and checked, lists split, one SOURCE_DATE_EPOCH. */
export async function resolveOptions(input: BuildInput, sde: Sde): Promise<BuildOptions> {
  const context = path.resolve(input.cwd, input.context)
  if (!(await isDir(context))) throw new InvalidArgumentError(`build context ${context}: not a directory`)
  if (input.file === '-')
    throw new InvalidArgumentError('--file -: reading the Dockerfile from stdin is not supported; pass a path')
  const dockerfile = input.file ? path.resolve(input.cwd, input.file) : path.join(context, 'Dockerfile')
  if (!(await stat(dockerfile).catch(() => undefined))?.isFile()) {
    throw new InvalidArgumentError(
      `${input.file ? '--file' : 'Dockerfile'} ${dockerfile}: no such file`,
      input.file ? [] : ['pass -f PATH'],
    )
  }
  const output = path.resolve(input.cwd, input.output)
  if (await isDir(output))
    throw new InvalidArgumentError(
      `--output ${output}: is a directory; give a file name (e.g. ${path.join(output, 'image.tar')})`,
    )
  const buildArgs = input.buildArgs.map((a) => checkKeyValue(a, '--build-arg'))
  if (buildArgs.some((a) => a.startsWith('SOURCE_DATE_EPOCH='))) {
    throw new InvalidArgumentError('--build-arg SOURCE_DATE_EPOCH=...: set it with --sde, --datetime or --sde-from-git')
  }
  const buildContexts = input.buildContexts.map((c) => parseBuildContext(c, input.cwd))
  const names = new Set<string>()
  for (const c of buildContexts) {
    if (names.has(c.name)) throw new InvalidArgumentError(`--build-context ${c.name}: given twice`)
    names.add(c.name)
    if (c.kind !== 'other' && !(await isDir(c.path))) {
      throw new InvalidArgumentError(`--build-context ${c.name}: ${c.path} is not a directory`)
    }
  }
  const secrets = input.secrets.map((s) => parseSecret(s, input.cwd))
  for (const s of secrets) {
    if (s.src !== undefined && !(await stat(s.src).catch(() => undefined))) {
      throw new InvalidArgumentError(`--secret id=${s.id}: the source file does not exist`)
    }
  }
  return {
    context,
    dockerfile,
    output,
    format: input.format,
    tags: input.tags,
    buildArgs,
    annotations: input.annotations.map((a) => checkKeyValue(a, '--annotation')),
    platforms: splitPlatforms(input.platforms),
    target: input.target,
    noCache: input.noCache,
    buildContexts,
    secrets,
    buildkitArgs: input.buildkitArgs ? splitArgs(input.buildkitArgs, '--buildkit-args') : [],
    buildxArgs: input.buildxArgs ? splitArgs(input.buildxArgs, '--buildx-args') : [],
    buildkitImage: input.buildkitImage || (input.rootless ? DEFAULT_BUILDKIT_IMAGE_ROOTLESS : DEFAULT_BUILDKIT_IMAGE),
    rootless: input.rootless,
    sde,
    tls: await resolveTls(input),
    builder: input.builder || undefined,
    allowUnpinnedBuilder: input.allowUnpinnedBuilder ?? false,
  }
}

/** Flags that only one runtime understands are errors elsewhere, not silently dropped. */
export function checkRuntimeFlags(options: BuildOptions, facts: Facts): void {
  if (options.buildxArgs.length > 0 && facts.runtime !== 'docker') {
    throw new InvalidArgumentError(
      `--buildx-args applies to the docker runtime, not ${facts.runtime}; use --buildkit-args`,
    )
  }
  if (options.buildkitArgs.length > 0 && (facts.runtime === 'docker' || facts.runtime === 'buildah')) {
    throw new InvalidArgumentError(
      `--buildkit-args applies to the podman and buildkit runtimes, not ${facts.runtime}${facts.runtime === 'docker' ? '; use --buildx-args' : ''}`,
    )
  }
  if (options.rootless && facts.runtime !== 'podman') {
    throw new InvalidArgumentError(`--rootless applies to the podman runtime, not ${facts.runtime}`)
  }
  if (options.tls && facts.runtime !== 'buildkit') {
    throw new InvalidArgumentError(
      `--tls-* applies to a BuildKit daemon (--buildkit-addr tcp://...), not ${facts.runtime}; a buildx builder keeps its own TLS (docker buildx create --driver-opt cacert=...)`,
    )
  }
  if (options.builder && facts.runtime !== 'docker') {
    throw new InvalidArgumentError(`--builder applies to the docker runtime (docker buildx), not ${facts.runtime}`)
  }
}

export function parseRuntime(value: string | undefined): Runtime | undefined {
  if (value === undefined || value === '') return undefined
  if (!(RUNTIME_CHOICES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `--runtime / REPRO_RUNTIME '${value}': expected one of ${RUNTIME_CHOICES.join(', ')}`,
    )
  }
  return value as Runtime
}

export async function build(input: BuildInput, deps: BuildDeps): Promise<BuildResult> {
  const {exec, logger} = deps
  const runtime = parseRuntime(input.runtime)
  const sde = await resolveSde(input, exec)
  const options = await resolveOptions(input, sde)
  // the lock first: a --locked build that the lock does not cover fails before anything is fetched or started
  const locked = await lockForBuild({
    context: options.context,
    dockerfile: options.dockerfile,
    lockFile: input.lock === undefined ? undefined : path.resolve(input.cwd, input.lock),
    locked: input.locked ?? false,
    buildArgs: options.buildArgs,
    platforms: options.platforms,
    target: options.target,
    buildContexts: input.buildContexts,
    sde: sde.epoch,
  })
  if (locked) options.sourcePolicy = locked.policyText
  const hermetic = await resolveHermetic({
    cwd: input.cwd,
    hashfiles: input.hashfiles ?? [],
    snapshotSources: input.snapshotSources ?? false,
    providers: input.providers,
    pkgCache: input.pkgCache,
    distro: input.distro,
    platforms: options.platforms,
    epoch: sde.epoch,
    takenContexts: options.buildContexts.map((c) => c.name),
    env: input.env,
  })
  options.buildContexts.push(...hermetic.contexts)
  options.stages = hermetic.stages
  const facts = await probe(
    options,
    {
      runtime,
      buildkitAddr: input.buildkitAddr,
      buildkitHost: input.env.BUILDKIT_HOST,
      dockerHost: input.env.DOCKER_HOST,
      dockerConfig: input.env.DOCKER_CONFIG,
      dry: input.dry,
    },
    exec,
  )
  checkRuntimeFlags(options, facts)
  if (facts.runtime === 'podman' && !input.dry && process.getuid?.() !== 0) await checkContextsReadable(options)
  const plan = buildPlan(options, facts)
  for (const a of facts.assumptions) logger.warn(a)
  for (const w of hermetic.warnings) logger.warn(w)
  for (const line of summaryLines(options, facts, plan)) logger.info(line)
  if (locked) {
    const n = Object.keys(locked.use.inputs).length
    logger.info(
      `- Lock: ${locked.use.path} (${locked.use.sha256}, ${n} input${n === 1 ? '' : 's'} pinned${locked.use.locked ? ', --locked' : ''})`,
    )
  }
  const result: BuildResult = {
    dry: input.dry,
    runtime: facts.runtime,
    runtimeVersion: facts.runtimeVersion,
    buildkitImage: facts.runtime === 'buildkit' || facts.runtime === 'buildah' ? undefined : options.buildkitImage,
    buildkitVersion: facts.buildkitVersion,
    buildkitServed: facts.served,
    builder: facts.builder?.name,
    sourceDateEpoch: sde.epoch,
    sourceDateEpochFrom: sde.origin,
    commands: plan.steps.map((s) => stepText(s)),
    outputs: plan.outputs.map((o) => ({path: o.path, platform: o.platform, format: options.format})),
    warnings: [...facts.assumptions, ...hermetic.warnings],
    ...(locked ? {lock: locked.use} : {}),
  }
  if (locked && facts.runtime !== 'buildkit' && locked.lock.buildkit.image !== options.buildkitImage) {
    const w = `${locked.use.path} was made for BuildKit ${locked.lock.buildkit.image}; this build runs ${options.buildkitImage}`
    logger.warn(w)
    result.warnings.push(w)
  }
  if (facts.served && !facts.served.pinned) {
    const w = `--allow-unpinned-builder: ${facts.served.from} serves BuildKit ${facts.served.version}, not the pin ${facts.served.pin ?? '(none: the image tag names no version)'}`
    logger.warn(w)
    result.warnings.push(w)
  }
  if (input.dry) return result
  const read = await executePlan(plan, exec, logger).catch((error: unknown) => {
    throw (locked && explainLockFailure(error, locked)) || error
  })
  result.outputs = result.outputs.map((o) => ({...o, ...read.get(o.path)}))
  return result
}

/**
 * Run the plan's steps in order. Before each rename, the partial tarball is read as an image (a broken
 * archive never reaches the destination). On any failure every partial file (and private output directory)
 * is removed. While the plan runs, they are in the process-wide cleanup registry, and so is the container
 * each podman step starts: SIGINT/SIGTERM first end the engine child's process group and remove the
 * container, and only then remove the files, so nothing can write them again after their removal.
 */
export async function executePlan(
  plan: Plan,
  exec: Exec,
  logger: Logger,
): Promise<Map<string, Omit<BuildOutput, 'format' | 'path' | 'platform'>>> {
  const read = new Map<string, Omit<BuildOutput, 'format' | 'path' | 'platform'>>()
  // the output directories first: the destination locks live in them
  let next = 0
  for (; next < plan.steps.length; next++) {
    const step = plan.steps[next]
    if (step.kind !== 'mkdir' || step.private) break
    logger.info(`+ ${stepText(step)}`)
    await mkdir(step.path, {recursive: true})
  }
  const unlock = await lockOutputs(plan)
  const leftovers = [
    ...plan.outputs.map((o) => o.outDir ?? o.partial),
    ...plan.steps.flatMap((s) => (s.kind === 'write' ? [s.path] : [])),
  ]
  const release = leftovers.map((p) => lifecycle.registerPath(p))
  // staged contexts stay marked in use (cache clean keeps them) until the engine is done with them
  const stagesInUse: Array<() => Promise<void>> = []
  try {
    for (const step of plan.steps.slice(next)) {
      if (!(step.kind === 'exec' && step.cacheVolume)) logger.info(`+ ${stepText(step)}`)
      if (step.kind === 'exec') {
        await runExecStep(step, exec, logger)
      } else if (step.kind === 'mkdir') {
        if (step.private) await makePrivateDir(step.path)
        else await mkdir(step.path, {recursive: true})
      } else if (step.kind === 'remove') {
        await rm(step.path, {recursive: true, force: true})
      } else if (step.kind === 'stage') {
        stagesInUse.push(await executeStage(step.stage, logger))
      } else if (step.kind === 'write') {
        await writeFile(step.path, step.content, {mode: 0o644})
      } else {
        read.set(step.to, await inspectTarball(step.from))
        // engines create the file 0666 (buildctl) or as another user (podman): make it an ordinary file
        await chmod(step.from, 0o644).catch(() => undefined)
        await rename(step.from, step.to)
      }
    }
  } catch (error) {
    await Promise.all(leftovers.map((p) => rm(p, {recursive: true, force: true})))
    throw error
  } finally {
    for (const r of release) r()
    await Promise.all(stagesInUse.map((done) => done()))
    await unlock()
  }
  return read
}

/** `.NAME.repro-lock` beside the destination: held while a build writes NAME */
export function outputLockPath(output: string): string {
  return path.join(path.dirname(output), `.${path.basename(output)}.repro-lock`)
}

/**
 * One build at a time per destination: two concurrent builds with the same -o would write the same partial
 * file. The second fails at once with a clear error and touches nothing of the first's. A lock left by a
 * killed build goes stale after 10 s.
 */
async function lockOutputs(plan: Plan): Promise<() => Promise<void>> {
  const held: Array<() => Promise<void>> = []
  const releaseAll = async () => {
    for (const r of held.splice(0).reverse()) await r()
  }
  for (const o of plan.outputs) {
    const lockfilePath = outputLockPath(o.path)
    try {
      const release = await lock(o.path, {lockfilePath, realpath: false, stale: 10_000, onCompromised: () => {}})
      const unregister = lifecycle.registerPath(lockfilePath)
      held.push(async () => {
        unregister()
        await release().catch(() => {})
      })
    } catch (error) {
      await releaseAll()
      if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new InvalidArgumentError(`--output ${o.path}: another repro build is writing it now`, [
          'wait for it, or build to another path',
        ])
      }
      throw new InvalidArgumentError(`--output ${o.path}: cannot lock ${lockfilePath}: ${(error as Error).message}`)
    }
  }
  return releaseAll
}

async function runExecStep(step: ExecStep, exec: Exec, logger: Logger): Promise<void> {
  const slot = step.cacheVolume ? await takeVolumeSlot(step.cacheVolume, logger) : undefined
  try {
    if (slot && slot.name !== step.cacheVolume) {
      const create = execStep(['podman', 'volume', 'create', slot.name], 'create the slot volume', {
        tolerate: VOLUME_EXISTS,
      })
      logger.info(`+ ${stepText(create)}`)
      await runCommand(create, exec, logger)
      const mount = `${step.cacheVolume}:`
      const swap = (a: string) => (a.startsWith(mount) ? `${slot.name}:${a.slice(mount.length)}` : a)
      step = {...step, argv: step.argv.map(swap), display: step.display.map(swap)}
    }
    // logged here, not by executePlan: the volume slot is known only now
    if (slot) logger.info(`+ ${stepText(step)}`)
    await runCommand(step, exec, logger)
  } finally {
    await slot?.release()
  }
}

/** Slots beyond the first: concurrent podman builds on one BuildKit image each get their own state volume. */
const VOLUME_SLOTS = 8
const SLOT_WAIT_MS = 1000

/**
 * Take the first free BuildKit state volume among NAME, NAME-1, ... NAME-7 (a lock per volume under
 * $TMPDIR/repro-locks-UID, held for the build; a lock of a killed process goes stale after 10 s). When all are
 * taken, wait for one.
 */
async function takeVolumeSlot(name: string, logger: Logger): Promise<{name: string; release: () => Promise<void>}> {
  // one directory per user (podman volumes are per user too): root's 0755 /tmp/repro-locks made every other
  // user's build fail with EACCES
  const dir = path.join(tmpdir(), `repro-locks-${process.getuid?.() ?? 0}`)
  await mkdir(dir, {recursive: true, mode: 0o700})
  for (let round = 0; ; round++) {
    for (let i = 0; i < VOLUME_SLOTS; i++) {
      const slot = i === 0 ? name : `${name}-${i}`
      // proper-lockfile keys its own bookkeeping by the locked path: one path per slot (lock = PATH.lock)
      const target = path.join(dir, `podman-volume-${slot}`)
      const lockfilePath = `${target}.lock`
      try {
        const release = await lock(target, {realpath: false, stale: 10_000, onCompromised: () => {}})
        const unregister = lifecycle.registerPath(lockfilePath)
        if (i > 0) logger.info(`the cache volume ${name} is in use by a concurrent build: using ${slot}`)
        return {
          name: slot,
          release: async () => {
            unregister()
            await release().catch(() => {})
          },
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
      }
    }
    if (round === 0) logger.info(`all ${VOLUME_SLOTS} cache volumes of ${name} are in use: waiting for one`)
    await new Promise((r) => setTimeout(r, SLOT_WAIT_MS))
  }
}

async function runCommand(step: ExecStep, exec: Exec, logger: Logger): Promise<void> {
  const display = stepText(step)
  const container = step.container
  const unregister = container
    ? lifecycle.register('container', `podman container ${container.name}`, async () => {
        // -t 0: no grace for BuildKit; removing the container also ends the `podman run` client waiting on it
        await exec(['podman', 'rm', '--force', '--time', '0', container.name], {reject: false, timeoutMs: 60_000})
      })
    : undefined
  try {
    const r = await exec(step.argv, {
      display,
      onOutput: (c) => logger.stream(c),
      reject: step.tolerate === undefined,
      env: step.env,
    })
    if (r.exitCode !== 0) {
      if (step.tolerate !== undefined && !r.notFound && new RegExp(step.tolerate).test(r.stderr)) {
        logger.verbose(`${display}: exists already (made by a concurrent build): using it`)
        return
      }
      throw new EngineFailedError(
        step.argv,
        r.exitCode,
        tail(r.notFound ? `${step.argv[0]}: not found` : r.stderr),
        display,
      )
    }
  } finally {
    unregister?.()
  }
}

/**
 * A fresh 0700 directory. Leftovers of dead repro processes for the same destination (SIGKILL gives no
 * chance to clean up) are removed first; a live process's directory is never touched.
 */
async function makePrivateDir(dir: string): Promise<void> {
  const parent = path.dirname(dir)
  const output = path.join(
    parent,
    path
      .basename(dir)
      .replace(/^\./, '')
      .replace(/\.repro-out-\d+$/, ''),
  )
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const pid = privateOutDirPid(output, name)
    if (pid !== undefined && !processAlive(pid)) await rm(path.join(parent, name), {recursive: true, force: true})
  }
  await rm(dir, {recursive: true, force: true})
  await mkdir(dir, {mode: 0o700})
}

/** Digests of a finished tarball: image digest, per-platform manifests, and the file's own sha256. */
export async function inspectTarball(file: string): Promise<Omit<BuildOutput, 'format' | 'path' | 'platform'>> {
  const archive = await readImageArchive(file)
  try {
    const images = platformImages(archive)
    return {
      digest: topImageDigest(archive),
      manifests: images.map((i) => ({
        ...(i.manifest ? {digest: i.manifest.digest} : {}),
        platform: i.platform,
        configDigest: i.config.digest,
      })),
      archiveSha256: await sha256File(file),
      size: (await stat(file)).size,
    }
  } finally {
    await archive.source.close()
  }
}

/** `sha256:<hex>` of a file (the image core's one file hasher). */
export const sha256File = (file: string): Promise<string> => fileDigest(file)
