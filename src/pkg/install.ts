/**
 * `get install`: after every file is downloaded and verified, one batch install with the distro's tool.
 * The plan (argv arrays) is data: --dry prints it, a real run executes the very same plan.
 * Packages whose exact version (epoch included) is already installed are skipped.
 *
 * rpm and pacman are driven so that they work on an empty root with the host's own tools (Debian's rpm
 * keeps its database in ~/.rpmdb and pacman's --root moves nothing else): every path is given explicitly.
 * Signatures are checked before the root is touched, with the keys given by `keys` (or the root's own).
 */
import {randomBytes} from 'node:crypto'
import {chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {InvalidArgumentError, ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import type {Logger} from '../log.js'
import {parseApkIndex} from './apk-meta.js'
import type {PackageCache} from './cache.js'
import {parseDeb822, parseDpkgStatus} from './deb822.js'
import {type Distro, DISTRO_FORMAT} from './distro.js'
import {mapLimit} from '../pool.js'
import {type PackageFileInfo, type PackageFormat, parsePackageFileName} from './filename.js'
import type {HashEntry} from './hash-file.js'
import {parsePacmanDesc} from './pacman-meta.js'
import {parseRpmQa, RPM_QA_FORMAT} from './rpm-meta.js'
import {shellJoin, shellQuote} from '../ui/shell-quote.js'

export class InstallError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_INSTALL', message, {suggestions})
  }
}

/** A package identity: name, architecture and the full version (with epoch where the format has one). */
export interface PackageId {
  name: string
  arch: string
  version: string
}

export interface InstallPlan {
  distro: Distro
  root: string
  install: {name: string; sha256: string; package: PackageId; file: string}[]
  skipped: {name: string; reason: string}[]
  /** files written into the staging dir before the commands run (pacman.conf, gpg ownertrust) */
  files: {path: string; content: string}[]
  /** the commands, in order */
  commands: string[][]
  stagingDir: string
}

export interface InstallOptions {
  root: string
  distro: Distro
  entries: HashEntry[]
  cache: PackageCache
  exec: Exec
  logger: Logger
  /** OpenPGP public key files whose signatures are accepted (rpm: imported into the root's rpmdb, as dnf
   * does; pacman: a keyring in the staging dir, trusted for this install only, so no key lands in the root) */
  keys?: string[]
  /** given to rpm and pacman as SOURCE_DATE_EPOCH (rpm >= 4.18 clamps INSTALLTIME and INSTALLTID to it) */
  sourceDateEpoch?: number
}

const rootArgs = (root: string, flag = '--root'): string[] => (root === '/' ? [] : [flag, root])

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/**
 * Where the rpmdb of ROOT lives: Fedora >= 36 uses /usr/lib/sysimage/rpm (with /var/lib/rpm a link), older
 * roots /var/lib/rpm; an empty root gets Fedora's. Always said explicitly: Debian's rpm defaults to ~/.rpmdb.
 * The host's own root (/) keeps rpm's configured path.
 */
export async function rpmDbPath(root: string): Promise<string | undefined> {
  if (root === '/') return undefined
  for (const d of ['usr/lib/sysimage/rpm', 'var/lib/rpm']) if (await isDir(join(root, d))) return `/${d}`
  return '/usr/lib/sysimage/rpm'
}

/** `--root R --dbpath D` for rpm and rpmkeys (nothing for /). */
export const rpmRootArgs = (root: string, dbpath: string | undefined): string[] => [
  ...rootArgs(root),
  ...(dbpath ? ['--dbpath', dbpath] : []),
]

/** The shell lines --dry prints: each staged file as a here-document, then the commands. */
export function planScript(plan: InstallPlan): string[] {
  return [
    ...plan.files.map((f) => `cat > ${shellQuote(f.path)} <<'EOF'\n${f.content}EOF`),
    ...plan.commands.map((c) => shellJoin(c)),
  ]
}

/** rpm versions are compared as "E:V-R" with the epoch always present; debs by dpkg's own string. */
const idKey = (p: PackageId): string => `${p.name}\0${p.arch}\0${p.version}`

export async function installedPackages(format: PackageFormat, root: string, exec: Exec): Promise<PackageId[]> {
  switch (format) {
    case 'deb': {
      let text: string
      try {
        text = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8')
      } catch {
        throw new InstallError(
          `${join(root, 'var/lib/dpkg/status')}: no dpkg database; is ${root} a Debian root filesystem?`,
        )
      }
      return parseDpkgStatus(text).map((p) => ({name: p.package, arch: p.architecture, version: p.version}))
    }
    case 'rpm': {
      const dbpath = await rpmDbPath(root)
      // an empty root has no database yet: do not let rpm create one before the install is decided
      if (dbpath && !(await isDir(join(root, dbpath)))) return []
      const r = await exec(['rpm', ...rpmRootArgs(root, dbpath), '-qa', '--queryformat', RPM_QA_FORMAT], {
        reject: false,
      })
      if (r.exitCode !== 0) throw new InstallError(`rpm -qa failed: ${r.notFound ? 'rpm not found' : r.stderr.trim()}`)
      return parseRpmQa(r.stdout).map((p) => ({
        name: p.name,
        arch: p.arch,
        version: `${p.epoch}:${p.version}-${p.release}`,
      }))
    }
    case 'apk': {
      let text = ''
      try {
        text = await readFile(join(root, 'lib/apk/db/installed'), 'utf8')
      } catch {
        return []
      }
      return parseApkIndex(text).map((p) => ({name: p.package, arch: p.architecture ?? '', version: p.version}))
    }
    case 'pacman': {
      const dir = join(root, 'var/lib/pacman/local')
      const out: PackageId[] = []
      let names: string[] = []
      try {
        names = await readdir(dir)
      } catch {
        return []
      }
      for (const n of names) {
        try {
          const d = parsePacmanDesc(await readFile(join(dir, n, 'desc'), 'utf8'))
          if (d) out.push({name: d.name, arch: d.arch ?? '', version: d.version})
        } catch {
          // not a package directory (ALPM_DB_VERSION)
        }
      }
      return out
    }
  }
}

/** What a downloaded file really is: dpkg-deb/rpm read the control data (the file name has no epoch). */
async function identify(
  format: PackageFormat,
  files: {path: string; info: PackageFileInfo}[],
  exec: Exec,
): Promise<PackageId[]> {
  switch (format) {
    case 'deb':
      return mapLimit(files, 4, async ({path}) => {
        const r = await exec(['dpkg-deb', '--field', path, 'Package', 'Version', 'Architecture'])
        const f = parseDeb822(r.stdout)[0] ?? {}
        return {name: f.Package, arch: f.Architecture, version: f.Version}
      })
    case 'rpm': {
      if (files.length === 0) return []
      const r = await exec(['rpm', '-qp', '--nosignature', '--queryformat', RPM_QA_FORMAT, ...files.map((f) => f.path)])
      return parseRpmQa(r.stdout).map((p) => ({
        name: p.name,
        arch: p.arch,
        version: `${p.epoch}:${p.version}-${p.release}`,
      }))
    }
    case 'apk':
    case 'pacman':
      // apk has no epochs; pacman file names carry the full version, epoch included
      return files.map(({info}) => ({name: info.name, arch: info.architecture ?? '', version: info.version}))
  }
}

export async function planInstall(o: InstallOptions): Promise<InstallPlan> {
  const format = DISTRO_FORMAT[o.distro]
  const stagingDir = join(o.cache.dir, 'tmp', `install-${process.pid}-${randomBytes(3).toString('hex')}`)
  const packages: {entry: HashEntry; info: PackageFileInfo; path: string}[] = []
  const sigs = new Map<string, HashEntry>()
  for (const entry of o.entries) {
    const info = parsePackageFileName(entry.name)
    if (!info || info.format !== format)
      throw new InvalidArgumentError(
        `${entry.source.file}:${entry.source.line}: ${entry.name} is not a ${format} package file, and the distro is ${o.distro}`,
        ['use --distro, or a hash file made for this distro'],
      )
    if (info.auxiliary) sigs.set(entry.name.slice(0, -4), entry)
    else packages.push({entry, info, path: o.cache.blobPath(entry.sha256)})
  }
  const keys = await checkKeys(o.keys ?? [], format, o.exec)
  const ids = await identify(format, packages, o.exec)
  const installed = new Set((await installedPackages(format, o.root, o.exec)).map(idKey))
  const plan: InstallPlan = {
    distro: o.distro,
    root: o.root,
    install: [],
    skipped: [],
    files: [],
    commands: [],
    stagingDir,
  }
  for (const [i, p] of packages.entries()) {
    const id = ids[i]
    if (installed.has(idKey(id))) {
      plan.skipped.push({name: p.entry.name, reason: `${id.name} ${id.version} (${id.arch}) is installed`})
      continue
    }
    plan.install.push({
      name: p.entry.name,
      sha256: p.entry.sha256,
      package: id,
      file: join(stagingDir, p.entry.basename),
    })
  }
  const files = plan.install.map((p) => p.file)
  if (files.length === 0) return plan
  const sde = o.sourceDateEpoch === undefined ? [] : ['env', `SOURCE_DATE_EPOCH=${o.sourceDateEpoch}`]
  switch (format) {
    case 'deb':
      plan.commands.push(['dpkg', ...rootArgs(o.root), '--install', ...files])
      break
    case 'rpm': {
      const dbpath = await rpmDbPath(o.root)
      const rootDb = rpmRootArgs(o.root, dbpath)
      // every signature must verify (unsigned packages too are refused), both in rpmkeys and in rpm itself
      const strict = ['--define', '_pkgverify_level all']
      if (keys.length > 0) {
        // check the signatures against the given keys in a scratch root first: a bad or unknown signature
        // then leaves the target root untouched; only then are the keys imported into the root's rpmdb
        const scratch = rpmRootArgs(join(stagingDir, 'keyroot'), '/usr/lib/sysimage/rpm')
        for (const k of keys) plan.commands.push([...sde, 'rpmkeys', ...scratch, '--import', k.file])
        plan.commands.push(['rpmkeys', ...scratch, ...strict, '--checksig', ...files])
        for (const k of keys) plan.commands.push([...sde, 'rpmkeys', ...rootDb, '--import', k.file])
      } else {
        plan.commands.push(['rpmkeys', ...rootDb, ...strict, '--checksig', ...files])
      }
      plan.commands.push([...sde, 'rpm', ...rootDb, ...strict, '-Uvh', ...files])
      break
    }
    case 'apk':
      plan.commands.push(['apk', 'add', ...rootArgs(o.root), '--no-network', ...files])
      break
    case 'pacman': {
      const unsigned = plan.install.filter((p) => !sigs.has(p.name))
      if (unsigned.length > 0) {
        const e = unsigned[0]
        throw new InstallError(
          `${o.entries.find((x) => x.name === e.name)?.source.file ?? 'hash file'}: ${e.name} has no ${e.name}.sig entry; pacman packages are installed only with their signature checked`,
          ['regenerate the hash file with repro hash generate, which adds the .sig entries from the sync database'],
        )
      }
      const gpgdir = keys.length > 0 ? join(stagingDir, 'gnupg') : join(o.root, 'etc/pacman.d/gnupg')
      const args = ['--noconfirm', '--noprogressbar']
      if (o.root !== '/') {
        // pacman 6's --root moves nothing else: say every path, and use a config of our own (signatures
        // required for the package files; no repositories are needed for -U)
        const config = join(stagingDir, 'pacman.conf')
        plan.files.push({
          path: config,
          content:
            '[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\nLocalFileSigLevel = Required\n',
        })
        args.push(
          '--root',
          o.root,
          '--config',
          config,
          '--dbpath',
          join(o.root, 'var/lib/pacman'),
          '--cachedir',
          join(o.root, 'var/cache/pacman/pkg'),
          '--hookdir',
          join(o.root, 'etc/pacman.d/hooks'),
          // the log holds wall-clock times: it stays outside the root
          '--logfile',
          join(stagingDir, 'pacman.log'),
        )
      }
      if (keys.length > 0) {
        // a keyring for this install only. pacman (gpgme) wants a validity, not just a key: the given keys are
        // marked ultimately trusted in it (what pacman-key --lsign-key achieves, without a random local
        // master key); pacman reads pubring.gpg, so the keyring is kept in that format
        plan.files.push({path: join(stagingDir, 'ownertrust.txt'), content: keys.map((k) => `${k.fpr}:6:\n`).join('')})
        const gpg = ['gpg', '--homedir', gpgdir, '--batch', '--no-autostart', '--quiet']
        plan.commands.push(['mkdir', '-m', '0700', gpgdir])
        plan.commands.push([
          ...gpg,
          '--no-default-keyring',
          '--keyring',
          join(gpgdir, 'pubring.gpg'),
          '--import',
          ...keys.map((k) => k.file),
        ])
        plan.commands.push([...gpg, '--import-ownertrust', join(stagingDir, 'ownertrust.txt')])
      }
      // every signature is checked before the root is touched (pacman checks them again itself)
      for (const p of plan.install)
        plan.commands.push(
          keys.length > 0
            ? ['gpgv', '--homedir', gpgdir, '--keyring', join(gpgdir, 'pubring.gpg'), `${p.file}.sig`, p.file]
            : ['pacman-key', '--gpgdir', gpgdir, '--verify', `${p.file}.sig`, p.file],
        )
      if (o.root !== '/') plan.commands.push(['mkdir', '-p', join(o.root, 'var/lib/pacman')])
      if (keys.length > 0 || o.root !== '/') args.push('--gpgdir', gpgdir)
      plan.commands.push([...sde, 'pacman', ...args, '--upgrade', ...files])
      break
    }
  }
  return plan
}

/** Key files: regular files holding OpenPGP public keys; for pacman their primary fingerprints are read. */
async function checkKeys(files: string[], format: PackageFormat, exec: Exec): Promise<{file: string; fpr: string}[]> {
  if (files.length === 0) return []
  if (format !== 'rpm' && format !== 'pacman')
    throw new InvalidArgumentError(`--key: ${format} installs do not take keys (only rpm and pacman do)`)
  const out: {file: string; fpr: string}[] = []
  for (const f of files) {
    const file = resolve(f)
    let st
    try {
      st = await lstat(file)
    } catch (error) {
      throw new InvalidArgumentError(`--key ${f}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read it'}`)
    }
    if (!st.isFile()) throw new InvalidArgumentError(`--key ${f}: not a regular file`)
    if (st.size > 1 << 20) throw new InvalidArgumentError(`--key ${f}: over 1 MiB, not a public key file`)
    out.push({file, fpr: ''})
  }
  if (format === 'rpm') return out
  // gpg needs a home even to list a file's keys: a scratch one, removed at once
  const home = await mkdtemp(join(tmpdir(), 'repro-gpg-'))
  try {
    await chmod(home, 0o700)
    for (const k of out) {
      const text = await readFile(k.file, 'latin1')
      if (!text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') && !/^[\x98\x99\xc6]/.test(text))
        throw new InvalidArgumentError(`--key ${k.file}: not an OpenPGP public key (armored or binary)`)
      k.fpr = await primaryFingerprint(k.file, home, exec)
    }
  } finally {
    await rm(home, {recursive: true, force: true})
  }
  return out
}

async function primaryFingerprint(file: string, home: string, exec: Exec): Promise<string> {
  const r = await exec(['gpg', '--homedir', home, '--batch', '--no-autostart', '--with-colons', '--show-keys', file], {
    reject: false,
  })
  if (r.notFound) throw new InstallError('gpg: not found; pacman signature checks with --key need gpg')
  // the fpr line that follows a pub line is the primary key's
  const lines = r.stdout.split('\n')
  const fprs: string[] = []
  for (let i = 0; i < lines.length; i++)
    if (lines[i].startsWith('pub:') && lines[i + 1]?.startsWith('fpr:')) fprs.push(lines[i + 1].split(':')[9])
  if (r.exitCode !== 0 || fprs.length === 0 || !fprs.every((f) => /^[0-9A-F]{40,64}$/.test(f)))
    throw new InvalidArgumentError(`--key ${file}: gpg finds no public key in it`)
  if (fprs.length > 1) throw new InvalidArgumentError(`--key ${file}: holds ${fprs.length} keys; give one key per file`)
  return fprs[0]
}

/** Lay the verified blobs out under their file names (tools look at extensions), run the plan, clean up. */
export async function executeInstall(
  plan: InstallPlan,
  entries: HashEntry[],
  o: {cache: PackageCache; exec: Exec; logger: Logger},
): Promise<void> {
  if (plan.commands.length === 0) return
  await mkdir(plan.stagingDir, {recursive: true})
  try {
    const byName = new Map(entries.map((e) => [e.name, e]))
    for (const p of plan.install) {
      await symlink(o.cache.blobPath(p.sha256), p.file)
      const sig = byName.get(`${p.name}.sig`)
      if (sig) await symlink(o.cache.blobPath(sig.sha256), `${p.file}.sig`)
    }
    for (const f of plan.files) await writeFile(f.path, f.content, {mode: 0o600})
    for (const argv of plan.commands) {
      o.logger.verbose(`+ ${shellJoin(argv)}`)
      const r = await o.exec(argv, {onOutput: (c) => o.logger.stream(c), reject: false})
      if (r.stdout) o.logger.stream(r.stdout)
      if (r.exitCode !== 0) {
        // rpmkeys and gpgv say why on stdout, pacman on stderr: the last lines of both, on one line
        const why = `${r.stdout}\n${r.stderr}`
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .slice(-3)
          .join(' | ')
        const tool = argv[0] === 'env' ? argv[2] : argv[0]
        throw new InstallError(
          `${tool} failed${r.notFound ? ': not found' : r.exitCode === undefined ? '' : ` (exit ${r.exitCode})`}: ${shellJoin(argv)}${why ? `: ${why}` : ''}`,
          tool === 'rpmkeys' || tool === 'gpgv' || tool === 'pacman-key'
            ? ['give the signing key with --key FILE (rpm, pacman), or check where the packages came from']
            : [],
        )
      }
    }
  } finally {
    await rm(plan.stagingDir, {recursive: true, force: true})
  }
}
