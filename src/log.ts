/**
 * A logger the domain receives instead of printing. Everything goes to stderr: stdout holds only results.
 */
export type LogLevel = 'debug' | 'info' | 'quiet' | 'verbose'

export interface Logger {
  debug(message: string): void
  info(message: string): void
  verbose(message: string): void
  warn(message: string): void
  /** raw engine output, streamed as-is unless quiet */
  stream(chunk: string): void
}

export function createLogger(level: LogLevel, write: (s: string) => void = (s) => process.stderr.write(s)): Logger {
  const rank = {quiet: 0, info: 1, verbose: 2, debug: 3}[level]
  return {
    debug: (m) => rank >= 3 && write(`debug: ${m}\n`),
    info: (m) => rank >= 1 && write(`${m}\n`),
    verbose: (m) => rank >= 2 && write(`${m}\n`),
    warn: (m) => write(`warning: ${m}\n`),
    stream: (c) => rank >= 1 && write(c),
  }
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  verbose() {},
  warn() {},
  stream() {},
}
