/**
 * Walk two JSON trees and list every differing leaf as a path ('.config.Env[1]', '.config.Labels["a.b"]').
 * Objects are compared key by key (sorted), arrays index by index; a value present on one side only is
 * reported with null on the other. Values are shown as compact JSON.
 */

export interface JsonDifference {
  path: string
  a: string | null
  b: string | null
}

const SIMPLE_KEY = /^[A-Za-z_$][\w$]*$/

export function jsonPathKey(parent: string, key: string): string {
  return SIMPLE_KEY.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v)
}

type Task = {kind: 'compare'; a: unknown; b: unknown; path: string} | {kind: 'emit'; d: JsonDifference}

/**
 * Differences between `a` and `b`; `skip(path)` prunes subtrees (compared elsewhere). Walks with an explicit
 * stack (depth-first, keys sorted), so no nesting depth can overflow the call stack. Stops once `out` holds
 * more than `limit` differences.
 */
export function diffJson(
  a: unknown,
  b: unknown,
  skip: (path: string) => boolean = () => false,
  path = '',
  out: JsonDifference[] = [],
  limit = Number.POSITIVE_INFINITY,
): JsonDifference[] {
  const stack: Task[] = [{kind: 'compare', a, b, path}]
  while (stack.length > 0 && out.length <= limit) {
    const t = stack.pop()!
    if (t.kind === 'emit') {
      if (!skip(t.d.path)) out.push(t.d)
      continue
    }
    if (t.path !== '' && skip(t.path)) continue
    const next: Task[] = []
    if (isObject(t.a) && isObject(t.b)) {
      const ta = t.a
      const tb = t.b
      const keys = [...new Set([...Object.keys(ta), ...Object.keys(tb)])].sort()
      for (const k of keys) {
        const p = jsonPathKey(t.path, k)
        if (!(k in ta)) next.push({kind: 'emit', d: {path: p, a: null, b: show(tb[k])}})
        else if (!(k in tb)) next.push({kind: 'emit', d: {path: p, a: show(ta[k]), b: null}})
        else next.push({kind: 'compare', a: ta[k], b: tb[k], path: p})
      }
    } else if (Array.isArray(t.a) && Array.isArray(t.b)) {
      const n = Math.max(t.a.length, t.b.length)
      for (let i = 0; i < n; i++) {
        const p = `${t.path}[${i}]`
        if (i >= t.a.length) next.push({kind: 'emit', d: {path: p, a: null, b: show(t.b[i])}})
        else if (i >= t.b.length) next.push({kind: 'emit', d: {path: p, a: show(t.a[i]), b: null}})
        else next.push({kind: 'compare', a: t.a[i], b: t.b[i], path: p})
      }
    } else if (JSON.stringify(t.a) !== JSON.stringify(t.b)) {
      out.push({path: t.path || '.', a: show(t.a), b: show(t.b)})
    }
    for (let i = next.length - 1; i >= 0; i--) stack.push(next[i])
  }
  return out
}
