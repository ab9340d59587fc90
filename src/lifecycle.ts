/**
 * One process-wide cleanup registry, the way Go passes a context: whatever repro creates that must not
 * outlive it (running children, containers it started, temp dirs, partial files) is registered while it
 * exists and unregistered once it is finished or handed over.
 *
 * On SIGINT or SIGTERM (installed once by the base command) the registry aborts `lifecycle.signal`, then runs
 * every cleanup in a fixed order (children first, so nothing can write a file again after it is removed;
 * then containers; then paths), then re-raises the same signal with the default action, so the parent sees
 * what a shell shows: exit status 130 for SIGINT, 143 for SIGTERM. A second signal during the cleanup
 * removes the registered paths synchronously and re-raises at once. On errors the base command runs the
 * cleanups in its `finally`; at process exit what is still registered is removed synchronously.
 */
import {rmSync} from 'node:fs'
import {rm} from 'node:fs/promises'

import {ReproError} from './errors.js'

/** An operation was cancelled (a signal to repro, an AbortSignal, Ctrl-C). */
export class AbortedError extends ReproError {
  constructor(message: string) {
    super('E_ABORTED', message)
  }
}

/**
 * Cleanups run phase by phase; within a phase, together. Children and containers share the first phase (the
 * `podman rm -f` of a container and the kill of the `podman run` client that waits for it help each other);
 * paths come last, when nothing that could write them again is left.
 */
export const CLEANUP_PHASES = [['child', 'container'], ['path']] as const
export type CleanupKind = 'child' | 'container' | 'path'
const CLEANUP_ORDER: readonly CleanupKind[] = CLEANUP_PHASES.flat()

interface Entry {
  kind: CleanupKind
  label: string
  run: () => Promise<void> | void
  /** what can be done when there is no time left (process exit, a second signal) */
  runSync?: () => void
}

export interface CleanupReport {
  ran: string[]
  failed: Array<{label: string; message: string}>
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const

export class Lifecycle {
  private readonly entries = new Map<number, Entry>()
  private next = 1
  private controller = new AbortController()
  private installed = false
  private handling: NodeJS.Signals | undefined
  private readonly listeners = new Map<NodeJS.Signals, () => void>()

  /** aborted when repro receives SIGINT or SIGTERM */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** the signal being handled, if any */
  get signalled(): NodeJS.Signals | undefined {
    return this.handling
  }

  /** labels of what is registered now, in cleanup order (for tests and --debug) */
  pending(): Array<{kind: CleanupKind; label: string}> {
    return this.ordered().map((e) => ({kind: e.kind, label: e.label}))
  }

  /** Register a cleanup; the returned function unregisters it (call it once the thing is finished). */
  register(kind: CleanupKind, label: string, run: () => Promise<void> | void, runSync?: () => void): () => void {
    const id = this.next++
    this.entries.set(id, {kind, label, run, runSync})
    return () => {
      this.entries.delete(id)
    }
  }

  /** A temp dir or partial file, removed (recursively) by the cleanup. */
  registerPath(path: string): () => void {
    return this.register(
      'path',
      path,
      () => rm(path, {recursive: true, force: true}),
      () => rmSync(path, {recursive: true, force: true}),
    )
  }

  /**
   * Run every registered cleanup, kind by kind, and forget them. A failing cleanup never stops the others;
   * failures are reported, not thrown.
   */
  async cleanup(): Promise<CleanupReport> {
    const report: CleanupReport = {ran: [], failed: []}
    for (const phase of CLEANUP_PHASES) {
      const batch = [...this.entries].filter(([, e]) => (phase as readonly CleanupKind[]).includes(e.kind))
      for (const [id] of batch) this.entries.delete(id)
      await Promise.all(
        batch.map(async ([, e]) => {
          try {
            await e.run()
            report.ran.push(e.label)
          } catch (error) {
            report.failed.push({label: e.label, message: (error as Error).message})
          }
        }),
      )
    }
    return report
  }

  /** What can run without the event loop: remove paths, run sync fallbacks. */
  cleanupSync(): void {
    for (const e of this.ordered()) {
      try {
        e.runSync?.()
      } catch {
        // at exit there is nobody to tell
      }
    }
    this.entries.clear()
  }

  /** Install the SIGINT/SIGTERM handlers and the exit hook (idempotent: the base command calls it per command). */
  install(): void {
    if (this.installed) return
    this.installed = true
    for (const sig of SIGNALS) {
      const listener = () => this.onSignal(sig)
      this.listeners.set(sig, listener)
      process.on(sig, listener)
    }
    process.on('exit', () => this.cleanupSync())
  }

  /**
   * Wait for a signal's cleanup when one is under way: the command must not finish (and the process exit
   * with an ordinary code) before the cleanup re-raises the signal.
   */
  async settle(): Promise<void> {
    if (this.handling) await new Promise(() => {}) // never resolves: the re-raised signal ends the process
    await this.cleanup()
  }

  private onSignal(sig: NodeJS.Signals): void {
    if (this.handling) {
      // a second signal: no more waiting for children
      this.cleanupSync()
      this.reraise(sig)
      return
    }
    this.handling = sig
    this.controller.abort(new AbortedError(`received ${sig}`))
    void this.cleanup().finally(() => this.reraise(sig))
  }

  private reraise(sig: NodeJS.Signals): void {
    // die of the signal itself (default action), as a shell expects: 128 + signal number
    for (const s of SIGNALS) process.removeAllListeners(s)
    process.kill(process.pid, sig)
  }

  private ordered(): Entry[] {
    const entries = [...this.entries.values()]
    return CLEANUP_ORDER.flatMap((k) => entries.filter((e) => e.kind === k))
  }

  /** tests only: forget every entry and the abort state */
  reset(): void {
    this.entries.clear()
    this.controller = new AbortController()
    this.handling = undefined
  }
}

/** Is a process with this pid running (for pid-named temp files of other repro processes)? */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, it is just not ours
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The process-wide registry. */
export const lifecycle = new Lifecycle()
