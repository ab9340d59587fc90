import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {generateKeys, KEY_ALGORITHMS, type KeyAlgorithm, type KeygenResult} from '../../attest/keys.js'

export default class AttestKeygen extends BaseCommand<typeof AttestKeygen> {
  static override summary = 'Make a key pair for signing attestations (ECDSA P-256 or Ed25519).'
  static override description = `Writes PREFIX.key (PKCS#8 PEM, unencrypted, mode 0600) and PREFIX.pub (SPKI PEM). Never overwrites a
file. The key id printed is the sha256 of the public key's SPKI DER, the keyid written into envelopes.`

  static override examples = [
    '<%= config.bin %> attest keygen',
    '<%= config.bin %> attest keygen --algorithm ed25519 --output-prefix keys/release',
  ]

  static override flags = {
    algorithm: Flags.string({
      description: 'signature algorithm',
      options: [...KEY_ALGORITHMS],
      default: 'ecdsa-p256',
    }),
    'output-prefix': Flags.string({description: 'write PREFIX.key and PREFIX.pub', default: 'repro'}),
  }

  async run(): Promise<KeygenResult> {
    const r = await generateKeys(this.flags['output-prefix'], this.flags.algorithm as KeyAlgorithm)
    if (!this.jsonEnabled()) this.out(`${r.privateKeyFile} ${r.publicKeyFile} keyid ${r.keyid} (${r.algorithm})`)
    return r
  }
}
