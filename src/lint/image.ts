/**
 * `repro lint IMAGE`: the image hazards of src/hazards as lint findings (rules RL101…), and how a target is
 * told apart: an image reference with a scheme (docker://, podman://, registry://), an OCI layout directory
 * (an `oci-layout` file, or index.json and blobs/ without a Dockerfile), or a file that is a tar, a gzip or a zstd stream (a Dockerfile
 * is none of these); everything else is a CONTEXT or a Dockerfile. `--image` makes every target an image
 * (a registry reference without a scheme needs it).
 */
import {closeSync, existsSync, openSync, readSync, statSync} from 'node:fs'
import path from 'node:path'

import {resolveInput, type ResolvedInput} from '../diff/inputs.js'
import {InvalidArgumentError} from '../errors.js'
import type {Exec} from '../exec.js'
import {platformImages} from '../image/archive.js'
import {HAZARD} from '../hazards/detectors.js'
import {scanImageHazards} from '../hazards/scan.js'
import type {Logger} from '../log.js'
import {findRule, imageRuleName} from './rules/index.js'
import type {Finding, ImageLintOptions, LintFileResult} from './types.js'

const SCHEME = /^(docker|podman|registry):\/\//

/** Is this target an image input (not a build context or a Dockerfile)? */
export function isImageTarget(target: string, cwd: string, forceImage = false): boolean {
  if (forceImage || SCHEME.test(target)) return true
  const abs = path.resolve(cwd, target)
  let st
  try {
    st = statSync(abs)
  } catch {
    return false
  }
  if (st.isDirectory()) {
    if (existsSync(path.join(abs, 'oci-layout'))) return true
    // index.json alone could be a project file in a build context: a layout also has blobs/ and no Dockerfile
    return (
      existsSync(path.join(abs, 'index.json')) &&
      existsSync(path.join(abs, 'blobs')) &&
      !existsSync(path.join(abs, 'Dockerfile')) &&
      !existsSync(path.join(abs, 'Containerfile'))
    )
  }
  if (!st.isFile() || st.size < 4) return false
  const head = Buffer.alloc(512)
  const fd = openSync(abs, 'r')
  let n: number
  try {
    n = readSync(fd, head, 0, 512, 0)
  } finally {
    closeSync(fd)
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return true
  if (n >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return true
  // a tar header: "ustar" at offset 257 (POSIX and GNU), or a v7 header whose checksum adds up
  if (n === 512 && head.toString('latin1', 257, 262) === 'ustar') return true
  return n === 512 && v7Checksum(head)
}

function v7Checksum(h: Buffer): boolean {
  const field = h.toString('latin1', 148, 156).replace(/\0.*$/, '').trim()
  if (!/^[0-7]{1,7}$/.test(field)) return false
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]
  return sum === Number.parseInt(field, 8)
}

export interface ImageLintContext extends ImageLintOptions {
  exec: Exec
  logger?: Logger
  disabled: ReadonlySet<string>
}

/** The diff IDs of the base image's layers (of the platform asked for, else the only image). */
async function baseLayers(base: string, ctx: ImageLintContext): Promise<string[]> {
  const resolved = await resolveInput(base, {exec: ctx.exec, logger: ctx.logger, plainHttp: ctx.plainHttp})
  try {
    const images = platformImages(resolved.archive)
    const img = (ctx.platform ? images.find((i) => i.platform === ctx.platform) : undefined) ?? images[0]
    if (!img) throw new InvalidArgumentError(`--base ${base}: holds no image`)
    return img.layers.map((l) => l.diffId ?? '')
  } finally {
    await resolved.cleanup()
  }
}

/** Scan one image input and turn its hazards into findings. Errors name the input (exit 2). */
export async function lintImage(target: string, ctx: ImageLintContext): Promise<LintFileResult> {
  const base = ctx.base ? await baseLayers(ctx.base, ctx) : undefined
  let resolved: ResolvedInput | undefined
  try {
    resolved = await resolveInput(target, {exec: ctx.exec, logger: ctx.logger, plainHttp: ctx.plainHttp})
    const archive = resolved.archive
    if (ctx.platform && !platformImages(archive).some((i) => i.platform === ctx.platform)) {
      throw new InvalidArgumentError(
        `--platform ${ctx.platform}: ${target} has no such platform (it has ${platformImages(archive)
          .map((i) => i.platform)
          .join(', ')})`,
      )
    }
    const scans = await scanImageHazards(archive, {
      sde: ctx.sde,
      now: ctx.now ?? Math.floor(Date.now() / 1000),
      hostnames: ctx.hostnames,
      platform: ctx.platform,
      baseLayers: base,
      allLayers: ctx.allLayers,
    })
    const findings: Finding[] = []
    for (const scan of scans) {
      for (const h of scan.hazards) {
        const rule = findRule(imageRuleName(h.id))!
        if (ctx.disabled.has(rule.id)) continue
        findings.push({
          rule: rule.id,
          name: rule.name,
          severity: rule.severity,
          file: target,
          line: h.line ?? 1,
          column: h.column ?? 1,
          message: `/${h.path}: ${h.message}`,
          fix: HAZARD[h.id].fix,
          image: {path: h.path, platform: h.platform, layer: h.layer, layerDigest: h.layerDigest},
        })
      }
    }
    const multi = scans.length > 1
    return {
      file: target,
      context: '',
      kind: 'image',
      findings,
      suppressed: 0,
      scans: scans.map((s) => ({
        platform: s.platform,
        sde: s.sde,
        sdeSource: s.sdeSource,
        hostnames: s.hostnames,
        ...s.stats,
      })),
      warnings: scans.flatMap((s) => s.warnings.map((w) => (multi ? `${s.platform}: ${w}` : w))),
    }
  } finally {
    await resolved?.cleanup()
  }
}
