import {Args, Flags} from '@oclif/core'

import {type AttachResult, attachAttestation} from '../attest/index.js'
import {loadSigner} from '../attest/keys.js'
import {BaseCommand} from '../base-command.js'
import {buildFlags, buildInputFromFlags} from '../engine/cli-flags.js'
import {RUNTIME_CHOICES} from '../engine/types.js'
import {realExec} from '../exec.js'
import {dockerConfigDir} from '../image/registry/credentials.js'
import {renderVerify} from '../ui/verify-text.js'
import {verify, type VerifyResult} from '../verify/index.js'
import {verifyMatrix} from '../verify/matrix/index.js'
import {DEFAULT_JOBS, DEFAULT_REPORT_DIR, matrixFlags} from '../verify/matrix/flags.js'
import type {MatrixReport} from '../verify/matrix/types.js'
import {renderMatrix} from '../ui/verify-matrix-text.js'
import {lifecycle} from '../lifecycle.js'
import {checkHtmlTarget, writeMatrixHtml, writeVerifyHtml} from '../report/html/index.js'
import {sbomFlags, writeBuildSbom} from '../sbom/flags.js'

// a rebuild always runs without cache, writes to a temp dir, and runs: these build flags make no sense here
const {output: _output, dry: _dry, 'no-cache': _noCache, runtime: _runtime, ...sharedBuildFlags} = buildFlags

export default class Verify extends BaseCommand<typeof Verify> {
  static override summary = 'Rebuild an image and prove it reproduces: the same digest every time, on every runtime.'
  static override description = `Rebuilds with the same flags as \`repro build\` (always without cache), --times N times on one runtime
or on every available one (--runtime all), and compares the image digests with each other and with
--expected-image-digest or the image given by --against (a tarball, an OCI layout, docker://, podman://, or a
registry reference). When they differ, the semantic diff names the causes. --attest writes an in-toto
Statement of the inputs and the verdict. Exit 0: reproduced; 1: not reproduced; 2: error.`

  // oclif's generated usage line renders the flags' exclusive/dependsOn groups as `[a |  | b]`: say it plainly
  static override usage = [
    'verify [CONTEXT] [BUILD FLAGS] [--runtime R] [--times N] [--expected-image-digest D | --against IMAGE] [--attest FILE [--sign-key PEM] [--attach IMAGE]] [--output-dir DIR] [--html FILE] [--sbom FILE]',
    'verify --matrix FILE [--jobs N] [--report-dir DIR] [--timings] [--fresh] [--html FILE]',
  ]
  static override examples = [
    '<%= config.bin %> verify --sde 0 --expected-image-digest sha256:0123... .',
    '<%= config.bin %> verify --sde 0 --times 3 --runtime all .',
    '<%= config.bin %> verify --sde 0 --against registry.example/app:1.0 --attest verification.json .',
  ]

  static override args = {
    context: Args.string({description: 'build context directory', default: '.'}),
  }

  static override flags = {
    ...sharedBuildFlags,
    runtime: Flags.string({
      description:
        'container runtime, or "all" for every one that is available (default: docker, then podman, then a BuildKit daemon)',
      options: [...RUNTIME_CHOICES, 'all'],
      env: 'REPRO_RUNTIME',
      helpGroup: 'ENGINE',
    }),
    times: Flags.integer({description: 'rebuilds per runtime', default: 2, min: 1, max: 20, helpGroup: 'VERIFY'}),
    'expected-image-digest': Flags.string({
      description: 'the digest the rebuild must give (with or without sha256:)',
      exclusive: ['against'],
      helpGroup: 'VERIFY',
    }),
    against: Flags.string({
      description:
        'an image the rebuild must equal: anything `repro diff` takes (tar, OCI dir, docker://, podman://, HOST/REPO:TAG)',
      helpGroup: 'VERIFY',
    }),
    'plain-http': Flags.boolean({
      description: '--against: use http for the registry (default: only for localhost)',
      helpGroup: 'VERIFY',
    }),
    attest: Flags.string({
      description: 'write an in-toto Statement (JSON) of the inputs and the verdict to this file',
      helpGroup: 'VERIFY',
    }),
    'attest-timestamps': Flags.boolean({
      description: 'record start and finish times in the attestation (off: the file is deterministic)',
      dependsOn: ['attest'],
      helpGroup: 'VERIFY',
    }),
    'sign-key': Flags.string({
      description: '--attest: sign the Statement with this private key (PEM); the file holds a DSSE envelope',
      dependsOn: ['attest'],
      helpGroup: 'VERIFY',
    }),
    attach: Flags.string({
      description: 'attach the signed attestation to this image (HOST/REPO:TAG) as an OCI referrer, when reproduced',
      dependsOn: ['sign-key'],
      helpGroup: 'VERIFY',
    }),
    'output-dir': Flags.string({description: 'keep the rebuilt tarballs here (RUNTIME-N.tar)', helpGroup: 'VERIFY'}),
    html: Flags.string({
      description:
        'write a self-contained HTML page of this run (with --matrix: the dashboard, plus a diff page per job that kept a diff)',
      helpGroup: 'VERIFY',
    }),
    ...matrixFlags,
    ...sbomFlags,
  }

  async run(): Promise<MatrixReport | (VerifyResult & {attached?: AttachResult})> {
    const {flags, args} = this
    if (flags.html) checkHtmlTarget('--html', flags.html, flags.matrix && (flags['report-dir'] ?? DEFAULT_REPORT_DIR))
    if (flags.matrix) return this.runMatrix(flags.matrix)
    // the key is read before minutes of rebuilding, so a bad one fails at once
    const signer = flags['sign-key'] ? await loadSigner(flags['sign-key']) : undefined
    const buildInput = buildInputFromFlags(
      {...flags, output: 'image.tar', dry: false, 'no-cache': true},
      args.context,
      process.cwd(),
      process.env,
    )
    const result = await verify(
      {
        build: buildInput,
        times: flags.times,
        expectedDigest: flags['expected-image-digest'],
        against: flags.against,
        plainHttp: flags['plain-http'],
        attest: flags.attest,
        attestTimestamps: flags['attest-timestamps'],
        outputDir: flags['output-dir'],
        version: this.config.version,
        signer,
        sbom: flags.sbom
          ? (archive, built) => writeBuildSbom(flags, buildInput, built, this.config.version, this.logger, archive)
          : undefined,
      },
      {exec: realExec, logger: this.logger},
    )
    if (!result.reproduced) process.exitCode = 1
    if (flags.html) writeVerifyHtml(flags.html, result)
    if (!this.jsonEnabled()) this.out(renderVerify(result))
    if (flags.attach && result.attestation) {
      if (!result.reproduced) this.logger.warn(`--attach ${flags.attach}: not attached, the image did not reproduce`)
      else {
        const attached = await attachAttestation({
          file: result.attestation,
          ref: flags.attach,
          plainHttp: flags['plain-http'],
          dockerConfigDir: dockerConfigDir(process.env),
          exec: realExec,
          logger: this.logger,
          signal: lifecycle.signal,
        })
        this.logger.info(`verify: attestation ${attached.digest} attached to ${attached.subject}`)
        return {...result, attached}
      }
    }
    return result
  }

  /** --matrix FILE: the jobs of a matrix file over a bounded queue (src/verify/matrix) */
  private async runMatrix(file: string): Promise<MatrixReport> {
    const {flags} = this
    const reportDir = flags['report-dir'] ?? DEFAULT_REPORT_DIR
    const report = await verifyMatrix(
      {
        file,
        reportDir,
        concurrency: flags.jobs ?? DEFAULT_JOBS,
        timings: flags.timings,
        fresh: flags.fresh,
        env: {
          BUILDKIT_HOST: process.env.BUILDKIT_HOST,
          DOCKER_CONFIG: process.env.DOCKER_CONFIG,
          DOCKER_HOST: process.env.DOCKER_HOST,
        },
        version: this.config.version,
        progress: (line) => this.logger.info(line),
        signal: lifecycle.signal,
      },
      {exec: realExec, logger: this.logger},
    )
    if (!report.ok) process.exitCode = 1
    if (flags.html) writeMatrixHtml(flags.html, reportDir, report, {timings: flags.timings})
    if (!this.jsonEnabled()) this.out(renderMatrix(report, reportDir))
    return report
  }
}
