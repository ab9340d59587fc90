/**
 * Decompression of distro metadata by file extension: gzip (node:zlib), LZ4 frames (pure, below: apt stores
 * its lists as .lz4 on Debian), and xz/zstd through the `xz`/`zstd` programs via the Exec seam (node 20 has
 * neither built in).
 */
import {gunzipSync} from 'node:zlib'

import {ReproError} from '../errors.js'
import type {Exec} from '../exec.js'

export class DecompressError extends ReproError {
  constructor(message: string) {
    super('E_DECOMPRESS', message)
  }
}

/**
 * Decompress an LZ4 frame stream (one or more frames, skippable frames ignored). `maxBytes` bounds the output
 * (hostile frames: a claimed content size or blocks beyond it are refused before the memory is taken).
 */
export function lz4Decompress(input: Uint8Array, what = 'lz4 data', maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
  const tooBig = (): DecompressError => new DecompressError(`${what}: decompresses to more than ${maxBytes} bytes`)
  let out = Buffer.allocUnsafe(Math.max(1 << 16, input.length * 4))
  let o = 0
  const ensure = (extra: number): void => {
    if (o + extra <= out.length) return
    let size = out.length * 2
    while (size < o + extra) size *= 2
    const bigger = Buffer.allocUnsafe(size)
    out.copy(bigger, 0, 0, o)
    out = bigger
  }
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  let p = 0
  const need = (n: number): void => {
    if (p + n > input.length) throw new DecompressError(`${what}: truncated LZ4 data at byte ${p}`)
  }
  const blockMax = [0, 0, 0, 0, 1 << 16, 1 << 18, 1 << 20, 1 << 22]
  while (p < input.length) {
    need(4)
    const magic = view.getUint32(p, true)
    p += 4
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      need(4)
      p += 4 + view.getUint32(p, true)
      continue
    }
    if (magic !== 0x184d2204) throw new DecompressError(`${what}: not an LZ4 frame (magic ${magic.toString(16)})`)
    need(2)
    const flg = input[p]
    const maxBlock = blockMax[(input[p + 1] >> 4) & 7] || 1 << 22
    p += 2
    if (flg >> 6 !== 1) throw new DecompressError(`${what}: unsupported LZ4 frame version`)
    if (flg & 0x08) {
      need(8)
      const contentSize = Number(view.getBigUint64(p, true))
      if (o + contentSize > maxBytes) throw tooBig()
      ensure(contentSize)
      p += 8
    }
    if (flg & 0x01) p += 4
    p += 1 // header checksum
    for (;;) {
      need(4)
      const word = view.getUint32(p, true)
      p += 4
      if (word === 0) break
      const size = word & 0x7fffffff
      need(size)
      ensure(maxBlock)
      if (word & 0x80000000) {
        out.set(input.subarray(p, p + size), o)
        o += size
      } else {
        o = decodeBlock(input, p, p + size, out, o, what)
      }
      if (o > maxBytes) throw tooBig()
      p += size
      if (flg & 0x10) p += 4
    }
    if (flg & 0x04) p += 4
  }
  return out.subarray(0, o)
}

/** One LZ4 block into `out` at `o` (room for a whole block is ensured by the caller); returns the new end. */
function decodeBlock(src: Uint8Array, start: number, end: number, out: Buffer, o: number, what: string): number {
  let p = start
  while (p < end) {
    const token = src[p++]
    let lit = token >> 4
    if (lit === 15) {
      let b: number
      do {
        b = src[p++]
        lit += b
      } while (b === 255 && p < end)
    }
    if (lit) {
      if (lit < 16) for (let k = 0; k < lit; k++) out[o++] = src[p++]
      else {
        out.set(src.subarray(p, p + lit), o)
        o += lit
        p += lit
      }
    }
    if (p >= end) break // the last sequence has literals only
    const offset = src[p] | (src[p + 1] << 8)
    p += 2
    if (offset === 0 || offset > o) throw new DecompressError(`${what}: corrupt LZ4 block (bad match offset)`)
    let len = token & 15
    if (len === 15) {
      let b: number
      do {
        b = src[p++]
        len += b
      } while (b === 255 && p < end)
    }
    len += 4
    let from = o - offset
    if (len < 32 || offset < len) {
      for (let k = 0; k < len; k++) out[o++] = out[from++]
    } else {
      out.copyWithin(o, from, from + len)
      o += len
    }
  }
  return o
}

/**
 * Decompress a metadata file's bytes by its name's extension. `maxBytes` bounds the output: gzip and LZ4 stop
 * before taking more memory; an external program is killed once its output passes the bound.
 */
export async function decompressByName(
  file: string,
  data: Buffer,
  exec?: Exec,
  options: {maxBytes?: number} = {},
): Promise<Buffer> {
  const max = options.maxBytes ?? Number.MAX_SAFE_INTEGER
  const tooBig = (): DecompressError => new DecompressError(`${file}: decompresses to more than ${max} bytes`)
  if (file.endsWith('.gz')) {
    let out: Buffer
    try {
      out = gunzipSync(data, options.maxBytes === undefined ? {} : {maxOutputLength: Math.max(1, max)})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooBig()
      throw new DecompressError(`${file}: not valid gzip data: ${(error as Error).message}`)
    }
    if (out.length > max) throw tooBig()
    return out
  }
  if (file.endsWith('.lz4')) return lz4Decompress(data, file, max)
  const tool = file.endsWith('.xz')
    ? 'xz'
    : file.endsWith('.zst')
      ? 'zstd'
      : file.endsWith('.bz2')
        ? 'bzip2'
        : undefined
  if (!tool) {
    if (data.length > max) throw tooBig()
    return data
  }
  if (!exec) throw new DecompressError(`${file}: ${tool} data needs the ${tool} program`)
  // the metadata (Packages, primary.xml, a tar of text files) is text, so the Exec seam's utf8 stdout is fine
  const r = await exec([tool, '-dc'], {
    input: data,
    reject: false,
    maxStdoutBytes: options.maxBytes === undefined ? undefined : max,
  })
  if (r.stdoutLimitHit) throw tooBig()
  if (r.notFound) throw new DecompressError(`${file}: cannot decompress: the ${tool} program is not installed`)
  if (r.exitCode !== 0)
    throw new DecompressError(`${file}: ${tool} -dc failed: ${r.stderr.trim().split('\n').at(-1) ?? ''}`)
  const out = Buffer.from(r.stdout, 'utf8')
  if (out.length > max) throw tooBig()
  return out
}
