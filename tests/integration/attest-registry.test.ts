/**
 * `repro attest attach` and `repro attest list` against the spec-written fake registry, both ways the OCI
 * distribution spec allows: a registry with the referrers API (it answers OCI-Subject: no fallback tag is
 * written) and one without (the fallback tag sha256-<hex> holds an index of the referrers). The referrer
 * carries the envelope file byte-for-byte; attaching twice adds nothing; a statement about another image,
 * a bad signature, and a verify --sign-key with a bad key (before any rebuild) are refused with exit 2.
 */
import assert from 'node:assert/strict'
import {generateKeyPairSync} from 'node:crypto'
import {readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {envelopeJson, signEnvelope} from '../../src/attest/dsse.js'
import {keyId, type Signer} from '../../src/attest/keys.js'
import {runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {FakeRegistry} from '../support/fake-registry.js'
import {buildImage, type BuiltImage, sha256, tempDir} from '../support/image-fixtures.js'

let dir: string
const validator = new SchemaValidator()
let image: BuiltImage
let other: BuiltImage
let signer: Signer
const env = (): Record<string, string> => ({DOCKER_CONFIG: path.join(dir, 'none')})

before(async () => {
  dir = await tempDir('repro-attest-reg-')
  image = await buildImage({layers: [[{path: 'a', content: 'a\n'}]]})
  other = await buildImage({layers: [[{path: 'b', content: 'b\n'}]]})
  const pair = generateKeyPairSync('ec', {namedCurve: 'prime256v1'})
  signer = {
    algorithm: 'ecdsa-p256',
    keyid: keyId(pair.publicKey),
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
  }
  await writeFile(path.join(dir, 'key.pub'), pair.publicKey.export({type: 'spki', format: 'pem'}))
  const wrong = generateKeyPairSync('ed25519')
  await writeFile(path.join(dir, 'wrong.pub'), wrong.publicKey.export({type: 'spki', format: 'pem'}))
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{name: 'app', digest: {sha256: image.manifestDigest.slice(7)}}],
    predicateType: 'https://repro.dev/verification/v1',
    predicate: {verdict: {result: 'reproduced'}},
  }
  await writeFile(
    path.join(dir, 'att.json'),
    envelopeJson(signEnvelope(Buffer.from(JSON.stringify(statement)), signer)),
  )
})

after(async () => {
  if (dir) await rm(dir, {recursive: true, force: true})
})

for (const referrersApi of [true, false]) {
  describe(`attest attach/list on a registry ${referrersApi ? 'with' : 'without'} the referrers API`, () => {
    let reg: FakeRegistry
    before(async () => {
      reg = await new FakeRegistry({referrersApi}).start()
      reg.addImage('team/app', 'v1', image)
      reg.addImage('team/app', 'v2', other)
    })
    after(async () => {
      await reg.stop()
    })

    test('attached as a referrer (envelope byte-for-byte), listed, idempotent', async () => {
      const ref = `${reg.host}/team/app:v1`
      const file = path.join(dir, 'att.json')
      const a = await runCli(['attest', 'attach', file, ref, '--key', path.join(dir, 'key.pub'), '--json'], {
        env: env(),
      })
      assert.equal(a.code, 0, a.stdout + a.stderr)
      const res = JSON.parse(a.stdout) as {digest: string; subjectDigest: string; fallbackTag?: string}
      validator.check('attest attach', res)
      assert.equal(res.subjectDigest, image.manifestDigest)
      const fallback = `sha256-${image.manifestDigest.slice(7)}`
      assert.equal(res.fallbackTag, referrersApi ? undefined : fallback)
      assert.equal(reg.manifests.get('team/app')!.has(fallback), !referrersApi, 'the fallback tag only without the API')
      const stored = JSON.parse(reg.manifests.get('team/app')!.get(res.digest)!.bytes.toString()) as {
        artifactType: string
        subject: {digest: string; size: number}
        layers: Array<{digest: string; mediaType: string}>
      }
      assert.equal(stored.artifactType, 'application/vnd.in-toto+json')
      assert.deepEqual([stored.subject.digest, stored.subject.size], [image.manifestDigest, image.manifest.length])
      const envelope = await readFile(file)
      assert.equal(stored.layers[0].digest, sha256(envelope))
      assert.ok(reg.blobs.get(sha256(envelope))!.equals(envelope))

      const again = await runCli(['attest', 'attach', file, ref, '--json'], {env: env()})
      assert.equal(JSON.parse(again.stdout).digest, res.digest, 'the same envelope gives the same referrer')
      const l = await runCli(['attest', 'list', ref, '--json'], {env: env()})
      assert.equal(l.code, 0, l.stderr)
      const listed = JSON.parse(l.stdout) as {referrers: Array<{digest: string; artifactType: string}>}
      validator.check('attest list', listed)
      assert.deepEqual(
        listed.referrers.map((r) => [r.digest, r.artifactType]),
        [[res.digest, 'application/vnd.in-toto+json']],
      )
      const none = await runCli(['attest', 'list', `${reg.host}/team/app:v2`, '--json'], {env: env()})
      assert.deepEqual(JSON.parse(none.stdout).referrers, [])

      // verified where it is stored: fetched, checked with the key, about this image
      const key = path.join(dir, 'key.pub')
      const v = await runCli(['attest', 'verify', ref, '--key', key, '--json'], {env: env()})
      assert.equal(v.code, 0, v.stdout + v.stderr)
      validator.check('attest verify', JSON.parse(v.stdout))
      assert.deepEqual((JSON.parse(v.stdout) as {attestations: Array<{digest: string; valid: boolean}>}).attestations, [
        {
          digest: res.digest,
          valid: true,
          predicateType: 'https://repro.dev/verification/v1',
          subjects: [image.manifestDigest],
        },
      ])
      const w = await runCli(['attest', 'verify', ref, '--key', path.join(dir, 'wrong.pub')], {env: env()})
      assert.equal(w.code, 1, w.stdout + w.stderr)
      assert.match(w.stdout, /NOT verified: .*0 of 1 attestation\(s\)[\s\S]*FAILED.*no signature verifies with the key/)
      const nothing = await runCli(['attest', 'verify', `${reg.host}/team/app:v2`, '--key', key], {env: env()})
      assert.equal(nothing.code, 1, 'nothing attached: nothing verifies')
      if (referrersApi) {
        // a hostile referrer next to the good one: reported, not fatal
        const garbage = Buffer.from('{"payloadType": 5}')
        reg.putBlob('team/app', garbage)
        const bad = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            artifactType: 'application/vnd.in-toto+json',
            config: {mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(Buffer.from('{}')), size: 2},
            layers: [
              {mediaType: 'application/vnd.dsse.envelope.v1+json', digest: sha256(garbage), size: garbage.length},
            ],
            subject: {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: image.manifestDigest,
              size: image.manifest.length,
            },
          }),
        )
        const badDigest = reg.putManifest('team/app', sha256(bad), bad, 'application/vnd.oci.image.manifest.v1+json')
        const mixed = await runCli(['attest', 'verify', ref, '--key', key, '--json'], {env: env()})
        assert.equal(mixed.code, 0, mixed.stdout + mixed.stderr)
        const found = (
          JSON.parse(mixed.stdout) as {attestations: Array<{digest: string; valid: boolean; problem?: string}>}
        ).attestations
        assert.equal(found.length, 2)
        assert.match(
          found.find((a) => a.digest === badDigest)!.problem!,
          /not a DSSE envelope: "payloadType" is not a string/,
        )
      }
    })

    test('refused: a statement about another image, a signature that does not verify', async () => {
      const file = path.join(dir, 'att.json')
      let r = await runCli(['attest', 'attach', file, `${reg.host}/team/app:v2`], {env: env()})
      assert.equal(r.code, 2)
      assert.match(
        r.stderr,
        new RegExp(
          `att\\.json: the statement is about ${image.manifestDigest}, not .*v2 \\(${other.manifestDigest}\\): not attached`,
        ),
      )
      r = await runCli(['attest', 'attach', file, `${reg.host}/team/app:v1`, '--key', path.join(dir, 'wrong.pub')], {
        env: env(),
      })
      assert.equal(r.code, 2)
      assert.match(r.stderr, /att\.json: the signature does not verify with --key .*wrong\.pub: not attached/)
    })
  })
}

test('verify --sign-key with a bad key fails at once (before any rebuild), naming the key', async () => {
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\n')
  const t0 = Date.now()
  const r = await runCli(
    [
      'verify',
      '--sde',
      '0',
      '--attest',
      'out.json',
      '--sign-key',
      path.join(dir, 'key.pub'),
      '--runtime',
      'buildkit',
      '--buildkit-addr',
      'unix:///nonexistent',
      dir,
    ],
    {cwd: dir, env: env()},
  )
  assert.equal(r.code, 2)
  assert.match(r.stderr, /--sign-key .*key\.pub: a public key; signing needs the private key/)
  assert.ok(Date.now() - t0 < 20_000)
})
