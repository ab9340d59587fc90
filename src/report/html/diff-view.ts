/**
 * Pieces of a difference report shared by the diff page and the verify dashboard: the cause list (each cause
 * links to its first difference, each difference back to its cause), the difference tables (one section per
 * platform, one collapsible group per layer or kind), side-by-side diffs of text files (from the unified diff
 * the comparison made, parsed with the `diff` package) and hex summaries of binary files.
 */
import {parsePatch} from 'diff'

import type {CauseSummary, DiffEvent} from '../../diff/types.js'
import {attr, cap, slug, text} from './escape.js'

/** Up to this many characters of a value are shown in a cell (report.json and --json keep the whole value). */
export const VALUE_CAP = 2048

export interface HexSummary {
  sizeA: number
  sizeB: number
  /** first differing byte offset; equal to the shorter size when one side is a prefix of the other */
  offset: number
  /** the offset of the first shown byte (aligned to 16) */
  start: number
  a: Buffer
  b: Buffer
}

/** Where the differing files of both sides are (a --report-dir), for links and hex summaries. */
export interface ContentFiles {
  /** a relative URL to DIR/a/<path> or DIR/b/<path> from the page, when that file was written */
  href(side: 'a' | 'b', path: string): string | undefined
  hex(path: string): HexSummary | undefined
}

export interface TableOptions {
  /** rows after this many are left to JavaScript (see deferred) */
  staticRows: number
  /** inline diff cap per file (bytes of the unified diff) */
  inlineCap: number
  /** inline diffs (side-by-side and hex) stop after this many bytes of HTML; the rest link into --report-dir */
  pageBudget: number
  files?: ContentFiles
  /** id prefix of rows: 'd' for differences, 'n' for notes */
  prefix: string
  /**
   * rows after staticRows go here instead of into the page: [group, category, cause, the rows of its tbody]. The page carries
   * them as a JSON data block, which the browser's tokenizer skips as raw text; the script inserts a row
   * when a page or filter needs it. (10,000 hidden rows of markup cost seconds of tree building.)
   */
  deferred?: Array<[number, string, string, string]>
}

export function categoryBadge(category: string): string {
  return `<span class="badge c-${slug(category)}">${text(category)}</span>`
}

/** index of the first event of each cause, for the cause → difference links */
export function firstOfCause(events: DiffEvent[]): Map<string, number> {
  const first = new Map<string, number>()
  events.forEach((e, i) => {
    if (!first.has(e.cause)) first.set(e.cause, i)
  })
  return first
}

/** The likely causes, most important first (the summary's order), each linked to its differences. */
export function causeList(causes: CauseSummary[], first: Map<string, number>, prefix = 'd'): string {
  if (causes.length === 0) return ''
  const items = causes.map((c) => {
    const i = first.get(c.cause)
    const link =
      i === undefined
        ? ''
        : ` <a href="#${prefix}-${i}" data-cause="${attr(c.cause)}">show ${c.count === 1 ? 'it' : `these ${c.count}`}</a>`
    return (
      `<li id="cause-${slug(c.cause)}">${categoryBadge(c.category)} <strong>${text(c.title)}</strong> ` +
      `<code>${text(c.cause)}</code> × ${c.count}${link}<br><span class="muted">${text(c.hint)}</span></li>`
    )
  })
  return `<ol class="causes">${items.join('')}</ol>`
}

export function where(e: DiffEvent): string {
  if (e.kind === 'file') return `/${e.path === '.' ? '' : e.path}`
  return e.path
}

/** The collapsible group an event belongs to within its platform. */
function groupOf(e: DiffEvent): string {
  if (e.kind === 'file') return e.layer === undefined ? 'file system (layers flattened)' : `layer ${e.layer}`
  if (e.kind === 'layer') return 'layer descriptors'
  if (e.kind === 'config' || e.kind === 'manifest') return e.kind
  return 'archive and index'
}

function value(v: string | null): string {
  return v === null ? '<span class="muted">(absent)</span>' : text(cap(v, VALUE_CAP))
}

/** Side-by-side rows of a unified diff: context on both sides, each run of - lines paired with its + lines. */
export function sideBySide(unified: string): string {
  let patches
  try {
    patches = parsePatch(unified)
  } catch {
    return `<pre>${text(unified)}</pre>`
  }
  const rows: string[] = []
  const cell = (n: number | undefined, s: string | undefined, cls: string): string =>
    s === undefined
      ? '<td class="n"></td><td></td>'
      : `<td class="n">${n}</td><td${cls ? ` class="${cls}"` : ''}>${text(s) || ' '}</td>`
  for (const p of patches) {
    for (const h of p.hunks) {
      rows.push(
        `<tr class="h"><td colspan="4">@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@</td></tr>`,
      )
      let na = h.oldStart
      let nb = h.newStart
      let dels: string[] = []
      let adds: string[] = []
      const flush = (): void => {
        for (let i = 0; i < Math.max(dels.length, adds.length); i++) {
          const l = i < dels.length ? cell(na++, dels[i], 'del') : cell(undefined, undefined, '')
          const r = i < adds.length ? cell(nb++, adds[i], 'add') : cell(undefined, undefined, '')
          rows.push(`<tr>${l}${r}</tr>`)
        }
        dels = []
        adds = []
      }
      for (const line of h.lines) {
        const t = line[0]
        const body = line.slice(1)
        if (t === '-') dels.push(body)
        else if (t === '+') adds.push(body)
        else if (t === '\\') continue
        else {
          flush()
          rows.push(`<tr>${cell(na++, body, '')}${cell(nb++, body, '')}</tr>`)
        }
      }
      flush()
    }
  }
  return (
    // the first row sets the column widths (table-layout: fixed)
    `<div class="tw sb"><table class="sbs"><tr class="h"><td class="n"></td><td>A</td><td class="n"></td><td>B</td></tr>${rows.join('')}</table></div>`
  )
}

function hexRows(buf: Buffer, start: number, other: Buffer): string {
  const out: string[] = []
  for (let row = 0; row < buf.length; row += 16) {
    const bytes: string[] = []
    let ascii = ''
    for (let i = row; i < row + 16; i++) {
      if (i >= buf.length) {
        bytes.push('  ')
        continue
      }
      const h = buf[i].toString(16).padStart(2, '0')
      const differs = i >= other.length || other[i] !== buf[i]
      bytes.push(differs ? `<mark>${h}</mark>` : h)
      const ch = buf[i] >= 0x20 && buf[i] < 0x7f ? String.fromCharCode(buf[i]) : '.'
      ascii += differs ? `<mark>${text(ch)}</mark>` : text(ch)
    }
    out.push(`${(start + row).toString(16).padStart(8, '0')}  ${bytes.join(' ')}  |${ascii}|`)
  }
  return out.join('\n')
}

export function hexSummary(h: HexSummary): string {
  const head =
    h.offset >= Math.min(h.sizeA, h.sizeB)
      ? `one side is a prefix of the other (${h.sizeA} vs ${h.sizeB} bytes)`
      : `first difference at byte ${h.offset} (0x${h.offset.toString(16)}); sizes ${h.sizeA} and ${h.sizeB} bytes`
  return (
    `<p class="muted">binary: ${text(head)}</p>` +
    `<pre class="hex" aria-label="A bytes">A\n${hexRows(h.a, h.start, h.b)}</pre>` +
    `<pre class="hex" aria-label="B bytes">B\n${hexRows(h.b, h.start, h.a)}</pre>`
  )
}

function fileLinks(e: DiffEvent, files: ContentFiles | undefined): string {
  const links = (['a', 'b'] as const)
    .map((s) => {
      const h = files?.href(s, e.path)
      return h ? `<a href="${attr(h)}">${s.toUpperCase()} file</a>` : ''
    })
    .filter(Boolean)
  return links.length > 0 ? ` ${links.join(' · ')}` : ''
}

/** What to show under a differing file: a side-by-side diff, a hex summary, or links when over the caps. */
function detail(e: DiffEvent, o: TableOptions, budget: {left: number}): string {
  if (e.kind !== 'file') return ''
  if (e.diff !== undefined) {
    if (e.diff.length > o.inlineCap)
      return `<p class="muted">text diff of ${e.diff.length} bytes, over the ${o.inlineCap / 1024} KiB inline cap.${fileLinks(e, o.files)}</p>`
    if (budget.left <= 0)
      return `<p class="muted">diff not inlined: page cap of ${o.pageBudget / 1048576} MiB reached.${fileLinks(e, o.files)}</p>`
    const html = sideBySide(e.diff)
    budget.left -= html.length
    return `<details open><summary>side-by-side diff</summary>${html}</details>`
  }
  if (e.field !== 'content') return ''
  const hex = budget.left > 0 ? o.files?.hex(e.path) : undefined
  if (hex) {
    const html = hexSummary(hex)
    budget.left -= html.length
    return `<details open><summary>hex summary</summary>${html}${fileLinks(e, o.files)}</details>`
  }
  const links = fileLinks(e, o.files)
  return links ? `<p class="muted">binary or large file:${links}</p>` : ''
}

/**
 * The difference tables. Each difference is one <tbody> (its row and its inline diff), so that paging and
 * filtering hide or show both at once; data-c is its category, data-k its cause, data-g its section and group.
 */
export function differenceTables(events: DiffEvent[], o: TableOptions): string {
  const out: string[] = []
  const budget = {left: o.pageBudget}
  let platform: string | undefined
  let group: string | undefined
  let s = -1
  let g = -1
  const head =
    '<div class="tw"><table><thead><tr><th scope="col">where</th><th scope="col">field</th><th scope="col">A</th>' +
    '<th scope="col">B</th><th scope="col">cause</th></tr></thead>'
  const perPlatform = new Map<string, number>()
  for (const e of events) perPlatform.set(e.platform, (perPlatform.get(e.platform) ?? 0) + 1)
  const closeGroup = (): void => {
    if (group !== undefined) out.push('</table></div></details>')
  }
  events.forEach((e, i) => {
    if (e.platform !== platform) {
      closeGroup()
      if (platform !== undefined) out.push('</section>')
      platform = e.platform
      group = undefined
      s++
      const count = perPlatform.get(e.platform) ?? 0
      out.push(
        `<section class="p"${i >= o.staticRows ? ' hidden' : ''} data-grp="${o.prefix}s${s}"><h3>${e.platform ? `platform ${text(e.platform)}` : 'image archive and index'} <span class="muted">(${count})</span></h3>`,
      )
    }
    const gname = groupOf(e)
    if (gname !== group) {
      closeGroup()
      group = gname
      g++
      out.push(
        `<details class="g" open${i >= o.staticRows ? ' hidden' : ''} data-grp="${o.prefix}g${g}"><summary>${text(gname)}</summary>${head.replace('<table>', `<table id="${o.prefix}t${g}">`)}`,
      )
    }
    const more = detail(e, o, budget)
    const inner =
      `<tr><td class="v">${text(where(e))}</td><td>${text(e.field)}</td><td class="v a">${value(e.a)}</td>` +
      `<td class="v b">${value(e.b)}</td><td><a href="#cause-${slug(e.cause)}">${text(e.cause)}</a></td></tr>` +
      (more ? `<tr><td colspan="5">${more}</td></tr>` : '')
    if (i < o.staticRows || !o.deferred)
      out.push(
        `<tbody class="d" id="${o.prefix}-${i}" data-c="${attr(e.category)}" data-k="${attr(e.cause)}">${inner}</tbody>`,
      )
    else o.deferred.push([g, e.category, e.cause, inner])
  })
  closeGroup()
  if (platform !== undefined) out.push('</section>')
  return out.join('\n')
}
