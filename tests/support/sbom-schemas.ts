/**
 * The official schemas SBOMs are checked against: SPDX 2.3 (vendored, tests/fixtures/spdx-2.3/) and
 * CycloneDX 1.6 (bundled with @cyclonedx/cyclonedx-library, res/schema/), compiled with ajv. Beyond the
 * SPDX schema (which has no patterns), the rules of the SPDX 2.3 spec a reader relies on are checked too:
 * SPDXID syntax, unique IDs, relationships between existing elements, `created` as YYYY-MM-DDThh:mm:ssZ.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import {Ajv, type ValidateFunction} from 'ajv'
import addFormatsModule from 'ajv-formats'

import {ROOT} from './cli.js'

const addFormats = ((addFormatsModule as unknown as {default?: unknown}).default ?? addFormatsModule) as unknown as (
  ajv: Ajv,
) => void

const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>

function errorsOf(validate: ValidateFunction, doc: unknown): string[] {
  if (validate(doc)) return []
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message} [${e.schemaPath}]`)
}

let spdx: ValidateFunction | undefined
let cdx: ValidateFunction | undefined

/** Problems of an SPDX 2.3 JSON document ([] when valid). */
export function spdxProblems(doc: Record<string, unknown>): string[] {
  if (!spdx) {
    const ajv = new Ajv({allErrors: true, strict: false})
    addFormats(ajv)
    spdx = ajv.compile(readJson(path.join(ROOT, 'tests', 'fixtures', 'spdx-2.3', 'spdx-schema.json')))
  }
  const problems = errorsOf(spdx, doc)
  if (doc.spdxVersion !== 'SPDX-2.3') problems.push(`spdxVersion is ${JSON.stringify(doc.spdxVersion)}`)
  const ci = doc.creationInfo as {created?: string} | undefined
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(ci?.created ?? ''))
    problems.push(`creationInfo.created ${JSON.stringify(ci?.created)} is not YYYY-MM-DDThh:mm:ssZ`)
  const ids = new Set<string>(['SPDXRef-DOCUMENT'])
  for (const p of (doc.packages ?? []) as Array<{SPDXID: string}>) {
    if (!/^SPDXRef-[A-Za-z0-9.-]+$/.test(p.SPDXID)) problems.push(`bad SPDXID ${p.SPDXID}`)
    if (ids.has(p.SPDXID)) problems.push(`duplicate SPDXID ${p.SPDXID}`)
    ids.add(p.SPDXID)
  }
  for (const r of (doc.relationships ?? []) as Array<{spdxElementId: string; relatedSpdxElement: string}>) {
    for (const id of [r.spdxElementId, r.relatedSpdxElement])
      if (!ids.has(id)) problems.push(`relationship names unknown element ${id}`)
  }
  if (!/^https?:\/\/[^\s#]+$/.test(String(doc.documentNamespace)))
    problems.push(`documentNamespace ${JSON.stringify(doc.documentNamespace)} is not a URI without #`)
  return problems
}

/** Problems of a CycloneDX 1.6 JSON document against the library's bundled official schema ([] when valid). */
export function cycloneDxProblems(doc: Record<string, unknown>): string[] {
  if (!cdx) {
    const require = createRequire(import.meta.url)
    const dir = path.join(path.dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema')
    const ajv = new Ajv({allErrors: true, strict: false})
    addFormats(ajv)
    // formats of JSON Schema 2019 that ajv-formats lacks: checked as strings (the library uses ajv-formats-draft2019)
    ajv.addFormat('iri-reference', true)
    ajv.addFormat('idn-email', true)
    // the bom schema names its neighbours by these URLs ($id-relative refs); nothing is fetched
    ajv.addSchema(
      readJson(path.join(dir, 'spdx.SNAPSHOT.schema.json')),
      'http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json',
    )
    ajv.addSchema(
      readJson(path.join(dir, 'jsf-0.82.SNAPSHOT.schema.json')),
      'http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json',
    )
    cdx = ajv.compile(readJson(path.join(dir, 'bom-1.6.SNAPSHOT.schema.json')))
  }
  return errorsOf(cdx, doc)
}
