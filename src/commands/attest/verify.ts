import {existsSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {type AttestVerifyResult, verifyAttached, verifyAttestation} from '../../attest/index.js'
import {realExec} from '../../exec.js'
import {dockerConfigDir} from '../../image/registry/credentials.js'
import {looksLikeReference} from '../../image/registry/reference.js'
import {lifecycle} from '../../lifecycle.js'

export default class AttestVerify extends BaseCommand<typeof AttestVerify> {
  static override summary =
    'Check a signed attestation (DSSE envelope of an in-toto Statement) with a public key: a file, or those attached to an image.'
  static override description = `FILE: the envelope. HOST/REPO:TAG (not an existing file): the in-toto referrers of that image, each
fetched and checked, and its statement must name the image. Exit 0: a signature verifies with the key; 1: none
does (wrong key, tampered payload or signature, nothing attached); 2: the envelope or the key is malformed (the
message names the file and the problem).`

  static override examples = [
    '<%= config.bin %> attest verify verification.json --key repro.pub',
    '<%= config.bin %> attest verify registry.example/app:1.0 --key repro.pub',
  ]

  static override args = {
    target: Args.string({description: 'the DSSE envelope (JSON file), or an image reference', required: true}),
  }

  static override flags = {
    key: Flags.string({description: 'public key (PEM, SPKI)', required: true}),
    'plain-http': Flags.boolean({description: 'use http (no TLS) for the registry (default: only localhost)'}),
  }

  async run(): Promise<AttestVerifyResult> {
    const {target} = this.args
    const r =
      !existsSync(target) && looksLikeReference(target)
        ? await verifyAttached({
            ref: target,
            keyFile: this.flags.key,
            plainHttp: this.flags['plain-http'],
            dockerConfigDir: dockerConfigDir(process.env),
            exec: realExec,
            logger: this.logger,
            signal: lifecycle.signal,
          })
        : await verifyAttestation(target, this.flags.key)
    if (!r.valid) process.exitCode = 1
    if (!this.jsonEnabled()) {
      const ok = r.attestations.filter((a) => a.valid).length
      this.out(
        `${r.valid ? 'verified' : 'NOT verified'}: ${r.subject ?? r.target}: ${ok} of ${r.attestations.length} attestation(s) verify with keyid ${r.keyid}`,
      )
      for (const a of r.attestations)
        this.out(
          `${a.digest ?? r.target} ${a.valid ? 'ok' : 'FAILED'}${a.predicateType ? ` ${a.predicateType}` : ''}${a.subjects ? ` about ${a.subjects.join(', ')}` : ''}${a.problem ? `: ${a.problem}` : ''}`,
        )
    }
    return r
  }
}
