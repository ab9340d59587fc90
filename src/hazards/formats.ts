/**
 * The few bytes of binary formats that carry the build clock: the gzip header's MTIME (RFC 1952), zip
 * entry times (central directory: DOS date/time and the 0x5455 extended timestamp), and the .pyc header
 * (PEP 552). Pure functions over a file's first or last bytes; corrupt input returns undefined (a file in
 * an image is judged, never trusted), it never throws.
 *
 * Hand-written, not a zip library: we read only the central directory out of a bounded tail buffer the
 * layer stream already holds, with a hard cap on entries; a library would want the whole file and a seekable
 * source.
 */

/** gzip: the MTIME field of the first member's header (0: none). undefined when not gzip. */
export function gzipMtime(head: Buffer): number | undefined {
  if (head.length < 10 || head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 0x08) return undefined
  // reserved flag bits set: not a gzip header a decoder accepts
  if ((head[3] & 0xe0) !== 0) return undefined
  return head.readUInt32LE(4)
}

export interface ZipEntryTime {
  name: string
  /** seconds since the epoch (DOS times are local time without a zone: read as UTC) */
  seconds: number
  source: 'dos' | 'extended'
}

export interface ZipTimes {
  entries: number
  /** entries with their times, at most `max` */
  times: ZipEntryTime[]
}

/** The DOS minimum, 1980-01-01 00:00:00: what reproducible zip writers use for "no time". */
export const DOS_EPOCH = 315_532_800

function dosSeconds(time: number, date: number): number | undefined {
  const year = 1980 + (date >> 9)
  const month = (date >> 5) & 0x0f
  const day = date & 0x1f
  const hour = time >> 11
  const minute = (time >> 5) & 0x3f
  const second = (time & 0x1f) * 2
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000
}

/**
 * Zip entry times from the end of a zip file: `tail` holds the file's last bytes, `size` its whole size.
 * undefined when the end of central directory record is missing, points outside the file or the tail, or an
 * entry overruns it (corrupt, zip64 or a central directory larger than the tail).
 */
export function zipEntryTimes(tail: Buffer, size: number, max = 100_000): ZipTimes | undefined {
  const tailStart = size - tail.length
  // the EOCD is 22 bytes plus a comment of at most 65535 bytes
  const lowest = Math.max(0, tail.length - 22 - 0xffff)
  let eocd = -1
  for (let i = tail.length - 22; i >= lowest; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i
      break
    }
  }
  if (eocd < 0) return undefined
  const count = tail.readUInt16LE(eocd + 10)
  const cdSize = tail.readUInt32LE(eocd + 12)
  const cdOffset = tail.readUInt32LE(eocd + 16)
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) return undefined // zip64
  if (cdOffset + cdSize > tailStart + eocd) return undefined
  let p = cdOffset - tailStart
  if (p < 0) return undefined
  const end = p + cdSize
  const times: ZipEntryTime[] = []
  let entries = 0
  while (entries < count) {
    if (p + 46 > end || tail.readUInt32LE(p) !== 0x02014b50) return undefined
    const time = tail.readUInt16LE(p + 12)
    const date = tail.readUInt16LE(p + 14)
    const nameLen = tail.readUInt16LE(p + 28)
    const extraLen = tail.readUInt16LE(p + 30)
    const commentLen = tail.readUInt16LE(p + 32)
    const next = p + 46 + nameLen + extraLen + commentLen
    if (next > end) return undefined
    const name = tail.toString('utf8', p + 46, p + 46 + nameLen)
    let seconds: number | undefined
    let source: ZipEntryTime['source'] = 'dos'
    // extra fields: 0x5455 (extended timestamp) holds a UTC mtime when its flag bit 0 is set
    let x = p + 46 + nameLen
    const xEnd = x + extraLen
    while (x + 4 <= xEnd) {
      const id = tail.readUInt16LE(x)
      const len = tail.readUInt16LE(x + 2)
      if (x + 4 + len > xEnd) break
      if (id === 0x5455 && len >= 5 && (tail[x + 4] & 1) === 1) {
        seconds = tail.readUInt32LE(x + 5)
        source = 'extended'
      }
      x += 4 + len
    }
    seconds ??= dosSeconds(time, date)
    entries++
    if (seconds !== undefined && times.length < max) times.push({name, seconds, source})
    p = next
  }
  return {entries, times}
}

export interface PycHeader {
  /** the magic number (little-endian u16 before \r\n) */
  magic: number
  invalidation: 'checked-hash' | 'timestamp' | 'unchecked-hash'
  /** timestamp invalidation: the source file's mtime */
  sourceMtime?: number
}

/**
 * A .pyc header: the magic ends in \r\n; from Python 3.7 (magic 3390) a flags word follows (PEP 552: bit 0
 * hash-based, bit 1 check_source), then the source mtime (timestamp mode). undefined for garbage.
 */
export function pycHeader(head: Buffer): PycHeader | undefined {
  if (head.length < 8 || head[2] !== 0x0d || head[3] !== 0x0a) return undefined
  const magic = head.readUInt16LE(0)
  // CPython 3 magic numbers start at 3000 (3.0) and stay below 4000 through 3.14
  if (magic < 3000 || magic >= 4000) return undefined
  if (magic < 3390) return {magic, invalidation: 'timestamp', sourceMtime: head.readUInt32LE(4)}
  if (head.length < 12) return undefined
  const flags = head.readUInt32LE(4)
  if (flags > 3) return undefined
  if (flags & 1) return {magic, invalidation: flags & 2 ? 'checked-hash' : 'unchecked-hash'}
  return {magic, invalidation: 'timestamp', sourceMtime: head.readUInt32LE(8)}
}
