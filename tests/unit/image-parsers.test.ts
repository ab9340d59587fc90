import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {normalizeUserDigest, parseDigest} from '../../src/image/digest.js'
import {compressionOfMediaType, sniffCompression} from '../../src/image/media-types.js'
import {normalizeEntryName} from '../../src/image/source.js'
import {headerChecksumOk, parseNumeric, parsePax, parseTarHeader} from '../../src/image/tar-header.js'
import {shellJoin, shellQuote} from '../../src/ui/shell-quote.js'

function header(fields: {name: string; size?: number; type?: string; prefix?: string}): Buffer {
  const b = Buffer.alloc(512)
  b.write(fields.name, 0, 'utf8')
  b.write('0000644\0', 100)
  b.write('0000000\0', 108)
  b.write('0000000\0', 116)
  b.write(`${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`, 124)
  b.write('00000000000\0', 136)
  b.write(fields.type ?? '0', 156)
  b.write('ustar\0', 257)
  b.write('00', 263)
  if (fields.prefix) b.write(fields.prefix, 345)
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const byte of b) sum += byte
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return b
}

describe('tar header parser', () => {
  test('parses a ustar header with a prefix', () => {
    const r = parseTarHeader(header({name: 'layer.tar', prefix: 'abc', size: 1234}))
    assert.equal(r.kind, 'header')
    if (r.kind !== 'header') return
    assert.equal(r.header.name, 'abc/layer.tar')
    assert.equal(r.header.size, 1234)
    assert.equal(r.header.mode, 0o644)
    assert.equal(r.header.type, '0')
  })

  test('a zero block ends the archive', () => {
    assert.deepEqual(parseTarHeader(Buffer.alloc(512)), {kind: 'end'})
  })

  test('a corrupted header fails its checksum', () => {
    const b = header({name: 'x'})
    b[0] = 0x79
    assert.equal(headerChecksumOk(b), false)
    assert.equal(parseTarHeader(b).kind, 'invalid')
  })

  test('text is not a tar header', () => {
    const r = parseTarHeader(Buffer.from('hello world'.padEnd(512, '!')))
    assert.equal(r.kind, 'invalid')
  })

  test('numeric fields: octal, empty, base-256 and garbage', () => {
    const b = Buffer.alloc(12)
    b.write('00000000017\0')
    assert.equal(parseNumeric(b, 0, 12), 15)
    assert.equal(parseNumeric(Buffer.alloc(12), 0, 12), 0)
    const big = Buffer.alloc(12)
    big[0] = 0x80
    big.writeUInt32BE(3 * 2 ** 30, 8)
    assert.equal(parseNumeric(big, 0, 12), 3 * 2 ** 30)
    assert.equal(parseNumeric(Buffer.from('12z\0'), 0, 4), undefined)
  })

  test('pax records, including values with spaces and newlines-free UTF-8', () => {
    const rec = (k: string, v: string): string => {
      const body = ` ${k}=${v}\n`
      const bytes = Buffer.byteLength(body)
      let len = bytes + 1
      while (String(len).length + bytes !== len) len = String(len).length + bytes
      return `${len}${body}`
    }
    const data = Buffer.from(rec('path', 'a very/long name é') + rec('size', '42'))
    assert.deepEqual(parsePax(data), {path: 'a very/long name é', size: '42'})
    assert.throws(() => parsePax(Buffer.from('99 path=x\n')), /malformed/)
  })
})

describe('digests and names', () => {
  test('parseDigest is strict', () => {
    assert.deepEqual(parseDigest(`sha256:${'a'.repeat(64)}`), {algorithm: 'sha256', hex: 'a'.repeat(64)})
    assert.equal(parseDigest(`sha256:${'a'.repeat(63)}`), undefined)
    assert.equal(parseDigest(`sha256:${'A'.repeat(64)}`), undefined)
    assert.equal(parseDigest(`sha256:../../${'a'.repeat(58)}`), undefined)
    assert.equal(parseDigest(`md5:${'a'.repeat(32)}`), undefined)
    assert.equal(parseDigest(42), undefined)
  })

  test('user digests with or without the sha256: prefix', () => {
    const hex = 'ab'.repeat(32)
    assert.equal(normalizeUserDigest(hex), `sha256:${hex}`)
    assert.equal(normalizeUserDigest(`sha256:${hex.toUpperCase()}`), `sha256:${hex}`)
    assert.equal(normalizeUserDigest('nope'), undefined)
  })

  test('entry names are normalized and never escape', () => {
    assert.equal(normalizeEntryName('./blobs/sha256/x'), 'blobs/sha256/x')
    assert.equal(normalizeEntryName('dir/'), 'dir')
    assert.equal(normalizeEntryName('a/../b'), 'b')
    assert.equal(normalizeEntryName('../etc/passwd'), undefined)
    assert.equal(normalizeEntryName('/etc/passwd'), undefined)
    assert.equal(normalizeEntryName('a/../../b'), undefined)
  })

  test('compression from media types and magic bytes', () => {
    assert.equal(compressionOfMediaType('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip')
    assert.equal(compressionOfMediaType('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip')
    assert.equal(compressionOfMediaType('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd')
    assert.equal(compressionOfMediaType('application/vnd.oci.image.layer.v1.tar'), 'none')
    assert.equal(compressionOfMediaType('text/plain'), 'unknown')
    assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip')
    assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd')
    assert.equal(sniffCompression(Buffer.from('abcd')), 'none')
  })
})

describe('shell quoting', () => {
  test('plain words stay plain, others are single-quoted', () => {
    assert.equal(shellQuote('docker'), 'docker')
    assert.equal(shellQuote('--output=type=docker,dest=/tmp/x.tar'), '--output=type=docker,dest=/tmp/x.tar')
    assert.equal(shellQuote(''), "''")
    assert.equal(shellQuote('a b'), "'a b'")
    assert.equal(shellQuote("it's"), `'it'"'"'s'`)
    assert.equal(shellJoin(['echo', '$HOME', 'x;y']), "echo '$HOME' 'x;y'")
  })
})
