/** One domain function per package command. Commands parse flags, call one of these and render the result. */
import {randomBytes} from 'node:crypto'
import {rename, writeFile} from 'node:fs/promises'
import {dirname, join, basename as pathBasename} from 'node:path'

import {HashFileError, InvalidArgumentError, ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import type {Logger} from '../log.js'
import {type ExportResult, exportCache, type ImportResult, importToCache, type PackageCache} from './cache.js'
import {type PkgContext, type PkgFlags, resolveCache, resolveDistro} from './context.js'
import {DEFAULT_PROVIDERS, type Distro, DISTRO_FORMAT, DISTROS} from './distro.js'
import {type ChainFlags, hashVerify, type VerifyChainResult} from './debian/chain.js'
import {formatChainFile, writeFilesAtomically} from './debian/chain-file.js'
import {type DownloadEvents, downloadEntries, type DownloadResult} from './download.js'
import {parsePackageFileName} from './filename.js'
import {generateHashes} from './generate.js'
import {dedupe, formatHashFile, type GeneratedEntry, parseHashFileLines, parseHashFiles} from './hash-file.js'
import {executeInstall, planInstall, planScript} from './install.js'
import {loadHashFiles, type LoadedHashFiles, readHashFileText, sourceDateEpoch} from './load.js'
import {parseOciRef} from '../image/registry/reference.js'
import {SCHEMES} from './providers.js'
import {pushToRegistry, type PushResult} from './push.js'

export interface Deps {
  exec: Exec
  logger: Logger
  events?: DownloadEvents
  env?: NodeJS.ProcessEnv
}

// ---- hash generate / update / inspect

export interface HashGenerateResult {
  distro: Distro
  root: string
  entries: GeneratedEntry[]
  /** the hash file text (what is printed, or written with -o) */
  text: string
  deduped: number
  /** -o FILE: the hash file written */
  output?: string
  /** the chain file written (-o FILE: FILE.chain.json for debian/ubuntu; --chain FILE) */
  chainFile?: string
}

export async function hashGenerate(
  packages: string[],
  flags: PkgFlags & {dedupe?: string; output?: string; chain?: string; noChain?: boolean; indexes?: string},
  deps: Deps,
): Promise<HashGenerateResult> {
  const root = flags.root ?? '/'
  const {distro} = await resolveDistro(flags, root, deps.env)
  const dpkg = distro === 'debian' || distro === 'ubuntu'
  if ((flags.chain || flags.indexes) && !dpkg)
    throw new InvalidArgumentError(
      `${flags.chain ? '--chain' : '--indexes'}: signature chains and apt indexes are for debian and ubuntu, not ${distro}`,
    )
  const chainFile = flags.chain ?? (flags.output && dpkg && !flags.noChain ? `${flags.output}.chain.json` : undefined)
  const gen = await generateHashes({
    root,
    distro,
    packages,
    exec: deps.exec,
    logger: deps.logger,
    chain: chainFile !== undefined,
    indexes: flags.indexes,
  })
  deps.logger.verbose(`read ${gen.sources.join(', ')}`)
  let entries = gen.entries
  let deduped = 0
  if (flags.dedupe) {
    const old = (await loadHashFiles([flags.dedupe], deps.env)).entries
    const kept = dedupe(entries, old)
    deduped = entries.length - kept.length
    entries = kept
  }
  const text = formatHashFile(entries)
  const writes = flags.output ? [{path: flags.output, text}] : []
  if (chainFile && gen.chain) {
    const names = new Set(entries.map((e) => e.name))
    writes.push({
      path: chainFile,
      text: formatChainFile({...gen.chain, packages: gen.chain.packages.filter((p) => names.has(p.filename))}),
    })
  }
  await writeFilesAtomically(writes)
  return {distro, root, entries, text, deduped, output: flags.output, chainFile}
}

export interface HashUpdateResult {
  file: string
  distro: Distro
  updated: {name: string; from: string; to: string}[]
  unchanged: number
  droppedCidLines: number
}

/** Identity of a hash-file entry across versions: format, package name, architecture, signature or not. */
function packageKey(name: string): string | undefined {
  const i = parsePackageFileName(name)
  return i ? `${i.format}\0${i.name}\0${i.architecture ?? ''}\0${i.auxiliary}` : undefined
}

export async function hashUpdate(file: string, flags: PkgFlags, deps: Deps): Promise<HashUpdateResult> {
  const text = await readHashFileText(file)
  const lines = parseHashFileLines(text, file)
  const root = flags.root ?? '/'
  const {distro} = await resolveDistro(flags, root, deps.env)
  const wanted = new Set<string>()
  for (const [i, l] of lines.entries()) {
    if (l.kind !== 'entry') continue
    const info = parsePackageFileName(l.name)
    if (!info)
      throw new HashFileError(
        `${file}:${i + 1}: ${l.name}: not a package file name, cannot tell which package to update`,
      )
    if (info.format !== DISTRO_FORMAT[distro])
      throw new HashFileError(
        `${file}:${i + 1}: ${l.name} is not a ${DISTRO_FORMAT[distro]} package (distro ${distro})`,
      )
    if (!info.auxiliary)
      wanted.add(info.format === 'deb' && info.architecture !== 'all' ? `${info.name}:${info.architecture}` : info.name)
  }
  const gen = await generateHashes({root, distro, packages: [...wanted].sort(), exec: deps.exec, logger: deps.logger})
  const fresh = new Map<string, GeneratedEntry>()
  for (const e of gen.entries) {
    const k = packageKey(e.name)
    if (k) fresh.set(k, e)
  }
  const result: HashUpdateResult = {file, distro, updated: [], unchanged: 0, droppedCidLines: 0}
  const out: string[] = []
  const liveShas = new Set<string>()
  const rewritten = lines.map((l) => {
    if (l.kind !== 'entry') return l
    const n = fresh.get(packageKey(l.name)!)
    if (!n) return l // a .sig the metadata has no signature for: keep as is
    liveShas.add(n.sha256)
    if (n.sha256 === l.sha256 && n.name === l.name) {
      result.unchanged++
      return l
    }
    result.updated.push({name: n.name, from: l.name, to: n.sha256})
    return {...l, raw: `${n.sha256} ${l.mode || ' '}${n.name}`}
  })
  for (const l of rewritten) {
    if (l.kind === 'entry' && !fresh.has(packageKey(l.name)!)) liveShas.add(l.sha256)
  }
  for (const l of rewritten) {
    // a CID names bytes: keep it while some entry still has those bytes
    if (l.kind === 'cid' && !liveShas.has(l.sha256)) {
      result.droppedCidLines++
      continue
    }
    out.push(l.raw)
  }
  const tmp = join(dirname(file), `.${pathBasename(file)}.${randomBytes(4).toString('hex')}.tmp`)
  await writeFile(tmp, out.map((l) => `${l}\n`).join(''))
  await rename(tmp, file)
  return result
}

export interface InspectedEntry {
  name: string
  sha256: string
  cids: string[]
  format?: string
  package?: string
  version?: string
  architecture?: string
  file: string
  line: number
}

export async function hashInspect(files: string[]): Promise<{entries: InspectedEntry[]}> {
  const inputs = []
  for (const file of files) inputs.push({file, text: await readHashFileText(file)})
  return {
    entries: parseHashFiles(inputs).map((e) => {
      const info = parsePackageFileName(e.name)
      return {
        name: e.name,
        sha256: e.sha256,
        cids: e.cids,
        format: info?.format,
        package: info?.name,
        version: info?.version,
        architecture: info?.architecture,
        file: e.source.file,
        line: e.source.line,
      }
    }),
  }
}

// ---- get download / install / push

function describeEpochs(loaded: LoadedHashFiles, logger: Logger): void {
  for (const [file, e] of loaded.epochs)
    logger.verbose(
      `${file}: epoch ${e.epoch} (${new Date(e.epoch * 1000).toISOString()}) from ${e.source === 'mtime' ? "the file's mtime" : 'SOURCE_DATE_EPOCH'}`,
    )
}

/** get download/install --verify-chain: the chain of every hash file, checked before anything is downloaded */
export type GetChainFlags = {verifyChain?: boolean} & Omit<ChainFlags, 'chain' | 'debs' | 'root'>

export async function getDownload(
  files: string[],
  ctx: PkgContext,
  flags: PkgFlags & GetChainFlags,
  deps: Deps,
): Promise<DownloadResult & {cache: string; chain?: VerifyChainResult}> {
  const loaded = await loadHashFiles(files, deps.env)
  if (flags.verifyChain && ctx.distro !== 'debian' && ctx.distro !== 'ubuntu')
    throw new InvalidArgumentError(`--verify-chain: signature chains are for debian and ubuntu, not ${ctx.distro}`)
  const chain = flags.verifyChain ? await hashVerify(files, {...flags, root: ctx.root}, deps) : undefined
  describeEpochs(loaded, deps.logger)
  deps.logger.verbose(`providers: ${ctx.providers.map((p) => p.source).join(', ')}`)
  const r = await downloadEntries(loaded.entries, {
    cache: ctx.cache,
    providers: ctx.providers,
    epochFor: loaded.epochFor,
    jobs: flags.jobs,
    logger: deps.logger,
    events: deps.events,
  })
  return {...r, cache: ctx.cache.dir, chain}
}

export interface GetInstallResult {
  distro: Distro
  root: string
  dry: boolean
  downloaded: number
  cached: number
  installed: {name: string; package: string; version: string; architecture: string}[]
  skipped: {name: string; reason: string}[]
  commands: string[]
  /** --verify-chain: the verified signature chain */
  chain?: VerifyChainResult
}

export async function getInstall(
  files: string[],
  ctx: PkgContext,
  flags: PkgFlags & GetChainFlags & {dry?: boolean; key?: string[]},
  deps: Deps,
): Promise<GetInstallResult> {
  const loaded = await loadHashFiles(files, deps.env)
  // refuse a hash file for another distro before downloading anything
  for (const e of loaded.entries) {
    const info = parsePackageFileName(e.name)
    if (!info || info.format !== DISTRO_FORMAT[ctx.distro])
      throw new HashFileError(
        `${e.source.file}:${e.source.line}: ${e.name} is not a ${DISTRO_FORMAT[ctx.distro]} package file (distro ${ctx.distro} from ${ctx.distroSource})`,
      )
  }
  const dl = await getDownload(files, ctx, flags, deps)
  const plan = await planInstall({
    root: ctx.root,
    distro: ctx.distro,
    entries: loaded.entries,
    cache: ctx.cache,
    exec: deps.exec,
    logger: deps.logger,
    keys: flags.key,
    sourceDateEpoch: sourceDateEpoch(deps.env),
  })
  if (!flags.dry) await executeInstall(plan, loaded.entries, {cache: ctx.cache, exec: deps.exec, logger: deps.logger})
  return {
    distro: ctx.distro,
    root: ctx.root,
    dry: Boolean(flags.dry),
    downloaded: dl.downloaded,
    cached: dl.cached,
    installed: plan.install.map((p) => ({
      name: p.name,
      package: p.package.name,
      version: p.package.version,
      architecture: p.package.arch,
    })),
    skipped: plan.skipped,
    commands: planScript(plan),
    chain: dl.chain,
  }
}

export async function getPush(files: string[], to: string, flags: PkgFlags, deps: Deps): Promise<PushResult> {
  const ref = parseOciRef(to)
  const loaded = await loadHashFiles(files, deps.env)
  return pushToRegistry(loaded.entries, {
    cache: resolveCache(flags, deps.env),
    ref,
    logger: deps.logger,
    jobs: flags.jobs,
  })
}

// ---- cache

export async function cacheExport(dir: string, flags: PkgFlags, deps: Deps): Promise<ExportResult> {
  return exportCache(resolveCache(flags, deps.env), dir)
}

export class ImportFailedError extends ReproError {
  constructor(readonly result: ImportResult) {
    const first = result.errors[0]
    super(
      'E_CACHE_IMPORT',
      `cache import: ${result.errors.length} path(s) failed, first: ${first.path}: ${first.message} (${result.files.length} file(s) imported)`,
    )
  }
}

export async function cacheImport(paths: string[], flags: PkgFlags, deps: Deps): Promise<ImportResult> {
  const r = await importToCache(resolveCache(flags, deps.env), paths)
  for (const e of r.errors) deps.logger.warn(`${e.path}: ${e.message}`)
  if (r.errors.length) throw new ImportFailedError(r)
  return r
}

export async function cacheClean(flags: PkgFlags, deps: Deps): Promise<{cache: string; blobs: number; bytes: number}> {
  const cache: PackageCache = resolveCache(flags, deps.env)
  return {cache: cache.dir, ...(await cache.clean())}
}

// ---- info

export interface InfoResult {
  version: string
  cache: string
  schemes: readonly string[]
  distros: {name: Distro; format: string; defaultProviders: readonly string[]}[]
  detected: {distro?: Distro; source?: string; error?: string}
  providers: string[]
  epoch: {value?: number; source: string}
}

export async function info(version: string, flags: PkgFlags, deps: Deps): Promise<InfoResult> {
  const env = deps.env ?? process.env
  const root = flags.root ?? '/'
  let detected: InfoResult['detected']
  try {
    const d = await resolveDistro(flags, root, env)
    detected = {distro: d.distro, source: d.source}
  } catch (error) {
    detected = {error: (error as Error).message}
  }
  const providers = flags.provider?.length
    ? flags.provider
    : env.REPRO_PROVIDERS
      ? env.REPRO_PROVIDERS.split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : detected.distro
        ? [...DEFAULT_PROVIDERS[detected.distro]]
        : []
  const sde = sourceDateEpoch(env)
  return {
    version,
    cache: resolveCache(flags, env).dir,
    schemes: SCHEMES,
    distros: DISTROS.map((d) => ({name: d, format: DISTRO_FORMAT[d], defaultProviders: DEFAULT_PROVIDERS[d]})),
    detected,
    providers,
    epoch: sde === undefined ? {source: "each hash file's mtime"} : {value: sde, source: 'SOURCE_DATE_EPOCH'},
  }
}
