/**
 * `repro verify --html FILE`: one page per run. The verdict and the digest first, then the checks, then the
 * likely causes and the first differences when it did not reproduce, then every rebuild. Build durations are
 * run-dependent, so they appear only with `timings`; without it the same verification gives the same bytes.
 */
import type {VerifyResult} from '../../verify/index.js'
import {text} from './escape.js'
import {causeList, differenceTables, firstOfCause} from './diff-view.js'
import {page} from './page.js'

export interface VerifyHtmlOptions {
  timings?: boolean
}

export function renderVerifyHtml(result: VerifyResult, options: VerifyHtmlOptions = {}): string {
  const body: string[] = ['<h1>repro verify</h1>']
  const verdict = result.reproduced ? 'Reproduced' : 'Not reproduced'
  body.push(
    `<div class="verdict ${result.reproduced ? 'ok' : 'bad'}" role="status" id="verdict"><strong>${verdict}</strong>` +
      (result.digest ? `<br><code>${text(result.digest)}</code>` : '') +
      `<br>${result.builds.length} rebuild${result.builds.length === 1 ? '' : 's'} on ${result.runtimes.map(text).join(', ') || 'no runtime'}, SOURCE_DATE_EPOCH ${result.sourceDateEpoch}</div>`,
  )
  if (result.diff && result.diff.causes.length > 0) {
    body.push('<h2 id="causes">Likely causes</h2>')
    body.push(causeList(result.diff.causes, firstOfCause(result.diff.events)))
  }
  body.push(
    `<h2>Checks</h2><div class="tw"><table><thead><tr><th scope="col">check</th><th scope="col">result</th><th scope="col">detail</th></tr></thead><tbody>` +
      result.checks
        .map(
          (c) =>
            `<tr><td>${text(c.name)}</td><td class="${c.ok ? 'st-pass' : 'st-fail'}">${c.ok ? '✓ pass' : '✗ fail'}</td><td class="v">${text(c.detail)}</td></tr>`,
        )
        .join('') +
      '</tbody></table></div>',
  )
  if (result.expected) {
    const e = result.expected
    body.push(
      `<dl class="kv"><dt>expected</dt><dd>${e.kind === 'digest' ? `<code>${text(e.digest)}</code>` : `<code>${text(e.input)}</code> ${e.digest ? `<code>${text(e.digest)}</code>` : ''}`}</dd></dl>`,
    )
  }
  if (result.diff) {
    const d = result.diff
    body.push(
      `<h2 id="differences">Differences between ${text(d.a)} and ${text(d.b)} (${d.differences}${d.events.length < d.differences ? `, the first ${d.events.length} shown: run repro diff --html for all` : ''})</h2>`,
    )
    body.push(
      differenceTables(d.events, {
        staticRows: d.events.length,
        inlineCap: 64 * 1024,
        pageBudget: 1024 * 1024,
        prefix: 'd',
      }),
    )
  }
  const t = options.timings
  body.push(
    `<h2>Rebuilds</h2><div class="tw"><table><thead><tr><th scope="col">runtime</th><th scope="col">#</th><th scope="col">platform</th>` +
      `<th scope="col">image digest</th><th scope="col" class="hide-narrow">archive sha256</th><th scope="col" class="hide-narrow">versions</th>${t ? '<th scope="col">seconds</th>' : ''}</tr></thead><tbody>` +
      result.builds
        .map(
          (b) =>
            `<tr><td>${text(b.runtime)}</td><td>${b.attempt}</td><td>${text(b.platform)}</td><td class="v">${text(b.digest)}</td>` +
            `<td class="v hide-narrow">${text(b.archiveSha256)}</td><td class="hide-narrow">${text([b.runtimeVersion, b.buildkitVersion ? `BuildKit ${b.buildkitVersion}` : ''].filter(Boolean).join(', '))}</td>` +
            `${t ? `<td>${b.seconds}</td>` : ''}</tr>`,
        )
        .join('') +
      '</tbody></table></div>',
  )
  if (result.warnings.length > 0)
    body.push(`<h2>Warnings</h2><ul>${result.warnings.map((w) => `<li>${text(w)}</li>`).join('')}</ul>`)
  return page({title: `repro verify: ${verdict}`, body: body.join('\n')})
}
