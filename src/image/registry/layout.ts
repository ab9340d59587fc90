/**
 * A registry image as an OCI layout directory, so analyze, diff and verify read it with the same archive
 * reader as any tarball: the top manifest or index, the chosen platforms' manifests (and their BuildKit
 * attestation manifests), configs and layers, each verified against its descriptor while it streams.
 */
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {InvalidArgumentError} from '../../errors.js'
import {blobPath, parseDigest} from '../digest.js'
import {isIndexMediaType, MT} from '../media-types.js'
import {type Descriptor, type Manifest, type Repository} from './client.js'
import {RegistryError} from './errors.js'
import type {ImageReference} from './reference.js'
import {mapLimit} from '../../pool.js'

/** More than this many platforms in one index, or layers in one manifest, is not an image we pull. */
export const MAX_INDEX_ENTRIES = 1024
export const MAX_LAYERS = 4096

export interface PullOptions {
  /** only this platform's manifest (os/arch[/variant]) and its attestations */
  platform?: string
  /** blobs fetched at once */
  concurrency?: number
}

export interface PullResult {
  digest: string
  mediaType: string
  blobs: number
  bytes: number
}

function platformOf(d: Descriptor): string {
  const p = d.platform
  return p?.os && p.architecture ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown'
}

function descriptors(subject: string, m: Manifest, key: 'layers' | 'manifests', max: number): Descriptor[] {
  const list = m.json[key]
  if (list === undefined && key === 'layers') return []
  if (!Array.isArray(list)) throw new RegistryError(`${subject}: manifest ${m.digest} has no ${key} array`)
  if (list.length > max)
    throw new RegistryError(`${subject}: manifest ${m.digest} lists ${list.length} ${key}, more than ${max}`)
  return list.map((d) => checkDescriptor(subject, m, d))
}

function checkDescriptor(subject: string, m: Manifest, d: unknown): Descriptor {
  const x = d as Partial<Descriptor> | undefined
  if (!x || typeof x !== 'object' || !parseDigest(x.digest))
    throw new RegistryError(
      `${subject}: manifest ${m.digest} lists an invalid digest ${JSON.stringify(x?.digest ?? null).slice(0, 140)}`,
    )
  if (!Number.isSafeInteger(x.size) || (x.size as number) < 0)
    throw new RegistryError(`${subject}: manifest ${m.digest} lists ${x.digest} with an invalid size`)
  return x as Descriptor
}

/** Fetch `ref` (every platform, or one) into the OCI layout directory `dir` (created). */
export async function pullToLayout(
  repo: Repository,
  ref: ImageReference,
  dir: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const subject = repo.subject
  let bytes = 0
  let count = 0
  const written = new Set<string>()
  const writeBlob = async (digest: string, data: Buffer): Promise<void> => {
    const file = path.join(dir, blobPath(parseDigest(digest)!))
    await mkdir(path.dirname(file), {recursive: true})
    await writeFile(file, data)
    written.add(digest)
    bytes += data.length
    count++
  }
  const top = await repo.getManifest(ref.digest ?? ref.tag!)
  await writeBlob(top.digest, top.bytes)
  const manifests: Manifest[] = []
  if (isIndexMediaType(top.mediaType)) {
    const children = descriptors(subject, top, 'manifests', MAX_INDEX_ENTRIES)
    const wanted = children.filter((d) => !options.platform || platformOf(d) === options.platform)
    if (wanted.length === 0)
      throw new InvalidArgumentError(
        `--platform ${options.platform}: ${ref.input} has no such platform (it has ${children.map(platformOf).join(', ')})`,
      )
    const wantedDigests = new Set(wanted.map((d) => d.digest))
    const attestations = children.filter(
      (d) =>
        d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' &&
        wantedDigests.has(d.annotations['vnd.docker.reference.digest']),
    )
    for (const d of [...new Set([...wanted, ...attestations])]) {
      if (written.has(d.digest)) continue
      const m = await repo.getManifest(d.digest, d)
      if (isIndexMediaType(m.mediaType))
        throw new RegistryError(`${subject}: nested indexes deeper than one level are not supported (${d.digest})`)
      await writeBlob(m.digest, m.bytes)
      manifests.push(m)
    }
  } else {
    manifests.push(top)
  }
  const blobs = new Map<string, Descriptor>()
  for (const m of manifests) {
    if (m.json.config === undefined) throw new RegistryError(`${subject}: manifest ${m.digest} has no config`)
    const config = checkDescriptor(subject, m, m.json.config)
    for (const d of [config, ...descriptors(subject, m, 'layers', MAX_LAYERS)]) {
      const seen = blobs.get(d.digest)
      if (seen && seen.size !== d.size)
        throw new RegistryError(`${subject}: blob ${d.digest} is listed with two sizes (${seen.size}, ${d.size})`)
      blobs.set(d.digest, d)
    }
  }
  const todo = [...blobs.values()].filter((d) => !written.has(d.digest)).sort((a, b) => (a.digest < b.digest ? -1 : 1))
  for (const d of todo) await mkdir(path.join(dir, 'blobs', parseDigest(d.digest)!.algorithm), {recursive: true})
  await mapLimit(todo, options.concurrency ?? 4, async (d) => {
    await repo.fetchBlob(d, path.join(dir, blobPath(parseDigest(d.digest)!)))
    bytes += d.size
    count++
  })
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [{mediaType: top.mediaType, digest: top.digest, size: top.bytes.length}],
  }
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index))
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({imageLayoutVersion: '1.0.0'}))
  return {digest: top.digest, mediaType: top.mediaType, blobs: count, bytes}
}
