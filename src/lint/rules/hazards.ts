/** RL010 build-time-value, RL011 user-db-date, RL012 copy-git-dir, RL014 pyc-timestamp. */
import {isIgnored} from '../../verify/context-digest.js'
import {before, expandWord} from '../model.js'
import type {ShellCommand} from '../shell.js'
import {hasOption, type Check, type RawFinding} from './common.js'
import {readPackageCommand} from './packages.js'

const DATE_INPUT_OPTIONS = ['-d', '--date', '-r', '--reference', '-f', '--file']
const SHELL_VARIABLES = ['RANDOM', 'SRANDOM', 'HOSTNAME', 'EPOCHSECONDS', 'EPOCHREALTIME']
const RANDOM_FILES = ['/proc/sys/kernel/random/uuid', '/proc/sys/kernel/random/boot_id']

function words(cmd: ShellCommand): string[] {
  return [
    ...(cmd.word ? [cmd.word.value] : []),
    ...cmd.args.map((a) => a.value),
    ...cmd.assignments.map((a) => a.value),
  ]
}

export const buildTimeValue: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    if (item.ins.keyword !== 'RUN') continue
    // an ARG or ENV of that name is the user's value, not the shell's
    const shellVars = SHELL_VARIABLES.filter((v) => !item.vars.has(v))
    const varPattern = shellVars.length > 0 ? new RegExp(`\\$\\{?(${shellVars.join('|')})\\b`) : null
    for (const cmd of item.commands) {
      const reasons: string[] = []
      if (cmd.name === 'date') {
        const values = cmd.args.map((a) => a.value)
        const readsGiven = values.some((v) =>
          DATE_INPUT_OPTIONS.some((o) => v === o || v.startsWith(`${o}=`) || (o.length === 2 && v.startsWith(o))),
        )
        if (!readsGiven) reasons.push('date (the clock of the build)')
      }
      if (cmd.name === 'uuidgen') reasons.push('uuidgen (a random id)')
      if (cmd.name === 'hostname') reasons.push('hostname (the build host)')
      const all = words(cmd)
      if (all.some((w) => RANDOM_FILES.some((f) => w.includes(f)))) reasons.push('a kernel random id')
      const m = varPattern ? all.map((w) => varPattern.exec(w)).find((x) => x !== null) : null
      if (m) reasons.push(`$${m[1]}`)
      if (reasons.length === 0) continue
      out.push({
        rule: 'RL010',
        line: cmd.line,
        column: cmd.column,
        message: `${reasons.join(', ')}: a value of this build, different in every rebuild`,
        fix: 'derive it from SOURCE_DATE_EPOCH (date -u -d @"$SOURCE_DATE_EPOCH"), a build argument or the source; never from the build host',
      })
    }
  }
  return out
}

const USER_DB = new Map([
  ['useradd', 'the day of the build lands in /etc/shadow (last password change)'],
  ['adduser', 'the day of the build lands in /etc/shadow (last password change)'],
  ['chpasswd', 'the day of the build lands in /etc/shadow (last password change)'],
  ['groupadd', 'it rewrites /etc/group, /etc/gshadow and their backups at build time'],
  ['addgroup', 'it rewrites /etc/group and its backup at build time'],
])

export const userDbDate: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    if (item.ins.keyword !== 'RUN') continue
    // the last command of the RUN that normalises /etc/shadow: user commands before it are fine
    let lastNormalise: ShellCommand | null = null
    for (const c of item.commands) {
      if (
        (c.name === 'chage' || words(c).some((w) => w.includes('/etc/shadow'))) &&
        (!lastNormalise || before(lastNormalise, c))
      )
        lastNormalise = c
    }
    for (const cmd of item.commands) {
      const why = USER_DB.get(cmd.name)
      if (!why) continue
      if (lastNormalise && before(cmd, lastNormalise)) continue
      out.push({
        rule: 'RL011',
        line: cmd.line,
        column: cmd.column,
        message: `${cmd.name}: ${why}`,
        fix: 'write the entries with a fixed date (echo "app:x:1000:1000::/app:/bin/sh" >> /etc/passwd), or run chage -d 0… / normalise /etc/shadow in the same RUN',
      })
    }
  }
  return out
}

const WHOLE_CONTEXT = new Set(['.', './', '*', './*'])

export const copyGitDir: Check = (ctx) => {
  const out: RawFinding[] = []
  const gitExcluded = ctx.dockerignore !== null && isIgnored('.git', ctx.dockerignore)
  if (gitExcluded) return out
  for (const item of ctx.model.instructions) {
    const {ins} = item
    if ((ins.keyword !== 'COPY' && ins.keyword !== 'ADD') || ins.flags.some((f) => f.name === 'from')) continue
    if (ins.heredocs.length > 0) continue
    const sources = ins.args.slice(0, -1)
    const whole = sources.find((s) => WHOLE_CONTEXT.has(expandWord(s.value, item.vars)))
    if (!whole) continue
    out.push({
      rule: 'RL012',
      line: ins.line,
      column: whole.column,
      message: `${ins.keyword} ${whole.value} takes the whole context, .git included (${ctx.dockerignore === null ? 'no .dockerignore' : '.dockerignore does not exclude it'}): its index and refs change with every checkout`,
      fix: 'add .git to .dockerignore, or copy only what the image needs',
    })
  }
  return out
}

function isTrue(value: string | null | undefined): boolean {
  return value !== null && value !== undefined && value !== '' && !/^(0|false|no|off)$/i.test(value)
}

export const pycTimestamp: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    if (item.ins.keyword !== 'RUN') continue
    // the first command of the RUN that sets or exports SOURCE_DATE_EPOCH
    let firstSde: ShellCommand | null = null
    for (const c of item.commands) {
      const sets =
        c.assignments.some((a) => a.name === 'SOURCE_DATE_EPOCH') ||
        (c.name === 'export' && c.args.some((a) => a.value.startsWith('SOURCE_DATE_EPOCH')))
      if (sets && (!firstSde || before(c, firstSde))) firstSde = c
    }
    for (const cmd of item.commands) {
      let compiles = false
      const values = cmd.args.map((a) => a.value)
      if (/^python[0-9.]*$/.test(cmd.name)) {
        const m = values.indexOf('-m')
        if (m >= 0 && (values[m + 1] === 'compileall' || values[m + 1] === 'py_compile')) compiles = true
        const c = values.indexOf('-c')
        if (c >= 0 && /\b(compileall|py_compile)\b/.test(values[c + 1] ?? '')) compiles = true
      }
      const pkg = readPackageCommand(cmd)
      if (pkg?.manager === 'uv' && pkg.installs) {
        if (
          hasOption(pkg.options, '--compile-bytecode', '--compile') ||
          isTrue(
            cmd.assignments.find((a) => a.name === 'UV_COMPILE_BYTECODE')?.value ??
              item.vars.get('UV_COMPILE_BYTECODE'),
          )
        )
          compiles = true
      }
      if (!compiles) continue
      if (
        values.some(
          (v, i) =>
            (v === '--invalidation-mode' && /hash/.test(values[i + 1] ?? '')) || /^--invalidation-mode=.*hash/.test(v),
        )
      )
        continue
      const sde =
        item.vars.has('SOURCE_DATE_EPOCH') ||
        cmd.assignments.some((a) => a.name === 'SOURCE_DATE_EPOCH') ||
        (firstSde !== null && before(firstSde, cmd))
      if (sde) continue
      out.push({
        rule: 'RL014',
        line: cmd.line,
        column: cmd.column,
        message: 'byte-compiles Python with timestamp invalidation: each .pyc records the mtime of its source',
        fix: 'add --invalidation-mode checked-hash, or declare ARG SOURCE_DATE_EPOCH (py_compile then uses hashes)',
      })
    }
  }
  return out
}
