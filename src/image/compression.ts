/**
 * Decompression of layer blobs and compressed archives, streaming, with the ratio and size limits of
 * limits.ts: gzip through node:zlib (on the thread pool), zstd through node:zlib when this Node.js has it
 * (>= 22.15), else through the `zstd` program (as src/pkg/decompress.ts does for package metadata).
 */
import {spawn} from 'node:child_process'
import {Duplex, Readable, type Transform} from 'node:stream'
import * as zlib from 'node:zlib'

import {ReproError} from '../errors.js'
import {InflateGuard} from './limits.js'
import type {Compression} from './media-types.js'

type ZlibWithZstd = typeof zlib & {createZstdDecompress?: () => Transform}

/**
 * `zstd -dc` as a duplex stream. Not through the Exec seam (src/exec.ts): that seam buffers a child's
 * whole stdout as UTF-8 text, and a layer is gigabytes of binary. argv is still a fixed string[].
 */
function zstdProgram(what: string): Duplex {
  const child = spawn('zstd', ['-dcq'], {stdio: ['pipe', 'pipe', 'pipe']})
  const stderr: Buffer[] = []
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 16) stderr.push(d)
  })
  child.stdin.on('error', () => {}) // the child may exit before reading all of its input
  const duplex = Duplex.from({readable: child.stdout, writable: child.stdin})
  child.on('error', (error: NodeJS.ErrnoException) => {
    duplex.destroy(
      error.code === 'ENOENT'
        ? new ReproError('E_UNSUPPORTED', `${what}: zstd-compressed, and the zstd program is not installed`, {
            suggestions: ['install zstd (apt-get install zstd), or use Node.js >= 22.15'],
          })
        : error,
    )
  })
  child.on('close', (code) => {
    if (code !== 0 && code !== null) {
      const msg = Buffer.concat(stderr).toString('utf8').trim().split('\n').at(-1) ?? ''
      duplex.destroy(new Error(`zstd: ${msg || `exit code ${code}`}`))
    }
  })
  duplex.on('close', () => {
    if (child.exitCode === null) child.kill()
  })
  return duplex
}

/** A decompressor for `compression`, or undefined when the bytes are used as they are. */
export function createDecompressor(compression: Compression, what: string): Duplex | undefined {
  if (compression === 'gzip') return zlib.createGunzip({chunkSize: 256 * 1024})
  if (compression === 'zstd') {
    const z = zlib as ZlibWithZstd
    return typeof z.createZstdDecompress === 'function' ? z.createZstdDecompress() : zstdProgram(what)
  }
  return undefined
}

/**
 * The decompressed bytes of a stream, checked against the decompression limits (ArchiveLimitError
 * naming `what`). Stops the decompressor when the consumer stops early.
 */
export async function* decompressed(
  stream: AsyncIterable<Buffer>,
  compression: Compression,
  what: string,
): AsyncGenerator<Buffer> {
  const dec = createDecompressor(compression, what)
  if (!dec) {
    yield* stream
    return
  }
  const guard = new InflateGuard(what)
  const input = stream instanceof Readable ? stream : Readable.from(stream, {objectMode: false})
  const counted = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      guard.input((chunk as Buffer).length)
      yield chunk as Buffer
    }
  }
  const source = Readable.from(counted(), {objectMode: false})
  source.on('error', (error) => dec.destroy(error))
  source.pipe(dec)
  try {
    for await (const chunk of dec) {
      guard.output((chunk as Buffer).length)
      yield chunk as Buffer
    }
  } finally {
    source.unpipe(dec)
    source.destroy()
    dec.destroy()
  }
}
