import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {resolveInput} from '../diff/inputs.js'
import {InvalidArgumentError} from '../errors.js'
import {realExec} from '../exec.js'
import {loadHashFiles, sourceDateEpoch} from '../pkg/load.js'
import {
  type BaseImage,
  createSbom,
  formatFromFileName,
  SBOM_FORMATS,
  SBOM_SCHEMA_VERSION,
  type SbomFormat,
  type SbomDocument,
  type SbomPlatformSummary,
  writeSbomFile,
} from '../sbom/index.js'
import type {Unsupported} from '../sbom/packages.js'

export interface SbomResult {
  schemaVersion: typeof SBOM_SCHEMA_VERSION
  /** the input as given */
  image: string
  format: SbomFormat
  mediaType: SbomDocument['mediaType']
  /** the file written */
  output: string
  /** sha256:HEX of the document's bytes */
  sha256: string
  /** the image's digest (index, manifest, or config for a legacy archive) */
  imageDigest: string
  platforms: SbomPlatformSummary[]
  bases: BaseImage[]
  unsupported: Unsupported[]
  unusedPins: string[]
  warnings: string[]
}

export default class Sbom extends BaseCommand<typeof Sbom> {
  static override summary = 'Write the bill of materials of an image: SPDX 2.3 or CycloneDX 1.6 JSON.'
  static override description = `Reads any image \`repro analyze\` reads (archives, OCI layouts, compressed, docker://, podman://, registry
references) and lists the image and its base images by digest, and every package its package databases list
(dpkg status and status.d, apk installed, pacman local; rpm databases are detected and reported, not read), from
the merged file system with whiteouts applied. Packages a --hashfile pins carry its sha256. The same image gives
the same bytes: identifiers derive from the content, the time is the image's own creation time. Without
--output the document goes to stdout.`

  static override examples = [
    '<%= config.bin %> sbom image.tar > image.spdx.json',
    '<%= config.bin %> sbom image.tar -o image.cdx.json',
    '<%= config.bin %> sbom --format cyclonedx --hashfile SHA256SUMS-amd64 -o sbom.json registry.example/app:1.0',
  ]

  static override args = {
    image: Args.string({
      description: 'image archive, OCI layout directory, docker://REF, podman://REF or HOST/REPO:TAG',
      required: true,
    }),
  }

  static override flags = {
    output: Flags.string({char: 'o', description: 'write the SBOM to this file (default: stdout)'}),
    format: Flags.string({
      description:
        'spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON); default: from --output (.spdx.json, .cdx.json), else spdx',
      options: [...SBOM_FORMATS],
    }),
    platform: Flags.string({description: 'only this platform of a multi-platform image (os/arch[/variant])'}),
    hashfile: Flags.string({
      description: 'hash file (SHA256SUMS) whose packages are marked as pinned, with their sha256 (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'plain-http': Flags.boolean({description: 'use http (no TLS) for a registry reference (default: only localhost)'}),
  }

  async run(): Promise<SbomResult> {
    const {flags, args} = this
    if (this.jsonEnabled() && !flags.output)
      throw new InvalidArgumentError('--json: give --output FILE (without it the SBOM itself is printed on stdout)')
    const format = (flags.format ??
      (flags.output ? formatFromFileName(flags.output) : undefined) ??
      'spdx') as SbomFormat
    const hashEntries = flags.hashfile?.length ? (await loadHashFiles(flags.hashfile, {})).entries : undefined
    const input = await resolveInput(args.image, {
      exec: realExec,
      logger: this.logger,
      plainHttp: flags['plain-http'],
      platform: flags.platform,
    })
    const doc = await createSbom({
      input: args.image,
      archive: input.archive,
      format,
      platform: flags.platform,
      hashEntries,
      sourceDateEpoch: sourceDateEpoch(process.env),
      tool: {name: 'repro', version: this.config.version},
      exec: realExec,
    }).finally(() => input.cleanup())
    for (const w of doc.warnings) this.logger.warn(`sbom: ${w}`)
    if (flags.output) {
      await writeSbomFile(flags.output, doc.text)
      if (!this.jsonEnabled()) this.out(`${doc.digest}  ${flags.output}`)
    } else process.stdout.write(doc.text)
    const n = doc.platforms.reduce((s, p) => s + p.packages, 0)
    this.logger.info(`sbom: ${format}, ${n} package(s), ${doc.bases.length} base image(s), ${doc.digestOfImage}`)
    return {
      schemaVersion: SBOM_SCHEMA_VERSION,
      image: args.image,
      format,
      mediaType: doc.mediaType,
      output: flags.output ?? '-',
      sha256: doc.digest,
      imageDigest: doc.digestOfImage,
      platforms: doc.platforms,
      bases: doc.bases,
      unsupported: doc.unsupported,
      unusedPins: doc.unusedPins,
      warnings: doc.warnings,
    }
  }
}
