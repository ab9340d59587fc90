/**
 * `repro attest keygen` and `repro attest verify` through the built CLI, cross-checked with openssl (an
 * independent implementation): openssl verifies what we sign (over the DSSE PAE), we verify what openssl
 * signs, and the key id is the sha256 of the SPKI DER openssl writes. Hostile files on disk (truncated,
 * huge, wrong types, bad base64, wrong payloadType, forged, malformed or foreign keys) give exit 1 or 2 as
 * documented, with one line naming the file, in bounded time.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFile, rm, stat, truncate, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {runCli} from '../support/cli.js'
import {SchemaValidator} from '../support/schemas.js'
import {tempDir} from '../support/image-fixtures.js'

let dir: string
const validator = new SchemaValidator()
const statement = JSON.stringify({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{name: 'app', digest: {sha256: 'cd'.repeat(32)}}],
  predicateType: 'https://repro.dev/verification/v1',
  predicate: {verdict: {result: 'reproduced'}},
})
const TYPE = 'application/vnd.in-toto+json'
const paeOf = (type: string, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body])
const openssl = (...args: string[]): Buffer => execFileSync('openssl', args, {cwd: dir})

before(async () => {
  dir = await tempDir('repro-attest-it-')
})
after(async () => {
  if (dir) await rm(dir, {recursive: true, force: true})
})

/** An envelope signed by openssl with `key` (PEM), written independently of src/attest. */
async function opensslEnvelope(key: string, algorithm: 'ec' | 'ed25519', file: string, body = statement) {
  const payload = Buffer.from(body)
  await writeFile(path.join(dir, 'pae.bin'), paeOf(TYPE, payload))
  const sig =
    algorithm === 'ec'
      ? openssl('dgst', '-sha256', '-sign', key, path.join(dir, 'pae.bin'))
      : openssl('pkeyutl', '-sign', '-inkey', key, '-rawin', '-in', path.join(dir, 'pae.bin'))
  await writeFile(
    file,
    JSON.stringify({
      payload: payload.toString('base64'),
      payloadType: TYPE,
      signatures: [{keyid: '', sig: sig.toString('base64')}],
    }),
  )
}

describe('repro attest keygen / verify (CLI, cross-checked with openssl)', () => {
  for (const algorithm of ['ecdsa-p256', 'ed25519'] as const) {
    test(`${algorithm}: keygen writes 0600/0644 PEM, keyid = sha256(SPKI DER); openssl and repro verify each other`, async () => {
      const prefix = path.join(dir, algorithm)
      const k = await runCli(['attest', 'keygen', '--algorithm', algorithm, '--output-prefix', prefix, '--json'])
      assert.equal(k.code, 0, k.stderr)
      const r = JSON.parse(k.stdout) as {keyid: string; privateKeyFile: string; publicKeyFile: string}
      validator.check('attest keygen', r)
      assert.equal((await stat(`${prefix}.key`)).mode & 0o777, 0o600)
      assert.equal((await stat(`${prefix}.pub`)).mode & 0o777, 0o644)
      const der = openssl('pkey', '-pubin', '-in', `${prefix}.pub`, '-outform', 'DER')
      assert.equal(r.keyid, createHash('sha256').update(der).digest('hex'))
      assert.match(
        openssl('pkey', '-in', `${prefix}.key`, '-noout', '-text').toString(),
        algorithm === 'ed25519' ? /ED25519/ : /prime256v1|P-256/,
      )

      // refuses to overwrite, leaving the old key as it was
      const before = await readFile(`${prefix}.key`)
      const again = await runCli(['attest', 'keygen', '--algorithm', algorithm, '--output-prefix', prefix])
      assert.equal(again.code, 2)
      assert.match(again.stderr, /\.key: already exists; repro never overwrites a key/)
      assert.ok((await readFile(`${prefix}.key`)).equals(before))

      // openssl signs, repro verifies
      const env = path.join(dir, `${algorithm}-openssl.json`)
      await opensslEnvelope(`${prefix}.key`, algorithm === 'ed25519' ? 'ed25519' : 'ec', env)
      const v = await runCli(['attest', 'verify', env, '--key', `${prefix}.pub`, '--json'])
      assert.equal(v.code, 0, v.stdout + v.stderr)
      assert.deepEqual(JSON.parse(v.stdout).attestations[0].subjects, [`sha256:${'cd'.repeat(32)}`])
      validator.check('attest verify', JSON.parse(v.stdout))

      // repro signs (through the same code `repro verify --sign-key` uses), openssl verifies the PAE
      const script = path.join(dir, 'sign.mts')
      const src = path.resolve('src/attest')
      await writeFile(
        script,
        `import {loadSigner} from '${src}/keys.ts'\nimport {signEnvelope, envelopeJson} from '${src}/dsse.ts'\n` +
          `process.stdout.write(envelopeJson(signEnvelope(Buffer.from(process.argv[3]), await loadSigner(process.argv[2]))))\n`,
      )
      const ours = JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', script, `${prefix}.key`, statement], {
          cwd: path.resolve('.'),
        }).toString(),
      ) as {payload: string; signatures: Array<{keyid: string; sig: string}>}
      assert.equal(ours.signatures[0].keyid, r.keyid)
      await writeFile(path.join(dir, 'pae.bin'), paeOf(TYPE, Buffer.from(ours.payload, 'base64')))
      await writeFile(path.join(dir, 'sig.bin'), Buffer.from(ours.signatures[0].sig, 'base64'))
      const ok =
        algorithm === 'ed25519'
          ? openssl(
              'pkeyutl',
              '-verify',
              '-pubin',
              '-inkey',
              `${prefix}.pub`,
              '-rawin',
              '-in',
              'pae.bin',
              '-sigfile',
              'sig.bin',
            )
          : openssl('dgst', '-sha256', '-verify', `${prefix}.pub`, '-signature', 'sig.bin', 'pae.bin')
      assert.match(ok.toString(), /Verified OK|Signature Verified Successfully/)
    })
  }

  test('exit 1: wrong key, tampered payload, signature over other bytes; exit 2: malformed envelope or key, naming it', async () => {
    const prefix = path.join(dir, 'ecdsa-p256')
    const good = path.join(dir, 'good.json')
    await opensslEnvelope(`${prefix}.key`, 'ec', good)
    const env = JSON.parse(await readFile(good, 'utf8')) as {
      payload: string
      payloadType: string
      signatures: unknown[]
    }
    const cases: Array<[string, string | Buffer, number, RegExp]> = []
    const add = (name: string, content: string | Buffer, code: number, message: RegExp): void => {
      cases.push([name, content, code, message])
    }
    const forged = Buffer.from(statement.replace('reproduced', 'REPRODUCED'))
    add(
      'tampered.json',
      JSON.stringify({...env, payload: forged.toString('base64')}),
      1,
      /NOT verified: .*tampered\.json/,
    )
    await opensslEnvelope(`${prefix}.key`, 'ec', path.join(dir, 'other-src.json'), '{"other":1}')
    const other = JSON.parse(await readFile(path.join(dir, 'other-src.json'), 'utf8')) as {signatures: unknown[]}
    add('other-bytes.json', JSON.stringify({...env, signatures: other.signatures}), 1, /NOT verified/)
    add('truncated.json', JSON.stringify(env).slice(0, 40), 2, /truncated\.json: not a DSSE envelope: invalid JSON/)
    add(
      'types.json',
      JSON.stringify({...env, signatures: {sig: 1}}),
      2,
      /types\.json: not a DSSE envelope: "signatures" is not an array/,
    )
    add('base64.json', JSON.stringify({...env, payload: 'e30$'}), 2, /base64\.json: "payload" is not valid base64/)
    add(
      'ptype.json',
      JSON.stringify({...env, payloadType: 'application/json'}),
      2,
      /ptype\.json: payloadType "application\/json" is not application\/vnd\.in-toto\+json/,
    )
    add('empty.json', '', 2, /empty\.json: not a DSSE envelope/)
    for (const [name, content, code, message] of cases) {
      const file = path.join(dir, name)
      await writeFile(file, content)
      const t0 = Date.now()
      const r = await runCli(['attest', 'verify', file, '--key', `${prefix}.pub`])
      assert.equal(r.code, code, `${name}: ${r.stdout}${r.stderr}`)
      assert.match(r.stdout + r.stderr, message, name)
      if (code === 2)
        assert.equal(
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith('  hint')).length,
          1,
          name,
        )
      assert.ok(Date.now() - t0 < 20_000, `${name} bounded`)
    }
    // validly signed, but the payload is no in-toto Statement: malformed input, not a verdict
    for (const [name, body, message] of [
      ['not-json.json', 'not json', /not-json\.json: payload: not valid JSON/],
      ['no-type.json', '{"subject":[]}', /no-type\.json: payload: _type "undefined" is not an in-toto Statement/],
      [
        'no-subject.json',
        '{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[]}',
        /no-subject\.json: payload: "subject" is not a non-empty array/,
      ],
    ] as const) {
      const file = path.join(dir, name)
      await opensslEnvelope(`${prefix}.key`, 'ec', file, body)
      const r = await runCli(['attest', 'verify', file, '--key', `${prefix}.pub`])
      assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`)
      assert.match(r.stderr, message)
    }
    // huge: refused by its size before it is read
    const huge = path.join(dir, 'huge.json')
    await writeFile(huge, '')
    await truncate(huge, 17 * 1024 * 1024)
    let r = await runCli(['attest', 'verify', huge, '--key', `${prefix}.pub`])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /huge\.json: 17825792 bytes, more than the 16777216 an envelope may be/)
    // the wrong key: a valid envelope, another key pair
    r = await runCli(['attest', 'verify', good, '--key', path.join(dir, 'ed25519.pub'), '--json'])
    assert.equal(r.code, 1, r.stderr)
    validator.check('attest verify', JSON.parse(r.stdout), 'attest verify with the wrong key (exit 1)')
    assert.equal(JSON.parse(r.stdout).valid, false)
    r = await runCli(['attest', 'verify', path.join(dir, 'types.json'), '--key', `${prefix}.pub`, '--json'])
    assert.equal(r.code, 2)
    validator.check('error', JSON.parse(r.stdout))
    assert.equal(JSON.parse(r.stdout).error.code, 'E_ATTEST_INPUT')
    // keys that are not keys, or not ours
    openssl('genrsa', '-out', 'rsa.key', '2048')
    openssl('ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', 'p384.key')
    await writeFile(
      path.join(dir, 'garbage.pub'),
      '-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n',
    )
    await writeFile(path.join(dir, 'text.pub'), 'hello')
    for (const [key, message] of [
      ['rsa.key', /--key .*rsa\.key: a rsa key; only ECDSA P-256 and Ed25519 keys are supported/],
      ['p384.key', /--key .*p384\.key: a ec secp384r1 key/],
      ['garbage.pub', /--key .*garbage\.pub: not a valid public key/],
      ['text.pub', /--key .*text\.pub: not a PEM key file/],
      ['missing.pub', /--key .*missing\.pub: cannot read the key file \(ENOENT\)/],
    ] as const) {
      r = await runCli(['attest', 'verify', good, '--key', path.join(dir, key)])
      assert.equal(r.code, 2, key)
      assert.match(r.stderr, message)
    }
  })
})
