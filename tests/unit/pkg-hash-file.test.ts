import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {HashFileError} from '../../src/errors.js'
import {parsePackageFileName} from '../../src/pkg/filename.js'
import {
  checkEntryName,
  dedupe,
  explainName,
  formatHashFile,
  NAME_MAX_LENGTH,
  parseHashFileLines,
  parseHashFiles,
  quoteName,
  SEGMENT_MAX_LENGTH,
} from '../../src/pkg/hash-file.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

describe('hash files', () => {
  it('parses text and binary markers, comments and blank lines', () => {
    const text = `# made by hand\n\n${A}  pool/main/h/hello/hello_2.10-3_amd64.deb\n${B} *pool/x/with+plus_1_all.deb\n${C} bare_1_all.deb\n`
    const entries = parseHashFiles([{file: 'SUMS', text}])
    assert.deepEqual(
      entries.map((e) => [e.name, e.sha256, e.source.line]),
      [
        ['bare_1_all.deb', C, 5],
        ['pool/main/h/hello/hello_2.10-3_amd64.deb', A, 3],
        ['pool/x/with+plus_1_all.deb', B, 4],
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

  it('merges several files by name: exact duplicates are fine, a different sha256 is an error naming both lines', () => {
    const entries = parseHashFiles([
      {file: 'old', text: `${A}  p/a_1_all.deb\n${B}  p/b_1_all.deb\n`},
      {file: 'new', text: `${A} *p/a_1_all.deb\n${C}  p/c_1_all.deb\n`},
    ])
    assert.deepEqual(
      entries.map((e) => [e.name, e.sha256, `${e.source.file}:${e.source.line}`]),
      [
        ['p/a_1_all.deb', A, 'old:1'],
        ['p/b_1_all.deb', B, 'old:2'],
        ['p/c_1_all.deb', C, 'new:2'],
      ],
    )
    assert.throws(
      () =>
        parseHashFiles([
          {file: 'old', text: `${A}  p/a_1_all.deb\n`},
          {file: 'new', text: `\n${C}  p/a_1_all.deb\n`},
        ]),
      (e: Error) =>
        e instanceof HashFileError &&
        e.message === `new:2: file name "p/a_1_all.deb" has sha256 ${C} here but ${A} at old:1`,
    )
    // within one file too (hash update reads one file with parseHashFileLines)
    assert.throws(
      () => parseHashFileLines(`${A}  p/a_1_all.deb\n# c\n${B}  p/a_1_all.deb\n`, 'S'),
      /^HashFileError: S:3: file name "p\/a_1_all.deb" has sha256 b+ here but a+ at S:1$/,
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
    assert.throws(() => parseHashFiles([{file: 'S', text: `${A}  pool/.hidden\n`}]), /hidden segment ".hidden"/)
  })

  it('refuses malformed lines with the line number', () => {
    assert.throws(
      () => parseHashFiles([{file: 'S', text: `\n${A.slice(1)}  short.deb\n`}]),
      /^.*S:2: malformed line.*must be 64 hex digits, not 63/,
    )
    assert.throws(() => parseHashFiles([{file: 'S', text: 'hello world\n'}]), /S:1: malformed line/)
    assert.throws(
      () => parseHashFiles([{file: 'S', text: `${A}  /ipfs/bad/cid\n`}]),
      /S:1: malformed IPFS CID "bad\/cid"/,
    )
    assert.throws(
      () => parseHashFiles([{file: 'S', text: `${A}\tx.deb\n`}]),
      /S:1: malformed line.*a space must follow/,
    )
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

  it('checkEntryName: the one grammar, with its caps', () => {
    for (const ok of [
      'pool/main/h/hello/hello_2.10-3_amd64.deb',
      'z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst.sig',
      'vim/9.1^1/1.fc41/x86_64/vim-9.1^1-1.fc41.x86_64.rpm',
      'pool/main/s/systemd/systemd_252.30-1~deb12u2_amd64.deb',
      '@/@scope/x-1-1-any.pkg.tar.zst',
      `${'s'.repeat(SEGMENT_MAX_LENGTH)}`,
      `${'a'.repeat(250)}/${'b'.repeat(250)}/${'c'.repeat(250)}/${'d'.repeat(250)}/${'e'.repeat(NAME_MAX_LENGTH - 1004)}`,
    ])
      assert.equal(checkEntryName(ok), undefined, ok.slice(0, 60))
    const refused: [string, RegExp][] = [
      ['..', /escapes/],
      ['a/', /not clean \(use "a"\)/],
      ['s'.repeat(SEGMENT_MAX_LENGTH + 1), /segment longer than 255 characters/],
      [`${'a/'.repeat(512)}b`, /longer than 1024 characters/],
      ['%2e%2e/etc/passwd', /contains "%"/],
      ['a\u202eb.deb', /invisible or bidirectional character \(U\+202E\)/],
      ['a\u0085b.deb', /control character \(U\+0085\)/],
      ['a\u007fb.deb', /control character \(U\+007F\)/],
      ['x.deb ', /leading or trailing blanks/],
      ['~/x.deb', /starts with "~"/],
      ['x.deb?q', /contains "\?"/],
      ['x.deb#f', /contains "#"/],
      ['a\\b', /backslash/],
      ['/abs', /absolute/],
      ['-x.deb', /segment starting with "-"/],
      ['a=b.deb', /contains "=" \(allowed: /],
    ]
    for (const [name, re] of refused) assert.match(checkEntryName(name) ?? 'accepted', re, JSON.stringify(name))
  })

  it('quoteName escapes and truncates whatever it is given, on one line', () => {
    assert.equal(quoteName('a"b\\c'), '"a\\"b\\\\c"')
    assert.equal(quoteName('\u001b[31m\u0000\u202e\u{e0001}'), '"\\x1b[31m\\x00\\u202e\\u{e0001}"')
    const long = quoteName('\u0007'.repeat(1 << 20))
    assert.match(long, /^"(\\x07)+"\.\.\. \(1048576 characters\)$/)
    assert.ok(long.length < 120)
  })

  it('package file names from disk (cache import) with a malformed %-escape do not throw', () => {
    assert.equal(parsePackageFileName('x_1%zz_all.deb')?.version, '1%zz')
    assert.equal(parsePackageFileName('python3-apt_1%3a2.6.0_amd64.deb')?.version, '1:2.6.0')
  })

  it('the one-expression grammar and the rule-by-rule explanation agree on 20,000 seeded strings', () => {
    let seed = 14
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    const alphabet = [
      'a',
      'Z',
      '0',
      '.',
      '..',
      '-',
      '_',
      '+',
      '~',
      '^',
      ':',
      '@',
      '/',
      '//',
      ' ',
      '%',
      '#',
      '\u202e',
      'é',
    ]
    let valid = 0
    for (let i = 0; i < 20_000; i++) {
      let s = ''
      const n = 1 + Math.floor(rand() * 8)
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rand() * alphabet.length)]
      const fast = checkEntryName(s) === undefined
      assert.equal(fast, explainName(s) === undefined, JSON.stringify(s))
      if (fast) valid++
    }
    assert.ok(valid > 1000 && valid < 19_000, `both outcomes are exercised (${valid} valid)`)
  })
})
