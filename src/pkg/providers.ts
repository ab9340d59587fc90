/**
 * Providers: where a package file can be fetched from. A provider is a template (http, https, file URLs,
 * IPFS gateways with {{.CID}}) or an OCI repository (oci://, oci+http://, oci+https://) that serves blobs by
 * digest. Templates are compiled (and their fields checked) before anything is downloaded.
 */
import {InvalidArgumentError} from '../errors.js'
import type {HashEntry} from './hash-file.js'
import {formatFields, parsePackageFileName} from './filename.js'
import {type OciRef, parseOciRef} from '../image/registry/reference.js'
import {type CompiledTemplate, compileTemplate, renderTemplate, type TemplateData, TemplateError} from './template.js'

export const SCHEMES = ['http', 'https', 'file', 'oci', 'oci+http', 'oci+https'] as const

export type Provider =
  {source: string; kind: 'oci'; oci: OciRef} | {source: string; kind: 'url'; template: CompiledTemplate}

export function parseProvider(source: string): Provider {
  if (/^oci(\+https?)?:\/\//.test(source)) return {source, kind: 'oci', oci: parseOciRef(source)}
  let template: CompiledTemplate
  try {
    template = compileTemplate(source)
  } catch (error) {
    if (error instanceof TemplateError) throw new InvalidArgumentError(`--provider: ${error.message}`)
    throw error
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(source)?.[1]
  if (!scheme || !['http', 'https', 'file'].includes(scheme))
    throw new InvalidArgumentError(`--provider "${source}": unsupported scheme (supported: ${SCHEMES.join(', ')})`)
  if (template.isLiteral)
    throw new InvalidArgumentError(`--provider "${source}": no {{...}} field, every package would get the same URL`, [
      'e.g. file:///mnt/pkgs/{{.Basename}} or http://mirror/debian/{{.Name}}',
    ])
  return {source, kind: 'url', template}
}

/** Providers from --provider flags, else REPRO_PROVIDERS (comma list), else the distro's defaults. */
export function resolveProviders(
  flags: string[] | undefined,
  env: string | undefined,
  defaults: readonly string[],
): Provider[] {
  const list = flags?.length
    ? flags
    : env
      ? env
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [...defaults]
  return list.map((s) => parseProvider(s))
}

export function templateData(entry: HashEntry, epoch: number): TemplateData {
  return {
    Name: entry.name,
    Basename: entry.basename,
    SHA256: entry.sha256,
    CID: entry.cids[0],
    Epoch: epoch,
    ...formatFields(parsePackageFileName(entry.name)),
  }
}

/** The URL a template provider gives for an entry (throws TemplateValueMissingError when a field is absent). */
export function providerUrl(p: Provider & {kind: 'url'}, entry: HashEntry, epoch: number): string {
  return renderTemplate(p.template, templateData(entry, epoch))
}
