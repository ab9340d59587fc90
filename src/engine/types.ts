/** Types and constants shared by the build plan and the runtime adapters. */
import type {BuildContext, Secret} from './args.js'
import type {Stage} from '../hermetic/stage.js'
import type {Sde} from '../sde.js'

export type Runtime = 'buildkit' | 'docker' | 'podman' | 'buildah'
/** the runtimes that build with BuildKit: one digest across them (`verify --runtime all`) */
export const RUNTIMES: readonly Runtime[] = ['docker', 'podman', 'buildkit']
/** every --runtime choice: the BuildKit runtimes, and buildah (native, digests of its own: src/engine/buildah.ts) */
export const RUNTIME_CHOICES: readonly Runtime[] = [...RUNTIMES, 'buildah']

export const DEFAULT_BUILDKIT_IMAGE =
  'moby/buildkit:v0.32.2@sha256:28a898719c18a33f4e8000685287fa36fd0dd9560c6440227d3a732d79bb41d8'
export const DEFAULT_BUILDKIT_IMAGE_ROOTLESS =
  'moby/buildkit:v0.32.2-rootless@sha256:504731e577c20559c00f968f33219f30115e70be29ab96728d1d06e963fc494b'
/** rewrite-timestamp=true appeared in BuildKit v0.13 */
export const MIN_BUILDKIT_VERSION = '0.13.0'
export const DEFAULT_BUILDKIT_ADDR = 'unix:///run/buildkit/buildkitd.sock'

/** Options after validation: absolute paths, split lists, one SOURCE_DATE_EPOCH. */
export interface BuildOptions {
  context: string
  /** absolute path of the Dockerfile */
  dockerfile: string
  /** absolute path of the tarball (or the stem of the per-platform tarballs) */
  output: string
  format: 'docker' | 'oci'
  tags: string[]
  buildArgs: string[]
  annotations: string[]
  platforms: string[]
  target?: string
  noCache: boolean
  buildContexts: BuildContext[]
  secrets: Secret[]
  buildkitArgs: string[]
  buildxArgs: string[]
  buildkitImage: string
  rootless: boolean
  sde: Sde
  /** build contexts staged before the engine runs (--hashfile, --snapshot-sources) */
  stages?: Stage[]
  /** a BuildKit source policy (JSON) the build must follow: from repro.lock.yaml (src/lock) */
  sourcePolicy?: string
  /** buildkit runtime: mutual TLS to a tcp:// daemon (absolute, checked paths) */
  tls?: TlsFiles
  /** docker runtime: an existing buildx builder of any driver (--builder), used as it is, never created */
  builder?: string
  /** build even when the BuildKit serving the build is not the pinned version (recorded in the result) */
  allowUnpinnedBuilder?: boolean
}

/**
 * buildkitd.toml of the BuildKit repro runs (docker-container builder, podman container): the local registry
 * (the one the lock names in tests and CI) spoken to over plain http. Part of the builder's identity.
 */
export const BUILDKITD_CONFIG = [
  '[registry."127.0.0.1:5000"]',
  '  http = true',
  '[registry."localhost:5000"]',
  '  http = true',
  '',
].join('\n')

/** Files a plan writes for the engine (paths on the host). */
export interface EngineFiles {
  /** the source policy JSON */
  policy?: string
  buildkitdConfig?: string
}

/** buildctl's client TLS files (--tlscacert, --tlscert, --tlskey) and the name the server certificate must carry. */
export interface TlsFiles {
  ca?: string
  cert?: string
  key?: string
  serverName?: string
}

/** The BuildKit that serves the build, probed, against the pin (the version of --buildkit-image). */
export interface ServedBuildkit {
  /** the version the daemon or builder reports */
  version: string
  /** where it was read: the daemon (buildctl debug info) or the builder (docker buildx inspect) */
  from: string
  /** the digest of the image the builder runs, when its reference pins one */
  imageDigest?: string
  /** the pinned version (from --buildkit-image); absent when the image tag names no version */
  pin?: string
  /** false: another version serves the build (only with --allow-unpinned-builder) */
  pinned: boolean
}

/** What probing the machine found (or, with --dry and no engine, assumed). */
export interface Facts {
  runtime: Runtime
  runtimeVersion?: string
  /** docker only */
  buildxVersion?: string
  /** docker only: the buildx builder named after the BuildKit image */
  builder?: {
    name: string
    exists: boolean
    image?: string
    buildkitVersion?: string
    /** why the existing builder cannot be reused (another image, driver or docker endpoint) */
    stale?: string
  }
  /** podman only: podman itself runs rootless (then the rootless BuildKit maps the user with keep-id) */
  podmanRootless?: boolean
  /** buildkit only: the daemon address */
  buildkitAddr?: string
  /** the BuildKit version that will build (from the builder, the image tag, or the daemon) */
  buildkitVersion?: string
  /** where buildkitVersion came from */
  buildkitVersionFrom?: string
  /** the BuildKit actually serving the build, when a daemon or builder reported it */
  served?: ServedBuildkit
  /** docker with --builder: the driver of the existing builder */
  builderDriver?: string
  /** output directories that do not exist yet (a mkdir step creates them) */
  missingDirs: string[]
  /** digests of oci-layout build contexts, pinned so every runtime builds on the same base */
  ociLayoutDigests: Record<string, string>
  /** buildah only: how `oci:DIR[:REF]` names each pinned oci-layout image ('' when it is the layout's only one) */
  ociLayoutRefs?: Record<string, string>
  /** what could not be probed and was assumed (printed as warnings) */
  assumptions: string[]
}

export interface ExecStep {
  kind: 'exec'
  argv: string[]
  display: string[]
  why: string
  /** a container this step starts under this name: removed (podman rm -f) when the build is aborted */
  container?: {runtime: 'podman'; name: string}
  /**
   * podman: the BuildKit state volume this step mounts. One buildkitd at a time can use a state directory
   * (buildkitd.lock), so a concurrent build takes the next free slot volume (NAME-1, NAME-2, ...) instead.
   */
  cacheVolume?: string
  /** environment variables for this step (printed by --dry as `NAME=VALUE command`) */
  env?: Record<string, string>
  /**
   * a failure whose stderr matches this pattern is success: the thing exists already (a concurrent build
   * created the same builder or volume first)
   */
  tolerate?: string
}

export type Step =
  | ExecStep
  /** `private`: mode 0700, created fresh (a stale one of a dead repro process is removed first) */
  | {kind: 'mkdir'; path: string; why: string; private?: boolean}
  | {kind: 'remove'; path: string; why: string}
  | {kind: 'rename'; from: string; to: string; why: string}
  | {kind: 'stage'; stage: Stage; why: string}
  /** a small file the engine reads (source policy, buildkitd.toml), removed at the end or on failure */
  | {kind: 'write'; path: string; content: string; why: string}

export interface PlannedOutput {
  path: string
  partial: string
  /**
   * podman only: the private directory next to the destination that is mounted into the BuildKit container
   * (the partial file is inside); never the destination's parent itself
   */
  outDir?: string
  /** the platform this tarball holds, when one tarball per platform */
  platform?: string
  platforms: string[]
}

export interface Plan {
  runtime: Runtime
  steps: Step[]
  outputs: PlannedOutput[]
}

/** An argument with a different shown form (credentials in a daemon address are never printed). */
export type Arg = string | {value: string; shown: string}
export const REDACTED = '<redacted>'

export function execStep(
  args: Arg[],
  why: string,
  extra: Pick<ExecStep, 'cacheVolume' | 'container' | 'env' | 'tolerate'> = {},
): ExecStep {
  return {
    kind: 'exec',
    argv: args.map((a) => (typeof a === 'string' ? a : a.value)),
    display: args.map((a) => (typeof a === 'string' ? a : a.shown)),
    why,
    ...extra,
  }
}

/** The exporter attributes every runtime uses: same attributes, same image. */
export function exporterAttrs(options: BuildOptions, dest: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [
    ['type', options.format],
    ['dest', dest],
    ['rewrite-timestamp', 'true'],
  ]
  if (options.tags.length > 0) pairs.push(['name', options.tags.join(',')])
  for (const a of options.annotations) {
    const eq = a.indexOf('=')
    pairs.push([`annotation.${a.slice(0, eq)}`, a.slice(eq + 1)])
  }
  return pairs
}
