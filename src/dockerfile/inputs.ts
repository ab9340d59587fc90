/**
 * The external inputs of a Dockerfile, as BuildKit's Dockerfile frontend would see them: which images
 * (FROM, COPY --from, RUN --mount from=, named contexts), which URLs and git repositories (ADD), and which
 * frontend (`# syntax=`) a build of a given target pulls, after ARG expansion with defaults and --build-arg.
 * Built on the one parser (parse.ts) and its variable scoping (scope.ts, shared with lint); pure but for
 * readDockerfile: no network.
 */
import {readFile, stat} from 'node:fs/promises'

import {
  decodeDockerfile,
  DockerfileParseError,
  type DockerfileInstruction,
  expandVariables,
  MAX_DOCKERFILE_BYTES,
  parseDockerfile,
  type ParsedDockerfile,
  type VariableLookup,
} from './parse.js'
import {parseMounts, scopeDockerfile} from './scope.js'

export interface InputsOptions {
  /** --build-arg NAME=VALUE, already split */
  buildArgs?: Readonly<Record<string, string>>
  /** --platform values (target platforms); empty: the build platform */
  platforms?: readonly string[]
  /** the platform BuildKit runs on (BUILDPLATFORM); default linux/amd64 */
  buildPlatform?: string
  /** --target: a stage name; default the last stage */
  target?: string
  /** --build-context NAME=VALUE: the names replace FROM/--from references of that name */
  buildContexts?: Readonly<Record<string, string>>
}

/** Where an image is named in the Dockerfile. */
export type ImageUse = 'build-context' | 'copy-from' | 'from' | 'run-mount' | 'syntax'

export interface ImageInput {
  /** the reference after ARG expansion, as written (not normalised) */
  ref: string
  use: ImageUse
  line: number
  /** index of the stage that names it (-1 for `# syntax=` and build contexts) */
  stage: number
  /** the stage's --platform after expansion (FROM only), else null */
  platform: string | null
}

export interface UrlInput {
  url: string
  line: number
  stage: number
  /** ADD --checksum=... given in the Dockerfile: already pinned */
  checksum: string | null
}

export interface GitInput {
  /** the repository URL without the #fragment */
  url: string
  /** the ref from the #fragment (branch, tag or commit), null: the remote's HEAD */
  ref: string | null
  subdir: string | null
  line: number
  stage: number
}

export type StageBase =
  | {kind: 'context'; name: string; value: string}
  | {kind: 'image'; ref: string}
  | {kind: 'scratch'}
  | {kind: 'stage'; index: number}

export interface StageInputs {
  index: number
  name: string | null
  base: StageBase
  /** --platform after expansion, null when not given */
  platform: string | null
  /** stages this one reads from (FROM, COPY --from, RUN --mount from=) */
  dependsOn: number[]
  /** is it built for the target? */
  reachable: boolean
}

export interface DockerfileInputs {
  syntax: ImageInput | null
  /** images of the stages the target needs, in Dockerfile order (one entry per use) */
  images: ImageInput[]
  urls: UrlInput[]
  gits: GitInput[]
  stages: StageInputs[]
  /** the target stage's index */
  target: number
  /** build args whose value selects an input (referenced in FROM, --from, --platform, ADD sources), sorted */
  selectingArgs: string[]
  /** the value each selecting arg had (--build-arg, else its default; null: none), last declaration wins */
  argValues: Record<string, string | null>
  /** named build contexts the Dockerfile uses */
  contextsUsed: string[]
}

const PLATFORM_ARGS = [
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
  'TARGETVARIANT',
]

function platformVars(prefix: 'BUILD' | 'TARGET', platform: string): Array<[string, string]> {
  const [os = 'linux', arch = 'amd64', variant = ''] = platform.split('/')
  return [
    [`${prefix}PLATFORM`, platform],
    [`${prefix}OS`, os],
    [`${prefix}ARCH`, arch],
    [`${prefix}VARIANT`, variant],
  ]
}

/** BuildKit's test for a git source in ADD: git:// and git@ always; http(s) when the path ends in .git. */
export function isGitSource(source: string): boolean {
  if (/^git:\/\//i.test(source) || /^git@[^:]+:/.test(source) || /^ssh:\/\//i.test(source)) return true
  if (!/^https?:\/\//i.test(source)) return false
  const noFragment = source.split('#')[0].replace(/\/+$/, '')
  return /\.git$/i.test(noFragment)
}

export function isUrlSource(source: string): boolean {
  return /^https?:\/\//i.test(source)
}

/** `URL#ref:subdir` → its parts (BuildKit's fragment syntax; `?ref=` query form is not read). */
export function splitGitSource(source: string): {url: string; ref: string | null; subdir: string | null} {
  const hash = source.indexOf('#')
  if (hash < 0) return {url: source, ref: null, subdir: null}
  const fragment = source.slice(hash + 1)
  const colon = fragment.indexOf(':')
  const ref = colon < 0 ? fragment : fragment.slice(0, colon)
  const subdir = colon < 0 ? null : fragment.slice(colon + 1) || null
  return {url: source.slice(0, hash), ref: ref || null, subdir}
}

/** The sources of an ADD/COPY (all words but the last), shell or JSON form. */
function sourcesOf(ins: DockerfileInstruction): string[] {
  const joined = ins.args.map((a) => a.value).join(' ')
  if (joined.trimStart().startsWith('[')) {
    try {
      const parsed = JSON.parse(joined) as unknown
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return (parsed as string[]).slice(0, -1)
    } catch {
      // not JSON: BuildKit then reads it as shell form
    }
  }
  if (ins.heredocs.length > 0) {
    // ADD <<EOF /dest: the heredoc is a source; the words left are the heredoc marker and the destination
    return ins.args
      .slice(0, -1)
      .map((a) => a.value)
      .filter((v) => !v.startsWith('<<'))
  }
  return ins.args.slice(0, -1).map((a) => a.value)
}

/**
 * The inputs of `parsed` for one build. Errors (one line, naming the Dockerfile and line): an ARG used in
 * FROM with no value, an unknown --target, a stage that names itself or a later stage.
 */
export function dockerfileInputs(parsed: ParsedDockerfile, options: InputsOptions = {}): DockerfileInputs {
  const buildArgs = new Map(Object.entries(options.buildArgs ?? {}))
  const buildPlatform = options.buildPlatform ?? 'linux/amd64'
  const targetPlatform = options.platforms?.[0] ?? buildPlatform
  const contexts = new Map(Object.entries(options.buildContexts ?? {}))
  const fail = (line: number, problem: string): never => {
    throw new DockerfileParseError(parsed.path, `line ${line}: ${problem}`)
  }
  const selecting = new Set<string>()
  const note = (text: string): void => {
    for (const m of text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) selecting.add(m[1])
  }

  // ARG/ENV scoping is scope.ts's (shared with lint): BuildKit's automatic platform args are values a declared
  // `ARG TARGETARCH` takes, and FROM sees them without a declaration
  const automatic = new Map([...platformVars('BUILD', buildPlatform), ...platformVars('TARGET', targetPlatform)])
  const scoped = scopeDockerfile(parsed, new Map([...buildArgs, ...automatic]))
  const globals = new Map<string, string | null>([...automatic, ...scoped.globalArgs])
  const declared = new Set<string>()
  const values = new Map<string, string | null>(scoped.globalArgs)
  for (const ins of parsed.instructions) if (ins.keyword === 'ARG') for (const p of ins.properties) declared.add(p.name)

  const stageByName = new Map<string, number>()
  const stages: StageInputs[] = []
  const images: ImageInput[] = []
  const urls: UrlInput[] = []
  const gits: GitInput[] = []
  const contextsUsed = new Set<string>()

  // a reference to a stage (by name or index), a named context, scratch, or an image
  const classify = (ref: string, current: number, line: number): StageBase => {
    const lower = ref.toLowerCase()
    if (contexts.has(ref)) return {kind: 'context', name: ref, value: contexts.get(ref)!}
    const named = stageByName.get(lower)
    if (named !== undefined) {
      if (named >= current) fail(line, `stage "${ref}" refers to itself`)
      return {kind: 'stage', index: named}
    }
    if (/^\d+$/.test(ref)) {
      const n = Number(ref)
      if (n >= current) fail(line, `stage ${ref} is not an earlier stage`)
      return {kind: 'stage', index: n}
    }
    if (lower === 'scratch') return {kind: 'scratch'}
    return {kind: 'image', ref}
  }

  const expandIn = (vars: VariableLookup, text: string, line: number, what: string, strict: boolean): string => {
    note(text)
    const {value, unresolved} = expandVariables(text, vars)
    if (strict && unresolved.length > 0) {
      const name = unresolved[0]
      fail(
        line,
        `${what} "${text}" uses ARG ${name}, which has no value: declare it with a default before the first FROM or pass --build-arg ${name}=...`,
      )
    }
    return value
  }

  const stageUses: Array<{stage: number; uses: Array<{base: StageBase; use: ImageUse; line: number}>}> = []

  for (const stage of parsed.stages) {
    const from = stage.instructions[0]
    const imageText = expandIn(globals, stage.image, stage.imageLine, 'FROM', true)
    if (imageText === '') fail(stage.imageLine, `FROM "${stage.image}" expands to nothing`)
    const platform =
      stage.platform === null ? null : expandIn(globals, stage.platform, from.line, 'FROM --platform', true)
    const base = classify(imageText, stage.index, from.line)
    if (stage.name !== null) {
      if (stageByName.has(stage.name)) fail(from.line, `duplicate stage name "${stage.name}"`)
      stageByName.set(stage.name, stage.index)
    }
    const uses: Array<{base: StageBase; use: ImageUse; line: number}> = [{base, use: 'from', line: from.line}]
    const info: StageInputs = {
      index: stage.index,
      name: stage.name,
      base,
      platform,
      dependsOn: [],
      reachable: false,
    }
    stages.push(info)

    // stage scope (ARGs declared in the stage, a bare ARG picking the global value, ENV, ENV of a parent stage)
    const stageVars = scoped.stages[stage.index].vars
    stage.instructions.forEach((ins, at) => {
      if (at === 0) return
      const vars = stageVars[at]
      if (ins.keyword === 'ARG') {
        for (const p of ins.properties) {
          if (!values.has(p.name) || values.get(p.name) === null) values.set(p.name, vars.get(p.name) ?? null)
        }
      } else if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
        const fromFlag = ins.flags.find((f) => f.name === 'from')
        if (fromFlag?.value) {
          const ref = expandIn(vars, fromFlag.value, ins.line, `${ins.keyword} --from`, true)
          uses.push({base: classify(ref, stage.index, ins.line), use: 'copy-from', line: ins.line})
        } else if (ins.keyword === 'ADD') {
          const checksum = ins.flags.find((f) => f.name === 'checksum')?.value ?? null
          for (const raw of sourcesOf(ins)) {
            if (!isUrlSource(raw) && !isGitSource(raw) && !/\$/.test(raw)) continue
            const source = expandIn(vars, raw, ins.line, 'ADD source', false)
            if (isGitSource(source)) {
              const g = splitGitSource(source)
              gits.push({...g, line: ins.line, stage: stage.index})
            } else if (isUrlSource(source)) {
              urls.push({url: source, line: ins.line, stage: stage.index, checksum})
            }
          }
        }
      } else if (ins.keyword === 'RUN') {
        for (const f of ins.flags) if (f.name === 'mount' && f.value) note(f.value)
        for (const m of parseMounts(ins, vars)) {
          if (m.from === null || m.from === '') continue
          uses.push({base: classify(m.from, stage.index, ins.line), use: 'run-mount', line: ins.line})
        }
      }
    })
    stageUses.push({stage: stage.index, uses})
    info.dependsOn = [...new Set(uses.flatMap((u) => (u.base.kind === 'stage' ? [u.base.index] : [])))].sort(
      (a, b) => a - b,
    )
  }

  // the target and what it needs
  let target = stages.length - 1
  if (options.target !== undefined) {
    const t = stageByName.get(options.target.toLowerCase())
    if (t === undefined) {
      const names = stages.flatMap((s) => (s.name ? [s.name] : []))
      throw new DockerfileParseError(
        parsed.path,
        `--target ${options.target}: no such stage${names.length > 0 ? ` (stages: ${names.join(', ')})` : ''}`,
      )
    }
    target = t
  }
  const todo = [target]
  while (todo.length > 0) {
    const i = todo.pop()!
    if (stages[i].reachable) continue
    stages[i].reachable = true
    todo.push(...stages[i].dependsOn)
  }

  for (const {stage, uses} of stageUses) {
    if (!stages[stage].reachable) continue
    for (const u of uses) {
      if (u.base.kind === 'image') {
        images.push({
          ref: u.base.ref,
          use: u.use,
          line: u.line,
          stage,
          platform: u.use === 'from' ? stages[stage].platform : null,
        })
      } else if (u.base.kind === 'context') contextsUsed.add(u.base.name)
    }
  }
  const reachableUrls = urls.filter((u) => stages[u.stage].reachable)
  const reachableGits = gits.filter((g) => stages[g.stage].reachable)

  const selectingArgs = [...selecting].filter((n) => declared.has(n) && !PLATFORM_ARGS.includes(n)).sort()
  const syntaxDirective = parsed.directives.find((d) => d.name === 'syntax')
  const syntax: ImageInput | null = syntaxDirective
    ? {ref: syntaxDirective.value.trim(), use: 'syntax', line: syntaxDirective.line, stage: -1, platform: null}
    : null

  return {
    syntax,
    images,
    urls: reachableUrls,
    gits: reachableGits,
    stages,
    target,
    selectingArgs,
    argValues: Object.fromEntries(selectingArgs.map((n) => [n, values.get(n) ?? null])),
    contextsUsed: [...contextsUsed].sort(),
  }
}

/** Read and parse a Dockerfile from disk (size checked before reading). */
export async function readDockerfile(file: string): Promise<ParsedDockerfile> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new DockerfileParseError(file, error.code === 'ENOENT' ? 'no such file' : `cannot read (${error.code})`)
  })
  if (!info.isFile()) throw new DockerfileParseError(file, 'not a regular file')
  if (info.size > MAX_DOCKERFILE_BYTES)
    throw new DockerfileParseError(file, `larger than ${MAX_DOCKERFILE_BYTES} bytes`)
  return parseDockerfile(decodeDockerfile(await readFile(file), file), file)
}
