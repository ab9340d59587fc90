/**
 * An in-process registry (node:http on 127.0.0.1, random port) speaking the distribution API v2, written
 * from the spec and independent of src/image/registry: manifests (GET/HEAD/PUT), blobs (GET/HEAD),
 * uploads (POST, PATCH, PUT, cross-repository mount), tag lists with Link pagination, the referrers API
 * (or a 404 for it, so clients use the fallback tag), and Basic or Bearer auth whose tokens carry scopes.
 * `fault` lets a test make any endpoint lie.
 */
import {createHash, randomBytes} from 'node:crypto'
import http, {type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

export type Endpoint = 'blob' | 'manifest' | 'referrers' | 'tags' | 'token' | 'upload'

export interface FakeRequest {
  endpoint: Endpoint
  method: string
  url: URL
  repo: string
  /** manifest tag/digest, blob digest */
  reference: string
  req: IncomingMessage
}

export interface FakeRegistryOptions {
  /** bearer: tokens from /token (Basic for users, anonymous pull when allowed); basic: Basic on every request */
  auth?: {kind: 'basic' | 'bearer'; users: Record<string, string>; anonymousPull?: boolean}
  referrersApi?: boolean
  /** tag list page size when the client asks for more */
  maxPage?: number
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => resolve(Buffer.concat(parts)))
    req.on('error', reject)
  })
}

export class FakeRegistry {
  readonly blobs = new Map<string, Buffer>()
  /** repo → digests of blobs it holds (mounts need the source repo to have it) */
  readonly repoBlobs = new Map<string, Set<string>>()
  /** repo → reference (tag or digest) → manifest */
  readonly manifests = new Map<string, Map<string, {bytes: Buffer; mediaType: string}>>()
  readonly log: string[] = []
  /** scopes granted per token request, in order */
  readonly grants: Array<{user: string | undefined; scopes: string[]}> = []
  /** a test's lie: return true when it answered the request itself */
  fault: ((r: FakeRequest, res: ServerResponse) => boolean | Promise<boolean>) | undefined
  private readonly tokens = new Map<string, Set<string>>()
  private readonly uploads = new Map<string, {repo: string; parts: Buffer[]}>()
  private server!: http.Server
  port = 0

  constructor(readonly options: FakeRegistryOptions = {}) {}

  get host(): string {
    return `127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) res.writeHead(500).end(error.message)
        else res.destroy()
      })
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }

  putBlob(repo: string, data: Buffer): string {
    const d = sha256(data)
    this.blobs.set(d, data)
    let set = this.repoBlobs.get(repo)
    if (!set) this.repoBlobs.set(repo, (set = new Set()))
    set.add(d)
    return d
  }

  putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): string {
    let m = this.manifests.get(repo)
    if (!m) this.manifests.set(repo, (m = new Map()))
    const digest = sha256(bytes)
    m.set(digest, {bytes, mediaType})
    m.set(reference, {bytes, mediaType})
    return digest
  }

  /** An image built by tests/support/image-fixtures.ts, under `tag`. */
  addImage(
    repo: string,
    tag: string,
    img: {config: Buffer; layerBlobs: Buffer[]; manifest: Buffer},
    mediaType = 'application/vnd.oci.image.manifest.v1+json',
  ): string {
    this.putBlob(repo, img.config)
    for (const l of img.layerBlobs) this.putBlob(repo, l)
    return this.putManifest(repo, tag, img.manifest, mediaType)
  }

  private challenge(res: ServerResponse, repo: string, action: string): void {
    const a = this.options.auth!
    const header =
      a.kind === 'basic'
        ? 'Basic realm="fake"'
        : `Bearer realm="http://${this.host}/token",service="fake",scope="repository:${repo}:${action}"`
    res.writeHead(401, {'www-authenticate': header, 'content-type': 'application/json'})
    res.end(JSON.stringify({errors: [{code: 'UNAUTHORIZED', message: 'authentication required'}]}))
  }

  private basicUser(req: IncomingMessage): string | undefined {
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '')
    if (!m) return undefined
    const [user, ...rest] = Buffer.from(m[1], 'base64').toString().split(':')
    return this.options.auth?.users[user] === rest.join(':') ? user : undefined
  }

  /** Does the request carry a grant for every `repository:NAME:ACTION` it needs? */
  private allowed(req: IncomingMessage, needs: string[]): boolean {
    const a = this.options.auth
    if (!a) return true
    if (a.kind === 'basic') return this.basicUser(req) !== undefined
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
    const granted = m ? this.tokens.get(m[1]) : undefined
    return !!granted && needs.every((n) => granted.has(n))
  }

  private token(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const a = this.options.auth!
    const user = this.basicUser(req)
    if (req.headers.authorization && !user) {
      res.writeHead(401).end('bad credentials')
      return
    }
    if (!user && !a.anonymousPull) {
      res.writeHead(401).end('credentials required')
      return
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '))
    const grant = new Set<string>()
    for (const s of scopes) {
      const [type, name, actions] = s.split(':')
      for (const action of (actions ?? '').split(',')) {
        if (type === 'repository' && (user || action === 'pull')) grant.add(`repository:${name}:${action}`)
      }
    }
    this.grants.push({user, scopes})
    const token = randomBytes(12).toString('hex')
    this.tokens.set(token, grant)
    res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token, expires_in: 300}))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`)
    this.log.push(`${req.method} ${url.pathname}${url.search}`)
    if (url.pathname === '/token') {
      if (
        this.fault &&
        (await this.fault({endpoint: 'token', method: req.method!, url, repo: '', reference: '', req}, res))
      )
        return
      this.token(req, url, res)
      return
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200, {'content-type': 'application/json'}).end('{}')
      return
    }
    const m = /^\/v2\/(.+?)\/(manifests|blobs\/uploads|blobs|tags\/list|referrers)(?:\/(.*))?$/.exec(url.pathname)
    if (!m) {
      res.writeHead(404).end()
      return
    }
    const [, repo, kind, reference = ''] = m
    const endpoint: Endpoint =
      kind === 'manifests'
        ? 'manifest'
        : kind === 'blobs'
          ? 'blob'
          : kind === 'blobs/uploads'
            ? 'upload'
            : kind === 'tags/list'
              ? 'tags'
              : 'referrers'
    const write = req.method !== 'GET' && req.method !== 'HEAD'
    const needs = [`repository:${repo}:pull`, ...(write ? [`repository:${repo}:push`] : [])]
    const from = url.searchParams.get('from')
    if (endpoint === 'upload' && from) needs.push(`repository:${from}:pull`)
    if (!this.allowed(req, needs)) {
      this.challenge(res, repo, write ? 'pull,push' : 'pull')
      return
    }
    if (this.fault && (await this.fault({endpoint, method: req.method!, url, repo, reference, req}, res))) return
    const manifests = this.manifests.get(repo)
    switch (endpoint) {
      case 'manifest': {
        if (req.method === 'PUT') {
          const bytes = await readBody(req)
          const digest = this.putManifest(repo, reference, bytes, String(req.headers['content-type']))
          const subject = (JSON.parse(bytes.toString()) as {subject?: {digest?: string}}).subject
          const headers: Record<string, string> = {
            'docker-content-digest': digest,
            location: `/v2/${repo}/manifests/${digest}`,
          }
          if (subject?.digest && this.options.referrersApi) headers['oci-subject'] = subject.digest
          res.writeHead(201, headers).end()
          return
        }
        const found = manifests?.get(reference)
        if (!found) {
          res.writeHead(404, {'content-type': 'application/json'})
          res.end(JSON.stringify({errors: [{code: 'MANIFEST_UNKNOWN', message: 'manifest unknown'}]}))
          return
        }
        res.writeHead(200, {
          'content-type': found.mediaType,
          'content-length': found.bytes.length,
          'docker-content-digest': sha256(found.bytes),
        })
        res.end(req.method === 'HEAD' ? undefined : found.bytes)
        return
      }
      case 'blob': {
        const data = this.repoBlobs.get(repo)?.has(reference) ? this.blobs.get(reference) : undefined
        if (!data) {
          res.writeHead(404).end()
          return
        }
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': data.length,
          'docker-content-digest': reference,
        })
        res.end(req.method === 'HEAD' ? undefined : data)
        return
      }
      case 'upload': {
        if (req.method === 'POST' && reference === '') {
          await readBody(req)
          const mount = url.searchParams.get('mount')
          if (mount && from && this.repoBlobs.get(from)?.has(mount)) {
            this.putBlob(repo, this.blobs.get(mount)!)
            res.writeHead(201, {location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount}).end()
            return
          }
          const id = randomBytes(6).toString('hex')
          this.uploads.set(id, {repo, parts: []})
          res.writeHead(202, {location: `/v2/${repo}/blobs/uploads/${id}?_state=${id}`, range: '0-0'}).end()
          return
        }
        const up = this.uploads.get(reference)
        if (!up) {
          res.writeHead(404).end()
          return
        }
        const data = await readBody(req)
        if (req.method === 'PATCH') {
          const have = up.parts.reduce((n, p) => n + p.length, 0)
          const range = /^(\d+)-(\d+)$/.exec(String(req.headers['content-range'] ?? ''))
          if (range && Number(range[1]) !== have) {
            res.writeHead(416).end()
            return
          }
          up.parts.push(data)
          const now = have + data.length
          res
            .writeHead(202, {location: `/v2/${repo}/blobs/uploads/${reference}?_state=${now}`, range: `0-${now - 1}`})
            .end()
          return
        }
        if (req.method === 'PUT') {
          up.parts.push(data)
          const all = Buffer.concat(up.parts)
          const digest = url.searchParams.get('digest')
          if (sha256(all) !== digest) {
            res.writeHead(400, {'content-type': 'application/json'})
            res.end(JSON.stringify({errors: [{code: 'DIGEST_INVALID', message: 'digest did not match'}]}))
            return
          }
          this.uploads.delete(reference)
          this.putBlob(repo, all)
          res.writeHead(201, {location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest}).end()
          return
        }
        res.writeHead(405).end()
        return
      }
      case 'tags': {
        const tags = [...(manifests?.keys() ?? [])].filter((t) => !t.includes(':')).sort()
        const n = Math.min(Number(url.searchParams.get('n') ?? 100), this.options.maxPage ?? 100)
        const last = url.searchParams.get('last')
        const rest = last ? tags.filter((t) => t > last) : tags
        const page = rest.slice(0, n)
        const headers: Record<string, string> = {'content-type': 'application/json'}
        if (rest.length > n)
          headers.link = `</v2/${repo}/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`
        res.writeHead(200, headers).end(JSON.stringify({name: repo, tags: page}))
        return
      }
      case 'referrers': {
        if (!this.options.referrersApi) {
          res.writeHead(404).end()
          return
        }
        const artifactType = url.searchParams.get('artifactType')
        const list = [...new Map([...(manifests?.values() ?? [])].map((v) => [sha256(v.bytes), v])).values()]
          .map((v) => ({v, j: JSON.parse(v.bytes.toString()) as Record<string, unknown>}))
          .filter(({j}) => (j.subject as {digest?: string} | undefined)?.digest === reference)
          .filter(({j}) => !artifactType || j.artifactType === artifactType)
          .map(({v, j}) => ({
            mediaType: v.mediaType,
            digest: sha256(v.bytes),
            size: v.bytes.length,
            ...(j.artifactType ? {artifactType: j.artifactType} : {}),
          }))
        const headers: Record<string, string> = {'content-type': 'application/vnd.oci.image.index.v1+json'}
        if (artifactType) headers['oci-filters-applied'] = 'artifactType'
        res.writeHead(200, headers)
        res.end(
          JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: list}),
        )
        return
      }
    }
  }
}
