/**
 * --verify: every referenced blob hashed against its digest and size, each layer's diff ID against its
 * decompressed bytes. Streams (bounded memory), layers in parallel; one read of each blob feeds both hashes.
 */
import type {ImageArchive, LayerInfo} from './archive.js'
import {createDecompressor} from './compression.js'
import {createDigester, type DigestAlgorithm, parseDigest} from './digest.js'
import {InflateGuard} from './limits.js'

export interface BlobCheck {
  actualDigest?: string
  actualDiffId?: string
  actualSize: number
  expectedDiffId?: string
  expectedDigest?: string
  expectedSize?: number
  kind: 'config' | 'index' | 'layer' | 'manifest'
  path: string
}

export interface Mismatch {
  actual: string
  expected: string
  field: 'diffId' | 'digest' | 'size'
  path: string
}

export interface VerifyResult {
  bytesHashed: number
  checked: number
  mismatches: Mismatch[]
  ok: boolean
  warnings: string[]
}

function algorithmOf(digest: string | undefined): DigestAlgorithm {
  return parseDigest(digest)?.algorithm ?? 'sha256'
}

/**
 * Hash a layer stream with its digest's algorithm; decompress on the side (zlib runs on the thread pool)
 * for the diff ID, within the decompression limits. The blob hash always completes, even when the bytes do
 * not decompress, so a corrupt blob reports its digest.
 */
async function hashLayer(
  stream: AsyncIterable<Buffer>,
  layer: LayerInfo,
  what: string,
): Promise<{decodeError?: string; diffId?: string; digest: string; size: number}> {
  const blobHash = createDigester(algorithmOf(layer.digest))
  let size = 0
  const dec = createDecompressor(layer.compression, what)
  if (!dec) {
    // uncompressed: the diff ID is the blob's digest, in the diff ID's own algorithm
    const diffAlg = algorithmOf(layer.diffId)
    const diffHash = diffAlg === algorithmOf(layer.digest) ? undefined : createDigester(diffAlg)
    for await (const chunk of stream) {
      blobHash.update(chunk)
      diffHash?.update(chunk)
      size += chunk.length
    }
    const digest = blobHash.digest()
    return {diffId: diffHash ? diffHash.digest() : digest, digest, size}
  }
  const diffHash = createDigester(algorithmOf(layer.diffId))
  const guard = new InflateGuard(what)
  let decodeError: string | undefined
  const fail = (message: string): void => {
    decodeError ??= message
    dec.destroy()
  }
  dec.on('data', (chunk: Buffer) => {
    if (decodeError !== undefined) return
    try {
      guard.output(chunk.length)
      diffHash.update(chunk)
    } catch (error) {
      fail((error as Error).message)
    }
  })
  const finished = new Promise<void>((resolve) => {
    dec.on('end', resolve)
    dec.on('close', resolve)
    dec.on('error', (error: Error) => {
      decodeError ??= error.message
      resolve()
    })
  })
  for await (const chunk of stream) {
    blobHash.update(chunk)
    size += chunk.length
    guard.input(chunk.length)
    if (decodeError === undefined && !dec.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          dec.off('drain', done)
          dec.off('error', done)
          dec.off('close', done)
          resolve()
        }
        dec.on('drain', done)
        dec.on('error', done)
        dec.on('close', done)
      })
    }
  }
  if (decodeError === undefined) dec.end()
  await finished
  const digest = blobHash.digest()
  return decodeError === undefined ? {diffId: diffHash.digest(), digest, size} : {decodeError, digest, size}
}

export async function verifyImageArchive(archive: ImageArchive, concurrency = 2): Promise<VerifyResult> {
  const mismatches: Mismatch[] = []
  const warnings: string[] = []
  let checked = 0
  let bytesHashed = 0
  // JSON blobs (indexes, manifests, configs) were checked against digest and size when read: count them.
  checked += archive.nestedIndexes.length
  for (const img of archive.images) checked += (img.manifest ? 1 : 0) + 1
  // a config whose diff IDs cannot be paired with the layers fails verification (one mismatch per config)
  const configs = new Set<string>()
  for (const img of archive.images) {
    const c = img.config
    if (!c.diffIdsProblem || configs.has(c.path)) continue
    configs.add(c.path)
    mismatches.push({actual: c.diffIdsProblem, expected: 'one diff ID string per layer', field: 'diffId', path: c.path})
  }
  // each distinct layer path once
  const layers = new Map<string, LayerInfo>()
  for (const img of archive.images) for (const l of img.layers) if (!layers.has(l.path)) layers.set(l.path, l)
  await archive.source.streamEntries(
    [...layers.keys()],
    async (path, stream) => {
      const layer = layers.get(path)!
      let result
      try {
        result = await hashLayer(stream, layer, `${archive.path}: layer ${path}`)
      } catch (error) {
        mismatches.push({
          actual: `undecodable (${(error as Error).message})`,
          expected: layer.compression,
          field: 'diffId',
          path,
        })
        return
      }
      checked++
      bytesHashed += result.size
      if (result.decodeError !== undefined)
        mismatches.push({
          actual: `does not decompress (${result.decodeError.slice(0, 300)})`,
          expected: `a ${layer.compression} stream`,
          field: 'diffId',
          path,
        })
      if (result.size !== layer.size)
        mismatches.push({actual: String(result.size), expected: String(layer.size), field: 'size', path})
      if (layer.digest && result.digest !== layer.digest) {
        mismatches.push({actual: result.digest, expected: layer.digest, field: 'digest', path})
      }
      if (!layer.digest) layer.digest = result.digest
      if (result.diffId && layer.diffId && result.diffId !== layer.diffId) {
        mismatches.push({actual: result.diffId, expected: layer.diffId, field: 'diffId', path})
      }
    },
    concurrency,
  )
  mismatches.sort((a, b) => a.path.localeCompare(b.path) || a.field.localeCompare(b.field))
  return {bytesHashed, checked, mismatches, ok: mismatches.length === 0, warnings}
}
