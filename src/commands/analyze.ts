import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {materializeInput} from '../diff/inputs.js'
import {oneLine, ReproError} from '../errors.js'
import {realExec} from '../exec.js'
import {analyzeImage, type AnalyzeResult} from '../image/analyze.js'
import {renderAnalyze} from '../ui/analyze-text.js'

export class VerificationFailedError extends ReproError {
  readonly result: AnalyzeResult
  constructor(file: string, result: AnalyzeResult) {
    const v = result.verification!
    const first = v.mismatches[0]
    super(
      'E_VERIFY_FAILED',
      oneLine(
        `${file}: ${v.mismatches.length} blob check(s) failed, first: ${first.path} ${first.field} expected ${first.expected}, got ${first.actual}`,
      ),
    )
    this.result = result
  }

  override toJSON(): ReturnType<ReproError['toJSON']> & {mismatches: unknown} {
    return {...super.toJSON(), mismatches: this.result.verification?.mismatches}
  }
}

export default class Analyze extends BaseCommand<typeof Analyze> {
  static override summary = 'Show and check what an image archive or OCI layout holds.'
  static override description =
    'Reads every common image archive without a daemon: BuildKit docker and oci exporter tarballs, podman oci-archive and docker-archive, legacy and Docker >= 25 docker save, OCI layout directories, and gzip- or zstd-compressed tarballs of these. Without --verify only tar headers and the small JSON documents are read, so it takes the same time for any layer size.'

  static override examples = [
    '<%= config.bin %> analyze image.tar',
    '<%= config.bin %> analyze image.tar --expected-image-digest sha256:0123...',
    '<%= config.bin %> analyze oci-dir/ --platform linux/arm64 --verify --json',
  ]

  static override args = {
    image: Args.string({
      description: 'image archive (.tar, .tar.gz, .tar.zst) or OCI layout directory',
      required: true,
    }),
  }

  static override flags = {
    'expected-image-digest': Flags.string({
      description: 'exit 0 when the image digest equals this (with or without sha256:), 1 when not',
    }),
    platform: Flags.string({
      description: 'the platform whose manifest to check in a multi-platform archive (os/arch[/variant])',
    }),
    'show-contents': Flags.boolean({description: 'print (and with --json include) the JSON documents in full'}),
    verify: Flags.boolean({description: "hash every blob against its digest and size, and each layer's diff ID"}),
    'plain-http': Flags.boolean({description: 'use http (no TLS) for a registry reference (default: only localhost)'}),
  }

  async run(): Promise<AnalyzeResult> {
    const {flags, args} = this
    const json = this.jsonEnabled()
    // a registry reference (or docker://, podman://) is pulled into a temp layout first, as diff does
    const input = await materializeInput(args.image, {
      exec: realExec,
      logger: this.logger,
      plainHttp: flags['plain-http'],
    })
    const result = await analyzeImage(input.path, {
      contents: !json || flags['show-contents'],
      expectedImageDigest: flags['expected-image-digest'],
      platform: flags.platform,
      verify: flags.verify,
    }).finally(() => input.cleanup())
    result.path = args.image
    if (!json) this.out(renderAnalyze(result, flags['show-contents']))
    if (result.verification && !result.verification.ok) {
      throw new VerificationFailedError(args.image, result)
    } else if (result.expected && !result.expected.matched) {
      process.exitCode = 1
    }
    return result
  }
}
