/**
 * Registry authentication: the WWW-Authenticate challenge, Basic, and the bearer token flow of the
 * distribution token spec (GET realm?service&scope with Basic credentials, or the OAuth2 POST with a
 * refresh token when the login holds an identity token). Tokens are kept per scope set: a pull token for
 * `repository:a:pull` is never reused for a push to `a` or for another repository.
 */
import type {Credentials} from './credentials.js'

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parse one `WWW-Authenticate` value: `Bearer realm="...",service="...",scope="..."` (quoted-pair aware). */
export function parseChallenge(header: string): Challenge {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header)
  const params: Record<string, string> = {}
  if (!m) return {scheme: '', params}
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy
  const rest = m[2]
  re.lastIndex = 0
  let p: RegExpExecArray | null
  while (re.lastIndex < rest.length && (p = re.exec(rest))) {
    params[p[1].toLowerCase()] = p[2] === undefined ? p[3] : p[2].replace(/\\(.)/g, '$1')
  }
  return {scheme: m[1].toLowerCase(), params}
}

/** `repository:REPO:pull` or `repository:REPO:pull,push`. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? 'pull,push' : 'pull'}`
}

export function basicHeader(c: Credentials | undefined): string | undefined {
  if (!c?.username || c.password === undefined) return undefined
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`
}

/** The token request for a bearer challenge: URL, method, headers and body (pure, so tests can check it). */
export function tokenRequest(
  challenge: Challenge,
  scopes: string[],
  credentials: Credentials | undefined,
): {url: URL; method: 'GET' | 'POST'; headers: Record<string, string>; body?: string} {
  const url = new URL(challenge.params.realm)
  const service = challenge.params.service
  const all = [...new Set([...scopes, ...(challenge.params.scope ? challenge.params.scope.split(' ') : [])])].sort()
  if (credentials?.identityToken) {
    const form = new URLSearchParams({grant_type: 'refresh_token', refresh_token: credentials.identityToken})
    if (service) form.set('service', service)
    form.set('client_id', 'repro')
    if (all.length) form.set('scope', all.join(' '))
    return {
      url,
      method: 'POST',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      body: form.toString(),
    }
  }
  if (service) url.searchParams.set('service', service)
  for (const s of all) url.searchParams.append('scope', s)
  const basic = basicHeader(credentials)
  return {url, method: 'GET', headers: basic ? {authorization: basic} : {}}
}

/** The token in a token endpoint's answer, with its lifetime (default 60 s, as the spec says). */
export function parseTokenResponse(json: unknown): {token: string; expiresInSeconds: number} | undefined {
  if (!json || typeof json !== 'object') return undefined
  const j = json as {token?: unknown; access_token?: unknown; expires_in?: unknown}
  const token =
    typeof j.token === 'string' && j.token !== ''
      ? j.token
      : typeof j.access_token === 'string' && j.access_token !== ''
        ? j.access_token
        : undefined
  if (!token || token.length > 64 * 1024 || /[\r\n]/.test(token)) return undefined
  const expires = typeof j.expires_in === 'number' && j.expires_in > 0 ? Math.min(j.expires_in, 86_400) : 60
  return {token, expiresInSeconds: expires}
}
