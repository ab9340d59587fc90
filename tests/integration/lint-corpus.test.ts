/**
 * Precision and recall of every rule over the labelled corpus (tests/fixtures/lint-corpus): real public
 * Dockerfiles, labelled by hand against the README's rule definitions before the rules were written.
 * A finding matches a label with the same rule id and line. Prints the per-rule table as diagnostics.
 */
import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import yaml from 'js-yaml'

import {lint} from '../../src/lint/index.js'
import {RULES} from '../../src/lint/rules/index.js'
import {ROOT} from '../support/cli.js'

const CORPUS = path.join(ROOT, 'tests', 'fixtures', 'lint-corpus')
/** below this many labels + findings a rule's numbers are shown but not held to the bar */
const MIN_SUPPORT = 5

interface Tally {
  tp: number
  fp: number
  fn: number
}

describe('lint corpus', () => {
  const entries = readdirSync(CORPUS).filter((n) => statSync(path.join(CORPUS, n)).isDirectory())

  it('holds at least 30 real Dockerfiles, each with its source, commit and license recorded', () => {
    assert.ok(entries.length >= 30, `${entries.length} Dockerfiles`)
    for (const name of entries) {
      const meta = yaml.load(readFileSync(path.join(CORPUS, name, 'meta.yaml'), 'utf8')) as Record<string, string>
      assert.match(meta.repository, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/, name)
      assert.match(meta.commit, /^[0-9a-f]{40}$/, name)
      assert.ok(meta.path && meta.license, name)
    }
  })

  it('has precision >= 0.9 and recall >= 0.8 overall and for every rule with enough support', (t) => {
    const tally = new Map<string, Tally>(RULES.map((r) => [r.id, {tp: 0, fp: 0, fn: 0}]))
    const misses: string[] = []
    for (const name of entries) {
      const labels = (
        yaml.load(readFileSync(path.join(CORPUS, name, 'expected.yaml'), 'utf8')) as {
          findings: {rule: string; line: number}[]
        }
      ).findings
      const result = lint({targets: [path.join(CORPUS, name)], cwd: ROOT, buildContexts: [], disable: []})
      const got = new Set(result.findings.map((f) => `${f.rule}:${f.line}`))
      const want = new Set(labels.map((l) => `${l.rule}:${l.line}`))
      for (const g of got) {
        const s = tally.get(g.split(':')[0])!
        if (want.has(g)) s.tp++
        else {
          s.fp++
          misses.push(`false positive ${name} ${g}`)
        }
      }
      for (const w of want) {
        if (!got.has(w)) {
          tally.get(w.split(':')[0])!.fn++
          misses.push(`false negative ${name} ${w}`)
        }
      }
    }
    const ratio = (a: number, b: number): number => (b === 0 ? 1 : a / b)
    const rows = [...tally].map(([id, s]) => ({
      id,
      ...s,
      support: s.tp + s.fn,
      precision: ratio(s.tp, s.tp + s.fp),
      recall: ratio(s.tp, s.tp + s.fn),
    }))
    const total = rows.reduce((a, r) => ({tp: a.tp + r.tp, fp: a.fp + r.fp, fn: a.fn + r.fn}), {tp: 0, fp: 0, fn: 0})
    const fmt = (n: number): string => n.toFixed(2)
    const cell = (r: {tp: number; fp: number; fn: number}, n: number): string =>
      r.tp + r.fp + r.fn === 0 ? 'n/a' : fmt(n)
    t.diagnostic(`corpus: ${entries.length} Dockerfiles`)
    t.diagnostic('rule   support  tp  fp  fn  precision  recall')
    for (const r of rows) {
      t.diagnostic(
        `${r.id}  ${String(r.support).padStart(7)} ${String(r.tp).padStart(3)} ${String(r.fp).padStart(3)} ${String(r.fn).padStart(3)}  ${cell(r, r.precision).padStart(9)}  ${cell(r, r.recall).padStart(6)}`,
      )
    }
    t.diagnostic(
      `all    ${String(total.tp + total.fn).padStart(7)} ${String(total.tp).padStart(3)} ${String(total.fp).padStart(3)} ${String(total.fn).padStart(3)}  ${fmt(ratio(total.tp, total.tp + total.fp)).padStart(9)}  ${fmt(ratio(total.tp, total.tp + total.fn)).padStart(6)}`,
    )
    for (const m of misses) t.diagnostic(m)
    assert.ok(total.tp > 0)
    assert.ok(ratio(total.tp, total.tp + total.fp) >= 0.9, 'overall precision')
    assert.ok(ratio(total.tp, total.tp + total.fn) >= 0.8, 'overall recall')
    for (const r of rows) {
      if (r.tp + r.fp + r.fn < MIN_SUPPORT) continue
      assert.ok(r.precision >= 0.9, `${r.id} precision ${fmt(r.precision)}`)
      assert.ok(r.recall >= 0.8, `${r.id} recall ${fmt(r.recall)}`)
    }
  })
})
