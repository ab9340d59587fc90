/**
 * From what `repro lock` was given (flag values, the environment read by the command) to LockOptions:
 * paths made absolute, lists split and checked, SOURCE_DATE_EPOCH resolved when one is given.
 */
import {stat} from 'node:fs/promises'
import path from 'node:path'

import {checkKeyValue, parseBuildContext, splitPlatforms} from '../engine/args.js'
import {DEFAULT_BUILDKIT_IMAGE} from '../engine/types.js'
import {InvalidArgumentError} from '../errors.js'
import type {Exec} from '../exec.js'
import {gitSdeArgv, parseGitSde, resolveSdeSource, type Sde} from '../sde.js'
import type {LockMode, LockOptions} from './index.js'

export interface LockInput {
  cwd: string
  /** positional words: [CONTEXT] then, with --update, input names */
  words: string[]
  file?: string
  lock?: string
  buildArgs: string[]
  platforms: string[]
  target?: string
  buildContexts: string[]
  hashfiles: string[]
  buildkitImage?: string
  sde?: string
  datetime?: string
  sdeFromGit: boolean
  sdeEnv?: string
  check: boolean
  update: boolean
}

const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined))?.isDirectory() ?? false

export async function lockOptionsFrom(input: LockInput, exec: Exec): Promise<LockOptions> {
  if (input.check && input.update) throw new InvalidArgumentError('--check and --update: pass one of them')
  const words = [...input.words]
  // the first word is the context when it is a directory (or when names make no sense: no --update)
  let contextWord = '.'
  if (words.length > 0 && (!input.update || (await isDir(path.resolve(input.cwd, words[0])))))
    contextWord = words.shift()!
  if (!input.update && words.length > 0) {
    throw new InvalidArgumentError(`unexpected argument '${words[0]}': input names are for --update`)
  }
  const context = path.resolve(input.cwd, contextWord)
  if (!(await isDir(context))) throw new InvalidArgumentError(`context '${contextWord}': not a directory`)
  const dockerfile = input.file ? path.resolve(input.cwd, input.file) : path.join(context, 'Dockerfile')
  for (const a of input.buildArgs) checkKeyValue(a, '--build-arg')
  for (const c of input.buildContexts) parseBuildContext(c, input.cwd)
  const mode: LockMode = input.check ? 'check' : input.update ? 'update' : 'write'
  return {
    context,
    dockerfile,
    lockFile: input.lock ? path.resolve(input.cwd, input.lock) : undefined,
    buildArgs: input.buildArgs,
    platforms: splitPlatforms(input.platforms),
    target: input.target,
    buildContexts: input.buildContexts,
    hashfiles: input.hashfiles.map((h) => path.resolve(input.cwd, h)),
    buildkitImage: input.buildkitImage ?? DEFAULT_BUILDKIT_IMAGE,
    sde: await optionalSde(input, context, exec),
    mode,
    names: words,
  }
}

/** SOURCE_DATE_EPOCH for the lock: optional (none given: the lock keeps the one it has, or has none). */
async function optionalSde(input: LockInput, context: string, exec: Exec): Promise<Sde | null> {
  if (input.sde === undefined && input.datetime === undefined && !input.sdeFromGit && !input.sdeEnv) return null
  const source = resolveSdeSource({
    sde: input.sde,
    datetime: input.datetime,
    sdeFromGit: input.sdeFromGit,
    env: input.sdeEnv,
  })
  if (source.kind === 'value') return {epoch: source.epoch, origin: source.origin}
  const out = await exec(gitSdeArgv(context), {timeoutMs: 60_000})
  return {epoch: parseGitSde(out.stdout, context), origin: '--sde-from-git'}
}
