import {Command, Flags, Interfaces} from '@oclif/core'

import {ReproError} from './errors.js'
import {lifecycle} from './lifecycle.js'
import {createLogger, type Logger} from './log.js'
import {usageError} from './ui/usage-errors.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>

/**
 * Shared flags (--verbose, --quiet, --debug, --json) and error rendering for every command.
 * Commands are thin: parse, call one domain function, return a typed result, render when not --json.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    debug: Flags.boolean({description: 'Print debug logs and stack traces.', helpGroup: 'GLOBAL'}),
    quiet: Flags.boolean({
      char: 'q',
      description: 'Print only results and errors.',
      helpGroup: 'GLOBAL',
      exclusive: ['verbose'],
    }),
    verbose: Flags.boolean({char: 'v', description: 'Print more detail on stderr.', helpGroup: 'GLOBAL'}),
  }

  static enableJsonFlag = true

  protected flags!: BaseFlags<T>
  protected args!: Interfaces.InferredArgs<T['args']>
  protected logger!: Logger

  public async init(): Promise<void> {
    // one cleanup registry for the process: SIGINT/SIGTERM end children, containers, temp dirs, partial files
    lifecycle.install()
    await super.init()
    const {args, flags} = await this.parse({
      args: this.ctor.args,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as Interfaces.InferredArgs<T['args']>
    const level = this.flags.debug ? 'debug' : this.flags.quiet ? 'quiet' : this.flags.verbose ? 'verbose' : 'info'
    this.logger = createLogger(level)
  }

  /**
   * The result (or error) as JSON on stdout. oclif's colorizer re-slices the whole text once per token and
   * matches strings with a backtracking regex: quadratic, and a 10 MB string ends in a RangeError with no
   * JSON at all. So: plain JSON.stringify (linear; our documents nest at most LIMITS.maxJsonDepth deep),
   * colors only for a terminal and a small document.
   */
  public override logJson(json: unknown): void {
    const text = JSON.stringify(json, null, 2) ?? 'null'
    if (process.stdout.isTTY && text.length <= 64 * 1024) {
      super.logJson(json)
      return
    }
    process.stdout.write(`${text}\n`)
  }

  /** Write a human line to stdout (results only). */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // killed by a signal: the cleanup under way re-raises it; an "aborted" error is no news to the user
    if (lifecycle.signalled) return lifecycle.settle()
    const debug = this.argv.includes('--debug')
    if (err instanceof ReproError) {
      if (this.jsonEnabled()) {
        this.logJson({error: err.toJSON()})
      } else {
        process.stderr.write(`Error: ${err.message}\n`)
        for (const s of err.suggestions) process.stderr.write(`  hint: ${s}\n`)
        if (debug && err.stack) process.stderr.write(`${err.stack}\n`)
      }
      process.exitCode = err.exitCode
      return undefined
    }
    // oclif's own errors (bad flags) keep their rendering (plus "did you mean") and exit 2; --json gets our document
    if (err.oclif?.exit !== undefined || (err as {code?: string}).code?.startsWith?.('EEXIT')) {
      const usage = usageError(err, {...this.ctor.baseFlags, ...this.ctor.flags})
      if (!usage || !this.jsonEnabled()) return super.catch(err)
      this.logJson({error: usage})
      process.exitCode = 2
      return undefined
    }
    if (debug) return super.catch(err)
    if (this.jsonEnabled()) {
      this.logJson({error: {code: 'E_INTERNAL', exitCode: 2, message: err.message, name: err.name, suggestions: []}})
    } else {
      process.stderr.write(`Error: ${err.message}\n  hint: run again with --debug for a stack trace\n`)
    }
    process.exitCode = 2
    return undefined
  }

  /** On success and on errors alike: nothing registered for cleanup outlives the command. */
  protected async finally(err: Error | undefined): Promise<unknown> {
    await lifecycle.settle()
    return super.finally(err)
  }
}
