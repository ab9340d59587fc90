import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidArgumentError} from '../../src/errors.js'
import {DEFAULT_PROVIDERS, DISTROS} from '../../src/pkg/distro.js'
import {parseHashFiles} from '../../src/pkg/hash-file.js'
import {parseOciRef} from '../../src/image/registry/reference.js'
import type {HashEntry} from '../../src/pkg/hash-file.js'
import {
  encodeSegment,
  escapeValue,
  parseProvider,
  providerTarget,
  providerUrl,
  resolveProviders,
} from '../../src/pkg/providers.js'
import {
  compileTemplate,
  renderTemplate,
  TemplateError,
  TemplateValueMissingError,
  timeToDebianSnapshot,
} from '../../src/pkg/template.js'

const A = 'a'.repeat(64)

describe('provider templates', () => {
  it('renders fields and functions', () => {
    const t = compileTemplate(
      'http://snap/archive/debian/{{timeToDebianSnapshot .Epoch}}/{{ .Name }}?t={{timeToInt .Epoch}}&p={{.Dpkg.Package}}',
    )
    assert.equal(
      renderTemplate(t, {Name: 'pool/h/hello_1_all.deb', Epoch: 1700000000, Dpkg: {Package: 'hello'}}),
      'http://snap/archive/debian/20231114T221320Z/pool/h/hello_1_all.deb?t=1700000000&p=hello',
    )
  })

  it('timeToDebianSnapshot is UTC YYYYMMDDThhmmssZ; an epoch that is no date is a missing value, not a crash', () => {
    assert.equal(timeToDebianSnapshot(0), '19700101T000000Z')
    assert.equal(timeToDebianSnapshot(1704164645), '20240102T030405Z')
    assert.throws(() => timeToDebianSnapshot(1e20), TemplateValueMissingError)
  })

  it('rejects unknown fields and functions at compile time', () => {
    assert.throws(
      () => compileTemplate('http://x/{{.Nmae}}'),
      (e: Error) => e instanceof TemplateError && /unknown field "\.Nmae"/.test(e.message),
    )
    assert.throws(() => compileTemplate('http://x/{{.Dpkg.Pkg}}'), /unknown field "\.Dpkg\.Pkg"/)
    assert.throws(() => compileTemplate('http://x/{{toUpper .Name}}'), /unknown function "toUpper"/)
    assert.throws(() => compileTemplate('http://x/{{.Name'), /unclosed/)
    assert.throws(() => compileTemplate('http://x/{{Name}}'), /not a field/)
    assert.throws(() => compileTemplate('http://x/{{a b c}}'), /expected/)
  })

  it('a known field without a value fails at render time (the downloader falls through)', () => {
    const t = compileTemplate('http://gw/ipfs/{{.CID}}')
    assert.throws(
      () => renderTemplate(t, {CID: undefined}),
      (e: Error) => e instanceof TemplateValueMissingError && /no \.CID/.test(e.message),
    )
    assert.throws(
      () => renderTemplate(compileTemplate('http://x/{{.RPM.Name}}'), {Dpkg: {Package: 'a'}}),
      /no \.RPM\.Name/,
    )
  })
})

describe('providers', () => {
  const [entry] = parseHashFiles([
    {file: 'S', text: `${A}  pool/main/h/hello/hello_2.10-3_amd64.deb\n${A}  /ipfs/QmX\n`},
  ])

  it('fills template data from the entry', () => {
    const p = parseProvider(
      'file:///mnt/{{.Dpkg.Package}}/{{.Dpkg.Version}}/{{.Dpkg.Architecture}}/{{.Basename}}/{{.SHA256}}/{{.CID}}',
    )
    assert.equal(p.kind, 'url')
    if (p.kind === 'url')
      assert.equal(providerUrl(p, entry, 0), `file:///mnt/hello/2.10-3/amd64/hello_2.10-3_amd64.deb/${A}/QmX`)
  })

  it('refuses unknown schemes, literal URLs and bad templates as argument errors', () => {
    assert.throws(
      () => parseProvider('ftp://x/{{.Name}}'),
      (e: Error) => e instanceof InvalidArgumentError && /unsupported scheme/.test(e.message),
    )
    assert.throws(() => parseProvider('http://x/fixed.deb'), /no \{\{\.\.\.\}\} field/)
    assert.throws(() => parseProvider('http://x/{{.Bogus}}'), /--provider: .*unknown field/)
  })

  it('orders flags over REPRO_PROVIDERS over defaults', () => {
    assert.deepEqual(
      resolveProviders(['http://a/{{.Name}}'], 'http://b/{{.Name}}', ['http://c/{{.Name}}']).map((p) => p.source),
      ['http://a/{{.Name}}'],
    )
    assert.deepEqual(
      resolveProviders([], 'http://b/{{.Name}}, file:///d/{{.Basename}}', []).map((p) => p.source),
      ['http://b/{{.Name}}', 'file:///d/{{.Basename}}'],
    )
    assert.deepEqual(
      resolveProviders(undefined, undefined, ['http://c/{{.Name}}']).map((p) => p.source),
      ['http://c/{{.Name}}'],
    )
  })

  it('parses OCI references: https except localhost, oci+http forces http, tags kept, digests ignored', () => {
    assert.deepEqual(parseOciRef('oci://ghcr.io/me/debs'), {
      scheme: 'https',
      host: 'ghcr.io',
      repo: 'me/debs',
      tag: undefined,
    })
    assert.deepEqual(parseOciRef('oci://127.0.0.1:5000/debs:v1'), {
      scheme: 'http',
      host: '127.0.0.1:5000',
      repo: 'debs',
      tag: 'v1',
    })
    assert.deepEqual(parseOciRef('oci+http://reg.lan:5000/a/b@sha256:abc'), {
      scheme: 'http',
      host: 'reg.lan:5000',
      repo: 'a/b',
      tag: undefined,
    })
    assert.throws(() => parseOciRef('oci://host/UPPER'), /invalid repository name/)
    assert.throws(() => parseOciRef('oci://hostonly'), /not an OCI reference/)
  })
})

describe('providers cannot be turned against the user', () => {
  /** An entry built by hand, bypassing the hash-file parser (as a library caller could). */
  const handMade = (name: string, extra: Partial<HashEntry> = {}): HashEntry => ({
    sha256: A,
    name,
    basename: name.split('/').at(-1)!,
    cids: [],
    source: {file: 'S', line: 1},
    ...extra,
  })

  it('templates: every field comes after scheme://host/, file:// has an absolute root and no ? or #', () => {
    for (const bad of [
      'http://{{.Name}}/x',
      'http://mirror{{.Dpkg.Package}}.example/x',
      'https://mirror?{{.Name}}',
      'http://mirror?a={{.Name}}',
      'file://{{.Name}}',
      'file:///srv/{{.Name}}?q',
      'file:///srv/{{.Name}}#f',
    ])
      assert.throws(
        () => parseProvider(bad),
        (e: Error) => e instanceof InvalidArgumentError && e.message.includes(bad),
        bad,
      )
    const p = parseProvider('file:///srv/pkgs-{{.Basename}}')
    assert.equal(p.kind === 'url' && p.root, '/srv')
    assert.equal(parseProvider('http://mirror/get?sha={{.SHA256}}').kind, 'url')
    const q = parseProvider('file:///srv/mirror/{{.Name}}')
    assert.equal(q.kind === 'url' && q.root, '/srv/mirror')
  })

  it('each value is one encoded segment: ^ is encoded, : + ~ @ stay, / ? # % never get in', () => {
    assert.equal(encodeSegment('a b?#%/^'), 'a%20b%3F%23%25%2F%5E')
    assert.equal(encodeSegment('zstd-1:1.5+r1~rc@x'), 'zstd-1:1.5+r1~rc@x')
    const p = parseProvider('http://mirror/fedora/{{.Name}}?v={{.RPM.Version}}')
    const [e] = parseHashFiles([{file: 'S', text: `${A}  vim/9.1^1/1.fc41/x86_64/vim-9.1^1-1.fc41.x86_64.rpm\n`}])
    assert.equal(
      p.kind === 'url' && providerUrl(p, e, 0),
      'http://mirror/fedora/vim/9.1%5E1/1.fc41/x86_64/vim-9.1%5E1-1.fc41.x86_64.rpm?v=9.1%5E1',
    )
    for (const [value, field] of [
      ['a/b', 'Basename'],
      ['..', 'Basename'],
      ['.', 'Dpkg.Version'],
      ['x?y', 'SHA256'],
      ['x#y', 'CID'],
      ['%2e%2e', 'Dpkg.Package'],
      ['a b', 'APK.Version'],
      ['\u202e', 'Basename'],
    ])
      assert.throws(() => escapeValue(value, field), TemplateValueMissingError, `${field}=${value}`)
  })

  it('an entry built without the parser still cannot leave a file:// root or restructure a URL', () => {
    const file = parseProvider('file:///srv/mirror/{{.Name}}')
    const http = parseProvider('http://mirror/debian/{{.Name}}')
    const cid = parseProvider('http://gw/ipfs/{{.CID}}')
    assert.ok(file.kind === 'url' && http.kind === 'url' && cid.kind === 'url')
    for (const name of [
      '../../etc/passwd',
      '%2e%2e/%2e%2e/etc/passwd',
      '/etc/passwd',
      'a/../../x',
      'x.deb?q=1',
      'x#f',
    ]) {
      assert.throws(() => providerTarget(file, handMade(name), 0), TemplateValueMissingError, name)
      assert.throws(() => providerTarget(http, handMade(name), 0), TemplateValueMissingError, name)
    }
    assert.throws(
      () => providerTarget(cid, handMade('x_1_all.deb', {cids: ['../../admin']}), 0),
      TemplateValueMissingError,
    )
    const ok = providerTarget(file, handMade('pool/main/h/hello/hello_1_all.deb'), 0)
    assert.deepEqual(ok, {
      kind: 'file',
      url: 'file:///srv/mirror/pool/main/h/hello/hello_1_all.deb',
      path: '/srv/mirror/pool/main/h/hello/hello_1_all.deb',
      root: '/srv/mirror',
    })
  })

  it("every distro's default providers pass the stricter template rules", () => {
    for (const d of DISTROS)
      assert.equal(resolveProviders(undefined, undefined, DEFAULT_PROVIDERS[d]).length, DEFAULT_PROVIDERS[d].length)
  })
})
