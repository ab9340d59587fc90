/** A minimal ustar header for a regular file (mode 0644, uid/gid 0, mtime 0): benchmark archives only. */
export function tarHeader(name: string, size: number): Buffer {
  const b = Buffer.alloc(512)
  const octal = (n: number, w: number): string => `${n.toString(8).padStart(w - 1, '0')}\0`
  b.write(name, 0)
  b.write(octal(0o644, 8), 100)
  b.write(octal(0, 8), 108)
  b.write(octal(0, 8), 116)
  b.write(octal(size, 12), 124)
  b.write(octal(0, 12), 136)
  b.write('0', 156)
  b.write('ustar\0', 257, 'binary')
  b.write('00', 263)
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const x of b) sum += x
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return b
}

/** Zero padding that completes a tar block after `n` bytes of data. */
export const tarPad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512)
