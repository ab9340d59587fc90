/**
 * YAML that repro reads from users (lock files, matrix files), loaded one way: js-yaml's CORE schema (no
 * timestamps or binary; a duplicate key is an error), and a walk that refuses what a data file never needs but
 * a hostile one uses: an alias of a mapping or list (js-yaml shares the object, so anything walking the tree
 * expands a "billion laughs" exponentially), nesting beyond a depth, more nodes than a budget.
 */
import yaml from 'js-yaml'

export interface YamlSyntaxProblem {
  /** js-yaml's reason, one line */
  reason: string
  /** 1-based */
  line?: number
  column?: number
}

/** Parse YAML text, or return why not (a syntax error, nesting js-yaml itself refuses, a stack overflow). */
export function loadYaml(text: string, filename: string): {doc: unknown} | {problem: YamlSyntaxProblem} {
  try {
    return {doc: yaml.load(text, {filename, schema: yaml.CORE_SCHEMA, json: false})}
  } catch (error) {
    if (error instanceof RangeError) return {problem: {reason: 'nested too deeply to parse'}}
    const e = error as {reason?: string; mark?: {line: number; column: number}; message: string}
    return {
      problem: {
        reason: e.reason ?? e.message.split('\n')[0],
        line: e.mark ? e.mark.line + 1 : undefined,
        column: e.mark ? e.mark.column + 1 : undefined,
      },
    }
  }
}

export interface ShapeProblem {
  kind: 'alias' | 'depth' | 'nodes'
  /** where, as a path: `jobs[3].buildArgs` ('' for the document) */
  at: string
}

/** The first alias, too-deep node or node over the budget in a loaded document, or undefined. */
export function shapeProblem(doc: unknown, limits: {maxDepth: number; maxNodes: number}): ShapeProblem | undefined {
  const seen = new Set<object>()
  let nodes = 0
  const stack: Array<{v: unknown; depth: number; at: string}> = [{v: doc, depth: 0, at: ''}]
  while (stack.length > 0) {
    const {v, depth, at} = stack.pop()!
    if (++nodes > limits.maxNodes) return {kind: 'nodes', at}
    if (v === null || typeof v !== 'object') continue
    if (depth > limits.maxDepth) return {kind: 'depth', at}
    if (seen.has(v)) return {kind: 'alias', at}
    seen.add(v)
    const entries = Array.isArray(v)
      ? v.map((x, i) => [`[${i}]`, x] as const)
      : Object.entries(v).map(([k, x]) => [k, x] as const)
    // pushed in reverse: the walk visits the document in order, so the first problem is the one named
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, x] = entries[i]
      stack.push({v: x, depth: depth + 1, at: k.startsWith('[') ? `${at}${k}` : at ? `${at}.${k}` : k})
    }
  }
  return undefined
}
