/**
 * Providers: where a package file can be fetched from. A provider is a template (http, https, file URLs,
 * IPFS gateways with {{.CID}}) or an OCI repository (oci://, oci+http://, oci+https://) that serves blobs by
 * digest. Templates are compiled (and their fields checked) before anything is downloaded.
 *
 * A template cannot be turned against the user by a hash-file entry:
 *   - every {{...}} comes after the URL's authority (scheme://host/), so no value picks the host;
 *   - each substituted value is validated and percent-encoded as ONE path segment ({{.Name}}: a path that
 *     passes the hash-file name grammar, encoded segment by segment), so no value adds `..`, `?`, `#` or `%`;
 *   - file:// templates have a root, the directory their literal prefix names; the rendered path must stay
 *     under it (lexically here, and after realpath in the downloader, so a symlink cannot lead out).
 */
import {resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import {InvalidArgumentError} from '../errors.js'
import {formatFields, parsePackageFileName} from './filename.js'
import {checkEntryName, type HashEntry, quoteName} from './hash-file.js'
import {type OciRef, parseOciRef} from '../image/registry/reference.js'
import {
  type CompiledTemplate,
  compileTemplate,
  literalPrefix,
  renderTemplate,
  type TemplateData,
  TemplateError,
  TemplateValueMissingError,
} from './template.js'

export const SCHEMES = ['http', 'https', 'file', 'oci', 'oci+http', 'oci+https'] as const

export type Provider =
  | {source: string; kind: 'oci'; oci: OciRef}
  | {
      source: string
      kind: 'url'
      scheme: 'file' | 'http' | 'https'
      template: CompiledTemplate
      /** file:// only: the directory every rendered path must stay under */
      root?: string
    }

/** Where one entry is fetched from: a URL (http, https) or a path confined to a root (file). */
export type ProviderTarget = {kind: 'file'; url: string; path: string; root: string} | {kind: 'http'; url: string}

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
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'file')
    throw new InvalidArgumentError(`--provider "${source}": unsupported scheme (supported: ${SCHEMES.join(', ')})`)
  if (template.isLiteral)
    throw new InvalidArgumentError(`--provider "${source}": no {{...}} field, every package would get the same URL`, [
      'e.g. file:///mnt/pkgs/{{.Basename}} or http://mirror/debian/{{.Name}}',
    ])
  const prefix = literalPrefix(template)
  if (scheme === 'file') {
    if (!/^file:\/\/(localhost)?\//.test(prefix) || /[?#]/.test(source))
      throw new InvalidArgumentError(
        `--provider "${source}": a file:// template needs an absolute directory before its first {{...}} and no "?" or "#"`,
        ['e.g. file:///mnt/pkgs/{{.Name}}'],
      )
    let root: string
    try {
      root = fileURLToPath(prefix.slice(0, prefix.lastIndexOf('/') + 1))
    } catch (error) {
      throw new InvalidArgumentError(`--provider "${source}": ${(error as Error).message}`)
    }
    return {source, kind: 'url', scheme, template, root: resolve(root)}
  }
  if (!/^https?:\/\/[^/?#{}]+\//.test(prefix))
    throw new InvalidArgumentError(
      `--provider "${source}": the host and the first "/" must come before any {{...}} (no field may choose the host)`,
      ['e.g. http://mirror/debian/{{.Name}}'],
    )
  return {source, kind: 'url', scheme, template}
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

/** The characters RFC 3986 allows in a path segment unencoded (pchar minus pct-encoded). */
const PCHAR = /[A-Za-z0-9._~!$&'()*+,;=:@-]/

/** Percent-encode everything that is not a pchar (UTF-8), so the value stays one segment. */
export function encodeSegment(value: string): string {
  let out = ''
  for (const ch of value) {
    if (PCHAR.test(ch)) out += ch
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/**
 * The escaper every URL template uses: {{.Name}} must pass the hash-file grammar (entries can be built
 * without the parser) and is encoded segment by segment; any other value is one segment: no "/", not "." or
 * "..", only the grammar's characters.
 */
export function escapeValue(value: string, field: string): string {
  if (field === 'Name') {
    const problem = checkEntryName(value)
    if (problem) throw new TemplateValueMissingError(`{{.Name}}: ${problem}`)
    return value.split('/').map(encodeSegment).join('/')
  }
  if (value === '.' || value === '..' || !/^[A-Za-z0-9._+~^:@-]+$/.test(value))
    throw new TemplateValueMissingError(
      `{{.${field}}}: value ${quoteName(value)} is not one path segment of letters, digits and . _ + ~ ^ : @ -`,
    )
  return encodeSegment(value)
}

/** Where a template provider fetches an entry from (throws TemplateValueMissingError when it cannot). */
export function providerTarget(p: Provider & {kind: 'url'}, entry: HashEntry, epoch: number): ProviderTarget {
  const url = renderTemplate(p.template, templateData(entry, epoch), escapeValue)
  if (p.scheme === 'file') {
    const root = p.root!
    let path: string
    try {
      path = resolve(fileURLToPath(url))
    } catch (error) {
      throw new TemplateValueMissingError(`${url}: ${(error as Error).message}`)
    }
    if (!path.startsWith(root.endsWith(sep) ? root : root + sep))
      throw new TemplateValueMissingError(`${quoteName(path, 120)} is outside the provider's root ${root}`)
    return {kind: 'file', url, path, root}
  }
  return {kind: 'http', url}
}

/** The URL a template provider gives for an entry (throws TemplateValueMissingError when a field is absent). */
export function providerUrl(p: Provider & {kind: 'url'}, entry: HashEntry, epoch: number): string {
  return providerTarget(p, entry, epoch).url
}
