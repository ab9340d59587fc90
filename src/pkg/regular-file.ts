/**
 * Opening files that are named by input we do not control (hash files, file:// provider paths) so that they
 * cannot hang or flood us: only regular files are opened (a FIFO would block open(2) and read forever,
 * /dev/zero never ends, a directory or socket is no package), the type and size are checked by stat before
 * the open and by fstat on the open descriptor after it (O_NONBLOCK, so a FIFO swapped in between does not
 * block), and every read is bounded by a cap.
 */
import {constants, type Stats} from 'node:fs'
import {type FileHandle, open, realpath, stat} from 'node:fs/promises'
import {sep} from 'node:path'

/** Why a file was not opened; `missing` is true when it does not exist (a provider falls through quietly). */
export class RegularFileError extends Error {
  constructor(
    readonly reason: string,
    readonly missing = false,
  ) {
    super(reason)
  }
}

export function describeType(st: Stats): string {
  if (st.isFile()) return 'a regular file'
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  if (st.isSocket()) return 'a socket'
  return 'not a regular file'
}

/** 2147483648 → "2 GiB" (for messages about caps). */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const)
    if (n >= size && n % size === 0) return `${n / size} ${unit}`
  return `${n} bytes`
}

function errnoReason(error: unknown): RegularFileError {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return new RegularFileError('no such file', true)
  return new RegularFileError(code ?? (error as Error).message)
}

function checkStats(st: Stats, maxBytes: number): void {
  if (!st.isFile()) throw new RegularFileError(`not a regular file (${describeType(st)})`)
  if (st.size > maxBytes) throw new RegularFileError(`${st.size} bytes, over the cap of ${formatBytes(maxBytes)}`)
}

/**
 * Open a regular file of at most `maxBytes` for reading. Throws RegularFileError (with `missing` for
 * ENOENT) for anything else: FIFOs, devices, directories, sockets, files over the cap.
 */
export async function openRegularFile(
  path: string,
  maxBytes: number,
  options: {noFollow?: boolean} = {},
): Promise<{fh: FileHandle; size: number}> {
  let before: Stats
  try {
    before = await stat(path)
  } catch (error) {
    throw errnoReason(error)
  }
  checkStats(before, maxBytes)
  let fh: FileHandle
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0))
  } catch (error) {
    throw errnoReason(error)
  }
  try {
    const st = await fh.stat()
    checkStats(st, maxBytes)
    if (st.ino !== before.ino || st.dev !== before.dev)
      throw new RegularFileError('the file was replaced while it was being opened')
    return {fh, size: st.size}
  } catch (error) {
    await fh.close().catch(() => {})
    throw error instanceof RegularFileError ? error : errnoReason(error)
  }
}

/**
 * openRegularFile for a path that must stay under `root` after every symlink is resolved (file:// providers):
 * the real path of the file must be inside the real path of the root, and the final open does not follow a
 * symlink (one swapped in after the check is refused).
 */
export async function openConfinedRegularFile(
  path: string,
  root: string,
  maxBytes: number,
): Promise<{fh: FileHandle; size: number; realPath: string}> {
  let realRoot: string
  try {
    realRoot = await realpath(root)
  } catch (error) {
    const e = errnoReason(error)
    throw e.missing ? new RegularFileError(`the provider's root ${root} does not exist`, true) : e
  }
  let real: string
  try {
    real = await realpath(path)
  } catch (error) {
    throw errnoReason(error)
  }
  const inside = realRoot === sep ? real.startsWith(sep) : real.startsWith(realRoot + sep)
  if (!inside) throw new RegularFileError(`resolves (through a symlink) outside the provider's root ${root}`)
  return {...(await openRegularFile(real, maxBytes, {noFollow: true})), realPath: real}
}

/**
 * The bytes of an open file in chunks, reading no more than `maxBytes + 1` (the file may grow after fstat):
 * a plain read loop, no stream, so no 'error' event can fire without a listener.
 */
export async function* readChunks(fh: FileHandle, maxBytes: number, chunkSize = 1 << 20): AsyncGenerator<Buffer> {
  let total = 0
  for (;;) {
    const buf = Buffer.allocUnsafe(chunkSize)
    const {bytesRead} = await fh.read(buf, 0, chunkSize, null)
    if (bytesRead === 0) return
    total += bytesRead
    if (total > maxBytes) throw new RegularFileError(`grew over the cap of ${formatBytes(maxBytes)} while being read`)
    yield bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead)
  }
}

/** Read a whole regular file of at most `maxBytes`. */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  const {fh, size} = await openRegularFile(path, maxBytes)
  try {
    const parts: Buffer[] = []
    for await (const chunk of readChunks(fh, maxBytes, Math.min(Math.max(size, 1), 1 << 20) + 1)) parts.push(chunk)
    return Buffer.concat(parts)
  } finally {
    await fh.close()
  }
}
