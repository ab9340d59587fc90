/**
 * `--sbom FILE` and `--sbom-format` of the building commands (build, verify): one definition, and the one
 * mapping from a finished build to the SBOM of its tarball.
 */
import path from 'node:path'

import {Flags} from '@oclif/core'

import type {BuildInput, BuildResult} from '../engine/run.js'
import {realExec} from '../exec.js'
import type {Logger} from '../log.js'
import type {BuildSbom} from './build.js'
import {SBOM_FORMATS, type SbomFormat} from './model.js'

export const sbomFlags = {
  sbom: Flags.string({
    description:
      'write the SBOM of the built image to this file: SPDX 2.3 or CycloneDX 1.6 JSON (see `repro sbom`), base images and hash-file pins included',
    helpGroup: 'OUTPUT',
  }),
  'sbom-format': Flags.string({
    description: '--sbom: spdx or cyclonedx (default: from the file name, .spdx.json or .cdx.json, else spdx)',
    options: [...SBOM_FORMATS],
    dependsOn: ['sbom'],
    helpGroup: 'OUTPUT',
  }),
}

/** The SBOM of a built tarball (the first one: a multi-platform docker build writes one per platform). */
export async function writeBuildSbom(
  flags: {sbom?: string; 'sbom-format'?: string},
  input: BuildInput,
  result: Pick<BuildResult, 'lock' | 'outputs' | 'sourceDateEpoch'>,
  version: string,
  logger: Logger,
  archive = result.outputs[0]?.path,
): Promise<BuildSbom | undefined> {
  if (!flags.sbom || !archive) return undefined
  if (result.outputs.length > 1)
    logger.warn(
      `--sbom: the build wrote ${result.outputs.length} tarballs; the SBOM is of ${archive} (use --format oci for one of every platform)`,
    )
  // loaded only when --sbom is given: the SBOM writers (the CycloneDX library) cost every build ~0.1 s of start-up
  const {sbomOfBuild} = await import('./build.js')
  return sbomOfBuild({
    archive,
    file: path.resolve(input.cwd, flags.sbom),
    format: flags['sbom-format'] as SbomFormat | undefined,
    cwd: input.cwd,
    context: input.context,
    dockerfile: input.file,
    buildArgs: input.buildArgs,
    buildContexts: input.buildContexts,
    platforms: input.platforms,
    target: input.target,
    hashfiles: input.hashfiles ?? [],
    lockInputs: result.lock?.inputs,
    sourceDateEpoch: result.sourceDateEpoch,
    tool: {name: 'repro', version},
    logger,
    exec: realExec,
  })
}
