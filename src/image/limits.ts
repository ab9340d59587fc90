/**
 * The documented limits of the image core (README, `repro analyze`, "Limits"). Real images stay far below
 * every one; hostile archives hit them and get one line naming the input and the limit, exit 2.
 */
import {oneLine, ReproError} from '../errors.js'

export const LIMITS = {
  /** bytes of one JSON document (index, manifest, config, manifest.json); a real one is a few KiB */
  maxJsonBytes: 16 * 1024 * 1024,
  /** nesting depth of one JSON document (objects and arrays); a real config nests 4 deep */
  maxJsonDepth: 64,
  /** indexes nested in indexes below index.json (BuildKit and docker use 1) */
  maxIndexDepth: 4,
  /** descriptors read across all indexes and manifests of one archive */
  maxDescriptors: 50_000,
  /** distinct JSON documents (indexes, manifests, configs) read from one archive */
  maxDocuments: 10_000,
  /** members of one image archive tar (an image has a few per layer) */
  maxArchiveEntries: 200_000,
  /** decompressed bytes of one stream (a layer, or a compressed archive) */
  maxDecompressedBytes: 64 * 1024 ** 3,
  /** decompressed/compressed ratio, enforced once a stream has produced maxRatioAfterBytes */
  maxCompressionRatio: 200,
  maxRatioAfterBytes: 128 * 1024 * 1024,
  /** bytes of JSON-looking entries a compressed archive keeps in memory after its one pass */
  maxKeptJsonBytes: 64 * 1024 * 1024,
  /** differences `repro diff` lists for one JSON document (config, annotations); beyond, one warning */
  maxListedDifferences: 10_000,
  /** extra passes over a compressed archive to re-read JSON documents beyond maxKeptJsonBytes */
  maxJsonPasses: 8,
} as const

export type LimitName = keyof typeof LIMITS

/** An input is beyond one of the documented limits. */
export class ArchiveLimitError extends ReproError {
  readonly path: string
  readonly limit: LimitName
  constructor(path: string, limit: LimitName, problem: string) {
    super('E_ARCHIVE_LIMIT', oneLine(`${path}: ${problem} (limit ${limit} = ${LIMITS[limit]})`))
    this.path = path
    this.limit = limit
  }
}

/** Counts the work of reading one archive; throws ArchiveLimitError past a limit. */
export class WorkBudget {
  private descriptors = 0
  private documents = 0
  constructor(readonly path: string) {}

  descriptorsRead(n: number, where: string): void {
    this.descriptors += n
    if (this.descriptors > LIMITS.maxDescriptors)
      throw new ArchiveLimitError(this.path, 'maxDescriptors', `too many descriptors (at ${where})`)
  }

  documentRead(where: string): void {
    this.documents += 1
    if (this.documents > LIMITS.maxDocuments)
      throw new ArchiveLimitError(this.path, 'maxDocuments', `too many JSON documents (at ${where})`)
  }
}

/**
 * The nesting depth of a JSON text, scanned without recursion (JSON.parse accepts any depth, but every
 * recursive consumer after it would overflow the stack). Stops as soon as `max` is exceeded.
 */
export function jsonDepthExceeds(bytes: Buffer, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

/** Ratio and size guard for one decompressed stream. */
export class InflateGuard {
  private inBytes = 0
  private outBytes = 0
  constructor(readonly what: string) {}

  input(n: number): void {
    this.inBytes += n
  }

  /** count output bytes; throws ArchiveLimitError past a limit */
  output(n: number): void {
    this.outBytes += n
    if (this.outBytes > LIMITS.maxDecompressedBytes)
      throw new ArchiveLimitError(this.what, 'maxDecompressedBytes', 'decompresses to too many bytes')
    if (this.outBytes > LIMITS.maxRatioAfterBytes && this.outBytes > this.inBytes * LIMITS.maxCompressionRatio)
      throw new ArchiveLimitError(
        this.what,
        'maxCompressionRatio',
        `decompresses ${this.inBytes} bytes into more than ${this.outBytes}: a decompression bomb`,
      )
  }

  get decompressedBytes(): number {
    return this.outBytes
  }
}
