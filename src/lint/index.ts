/**
 * repro lint: reproducibility hazards of a Dockerfile, found before the build. Domain entry points:
 * `lintSource` (a Dockerfile text with its context facts, pure) and `lint` (targets on disk).
 */
import {existsSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'

import yaml from 'js-yaml'

import {decodeDockerfile, DockerfileParseError, MAX_DOCKERFILE_BYTES, parseDockerfile} from '../dockerfile/parse.js'
import {InvalidArgumentError} from '../errors.js'
import {parseDockerignore} from '../verify/context-digest.js'
import type {Exec} from '../exec.js'
import type {Logger} from '../log.js'
import {isImageTarget, lintImage} from './image.js'
import {buildModel} from './model.js'
import type {RawFinding, RuleContext} from './rules/common.js'
import {normalizeImage} from './rules/images.js'
import {findRule, IMAGE_RULES, RULES} from './rules/index.js'
import {
  SEVERITIES,
  SEVERITY_RANK,
  type FailOn,
  type Finding,
  type ImageLintOptions,
  type LintFileResult,
  type LintOptions,
  type LintResult,
} from './types.js'

export type {FailOn, Finding, ImageLintOptions, LintFileResult, LintOptions, LintResult} from './types.js'
export {isImageTarget} from './image.js'
export {ALL_RULES, IMAGE_RULES, RULES} from './rules/index.js'

export interface SourceFacts {
  /** the name findings carry */
  file: string
  context: string
  dockerignore: string | null
  lockedImages: Iterable<string>
  buildContexts: Map<string, string>
  /** --build-arg values: they override ARG defaults */
  buildArgs?: ReadonlyMap<string, string>
  disabled: ReadonlySet<string>
  readContextFile(relative: string): string | null
}

const IGNORE_COMMENT = /^repro-lint\s+ignore\s*=\s*([A-Za-z0-9_,\s-]+)$/

/** Lint one Dockerfile text. Throws DockerfileParseError (naming `facts.file`) when it cannot be parsed. */
export function lintSource(text: string, facts: SourceFacts): LintFileResult {
  const parsed = parseDockerfile(text, facts.file)
  const model = buildModel(parsed, facts.buildArgs)
  const ctx: RuleContext = {
    model,
    dockerignore: facts.dockerignore === null ? null : parseDockerignore(facts.dockerignore),
    buildContexts: facts.buildContexts,
    lockedImages: new Set([...facts.lockedImages].map(normalizeImage)),
    readContextFile: facts.readContextFile,
  }
  const raw: RawFinding[] = []
  // (no push(...spread): a hostile file can give more findings than a call takes arguments)
  for (const rule of RULES) if (!facts.disabled.has(rule.id)) for (const f of rule.check(ctx)) raw.push(f)

  // inline ignores: a comment line before an instruction (a contiguous block counts) or inside it
  const ignoresByLine = new Map<number, Set<string>>()
  for (const c of parsed.comments) {
    const m = IGNORE_COMMENT.exec(c.text.trim())
    if (!m) continue
    const ids = new Set<string>()
    for (const key of m[1].split(',')) {
      const k = key.trim()
      if (k.toLowerCase() === 'all') ids.add('*')
      else {
        const rule = findRule(k)
        if (rule) ids.add(rule.id)
      }
    }
    ignoresByLine.set(c.line, ids)
  }
  const commentLines = new Set(parsed.comments.map((c) => c.line))
  const instructionAtLine = new Map<number, (typeof parsed.instructions)[number]>()
  if (ignoresByLine.size > 0) {
    for (const i of parsed.instructions) for (let l = i.line; l <= i.endLine; l++) instructionAtLine.set(l, i)
  }
  const ignoredAt = (line: number): Set<string> => {
    const ids = new Set<string>()
    if (ignoresByLine.size === 0) return ids
    const ins = instructionAtLine.get(line)
    const from = ins ? ins.line : line
    const to = ins ? ins.endLine : line
    for (let l = from; l <= to; l++) for (const id of ignoresByLine.get(l) ?? []) ids.add(id)
    for (let l = from - 1; l >= 1 && commentLines.has(l); l--) for (const id of ignoresByLine.get(l) ?? []) ids.add(id)
    return ids
  }
  let suppressed = 0
  const findings: Finding[] = []
  const seen = new Set<string>()
  for (const r of raw) {
    const ids = ignoredAt(r.line)
    if (ids.has('*') || ids.has(r.rule)) {
      suppressed++
      continue
    }
    const rule = findRule(r.rule)!
    const key = `${r.rule}:${r.line}:${r.column}:${r.message}`
    if (seen.has(key)) continue
    seen.add(key)
    findings.push({
      rule: r.rule,
      name: rule.name,
      severity: r.severity ?? rule.severity,
      file: facts.file,
      line: r.line,
      column: r.column,
      message: r.message,
      fix: r.fix ?? rule.fix,
    })
  }
  findings.sort(compareFindings)
  return {file: facts.file, context: facts.context, findings, suppressed}
}

export function compareFindings(a: Finding, b: Finding): number {
  const byFile = a.file < b.file ? -1 : a.file > b.file ? 1 : 0
  if (byFile === 0 && a.image && b.image) {
    const x = a.image
    const y = b.image
    return (
      (x.platform < y.platform ? -1 : x.platform > y.platform ? 1 : 0) ||
      x.layer - y.layer ||
      (x.path < y.path ? -1 : x.path > y.path ? 1 : 0) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0)
    )
  }
  return (
    byFile ||
    a.line - b.line ||
    a.column - b.column ||
    (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0) ||
    (a.message < b.message ? -1 : a.message > b.message ? 1 : 0)
  )
}

interface LintConfig {
  disable: string[]
  failOn?: FailOn
}

/** .repro-lint.yaml in the context: `disable: [RL012, copy-git-dir]`, `failOn: error`. */
export function readConfig(file: string, shown = file): LintConfig {
  let doc: unknown
  try {
    doc = yaml.load(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(`${shown}: not valid YAML: ${(error as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {disable: []}
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new InvalidArgumentError(`${shown}: expected a mapping (disable, failOn)`)
  const {disable, failOn, ...rest} = doc as Record<string, unknown>
  const unknown = Object.keys(rest)
  if (unknown.length > 0)
    throw new InvalidArgumentError(`${shown}: unknown key "${unknown[0]}" (known: disable, failOn)`)
  if (disable !== undefined && (!Array.isArray(disable) || disable.some((d) => typeof d !== 'string'))) {
    throw new InvalidArgumentError(`${shown}: disable must be a list of rule ids or names`)
  }
  if (failOn !== undefined && !isFailOn(failOn)) {
    throw new InvalidArgumentError(`${shown}: failOn must be one of ${[...SEVERITIES, 'none'].join(', ')}`)
  }
  return {disable: (disable as string[] | undefined) ?? [], failOn: failOn as FailOn | undefined}
}

function isFailOn(v: unknown): v is FailOn {
  return typeof v === 'string' && ([...SEVERITIES, 'none'] as string[]).includes(v)
}

function resolveRuleKeys(keys: string[], source: string): string[] {
  return keys.map((k) => {
    const rule = findRule(k)
    if (!rule)
      throw new InvalidArgumentError(
        `${source}: unknown rule "${k}" (ids RL001…RL0${RULES.length} and RL101…RL${100 + IMAGE_RULES.length}, or their names)`,
      )
    return rule.id
  })
}

/** repro.lock.yaml: `images:` as a mapping (ref → digest) or a list of refs / {ref} objects. */
function readLockedImages(file: string): string[] {
  if (!existsSync(file)) return []
  let doc: unknown
  try {
    doc = yaml.load(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`)
  }
  const images = (doc as {images?: unknown} | null)?.images
  if (Array.isArray(images)) {
    return images
      .map((i) =>
        typeof i === 'string' ? i : typeof i === 'object' && i ? String((i as {ref?: unknown}).ref ?? '') : '',
      )
      .filter((s) => s !== '')
  }
  if (images && typeof images === 'object') return Object.keys(images)
  return []
}

function display(cwd: string, p: string): string {
  const rel = path.relative(cwd, p)
  const shown = rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? p : rel
  return shown.split(path.sep).join('/')
}

function parseNameValues(values: string[], flag: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const v of values) {
    const eq = v.indexOf('=')
    if (eq <= 0) throw new InvalidArgumentError(`${flag} ${v}: expected NAME=VALUE`)
    map.set(v.slice(0, eq), v.slice(eq + 1))
  }
  return map
}

/** Lint every target (a CONTEXT directory or a Dockerfile). Errors name the file. */
export function lint(options: LintOptions): LintResult {
  if (options.failOn !== undefined && !isFailOn(options.failOn)) {
    throw new InvalidArgumentError(
      `--fail-on ${String(options.failOn)}: expected one of ${[...SEVERITIES, 'none'].join(', ')}`,
    )
  }
  const buildContexts = parseNameValues(options.buildContexts, '--build-context')
  const buildArgs = parseNameValues(options.buildArgs ?? [], '--build-arg')
  const flagDisabled = resolveRuleKeys(options.disable, '--disable')
  const files: LintFileResult[] = []
  let failOn: FailOn | undefined = options.failOn
  const allDisabled = new Set<string>(flagDisabled)
  for (const target of options.targets.length > 0 ? options.targets : ['.']) {
    const abs = path.resolve(options.cwd, target)
    let stat
    try {
      stat = statSync(abs)
    } catch {
      throw new InvalidArgumentError(`${target}: no such file or directory`)
    }
    let dockerfile: string
    let contextDir: string
    if (stat.isDirectory()) {
      contextDir = abs
      const candidates = options.file
        ? [path.resolve(abs, options.file)]
        : ['Dockerfile', 'Containerfile'].map((n) => path.join(abs, n))
      const found = candidates.find((c) => existsSync(c))
      if (!found)
        throw new InvalidArgumentError(
          `${target}: no ${options.file ?? 'Dockerfile or Containerfile'} in this directory`,
        )
      dockerfile = found
    } else {
      dockerfile = abs
      contextDir = path.dirname(abs)
    }
    const shown = display(options.cwd, dockerfile)
    let bytes: Buffer
    try {
      const size = statSync(dockerfile).size
      if (size > MAX_DOCKERFILE_BYTES)
        throw new DockerfileParseError(shown, `larger than ${MAX_DOCKERFILE_BYTES / 1024 / 1024} MiB (${size} bytes)`)
      bytes = readFileSync(dockerfile)
    } catch (error) {
      if (error instanceof DockerfileParseError) throw error
      throw new DockerfileParseError(
        shown,
        `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
    const text = decodeDockerfile(bytes, shown)
    const configFile = path.join(contextDir, '.repro-lint.yaml')
    const config = existsSync(configFile) ? readConfig(configFile, display(options.cwd, configFile)) : {disable: []}
    const disabled = new Set([...flagDisabled, ...resolveRuleKeys(config.disable, display(options.cwd, configFile))])
    for (const d of disabled) allDisabled.add(d)
    failOn ??= config.failOn
    const ignoreFiles = [`${dockerfile}.dockerignore`, path.join(contextDir, '.dockerignore')]
    const ignoreFile = ignoreFiles.find((f) => existsSync(f))
    files.push(
      lintSource(text, {
        file: shown,
        context: display(options.cwd, contextDir),
        dockerignore: ignoreFile ? readFileSync(ignoreFile, 'utf8') : null,
        lockedImages: readLockedImages(path.join(contextDir, 'repro.lock.yaml')),
        buildContexts,
        buildArgs,
        disabled,
        readContextFile(relative) {
          const p = path.resolve(contextDir, relative)
          if (!p.startsWith(contextDir + path.sep)) return null
          try {
            return statSync(p).isFile() && statSync(p).size < 1024 * 1024 ? readFileSync(p, 'utf8') : null
          } catch {
            return null
          }
        },
      }),
    )
  }
  return summarize(files, failOn ?? 'warning', [...allDisabled].sort())
}

export function summarize(files: LintFileResult[], failOn: FailOn, disabled: string[]): LintResult {
  const findings = files.flatMap((f) => f.findings).sort(compareFindings)
  const counts = {error: 0, warning: 0, info: 0}
  for (const f of findings) counts[f.severity]++
  const failed = failOn !== 'none' && findings.some((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[failOn])
  return {files, findings, counts, failOn, failed, disabled}
}

export interface LintTargetsOptions extends LintOptions, ImageLintOptions {
  exec: Exec
  logger?: Logger
}

/**
 * Lint every target: Dockerfiles and contexts statically (`lint`), image inputs by scanning their layers
 * (`lintImage`, see src/lint/image.ts for how a target is told to be an image). Files in target order.
 */
export async function lintTargets(options: LintTargetsOptions): Promise<LintResult> {
  const targets = options.targets.length > 0 ? options.targets : ['.']
  const isImage = targets.map((t) => isImageTarget(t, options.cwd, options.forceImage))
  const dockerTargets = targets.filter((_, i) => !isImage[i])
  if (isImage.every((x) => !x)) return lint({...options, targets})
  if (options.failOn !== undefined && !isFailOn(options.failOn)) {
    throw new InvalidArgumentError(
      `--fail-on ${String(options.failOn)}: expected one of ${[...SEVERITIES, 'none'].join(', ')}`,
    )
  }
  const flagDisabled = resolveRuleKeys(options.disable, '--disable')
  const statics = dockerTargets.length > 0 ? lint({...options, targets: dockerTargets}) : undefined
  const files: LintFileResult[] = []
  let k = 0
  for (const [i, target] of targets.entries()) {
    if (!isImage[i]) {
      files.push(statics!.files[k++])
      continue
    }
    files.push(
      await lintImage(target, {
        ...options,
        exec: options.exec,
        logger: options.logger,
        disabled: new Set(flagDisabled),
      }),
    )
  }
  const disabled = [...new Set([...flagDisabled, ...(statics?.disabled ?? [])])].sort()
  return summarize(files, options.failOn ?? statics?.failOn ?? 'warning', disabled)
}
