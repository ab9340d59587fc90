/** A minimal pure tar reader (ustar, GNU long names, pax path) for small metadata archives held in memory. */
export interface TarEntry {
  path: string
  type: string
  data: Buffer
}

export function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = []
  let p = 0
  let longName: string | undefined
  while (p + 512 <= buf.length) {
    const h = buf.subarray(p, p + 512)
    if (h.every((b) => b === 0)) break
    const str = (o: number, l: number): string => {
      const s = h.subarray(o, o + l)
      const z = s.indexOf(0)
      return s.subarray(0, z < 0 ? l : z).toString('utf8')
    }
    const size = Number.parseInt(str(124, 12).trim() || '0', 8)
    const type = str(156, 1) || '0'
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? str(345, 155) : ''
    let path = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100)
    const data = buf.subarray(p + 512, p + 512 + size)
    p += 512 + Math.ceil(size / 512) * 512
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0+$/, '')
      continue
    }
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))
      if (m) longName = m[1]
      continue
    }
    if (type === 'g') continue
    if (longName !== undefined) {
      path = longName
      longName = undefined
    }
    out.push({path, type, data: Buffer.from(data)})
  }
  return out
}
