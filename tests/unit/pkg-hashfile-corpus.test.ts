/**
 * The hostile hash-file corpus (tests/support/hostile-hashfiles.ts) through the parser: every refused case is
 * a HashFileError naming file:line on one printable line; every legitimate one parses to its entries.
 * The same corpus goes through the CLI in tests/integration/hashfile-hostile.test.ts.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {HashFileError} from '../../src/errors.js'
import {checkEntryName, parseHashFiles} from '../../src/pkg/hash-file.js'
import {DISTRO_NAMES, hostileCorpus} from '../support/hostile-hashfiles.js'

const corpus = hostileCorpus()

describe('hostile hash-file corpus through the parser', () => {
  it('has at least 100 cases in every category the issue names', () => {
    assert.ok(corpus.length >= 100, `${corpus.length} cases`)
    const categories = new Set(corpus.map((c) => c.category))
    for (const c of ['control', 'bidi-format', 'percent', 'traversal', 'url-parts', 'blanks', 'overlong', 'malformed'])
      assert.ok(categories.has(c), c)
    assert.equal(new Set(corpus.map((c) => c.id)).size, corpus.length, 'case ids are unique')
  })

  it('is deterministic (same seed, same bytes)', () => {
    const again = hostileCorpus()
    assert.deepEqual(
      again.map((c) => c.files.map((f) => f.bytes.toString('base64'))),
      corpus.map((c) => c.files.map((f) => f.bytes.toString('base64'))),
    )
  })

  for (const c of corpus) {
    it(`${c.id}: ${c.expect}`, {timeout: 10_000}, () => {
      const inputs = c.files.map((f) => ({file: f.name, text: f.bytes.toString('utf8')}))
      if (c.expect === 'valid') {
        const entries = parseHashFiles(inputs)
        assert.deepEqual(
          entries.map((e) => e.name),
          [...new Set(c.entries!.map((e) => e.name))].sort(),
        )
        return
      }
      assert.throws(
        () => parseHashFiles(inputs),
        (e: Error) => {
          assert.ok(e instanceof HashFileError, `${e.name}: ${e.message}`)
          assert.ok(
            e.message.startsWith(`${c.errorAt!.file}:${c.errorAt!.line}: `),
            `names ${c.errorAt!.file}:${c.errorAt!.line}: ${e.message.slice(0, 200)}`,
          )
          assert.match(e.message, /^[\x20-\x7e]+$/, 'one line of printable ASCII (hostile names escaped)')
          assert.ok(e.message.length <= 400, `short (${e.message.length} characters)`)
          return true
        },
      )
    })
  }

  it('every distro name hash generate writes passes the grammar', () => {
    for (const n of DISTRO_NAMES) assert.equal(checkEntryName(n), undefined, n)
  })
})
