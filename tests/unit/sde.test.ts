import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidArgumentError} from '../../src/errors.js'
import {formatEpoch, gitSdeArgv, parseDatetime, parseEpoch, parseGitSde, resolveSdeSource} from '../../src/sde.js'

describe('resolveSdeSource', () => {
  it('takes --sde', () => {
    assert.deepEqual(resolveSdeSource({sde: '0'}), {kind: 'value', origin: '--sde', epoch: 0})
    assert.deepEqual(resolveSdeSource({sde: '1700000000'}), {kind: 'value', origin: '--sde', epoch: 1_700_000_000})
  })
  it('takes --datetime', () => {
    assert.deepEqual(resolveSdeSource({datetime: '2024-01-31T12:00:00Z'}), {
      kind: 'value',
      origin: '--datetime',
      epoch: 1_706_702_400,
    })
  })
  it('takes REPRO_SOURCE_DATE_EPOCH', () => {
    assert.deepEqual(resolveSdeSource({env: '42'}), {kind: 'value', origin: 'REPRO_SOURCE_DATE_EPOCH', epoch: 42})
  })
  it('takes --sde-from-git as a source git must answer', () => {
    assert.deepEqual(resolveSdeSource({sdeFromGit: true}), {kind: 'git', origin: '--sde-from-git'})
  })
  it('ignores an empty REPRO_SOURCE_DATE_EPOCH', () => {
    assert.deepEqual(resolveSdeSource({sde: '1', env: ''}), {kind: 'value', origin: '--sde', epoch: 1})
  })
  it('refuses no source, naming every way to give one', () => {
    assert.throws(
      () => resolveSdeSource({}),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        e.code === 'E_INVALID_ARGUMENT' &&
        /no SOURCE_DATE_EPOCH given: pass one of --sde N, --datetime ISO, --sde-from-git, or set REPRO_SOURCE_DATE_EPOCH/.test(
          e.message,
        ),
    )
  })
  it('refuses two sources, naming both', () => {
    assert.throws(
      () => resolveSdeSource({sde: '0', datetime: '2024-01-01'}),
      /SOURCE_DATE_EPOCH given more than once \(--sde, --datetime\)/,
    )
    assert.throws(
      () => resolveSdeSource({sdeFromGit: true, env: '5'}),
      /more than once \(--sde-from-git, REPRO_SOURCE_DATE_EPOCH\)/,
    )
    assert.throws(() => resolveSdeSource({sde: '0', datetime: 'x', sdeFromGit: true, env: '1'}), /more than once/)
  })
})

describe('parseEpoch', () => {
  it('refuses signs, fractions, words', () => {
    for (const bad of ['-1', '1.5', 'abc', '', '0x10', '1e9']) {
      assert.throws(() => parseEpoch(bad, '--sde'), /--sde: expected a non-negative integer/, bad)
    }
  })
  it('refuses values past year 9999', () => {
    assert.throws(() => parseEpoch('99999999999999', '--sde'), /out of range/)
  })
  it('trims whitespace', () => {
    assert.equal(parseEpoch(' 12\n', 'x'), 12)
  })
})

describe('parseDatetime', () => {
  it('reads a date-time without a zone as UTC', () => {
    assert.equal(parseDatetime('2024-01-31T12:00:00'), 1_706_702_400)
    assert.equal(parseDatetime('2024-01-31 12:00:00'), 1_706_702_400)
    assert.equal(parseDatetime('2024-01-31T12:00'), 1_706_702_400)
  })
  it('reads a date as midnight UTC', () => {
    assert.equal(parseDatetime('1970-01-01'), 0)
    assert.equal(parseDatetime('2024-01-31'), 1_706_659_200)
  })
  it('applies zones', () => {
    assert.equal(parseDatetime('2024-01-31T14:00:00+02:00'), 1_706_702_400)
    assert.equal(parseDatetime('2024-01-31T07:00:00-0500'), 1_706_702_400)
    assert.equal(parseDatetime('2024-01-31T12:00:00z'), 1_706_702_400)
  })
  it('drops fractions of a second', () => {
    assert.equal(parseDatetime('2024-01-31T12:00:00.999Z'), 1_706_702_400)
  })
  it('refuses impossible dates and garbage', () => {
    for (const bad of [
      '2024-02-30',
      '2024-13-01',
      '2024-01-01T24:00',
      'yesterday',
      '2024/01/01',
      '2024-01-01T12:00+25:00',
    ]) {
      assert.throws(() => parseDatetime(bad), /--datetime: '.*' is not an ISO 8601 date-time/, bad)
    }
  })
  it('refuses times before 1970', () => {
    assert.throws(() => parseDatetime('1969-12-31T23:59:59Z'), /before 1970/)
  })
})

describe('git', () => {
  it('asks for the last commit touching the context', () => {
    assert.deepEqual(gitSdeArgv('/src/app'), ['git', '-C', '/src/app', 'log', '-1', '--format=%ct', '--', '.'])
  })
  it('parses the commit time', () => {
    assert.equal(parseGitSde('1700000000\n', '/src'), 1_700_000_000)
  })
  it('says so when no commit touches the context', () => {
    assert.throws(() => parseGitSde('\n', '/src/app'), /--sde-from-git: no commit touches \/src\/app/)
  })
})

describe('formatEpoch', () => {
  it('prints RFC 3339 UTC', () => {
    assert.equal(formatEpoch(0), '1970-01-01T00:00:00Z')
  })
})
