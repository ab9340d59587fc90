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
import {parseMounts, scopeDockerfile, type Mount, type ScopedDockerfile} from '../dockerfile/scope.js'
import {parseShell, type ShellCommand, type ShellWord} from './shell.js'

export type {Mount} from '../dockerfile/scope.js'

/** ARG/ENV values in effect at one instruction (null: declared without a known value). */
export type Vars = VariableLookup

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
  scoped: ScopedDockerfile
  globalArgs: Map<string, string | null>
  stages: StageInfo[]
  instructions: InstructionInfo[]
  /** lower-cased stage names */
  stageNames: Set<string>
}

export function buildModel(file: ParsedDockerfile, buildArgs: ReadonlyMap<string, string> = new Map()): LintModel {
  const scoped = scopeDockerfile(file, buildArgs)
  const instructions: InstructionInfo[] = file.globalInstructions.map((ins, index) => ({
    ins,
    index,
    stage: null,
    vars: scoped.globalVars[index],
    commands: [],
    mounts: [],
  }))
  const stages: StageInfo[] = []
  for (const s of scoped.stages) {
    const info: StageInfo = {
      stage: s.stage,
      parent: s.parent === null ? null : stages[s.parent],
      image: s.image,
      imageUnresolved: s.imageUnresolved,
      instructions: [],
      envAtEnd: s.envAtEnd,
    }
    s.stage.instructions.forEach((ins, at) => {
      const vars = s.vars[at]
      const item: InstructionInfo = {ins, index: at, stage: info, vars, commands: [], mounts: []}
      if (ins.keyword === 'RUN') {
        item.mounts = parseMounts(ins, vars)
        if (ins.shell) item.commands = parseShell(ins.shell)
        else if (ins.exec && ins.exec.length > 0) item.commands = [execCommand(ins)]
      }
      info.instructions.push(item)
      instructions.push(item)
    })
    stages.push(info)
  }
  return {file, scoped, globalArgs: scoped.globalArgs, stages, instructions, stageNames: scoped.stageNames}
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
