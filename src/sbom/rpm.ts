/**
 * rpm databases (rpmdb.sqlite, Berkeley DB Packages, ndb Packages.db) read by the machine's own `rpm`, the
 * reader rpm's maintainers keep for every backend, as `repro hash generate` reads them (`rpm --dbpath DIR
 * -qa --queryformat RPM_QA_FORMAT`, parsed by parseRpmQa): the database files of the merged view are copied
 * into a private temp dir first, so rpm never sees the image or the host's own database. Without rpm, or
 * when rpm cannot read the database, the database is reported as unsupported, never guessed at.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type {Exec} from '../exec.js'
import {lifecycle} from '../lifecycle.js'
import {parseRpmQa, RPM_QA_FORMAT, type RpmInstalled} from '../pkg/rpm-meta.js'
import {DATABASE_PATHS, type DatabaseFile} from './rootfs.js'

/** What rpm says about one database directory: its packages, or why they cannot be listed. */
export type RpmOutcome = {packages: RpmInstalled[]; database: string} | {problem: string; database: string}

/** Bounds for the child: rpm answers in well under a second for a real database. */
const RPM_TIMEOUT_MS = 120_000
const RPM_MAX_STDOUT = 64 * 1024 * 1024

export async function readRpmDatabases(files: DatabaseFile[], exec: Exec): Promise<RpmOutcome[]> {
  const out: RpmOutcome[] = []
  for (const dir of DATABASE_PATHS.RPM_DIRS) {
    const mine = files.filter((f) => path.posix.dirname(f.path) === dir)
    if (mine.length === 0) continue
    // the main file names the database (a -wal file alone is no database)
    const main = mine.find((f) => !f.path.endsWith('-wal'))
    if (!main) continue
    const tmp = await mkdtemp(path.join(tmpdir(), 'repro-sbom-rpm-'))
    const unregister = lifecycle.registerPath(tmp)
    try {
      // names from the fixed set of isDatabaseFile: no path in them
      for (const f of mine) await writeFile(path.join(tmp, path.posix.basename(f.path)), f.data)
      const r = await exec(['rpm', '--dbpath', tmp, '-qa', '--queryformat', RPM_QA_FORMAT], {
        reject: false,
        timeoutMs: RPM_TIMEOUT_MS,
        maxStdoutBytes: RPM_MAX_STDOUT,
      })
      const why = (text: string): string => text.replaceAll(tmp, dir).trim().split('\n').at(-1)?.slice(0, 300) ?? ''
      if (r.notFound)
        out.push({database: main.path, problem: 'rpm is not installed on this machine: its packages are not listed'})
      else if (r.stdoutLimitHit)
        out.push({database: main.path, problem: `rpm -qa printed more than ${RPM_MAX_STDOUT} bytes: not listed`})
      else if (r.exitCode !== 0)
        out.push({database: main.path, problem: `rpm cannot read it (exit ${r.exitCode}: ${why(r.stderr)})`})
      else {
        try {
          out.push({database: main.path, packages: parseRpmQa(r.stdout)})
        } catch (error) {
          out.push({database: main.path, problem: `rpm -qa printed ${why((error as Error).message)}`})
        }
      }
    } finally {
      await rm(tmp, {recursive: true, force: true})
      unregister()
    }
  }
  return out
}
