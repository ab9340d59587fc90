/**
 * Package managers: RL003 unpinned-os-packages, RL004 unpinned-pip, RL005 npm-install, RL006 yarn-unfrozen,
 * RL013 cache-left-in-layer. One reading of each package-manager command serves all of them.
 */
import {
  before,
  expandWord,
  instructionText,
  stageChain,
  type InstructionInfo,
  type StageInfo,
  type Vars,
} from '../model.js'
import type {ShellCommand, ShellWord} from '../shell.js'
import {
  hasOption,
  hasShortFlag,
  isExactNpmSpec,
  removedPaths,
  splitArgs,
  type Check,
  type RawFinding,
  type RuleContext,
} from './common.js'

export type Manager = 'apt' | 'apk' | 'dnf' | 'pacman' | 'pip' | 'uv' | 'npm' | 'yarn'

export interface PackageCommand {
  manager: Manager
  cmd: ShellCommand
  verb: string
  options: string[]
  operands: ShellWord[]
  /** installs or upgrades packages */
  installs: boolean
  /** refreshes the package index only (apt update, apk update) */
  refreshes: boolean
  /** upgrades everything (no operand list) */
  upgradeAll: boolean
}

const APT = new Set(['apt-get', 'apt', 'aptitude'])
const APT_VALUE = new Set(['-o', '-c', '-t', '--option', '--config-file', '--target-release', '--snapshot', '-S'])
const APT_INSTALL = new Set(['install', 'reinstall', 'upgrade', 'dist-upgrade', 'full-upgrade'])
const APK_VALUE = new Set([
  '-t',
  '--virtual',
  '-X',
  '--repository',
  '-p',
  '--root',
  '--keys-dir',
  '--arch',
  '--cache-dir',
  '--repositories-file',
])
const DNF = new Set(['dnf', 'yum', 'microdnf', 'dnf5', 'tdnf'])
const DNF_VALUE = new Set([
  '-x',
  '--exclude',
  '--repo',
  '--repoid',
  '--enablerepo',
  '--disablerepo',
  '--installroot',
  '-c',
  '--config',
  '--releasever',
  '--setopt',
  '--forcearch',
  '-d',
  '--debuglevel',
  '-e',
  '--errorlevel',
])
const DNF_INSTALL = new Set([
  'install',
  'reinstall',
  'upgrade',
  'update',
  'swap',
  'distro-sync',
  'groupinstall',
  'group',
])
const PACMAN_VALUE = new Set([
  '--overwrite',
  '--ignore',
  '--ignoregroup',
  '-r',
  '--root',
  '-b',
  '--dbpath',
  '--cachedir',
  '--config',
  '--assume-installed',
  '--arch',
  '--gpgdir',
  '--hookdir',
  '--logfile',
])
const PIP_VALUE = new Set([
  '-r',
  '--requirement',
  '-c',
  '--constraint',
  '-e',
  '--editable',
  '-i',
  '--index-url',
  '--extra-index-url',
  '-f',
  '--find-links',
  '-t',
  '--target',
  '--prefix',
  '--root',
  '--platform',
  '--python-version',
  '--implementation',
  '--abi',
  '--upgrade-strategy',
  '--progress-bar',
  '--cache-dir',
  '--src',
  '--global-option',
  '-C',
  '--config-settings',
  '--trusted-host',
  '--proxy',
  '--retries',
  '--timeout',
  '--log',
  '--exists-action',
  '--no-binary',
  '--only-binary',
  '--report',
  '-p',
  '--python',
  '--override',
  '--index-strategy',
  '--keyring-provider',
  '--resolution',
  '--prerelease',
  '--reinstall-package',
  '--upgrade-package',
  '-P',
])
const NPM_VALUE = new Set([
  '--prefix',
  '--registry',
  '--cache',
  '-w',
  '--workspace',
  '--omit',
  '--include',
  '--tag',
  '--userconfig',
  '--loglevel',
])
const NPM_INSTALL = new Set(['install', 'i', 'in', 'add', 'isntall', 'ci', 'clean-install', 'update', 'up'])
const YARN_VALUE = new Set([
  '--network-timeout',
  '--cwd',
  '--modules-folder',
  '--cache-folder',
  '--mutex',
  '--registry',
  '--network-concurrency',
  '--global-folder',
])

/** Read a command as a package-manager command, or null. */
export function readPackageCommand(cmd: ShellCommand): PackageCommand | null {
  const {name} = cmd
  if (APT.has(name)) {
    const {options, operands} = splitArgs(cmd.args, APT_VALUE)
    const verb = operands[0]?.value ?? ''
    const rest = operands.slice(1)
    return {
      manager: 'apt',
      cmd,
      verb,
      options,
      operands: rest,
      installs: APT_INSTALL.has(verb),
      refreshes: verb === 'update',
      upgradeAll: verb.endsWith('upgrade') && rest.length === 0,
    }
  }
  if (name === 'dpkg') {
    const {options, operands} = splitArgs(cmd.args)
    const installs = hasOption(options, '--install') || hasShortFlag(options, 'i')
    if (!installs) return null
    return {manager: 'apt', cmd, verb: 'dpkg-install', options, operands, installs, refreshes: false, upgradeAll: false}
  }
  if (name === 'apk') {
    const {options, operands} = splitArgs(cmd.args, APK_VALUE)
    const verb = operands[0]?.value ?? ''
    const rest = operands.slice(1)
    return {
      manager: 'apk',
      cmd,
      verb,
      options,
      operands: rest,
      installs: verb === 'add' || verb === 'upgrade',
      refreshes: verb === 'update',
      upgradeAll: verb === 'upgrade' && rest.length === 0,
    }
  }
  if (DNF.has(name)) {
    const {options, operands} = splitArgs(cmd.args, DNF_VALUE)
    let verb = operands[0]?.value ?? ''
    let rest = operands.slice(1)
    if (verb === 'group' || verb === 'groups') {
      if (rest[0]?.value !== 'install') return {...none(cmd, 'dnf', verb, options, rest)}
      verb = 'groupinstall'
      rest = rest.slice(1)
    }
    return {
      manager: 'dnf',
      cmd,
      verb,
      options,
      operands: rest,
      installs: DNF_INSTALL.has(verb),
      refreshes: verb === 'makecache',
      upgradeAll: (verb === 'upgrade' || verb === 'update' || verb === 'distro-sync') && rest.length === 0,
    }
  }
  if (name === 'pacman') {
    const {options, operands} = splitArgs(cmd.args, PACMAN_VALUE)
    const letters = options.filter((o) => /^-[A-Za-z]+$/.test(o)).join('')
    const sync = letters.includes('S') || hasOption(options, '--sync')
    const upgradeFiles = letters.includes('U') || hasOption(options, '--upgrade')
    const sysupgrade = sync && (/u/.test(letters) || hasOption(options, '--sysupgrade'))
    const query = /[sigl]/.test(letters.replace(/[^a-z]/g, '')) && !sysupgrade && operands.length === 0
    const clean = sync && /c/.test(letters)
    const installs = upgradeFiles || (sync && !clean && !query && (sysupgrade || operands.length > 0))
    return {
      manager: 'pacman',
      cmd,
      verb: upgradeFiles ? '-U' : clean ? '-Sc' : sync ? '-S' : '',
      options,
      operands,
      installs,
      refreshes: sync && /y/.test(letters) && !installs,
      upgradeAll: sysupgrade && operands.length === 0,
    }
  }
  const pip = pipInvocation(cmd)
  if (pip) {
    const {options, operands} = splitArgs(pip.args, PIP_VALUE)
    const verb = operands[0]?.value ?? ''
    return {
      manager: pip.uv ? 'uv' : 'pip',
      cmd,
      verb,
      options,
      operands: operands.slice(1),
      installs: verb === 'install' || verb === 'sync',
      refreshes: false,
      upgradeAll: false,
    }
  }
  if (name === 'npm') {
    const {options, operands} = splitArgs(cmd.args, NPM_VALUE)
    const verb = operands[0]?.value ?? ''
    return {
      manager: 'npm',
      cmd,
      verb,
      options,
      operands: operands.slice(1),
      installs: NPM_INSTALL.has(verb),
      refreshes: false,
      upgradeAll: false,
    }
  }
  if (name === 'yarn' || name === 'yarnpkg') {
    const {options, operands} = splitArgs(cmd.args, YARN_VALUE)
    let verb = operands[0]?.value ?? ''
    let rest = operands.slice(1)
    if (verb === 'global') {
      verb = rest[0]?.value === 'add' ? 'global-add' : 'global'
      rest = rest.slice(1)
    }
    const info = hasOption(options, '--version', '-v', '--help', '-h')
    const installs = !info && (verb === '' || verb === 'install' || verb === 'add' || verb === 'global-add')
    return {manager: 'yarn', cmd, verb, options, operands: rest, installs, refreshes: false, upgradeAll: false}
  }
  return null
}

function none(
  cmd: ShellCommand,
  manager: Manager,
  verb: string,
  options: string[],
  operands: ShellWord[],
): PackageCommand {
  return {manager, cmd, verb, options, operands, installs: false, refreshes: false, upgradeAll: false}
}

/** pip, pip3, pip3.12, python… -m pip, uv pip: the arguments after `pip`. */
function pipInvocation(cmd: ShellCommand): {args: ShellWord[]; uv: boolean} | null {
  if (/^pip[0-9.]*$/.test(cmd.name)) return {args: cmd.args, uv: false}
  if (/^python[0-9.]*$/.test(cmd.name)) {
    const m = cmd.args.findIndex((a) => a.value === '-m')
    if (m >= 0 && cmd.args[m + 1]?.value === 'pip') return {args: cmd.args.slice(m + 2), uv: false}
    return null
  }
  if (cmd.name === 'uv') {
    const {operands} = splitArgs(cmd.args, PIP_VALUE)
    if (operands[0]?.value === 'pip') {
      const at = cmd.args.indexOf(operands[0])
      return {args: cmd.args.slice(at + 1), uv: true}
    }
    if (operands[0]?.value === 'sync') return {args: cmd.args, uv: true}
  }
  return null
}

const SNAPSHOT_MARKERS = [
  'snapshot.debian.org',
  'snapshot-cloudflare.debian.org',
  'snapshot.ubuntu.com',
  'archive.archlinux.org',
  'repro-sources-list',
  // the script `repro snapshot sources` writes (repro dockerfile generate mounts it as repro-scripts/)
  'repro-scripts/snapshot-sources',
]

function hasSnapshotMarker(text: string): boolean {
  return SNAPSHOT_MARKERS.some((m) => text.includes(m))
}

/** Index of the first instruction of each stage whose text names a snapshot source (Infinity: none). */
const firstMarker = new WeakMap<StageInfo, number>()
function firstSnapshotMarker(ctx: RuleContext, stage: StageInfo): number {
  let at = firstMarker.get(stage)
  if (at === undefined) {
    at = stage.instructions.findIndex((i) => hasSnapshotMarker(instructionText(ctx.model.file, i.ins)))
    if (at < 0) at = Infinity
    firstMarker.set(stage, at)
  }
  return at
}

/** Position of the first snapshot marker in a RUN's shell text (cached per RUN). */
const runMarker = new WeakMap<InstructionInfo, {line: number; column: number} | null>()
function firstMarkerInRun(item: InstructionInfo): {line: number; column: number} | null {
  if (runMarker.has(item)) return runMarker.get(item)!
  const shell = item.ins.shell
  let first: {line: number; column: number} | null = null
  if (shell) {
    for (const marker of SNAPSHOT_MARKERS) {
      const at = shell.text.indexOf(marker)
      if (at < 0) continue
      const pos = {line: shell.lines[at], column: shell.columns[at]}
      if (!first || before(pos, first)) first = pos
    }
  }
  runMarker.set(item, first)
  return first
}

/** A snapshot source is in effect for this command (RL003's definition). */
function snapshotInEffect(ctx: RuleContext, item: InstructionInfo, cmd: ShellCommand, pkg: PackageCommand): boolean {
  if (hasOption(pkg.options, '--snapshot', '-S') && pkg.manager === 'apt') return true
  if (item.ins.flags.some((f) => f.name === 'mount' && hasSnapshotMarker(f.value ?? ''))) return true
  // earlier in the same RUN
  const marker = firstMarkerInRun(item)
  if (marker && before(marker, cmd)) return true
  // earlier instructions of this stage, and any instruction of the stages it is built on
  const stage = item.stage
  if (stage && firstSnapshotMarker(ctx, stage) < item.index) return true
  for (const s of stageChain(stage).slice(1)) if (firstSnapshotMarker(ctx, s) < Infinity) return true
  return false
}

const LOCAL_PACKAGE = /\.(deb|rpm|apk|pkg\.tar(\.[a-z0-9]+)?)$/

function isPinnedOsPackage(manager: Manager, value: string): boolean {
  if (value.includes('$(') || value.startsWith('`') || value === '-') return false
  if (manager === 'apt' || manager === 'apk') return /^[^=<>~\s]+=[^=<>~\s]+$/.test(value)
  if (manager === 'dnf') return /^[A-Za-z0-9_.+-]+-\d[\w.+~^-]*$/.test(value)
  return false
}

export const unpinnedOsPackages: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    for (const cmd of item.commands) {
      const pkg = readPackageCommand(cmd)
      if (!pkg || !pkg.installs) continue
      if (pkg.manager !== 'apt' && pkg.manager !== 'apk' && pkg.manager !== 'dnf' && pkg.manager !== 'pacman') continue
      if (pkg.verb === 'dpkg-install' || pkg.verb === '-U') continue // local package files: the hash-file route
      if (pkg.manager === 'apk' && hasOption(pkg.options, '--no-network')) continue // nothing is fetched
      const values = pkg.operands.map((o) => expandWord(o.value, item.vars))
      if (values.length > 0 && values.every((v) => LOCAL_PACKAGE.test(v))) continue
      if (
        !pkg.upgradeAll &&
        values.length > 0 &&
        values.every((v) => LOCAL_PACKAGE.test(v) || isPinnedOsPackage(pkg.manager, v))
      )
        continue
      if (snapshotInEffect(ctx, item, cmd, pkg)) continue
      const what = pkg.upgradeAll
        ? `${cmd.name} ${pkg.verb} upgrades every package`
        : `${cmd.name} ${pkg.verb} installs`
      out.push({
        rule: 'RL003',
        line: cmd.line,
        column: cmd.column,
        message: `${what} from the live archive: versions change from day to day`,
        fix:
          pkg.manager === 'apt' || pkg.manager === 'pacman'
            ? 'point the package sources at a snapshot first (repro snapshot sources), or install by hash (repro build --hashfile)'
            : 'pin every package to a version (name=version), or install by hash (repro build --hashfile)',
      })
    }
  }
  return out
}

/** Every requirement of a requirements file is pinned with == or carries a hash. */
function requirementsPinned(text: string): boolean {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('-'))
  return (
    lines.length > 0 && lines.every((l) => /--hash[= ]/.test(l) || /^[A-Za-z0-9._\-[\],]+\s*===?\s*[^\s*;]+/.test(l))
  )
}

function isLocalOrUrl(value: string): boolean {
  return (
    value === '.' ||
    value.startsWith('./') ||
    value.startsWith('../') ||
    value.startsWith('/') ||
    value.includes('://') ||
    /\.(whl|tar\.gz|zip|tgz)$/.test(value) ||
    value.includes('/')
  )
}

export const unpinnedPip: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    for (const cmd of item.commands) {
      const pkg = readPackageCommand(cmd)
      if (!pkg || (pkg.manager !== 'pip' && pkg.manager !== 'uv') || pkg.verb !== 'install') continue
      if (hasOption(pkg.options, '--require-hashes')) continue
      const reasons: string[] = []
      const opts = pkg.options
      for (let i = 0; i < opts.length; i++) {
        if (opts[i] === '-r' || opts[i] === '--requirement' || opts[i].startsWith('--requirement=')) {
          const file = opts[i].includes('=') ? opts[i].split('=')[1] : (opts[i + 1] ?? '')
          const path = expandWord(file, item.vars)
          const base = path.split('/').pop() ?? path
          const text = ctx.readContextFile(path.replace(/^\.\//, '')) ?? ctx.readContextFile(base)
          if (text === null || !requirementsPinned(text)) reasons.push(`-r ${file}`)
        }
        if (opts[i] === '-e' || opts[i] === '--editable' || opts[i].startsWith('--editable=')) reasons.push('-e')
      }
      const noDeps = hasOption(opts, '--no-deps')
      for (const o of pkg.operands) {
        const v = expandWord(o.value, item.vars)
        if (isLocalOrUrl(v)) {
          if (!noDeps) reasons.push(o.value)
        } else if (!/^[A-Za-z0-9._\-[\],]+===?[^=<>!~*,;\s]+$/.test(v)) reasons.push(o.value)
      }
      if (pkg.operands.length === 0 && reasons.length === 0) continue // `pip install` with nothing: an error, not a hazard
      if (reasons.length === 0) continue
      out.push({
        rule: 'RL004',
        line: cmd.line,
        column: cmd.column,
        message: `${cmd.name === 'uv' ? 'uv pip' : 'pip'} install resolves ${reasons.slice(0, 3).join(', ')}${reasons.length > 3 ? ', …' : ''} to whatever is newest on the index`,
        fix: 'pin every requirement with == and install with --require-hashes (pip-compile --generate-hashes)',
      })
    }
  }
  return out
}

export const npmInstall: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    for (const cmd of item.commands) {
      const pkg = readPackageCommand(cmd)
      if (!pkg || pkg.manager !== 'npm' || !['install', 'i', 'in', 'add', 'isntall'].includes(pkg.verb)) continue
      if (pkg.operands.length === 0) {
        out.push({
          rule: 'RL005',
          line: cmd.line,
          column: cmd.column,
          message: `npm ${pkg.verb} resolves the project's dependencies anew (the lockfile may be rewritten)`,
          fix: 'use npm ci: it installs exactly what package-lock.json says',
        })
        continue
      }
      const loose = pkg.operands.filter((o) => !isExactNpmSpec(expandWord(o.value, item.vars)))
      if (loose.length > 0) {
        out.push({
          rule: 'RL005',
          line: cmd.line,
          column: cmd.column,
          message: `npm ${pkg.verb} ${loose
            .slice(0, 3)
            .map((o) => o.value)
            .join(', ')} without an exact version`,
          fix: 'give exact versions (name@1.2.3), or list them in package.json with a lockfile and use npm ci',
        })
      }
    }
  }
  return out
}

function envTrue(vars: Vars, cmd: ShellCommand, name: string): boolean {
  const v = cmd.assignments.find((a) => a.name === name)?.value ?? vars.get(name) ?? null
  return v !== null && /^(1|true|yes|on)$/i.test(v)
}

export const yarnUnfrozen: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    for (const cmd of item.commands) {
      const pkg = readPackageCommand(cmd)
      if (!pkg || pkg.manager !== 'yarn' || !pkg.installs) continue
      if (pkg.verb === '' || pkg.verb === 'install') {
        if (hasOption(pkg.options, '--frozen-lockfile', '--immutable')) continue
        if (
          envTrue(item.vars, cmd, 'YARN_ENABLE_IMMUTABLE_INSTALLS') ||
          envTrue(item.vars, cmd, 'YARN_FROZEN_LOCKFILE')
        )
          continue
        out.push({
          rule: 'RL006',
          line: cmd.line,
          column: cmd.column,
          message: `yarn ${pkg.verb || '(install)'} without a frozen lockfile may resolve new versions`,
          fix: 'use yarn install --frozen-lockfile (yarn 1) or --immutable (yarn 2+)',
        })
        continue
      }
      const loose = pkg.operands.filter((o) => !isExactNpmSpec(expandWord(o.value, item.vars)))
      if (loose.length > 0) {
        out.push({
          rule: 'RL006',
          line: cmd.line,
          column: cmd.column,
          message: `yarn ${pkg.verb.replace('-', ' ')} ${loose
            .slice(0, 3)
            .map((o) => o.value)
            .join(', ')} without an exact version`,
          fix: 'give exact versions (name@1.2.3), or add them to package.json and install with a frozen lockfile',
        })
      }
    }
  }
  return out
}

interface CacheRule {
  /** this command writes the manager's cache, index or logs */
  writes(pkg: PackageCommand): boolean
  /** the RUN cleans up after it */
  clean(run: InstructionInfo, pkgs: PackageCommand[], removed: string[]): string | null
}

const mountedOn = (run: InstructionInfo, test: (target: string) => boolean): boolean =>
  run.mounts.some((m) => (m.type === 'cache' || m.type === 'tmpfs') && test(m.target))

const CACHE_RULES: Record<Manager, CacheRule> = {
  apt: {
    writes: (p) => p.installs || p.refreshes,
    clean(run, pkgs, removed) {
      const missing: string[] = []
      if (pkgs.some((p) => p.refreshes)) {
        const ok =
          removed.some((r) => r.startsWith('/var/lib/apt/lists')) || mountedOn(run, (t) => t.startsWith('/var/lib/apt'))
        if (!ok) missing.push('the package lists (/var/lib/apt/lists)')
      }
      if (pkgs.some((p) => p.installs)) {
        const ok =
          removed.some((r) => /^\/var\/log(\/|$)/.test(r)) ||
          run.commands.some((c) => c.name === 'find' && c.args.some((a) => /^\/var\/log(\/|$)/.test(a.value))) ||
          mountedOn(run, (t) => /^\/var\/log(\/|$)/.test(t))
        if (!ok) missing.push("dpkg's and apt's logs (/var/log/dpkg.log, /var/log/apt)")
      }
      return missing.length > 0 ? missing.join(' and ') : null
    },
  },
  apk: {
    writes: (p) => (p.installs || p.refreshes) && !hasOption(p.options, '--no-cache', '--no-network'),
    clean: (run, _p, removed) =>
      removed.some((r) => r.startsWith('/var/cache/apk')) ||
      mountedOn(run, (t) => t.startsWith('/var/cache/apk') || t.startsWith('/etc/apk/cache'))
        ? null
        : 'the apk cache and index (/var/cache/apk)',
  },
  dnf: {
    writes: (p) => p.installs,
    clean: (run, _p, removed) =>
      run.commands.some(
        (c) => DNF.has(c.name) && c.args.some((a) => a.value === 'clean') && c.args.some((a) => a.value === 'all'),
      ) ||
      removed.some((r) => /^\/var\/cache\/(dnf|yum|libdnf5)/.test(r)) ||
      mountedOn(run, (t) => /^\/var\/cache\/(dnf|yum|libdnf5)/.test(t))
        ? null
        : 'the dnf/yum cache (/var/cache/dnf)',
  },
  pacman: {
    writes: (p) => p.installs,
    clean: (run, _p, removed) =>
      run.commands.some((c) => {
        const p = readPackageCommand(c)
        return p?.manager === 'pacman' && p.verb === '-Sc'
      }) ||
      removed.some((r) => r.startsWith('/var/cache/pacman')) ||
      mountedOn(run, (t) => t.startsWith('/var/cache/pacman'))
        ? null
        : 'the package cache (/var/cache/pacman/pkg)',
  },
  pip: {
    writes: (p) => p.verb === 'install' && !hasOption(p.options, '--no-cache-dir'),
    clean: (run, pkgs, removed) =>
      pkgs.every((p) => p.cmd.assignments.some((a) => a.name === 'PIP_NO_CACHE_DIR')) ||
      (run.vars.has('PIP_NO_CACHE_DIR') && !/^(0|false|no|off)$/i.test(run.vars.get('PIP_NO_CACHE_DIR') ?? '')) ||
      run.commands.some((c) => c.name === 'export' && c.args.some((a) => a.value.startsWith('PIP_NO_CACHE_DIR'))) ||
      removed.some((r) => r.includes('.cache/pip') || /^(\/root|~)\/\.cache\/?\*?$/.test(r)) ||
      mountedOn(run, (t) => t.includes('.cache'))
        ? null
        : "pip's cache (~/.cache/pip)",
  },
  uv: {
    writes: (p) => p.installs && !hasOption(p.options, '--no-cache', '-n'),
    clean: (run, pkgs, removed) =>
      pkgs.every((p) => p.cmd.assignments.some((a) => a.name === 'UV_NO_CACHE')) ||
      (run.vars.has('UV_NO_CACHE') && !/^(0|false|no|off)$/i.test(run.vars.get('UV_NO_CACHE') ?? '')) ||
      run.commands.some((c) => c.name === 'uv' && c.args.some((a) => a.value === 'cache')) ||
      removed.some((r) => r.includes('.cache/uv')) ||
      mountedOn(run, (t) => t.includes('.cache'))
        ? null
        : "uv's cache (~/.cache/uv)",
  },
  npm: {
    writes: (p) => p.installs,
    clean: (run, _p, removed) =>
      run.commands.some((c) => c.name === 'npm' && c.args[0]?.value === 'cache' && c.args[1]?.value === 'clean') ||
      removed.some((r) => r.includes('.npm')) ||
      mountedOn(run, (t) => t.includes('.npm'))
        ? null
        : "npm's cache and logs (~/.npm/_cacache, ~/.npm/_logs)",
  },
  yarn: {
    writes: (p) => p.installs,
    clean: (run, _p, removed) =>
      run.commands.some(
        (c) =>
          (c.name === 'yarn' || c.name === 'yarnpkg') && c.args[0]?.value === 'cache' && c.args[1]?.value === 'clean',
      ) ||
      removed.some((r) => r.includes('yarn')) ||
      mountedOn(run, (t) => t.includes('yarn'))
        ? null
        : "yarn's cache (/usr/local/share/.cache/yarn)",
  },
}

const CACHE_FIX: Record<Manager, string> = {
  apt: 'end the same RUN with rm -rf /var/lib/apt/lists/* /var/log/dpkg.log /var/log/apt, or mount a cache/tmpfs there',
  apk: 'apk add --no-cache, or mount a cache on /var/cache/apk',
  dnf: 'end the same RUN with dnf clean all, or mount a cache on /var/cache/dnf',
  pacman: 'end the same RUN with pacman -Scc --noconfirm, or mount a cache on /var/cache/pacman',
  pip: 'pip install --no-cache-dir (or PIP_NO_CACHE_DIR=1), or mount a cache on /root/.cache/pip',
  uv: 'uv pip install --no-cache (or UV_NO_CACHE=1), or mount a cache on /root/.cache/uv',
  npm: 'end the same RUN with npm cache clean --force, or mount a cache on /root/.npm',
  yarn: 'end the same RUN with yarn cache clean, or mount a cache on the yarn cache directory',
}

export const cacheLeftInLayer: Check = (ctx) => {
  const out: RawFinding[] = []
  for (const item of ctx.model.instructions) {
    if (item.ins.keyword !== 'RUN' || item.commands.length === 0) continue
    const byManager = new Map<Manager, PackageCommand[]>()
    for (const cmd of item.commands) {
      const pkg = readPackageCommand(cmd)
      if (!pkg || !CACHE_RULES[pkg.manager].writes(pkg)) continue
      const list = byManager.get(pkg.manager)
      if (list) list.push(pkg)
      else byManager.set(pkg.manager, [pkg])
    }
    if (byManager.size === 0) continue
    const removed = removedPaths(item.commands).map((r) => expandWord(r, item.vars))
    for (const [manager, pkgs] of byManager) {
      const missing = CACHE_RULES[manager].clean(item, pkgs, removed)
      if (!missing) continue
      const first = pkgs.reduce((a, b) => (before(b.cmd, a.cmd) ? b : a))
      out.push({
        rule: 'RL013',
        line: first.cmd.line,
        column: first.cmd.column,
        message: `this RUN leaves ${missing} in the layer: they hold the time of the build`,
        fix: CACHE_FIX[manager],
      })
    }
  }
  return out
}
