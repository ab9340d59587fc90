/**
 * What the rules look at: the parsed Dockerfile, each stage with its parent stage (FROM a previous stage),
 * the ARG/ENV values in effect at each instruction, and each RUN's simple commands and mounts.
 */
import {
  expandVariables,
  type DockerfileInstruction,
  type DockerfileStage,
  type ParsedDockerfile,
} from '../dockerfile/parse.js'
import {parseShell, type ShellCommand, type ShellWord} from './shell.js'

export type Vars = Map<string, string | null>

export interface Mount {
  type: string
  target: string
  from: string | null
  source: string | null
}

export interface InstructionInfo {
  ins: DockerfileInstruction
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
  envAtEnd: Vars
}

export interface LintModel {
  file: ParsedDockerfile
  globalArgs: Vars
  stages: StageInfo[]
  instructions: InstructionInfo[]
  /** lower-cased stage names */
  stageNames: Set<string>
}

export function buildModel(file: ParsedDockerfile): LintModel {
  const globalArgs: Vars = new Map()
  const instructions: InstructionInfo[] = []
  for (const ins of file.globalInstructions) {
    if (ins.keyword === 'ARG') {
      for (const p of ins.properties) {
        globalArgs.set(p.name, p.value === null ? null : expandVariables(p.value, globalArgs).value)
      }
    }
    instructions.push({ins, stage: null, vars: new Map(globalArgs), commands: [], mounts: []})
  }
  const stages: StageInfo[] = []
  const byName = new Map<string, StageInfo>()
  for (const stage of file.stages) {
    const expanded = expandVariables(stage.image, globalArgs)
    const image = expanded.value.trim()
    const parent = byName.get(image.toLowerCase()) ?? null
    const env: Vars = new Map(parent?.envAtEnd ?? [])
    const vars: Vars = new Map(env)
    const info: StageInfo = {
      stage,
      parent,
      image,
      // an ARG without a value (FROM ${BUILD_FROM}), or a platform variable BuildKit sets that picks a stage
      // (FROM binaries-$TARGETOS): not judged
      imageUnresolved:
        expanded.unresolved.length > 0 &&
        (image === '' ||
          file.stages.some((s) => s.name !== null && image !== '' && s.name.startsWith(image.toLowerCase()))),
      instructions: [],
      envAtEnd: env,
    }
    for (const ins of stage.instructions) {
      if (ins.keyword === 'ARG') {
        for (const p of ins.properties) {
          const value =
            p.value !== null
              ? expandVariables(p.value, vars).value
              : globalArgs.has(p.name)
                ? globalArgs.get(p.name)!
                : null
          vars.set(p.name, value)
        }
      } else if (ins.keyword === 'ENV') {
        for (const p of ins.properties) {
          const value = expandVariables(p.value ?? '', vars).value
          vars.set(p.name, value)
          env.set(p.name, value)
        }
      }
      const item: InstructionInfo = {ins, stage: info, vars: new Map(vars), commands: [], mounts: []}
      if (ins.keyword === 'RUN') {
        item.mounts = parseMounts(ins, vars)
        if (ins.shell) item.commands = parseShell(ins.shell)
        else if (ins.exec && ins.exec.length > 0) item.commands = [execCommand(ins)]
      }
      info.instructions.push(item)
      instructions.push(item)
    }
    stages.push(info)
    if (stage.name) byName.set(stage.name, info)
  }
  return {
    file,
    globalArgs,
    stages,
    instructions,
    stageNames: new Set(file.stages.map((s) => s.name).filter((n): n is string => n !== null)),
  }
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
