/**
 * A small OCI distribution (registry HTTP API v2) client: blob GET/HEAD, monolithic upload (POST + PUT),
 * manifest PUT, with docker config credentials (basic auth) and the bearer token flow.
 */
import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {InvalidArgumentError, ReproError} from '../errors.js'

export class RegistryError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_REGISTRY', message, {suggestions})
  }
}

export interface OciRef {
  scheme: 'http' | 'https'
  host: string
  repo: string
  tag?: string
}

/** oci://HOST/REPO[:TAG] (https except localhost), oci+http://..., oci+https://... */
export function parseOciRef(s: string): OciRef {
  const m = /^oci(\+https?)?:\/\/([^/]+)\/(.+)$/.exec(s)
  if (!m) throw new InvalidArgumentError(`"${s}": not an OCI reference (oci://REGISTRY/REPO[:TAG] or oci+http://...)`)
  const host = m[2]
  let repo = m[3].replace(/\/+$/, '')
  let tag: string | undefined
  const at = repo.indexOf('@')
  if (at >= 0) repo = repo.slice(0, at) // digests are ignored: blobs are fetched by their own digest
  const colon = repo.lastIndexOf(':')
  if (colon > repo.lastIndexOf('/')) {
    tag = repo.slice(colon + 1)
    repo = repo.slice(0, colon)
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo))
    throw new InvalidArgumentError(`"${s}": invalid repository name "${repo}"`)
  const local = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(host)
  const scheme = m[1] === '+http' ? 'http' : m[1] === '+https' ? 'https' : local ? 'http' : 'https'
  return {scheme, host, repo, tag}
}

interface Credentials {
  username: string
  password: string
}

/** Basic credentials for a registry host from $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
export async function dockerCredentials(host: string, configDir?: string): Promise<Credentials | undefined> {
  const dir = configDir ?? process.env.DOCKER_CONFIG ?? join(homedir(), '.docker')
  let cfg: {auths?: Record<string, {auth?: string; username?: string; password?: string}>}
  try {
    cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))
  } catch {
    return undefined
  }
  const auths = cfg.auths ?? {}
  const key = Object.keys(auths).find((k) => k === host || k.replace(/^https?:\/\//, '').replace(/\/.*$/, '') === host)
  if (!key) return undefined
  const a = auths[key]
  if (a.auth) {
    const decoded = Buffer.from(a.auth, 'base64').toString('utf8')
    const i = decoded.indexOf(':')
    if (i > 0) return {username: decoded.slice(0, i), password: decoded.slice(i + 1)}
  }
  if (a.username && a.password) return {username: a.username, password: a.password}
  return undefined
}

export interface RegistryClientOptions {
  credentials?: Credentials
  timeoutMs?: number
  fetchImpl?: typeof fetch
}

export class RegistryClient {
  private authHeader: string | undefined
  private readonly fetchImpl: typeof fetch

  constructor(
    readonly ref: OciRef,
    private readonly options: RegistryClientOptions = {},
  ) {
    this.fetchImpl = options.fetchImpl ?? fetch
  }

  get base(): string {
    return `${this.ref.scheme}://${this.ref.host}/v2/${this.ref.repo}`
  }

  /** A request with the auth dance: on 401, answer the Basic or Bearer challenge once and retry. */
  async request(
    method: string,
    url: string,
    init: {headers?: Record<string, string>; body?: Buffer; signal?: AbortSignal} = {},
  ): Promise<Response> {
    const doFetch = (): Promise<Response> =>
      this.fetchImpl(url, {
        method,
        headers: {...init.headers, ...(this.authHeader ? {authorization: this.authHeader} : {})},
        body: init.body,
        redirect: 'follow',
        signal: init.signal,
      })
    let res = await doFetch()
    if (res.status !== 401) return res
    const challenge = res.headers.get('www-authenticate') ?? ''
    await res.body?.cancel()
    const scope = `repository:${this.ref.repo}:${method === 'GET' || method === 'HEAD' ? 'pull' : 'pull,push'}`
    await this.authenticate(challenge, scope)
    res = await doFetch()
    return res
  }

  private async authenticate(challenge: string, scope: string): Promise<void> {
    const creds = this.options.credentials
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined
    if (/^basic/i.test(challenge)) {
      if (!basic)
        throw new RegistryError(`${this.ref.host}: authentication required and no credentials found`, [
          'docker login (writes ~/.docker/config.json)',
        ])
      this.authHeader = basic
      return
    }
    if (!/^bearer/i.test(challenge))
      throw new RegistryError(`${this.ref.host}: unsupported authentication challenge "${challenge}"`)
    const params: Record<string, string> = {}
    for (const m of challenge.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2]
    if (!params.realm) throw new RegistryError(`${this.ref.host}: bearer challenge without a realm`)
    const u = new URL(params.realm)
    if (params.service) u.searchParams.set('service', params.service)
    u.searchParams.set('scope', params.scope ?? scope)
    const res = await this.fetchImpl(u, {headers: basic ? {authorization: basic} : {}})
    if (!res.ok)
      throw new RegistryError(`${this.ref.host}: token request to ${u.origin}${u.pathname} failed: HTTP ${res.status}`)
    const body = (await res.json()) as {token?: string; access_token?: string}
    const token = body.token ?? body.access_token
    if (!token) throw new RegistryError(`${this.ref.host}: token response without a token`)
    this.authHeader = `Bearer ${token}`
  }

  blobUrl(digest: string): string {
    return `${this.base}/blobs/${digest}`
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request('HEAD', this.blobUrl(digest))
    if (res.status === 200) return true
    if (res.status === 404) return false
    throw new RegistryError(`${this.ref.host}/${this.ref.repo}: HEAD blob ${digest}: HTTP ${res.status}`)
  }

  /** Monolithic upload: POST to open a session, PUT the whole body with ?digest=. */
  async uploadBlob(digest: string, body: Buffer): Promise<void> {
    const start = await this.request('POST', `${this.base}/blobs/uploads/`, {headers: {'content-length': '0'}})
    if (start.status !== 202)
      throw new RegistryError(
        `${this.ref.host}/${this.ref.repo}: starting an upload: HTTP ${start.status} ${await errorText(start)}`,
      )
    await start.body?.cancel()
    const location = start.headers.get('location')
    if (!location) throw new RegistryError(`${this.ref.host}: upload session without a Location header`)
    const u = new URL(location, `${this.ref.scheme}://${this.ref.host}`)
    u.searchParams.set('digest', digest)
    const put = await this.request('PUT', u.toString(), {
      headers: {'content-type': 'application/octet-stream', 'content-length': String(body.length)},
      body,
    })
    if (put.status !== 201)
      throw new RegistryError(
        `${this.ref.host}/${this.ref.repo}: uploading ${digest}: HTTP ${put.status} ${await errorText(put)}`,
      )
    await put.body?.cancel()
  }

  async putManifest(reference: string, mediaType: string, body: Buffer): Promise<void> {
    const res = await this.request('PUT', `${this.base}/manifests/${reference}`, {
      headers: {'content-type': mediaType},
      body,
    })
    if (res.status !== 201)
      throw new RegistryError(
        `${this.ref.host}/${this.ref.repo}: PUT manifest ${reference}: HTTP ${res.status} ${await errorText(res)}`,
      )
    await res.body?.cancel()
  }
}

async function errorText(res: Response): Promise<string> {
  try {
    return (await res.text()).trim().slice(0, 200)
  } catch {
    return ''
  }
}
