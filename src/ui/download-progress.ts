/**
 * Download progress on stderr: a redrawn bar on a TTY, plain lines otherwise (CI logs).
 */
import type {Logger} from '../log.js'
import type {DownloadEvents} from '../pkg/download.js'

export function downloadProgress(
  logger: Logger,
  opts: {tty: boolean; quiet: boolean; write?: (s: string) => void},
): DownloadEvents & {finish(): void} {
  const write = opts.write ?? ((s: string) => process.stderr.write(s))
  let total = 0
  let done = 0
  let bytes = 0
  const started = Date.now()
  let lastDraw = 0
  const draw = (force = false): void => {
    if (!opts.tty || opts.quiet) return
    const now = Date.now()
    if (!force && now - lastDraw < 100) return
    lastDraw = now
    const width = 24
    const filled = total ? Math.round((done / total) * width) : width
    const mb = bytes / 1e6
    const rate = mb / Math.max(0.001, (now - started) / 1000)
    write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${mb.toFixed(1)} MB ${rate.toFixed(1)} MB/s`,
    )
  }
  return {
    start(t, cached) {
      total = t
      if (!opts.tty) logger.verbose(`${t} file(s), ${cached} already cached`)
      draw(true)
    },
    bytes(n) {
      bytes += n
      draw()
    },
    done(entry, from) {
      done++
      if (opts.tty) draw(done === total)
      else if (from !== 'cache')
        logger.info(`(${String(done).padStart(String(total).length, '0')}/${total}) ${entry.basename} from ${from}`)
    },
    finish() {
      if (opts.tty && !opts.quiet && total) write('\n')
    },
  }
}
