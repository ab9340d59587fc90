/**
 * DSSE envelopes and keys: the PAE of the spec's example, sign/verify round trips for both algorithms,
 * strict base64, and a generated table of hostile envelopes, each classified as malformed (an
 * AttestInputError naming the file: exit 2) or as a signature that does not verify (exit 1), within bounds
 * of time and memory.
 */
import assert from 'node:assert/strict'
import {generateKeyPairSync, randomBytes} from 'node:crypto'
import {describe, it} from 'node:test'

import {
  decodeBase64,
  envelopeJson,
  pae,
  parseEnvelope,
  parseStatement,
  signEnvelope,
  subjectDigests,
  verifyEnvelope,
} from '../../src/attest/dsse.js'
import {algorithmOf, AttestInputError, keyId, type Signer, type Verifier} from '../../src/attest/keys.js'
import {referrerManifest} from '../../src/attest/index.js'

const FILE = 'att.json'
const DIGEST = `sha256:${'ab'.repeat(32)}`

function signerOf(algorithm: 'ecdsa-p256' | 'ed25519'): Signer {
  const pair =
    algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', {namedCurve: 'prime256v1'})
  return {algorithm, keyid: keyId(pair.publicKey), privateKey: pair.privateKey, publicKey: pair.publicKey}
}
const verifierOf = (s: Signer): Verifier => ({algorithm: s.algorithm, keyid: s.keyid, publicKey: s.publicKey})

const statement = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{name: 'app', digest: {sha256: 'ab'.repeat(32)}}],
    predicateType: 'https://repro.dev/verification/v1',
    predicate: {verdict: {result: 'reproduced'}},
  }),
)

describe('DSSE', () => {
  it('PAE is the spec example byte for byte', () => {
    assert.equal(
      pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    )
    // lengths are bytes, not characters
    assert.equal(pae('t', Buffer.from('é')).toString(), 'DSSEv1 1 t 2 é')
  })

  for (const algorithm of ['ecdsa-p256', 'ed25519'] as const) {
    it(`${algorithm}: sign then verify; another key, a changed payload or a signature over other bytes fail`, () => {
      const s = signerOf(algorithm)
      const env = signEnvelope(statement, s)
      assert.equal(env.payloadType, 'application/vnd.in-toto+json')
      assert.equal(env.signatures[0].keyid, s.keyid)
      const parsed = parseEnvelope(envelopeJson(env), FILE)
      assert.ok(parsed.payload.equals(statement), 'the payload is the exact bytes signed')
      assert.deepEqual(verifyEnvelope(parsed, verifierOf(s)), {valid: true, keyid: s.keyid})
      assert.equal(verifyEnvelope(parsed, verifierOf(signerOf(algorithm))).valid, false, 'another key')
      const tampered = Buffer.from(statement)
      tampered[tampered.length - 3] ^= 1
      const t = parseEnvelope(envelopeJson({...env, payload: tampered.toString('base64')}), FILE)
      assert.equal(verifyEnvelope(t, verifierOf(s)).valid, false, 'tampered payload')
      const other = signEnvelope(Buffer.from('{"other":true}'), s)
      const swapped = parseEnvelope(envelopeJson({...env, signatures: other.signatures}), FILE)
      assert.equal(verifyEnvelope(swapped, verifierOf(s)).valid, false, 'signature over other bytes')
    })
  }

  it('keyid is the same for both halves and differs between keys; only P-256 and Ed25519 are ours', () => {
    const s = signerOf('ecdsa-p256')
    assert.match(s.keyid, /^[a-f0-9]{64}$/)
    assert.notEqual(s.keyid, signerOf('ecdsa-p256').keyid)
    assert.equal(algorithmOf(generateKeyPairSync('ec', {namedCurve: 'secp384r1'}).publicKey), undefined)
    assert.equal(algorithmOf(generateKeyPairSync('rsa', {modulusLength: 1024}).publicKey), undefined)
  })

  it('base64: strict, standard or URL-safe, padding optional; 2000 random round trips', () => {
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(i % 97)
      assert.ok(decodeBase64(b.toString('base64'))!.equals(b))
      assert.ok(decodeBase64(b.toString('base64url'))!.equals(b))
    }
    for (const bad of ['!!!!', 'ab$d', 'a', 'abcde', 'ab=c', 'ab===', 'YQ=', ' YWJj', 'YWJj\n', 'YR=='])
      assert.equal(decodeBase64(bad), undefined, JSON.stringify(bad))
  })

  it('the statement: subjects as alg:hex (sha256/sha512 only), malformed ones named', () => {
    assert.deepEqual(subjectDigests(parseStatement(statement, FILE)), [DIGEST])
    const bad = (o: unknown): RegExp | undefined => {
      try {
        parseStatement(Buffer.from(JSON.stringify(o)), FILE)
        return undefined
      } catch (error) {
        assert.ok(error instanceof AttestInputError)
        return /^att\.json: payload: /.test(error.message) ? /ok/ : undefined
      }
    }
    for (const o of [
      null,
      [],
      {_type: 'x', subject: [], predicateType: 'p'},
      {_type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: 'p'},
      {_type: 'https://in-toto.io/Statement/v1', subject: [{digest: 'x'}], predicateType: 'p'},
      {_type: 'https://in-toto.io/Statement/v1', subject: [{digest: {sha256: 5}}], predicateType: 'p'},
      {_type: 'https://in-toto.io/Statement/v1', subject: [{digest: {}}], predicateType: 7},
    ])
      assert.ok(bad(o), JSON.stringify(o))
  })

  it('generated hostile envelopes: each malformed one is exit-2 input naming the file, each forged one fails to verify', () => {
    const s = signerOf('ecdsa-p256')
    const good = signEnvelope(statement, s)
    const text = envelopeJson(good)
    const other = signEnvelope(Buffer.from('other bytes'), s)
    const malformed: Array<[string, string]> = []
    for (let cut = 0; cut < text.length - 2; cut += 5) malformed.push([`truncated at ${cut}`, text.slice(0, cut)])
    const withField = (k: string, v: unknown): string => JSON.stringify({...good, [k]: v})
    for (const v of [1, null, [], {}, true]) {
      malformed.push([`payload ${JSON.stringify(v)}`, withField('payload', v)])
      malformed.push([`payloadType ${JSON.stringify(v)}`, withField('payloadType', v)])
      malformed.push([`signatures ${JSON.stringify(v)}`, withField('signatures', v === null ? 'x' : v)])
    }
    for (const sigs of [
      [],
      [1],
      [null],
      [{sig: 5}],
      [{keyid: 5, sig: good.signatures[0].sig}],
      [{sig: '%%%'}],
      [{sig: ''}],
    ])
      malformed.push([`signatures ${JSON.stringify(sigs)}`, withField('signatures', sigs)])
    malformed.push([
      'too many signatures',
      withField(
        'signatures',
        Array.from({length: 65}, () => good.signatures[0]),
      ),
    ])
    for (const p of ['!!!', 'abc$', 'a', 'YWJj\n'.repeat(3)])
      malformed.push([`payload base64 ${p}`, withField('payload', p)])
    for (const t of ['application/json', 'application/vnd.in-toto+json ', 'text/plain', ''])
      malformed.push([`payloadType ${t}`, withField('payloadType', t)])
    malformed.push(['not JSON', 'garbage'])
    malformed.push(['a bare statement', statement.toString()])
    malformed.push(['an array', '[]'])
    malformed.push(['deeply nested', `${'['.repeat(100_000)}${']'.repeat(100_000)}`])
    malformed.push(['binary', randomBytes(4096).toString('latin1')])

    const forged: Array<[string, string]> = [
      ['signature over other bytes', withField('signatures', other.signatures)],
      ['random signature bytes', withField('signatures', [{keyid: s.keyid, sig: randomBytes(72).toString('base64')}])],
      ['r||s of zeros', withField('signatures', [{keyid: s.keyid, sig: Buffer.alloc(64).toString('base64')}])],
      [
        'payload with one bit flipped',
        withField('payload', Buffer.from(statement).fill(0x20, 0, 1).toString('base64')),
      ],
      [
        'keyid claims ours, signature by another key',
        withField('signatures', [{...signEnvelope(statement, signerOf('ecdsa-p256')).signatures[0], keyid: s.keyid}]),
      ],
    ]
    const t0 = Date.now() // a hang guard (30 s), not a speed goal: the unit files run side by side on 2 loaded cores
    const heap0 = process.memoryUsage().heapUsed
    for (const [what, input] of malformed) {
      assert.throws(
        () => parseEnvelope(input, FILE),
        (e: unknown) =>
          e instanceof AttestInputError &&
          e.exitCode === 2 &&
          e.message.startsWith(`${FILE}: `) &&
          !e.message.includes('\n'),
        what,
      )
    }
    for (const [what, input] of forged)
      assert.equal(verifyEnvelope(parseEnvelope(input, FILE), verifierOf(s)).valid, false, what)
    assert.ok(malformed.length > 100, `${malformed.length} malformed cases`)
    assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`)
    assert.ok(process.memoryUsage().heapUsed - heap0 < 200 * 1024 * 1024, 'heap bounded')
  })

  it('the referrer manifest: artifactType in-toto, empty config, one envelope layer, the subject', () => {
    const env = Buffer.from(envelopeJson(signEnvelope(statement, signerOf('ed25519'))))
    const m = JSON.parse(
      referrerManifest(env, 'https://repro.dev/verification/v1', {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: DIGEST,
        size: 123,
      }).toString(),
    )
    assert.equal(m.artifactType, 'application/vnd.in-toto+json')
    assert.deepEqual(m.config, {
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
      size: 2,
      data: 'e30=',
    })
    assert.equal(m.layers.length, 1)
    assert.equal(m.layers[0].mediaType, 'application/vnd.dsse.envelope.v1+json')
    assert.equal(m.layers[0].size, env.length)
    assert.deepEqual(m.subject, {mediaType: 'application/vnd.oci.image.index.v1+json', digest: DIGEST, size: 123})
  })
})
