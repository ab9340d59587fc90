/** A tar entry as the one tar parser (src/image/tar.ts) gives it, for tests of code that takes parsed entries. */
import type {TarEntry} from '../../src/image/tar.js'

export function tarEntry(key: string, over: Partial<TarEntry> = {}): TarEntry {
  return {
    key,
    name: key,
    type: 'file',
    linkname: '',
    size: 1,
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: '0',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
    pax: {},
    format: 'ustar',
    sha256: 'sha256:aa',
    position: 0,
    layer: 0,
    occurrence: 0,
    ...over,
  }
}
