import {ReproError} from '../../errors.js'

/** A registry could not be reached, refused us, or answered something we cannot trust (exit 2). */
export class RegistryError extends ReproError {
  /** the HTTP status, when the registry answered one */
  readonly status?: number
  constructor(message: string, suggestions: string[] = [], options: {status?: number; cause?: unknown} = {}) {
    super('E_REGISTRY', message, {suggestions, cause: options.cause})
    this.status = options.status
  }
}
