/**
 * Where the nightly finds its engines: flags (--buildkit-image, --buildkit-addr, --base, --debs), or the
 * engine test bed's state file (tests/e2e/testbed/testbed.sh: local BuildKit images, standalone daemons,
 * deterministic base images as OCI layouts, real .debs). Flags win over the test bed.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {MatrixError} from './matrix.js'

export const DEFAULT_TESTBED_STATE = '/var/lib/repro-testbed/state.json'

export interface TestbedState {
  ok?: boolean
  docker?: {ok?: boolean; host?: string}
  podman?: {ok?: boolean}
  buildkit?: {
    default?: string
    versions?: Record<
      string,
      {running?: boolean; host?: string; buildctl?: string; start?: string; image?: {name?: string}}
    >
  }
  images?: Record<string, {name?: string; ociLayout?: string; manifestDigest?: string}>
  debs?: {dir?: string}
}

export interface EngineConfig {
  images: Record<string, string | undefined>
  addrs: Record<string, string | undefined>
  /** base name → OCI layout directory */
  bases: Record<string, string>
  debsDir?: string
  /** extra environment for every child process (DOCKER_HOST, PATH with buildctl) */
  env: Record<string, string>
  /** BuildKit versions whose standalone daemon is down, with the command that starts it */
  startable: Record<string, string>
}

export function readTestbed(file: string): TestbedState {
  if (!existsSync(file)) {
    throw new MatrixError(
      process.env.CI
        ? `CI: the engine test bed state file ${file} is missing: run \`npm run testbed -- up\` first`
        : `the engine test bed is not up (no ${file}): run \`npm run testbed -- up\` first`,
    )
  }
  return JSON.parse(readFileSync(file, 'utf8')) as TestbedState
}

export function testbedEngines(state: TestbedState, pathEnv = process.env.PATH ?? ''): EngineConfig {
  const cfg: EngineConfig = {images: {}, addrs: {}, bases: {}, env: {}, startable: {}}
  const versions = state.buildkit?.versions ?? {}
  for (const [v, bk] of Object.entries(versions)) {
    if (bk.image?.name) cfg.images[v] = bk.image.name
    if (bk.host && bk.running) cfg.addrs[v] = bk.host
    else if (bk.host && bk.start) {
      cfg.addrs[v] = bk.host
      cfg.startable[v] = bk.start
    }
  }
  for (const [name, img] of Object.entries(state.images ?? {})) if (img.ociLayout) cfg.bases[name] = img.ociLayout
  if (state.debs?.dir) cfg.debsDir = state.debs.dir
  if (state.docker?.host) cfg.env.DOCKER_HOST = state.docker.host
  // one buildctl client for every daemon: the default version's (the client talks to older daemons)
  const def = state.buildkit?.default
  const buildctl = (def && versions[def]?.buildctl) || Object.values(versions).find((v) => v.buildctl)?.buildctl
  if (buildctl) cfg.env.PATH = `${path.dirname(buildctl)}:${pathEnv}`
  return cfg
}

/** NAME=DIR or NAME=oci-layout://DIR pairs → {NAME: DIR}. */
export function parseBases(values: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    if (eq <= 0 || eq === v.length - 1)
      throw new MatrixError(`--base ${v}: expected NAME=DIR (an OCI layout directory)`)
    out[v.slice(0, eq)] = path.resolve(v.slice(eq + 1).replace(/^oci-layout:\/\//, ''))
  }
  return out
}
