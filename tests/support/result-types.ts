/**
 * The result type of every command (what `run()` resolves to, which oclif prints with --json), read with
 * the TypeScript checker, and a structural comparison with a JSON Schema: every property of the type is in
 * the schema and none other, required exactly when not optional, nullable exactly when `| null`, literal
 * unions as enums. The schemas stay hand-written (descriptions, patterns, integer vs number); this keeps
 * them from drifting when a result type changes.
 */
import {readdirSync, statSync} from 'node:fs'
import path from 'node:path'

import ts from 'typescript'

import {ROOT} from './cli.js'

type Schema = Record<string, unknown>

export interface ResultTypes {
  checker: ts.TypeChecker
  /** command id ('hash inspect') → the type its run() resolves to */
  results: Map<string, ts.Type>
}

export function commandResultTypes(): ResultTypes {
  const dir = path.join(ROOT, 'src', 'commands')
  const files: string[] = []
  const walk = (d: string): void => {
    for (const f of readdirSync(d).sort()) {
      const p = path.join(d, f)
      if (statSync(p).isDirectory()) walk(p)
      else if (p.endsWith('.ts')) files.push(p)
    }
  }
  walk(dir)
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    noEmit: true,
    skipLibCheck: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
  })
  const checker = program.getTypeChecker()
  const results = new Map<string, ts.Type>()
  for (const file of files) {
    const sf = program.getSourceFile(file)
    const mod = sf && checker.getSymbolAtLocation(sf)
    const def = mod && checker.getExportsOfModule(mod).find((e) => e.name === 'default')
    if (!def) throw new Error(`${path.relative(ROOT, file)}: no default export (an oclif command)`)
    const cls = checker.getTypeOfSymbol(def.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(def) : def)
    const instance = cls.getConstructSignatures()[0].getReturnType()
    const run = checker.getPropertyOfType(instance, 'run')
    if (!run) throw new Error(`${path.relative(ROOT, file)}: no run() method`)
    const promise = checker.getTypeOfSymbol(run).getCallSignatures()[0].getReturnType()
    const id = path.relative(dir, file).replace(/\.ts$/, '').split(path.sep).join(' ')
    results.set(id, checker.getTypeArguments(promise as ts.TypeReference)[0])
  }
  return {checker, results}
}

const isType = (s: Schema, t: string): boolean =>
  s.type === t || (Array.isArray(s.type) && (s.type as string[]).includes(t))

/** Differences between a TypeScript type and a schema, each naming the place in the schema (`#/properties/...`). */
export function compareWithSchema(checker: ts.TypeChecker, type: ts.Type, root: Schema): string[] {
  const problems: string[] = []
  const resolve = (s: Schema): Schema => {
    let cur = s
    for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) {
      const ref = cur.$ref as string
      if (!ref.startsWith('#/')) break
      cur = ref
        .slice(2)
        .split('/')
        .reduce<Schema>((o, k) => (o?.[k] ?? {}) as Schema, root)
    }
    return cur
  }

  const literals = (parts: ts.Type[]): Array<string | number> | undefined => {
    if (!parts.every((p) => p.isStringLiteral() || p.isNumberLiteral())) return undefined
    return parts.map((p) => (p as ts.StringLiteralType | ts.NumberLiteralType).value).sort()
  }

  const visit = (t: ts.Type, schema: Schema, at: string): void => {
    const s = resolve(schema)
    const name = checker.typeToString(t)
    const f = t.flags
    if (f & (ts.TypeFlags.Unknown | ts.TypeFlags.Any)) return
    // T | undefined is an optional property: `required` says it; JSON never holds undefined
    const parts = t.isUnion() ? t.types.filter((p) => !(p.flags & ts.TypeFlags.Undefined)) : [t]
    const nonNull = parts.filter((p) => !(p.flags & ts.TypeFlags.Null))
    if (nonNull.length < parts.length) {
      const anyOf = (s.anyOf ?? s.oneOf) as Schema[] | undefined
      const nullBranch = anyOf?.findIndex((b) => resolve(b).type === 'null') ?? -1
      if (isType(s, 'null')) {
        const rest = Array.isArray(s.type) ? (s.type as string[]).filter((x) => x !== 'null') : []
        if (nonNull.length > 0) visitParts(nonNull, {...s, type: rest.length === 1 ? rest[0] : rest}, at, name)
      } else if (anyOf && nullBranch !== -1) {
        const others = anyOf.filter((_, i) => i !== nullBranch)
        visitParts(nonNull, others.length === 1 ? others[0] : {anyOf: others}, at, name)
      } else problems.push(`${at}: the type (${name}) can be null, the schema does not allow null`)
      return
    }
    if (isType(s, 'null') && s.type !== 'null')
      problems.push(`${at}: the schema allows null, the type (${name}) cannot be null`)
    visitParts(parts, s, at, name)
  }

  const visitParts = (parts: ts.Type[], schema: Schema, at: string, name: string): void => {
    const s = resolve(schema)
    const lits = literals(parts)
    if (parts.length > 1 && parts.every((p) => p.flags & ts.TypeFlags.BooleanLiteral)) {
      if (!isType(s, 'boolean')) problems.push(`${at}: the type is boolean, the schema is not`)
      return
    }
    if (lits) {
      const allowed = s.const === undefined ? (s.enum as Array<string | number> | undefined) : [s.const as string]
      if (!allowed)
        problems.push(
          `${at}: the type is ${lits.map((l) => JSON.stringify(l)).join(' | ')}, the schema has no enum/const`,
        )
      else if (JSON.stringify([...allowed].sort()) !== JSON.stringify(lits))
        problems.push(
          `${at}: enum ${JSON.stringify([...allowed].sort())} differs from the type's ${JSON.stringify(lits)}`,
        )
      return
    }
    if (parts.length > 1) {
      const branches = (s.anyOf ?? s.oneOf) as Schema[] | undefined
      if (!branches || branches.length !== parts.length) {
        problems.push(
          `${at}: the type is a union of ${parts.length} (${name}), the schema needs anyOf with as many branches`,
        )
        return
      }
      parts.forEach((p, i) => visit(p, branches[i], `${at}/anyOf/${i}`))
      return
    }
    const t = parts[0]
    const f = t.flags
    if (f & ts.TypeFlags.BooleanLiteral) {
      if (!isType(s, 'boolean') && s.const === undefined)
        problems.push(`${at}: the type is ${name}, the schema is not boolean`)
    } else if (f & ts.TypeFlags.String) {
      if (!isType(s, 'string')) problems.push(`${at}: the type is string, the schema is ${JSON.stringify(s.type ?? s)}`)
    } else if (f & ts.TypeFlags.Number) {
      if (!isType(s, 'number') && !isType(s, 'integer'))
        problems.push(`${at}: the type is number, the schema is ${JSON.stringify(s.type ?? s)}`)
    } else if (f & ts.TypeFlags.Boolean) {
      if (!isType(s, 'boolean'))
        problems.push(`${at}: the type is boolean, the schema is ${JSON.stringify(s.type ?? s)}`)
    } else if (checker.isTupleType(t)) {
      const items = (s.prefixItems ?? []) as Schema[]
      const args = checker.getTypeArguments(t as ts.TypeReference)
      if (!isType(s, 'array') || items.length !== args.length)
        problems.push(`${at}: the type is a tuple of ${args.length}, the schema needs prefixItems of as many`)
      else args.forEach((a, i) => visit(a, items[i], `${at}/prefixItems/${i}`))
    } else if (checker.isArrayType(t)) {
      if (!isType(s, 'array') || !s.items) problems.push(`${at}: the type is an array (${name}), the schema is not`)
      else visit(checker.getTypeArguments(t as ts.TypeReference)[0], s.items as Schema, `${at}/items`)
    } else if (f & ts.TypeFlags.Object || t.isIntersection()) {
      visitObject(t, s, at, name)
    } else problems.push(`${at}: no rule for the type ${name}`)
  }

  const visitObject = (t: ts.Type, s: Schema, at: string, name: string): void => {
    if (!isType(s, 'object')) {
      problems.push(`${at}: the type is an object (${name}), the schema is ${JSON.stringify(s.type ?? s)}`)
      return
    }
    const index = checker.getIndexInfosOfType(t)[0]
    const props = checker.getPropertiesOfType(t).filter((p) => {
      const pt = checker.getTypeOfSymbol(p)
      return pt.getCallSignatures().length === 0
    })
    const schemaProps = (s.properties ?? {}) as Record<string, Schema>
    const required = new Set((s.required ?? []) as string[])
    for (const p of props) {
      const where = `${at}/properties/${p.name}`
      if (!(p.name in schemaProps)) {
        problems.push(`${where}: property "${p.name}" of the type (${name}) is missing in the schema`)
        continue
      }
      const pt = checker.getTypeOfSymbol(p)
      // `x?: T`, `x: T | undefined` and `x: unknown` may all be absent from the JSON
      const optional =
        (p.flags & ts.SymbolFlags.Optional) !== 0 ||
        (pt.flags & (ts.TypeFlags.Unknown | ts.TypeFlags.Any | ts.TypeFlags.Undefined)) !== 0 ||
        (pt.isUnion() && pt.types.some((x) => x.flags & ts.TypeFlags.Undefined))
      if (optional && required.has(p.name)) problems.push(`${where}: optional in the type, required in the schema`)
      if (!optional && !required.has(p.name))
        problems.push(`${where}: required in the type, not in the schema's required`)
      visit(pt, schemaProps[p.name], where)
    }
    for (const k of Object.keys(schemaProps)) {
      if (!props.some((p) => p.name === k))
        problems.push(`${at}/properties/${k}: in the schema, not a property of the type (${name})`)
    }
    if (index) {
      if (!s.additionalProperties || s.additionalProperties === true)
        problems.push(`${at}: the type has an index signature, the schema needs an additionalProperties schema`)
      else visit(index.type, s.additionalProperties as Schema, `${at}/additionalProperties`)
    } else if (s.additionalProperties !== false) {
      problems.push(`${at}: the type (${name}) is closed, the schema needs additionalProperties: false`)
    }
  }

  visit(type, root, '#')
  return problems
}
