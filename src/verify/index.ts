/**
 * `repro verify`: rebuild (N times, on one runtime or on every available one), compare the digests with
 * each other and with an expected digest or image, explain a mismatch with the semantic diff, and write
 * an in-toto attestation of the inputs and the verdict. The rebuilt tarballs live in a temp directory
 * (removed at the end) unless --output-dir keeps them.
 */
import {mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {envelopeJson, signEnvelope} from '../attest/dsse.js'
import type {Signer} from '../attest/keys.js'
import {NO_IGNORES} from '../diff/ignore.js'
import {diffImages} from '../diff/index.js'
import {resolveInput} from '../diff/inputs.js'
import type {CauseSummary, DiffEvent} from '../diff/types.js'
import {parseBuildContext} from '../engine/args.js'
import {ociLayoutDigest, probe} from '../engine/detect.js'
import {type Runtime, RUNTIMES} from '../engine/plan.js'
import {build, type BuildInput, type BuildResult, resolveOptions, resolveSde} from '../engine/run.js'
import {EngineNotFoundError, InvalidArgumentError, ReproError} from '../errors.js'
import type {Exec} from '../exec.js'
import {platformImages, topImageDigest} from '../image/archive.js'
import {sha256File} from '../image/digest.js'
import {lifecycle} from '../lifecycle.js'
import type {Logger} from '../log.js'
import {
  buildArgMap,
  buildStatement,
  canonicalJson,
  pinnedDigest,
  type RuntimeVersion,
  type SbomDescriptor,
  type VerificationInputs,
} from './attestation.js'
import {contextDigest, contextLines} from './context-digest.js'
import {type Check, decideVerdict, type Expected, normalizeDigest, type RebuiltImage} from './verdict.js'

export const VERIFY_SCHEMA_VERSION = 1

export interface VerifyInput {
  /** the build, as `repro build` takes it; `output` and `dry` are ignored, `runtime` may be "all" */
  build: BuildInput
  times: number
  expectedDigest?: string
  against?: string
  attest?: string
  attestTimestamps: boolean
  /** keep the rebuilt tarballs here */
  outputDir?: string
  plainHttp?: boolean
  /** the version written into the attestation's verifier */
  version: string
  /** --sbom: write the SBOM of the first rebuild; the attestation records its digest */
  sbom?: (archive: string, build: BuildResult) => Promise<{file: string; digest: string; mediaType: string} | undefined>
  /** sign the attestation: --attest FILE holds a DSSE envelope around the Statement */
  signer?: Signer
  /** write the mismatch's diff as `repro diff --report-dir` does (verify --matrix links it per job) */
  diffReportDir?: string
}

export interface VerifyDeps {
  exec: Exec
  logger: Logger
  now?: () => Date
}

export interface VerifyBuild {
  runtime: string
  attempt: number
  digest: string
  archiveSha256: string
  platform: string
  seconds: number
  runtimeVersion?: string
  buildkitVersion?: string
  /** only with --output-dir */
  path?: string
}

export interface VerifyDiff {
  a: string
  b: string
  same: boolean
  differences: number
  causes: CauseSummary[]
  /** the first differences (all of them are in `repro diff A B --json`) */
  events: DiffEvent[]
}

export interface VerifyResult {
  schemaVersion: typeof VERIFY_SCHEMA_VERSION
  reproduced: boolean
  /** the digest every rebuild gave, when they agree */
  digest?: string
  runtimes: string[]
  sourceDateEpoch: number
  builds: VerifyBuild[]
  expected?: {kind: 'digest'; digest: string} | {kind: 'image'; input: string; digest: string | null}
  checks: Check[]
  diff?: VerifyDiff
  attestation?: string
  warnings: string[]
}

const MAX_EVENTS = 20

export class VerifyTargetError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_VERIFY_INPUT', message, {suggestions})
  }
}

/** Which runtimes to build on: the one given (or the default detection), or every one that probes ok. */
export async function resolveRuntimes(
  input: BuildInput,
  exec: Exec,
  logger: Logger,
): Promise<Array<Runtime | undefined>> {
  if (input.runtime !== 'all') return [input.runtime as Runtime | undefined]
  const sde = await resolveSde(input, exec)
  const options = await resolveOptions({...input, runtime: undefined}, sde)
  const found: Runtime[] = []
  for (const runtime of RUNTIMES) {
    try {
      await probe(
        options,
        {runtime, buildkitAddr: input.buildkitAddr, buildkitHost: input.env.BUILDKIT_HOST, dry: false},
        exec,
      )
      found.push(runtime)
    } catch (error) {
      if (!(error instanceof EngineNotFoundError)) throw error
      logger.info(`--runtime all: skipping ${runtime}: ${error.message}`)
    }
  }
  if (found.length === 0) {
    throw new EngineNotFoundError(
      '--runtime all: no runtime is usable (docker, podman and a BuildKit daemon all failed to probe)',
    )
  }
  return found
}

export function checkVerifyInput(input: VerifyInput): void {
  if (!Number.isInteger(input.times) || input.times < 1)
    throw new InvalidArgumentError(`--times ${input.times}: expected an integer >= 1`)
  if (
    input.times < 2 &&
    input.expectedDigest === undefined &&
    input.against === undefined &&
    input.build.runtime !== 'all'
  ) {
    throw new InvalidArgumentError(
      '--times 1: one rebuild with nothing to compare it with proves nothing; use --times 2 or more, --runtime all, --expected-image-digest or --against',
    )
  }
  if (input.expectedDigest !== undefined && input.against !== undefined) {
    throw new InvalidArgumentError('--expected-image-digest and --against: give one of them')
  }
  if (input.expectedDigest !== undefined && !/^(sha256:)?[a-f0-9]{64}$/i.test(input.expectedDigest.trim())) {
    throw new InvalidArgumentError(`--expected-image-digest ${input.expectedDigest}: expected sha256:<64 hex digits>`)
  }
  if (input.build.format === 'docker' && input.build.platforms.join(',').includes(',')) {
    throw new InvalidArgumentError(
      '--platform: verify one platform at a time with --format docker, or use --format oci',
    )
  }
}

export async function verify(input: VerifyInput, deps: VerifyDeps): Promise<VerifyResult> {
  const {exec, logger} = deps
  const now = deps.now ?? (() => new Date())
  checkVerifyInput(input)
  const startedOn = now()
  const runtimes = await resolveRuntimes(input.build, exec, logger)
  const work = await mkdtemp(path.join(tmpdir(), 'repro-verify-'))
  const unregister = lifecycle.registerPath(work)
  const warnings: string[] = []
  try {
    // 1. rebuild, one after the other (builds are CPU bound; parallel runs only slow each other down)
    const rebuilt: RebuiltImage[] = []
    const builds: VerifyBuild[] = []
    const results: BuildResult[] = []
    for (const runtime of runtimes) {
      for (let attempt = 1; attempt <= input.times; attempt++) {
        const label = `${runtime ?? 'auto'}-${attempt}`
        logger.info(`verify: rebuild ${attempt}/${input.times}${runtime ? ` on ${runtime}` : ''}`)
        const t0 = Date.now()
        const r = await build(
          {...input.build, runtime, output: path.join(work, `${label}.tar`), noCache: true, dry: false},
          {exec, logger},
        )
        const seconds = Math.round((Date.now() - t0) / 100) / 10
        results.push(r)
        for (const w of r.warnings) if (!warnings.includes(w)) warnings.push(w)
        const out = r.outputs[0]
        if (!out?.digest)
          throw new VerifyTargetError(`rebuild ${label}: the tarball has no image digest (${out?.path})`)
        rebuilt.push({
          runtime: r.runtime,
          attempt,
          digest: out.digest,
          archiveSha256: out.archiveSha256 ?? '',
          manifests: (out.manifests ?? []).map((m) => ({...m, digest: m.digest ?? ''})),
          path: out.path,
        })
        builds.push({
          runtime: r.runtime,
          attempt,
          digest: out.digest,
          archiveSha256: out.archiveSha256 ?? '',
          platform: (out.manifests ?? []).map((m) => m.platform).join(','),
          seconds,
          runtimeVersion: r.runtimeVersion,
          buildkitVersion: r.buildkitVersion,
        })
      }
    }

    // 2. what to compare with
    let expected: Expected | undefined
    if (input.expectedDigest) expected = {kind: 'digest', digest: normalizeDigest(input.expectedDigest)}
    if (input.against) expected = await describeImage(input.against, input, exec, logger)

    // 3. verdict, and the diff that explains a failure
    const verdict = decideVerdict(rebuilt, expected)
    let diff: VerifyDiff | undefined
    if (!verdict.reproduced && verdict.diff) {
      const a = rebuilt[verdict.diff.a]
      const bInput = verdict.diff.b === 'expected' ? input.against! : rebuilt[verdict.diff.b].path
      const bLabel =
        verdict.diff.b === 'expected'
          ? input.against!
          : `${rebuilt[verdict.diff.b].runtime} #${rebuilt[verdict.diff.b].attempt}`
      logger.info(`verify: not reproduced; diffing ${verdict.diff.why}`)
      try {
        const d = await diffImages(a.path, bInput, {
          ignore: NO_IGNORES,
          exec,
          logger,
          plainHttp: input.plainHttp,
          reportDir: input.diffReportDir,
        })
        diff = {
          a: `${a.runtime} #${a.attempt}`,
          b: bLabel,
          same: d.same,
          differences: d.summary.differences,
          causes: d.summary.causes,
          events: d.differences.slice(0, MAX_EVENTS),
        }
      } catch (error) {
        warnings.push(`the diff of ${verdict.diff.why} failed: ${(error as Error).message.split('\n')[0]}`)
      }
    } else if (!verdict.reproduced && expected?.kind === 'digest') {
      warnings.push('only a digest to compare with: pass --against IMAGE to learn why the images differ')
    }

    // the SBOM of the first rebuild (all rebuilds are the same image when reproduced), before they move
    const sbom = input.sbom ? await input.sbom(rebuilt[0].path, results[0]) : undefined

    // 4. keep the tarballs when asked
    if (input.outputDir) {
      await mkdir(input.outputDir, {recursive: true})
      for (const [i, b] of builds.entries()) {
        const dest = path.join(input.outputDir, `${b.runtime}-${b.attempt}.tar`)
        await rename(rebuilt[i].path, dest).catch(async () => {
          await writeFile(dest, await readFile(rebuilt[i].path))
        })
        b.path = dest
      }
    }

    const sourceDateEpoch = results[0].sourceDateEpoch
    const result: VerifyResult = {
      schemaVersion: VERIFY_SCHEMA_VERSION,
      reproduced: verdict.reproduced,
      digest: verdict.digest,
      runtimes: [...new Set(builds.map((b) => b.runtime))],
      sourceDateEpoch,
      builds,
      expected:
        expected?.kind === 'image' ? {kind: 'image', input: expected.input, digest: expected.digest ?? null} : expected,
      checks: verdict.checks,
      diff,
      warnings,
    }

    // 5. the attestation
    if (input.attest) {
      const inputs = await collectInputs(input.build, results, exec)
      const statement = buildStatement(
        input.build.tags[0] ?? input.against ?? 'image',
        {
          verifier: {id: 'https://repro.dev/repro', version: input.version},
          inputs,
          rebuilds: builds.map((b) => ({
            runtime: b.runtime,
            attempt: b.attempt,
            digest: b.digest,
            archiveSha256: b.archiveSha256,
          })),
          expected: result.expected ?? null,
          verdict: {
            result: verdict.reproduced ? 'reproduced' : 'not-reproduced',
            checks: verdict.checks,
            causes: (diff?.causes ?? []).map((c) => ({cause: c.cause, count: c.count})),
          },
          ...(sbom ? {sbom: sbomDescriptor(sbom)} : {}),
        },
        input.attestTimestamps ? {startedOn, finishedOn: now()} : undefined,
      )
      const file = path.resolve(input.build.cwd, input.attest)
      await mkdir(path.dirname(file), {recursive: true})
      const done = lifecycle.registerPath(`${file}.partial`)
      const text = canonicalJson(statement)
      await writeFile(
        `${file}.partial`,
        input.signer ? envelopeJson(signEnvelope(Buffer.from(text), input.signer)) : text,
      )
      await rename(`${file}.partial`, file)
      done()
      result.attestation = input.attest
    }
    return result
  } finally {
    await rm(work, {recursive: true, force: true})
    unregister()
  }
}

/** The SBOM as the attestation records it: its file name (no host path), digest and media type. */
function sbomDescriptor(s: {file: string; digest: string; mediaType: string}): SbomDescriptor {
  return {name: path.basename(s.file), digest: {sha256: s.digest.replace(/^sha256:/, '')}, mediaType: s.mediaType}
}

/** The expected image's digests, read through the same input resolution `repro diff` uses. */
async function describeImage(against: string, input: VerifyInput, exec: Exec, logger: Logger): Promise<Expected> {
  const resolved = await resolveInput(against, {exec, logger, plainHttp: input.plainHttp})
  try {
    return {
      kind: 'image',
      input: against,
      digest: topImageDigest(resolved.archive),
      manifests: platformImages(resolved.archive).map((i) => ({
        platform: i.platform,
        digest: i.manifest?.digest,
        configDigest: i.config.digest,
      })),
    }
  } finally {
    await resolved.cleanup()
  }
}

/** The inputs the attestation records: hashes of what the build read, never host paths. */
export async function collectInputs(
  build: BuildInput,
  results: BuildResult[],
  exec: Exec,
): Promise<VerificationInputs> {
  const context = path.resolve(build.cwd, build.context)
  const dockerfile = build.file ? path.resolve(build.cwd, build.file) : path.join(context, 'Dockerfile')
  const relDockerfile = path.relative(context, dockerfile)
  const ctx = await contextDigest(context, dockerfile)
  const buildContexts: VerificationInputs['buildContexts'] = []
  for (const text of build.buildContexts) {
    const c = parseBuildContext(text, build.cwd)
    if (c.kind === 'oci-layout')
      buildContexts.push({name: c.name, digest: c.digest ?? (await ociLayoutDigest(c.path, c.name))})
    else if (c.kind === 'dir') buildContexts.push({name: c.name, digest: (await contextDigest(c.path)).digest})
    else buildContexts.push({name: c.name, digest: c.value})
  }
  buildContexts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

  // hash files: the ones given to the build (--hashfile) and SHA256SUMS files in the context
  const given = (build.hashfiles ?? []).map((f) => path.resolve(build.cwd, f))
  const inContext = ctx.files > 0 ? await findHashFiles(context) : []
  const hashFiles: VerificationInputs['hashFiles'] = []
  for (const f of [...new Set([...given, ...inContext])]) {
    const rel = path.relative(context, f)
    hashFiles.push({path: rel.startsWith('..') ? path.basename(f) : rel, sha256: await sha256File(f)})
  }
  hashFiles.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))

  const first = results[0]
  const image = first.buildkitImage ?? null
  const imageDigest = image ? pinnedDigest(image) : null
  const imageId = image && !imageDigest ? await localImageId(first.runtime, image, exec) : null
  const runtimes: RuntimeVersion[] = []
  for (const r of results) {
    if (runtimes.some((x) => x.runtime === r.runtime)) continue
    const s = r.buildkitServed
    runtimes.push({
      runtime: r.runtime,
      version: r.runtimeVersion ?? null,
      buildkitVersion: r.buildkitVersion ?? null,
      // without `from`: it may name a host path (a unix socket)
      ...(s ? {buildkitServed: {version: s.version, imageDigest: s.imageDigest, pin: s.pin, pinned: s.pinned}} : {}),
    })
  }
  runtimes.sort((a, b) => (a.runtime < b.runtime ? -1 : 1))
  return {
    dockerfile: {
      path: relDockerfile.startsWith('..') ? path.basename(dockerfile) : relDockerfile,
      sha256: await sha256File(dockerfile),
    },
    context: {digest: ctx.digest, files: ctx.files, ignoreFile: ctx.ignoreFile ?? null},
    buildContexts,
    sourceDateEpoch: first.sourceDateEpoch,
    buildArgs: buildArgMap(build.buildArgs),
    target: build.target ?? null,
    platforms: [...build.platforms].sort(),
    format: build.format,
    secrets: build.secrets.map((s) => /(?:^|,)id=([^,]+)/.exec(s)?.[1] ?? '?').sort(),
    hashFiles,
    buildkit: {image, imageDigest, imageId, version: first.buildkitVersion ?? null},
    runtimes,
    lock: first.lock ? {...first.lock, path: relativeOrBase(context, first.lock.path)} : null,
  }
}

function relativeOrBase(context: string, file: string): string {
  const rel = path.relative(context, file)
  return rel.startsWith('..') ? path.basename(file) : rel
}

async function findHashFiles(context: string): Promise<string[]> {
  const {lines} = await contextLines(context)
  return lines
    .map((l) => l.split('\t'))
    .filter(([kind, , , rel]) => kind === 'file' && /(^|\/)[^/]*SHA256SUMS[^/]*$/i.test(rel))
    .map(([, , , rel]) => path.join(context, rel))
}

/** An unpinned BuildKit image: the id the local store has for it (docker: config digest, podman: manifest digest). */
async function localImageId(runtime: string, image: string, exec: Exec): Promise<string | null> {
  if (runtime !== 'docker' && runtime !== 'podman') return null
  const format = runtime === 'docker' ? '{{.Id}}' : '{{.Digest}}'
  const r = await exec([runtime, 'image', 'inspect', '--format', format, image], {reject: false}).catch(() => undefined)
  const id = r && r.exitCode === 0 ? r.stdout.trim() : ''
  return /^sha256:[a-f0-9]{64}$/.test(id) ? id : null
}
