/**
 * The engine test bed's state file (written by tests/e2e/testbed/testbed.sh up) for e2e tests. Without it,
 * e2e tests fail loudly: in CI (CI set) because .ci/run should have brought it up, locally with the command.
 */
import {existsSync, readFileSync} from 'node:fs'

export const TESTBED_STATE_FILE = process.env.REPRO_TESTBED_STATE ?? '/var/lib/repro-testbed/state.json'

export interface TestbedImage {
  configDigest: string
  dockerArchive: string
  manifestDigest: string
  name: string
  ociArchive: string
  ociLayout: string
  registryRef: string
}

export interface TestbedState {
  buildkit: {
    default: string
    versions: Record<string, {host?: string; buildctl?: string; image?: TestbedImage; running?: boolean}>
  }
  debs: {dir: string; sha256sums: string}
  docker: {host: string; ok: boolean}
  images: {busybox: TestbedImage; debian: TestbedImage}
  ok: boolean
  /** local rpm and pacman repositories built by the test bed (step pkg-repos) */
  pkgRepos?: {
    dir: string
    epoch: number
    rpm: {repo: string; unsigned: string; version: string}
    pacman: {repo: string; db: string; version: string}
    keys: {signer: string; other: string; fingerprint: string}
    packages: string[]
  }
  podman: {ok: boolean}
  registry: {address: string; ok: boolean}
  tools: Record<string, {path: string; version: string}>
}

/** The state file, typed as the caller needs (each e2e test declares the fields it reads). */
export function readTestbedState<T = TestbedState>(): T {
  if (!existsSync(TESTBED_STATE_FILE)) {
    throw new Error(
      process.env.CI
        ? `the engine test bed is not up in CI (no ${TESTBED_STATE_FILE}): .ci/run must run \`npm run testbed -- up\` before npm test`
        : `the engine test bed is not up (no ${TESTBED_STATE_FILE}): run \`npm run testbed -- up\` first`,
    )
  }
  const state = JSON.parse(readFileSync(TESTBED_STATE_FILE, 'utf8')) as TestbedState
  if (!state.ok)
    throw new Error(`the engine test bed reports a failed part (${TESTBED_STATE_FILE}): run \`npm run testbed -- up\``)
  return state as unknown as T
}
