/**
 * Podman run by an unprivileged user (rootless Podman, with or without --rootless) reads the build context as
 * that user: rootless Podman maps the container's build user to it, and files owned by ids outside the user's
 * range appear as nobody's. BuildKit's context transfer then turns a file that user cannot read into an EMPTY
 * file in the image, exit 0 (seen with BuildKit v0.32.2 under rootless Podman 4.3, rootless and rootful
 * BuildKit images alike: a root-owned 0600 file became a 0-byte file). So before such a build every context
 * entry the build would send (not excluded by .dockerignore) must be readable, and every such directory
 * listable, by this process: otherwise a one-line error names it. Root reads everything: no walk then.
 */
import {constants} from 'node:fs'
import {access, lstat, readdir} from 'node:fs/promises'
import path from 'node:path'

import {InvalidArgumentError} from '../errors.js'
import {isIgnored, mayReinclude, readIgnore} from '../verify/context-digest.js'
import type {BuildOptions} from './types.js'

/** The first entry under DIR (in byte order) this process cannot read, relative to DIR; undefined when none. */
export async function firstUnreadable(dir: string, dockerfile?: string): Promise<string | undefined> {
  const {rules} = dockerfile === undefined ? {rules: []} : await readIgnore(dir, dockerfile)
  const walk = async (rel: string): Promise<string | undefined> => {
    const abs = rel === '' ? dir : path.join(dir, rel)
    try {
      await access(abs, constants.R_OK | constants.X_OK)
    } catch {
      return rel === '' ? '.' : rel
    }
    const names = (await readdir(abs)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    for (const name of names) {
      const child = rel === '' ? name : `${rel}/${name}`
      const ignored = isIgnored(child, rules)
      const st = await lstat(path.join(dir, child))
      if (st.isDirectory()) {
        if (ignored && !mayReinclude(child, rules)) continue
        const bad = await walk(child)
        if (bad !== undefined) return bad
      } else if (!ignored && st.isFile()) {
        const readable = await access(path.join(dir, child), constants.R_OK).then(
          () => true,
          () => false,
        )
        if (!readable) return child
      }
    }
    return undefined
  }
  return walk('')
}

/** Fails with a one-line error naming the first unreadable entry of the context or a local build context. */
export async function checkContextsReadable(options: BuildOptions): Promise<void> {
  const dirs: Array<{what: string; dir: string; dockerfile?: string}> = [
    {what: 'the build context', dir: options.context, dockerfile: options.dockerfile},
    ...options.buildContexts.flatMap((c) =>
      c.kind === 'dir' ? [{what: `--build-context ${c.name}`, dir: c.path}] : [],
    ),
  ]
  for (const {what, dir, dockerfile} of dirs) {
    const bad = await firstUnreadable(dir, dockerfile)
    if (bad !== undefined) {
      throw new InvalidArgumentError(
        `${what} ${dir}: ${JSON.stringify(bad)} is not readable by this user (uid ${process.getuid?.() ?? '?'}); ` +
          'BuildKit would put it in the image as an empty file: fix its permissions or exclude it in .dockerignore',
      )
    }
  }
}
