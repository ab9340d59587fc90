/**
 * `--sbom FILE` of `repro build` and `repro verify`: the SBOM of the tarball a build wrote, with what the
 * build knows besides the image: its base images by digest (the FROM references pinned in the reference
 * or by the lock, and oci-layout build contexts, read through the one image core) and its hash files.
 */
import path from 'node:path'

import {dockerfileInputs, readDockerfile} from '../dockerfile/inputs.js'
import {parseBuildContext} from '../engine/args.js'
import {readImageArchive, topImageDigest} from '../image/archive.js'
import type {Exec} from '../exec.js'
import type {Logger} from '../log.js'
import {loadHashFiles} from '../pkg/load.js'
import {createSbom, formatFromFileName, SBOM_MEDIA_TYPES, writeSbomFile} from './index.js'
import type {BaseImage, SbomFormat} from './model.js'

export interface BuildSbomOptions {
  /** the tarball the build wrote */
  archive: string
  /** where to write the SBOM (resolved) */
  file: string
  format?: SbomFormat
  cwd: string
  context: string
  dockerfile?: string
  buildArgs: string[]
  buildContexts: string[]
  platforms: string[]
  target?: string
  hashfiles: string[]
  /** the lock the build followed: every pinned input (`images/REF` → digest, `contexts/NAME` → pin) */
  lockInputs?: Record<string, string>
  sourceDateEpoch: number
  tool: {name: string; version: string}
  logger: Logger
  /** runs rpm for rpm databases */
  exec?: Exec
}

export interface BuildSbom {
  file: string
  format: SbomFormat
  mediaType: (typeof SBOM_MEDIA_TYPES)[SbomFormat]
  /** sha256:HEX of the file */
  digest: string
  packages: number
}

const DIGEST = /@(sha256:[0-9a-f]{64})$/

/** The base images of the build's target stages, by digest where the build pins one (else a warning). */
export async function buildBases(o: BuildSbomOptions): Promise<{bases: BaseImage[]; warnings: string[]}> {
  const dockerfile = o.dockerfile
    ? path.resolve(o.cwd, o.dockerfile)
    : path.join(path.resolve(o.cwd, o.context), 'Dockerfile')
  const contexts = o.buildContexts.map((c) => parseBuildContext(c, o.cwd))
  const inputs = dockerfileInputs(await readDockerfile(dockerfile), {
    buildArgs: Object.fromEntries(o.buildArgs.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])),
    platforms: o.platforms,
    target: o.target,
    buildContexts: Object.fromEntries(
      o.buildContexts.map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)]),
    ),
  })
  const bases: BaseImage[] = []
  const warnings: string[] = []
  for (const s of inputs.stages) {
    if (!s.reachable) continue
    if (s.base.kind === 'image') {
      const ref = s.base.ref
      const digest = DIGEST.exec(ref)?.[1] ?? o.lockInputs?.[`images/${ref}`]
      if (digest) bases.push({ref, digest, from: DIGEST.test(ref) ? 'dockerfile' : 'lock'})
      else warnings.push(`base image ${ref} is not pinned by digest (in the Dockerfile or a lock): not in the SBOM`)
    } else if (s.base.kind === 'context') {
      const name = s.base.name
      const c = contexts.find((x) => x.name === name)
      const locked = o.lockInputs?.[`contexts/${name}`]
      if (c?.kind === 'oci-layout') {
        let digest = c.digest
        if (!digest) {
          const layout = await readImageArchive(c.path)
          try {
            digest = topImageDigest(layout)
          } finally {
            await layout.source.close()
          }
        }
        if (digest) bases.push({ref: name, digest, from: 'build-context'})
        else warnings.push(`build context ${name}: the layout holds several images and names none by digest`)
      } else if (locked && /sha256:[0-9a-f]{64}$/.test(locked)) {
        bases.push({ref: name, digest: /sha256:[0-9a-f]{64}$/.exec(locked)![0], from: 'lock'})
      } else if (c?.kind === 'other' && DIGEST.test(c.value)) {
        bases.push({ref: c.value.replace(/^[a-z-]+:\/\//, ''), digest: DIGEST.exec(c.value)![1], from: 'build-context'})
      }
    }
  }
  return {bases, warnings}
}

/** Write the SBOM of a built tarball. */
export async function sbomOfBuild(o: BuildSbomOptions): Promise<BuildSbom> {
  const format = o.format ?? formatFromFileName(o.file) ?? 'spdx'
  const {bases, warnings} = await buildBases(o)
  const hashEntries = o.hashfiles.length
    ? (
        await loadHashFiles(
          o.hashfiles.map((f) => path.resolve(o.cwd, f)),
          {},
        )
      ).entries
    : undefined
  const archive = await readImageArchive(o.archive)
  const doc = await createSbom({
    input: o.archive,
    archive,
    format,
    hashEntries,
    bases,
    sourceDateEpoch: o.sourceDateEpoch,
    tool: o.tool,
    exec: o.exec,
  }).finally(() => archive.source.close())
  for (const w of [...warnings, ...doc.warnings]) o.logger.warn(`sbom: ${w}`)
  await writeSbomFile(o.file, doc.text)
  const packages = doc.platforms.reduce((s, p) => s + p.packages, 0)
  o.logger.info(`sbom: ${doc.digest}  ${o.file} (${format}, ${packages} packages, ${bases.length} base images)`)
  return {file: o.file, format, mediaType: doc.mediaType, digest: doc.digest, packages}
}
