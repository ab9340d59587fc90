/**
 * Does a .dockerignore exclude a path? The patterns follow BuildKit's rules closely enough for one question
 * (is `.git` sent?): lines in order, later ones win, `!` re-includes, `*` and `?` stay within a path
 * segment, `**` spans segments, a leading `/` is ignored, a pattern also excludes everything under a match.
 */
export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
}

function toRegExp(pattern: string): RegExp {
  let p = pattern.replace(/^\/+/, '').replace(/\/+$/, '')
  if (p.startsWith('./')) p = p.slice(2)
  let re = ''
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '*') {
      if (p[i + 1] === '*') {
        // `**/` matches zero or more directories, a trailing `**` anything
        if (p[i + 2] === '/') {
          re += '(?:.*/)?'
          i += 2
        } else {
          re += '.*'
          i += 1
        }
      } else re += '[^/]*'
    } else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const close = p.indexOf(']', i + 1)
      if (close < 0) re += '\\['
      else {
        re += `[${p
          .slice(i + 1, close)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`
        i = close
      }
    } else if (c === '\\' && i + 1 < p.length) {
      re += p[i + 1].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
      i++
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  }
  // a match on a parent directory excludes what is under it
  return new RegExp(`^${re}(?:/.*)?$`)
}

export function isExcluded(patterns: string[], path: string): boolean {
  let excluded = false
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    const pattern = negate ? raw.slice(1).trim() : raw
    if (pattern === '') continue
    if (toRegExp(pattern).test(path)) excluded = !negate
  }
  return excluded
}
