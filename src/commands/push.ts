import {Args, Flags} from '@oclif/core'

import {attachSbom, MAX_SBOM_BYTES, sbomArtifactType, type SbomAttachResult} from '../attest/index.js'
import {BaseCommand} from '../base-command.js'
import {InvalidArgumentError} from '../errors.js'
import {realExec} from '../exec.js'
import {dockerConfigDir} from '../image/registry/credentials.js'
import {pushImage, type PushResult} from '../push/index.js'
import {lifecycle} from '../lifecycle.js'
import {readRegularFile} from '../pkg/regular-file.js'

export default class Push extends BaseCommand<typeof Push> {
  static override summary = 'Publish an image archive or OCI layout to a registry with the digest it has on disk.'
  static override description = `Uploads the archive's blobs, manifests and index byte-for-byte (nothing is re-serialized or
recompressed), so the registry's digest is the one \`repro analyze\` reports for the archive. Blobs the repository
has are skipped, blobs another repository of the registry has are mounted (--mount-from, and base images named in
the manifest), manifests go up by digest, children first, and the tag is written last: a push that fails midway
leaves no tag on a partial image. Prints REF@sha256:... Legacy docker archives (no manifest) are refused.
Credentials as docker finds them ($DOCKER_CONFIG/config.json credHelpers, credsStore or auths).`

  static override examples = [
    '<%= config.bin %> push image.tar registry.example/app:1.0',
    '<%= config.bin %> push --mount-from base/debian image.tar registry.example/app:1.0',
    '<%= config.bin %> push ./oci-layout 127.0.0.1:5000/app:1.0 --json',
  ]

  static override args = {
    image: Args.string({description: 'image archive (tar, tar.gz) or OCI layout directory', required: true}),
    ref: Args.string({description: 'HOST/REPO:TAG (or HOST/REPO@DIGEST, checked against the archive)', required: true}),
  }

  static override flags = {
    'mount-from': Flags.string({
      description: 'a repository of the same registry to mount existing blobs from (repeatable)',
      multiple: true,
      multipleNonGreedy: true, // --mount-from A image.tar REF: the arguments stay arguments
    }),
    'plain-http': Flags.boolean({description: 'use http (no TLS) for the registry (default: only localhost)'}),
    jobs: Flags.integer({description: 'blobs uploaded at once', default: 4, min: 1, max: 32}),
    attach: Flags.string({
      description:
        'attach this SBOM (SPDX or CycloneDX JSON, e.g. from `repro sbom`) to the pushed image as an OCI referrer (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
    }),
  }

  async run(): Promise<PushResult & {attached?: SbomAttachResult[]}> {
    const {flags, args} = this
    // the SBOMs are read and checked before anything is uploaded
    const sboms: Array<{file: string; bytes: Buffer}> = []
    for (const file of flags.attach ?? []) {
      const bytes = await readRegularFile(file, MAX_SBOM_BYTES).catch((error: Error) => {
        throw new InvalidArgumentError(`--attach ${file}: cannot read: ${error.message}`)
      })
      sbomArtifactType(bytes, file)
      sboms.push({file, bytes})
    }
    const result = await pushImage({
      input: args.image,
      ref: args.ref,
      mountFrom: flags['mount-from'],
      plainHttp: flags['plain-http'],
      concurrency: flags.jobs,
      dockerConfigDir: dockerConfigDir(process.env),
      exec: realExec,
      logger: this.logger,
      signal: lifecycle.signal,
    })
    const count = (a: string): number => result.blobs.filter((b) => b.action === a).length
    this.logger.info(
      `push: ${count('uploaded')} blobs uploaded (${result.uploadedBytes} bytes), ${count('mounted')} mounted, ${count('exists')} already there; ${result.manifests.length} manifests`,
    )
    if (!this.jsonEnabled()) this.out(result.reference)
    if (sboms.length === 0) return result
    const attached: SbomAttachResult[] = []
    for (const s of sboms) {
      const a = await attachSbom({
        ...s,
        ref: result.reference,
        plainHttp: flags['plain-http'],
        dockerConfigDir: dockerConfigDir(process.env),
        exec: realExec,
        logger: this.logger,
        signal: lifecycle.signal,
      })
      this.logger.info(`push: ${s.file} (${a.artifactType}) attached as ${a.digest}`)
      attached.push(a)
    }
    return {...result, attached}
  }
}
