/**
 * The published JSON Schemas (schemas/*.schema.json, draft 2020-12) compiled with ajv in strict mode, and
 * an assertion whose message names the command, the schema and each failing path in the JSON.
 */
import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {Ajv2020, type ValidateFunction} from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'

import {ROOT} from './cli.js'

export const SCHEMA_DIR = path.join(ROOT, 'schemas')

/** `hash inspect` → `hash-inspect.schema.json`; `error` → `error.schema.json`. */
export const schemaFile = (command: string): string => `${command.replaceAll(' ', '-')}.schema.json`

export function loadSchemas(): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>()
  for (const f of readdirSync(SCHEMA_DIR)
    .filter((n) => n.endsWith('.schema.json'))
    .sort()) {
    out.set(f, JSON.parse(readFileSync(path.join(SCHEMA_DIR, f), 'utf8')) as Record<string, unknown>)
  }
  return out
}

// ajv-formats is CommonJS: its default export arrives as the module object under Node16 resolution
const addFormats = ((addFormatsModule as unknown as {default?: unknown}).default ?? addFormatsModule) as unknown as (
  ajv: Ajv2020,
) => void

export class SchemaValidator {
  readonly schemas = loadSchemas()
  private readonly ajv = new Ajv2020({allErrors: true, strict: true})
  private readonly compiled = new Map<string, ValidateFunction>()

  constructor() {
    addFormats(this.ajv)
    for (const [file, schema] of this.schemas) this.compiled.set(file, this.ajv.compile(schema))
  }

  /** The errors of `doc` against the schema of `command` ('' when valid), one per line: path and problem. */
  errors(command: string, doc: unknown): string {
    const file = schemaFile(command)
    const validate = this.compiled.get(file)
    assert.ok(validate, `no schema schemas/${file} for \`repro ${command} --json\``)
    if (validate(doc)) return ''
    return (validate.errors ?? [])
      .map((e) => {
        const extra = e.keyword === 'additionalProperties' ? ` (${JSON.stringify(e.params)})` : ''
        return `  at ${e.instancePath || '/'}: ${e.message}${extra} [schema ${e.schemaPath}]`
      })
      .join('\n')
  }

  /** Assert `doc` (what `repro <command> --json` printed) is valid against schemas/<command>.schema.json. */
  check(command: string, doc: unknown, what = `repro ${command} --json`): void {
    const errors = this.errors(command, doc)
    assert.equal(errors, '', `${what}: output does not match schemas/${schemaFile(command)}:\n${errors}`)
  }
}
