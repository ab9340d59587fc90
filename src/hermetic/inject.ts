/**
 * `repro build --hashfile ... --snapshot-sources`: from the flags to the stages (run before the engine)
 * and the build contexts they add. Reads the hash files and looks at the cache; downloads nothing.
 */
import path from 'node:path'

import type {BuildContext} from '../engine/args.js'
import {HashFileError, InvalidArgumentError} from '../errors.js'
import {DEFAULT_CACHE} from '../pkg/context.js'
import {PackageCache} from '../pkg/cache.js'
import {DEFAULT_PROVIDERS, type Distro, parseDistro} from '../pkg/distro.js'
import {type PackageFormat, parsePackageFileName} from '../pkg/filename.js'
import {parseHashFiles} from '../pkg/hash-file.js'
import {readHashFileText} from '../pkg/load.js'
import {resolveProviders} from '../pkg/providers.js'
import {PKGS_CONTEXT, SNAPSHOT_CONTEXT} from './installer.js'
import {formatPlatform, hostPlatform, parsePlatform, platformSlug, selectHashFiles} from './platform.js'
import {sourcesScript} from './snapshot.js'
import {planPkgStage, planSnapshotStage, type Stage} from './stage.js'

export interface HermeticInput {
  cwd: string
  hashfiles: string[]
  snapshotSources: boolean
  providers?: string[]
  pkgCache?: string
  distro?: string
  /** --platform values, split (empty: the host's platform) */
  platforms: string[]
  epoch: number
  /** names of the build contexts the user gave (ours must not clash) */
  takenContexts: string[]
  env: {REPRO_CACHE?: string; REPRO_PROVIDERS?: string; REPRO_DISTRO?: string}
}

export interface Hermetic {
  stages: Stage[]
  contexts: BuildContext[]
  warnings: string[]
}

const FORMAT_DISTRO: Record<PackageFormat, Distro> = {deb: 'debian', rpm: 'fedora', apk: 'alpine', pacman: 'arch'}

export async function resolveHermetic(input: HermeticInput): Promise<Hermetic> {
  const out: Hermetic = {stages: [], contexts: [], warnings: []}
  if (input.hashfiles.length === 0 && !input.snapshotSources) {
    if (input.providers?.length) throw new InvalidArgumentError('--provider applies only with --hashfile')
    return out
  }
  const cacheDir = path.resolve(input.cwd, input.pkgCache ?? input.env.REPRO_CACHE ?? DEFAULT_CACHE)
  const cache = new PackageCache(cacheDir)
  for (const name of [PKGS_CONTEXT, SNAPSHOT_CONTEXT]) {
    if (input.takenContexts.includes(name)) {
      throw new InvalidArgumentError(
        `--build-context ${name}: the name is reserved for --hashfile / --snapshot-sources; pick another name`,
      )
    }
  }
  if (input.hashfiles.length > 0) {
    const files = input.hashfiles.map((f) => path.resolve(input.cwd, f))
    const texts = new Map<string, string>()
    for (const f of files) {
      texts.set(f, await readHashFileText(f, `--hashfile ${f}`))
    }
    const platforms = input.platforms.length > 0 ? input.platforms.map((p) => parsePlatform(p)) : [hostPlatform()]
    const {perPlatform, unused} = selectHashFiles(files, platforms)
    for (const u of unused) {
      out.warnings.push(
        `--hashfile ${u}: its architecture matches no platform being built (${platforms.map((p) => formatPlatform(p)).join(', ')}); add --platform?`,
      )
    }
    const platformEntries = perPlatform.map((pp) => {
      const entries = parseHashFiles(pp.files.map((f) => ({file: f, text: texts.get(f) ?? ''})))
      if (entries.length === 0) {
        throw new HashFileError(`--hashfile ${pp.files.join(', ')}: no entries for ${formatPlatform(pp.platform)}`)
      }
      return {platform: formatPlatform(pp.platform), slug: platformSlug(pp.platform), hashFiles: pp.files, entries}
    })
    const formats = new Set<PackageFormat>()
    for (const p of platformEntries) {
      for (const e of p.entries) {
        const info = parsePackageFileName(e.name)
        if (!info) {
          throw new HashFileError(
            `${e.source.file}:${e.source.line}: ${e.name}: not a package file name (.deb, .rpm, .apk, .pkg.tar.*)`,
          )
        }
        formats.add(info.format)
      }
    }
    if (formats.size > 1) {
      throw new HashFileError(
        `--hashfile: mixed package formats (${[...formats].sort().join(', ')}); one distro per build`,
      )
    }
    const distro = input.distro
      ? parseDistro(input.distro, '--distro')
      : input.env.REPRO_DISTRO
        ? parseDistro(input.env.REPRO_DISTRO, 'REPRO_DISTRO')
        : FORMAT_DISTRO[[...formats][0]]
    const providers = resolveProviders(input.providers, input.env.REPRO_PROVIDERS, DEFAULT_PROVIDERS[distro])
    const stage = await planPkgStage({platforms: platformEntries, cache, providers, epoch: input.epoch})
    out.stages.push(stage)
    out.contexts.push({kind: 'dir', name: PKGS_CONTEXT, path: stage.dir})
  } else if (input.providers?.length) {
    throw new InvalidArgumentError('--provider applies only with --hashfile')
  }
  if (input.snapshotSources) {
    const stage = planSnapshotStage(cacheDir, sourcesScript({epoch: input.epoch}), input.epoch)
    out.stages.push(stage)
    out.contexts.push({kind: 'dir', name: SNAPSHOT_CONTEXT, path: stage.dir})
  }
  return out
}
