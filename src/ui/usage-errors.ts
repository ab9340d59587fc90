/**
 * oclif's own usage errors (an unknown flag, a missing argument, a bad option value): a "did you mean"
 * for a mistyped flag, and the same `{"error": {...}}` document as our errors when --json is on.
 */

/** What the base command knows of a command's flags: name, one-letter char and aliases. */
export interface FlagNames {
  aliases?: string[]
  char?: string
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment: `jsno` is one edit from `json`).
 * Hand-written (15 lines) because fast-levenshtein is only a transitive dependency of
 * @oclif/plugin-not-found and has no transpositions; flag names are a few dozen strings of < 30 characters.
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = []
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j], before[j - 2] + 1)
    }
    before = prev
    prev = cur
  }
  return prev[b.length]
}

const MAX_FLAG_LENGTH = 64

/**
 * The flag a mistyped `--name` most likely meant: the closest flag name or alias within a third of its
 * length (at least 1, at most 3 edits), or one that starts with it; ties go to the first in sorted order.
 */
export function closestFlag(unknown: string, flags: Record<string, FlagNames>): string | undefined {
  const word = unknown.replace(/^-+/, '').split('=')[0]
  // no flag is that long, and the distance costs length × length: a pasted blob gets no suggestion
  if (!word || word.length > MAX_FLAG_LENGTH) return undefined
  const names = Object.entries(flags)
    .flatMap(([name, f]) => [name, ...(f.aliases ?? [])])
    .sort()
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)))
  let best: {distance: number; name: string} | undefined
  for (const name of names) {
    const distance = name.startsWith(word) && word.length >= 3 ? 0.5 : editDistance(word, name)
    if (distance <= limit && (!best || distance < best.distance)) best = {distance, name}
  }
  return best && `--${best.name}`
}

interface OclifParseError extends Error {
  flags?: string[]
  parse?: unknown
  suggestions?: string[]
}

/**
 * For an oclif usage error: adds "did you mean --x?" to `suggestions` for each unknown flag (oclif prints
 * them as "Try this: ..."), and returns the --json error document; undefined for any other error.
 */
export function usageError(
  err: Error,
  flags: Record<string, FlagNames>,
): {code: string; exitCode: number; message: string; name: string; suggestions: string[]} | undefined {
  const e = err as OclifParseError
  if (e.parse === undefined) return undefined
  const hints = (e.flags ?? []).flatMap((f) => {
    const near = closestFlag(f, flags)
    return near ? [`did you mean ${near} (not ${f})?`] : []
  })
  if (hints.length > 0) e.suggestions = [...(e.suggestions ?? []), ...hints]
  return {
    code: 'E_INVALID_ARGUMENT',
    exitCode: 2,
    message: e.message
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && l !== 'See more help with --help')
      .join(' '),
    name: e.constructor.name,
    suggestions: e.suggestions ?? [],
  }
}
