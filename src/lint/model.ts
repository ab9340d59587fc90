/**
 * What the rules look at: the parsed Dockerfile, each stage with its parent stage (FROM a previous stage),
 * the ARG/ENV values in effect at each instruction, and each RUN's simple commands and mounts.
 */
import {
  expandVariables,
  type DockerfileInstruction,
  type DockerfileStage,
  type ParsedDockerfile,
  type VariableLookup,
} from '../dockerfile/parse.js'
import {parseShell, type ShellCommand, type ShellWord} from './shell.js'

/** ARG/ENV values in effect at one instruction (null: declared without a known value). */
export type Vars = VariableLookup

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

  view(at: number): Vars {
    return {has: (name) => this.lookup(name, at).found, get: (name) => this.lookup(name, at).value}
  }
}

export interface Mount {
  type: string
  target: string
  from: string | null
  source: string | null
}

export interface InstructionInfo {
  ins: DockerfileInstruction
  /** position within its stage (within the global instructions before the first FROM) */
  index: number
  stage: StageInfo | null
  /** ARG and ENV values in effect (null: declared without a known value) */
  vars: Vars
  /** RUN: its simple commands (shell form) or the exec-form argv as one command */
  commands: ShellCommand[]
  mounts: Mount[]
}

export interface StageInfo {
  stage: DockerfileStage
  /** the stage this one is built FROM, when it is a previous stage */
  parent: StageInfo | null
  /** the expanded image reference of FROM */
  image: string
  /** the FROM image depends on a variable without a value (a whole-ARG image, or a stage picked by platform): not judged */
  imageUnresolved: boolean
  instructions: InstructionInfo[]
  /** ENV values at the end of the stage (inherited by stages built FROM it) */
  envAtEnd: Map<string, string | null>
}

export interface LintModel {
  file: ParsedDockerfile
  globalArgs: Map<string, string | null>
  stages: StageInfo[]
  instructions: InstructionInfo[]
  /** lower-cased stage names */
  stageNames: Set<string>
}

export function buildModel(file: ParsedDockerfile): LintModel {
  const globalArgs = new Map<string, string | null>()
  const instructions: InstructionInfo[] = []
  for (const ins of file.globalInstructions) {
    if (ins.keyword === 'ARG') {
      for (const p of ins.properties) {
        globalArgs.set(p.name, p.value === null ? null : expandVariables(p.value, globalArgs).value)
      }
    }
    instructions.push({
      ins,
      index: instructions.length,
      stage: null,
      vars: new Map(globalArgs),
      commands: [],
      mounts: [],
    })
  }
  const stages: StageInfo[] = []
  const byName = new Map<string, StageInfo>()
  const names = file.stages.map((s) => s.name).filter((n): n is string => n !== null)
  for (const stage of file.stages) {
    const expanded = expandVariables(stage.image, globalArgs)
    const image = expanded.value.trim()
    const parent = byName.get(image.toLowerCase()) ?? null
    // ENV is inherited from a parent stage; ARG is not
    const env = new Map<string, string | null>(parent?.envAtEnd ?? [])
    const history = new VarHistory(env)
    const info: StageInfo = {
      stage,
      parent,
      image,
      // an ARG without a value (FROM ${BUILD_FROM}), or a platform variable BuildKit sets that picks a stage
      // (FROM binaries-$TARGETOS): not judged
      imageUnresolved:
        expanded.unresolved.length > 0 &&
        (image === '' || (image !== '' && names.some((n) => n.startsWith(image.toLowerCase())))),
      instructions: [],
      envAtEnd: env,
    }
    const envSet: [string, string | null][] = []
    stage.instructions.forEach((ins, at) => {
      const vars = history.view(at)
      if (ins.keyword === 'ARG') {
        for (const p of ins.properties) {
          const value =
            p.value !== null
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
      // the instruction sees what was set before it; ARG/ENV see their own effect too
      const seen = ins.keyword === 'ARG' || ins.keyword === 'ENV' ? history.view(at + 1) : vars
      const item: InstructionInfo = {ins, index: at, stage: info, vars: seen, commands: [], mounts: []}
      if (ins.keyword === 'RUN') {
        item.mounts = parseMounts(ins, seen)
        if (ins.shell) item.commands = parseShell(ins.shell)
        else if (ins.exec && ins.exec.length > 0) item.commands = [execCommand(ins)]
      }
      info.instructions.push(item)
      instructions.push(item)
    })
    for (const [name, value] of envSet) env.set(name, value)
    stages.push(info)
    if (stage.name) byName.set(stage.name, info)
  }
  return {file, globalArgs, stages, instructions, stageNames: new Set(names)}
}

function execCommand(ins: DockerfileInstruction): ShellCommand {
  const argv = ins.exec ?? []
  const words: ShellWord[] = argv.map((value) => ({value, line: ins.line, column: ins.column, quoted: true}))
  const name = (argv[0] ?? '').split('/').pop() ?? ''
  return {
    name,
    word: words[0] ?? null,
    args: words.slice(1),
    assignments: [],
    redirects: [],
    line: ins.line,
    column: ins.column,
    pipeline: 0,
    pipeIndex: 0,
  }
}

function parseMounts(ins: DockerfileInstruction, vars: Vars): Mount[] {
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

/** Expand a shell word with the ARG/ENV values known at the instruction (unknown variables stay empty). */
export function expandWord(word: string, vars: Vars): string {
  return expandVariables(word, vars).value
}

/** Stages this stage is built on, itself first. */
export function stageChain(stage: StageInfo | null): StageInfo[] {
  const chain: StageInfo[] = []
  for (let s = stage; s; s = s.parent) chain.push(s)
  return chain
}

/** The source text of an instruction (its lines), for markers such as snapshot URLs. */
export function instructionText(file: ParsedDockerfile, ins: DockerfileInstruction): string {
  return file.lines.slice(ins.line - 1, ins.endLine).join('\n')
}

/** A position comparison: a before b. */
export function before(a: {line: number; column: number}, b: {line: number; column: number}): boolean {
  return a.line < b.line || (a.line === b.line && a.column < b.column)
}
