/**
 * Tar header blocks (ustar, GNU base-256 numbers, pax records): the block-level half of the one tar parser
 * (src/image/tar.ts holds the entry-level half and its seeking, streaming and in-memory drivers).
 *
 * Why our own and not node-tar's Parser: node-tar reads archives as a stream, so listing a 2 GB image
 * archive means reading 2 GB. Analyze only needs the headers and a few small JSON entries, so we seek
 * from header to header (bench/analyze.ts shows the time is independent of layer size). node-tar also
 * drops SCHILY.xattr.* and unknown pax records and masks the mode, which diff must see.
 */
export const BLOCK = 512

export interface TarHeader {
  name: string
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  type: string
  linkname: string
  uname: string
  gname: string
  magic: string
}

export type HeaderResult = {header: TarHeader; kind: 'header'} | {kind: 'end'} | {kind: 'invalid'; reason: string}

function cstring(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len)
  const nul = slice.indexOf(0)
  return slice.subarray(0, nul === -1 ? slice.length : nul).toString('utf8')
}

/** Numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
export function parseNumeric(buf: Buffer, start: number, len: number): number | undefined {
  const slice = buf.subarray(start, start + len)
  if (slice[0] & 0x80) {
    let value = 0
    for (let i = 1; i < slice.length; i++) value = value * 256 + slice[i]
    // the remaining 7 bits of the first byte
    value += (slice[0] & 0x7f) * 256 ** (slice.length - 1)
    return Number.isSafeInteger(value) ? value : undefined
  }
  const text = cstring(buf, start, len).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) return undefined
  return Number.parseInt(text, 8)
}

export function isZeroBlock(buf: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (buf[i] !== 0) return false
  return true
}

export function headerChecksumOk(buf: Buffer): boolean {
  const stored = parseNumeric(buf, 148, 8)
  if (stored === undefined) return false
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : buf[i]
  return sum === stored
}

/** `checksum: false` only for in-memory metadata tars whose writers leave the checksum empty. */
export function parseTarHeader(buf: Buffer, options: {checksum?: boolean} = {}): HeaderResult {
  if (buf.length < BLOCK) return {kind: 'invalid', reason: 'short header block'}
  if (isZeroBlock(buf)) return {kind: 'end'}
  if (options.checksum !== false && !headerChecksumOk(buf)) return {kind: 'invalid', reason: 'bad header checksum'}
  const magic = cstring(buf, 257, 6)
  let name = cstring(buf, 0, 100)
  if (magic === 'ustar') {
    const prefix = cstring(buf, 345, 155)
    if (prefix) name = `${prefix}/${name}`
  }
  const size = parseNumeric(buf, 124, 12)
  const mode = parseNumeric(buf, 100, 8)
  const uid = parseNumeric(buf, 108, 8)
  const gid = parseNumeric(buf, 116, 8)
  const mtime = parseNumeric(buf, 136, 12)
  if (size === undefined || mode === undefined || uid === undefined || gid === undefined || mtime === undefined) {
    return {kind: 'invalid', reason: 'unparsable numeric field'}
  }
  const typeByte = buf[156]
  return {
    header: {
      name,
      mode,
      uid,
      gid,
      size,
      mtime,
      type: typeByte === 0 ? '0' : String.fromCharCode(typeByte),
      linkname: cstring(buf, 157, 100),
      uname: cstring(buf, 265, 32),
      gname: cstring(buf, 297, 32),
      magic,
    },
    kind: 'header',
  }
}

/** Parse pax extended header records (`<len> <key>=<value>\n`), values kept as bytes (xattrs are binary). */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  let pos = 0
  while (pos < data.length) {
    if (data[pos] === 0) break
    const space = data.indexOf(0x20, pos)
    if (space === -1) throw new Error('malformed pax record')
    const len = Number.parseInt(data.subarray(pos, space).toString('ascii'), 10)
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > data.length)
      throw new Error('malformed pax record length')
    const record = data.subarray(space + 1, pos + len - 1)
    const eq = record.indexOf(0x3d)
    if (eq === -1) throw new Error('malformed pax record')
    out.set(record.subarray(0, eq).toString('utf8'), record.subarray(eq + 1))
    pos += len
  }
  return out
}

/** Pax records as text. Throws on malformed records. */
export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of parsePaxRecords(data)) out[k] = v.toString('utf8')
  return out
}

export function paddedSize(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK
}
