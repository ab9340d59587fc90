/**
 * `get install`: after every file is downloaded and verified, one batch install with the distro's tool.
 * The plan (argv arrays) is data: --dry prints it, a real run executes the very same plan.
 * Packages whose exact version (epoch included) is already installed are skipped.
 */
import {randomBytes} from 'node:crypto'
import {mkdir, readdir, readFile, rm, symlink} from 'node:fs/promises'
import {join} from 'node:path'

import {InvalidArgumentError, ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import type {Logger} from '../log.js'
import {parseApkIndex} from './apk-meta.js'
import type {PackageCache} from './cache.js'
import {parseDeb822, parseDpkgStatus} from './deb822.js'
import {type Distro, DISTRO_FORMAT} from './distro.js'
import {mapLimit} from './download.js'
import {type PackageFileInfo, type PackageFormat, parsePackageFileName} from './filename.js'
import type {HashEntry} from './hash-file.js'
import {parsePacmanDesc} from './pacman-meta.js'
import {parseRpmQa, RPM_QA_FORMAT} from './rpm-meta.js'

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
}

const rootArgs = (root: string, flag = '--root'): string[] => (root === '/' ? [] : [flag, root])

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
      const r = await exec(['rpm', ...rootArgs(root), '-qa', '--queryformat', RPM_QA_FORMAT], {reject: false})
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
  const ids = await identify(format, packages, o.exec)
  const installed = new Set((await installedPackages(format, o.root, o.exec)).map(idKey))
  const plan: InstallPlan = {distro: o.distro, root: o.root, install: [], skipped: [], commands: [], stagingDir}
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
  switch (format) {
    case 'deb':
      plan.commands.push(['dpkg', ...rootArgs(o.root), '--install', ...files])
      break
    case 'rpm':
      plan.commands.push(['rpmkeys', ...rootArgs(o.root), '--checksig', ...files])
      plan.commands.push(['rpm', ...rootArgs(o.root), '-Uvh', ...files])
      break
    case 'apk':
      plan.commands.push(['apk', 'add', ...rootArgs(o.root), '--no-network', ...files])
      break
    case 'pacman':
      for (const p of plan.install) {
        const sig = sigs.get(p.name)
        if (!sig) {
          o.logger.warn(`${p.name}: no .sig entry in the hash file; relying on pacman's own SigLevel`)
          continue
        }
        const gpgdir = o.root === '/' ? [] : ['--gpgdir', join(o.root, 'etc/pacman.d/gnupg')]
        plan.commands.push(['pacman-key', ...gpgdir, '--verify', `${p.file}.sig`, p.file])
      }
      plan.commands.push(['pacman', ...rootArgs(o.root), '--upgrade', '--noconfirm', ...files])
      break
  }
  return plan
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
    for (const argv of plan.commands) {
      o.logger.verbose(`+ ${argv.join(' ')}`)
      const r = await o.exec(argv, {onOutput: (c) => o.logger.stream(c)})
      if (r.stdout) o.logger.stream(r.stdout)
    }
  } finally {
    await rm(plan.stagingDir, {recursive: true, force: true})
  }
}
