import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {compareDebianVersions, compareEvr, parseDebianVersion, parseEvr, rpmvercmp} from '../../src/pkg/version.js'

describe('Debian version comparison (dpkg verrevcmp)', () => {
  const cases: [string, string, number][] = [
    ['1.0', '1.0', 0],
    ['0:1.0', '1.0', 0],
    ['1.0', '1.0-1', -1],
    ['1.0~rc1', '1.0', -1],
    ['1.0~rc1', '1.0~rc2', -1],
    ['1:0.1', '2.0', 1],
    ['1.0+b1', '1.0', 1],
    ['2.10-3', '2.10-10', -1],
    ['1.0a', '1.0', 1],
    ['1.0.0', '1.0', 1],
    ['a~~', 'a~~a', -1],
    ['a~~a', 'a~', -1],
    ['a~', 'a', -1],
    ['1.2-3+deb12u1', '1.2-3', 1],
    ['5.2.15-2+b8', '5.2.15-2+b13', -1],
    ['1.001', '1.1', 0],
    ['1.0-1', '1.0-1.1', -1],
    ['2:1.0', '1:9.9', 1],
    ['1.0+dfsg', '1.0-1', 1],
    ['7.88.1-10+deb12u14', '7.88.1-10+deb12u5', 1],
  ]
  for (const [a, b, want] of cases) {
    it(`${a} vs ${b} = ${want}`, () => {
      assert.equal(compareDebianVersions(a, b), want)
      assert.equal(compareDebianVersions(b, a), -want || 0)
    })
  }
  it('parses epoch, upstream and the last-dash revision', () => {
    assert.deepEqual(parseDebianVersion('1:2.0-1-2'), {epoch: 1, upstream: '2.0-1', revision: '2'})
    assert.throws(() => parseDebianVersion('x:1'), /invalid epoch/)
  })
})

describe('rpmvercmp (rpm rpmio/rpmvercmp.c, its test cases)', () => {
  const cases: [string, string, number][] = [
    ['1.0', '1.0', 0],
    ['1.0', '2.0', -1],
    ['2.0.1', '2.0', 1],
    ['2.0.1a', '2.0.1', 1],
    ['5.5p1', '5.5p2', -1],
    ['5.5p10', '5.5p1', 1],
    ['10xyz', '10.1xyz', -1],
    ['xyz10', 'xyz10.1', -1],
    ['xyz.4', '8', -1],
    ['1b.fc17', '1.fc17', -1],
    ['2.0', '2_0', 0],
    ['a+', 'a_', 0],
    ['_+', '_', 0],
    ['+', '_', 0],
    ['1.0~rc1', '1.0', -1],
    ['1.0~rc1', '1.0~rc2', -1],
    ['1.0~rc1~git123', '1.0~rc1', -1],
    ['1.0^', '1.0', 1],
    ['1.0^git1', '1.0', 1],
    ['1.0^git1', '1.01', -1],
    ['1.0^20160101', '1.0.1', -1],
    ['1.0^20160101^git1', '1.0^20160101', 1],
    ['1.0~rc1^git1', '1.0~rc1', 1],
    ['1.0^git1~pre', '1.0^git1', -1],
    ['001', '1', 0],
    ['1.fc40', '1.fc39', 1],
  ]
  for (const [a, b, want] of cases) {
    it(`${a} vs ${b} = ${want}`, () => {
      assert.equal(rpmvercmp(a, b), want)
      assert.equal(rpmvercmp(b, a), -want || 0)
    })
  }
  it('compares EVRs epoch first', () => {
    assert.equal(compareEvr(parseEvr('1:1.0-1'), parseEvr('2.0-1')), 1)
    assert.equal(compareEvr(parseEvr('1.0-2.fc40'), parseEvr('1.0-10.fc40')), -1)
    assert.deepEqual(parseEvr('3:1.2-4'), {epoch: 3, version: '1.2', release: '4'})
  })
})
