/**
 * `repro lint IMAGE` over the hostile-archive corpus (tests/hostile/gen_corpus.py, Python's tarfile as the
 * independent writer; reused, not copied): every light variant is scanned in-process, and each must end in a
 * result or a typed error with exit 2 (never another exception), within the corpus's per-operation bound;
 * variants the corpus marks unreadable must be errors. Heavy variants (bombs, huge fan-out) are covered by
 * tests/integration/lint-image.test.ts with peak RSS measured in a child process.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ReproError} from '../../src/errors.js'
import {realExec} from '../../src/exec.js'
import {lintImage} from '../../src/lint/image.js'
import {type Corpus, generateCorpus, OP_LIMIT_MS} from '../support/hostile-corpus.js'

const SEED = 16

describe('repro lint IMAGE over the hostile-archive corpus', () => {
  let dir: string
  let corpus: Corpus

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'repro-lint-hostile-'))
    corpus = generateCorpus(path.join(dir, 'corpus'), SEED)
  })

  after(() => rmSync(dir, {recursive: true, force: true}))

  it('every light variant: a result or an exit-2 error, within the bound; unreadable ones are errors', async () => {
    const light = corpus.variants.filter((v) => !v.heavy)
    assert.ok(light.length > 500, `${light.length} light variants`)
    const problems: string[] = []
    const tally = {results: 0, errors: 0, findings: 0}
    let slowest = {ms: 0, name: ''}
    for (const v of light) {
      const t0 = performance.now()
      let outcome: 'error' | 'result'
      try {
        const r = await lintImage(v.path, {exec: realExec, disabled: new Set(), now: 2_000_000_000})
        JSON.stringify(r)
        outcome = 'result'
        tally.results++
        tally.findings += r.findings.length
      } catch (error) {
        if (!(error instanceof ReproError) || error.exitCode !== 2) {
          problems.push(`${v.name}: ${(error as Error)?.name}: ${(error as Error)?.message}`)
          continue
        }
        // (control characters in a name are shown escaped: the directory part is plain)
        if (!error.message.includes(path.dirname(v.path)))
          problems.push(`${v.name}: the error does not name the input: ${error.message}`)
        outcome = 'error'
        tally.errors++
      }
      const ms = performance.now() - t0
      if (ms > slowest.ms) slowest = {ms, name: v.name}
      if (ms > OP_LIMIT_MS) problems.push(`${v.name}: ${Math.round(ms)} ms`)
      if (v.expect === 'readError' && outcome !== 'error')
        problems.push(`${v.name}: unreadable, but lint gave a result`)
    }
    console.log(
      `lint over ${light.length} hostile variants: ${tally.results} results (${tally.findings} findings), ${tally.errors} exit-2 errors; slowest ${slowest.name} ${Math.round(slowest.ms)} ms`,
    )
    assert.deepEqual(problems.slice(0, 20), [])
  })
})
