import type {AnalyzeResult, DescriptorReport, ImageReport, IndexReport} from '../image/analyze.js'

const TRUNCATE_AT = 400

type Frame =
  | {kind: 'array'; items: unknown[]; i: number}
  | {kind: 'object'; keys: string[]; obj: Record<string, unknown>; i: number}

/**
 * Compact JSON of `value` written with an explicit stack (never recursing on nesting): the first `limit`
 * characters, and the length of the whole text.
 */
export function jsonPreview(value: unknown, limit: number): {text: string; total: number} {
  const parts: string[] = []
  let kept = 0
  let total = 0
  const emit = (s: string): void => {
    total += s.length
    if (kept < limit) {
      const piece = s.length <= limit - kept ? s : s.slice(0, limit - kept)
      parts.push(piece)
      kept += piece.length
    }
  }
  const stack: Frame[] = []
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      emit('[')
      stack.push({kind: 'array', items: v, i: 0})
    } else if (v !== null && typeof v === 'object') {
      emit('{')
      const obj = v as Record<string, unknown>
      stack.push({kind: 'object', obj, keys: Object.keys(obj).filter((k) => obj[k] !== undefined), i: 0})
    } else emit(JSON.stringify(v) ?? 'null')
  }
  visit(value)
  while (stack.length > 0) {
    const f = stack.at(-1)!
    if (f.kind === 'array') {
      if (f.i >= f.items.length) {
        emit(']')
        stack.pop()
        continue
      }
      if (f.i > 0) emit(',')
      visit(f.items[f.i++])
    } else {
      if (f.i >= f.keys.length) {
        emit('}')
        stack.pop()
        continue
      }
      const k = f.keys[f.i++]
      emit(`${f.i > 1 ? ',' : ''}${JSON.stringify(k)}:`)
      visit(f.obj[k])
    }
  }
  return {text: parts.join(''), total}
}

export function truncateContents(value: unknown, showAll: boolean): string {
  const {text, total} = jsonPreview(value, showAll ? Number.POSITIVE_INFINITY : TRUNCATE_AT)
  if (total <= text.length) return text
  return `${text}  [... ${total - text.length} characters omitted. Pass --show-contents to print them in their entirety]`
}

function truncateText(text: string, showAll: boolean): string {
  if (showAll || text.length <= TRUNCATE_AT) return text
  return `${text.slice(0, TRUNCATE_AT)}  [... ${text.length - TRUNCATE_AT} characters omitted. Pass --show-contents to print them in their entirety]`
}

/** Push one line per annotation (pushed, not spread: an object with 100,000 keys would overflow the stack). */
function annotationLines(out: string[], annotations: Record<string, string>, indent: string, showAll = false): void {
  const keys = Object.keys(annotations).sort()
  if (keys.length === 0) out.push(`${indent}(none)`)
  for (const k of keys) out.push(`${indent}${truncateText(k, showAll)}: ${truncateText(annotations[k], showAll)}`)
}

function descriptorLine(d: DescriptorReport): string {
  return `${d.digest}  ${d.mediaType ?? '(no mediaType)'}  ${d.platform ?? '-'}  ${d.size} bytes`
}

function indexBlock(title: string, i: IndexReport, showAll: boolean): string[] {
  const out = [`${title}:`, `  sha256 of the file: ${i.digest} (${i.size} bytes)`]
  out.push(`  Media type: ${i.mediaType ?? '(missing: podman omits it; treated as an OCI image index)'}`)
  if (i.annotationsAreIndexOnly) {
    out.push(
      '  index.json is not part of any image digest: its annotations and descriptor annotations are index.json-only',
    )
  }
  if (Object.keys(i.annotations).length > 0) {
    out.push(`  Annotations${i.annotationsAreIndexOnly ? ' (index.json-only, not hashed)' : ''}:`)
    annotationLines(out, i.annotations, '    ', showAll)
  }
  for (const [n, d] of i.manifests.entries()) {
    out.push(`  Descriptor ${n + 1}: ${descriptorLine(d)}`)
    if (Object.keys(d.annotations).length > 0) {
      out.push(`    Annotations${i.annotationsAreIndexOnly ? ' (index.json-only, not part of the digest)' : ''}:`)
      annotationLines(out, d.annotations, '      ', showAll)
    }
  }
  if (i.contents !== undefined) out.push(`  Contents: ${truncateContents(i.contents, showAll)}`)
  return out
}

function imageBlock(n: number, img: ImageReport, showAll: boolean): string[] {
  const out: string[] = []
  const m = img.manifest
  const title = img.attestationFor
    ? `Attestation manifest ${n} (for ${img.attestationFor})`
    : `Image ${n} (${img.platform})`
  out.push(`${title}:`)
  if (m) {
    out.push(
      `  Manifest (${m.path}):`,
      `    Digest: ${m.digest}`,
      `    Media type: ${m.mediaType ?? '-'}`,
      `    Platform: ${img.platform}`,
      '    Annotations (hashed):',
    )
    annotationLines(out, m.annotations, '      ', showAll)
    if (m.contents !== undefined) out.push(`    Contents: ${truncateContents(m.contents, showAll)}`)
  } else {
    out.push('  Manifest: none (this archive format holds no registry manifest)')
  }
  out.push(
    `  Config (${img.config.path}):`,
    `    Digest: ${img.config.digest} (image ID)`,
    `    Media type: ${img.config.mediaType}`,
    `    Created: ${img.config.created ?? '-'}`,
    `    History: ${img.config.historyCount} entries`,
  )
  if (img.tags.length > 0) out.push(`    Tags: ${img.tags.join(', ')}`)
  if (img.config.contents !== undefined) out.push(`    Contents: ${truncateContents(img.config.contents, showAll)}`)
  out.push(`  Layers (${img.layers.length}):`)
  for (const [i, l] of img.layers.entries()) {
    out.push(
      `    ${i + 1}. ${l.digest ?? '(digest not stored: use --verify to compute it)'}`,
      `       Media type: ${l.mediaType}  Compression: ${l.compression}  Size: ${l.size} bytes`,
      `       Diff ID: ${l.diffId ?? '-'}`,
    )
    if (Object.keys(l.annotations).length > 0) {
      out.push('       Annotations:')
      annotationLines(out, l.annotations, '         ', showAll)
    }
  }
  return out
}

export function renderAnalyze(r: AnalyzeResult, showAll: boolean): string {
  const out: string[] = []
  out.push(`Format: ${r.formatLabel} [${r.format}, ${r.source}]`)
  const platformImages = r.images.filter((i) => !i.attestationFor)
  for (const img of platformImages) {
    if (img.imageDigest) out.push(`Image digest (${img.platform}): ${img.imageDigest}`)
    else {
      out.push(
        `Image digest (${img.platform}): none: this archive holds no registry manifest, so it has no image digest;`,
        `  the image is identified by its config digest (image ID): ${img.imageId}`,
      )
    }
  }
  if (r.imageDigest && platformImages.length > 1) out.push(`Image index digest (multi-platform): ${r.imageDigest}`)
  out.push('')
  // appended line by line: spreading 100,000+ lines into push() would overflow the stack
  const append = (lines: string[]): void => {
    for (const l of lines) out.push(l)
    out.push('')
  }
  if (r.index) append(indexBlock('Index (index.json)', r.index, showAll))
  for (const n of r.nestedIndexes) append(indexBlock(`Image index (${n.path})`, n, showAll))
  for (const [i, img] of r.images.entries()) append(imageBlock(i + 1, img, showAll))
  for (const w of r.warnings) out.push(`Warning: ${w}`)
  if (r.verification) {
    const v = r.verification
    for (const w of v.warnings) out.push(`Warning: ${w}`)
    if (v.ok)
      out.push(
        `✅ Verified ${v.checked} blobs (${v.bytesHashed} layer bytes hashed): every digest, size and diff ID matches`,
      )
    else {
      out.push(`❌ Verification failed: ${v.mismatches.length} mismatch(es) in ${v.checked} blobs checked`)
      for (const m of v.mismatches) out.push(`   ${m.path}: ${m.field} expected ${m.expected}, got ${m.actual}`)
    }
  }
  if (r.expected) {
    const e = r.expected
    const what =
      e.comparedWith === 'index'
        ? 'image index digest'
        : e.comparedWith === 'manifest'
          ? `image digest (${e.platform})`
          : `image ID (${e.platform}; ${e.comparedWith})`
    if (e.matched) out.push(`✅ The ${what} matches the expected digest ${e.expected}`)
    else out.push(`❌ The ${what} does not match:`, `   expected: ${e.expected}`, `   actual:   ${e.actual}`)
  }
  return out.join('\n').replace(/\n+$/, '') + '\n'
}
