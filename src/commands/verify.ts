import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {buildFlags, buildInputFromFlags} from '../engine/cli-flags.js'
import {RUNTIMES} from '../engine/types.js'
import {realExec} from '../exec.js'
import {renderVerify} from '../ui/verify-text.js'
import {verify, type VerifyResult} from '../verify/index.js'

// a rebuild always runs without cache, writes to a temp dir, and runs: these build flags make no sense here
const {output: _output, dry: _dry, 'no-cache': _noCache, runtime: _runtime, ...sharedBuildFlags} = buildFlags

export default class Verify extends BaseCommand<typeof Verify> {
  static override summary = 'Rebuild an image and prove it reproduces: the same digest every time, on every runtime.'
  static override description = `Rebuilds with the same flags as \`repro build\` (always without cache), --times N times on one runtime
or on every available one (--runtime all), and compares the image digests with each other and with
--expected-image-digest or the image given by --against (a tarball, an OCI layout, docker://, podman://, or a
registry reference). When they differ, the semantic diff names the causes. --attest writes an in-toto
Statement of the inputs and the verdict. Exit 0: reproduced; 1: not reproduced; 2: error.`

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
      options: [...RUNTIMES, 'all'],
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
    'output-dir': Flags.string({description: 'keep the rebuilt tarballs here (RUNTIME-N.tar)', helpGroup: 'VERIFY'}),
  }

  async run(): Promise<VerifyResult> {
    const {flags, args} = this
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
      },
      {exec: realExec, logger: this.logger},
    )
    if (!result.reproduced) process.exitCode = 1
    if (!this.jsonEnabled()) this.out(renderVerify(result))
    return result
  }
}
