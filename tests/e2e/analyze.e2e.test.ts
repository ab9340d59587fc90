/**
 * analyze on archives written by the real engines of the test bed: Docker 20.10's docker save (legacy
 * format), podman save in both formats, the BuildKit docker and oci exporters (the test bed's base image
 * archives) and an OCI layout directory. Each digest is compared with what the engine itself reports.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {rm} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {runCli} from '../support/cli.js'
import {tempDir} from '../support/image-fixtures.js'
import {readTestbedState, type TestbedState} from '../support/testbed.js'

let state: TestbedState
let dir: string

before(async () => {
  state = readTestbedState()
  dir = await tempDir('repro-analyze-e2e-')
})

after(async () => {
  if (dir) await rm(dir, {force: true, recursive: true})
})

const sh = (cmd: string, args: string[]): string =>
  execFileSync(cmd, args, {encoding: 'utf8', maxBuffer: 1 << 26}).trim()

async function analyze(target: string): Promise<Record<string, any>> {
  const r = await runCli(['analyze', target, '--verify', '--json'])
  assert.equal(r.code, 0, r.stderr)
  const json = JSON.parse(r.stdout)
  assert.equal(json.verification.ok, true)
  return json
}

describe('analyze archives written by real engines', () => {
  test('Docker 20.10 docker save: legacy format, image ID = docker inspect Id', async () => {
    const img = state.images.busybox
    const out = path.join(dir, 'docker-save.tar')
    sh('docker', ['save', '-o', out, img.name])
    const json = await analyze(out)
    assert.equal(json.format, 'docker-archive')
    assert.equal(json.imageDigest, null)
    assert.equal(json.images[0].imageId, sh('docker', ['image', 'inspect', '--format', '{{.Id}}', img.name]))
    assert.deepEqual(json.images[0].repoTags, [img.name])
  })

  test('podman save --format docker-archive: image ID = podman inspect Id', async () => {
    const img = state.images.busybox
    const out = path.join(dir, 'podman-docker.tar')
    sh('podman', ['save', '--format', 'docker-archive', '-o', out, img.name])
    const json = await analyze(out)
    assert.equal(json.format, 'docker-archive')
    assert.equal(
      json.images[0].imageId,
      `sha256:${sh('podman', ['image', 'inspect', '--format', '{{.Id}}', img.name])}`,
    )
  })

  test('podman save --format oci-archive: the manifest digest, checked with tar and sha256sum', async () => {
    const img = state.images.busybox
    const out = path.join(dir, 'podman-oci.tar')
    sh('podman', ['save', '--format', 'oci-archive', '-o', out, img.name])
    const json = await analyze(out)
    assert.equal(json.format, 'oci-archive')
    // podman re-encodes the manifest on save (podman inspect's Digest is the one it loaded), so the
    // independent check is the archive's own bytes: index.json's descriptor and the blob's sha256
    const index = JSON.parse(sh('tar', ['-xOf', out, 'index.json']))
    const digest = index.manifests[0].digest as string
    const blobSum = execFileSync(
      'sh',
      ['-c', 'tar -xOf "$0" "$1" | sha256sum', out, `blobs/sha256/${digest.slice(7)}`],
      {
        encoding: 'utf8',
      },
    ).split(' ')[0]
    assert.equal(json.imageDigest, digest)
    assert.equal(`sha256:${blobSum}`, digest)
    assert.equal(json.index.mediaTypeMissing, index.mediaType === undefined)
  })

  test('BuildKit docker and oci exporter tarballs and an OCI layout: the digests BuildKit reported', async () => {
    for (const img of [state.images.busybox, state.images.debian]) {
      const docker = await analyze(img.dockerArchive)
      assert.equal(docker.format, 'docker-exporter')
      assert.equal(docker.imageDigest, img.manifestDigest)
      assert.equal(docker.images[0].imageId, img.configDigest)
      const oci = await analyze(img.ociArchive)
      assert.equal(oci.format, 'oci-archive')
      assert.equal(oci.imageDigest, img.manifestDigest)
      const layout = await analyze(img.ociLayout)
      assert.equal(layout.format, 'oci-layout-dir')
      assert.equal(layout.imageDigest, img.manifestDigest)
    }
  })

  test('the registry serves the manifest analyze reports (skopeo inspect)', async () => {
    const img = state.images.busybox
    const digest = sh('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--format',
      '{{.Digest}}',
      `docker://${img.registryRef}`,
    ])
    const json = await analyze(img.ociArchive)
    assert.equal(json.imageDigest, digest)
  })
})
