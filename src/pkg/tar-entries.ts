/** Entries of a small metadata tar held in memory (APKINDEX, pacman databases), read by the one tar parser. */
import {readTarBuffer} from '../image/tar.js'

export interface TarEntry {
  path: string
  type: string
  data: Buffer
}

/**
 * Every member with its data. Header checksums are not checked here: these tars are verified by their
 * repository signatures and some writers leave the checksum empty.
 */
export function readTar(buf: Buffer): TarEntry[] {
  return readTarBuffer(buf, {checksum: false}).map(({data, entry}) => ({path: entry.name, type: entry.type, data}))
}
