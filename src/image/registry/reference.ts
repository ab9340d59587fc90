/**
 * Image references, parsed once for every registry user (diff, verify, analyze, get push, the oci://
 * package provider): HOST/REPO[:TAG][@DIGEST], Docker Hub's short names and aliases, and which transport
 * (http or https) a registry is spoken to with.
 */
import {InvalidArgumentError} from '../../errors.js'
import {parseDigest} from '../digest.js'

/** The canonical name of Docker Hub: credentials, scopes and messages use it. */
export const DOCKER_HUB = 'docker.io'
/** Where Docker Hub's API v2 answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io'
/** The key `docker login` writes for Docker Hub, and what credential helpers are asked for. */
export const DOCKER_HUB_LOGIN = 'https://index.docker.io/v1/'

const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'])

export interface ImageReference {
  /** as the user wrote it, for messages */
  input: string
  /** canonical registry host[:port]: lower case, Docker Hub aliases folded into docker.io */
  registry: string
  repository: string
  tag?: string
  digest?: string
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const TAG = /^\w[\w.-]{0,127}$/
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i

/**
 * A registry name as found in a reference, a docker config key (`https://index.docker.io/v1/`,
 * `http://host:5000`, `host/v2/`) or a credential helper map: scheme and path dropped, lower case,
 * Docker Hub's aliases folded into `docker.io`.
 */
export function canonicalRegistry(name: string): string {
  const host = name
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase()
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host
}

/** localhost, 127.0.0.0/8 and ::1 (with any port) are spoken to over plain http, as docker does. */
export function isLocalRegistry(registry: string): boolean {
  return /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i.test(registry)
}

/** The base URL of a registry's API: https, except for localhost or with plain http asked for. */
export function registryOrigin(registry: string, plainHttp = false): string {
  const host = registry === DOCKER_HUB ? DOCKER_HUB_API : registry
  return `${plainHttp || isLocalRegistry(registry) ? 'http' : 'https'}://${host}`
}

/** Does `s` look like HOST/REPO[:TAG]: a first component with a dot or a port, or localhost? */
export function looksLikeReference(s: string): boolean {
  const first = s.split('/')[0]
  if (!s.includes('/') || s.startsWith('.') || s.startsWith('/')) return false
  return first === 'localhost' || /^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?$/i.test(first) || /^[a-z0-9.-]+:\d+$/i.test(first)
}

/** Parse HOST/REPO[:TAG][@DIGEST]; a name without a registry host means Docker Hub (`library/` for one part). */
export function parseReference(ref: string, input = ref): ImageReference {
  if (ref.length > 4096) throw new InvalidArgumentError(`${input.slice(0, 80)}...: image reference too long`)
  let rest = ref
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!parseDigest(digest)) throw new InvalidArgumentError(`${input}: invalid digest ${JSON.stringify(digest)}`)
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf('/')
  const colon = rest.lastIndexOf(':')
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
  }
  const parts = rest.split('/')
  let registry = DOCKER_HUB
  if (parts.length > 1 && (parts[0] === 'localhost' || parts[0].includes('.') || parts[0].includes(':'))) {
    const host = parts.shift()!
    if (!HOST.test(host)) throw new InvalidArgumentError(`${input}: invalid registry host ${JSON.stringify(host)}`)
    registry = canonicalRegistry(host)
  }
  let repository = parts.join('/')
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`
  if (!REPOSITORY.test(repository) || repository.length > 255)
    throw new InvalidArgumentError(`${input}: invalid repository name ${JSON.stringify(repository)}`)
  if (tag !== undefined && !TAG.test(tag))
    throw new InvalidArgumentError(`${input}: invalid tag ${JSON.stringify(tag)}`)
  if (tag === undefined && digest === undefined) tag = 'latest'
  return {input, registry, repository, tag, digest}
}

/** HOST/REPO:TAG@DIGEST, as docker would print it. */
export function formatReference(r: Pick<ImageReference, 'digest' | 'registry' | 'repository' | 'tag'>): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`
}

/** An `oci://` package repository (the `get push` target and the oci provider). */
export interface OciRef {
  scheme: 'http' | 'https'
  host: string
  repo: string
  tag?: string
}

/** oci://HOST/REPO[:TAG] (https except localhost), oci+http://..., oci+https://...; a digest is ignored. */
export function parseOciRef(s: string): OciRef {
  const m = /^oci(\+https?)?:\/\/([^/]+)\/(.+)$/.exec(s)
  if (!m) throw new InvalidArgumentError(`"${s}": not an OCI reference (oci://REGISTRY/REPO[:TAG] or oci+http://...)`)
  const host = m[2]
  if (!HOST.test(host)) throw new InvalidArgumentError(`"${s}": invalid registry host "${host}"`)
  let repo = m[3].replace(/\/+$/, '')
  let tag: string | undefined
  const at = repo.indexOf('@')
  if (at >= 0) repo = repo.slice(0, at) // blobs are fetched by their own digest
  const colon = repo.lastIndexOf(':')
  if (colon > repo.lastIndexOf('/')) {
    tag = repo.slice(colon + 1)
    repo = repo.slice(0, colon)
  }
  if (!REPOSITORY.test(repo)) throw new InvalidArgumentError(`"${s}": invalid repository name "${repo}"`)
  if (tag !== undefined && !TAG.test(tag)) throw new InvalidArgumentError(`"${s}": invalid tag "${tag}"`)
  const scheme = m[1] === '+http' ? 'http' : m[1] === '+https' ? 'https' : isLocalRegistry(host) ? 'http' : 'https'
  return {scheme, host, repo, tag}
}
