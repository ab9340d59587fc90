/**
 * What a parsed Dockerfile means once its variables are known: the ARG/ENV values in effect at every
 * instruction, which stage each stage is built FROM, and every image it pulls (FROM, COPY --from,
 * RUN --mount from=, # syntax=). lint judges these references; lock resolves them.
 */
import {
  expandVariables,
  type DockerfileInstruction,
  type DockerfileStage,
  type ParsedDockerfile,
  type VariableLookup,
} from './parse.js'

/**
 * The values a stage's ARG and ENV instructions set, looked up as of an instruction by binary search: no
 * copy per instruction (a file of 100k ENV lines stays linear).
 */
class VarHistory {
  private readonly entries = new Map<string, {at: number; value: string | null}[]>()
  constructor(private readonly base: VariableLookup) {}

  set(name: string, value: string | null, at: number): void {
    const list = this.entries.get(name)
    if (list) list.push({at, value})
    else this.entries.set(name, [{at, value}])
  }

  /** the value set before position `at` (exclusive), else the base's */
  lookup(name: string, at: number): {found: boolean; value: string | null | undefined} {
    const list = this.entries.get(name)
    if (list && list[0].at < at) {
      let lo = 0
      let hi = list.length - 1
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1
        if (list[mid].at < at) lo = mid
        else hi = mid - 1
      }
      return {found: true, value: list[lo].value}
    }
    return this.base.has(name) ? {found: true, value: this.base.get(name)} : {found: false, value: undefined}
  }

  view(at: number): VariableLookup {
    return {has: (name) => this.lookup(name, at).found, get: (name) => this.lookup(name, at).value}
  }
}

export interface ScopedStage {
  stage: DockerfileStage
  /** index of the stage this one is built FROM, when that is a previous stage */
  parent: number | null
  /** the FROM image with variables expanded */
  image: string
  /**
   * the FROM image depends on a variable without a value: a whole-ARG image (FROM ${BUILD_FROM}) or a stage
   * picked by a platform variable BuildKit sets (FROM binaries-$TARGETOS)
   */
  imageUnresolved: boolean
  /** ARG/ENV values in effect at each instruction of the stage (ARG/ENV see their own effect) */
  vars: VariableLookup[]
  /** ENV values at the end of the stage (inherited by stages built FROM it) */
  envAtEnd: Map<string, string | null>
}

export interface ScopedDockerfile {
  /** ARGs before the first FROM, with defaults (and --build-arg values) expanded */
  globalArgs: Map<string, string | null>
  /** ARG values in effect at each global instruction */
  globalVars: VariableLookup[]
  stages: ScopedStage[]
  /** lower-cased stage names */
  stageNames: Set<string>
}

/** Scope a parsed Dockerfile. `buildArgs` (--build-arg NAME=VALUE) override ARG defaults. */
export function scopeDockerfile(
  file: ParsedDockerfile,
  buildArgs: ReadonlyMap<string, string> = new Map(),
): ScopedDockerfile {
  const globalArgs = new Map<string, string | null>()
  const globalVars: VariableLookup[] = []
  for (const ins of file.globalInstructions) {
    if (ins.keyword === 'ARG') {
      for (const p of ins.properties) {
        const given = buildArgs.get(p.name)
        globalArgs.set(
          p.name,
          given !== undefined ? given : p.value === null ? null : expandVariables(p.value, globalArgs).value,
        )
      }
    }
    globalVars.push(new Map(globalArgs))
  }
  const names = file.stages.map((s) => s.name).filter((n): n is string => n !== null)
  const byName = new Map<string, number>()
  const stages: ScopedStage[] = []
  for (const stage of file.stages) {
    const expanded = expandVariables(stage.image, globalArgs)
    const image = expanded.value.trim()
    const parent = byName.get(image.toLowerCase()) ?? null
    // ENV is inherited from a parent stage; ARG is not
    const env = new Map<string, string | null>(parent === null ? [] : stages[parent].envAtEnd)
    const history = new VarHistory(env)
    const vars: VariableLookup[] = []
    const envSet: [string, string | null][] = []
    stage.instructions.forEach((ins, at) => {
      if (ins.keyword === 'ARG') {
        for (const p of ins.properties) {
          const given = buildArgs.get(p.name)
          const value =
            given !== undefined
              ? given
              : p.value !== null
                ? expandVariables(p.value, history.view(at + 1)).value
                : globalArgs.has(p.name)
                  ? globalArgs.get(p.name)!
                  : null
          history.set(p.name, value, at)
        }
      } else if (ins.keyword === 'ENV') {
        for (const p of ins.properties) {
          const value = expandVariables(p.value ?? '', history.view(at + 1)).value
          history.set(p.name, value, at)
          envSet.push([p.name, value])
        }
      }
      vars.push(history.view(ins.keyword === 'ARG' || ins.keyword === 'ENV' ? at + 1 : at))
    })
    for (const [name, value] of envSet) env.set(name, value)
    stages.push({
      stage,
      parent,
      image,
      imageUnresolved:
        expanded.unresolved.length > 0 && (image === '' || names.some((n) => n.startsWith(image.toLowerCase()))),
      vars,
      envAtEnd: env,
    })
    if (stage.name) byName.set(stage.name, stages.length - 1)
  }
  return {globalArgs, globalVars, stages, stageNames: new Set(names)}
}

export interface Mount {
  type: string
  target: string
  from: string | null
  source: string | null
}

/** The --mount flags of a RUN, values expanded with the variables in effect. */
export function parseMounts(ins: DockerfileInstruction, vars: VariableLookup): Mount[] {
  const mounts: Mount[] = []
  for (const f of ins.flags) {
    if (f.name !== 'mount' || !f.value) continue
    const fields = new Map<string, string>()
    for (const part of f.value.split(',')) {
      const eq = part.indexOf('=')
      if (eq < 0) fields.set(part.trim().toLowerCase(), 'true')
      else fields.set(part.slice(0, eq).trim().toLowerCase(), expandVariables(part.slice(eq + 1).trim(), vars).value)
    }
    mounts.push({
      type: fields.get('type') ?? 'bind',
      target: fields.get('target') ?? fields.get('dst') ?? fields.get('destination') ?? '',
      from: fields.get('from') ?? null,
      source: fields.get('source') ?? fields.get('src') ?? null,
    })
  }
  return mounts
}

export interface ImageReference {
  kind: 'from' | 'copy-from' | 'mount-from' | 'syntax'
  /** the reference with variables expanded */
  ref: string
  line: number
  column: number
  /** the stage it appears in (-1 for the syntax directive) */
  stage: number
  instruction: DockerfileInstruction | null
}

/**
 * Every image the build pulls: FROM images that are not `scratch` nor a previous stage (nor unresolved),
 * COPY/ADD --from= and RUN --mount from= values that are not stages (by name or index), and the syntax
 * directive. Named build contexts are not known here: the caller filters them.
 */
export function imageReferences(file: ParsedDockerfile, scoped: ScopedDockerfile): ImageReference[] {
  const refs: ImageReference[] = []
  const syntax = file.directives.find((d) => d.name === 'syntax')
  if (syntax)
    refs.push({
      kind: 'syntax',
      ref: syntax.value,
      line: syntax.line,
      column: syntax.column,
      stage: -1,
      instruction: null,
    })
  // FROM may only name stages defined before it
  const earlier = new Set<string>()
  scoped.stages.forEach((s, index) => {
    const isStage = (ref: string, names: ReadonlySet<string>): boolean =>
      names.has(ref.toLowerCase()) || /^\d+$/.test(ref) || ref.toLowerCase() === 'scratch'
    if (!s.imageUnresolved && s.image !== '' && !isStage(s.image, earlier)) {
      refs.push({
        kind: 'from',
        ref: s.image,
        line: s.stage.imageLine,
        column: s.stage.imageColumn,
        stage: index,
        instruction: s.stage.instructions[0],
      })
    }
    s.stage.instructions.forEach((ins, at) => {
      const found: {kind: ImageReference['kind']; value: string; column: number}[] = []
      if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
        for (const f of ins.flags) {
          if (f.name === 'from' && f.value) {
            found.push({kind: 'copy-from', value: expandVariables(f.value, s.vars[at]).value, column: f.column})
          }
        }
      } else if (ins.keyword === 'RUN') {
        const column = ins.flags.find((f) => f.name === 'mount')?.column ?? ins.column
        for (const m of parseMounts(ins, s.vars[at]))
          if (m.from) found.push({kind: 'mount-from', value: m.from, column})
      }
      for (const x of found) {
        const ref = x.value.trim()
        if (ref === '' || isStage(ref, scoped.stageNames)) continue
        refs.push({kind: x.kind, ref, line: ins.line, column: x.column, stage: index, instruction: ins})
      }
    })
    if (s.stage.name) earlier.add(s.stage.name)
  })
  return refs
}
