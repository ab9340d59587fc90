/**
 * Pure parsers for Alpine's APKINDEX and /lib/apk/db/installed: paragraphs of `K:value` lines.
 * Note: the `C:` field is "Q1" + base64(SHA-1) of the package's control segment, not a sha256 of the file,
 * so a hash file cannot be made from the index alone (see generate.ts).
 */
export interface ApkRecord {
  package: string
  version: string
  architecture?: string
  /** C: field, e.g. Q1abc...= */
  checksum?: string
  size?: number
}

export function parseApkIndex(text: string): ApkRecord[] {
  const out: ApkRecord[] = []
  for (const para of text.split(/\n\s*\n/)) {
    const f: Record<string, string> = {}
    for (const line of para.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line)
      if (m && !(m[1] in f)) f[m[1]] = m[2]
    }
    if (!f.P || !f.V) continue
    out.push({package: f.P, version: f.V, architecture: f.A, checksum: f.C, size: f.S ? Number(f.S) : undefined})
  }
  return out
}
