/**
 * Resolve an image input (`repro diff`, `repro verify --against`, `repro analyze`) to an image archive,
 * with no daemon import step:
 *   - a path: any archive or layout `repro analyze` reads
 *   - docker://REF, podman://REF: `docker save` / `podman save` into a temp file (through the Exec seam)
 *   - registry://HOST/REPO[:TAG|@DIGEST], or HOST/REPO[:TAG] when it is not a path: pulled through the one
 *     registry client (src/image/registry/) into a temp OCI layout directory
 * Temp files are removed by `cleanup()`.
 */
import {mkdtemp, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {InvalidArchiveError, InvalidArgumentError} from '../errors.js'
import type {Exec} from '../exec.js'
import {type ImageArchive, readImageArchive} from '../image/archive.js'
import {openRepository, type RegistryOptions} from '../image/registry/index.js'
import {pullToLayout} from '../image/registry/layout.js'
import {looksLikeReference, parseReference} from '../image/registry/reference.js'
import {RegistryError} from '../image/registry/errors.js'
import {lifecycle} from '../lifecycle.js'
import type {Logger} from '../log.js'

export type InputKind = 'docker' | 'path' | 'podman' | 'registry'

export function classifyInput(input: string, pathExists: boolean): {kind: InputKind; ref: string} {
  const m = /^(docker|podman|registry):\/\/(.+)$/.exec(input)
  if (m) return {kind: m[1] as InputKind, ref: m[2]}
  if (!pathExists && looksLikeReference(input)) return {kind: 'registry', ref: input}
  return {kind: 'path', ref: input}
}

export interface InputOptions {
  exec: Exec
  logger?: Logger
  /** use http for every registry (default: only localhost / 127.0.0.1 / ::1) */
  plainHttp?: boolean
  /** fetch only this platform's manifests from a registry */
  platform?: string
  /** directory of config.json (default $DOCKER_CONFIG or ~/.docker) */
  dockerConfigDir?: string
  /** the registry client's other options (fetch, limits, credentials) */
  registry?: Omit<RegistryOptions, 'dockerConfigDir' | 'exec' | 'logger' | 'plainHttp'>
}

export interface ResolvedInput {
  input: string
  kind: InputKind
  archive: ImageArchive
  cleanup(): Promise<void>
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

export async function resolveInput(input: string, options: InputOptions): Promise<ResolvedInput> {
  const {kind, ref} = classifyInput(input, await exists(input))
  if (kind === 'path') {
    const archive = await readImageArchive(input)
    return {input, kind, archive, cleanup: () => archive.source.close()}
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'repro-diff-'))
  // SIGINT/SIGTERM mid-save: the registry ends `docker save` first, then removes the dir
  const unregister = lifecycle.registerPath(dir)
  const cleanupDir = (): Promise<void> => rm(dir, {force: true, recursive: true}).finally(unregister)
  try {
    let target: string
    if (kind === 'docker' || kind === 'podman') {
      if (ref.startsWith('-')) throw new InvalidArgumentError(`${input}: an image reference cannot start with '-'`)
      target = path.join(dir, 'image.tar')
      const argv =
        kind === 'docker'
          ? ['docker', 'save', '-o', target, ref]
          : ['podman', 'save', '--format', 'oci-archive', '-o', target, ref]
      options.logger?.verbose(`saving ${ref} with ${kind}`)
      await options.exec(argv)
    } else {
      target = path.join(dir, 'layout')
      const reference = parseReference(ref, input)
      const repo = openRepository(reference, {
        ...options.registry,
        dockerConfigDir: options.dockerConfigDir,
        exec: options.exec,
        logger: options.logger,
        plainHttp: options.plainHttp,
      })
      options.logger?.verbose(`pulling ${input} from ${repo.client.origin}`)
      await pullToLayout(repo, reference, target, {platform: options.platform})
    }
    const archive = await readArchiveOf(input, kind, target)
    return {
      input,
      kind,
      archive,
      cleanup: async () => {
        await archive.source.close()
        await cleanupDir()
      },
    }
  } catch (error) {
    await cleanupDir()
    throw error
  }
}

/** Read what was saved or pulled; its problems name the input, not the temp path. */
async function readArchiveOf(input: string, kind: InputKind, target: string): Promise<ImageArchive> {
  try {
    return await readImageArchive(target)
  } catch (error) {
    if (!(error instanceof InvalidArchiveError)) throw error
    const problem = error.message.startsWith(`${target}: `) ? error.message.slice(target.length + 2) : error.message
    if (kind === 'registry') throw new RegistryError(`${input}: ${problem}`)
    throw new InvalidArchiveError(input, problem)
  }
}

/**
 * An image input as a local path for readers that open paths themselves (`repro analyze`): a path is
 * itself; docker://, podman:// and registry references become a temp archive or layout, removed by cleanup.
 */
export async function materializeInput(
  input: string,
  options: InputOptions,
): Promise<{path: string; kind: InputKind; cleanup(): Promise<void>}> {
  const {kind} = classifyInput(input, await exists(input))
  if (kind === 'path') return {path: input, kind, cleanup: async () => {}}
  const resolved = await resolveInput(input, options)
  return {path: resolved.archive.path, kind, cleanup: resolved.cleanup}
}
