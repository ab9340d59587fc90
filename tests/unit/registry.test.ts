import assert from 'node:assert/strict'
import {readdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, test} from 'node:test'
import {fileURLToPath} from 'node:url'

import {parseChallenge, parseTokenResponse, repositoryScope, tokenRequest} from '../../src/image/registry/auth.js'
import {nextLink, referrersTag} from '../../src/image/registry/client.js'
import {dockerConfigDir, staticCredentialStore} from '../../src/image/registry/credentials.js'
import {
  canonicalRegistry,
  formatReference,
  isLocalRegistry,
  parseOciRef,
  parseReference,
  registryOrigin,
} from '../../src/image/registry/reference.js'

const D = `sha256:${'a'.repeat(64)}`

describe('registry references', () => {
  test('Docker Hub aliases are one registry, with library/ for one-part names', () => {
    for (const host of ['index.docker.io', 'registry-1.docker.io', 'docker.io', 'Docker.IO']) {
      const r = parseReference(`${host}/busybox:1`)
      assert.equal(r.registry, 'docker.io', host)
      assert.equal(r.repository, 'library/busybox')
    }
    assert.equal(parseReference('me/app').registry, 'docker.io')
    assert.equal(parseReference('me/app').tag, 'latest')
    for (const key of ['https://index.docker.io/v1/', 'index.docker.io', 'http://registry-1.docker.io/v2/'])
      assert.equal(canonicalRegistry(key), 'docker.io', key)
    assert.equal(canonicalRegistry('https://GHCR.io/'), 'ghcr.io')
    assert.equal(canonicalRegistry('127.0.0.1:5000'), '127.0.0.1:5000')
  })

  test('tags, digests, both; bad names are one-line errors naming the input', () => {
    const r = parseReference(`reg.lan:5000/a/b:v1@${D}`)
    assert.deepEqual([r.registry, r.repository, r.tag, r.digest], ['reg.lan:5000', 'a/b', 'v1', D])
    assert.equal(formatReference(r), `reg.lan:5000/a/b:v1@${D}`)
    assert.throws(
      () => parseReference('host.io/App:1'),
      /^InvalidArgumentError: host\.io\/App:1: invalid repository name/,
    )
    assert.throws(() => parseReference('host.io/app:-x'), /invalid tag/)
    assert.throws(() => parseReference('host.io/app@sha256:zz'), /invalid digest/)
    assert.throws(() => parseReference('ho$t.io:1/app'), /invalid repository name|invalid registry host/)
    assert.throws(() => parseReference(`r.io/${'a'.repeat(5000)}`), /too long/)
  })

  test('localhost rules and --plain-http decide the scheme', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000'])
      assert.equal(isLocalRegistry(h), true, h)
    for (const h of ['localhost.evil.io', '128.0.0.1', 'reg.lan:5000']) assert.equal(isLocalRegistry(h), false, h)
    assert.equal(registryOrigin('127.0.0.1:5000'), 'http://127.0.0.1:5000')
    assert.equal(registryOrigin('reg.lan:5000'), 'https://reg.lan:5000')
    assert.equal(registryOrigin('reg.lan:5000', true), 'http://reg.lan:5000')
    assert.equal(registryOrigin('docker.io'), 'https://registry-1.docker.io')
  })

  test('oci:// package repositories', () => {
    assert.deepEqual(parseOciRef('oci://localhost:5000/a/b:t'), {
      scheme: 'http',
      host: 'localhost:5000',
      repo: 'a/b',
      tag: 't',
    })
    assert.deepEqual(parseOciRef('oci+https://127.0.0.1:5000/a'), {
      scheme: 'https',
      host: '127.0.0.1:5000',
      repo: 'a',
      tag: undefined,
    })
    assert.throws(() => parseOciRef('oci://h/a:b:c'), /invalid repository name|invalid tag/)
    assert.throws(() => parseOciRef('oci://h$x/a'), /invalid registry host/)
  })
})

describe('registry auth', () => {
  test('challenges: quoted values with commas and escapes, bare tokens, case', () => {
    assert.deepEqual(
      parseChallenge('Bearer realm="https://a.io/token",service="r.io",scope="repository:a/b:pull,push"'),
      {
        scheme: 'bearer',
        params: {realm: 'https://a.io/token', service: 'r.io', scope: 'repository:a/b:pull,push'},
      },
    )
    assert.deepEqual(parseChallenge('BASIC Realm="x \\"y\\""'), {scheme: 'basic', params: {realm: 'x "y"'}})
    assert.deepEqual(parseChallenge('Bearer realm=https://a.io/t, service=s'), {
      scheme: 'bearer',
      params: {realm: 'https://a.io/t', service: 's'},
    })
    assert.deepEqual(parseChallenge(''), {scheme: '', params: {}})
  })

  test('token requests: per-repository scopes, sorted and merged with the challenge; basic or refresh token', () => {
    const ch = parseChallenge('Bearer realm="https://auth.io/token",service="reg",scope="repository:a:pull"')
    const pull = tokenRequest(ch, [repositoryScope('a', false)], {username: 'u', password: 'p', source: 't'})
    assert.equal(pull.method, 'GET')
    assert.deepEqual(pull.url.searchParams.getAll('scope'), ['repository:a:pull'])
    assert.equal(pull.url.searchParams.get('service'), 'reg')
    assert.equal(pull.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`)
    const mount = tokenRequest(ch, [repositoryScope('b', true), repositoryScope('a', false)], undefined)
    assert.deepEqual(mount.url.searchParams.getAll('scope'), ['repository:a:pull', 'repository:b:pull,push'])
    assert.deepEqual(mount.headers, {})
    const refresh = tokenRequest(ch, [repositoryScope('a', true)], {identityToken: 'rt', source: 't'})
    assert.equal(refresh.method, 'POST')
    const form = new URLSearchParams(refresh.body)
    assert.deepEqual(
      [form.get('grant_type'), form.get('refresh_token'), form.get('service'), form.get('scope')],
      ['refresh_token', 'rt', 'reg', 'repository:a:pull repository:a:pull,push'],
    )
  })

  test('token responses: token or access_token, bounded lifetime, junk refused', () => {
    assert.deepEqual(parseTokenResponse({token: 't', expires_in: 300}), {token: 't', expiresInSeconds: 300})
    assert.deepEqual(parseTokenResponse({access_token: 'a'}), {token: 'a', expiresInSeconds: 60})
    assert.equal(parseTokenResponse({token: 'x'.repeat(70_000)}), undefined)
    assert.equal(parseTokenResponse({token: 'a\r\nSet-Cookie: x'}), undefined)
    assert.equal(parseTokenResponse({token: 5}), undefined)
    assert.equal(parseTokenResponse(null), undefined)
    assert.equal(parseTokenResponse({token: 't', expires_in: 1e12})?.expiresInSeconds, 86_400)
  })

  test('docker config dir from the environment the command passes', () => {
    assert.equal(dockerConfigDir({DOCKER_CONFIG: '/x', HOME: '/h'}), '/x')
    assert.equal(dockerConfigDir({HOME: '/h'}), '/h/.docker')
  })

  test('static credentials match any spelling of a registry', async () => {
    const s = staticCredentialStore({'https://index.docker.io/v1/': {username: 'u', password: 'p'}})
    assert.equal((await s.get('docker.io'))?.username, 'u')
    assert.equal(await s.get('ghcr.io'), undefined)
  })
})

describe('registry pagination and referrers tags', () => {
  test('Link: next pages on the same origin only', () => {
    const base = 'http://r:5000/v2/a/tags/list?n=2'
    assert.equal(
      nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', base, 'http://r:5000'),
      'http://r:5000/v2/a/tags/list?n=2&last=b',
    )
    assert.equal(nextLink('<http://evil/v2/a/tags/list>; rel="next"', base, 'http://r:5000'), undefined)
    assert.equal(nextLink('</x>; rel="prev"', base, 'http://r:5000'), undefined)
    assert.equal(nextLink(null, base, 'http://r:5000'), undefined)
  })

  test('fallback tag: <alg>-<hex>, hex cut to 64', () => {
    assert.equal(referrersTag(D), `sha256-${'a'.repeat(64)}`)
    assert.equal(referrersTag(`sha512:${'b'.repeat(128)}`), `sha512-${'b'.repeat(64)}`)
    assert.throws(() => referrersTag('sha256:zz'), /invalid digest/)
  })
})

describe('one registry client', () => {
  test('no other file in src/ speaks the registry API, answers challenges or runs credential helpers', async () => {
    const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')
    const own = path.join(src, 'image', 'registry') + path.sep
    const files = (await readdir(src, {recursive: true})).filter((f) => f.endsWith('.ts')).map((f) => path.join(src, f))
    assert.ok(files.length > 50)
    const offenders: string[] = []
    for (const f of files) {
      if (f.startsWith(own)) continue
      const text = await readFile(f, 'utf8')
      if (/www-authenticate|\/v2\/\$\{|docker-credential-\$\{|['"]docker-credential-/i.test(text))
        offenders.push(path.relative(src, f))
    }
    assert.deepEqual(offenders, [])
  })
})
