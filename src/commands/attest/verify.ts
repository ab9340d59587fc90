import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {type AttestVerifyResult, verifyAttestation} from '../../attest/index.js'

export default class AttestVerify extends BaseCommand<typeof AttestVerify> {
  static override summary = 'Check a signed attestation (DSSE envelope of an in-toto Statement) with a public key.'
  static override description = `Exit 0: a signature verifies with the key; 1: none does (wrong key, tampered payload or
signature); 2: the envelope or the key is malformed (the message names the file and the problem).`

  static override examples = ['<%= config.bin %> attest verify verification.json --key repro.pub']

  static override args = {
    file: Args.string({description: 'the DSSE envelope (JSON)', required: true}),
  }

  static override flags = {
    key: Flags.string({description: 'public key (PEM, SPKI)', required: true}),
  }

  async run(): Promise<AttestVerifyResult> {
    const r = await verifyAttestation(this.args.file, this.flags.key)
    if (!r.valid) process.exitCode = 1
    if (!this.jsonEnabled()) {
      if (r.valid) {
        const subjects = r.statement!.subject.flatMap((s) => Object.entries(s.digest).map(([a, h]) => `${a}:${h}`))
        this.out(
          `verified: ${r.file} signed by keyid ${r.keyid}; ${r.statement!.predicateType} about ${subjects.join(', ')}`,
        )
      } else {
        this.out(`NOT verified: ${r.file}: no signature verifies with keyid ${r.keyid} (${r.signatures} signature(s))`)
      }
    }
    return r
  }
}
