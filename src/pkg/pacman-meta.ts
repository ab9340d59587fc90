/** Pure parser for pacman's `desc` files (sync databases and /var/lib/pacman/local/<pkg>/desc). */
export interface PacmanDesc {
  name: string
  version: string
  arch?: string
  filename?: string
  sha256?: string
}

/** `%KEY%` followed by value lines until a blank line. */
export function parsePacmanDescFields(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  let key: string | undefined
  for (const line of text.split('\n')) {
    const m = /^%([A-Z0-9_]+)%$/.exec(line.trim())
    if (m) {
      key = m[1]
      out[key] = []
    } else if (line.trim() === '') {
      key = undefined
    } else if (key) {
      out[key].push(line.trim())
    }
  }
  return out
}

export function parsePacmanDesc(text: string): PacmanDesc | undefined {
  const f = parsePacmanDescFields(text)
  const name = f.NAME?.[0]
  const version = f.VERSION?.[0]
  if (!name || !version) return undefined
  return {name, version, arch: f.ARCH?.[0], filename: f.FILENAME?.[0], sha256: f.SHA256SUM?.[0]?.toLowerCase()}
}

/** The hash-file name in the Arch archive's layout: <first letter>/<name>/<file>. */
export function archArchiveName(d: PacmanDesc & {filename: string}): string {
  return `${d.name[0]}/${d.name}/${d.filename}`
}
