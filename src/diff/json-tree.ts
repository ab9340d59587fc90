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

/** Differences between `a` and `b`; `skip(path)` prunes subtrees (compared elsewhere). */
export function diffJson(
  a: unknown,
  b: unknown,
  skip: (path: string) => boolean = () => false,
  path = '',
  out: JsonDifference[] = [],
): JsonDifference[] {
  if (path !== '' && skip(path)) return out
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
    for (const k of keys) {
      const p = jsonPathKey(path, k)
      if (!(k in a)) {
        if (!skip(p)) out.push({path: p, a: null, b: show(b[k])})
      } else if (!(k in b)) {
        if (!skip(p)) out.push({path: p, a: show(a[k]), b: null})
      } else {
        diffJson(a[k], b[k], skip, p, out)
      }
    }
    return out
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length)
    for (let i = 0; i < n; i++) {
      const p = `${path}[${i}]`
      if (i >= a.length) {
        if (!skip(p)) out.push({path: p, a: null, b: show(b[i])})
      } else if (i >= b.length) {
        if (!skip(p)) out.push({path: p, a: show(a[i]), b: null})
      } else {
        diffJson(a[i], b[i], skip, p, out)
      }
    }
    return out
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({path: path || '.', a: show(a), b: show(b)})
  return out
}
