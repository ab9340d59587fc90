/** RL007 add-url-no-checksum, RL008 download-unverified, RL009 git-clone-unpinned. */
import {expandWord} from '../model.js'
import type {ShellCommand} from '../shell.js'
import {isCheckCommand, isHexCommit, splitArgs, type Check, type RawFinding} from './common.js'

const CURL_VALUE = new Set([
  '-o',
  '--output',
  '-H',
  '--header',
  '-A',
  '--user-agent',
  '-u',
  '--user',
  '-d',
  '--data',
  '--data-raw',
  '--data-binary',
  '-X',
  '--request',
  '--retry',
  '--retry-delay',
  '--retry-max-time',
  '--connect-timeout',
  '-m',
  '--max-time',
  '-w',
  '--write-out',
  '-e',
  '--referer',
  '-x',
  '--proxy',
  '-T',
  '--upload-file',
  '-F',
  '--form',
  '--cacert',
  '--capath',
  '--cert',
  '--key',
  '-b',
  '--cookie',
  '-c',
  '--cookie-jar',
  '-r',
  '--range',
  '-C',
  '--continue-at',
  '-z',
  '--time-cond',
  '--output-dir',
  '--resolve',
  '--limit-rate',
  '--max-redirs',
  '--proto',
  '--proto-redir',
  '--tlsv1.2',
])
const WGET_VALUE = new Set([
  '-O',
  '--output-document',
  '-o',
  '--output-file',
  '-a',
  '--append-output',
  '-P',
  '--directory-prefix',
  '--header',
  '-U',
  '--user-agent',
  '-t',
  '--tries',
  '-T',
  '--timeout',
  '-e',
  '--execute',
  '--user',
  '--password',
  '-i',
  '--input-file',
  '--progress',
  '-w',
  '--wait',
  '--ca-certificate',
  '--limit-rate',
])
const INTERPRETERS = /^(sh|bash|zsh|dash|ash|ksh|python[0-9.]*|perl|ruby|node)$/

function isDownload(cmd: ShellCommand): boolean {
  if (cmd.name !== 'curl' && cmd.name !== 'wget') return false
  const {operands} = splitArgs(cmd.args, cmd.name === 'curl' ? CURL_VALUE : WGET_VALUE)
  return operands.length > 0
}

/** The command downstream of `cmd` in its pipeline that is a shell or interpreter, if any. */
function pipedInto(cmd: ShellCommand, pipelines: Map<number, ShellCommand[]>): ShellCommand | undefined {
  return pipelines.get(cmd.pipeline)?.find((c) => c.pipeIndex > cmd.pipeIndex && INTERPRETERS.test(c.name))
}

export const downloadUnverified: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    if (item.ins.keyword !== 'RUN') continue
    const checked = item.commands.some(isCheckCommand)
    const pipelines = new Map<number, ShellCommand[]>()
    for (const c of item.commands) {
      const list = pipelines.get(c.pipeline)
      if (list) list.push(c)
      else pipelines.set(c.pipeline, [c])
    }
    for (const cmd of item.commands) {
      if (!isDownload(cmd)) continue
      const shell = pipedInto(cmd, pipelines)
      if (shell) {
        out.push({
          rule: 'RL008',
          line: cmd.line,
          column: cmd.column,
          message: `${cmd.name} output piped into ${shell.name}: a script fetched at build time runs unchecked`,
          fix: 'download to a file, check it against a pinned sha256 (sha256sum -c), then run it',
        })
      } else if (!checked) {
        out.push({
          rule: 'RL008',
          line: cmd.line,
          column: cmd.column,
          message: `${cmd.name} downloads without a checksum or signature check in the same RUN: the content can change under the same URL`,
          fix: 'check what you fetch: echo "<sha256>  file" | sha256sum -c - (or ADD --checksum=sha256:…)',
        })
      }
    }
  }
  return out
}

function isGitUrl(value: string): boolean {
  return (
    /^git@/.test(value) ||
    /^git:\/\//.test(value) ||
    /^https?:\/\/[^#\s]+\.git(#.*)?$/.test(value) ||
    /^ssh:\/\//.test(value)
  )
}

export const addUrlNoChecksum: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const stage of ctx.model.stages) {
    let lastCheck = -1
    stage.instructions.forEach((item, index) => {
      if (item.ins.keyword === 'RUN' && item.commands.some(isCheckCommand)) lastCheck = index
    })
    stage.instructions.forEach((item, index) => {
      if (item.ins.keyword !== 'ADD') return
      if (item.ins.flags.some((f) => f.name === 'checksum' && f.value)) return
      const sources = item.ins.args.slice(0, -1)
      const urls = sources.filter((s) => {
        const v = expandWord(s.value, item.vars)
        return /^https?:\/\//.test(v) && !isGitUrl(v)
      })
      if (urls.length === 0) return
      if (lastCheck > index) return // a later RUN of the stage checks what was fetched
      out.push({
        rule: 'RL007',
        line: item.ins.line,
        column: urls[0].column,
        message: `ADD ${urls[0].value} without --checksum: the download can change under the same URL`,
        fix: 'add --checksum=sha256:<digest> to the ADD',
      })
    })
  }
  return out
}

const GIT_VALUE = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace'])

function gitSubcommand(cmd: ShellCommand): {sub: string; rest: string[]} | null {
  if (cmd.name !== 'git') return null
  const {operands} = splitArgs(cmd.args, GIT_VALUE)
  if (operands.length === 0) return null
  const at = cmd.args.indexOf(operands[0])
  return {sub: operands[0].value, rest: cmd.args.slice(at + 1).map((a) => a.value)}
}

export const gitCloneUnpinned: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    if (item.ins.keyword === 'RUN') {
      const fixed = item.commands.some((c) => {
        const g = gitSubcommand(c)
        if (!g) return false
        const values = g.rest.filter((v) => !v.startsWith('-')).map((v) => expandWord(v, item.vars))
        if (
          g.sub === 'checkout' ||
          (g.sub === 'reset' && g.rest.includes('--hard')) ||
          (g.sub === 'switch' && g.rest.includes('--detach'))
        )
          return values.some(isHexCommit)
        return false
      })
      for (const cmd of item.commands) {
        const g = gitSubcommand(cmd)
        if (!g || g.sub !== 'clone' || fixed) continue
        out.push({
          rule: 'RL009',
          line: cmd.line,
          column: cmd.column,
          message: 'git clone takes whatever the branch or tag points at when the build runs',
          fix: 'check out a commit id in the same RUN (git checkout <sha>), or ADD <repo>.git#<sha>',
        })
      }
    }
    if (item.ins.keyword === 'ADD') {
      for (const src of item.ins.args.slice(0, -1)) {
        const v = expandWord(src.value, item.vars)
        if (!isGitUrl(v)) continue
        const ref = v.includes('#') ? v.slice(v.indexOf('#') + 1).split(':')[0] : ''
        if (isHexCommit(ref)) continue
        out.push({
          rule: 'RL009',
          line: item.ins.line,
          column: src.column,
          message: `ADD of a git repository ${ref ? `at "${ref}" (a branch or tag)` : 'without a ref'} is not fixed to a commit`,
          fix: 'name a commit id: ADD <repo>.git#<40-hex sha>',
        })
      }
    }
  }
  return out
}
