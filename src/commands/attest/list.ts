import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {listAttestations, type ListResult} from '../../attest/index.js'
import {IN_TOTO_PAYLOAD_TYPE} from '../../attest/dsse.js'
import {realExec} from '../../exec.js'
import {dockerConfigDir} from '../../image/registry/credentials.js'
import {lifecycle} from '../../lifecycle.js'

export default class AttestList extends BaseCommand<typeof AttestList> {
  static override summary = 'List the referrers (attestations, signatures, SBOMs) of an image in a registry.'
  static override description = `Asks the referrers API, or reads the fallback tag sha256-<hex> where the registry lacks it.
By default only in-toto attestations (artifactType ${IN_TOTO_PAYLOAD_TYPE}); --all lists every referrer.`

  static override examples = ['<%= config.bin %> attest list registry.example/app:1.0']

  static override args = {
    ref: Args.string({description: 'the image: HOST/REPO:TAG or HOST/REPO@DIGEST', required: true}),
  }

  static override flags = {
    all: Flags.boolean({description: 'every referrer, of any artifact type'}),
    'plain-http': Flags.boolean({description: 'use http (no TLS) for the registry (default: only localhost)'}),
  }

  async run(): Promise<ListResult> {
    const r = await listAttestations({
      ref: this.args.ref,
      artifactType: this.flags.all ? undefined : IN_TOTO_PAYLOAD_TYPE,
      plainHttp: this.flags['plain-http'],
      dockerConfigDir: dockerConfigDir(process.env),
      exec: realExec,
      logger: this.logger,
      signal: lifecycle.signal,
    })
    if (!this.jsonEnabled()) {
      this.out(`${r.subject}: ${r.referrers.length} referrer(s)`)
      for (const d of r.referrers)
        this.out(`${d.digest} ${d.artifactType ?? d.mediaType}${d.predicateType ? ` ${d.predicateType}` : ''}`)
    }
    return r
  }
}
