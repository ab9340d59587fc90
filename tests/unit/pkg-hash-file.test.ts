import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {HashFileError} from '../../src/errors.js'
import {checkEntryName, dedupe, formatHashFile, parseHashFileLines, parseHashFiles} from '../../src/pkg/hash-file.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

describe('hash files', () => {
  it('parses text and binary markers, comments, blank lines and spaces in names', () => {
    const text = `# made by hand\n\n${A}  pool/main/h/hello/hello_2.10-3_amd64.deb\n${B} *pool/x/with space_1_all.deb\n${C} bare_1_all.deb\n`
    const entries = parseHashFiles([{file: 'SUMS', text}])
    assert.deepEqual(
      entries.map((e) => [e.name, e.sha256, e.source.line]),
      [
        ['bare_1_all.deb', C, 5],
        ['pool/main/h/hello/hello_2.10-3_amd64.deb', A, 3],
        ['pool/x/with space_1_all.deb', B, 4],
      ],
    )
    assert.equal(entries[1].basename, 'hello_2.10-3_amd64.deb')
  })

  it('lowercases the checksum and accepts CRLF', () => {
    const [e] = parseHashFiles([{file: 'S', text: `${'A'.repeat(64)}  x_1_all.deb\r\n`}])
    assert.equal(e.sha256, A)
    assert.equal(e.name, 'x_1_all.deb')
  })

  it('attaches /ipfs/ CIDs to every entry with that sha256, across files', () => {
    const entries = parseHashFiles([
      {file: 'one', text: `${A}  a_1_all.deb\n${A}  mirror/a_1_all.deb\n`},
      {file: 'two', text: `${A}  /ipfs/QmRY19HEWeTJtRC6vAdz7rDfX3PjSMgXmd1KYi9guAACUj\n${A}  /ipfs/QmSecond\n`},
    ])
    for (const e of entries) assert.deepEqual(e.cids, ['QmRY19HEWeTJtRC6vAdz7rDfX3PjSMgXmd1KYi9guAACUj', 'QmSecond'])
  })

  it('merges several files by name, later wins', () => {
    const entries = parseHashFiles([
      {file: 'old', text: `${A}  p/a_1_all.deb\n${B}  p/b_1_all.deb\n`},
      {file: 'new', text: `${C}  p/a_1_all.deb\n`},
    ])
    assert.deepEqual(
      entries.map((e) => [e.name, e.sha256, e.source.file]),
      [
        ['p/a_1_all.deb', C, 'new'],
        ['p/b_1_all.deb', B, 'old'],
      ],
    )
  })

  it('refuses traversal and absolute names, naming file and line', () => {
    assert.throws(
      () => parseHashFiles([{file: 'SUMS', text: `${A}  ok_1_all.deb\n${B}  ../../etc/passwd\n`}]),
      (e: Error) => {
        assert.ok(e instanceof HashFileError)
        assert.equal(e.message, 'SUMS:2: file name "../../etc/passwd" escapes with ".." and is refused')
        return true
      },
    )
    assert.throws(
      () => parseHashFiles([{file: 'S', text: `${A}  /etc/passwd\n`}]),
      /^Error: S:1: absolute file name "\/etc\/passwd" is refused$|S:1: absolute/,
    )
    assert.throws(
      () => parseHashFiles([{file: 'S', text: `${A}  a/./b.deb\n`}]),
      /S:1: file name "a\/.\/b.deb" is not clean/,
    )
    assert.throws(() => parseHashFiles([{file: 'S', text: `${A}  a//b.deb\n`}]), /not clean/)
    assert.throws(() => parseHashFiles([{file: 'S', text: `${A}  pool/.hidden\n`}]), /hidden basename/)
  })

  it('refuses malformed lines with the line number', () => {
    assert.throws(
      () => parseHashFiles([{file: 'S', text: `\n${A.slice(1)}  short.deb\n`}]),
      /^.*S:2: malformed line.*64 hex digits/,
    )
    assert.throws(() => parseHashFiles([{file: 'S', text: 'hello world\n'}]), /S:1: malformed line/)
    assert.throws(() => parseHashFiles([{file: 'S', text: `${A}  /ipfs/bad/cid\n`}]), /S:1: malformed IPFS CID/)
    assert.throws(() => parseHashFiles([{file: 'S', text: `${A}  \n`}]), /S:1: empty file name/)
  })

  it('keeps comment lines for rewriting', () => {
    const lines = parseHashFileLines(`# c\n${A}  x_1_all.deb\n${A}  /ipfs/Qm1\n`, 'S')
    assert.deepEqual(
      lines.map((l) => l.kind),
      ['comment', 'entry', 'cid'],
    )
  })

  it('formats sorted with two spaces, and dedupes against an old file', () => {
    const entries = [
      {sha256: B, name: 'z_1_all.deb'},
      {sha256: A, name: 'a_1_all.deb'},
    ]
    assert.equal(formatHashFile(entries), `${A}  a_1_all.deb\n${B}  z_1_all.deb\n`)
    const old = parseHashFiles([{file: 'old', text: `${A}  a_1_all.deb\n${C}  z_1_all.deb\n`}])
    assert.deepEqual(dedupe(entries, old), [{sha256: B, name: 'z_1_all.deb'}])
  })

  it('checkEntryName accepts clean relative names', () => {
    assert.equal(checkEntryName('pool/main/h/hello/hello_2.10-3_amd64.deb'), undefined)
    assert.match(checkEntryName('..') ?? '', /escapes/)
    assert.match(checkEntryName('a/') ?? '', /not clean/)
  })
})
