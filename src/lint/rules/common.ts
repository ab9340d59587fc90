import type {IgnoreRule} from '../../verify/context-digest.js'
import type {LintModel} from '../model.js'
import type {ShellCommand, ShellWord} from '../shell.js'
import type {Severity} from '../types.js'

export interface RuleContext {
  model: LintModel
  /** `.dockerignore` patterns of the build context; null when there is none */
  dockerignore: IgnoreRule[] | null
  /** --build-context NAME=VALUE */
  buildContexts: Map<string, string>
  /** image references listed in repro.lock.yaml */
  lockedImages: Set<string>
  /** the text of a file in the build context, or null */
  readContextFile(relative: string): string | null
}

export interface RawFinding {
  rule: string
  line: number
  column: number
  message: string
  fix?: string
  severity?: Severity
}

export type Check = (ctx: RuleContext) => RawFinding[]

/**
 * Split a command's arguments into options and operands. `valueOptions` take the next word as their value
 * (`--opt=value` is one word anyway). Everything after `--` is an operand.
 */
export function splitArgs(
  args: ShellWord[],
  valueOptions: ReadonlySet<string> = new Set(),
): {options: string[]; operands: ShellWord[]} {
  const options: string[] = []
  const operands: ShellWord[] = []
  for (let i = 0; i < args.length; i++) {
    const v = args[i].value
    if (v === '--') {
      for (const a of args.slice(i + 1)) operands.push(a)
      break
    }
    if (v.startsWith('-') && v.length > 1) {
      options.push(v)
      if (valueOptions.has(v) && i + 1 < args.length) {
        options.push(args[i + 1].value)
        i++
      }
      continue
    }
    operands.push(args[i])
  }
  return {options, operands}
}

export function hasOption(options: string[], ...names: string[]): boolean {
  return options.some((o) => names.some((n) => o === n || o.startsWith(`${n}=`)))
}

/** A short-option cluster (`-xvf`) contains the letter. */
export function hasShortFlag(options: string[], letter: string): boolean {
  return options.some((o) => /^-[A-Za-z0-9]+$/.test(o) && o.slice(1).includes(letter))
}

/** The paths `rm` removes in a command list. */
export function removedPaths(commands: ShellCommand[]): string[] {
  return commands.filter((c) => c.name === 'rm').flatMap((c) => splitArgs(c.args).operands.map((w) => w.value))
}

export const CHECKSUM_TOOLS = new Set([
  'sha1sum',
  'sha224sum',
  'sha256sum',
  'sha384sum',
  'sha512sum',
  'md5sum',
  'b2sum',
  'shasum',
  'cksum',
])

/** A command that checks a checksum or a signature (the RL008 list). */
export function isCheckCommand(cmd: ShellCommand): boolean {
  const values = cmd.args.map((a) => a.value)
  if (CHECKSUM_TOOLS.has(cmd.name)) {
    return values.some((v) => v === '--check' || (/^-[A-Za-z0-9]+$/.test(v) && v.includes('c')))
  }
  if (cmd.name === 'gpg' || cmd.name === 'gpg2') return values.includes('--verify')
  if (cmd.name === 'gpgv' || cmd.name === 'gpgv2') return true
  if (cmd.name === 'cosign') return values.some((v) => v.startsWith('verify'))
  if (cmd.name === 'minisign') return values.includes('-V')
  if (cmd.name === 'openssl') return values.includes('dgst') && values.some((v) => v.startsWith('-verify'))
  return false
}

export function isHexCommit(value: string): boolean {
  return /^[0-9a-f]{7,40}$/.test(value)
}

/** `name@X.Y.Z` (scoped names allowed, prerelease/build suffixes allowed). */
export function isExactNpmSpec(value: string): boolean {
  return /^(@[^/@\s]+\/)?[^@/\s]+@v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(value)
}
