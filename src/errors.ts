/**
 * Typed errors with stable codes. The domain throws these; the base command renders them as one line
 * (plus suggestions) on stderr, or as a JSON error document with --json, and exits with `exitCode`.
 *
 * Exit codes are stable across every command:
 *   0  success / reproduced / no difference
 *   1  a negative verdict (digest mismatch, images differ, not reproduced): not an error
 *   2  an error: bad input, missing engine, engine failure, network failure
 */
export class ReproError extends Error {
  readonly code: string
  readonly exitCode: number
  readonly suggestions: string[]

  constructor(
    code: string,
    message: string,
    options: {exitCode?: number; suggestions?: string[]; cause?: unknown} = {},
  ) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.code = code
    this.exitCode = options.exitCode ?? 2
    this.suggestions = options.suggestions ?? []
  }

  toJSON(): {code: string; exitCode: number; message: string; name: string; suggestions: string[]} {
    return {
      code: this.code,
      exitCode: this.exitCode,
      message: this.message,
      name: this.name,
      suggestions: this.suggestions,
    }
  }
}

/**
 * One line whatever it quotes: control characters (a newline in a file name, a terminal escape in a flag
 * value) written as JSON escapes, so an error line cannot be split, forged or drive the terminal.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : c === '\t'
          ? '\\t'
          : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** A user-supplied value as shown in a message: at most `max` characters, the middle elided. */
export function shown(value: string, max = 100): string {
  if (value.length <= max) return value
  const half = Math.floor((max - 5) / 2)
  return `${value.slice(0, half)}[...]${value.slice(value.length - half)}`
}

/** A user-supplied value (flag, argument, environment variable) is wrong. */
export class InvalidArgumentError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_INVALID_ARGUMENT', oneLine(message), {suggestions})
  }
}

/** An image archive or layout cannot be read: not a tar, truncated, bad JSON, missing blob, escaping path. */
export class InvalidArchiveError extends ReproError {
  readonly path: string
  constructor(path: string, problem: string, options: {cause?: unknown} = {}) {
    super('E_INVALID_ARCHIVE', oneLine(`${path}: ${problem}`), options)
    this.path = path
  }
}

/** A blob or file does not match the digest that names it. */
export class DigestMismatchError extends ReproError {
  readonly expected: string
  readonly actual: string
  constructor(subject: string, expected: string, actual: string) {
    super('E_DIGEST_MISMATCH', `${subject}: digest mismatch: expected ${expected}, got ${actual}`)
    this.expected = expected
    this.actual = actual
  }
}

/** No usable engine, or an engine too old / missing a plugin. */
export class EngineNotFoundError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_ENGINE_NOT_FOUND', message, {suggestions})
  }
}

/** A child process failed: carries its argv, exit code and the tail of its stderr. */
export class EngineFailedError extends ReproError {
  readonly argv: string[]
  readonly childExitCode: number | undefined
  readonly stderrTail: string
  constructor(argv: string[], childExitCode: number | undefined, stderrTail: string, display?: string) {
    const tail = stderrTail.trim()
    const shown = display ?? argv.join(' ')
    super(
      'E_ENGINE_FAILED',
      `command failed with exit code ${childExitCode ?? 'unknown'}: ${shown}${tail ? `\n${indent(tail)}` : ''}`,
    )
    this.argv = argv
    this.childExitCode = childExitCode
    this.stderrTail = tail
  }
}

/** A hash file (SHA256SUMS) line is malformed or unsafe. */
export class HashFileError extends ReproError {
  constructor(message: string) {
    super('E_HASH_FILE', message)
  }
}

/** Every provider failed for a package, or a download could not complete. */
export class DownloadError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_DOWNLOAD', message, {suggestions})
  }
}

/**
 * A link of a distribution's signature chain (archive keyring → InRelease → Packages → package file) is broken
 * or cannot be read: the message names the link (which InRelease, which Packages file, which package).
 */
export class ChainError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_CHAIN', message, {suggestions})
  }
}

/** `verify --matrix FILE`: the matrix file is malformed; the message names the file, the job (index or id) and the field. */
export class MatrixFileError extends ReproError {
  constructor(message: string, suggestions: string[] = []) {
    super('E_MATRIX', oneLine(message), {suggestions})
  }
}

/** The distro could not be detected or is not supported. */
export class UnsupportedDistroError extends ReproError {
  constructor(message: string) {
    super('E_UNSUPPORTED_DISTRO', message)
  }
}

export function indent(text: string, prefix = '  '): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n')
}

/** Keep the last `maxLines` lines of a text (for error tails). */
export function tail(text: string, maxLines = 20): string {
  const lines = text.trimEnd().split('\n')
  return lines.slice(-maxLines).join('\n')
}

/** `sbom`: an image's package database cannot be read honestly (too large, too many packages): input and limit named. */
export class SbomInputError extends ReproError {
  constructor(message: string) {
    super('E_SBOM_INPUT', oneLine(message))
  }
}
