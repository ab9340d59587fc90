import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {type AttachResult, attachAttestation} from '../../attest/index.js'
import {realExec} from '../../exec.js'
import {dockerConfigDir} from '../../image/registry/credentials.js'
import {lifecycle} from '../../lifecycle.js'

export default class AttestAttach extends BaseCommand<typeof AttestAttach> {
  static override summary = 'Attach a signed attestation to an image in a registry, as an OCI referrer of its manifest.'
  static override description = `Pushes an OCI manifest with artifactType application/vnd.in-toto+json whose one layer is the
envelope (application/vnd.dsse.envelope.v1+json) and whose subject is the image's manifest or index. Uses the
referrers API where the registry has it, else the fallback tag sha256-<hex>. The statement must be about the image
(its digest among the subjects); with --key, the signature must verify first.`

  static override examples = [
    '<%= config.bin %> attest attach verification.json registry.example/app:1.0 --key repro.pub',
  ]

  static override args = {
    file: Args.string({description: 'the DSSE envelope (JSON)', required: true}),
    ref: Args.string({description: 'the image: HOST/REPO:TAG or HOST/REPO@DIGEST', required: true}),
  }

  static override flags = {
    key: Flags.string({description: 'verify the signature with this public key before attaching'}),
    'plain-http': Flags.boolean({description: 'use http (no TLS) for the registry (default: only localhost)'}),
  }

  async run(): Promise<AttachResult> {
    const r = await attachAttestation({
      file: this.args.file,
      ref: this.args.ref,
      keyFile: this.flags.key,
      plainHttp: this.flags['plain-http'],
      dockerConfigDir: dockerConfigDir(process.env),
      exec: realExec,
      logger: this.logger,
      signal: lifecycle.signal,
    })
    if (!this.jsonEnabled())
      this.out(`${r.digest} attached to ${r.subject}${r.fallbackTag ? ` (fallback tag ${r.fallbackTag})` : ''}`)
    return r
  }
}
