/**
 * The credentials users really have, found as the docker CLI finds them in its config.json:
 *   1. `credHelpers[registry]`: run `docker-credential-<helper> get`
 *   2. else `credsStore`: the same with that helper (Docker Desktop, pass, secretservice, ecr-login, ...)
 *   3. else `auths[registry]`: `auth` (base64 user:password), `username`/`password`, `identitytoken`
 * Keys match with or without a scheme or path, and Docker Hub's aliases are one registry
 * (`https://index.docker.io/v1/`, `index.docker.io`, `registry-1.docker.io`, `docker.io`).
 * Helpers run through the Exec seam with the server URL on stdin and answer
 * `{"ServerURL","Username","Secret"}`; a Username of `<token>` means Secret is an identity (refresh) token.
 */
import {readFile, stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import path from 'node:path'

import {InvalidArgumentError} from '../../errors.js'
import type {Exec} from '../../exec.js'
import {canonicalRegistry, DOCKER_HUB, DOCKER_HUB_LOGIN} from './reference.js'
import {RegistryError} from './errors.js'

export interface Credentials {
  username?: string
  password?: string
  /** an OAuth2 refresh token (`identitytoken`, or a helper's `<token>` answer) */
  identityToken?: string
  /** where they came from, for messages: `auths`, `credsStore desktop`, `credHelpers ecr-login` */
  source: string
}

interface AuthEntry {
  auth?: unknown
  username?: unknown
  password?: unknown
  identitytoken?: unknown
}

export interface DockerConfig {
  auths?: Record<string, AuthEntry>
  credsStore?: string
  credHelpers?: Record<string, string>
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024
const HELPER_TIMEOUT_MS = 30_000
const MAX_HELPER_OUTPUT = 1024 * 1024

/** $DOCKER_CONFIG, else ~/.docker: the command passes its environment, the domain reads none. */
export function dockerConfigDir(env: Record<string, string | undefined>): string {
  return env.DOCKER_CONFIG || path.join(env.HOME || homedir(), '.docker')
}

/** Read DIR/config.json; a missing file is an empty config, an unreadable one an error naming it. */
export async function loadDockerConfig(dir: string): Promise<DockerConfig> {
  const file = path.join(dir, 'config.json')
  let size: number
  try {
    size = (await stat(file)).size
  } catch {
    return {}
  }
  if (size > MAX_CONFIG_BYTES)
    throw new InvalidArgumentError(`${file}: ${size} bytes, more than the ${MAX_CONFIG_BYTES} a docker config may be`)
  let json: unknown
  try {
    json = JSON.parse(await readFile(file, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not valid JSON (${(error as Error).message})`)
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new InvalidArgumentError(`${file}: not a JSON object`)
  const c = json as Record<string, unknown>
  const objectOf = <T>(v: unknown): Record<string, T> | undefined =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, T>) : undefined
  return {
    auths: objectOf<AuthEntry>(c.auths),
    credsStore: typeof c.credsStore === 'string' && c.credsStore !== '' ? c.credsStore : undefined,
    credHelpers: objectOf<string>(c.credHelpers),
  }
}

/** The value of `map` whose key names `registry` (any spelling, Docker Hub aliases included). */
function lookup<T>(map: Record<string, T> | undefined, registry: string): [string, T] | undefined {
  if (!map) return undefined
  const want = canonicalRegistry(registry)
  // an exact key first, then any spelling of the same registry (sorted: the same answer every time)
  if (Object.hasOwn(map, registry)) return [registry, map[registry]]
  for (const key of Object.keys(map).sort()) if (canonicalRegistry(key) === want) return [key, map[key]]
  return undefined
}

function fromAuthEntry(entry: AuthEntry, source: string): Credentials | undefined {
  const identityToken =
    typeof entry.identitytoken === 'string' && entry.identitytoken !== '' ? entry.identitytoken : undefined
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
    const i = decoded.indexOf(':')
    if (i > 0) return {username: decoded.slice(0, i), password: decoded.slice(i + 1), identityToken, source}
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '')
    return {username: entry.username, password: entry.password, identityToken, source}
  return identityToken ? {identityToken, source} : undefined
}

/** What docker passes a helper: Docker Hub's login URL, else the registry host[:port]. */
function helperServer(registry: string): string {
  return canonicalRegistry(registry) === DOCKER_HUB ? DOCKER_HUB_LOGIN : registry
}

/** Ask `docker-credential-<helper> get`; undefined when it has no credentials for the server. */
export async function helperCredentials(
  exec: Exec,
  helper: string,
  server: string,
  source: string,
): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9][\w.-]*$/.test(helper))
    throw new RegistryError(`${source}: invalid credential helper name ${JSON.stringify(helper)}`)
  const program = `docker-credential-${helper}`
  const r = await exec([program, 'get'], {input: server, reject: false, timeoutMs: HELPER_TIMEOUT_MS})
  if (r.notFound)
    throw new RegistryError(`${source}: credential helper ${program} is not on PATH (asked for ${server})`, [
      `install ${program}, or remove it from your docker config.json`,
    ])
  const out = r.stdout.trim()
  if (r.exitCode !== 0) {
    // the protocol's "no credentials" answer (docker-credential-helpers' errCredentialsNotFound)
    if (/credentials not found/i.test(out) || /credentials not found/i.test(r.stderr)) return undefined
    const why = (out || r.stderr.trim()).split('\n')[0].slice(0, 200)
    throw new RegistryError(
      `${source}: ${program} get failed for ${server} (exit ${r.exitCode ?? 'killed'})${why ? `: ${why}` : ''}`,
    )
  }
  if (out.length > MAX_HELPER_OUTPUT) throw new RegistryError(`${source}: ${program} answered more than 1 MiB`)
  let json: {Username?: unknown; Secret?: unknown}
  try {
    json = JSON.parse(out) as typeof json
  } catch {
    throw new RegistryError(`${source}: ${program} get for ${server} did not answer JSON`)
  }
  const username = typeof json.Username === 'string' ? json.Username : ''
  const secret = typeof json.Secret === 'string' ? json.Secret : ''
  if (secret === '') return undefined
  if (username === '<token>') return {identityToken: secret, source}
  return {username, password: secret, source}
}

export interface CredentialStore {
  /** credentials for a canonical registry name; undefined means anonymous */
  get(registry: string): Promise<Credentials | undefined>
}

/** Credentials from a docker config directory, asked once per registry and kept for the process. */
export function dockerCredentialStore(options: {configDir: string; exec: Exec}): CredentialStore {
  let config: Promise<DockerConfig> | undefined
  const cache = new Map<string, Promise<Credentials | undefined>>()
  const configFile = path.join(options.configDir, 'config.json')
  const resolve = async (registry: string): Promise<Credentials | undefined> => {
    const c = await (config ??= loadDockerConfig(options.configDir))
    const helper = lookup(c.credHelpers, registry)
    if (helper && typeof helper[1] === 'string' && helper[1] !== '') {
      return helperCredentials(
        options.exec,
        helper[1],
        helperServer(registry),
        `${configFile} credHelpers ${helper[1]}`,
      )
    }
    const auth = lookup(c.auths, registry)
    if (c.credsStore) {
      return helperCredentials(
        options.exec,
        c.credsStore,
        helperServer(registry),
        `${configFile} credsStore ${c.credsStore}`,
      )
    }
    if (auth && auth[1] && typeof auth[1] === 'object') return fromAuthEntry(auth[1], `${configFile} auths`)
    return undefined
  }
  return {
    get(registry) {
      let p = cache.get(registry)
      if (!p) {
        p = resolve(registry)
        cache.set(registry, p)
      }
      return p
    },
  }
}

/** Fixed credentials (tests, and callers that got them elsewhere). */
export function staticCredentialStore(map: Record<string, Omit<Credentials, 'source'>>): CredentialStore {
  return {
    async get(registry) {
      const hit = lookup(map, registry)
      return hit ? {...hit[1], source: 'static'} : undefined
    },
  }
}
