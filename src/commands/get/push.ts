import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {realExec} from '../../exec.js'
import {cacheFlag} from '../../pkg/cli-flags.js'
import {getPush} from '../../pkg/operations.js'
import type {PushResult} from '../../pkg/push.js'

export default class GetPush extends BaseCommand<typeof GetPush> {
  static description =
    'Upload the cached files of hash files to an OCI registry (registry API v2; credentials as docker finds them: $DOCKER_CONFIG/config.json credHelpers, credsStore or auths), with a manifest listing them; fetch them back with --provider oci://REGISTRY/REPO.'
  static examples = [
    '<%= config.bin %> get push SHA256SUMS-amd64 --to oci://ghcr.io/me/debs:bookworm',
    '<%= config.bin %> get push SHA256SUMS-amd64 --to oci+http://127.0.0.1:5000/debs',
  ]
  static flags = {
    ...cacheFlag,
    to: Flags.string({
      description: 'oci://REGISTRY/REPO[:TAG] (https except localhost) or oci+http://...',
      required: true,
    }),
    jobs: Flags.integer({description: 'Parallel uploads.', default: 4, min: 1, max: 32}),
  }
  static strict = false

  async run(): Promise<PushResult> {
    const {argv} = await this.parse(GetPush)
    const r = await getPush(argv as string[], this.flags.to, this.flags, {exec: realExec, logger: this.logger})
    if (!this.jsonEnabled()) {
      const up = r.blobs.filter((b) => b.action === 'uploaded').length
      this.out(
        `${r.to}${r.tag ? `:${r.tag}` : ''}@${r.manifestDigest}: ${up} uploaded, ${r.blobs.length - up} already there`,
      )
    }
    return r
  }
}
