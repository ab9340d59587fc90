/**
 * The registry client's front door: a Repository for a reference, with docker's credentials.
 */
import type {Exec} from '../../exec.js'
import {realExec} from '../../exec.js'
import type {Logger} from '../../log.js'
import {RegistryClient, type RegistryLimits, type Repository} from './client.js'
import {type CredentialStore, dockerConfigDir, dockerCredentialStore} from './credentials.js'
import {canonicalRegistry, formatReference, type ImageReference, type OciRef} from './reference.js'

export {RegistryClient, Repository} from './client.js'
export type {Descriptor, Manifest, RegistryLimits} from './client.js'
export {RegistryError} from './errors.js'

export interface RegistryOptions {
  /** http for every registry (default: only localhost, 127.0.0.0/8, ::1) */
  plainHttp?: boolean
  /** the docker config directory (default $DOCKER_CONFIG, else ~/.docker) */
  dockerConfigDir?: string
  /** where credential helpers run (default: the real one) */
  exec?: Exec
  /** replaces the docker config entirely */
  credentials?: CredentialStore
  fetch?: typeof fetch
  limits?: Partial<RegistryLimits>
  logger?: Logger
  signal?: AbortSignal
}

function credentialsOf(options: RegistryOptions): CredentialStore {
  return (
    options.credentials ??
    dockerCredentialStore({
      // the one default read of the environment, for callers that pass no directory (the commands do)
      configDir: options.dockerConfigDir ?? dockerConfigDir(process.env),
      exec: options.exec ?? realExec,
    })
  )
}

/** A Repository for an image reference; messages name the reference as the user wrote it. */
export function openRepository(ref: ImageReference, options: RegistryOptions = {}): Repository {
  const client = new RegistryClient({
    registry: ref.registry,
    plainHttp: options.plainHttp,
    credentials: credentialsOf(options),
    fetch: options.fetch,
    limits: options.limits,
    logger: options.logger,
    signal: options.signal,
  })
  return client.repository(ref.repository, ref.input || formatReference(ref))
}

/** A Repository for an oci:// package repository (its scheme decides http or https). */
export function openOciRepository(ref: OciRef, options: RegistryOptions = {}): Repository {
  const client = new RegistryClient({
    registry: canonicalRegistry(ref.host),
    scheme: ref.scheme,
    credentials: credentialsOf(options),
    fetch: options.fetch,
    limits: options.limits,
    logger: options.logger,
    signal: options.signal,
  })
  return client.repository(ref.repo, `${ref.host}/${ref.repo}`)
}
