/**
 * Resolution of the options shared by the package commands (--root, --cache, --distro, --provider, --jobs)
 * from flags and REPRO_* environment variables, in one place.
 */
import {resolve} from 'node:path'

import {type Distro, DEFAULT_PROVIDERS, detectDistro, parseDistro} from './distro.js'
import {PackageCache} from './cache.js'
import {type Provider, resolveProviders} from './providers.js'

export const DEFAULT_CACHE = '/var/cache/repro'

export interface PkgFlags {
  root?: string
  cache?: string
  distro?: string
  provider?: string[]
  jobs?: number
}

export interface PkgContext {
  root: string
  cache: PackageCache
  distro: Distro
  distroSource: string
  providers: Provider[]
}

export function resolveCache(flags: PkgFlags, env = process.env): PackageCache {
  return new PackageCache(resolve(flags.cache ?? env.REPRO_CACHE ?? DEFAULT_CACHE))
}

export async function resolveDistro(
  flags: PkgFlags,
  root: string,
  env = process.env,
): Promise<{distro: Distro; source: string}> {
  if (flags.distro) return {distro: parseDistro(flags.distro, '--distro'), source: '--distro'}
  if (env.REPRO_DISTRO) return {distro: parseDistro(env.REPRO_DISTRO, 'REPRO_DISTRO'), source: 'REPRO_DISTRO'}
  const d = await detectDistro(root)
  return {distro: d.distro, source: d.file}
}

export async function resolveContext(flags: PkgFlags, env = process.env): Promise<PkgContext> {
  const root = resolve(flags.root ?? '/')
  const {distro, source} = await resolveDistro(flags, root, env)
  return {
    root,
    cache: resolveCache(flags, env),
    distro,
    distroSource: source,
    providers: resolveProviders(flags.provider, env.REPRO_PROVIDERS, DEFAULT_PROVIDERS[distro]),
  }
}
