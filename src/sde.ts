/**
 * SOURCE_DATE_EPOCH: where it comes from and what it is. Pure functions; the only side effect a caller
 * needs (asking git for the last commit time) is described as argv here and run by the caller.
 */
import {InvalidArgumentError} from './errors.js'

export const SDE_ENV = 'REPRO_SOURCE_DATE_EPOCH'

export interface SdeInputs {
  /** --sde / --source-date-epoch */
  sde?: string
  /** --datetime (ISO 8601; UTC when no zone is given) */
  datetime?: string
  /** --sde-from-git */
  sdeFromGit?: boolean
  /** the value of REPRO_SOURCE_DATE_EPOCH, if set */
  env?: string
}

/** Where the epoch came from: printed in the build summary and the JSON result. */
export type SdeOrigin = '--datetime' | '--sde' | '--sde-from-git' | typeof SDE_ENV

export type SdeSource = {epoch: number; kind: 'value'; origin: SdeOrigin} | {kind: 'git'; origin: '--sde-from-git'}

export interface Sde {
  epoch: number
  origin: SdeOrigin
}

/** Pick exactly one SOURCE_DATE_EPOCH source; none or more than one is an error naming them. */
export function resolveSdeSource(inputs: SdeInputs): SdeSource {
  const given: SdeOrigin[] = []
  if (inputs.sde !== undefined) given.push('--sde')
  if (inputs.datetime !== undefined) given.push('--datetime')
  if (inputs.sdeFromGit) given.push('--sde-from-git')
  if (inputs.env !== undefined && inputs.env !== '') given.push(SDE_ENV)
  if (given.length === 0) {
    throw new InvalidArgumentError(
      `no SOURCE_DATE_EPOCH given: pass one of --sde N, --datetime ISO, --sde-from-git, or set ${SDE_ENV}`,
      ['repro build --sde 0 .'],
    )
  }
  if (given.length > 1) {
    throw new InvalidArgumentError(
      `SOURCE_DATE_EPOCH given more than once (${given.join(', ')}): pass exactly one of --sde, --datetime, --sde-from-git, ${SDE_ENV}`,
    )
  }
  switch (given[0]) {
    case '--sde':
      return {kind: 'value', origin: '--sde', epoch: parseEpoch(inputs.sde as string, '--sde')}
    case SDE_ENV:
      return {kind: 'value', origin: SDE_ENV, epoch: parseEpoch(inputs.env as string, SDE_ENV)}
    case '--datetime':
      return {kind: 'value', origin: '--datetime', epoch: parseDatetime(inputs.datetime as string)}
    default:
      return {kind: 'git', origin: '--sde-from-git'}
  }
}

/** Seconds since 1970-01-01T00:00:00Z: digits only, no sign, no fraction. */
export function parseEpoch(text: string, what: string): number {
  const t = text.trim()
  if (!/^\d+$/.test(t)) {
    throw new InvalidArgumentError(
      `${what}: expected a non-negative integer (seconds since 1970-01-01T00:00:00Z), got '${text}'`,
    )
  }
  const n = Number(t)
  if (!Number.isSafeInteger(n) || n > MAX_EPOCH) {
    throw new InvalidArgumentError(`${what}: ${text} is out of range (at most ${MAX_EPOCH}, year 9999)`)
  }
  return n
}

/** 9999-12-31T23:59:59Z: beyond that, tar headers and Go's time formatting disagree. */
const MAX_EPOCH = 253_402_300_799

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/

/**
 * An ISO 8601 date or date-time; without a zone it is UTC (never the machine's zone: the same command must
 * give the same epoch in every country). Fractions of a second are dropped.
 */
export function parseDatetime(text: string): number {
  const m = ISO.exec(text.trim())
  const bad = () =>
    new InvalidArgumentError(
      `--datetime: '${text}' is not an ISO 8601 date-time (e.g. 2024-01-31, 2024-01-31T12:00:00, 2024-01-31T12:00:00+02:00)`,
    )
  if (!m) throw bad()
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m
  const fields = [y, mo, d, h, mi, s].map(Number)
  const [year, month, day, hour, minute, second] = fields
  const ms = Date.UTC(year, month - 1, day, hour, minute, second)
  const check = new Date(ms)
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw bad()
  }
  let offsetSeconds = 0
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const oh = Number(digits.slice(0, 2))
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0
    if (oh > 23 || om > 59) throw bad()
    offsetSeconds = sign * (oh * 3600 + om * 60)
  }
  const epoch = ms / 1000 - offsetSeconds
  if (epoch < 0) throw new InvalidArgumentError(`--datetime: '${text}' is before 1970-01-01T00:00:00Z`)
  return epoch
}

/** The git command that gives the time of the last commit touching the build context. */
export function gitSdeArgv(context: string): string[] {
  return ['git', '-C', context, 'log', '-1', '--format=%ct', '--', '.']
}

/** Parse `git log -1 --format=%ct` output; empty output means no commit touches the context. */
export function parseGitSde(stdout: string, context: string): number {
  const t = stdout.trim()
  if (t === '') {
    throw new InvalidArgumentError(
      `--sde-from-git: no commit touches ${context} (untracked or a new repository): commit it or pass --sde N`,
    )
  }
  return parseEpoch(t, `--sde-from-git (git log in ${context})`)
}

/** RFC 3339 form of an epoch, for the summary. */
export function formatEpoch(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace('.000Z', 'Z')
}
