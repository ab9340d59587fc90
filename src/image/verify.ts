/**
 * --verify: every referenced blob hashed against its digest and size, each layer's diff ID against its
 * decompressed bytes. Streams (bounded memory), layers in parallel; one read of each blob feeds both hashes.
 */
import {createHash} from 'node:crypto'
import type {Transform} from 'node:stream'
import * as zlib from 'node:zlib'

import type {ImageArchive, LayerInfo} from './archive.js'

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

type ZlibWithZstd = typeof zlib & {createZstdDecompress?: () => Transform}

function decompressor(compression: LayerInfo['compression']): Transform | undefined | 'unsupported' {
  if (compression === 'gzip') return zlib.createGunzip()
  if (compression === 'zstd') {
    const z = zlib as ZlibWithZstd
    return typeof z.createZstdDecompress === 'function' ? z.createZstdDecompress() : 'unsupported'
  }
  return undefined
}

/**
 * Hash a layer stream; decompress on the side (zlib runs on the thread pool) for the diff ID. The blob
 * hash always completes, even when the bytes do not decompress, so a corrupt blob reports its digest.
 */
async function hashLayer(
  stream: AsyncIterable<Buffer>,
  compression: LayerInfo['compression'],
): Promise<{decodeError?: string; diffId?: string; digest: string; note?: string; size: number}> {
  const blobHash = createHash('sha256')
  const dec = decompressor(compression)
  let size = 0
  if (dec === undefined || dec === 'unsupported') {
    for await (const chunk of stream) {
      blobHash.update(chunk)
      size += chunk.length
    }
    const digest = `sha256:${blobHash.digest('hex')}`
    return dec === undefined
      ? {diffId: digest, digest, size}
      : {digest, note: 'this Node.js has no zstd decompressor: diff ID not checked', size}
  }
  const diffHash = createHash('sha256')
  let decodeError: string | undefined
  dec.on('data', (chunk: Buffer) => diffHash.update(chunk))
  const finished = new Promise<void>((resolve) => {
    dec.on('end', resolve)
    dec.on('error', (error: Error) => {
      decodeError ??= error.message
      resolve()
    })
  })
  for await (const chunk of stream) {
    blobHash.update(chunk)
    size += chunk.length
    if (decodeError === undefined && !dec.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          dec.off('drain', done)
          dec.off('error', done)
          resolve()
        }
        dec.on('drain', done)
        dec.on('error', done)
      })
    }
  }
  if (decodeError === undefined) dec.end()
  await finished
  const digest = `sha256:${blobHash.digest('hex')}`
  return decodeError === undefined
    ? {diffId: `sha256:${diffHash.digest('hex')}`, digest, size}
    : {decodeError, digest, size}
}

export async function verifyImageArchive(archive: ImageArchive, concurrency = 2): Promise<VerifyResult> {
  const mismatches: Mismatch[] = []
  const warnings: string[] = []
  let checked = 0
  let bytesHashed = 0
  // JSON blobs (indexes, manifests, configs) were checked against digest and size when read: count them.
  checked += archive.nestedIndexes.length
  for (const img of archive.images) checked += (img.manifest ? 1 : 0) + 1
  // each distinct layer path once
  const layers = new Map<string, LayerInfo>()
  for (const img of archive.images) for (const l of img.layers) if (!layers.has(l.path)) layers.set(l.path, l)
  await archive.source.streamEntries(
    [...layers.keys()],
    async (path, stream) => {
      const layer = layers.get(path)!
      let result
      try {
        result = await hashLayer(stream, layer.compression)
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
      if (result.note) warnings.push(`${path}: ${result.note}`)
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
