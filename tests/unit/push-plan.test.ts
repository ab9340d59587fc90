/**
 * Which repositories a push may mount from: --mount-from (REPO or HOST/REPO of the same registry) and base
 * images of the same registry named in manifest annotations; never the target itself, never another registry.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidArgumentError} from '../../src/errors.js'
import {parseReference} from '../../src/image/registry/reference.js'
import {mountSources} from '../../src/push/index.js'

describe('push mount sources', () => {
  const target = parseReference('registry.example:5000/team/app:1')

  it('takes REPO and HOST/REPO of the same registry, and base images there; drops the target and duplicates', () => {
    assert.deepEqual(
      mountSources(
        target,
        ['base/debian', 'registry.example:5000/base/debian', 'team/app', 'lib/x'],
        ['registry.example:5000/base/alpine:3', 'docker.io/library/debian:12', 'not a reference!'],
      ),
      ['base/debian', 'lib/x', 'base/alpine'],
    )
  })

  it('refuses another registry and invalid names, naming the flag', () => {
    assert.throws(
      () => mountSources(target, ['ghcr.io/base/debian'], []),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /--mount-from ghcr\.io\/base\/debian: on ghcr\.io/.test(e.message),
    )
    assert.throws(
      () => mountSources(target, ['Bad Name'], []),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /--mount-from Bad Name: invalid repository name/.test(e.message),
    )
  })
})
