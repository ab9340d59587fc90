/**
 * `repro diff --html`: one self-contained page for a diff result. The verdict first, then the likely causes
 * (each linked to its differences), then a table per platform of every difference with collapsible groups per
 * layer, side-by-side diffs of text files and hex summaries of binary ones. Without JavaScript the verdict,
 * the causes and the first 1,000 differences are readable; the script adds filters by cause class and by
 * cause, and pages through the rest. The same result gives the same bytes.
 */
import {CATEGORY_ORDER, type DiffResult} from '../../diff/types.js'
import {attr, text} from './escape.js'
import {causeList, type ContentFiles, differenceTables, firstOfCause} from './diff-view.js'
import {page} from './page.js'

export const STATIC_ROWS = 1000
export const INLINE_DIFF_CAP = 64 * 1024
export const PAGE_DIFF_BUDGET = 4 * 1024 * 1024

export interface DiffHtmlOptions {
  files?: ContentFiles
  /** where the --report-dir is, relative to the page ('' when the page is inside it), for the note on caps */
  reportDirHref?: string
  staticRows?: number
  inlineCap?: number
  pageBudget?: number
}

// Filtering and paging. Kept small and dependency-free; it only toggles `hidden` and reads data-* attributes.
export const DIFF_SCRIPT = `(function(){
var d=document;d.documentElement.classList.add('js');
var P=1000,page=0,bodies=[].slice.call(d.querySelectorAll('tbody.d[id^="d-"]'));
var groups=[].slice.call(d.querySelectorAll('[data-grp^="d"]'));
var boxes=[].slice.call(d.querySelectorAll('input[data-cat]'));
var sel=d.getElementById('fcause'),prev=d.getElementById('prev'),next=d.getElementById('next'),info=d.getElementById('pinfo');
['filters','pager'].forEach(function(id){var e=d.getElementById(id);if(e)e.hidden=false});
function apply(){var cats={};boxes.forEach(function(b){if(b.checked)cats[b.getAttribute('data-cat')]=1});
var cause=sel?sel.value:'',m=[],i;
for(i=0;i<bodies.length;i++){var b=bodies[i];if(cats[b.getAttribute('data-c')]&&(!cause||b.getAttribute('data-k')===cause))m.push(b)}
var n=Math.max(1,Math.ceil(m.length/P));if(page>=n)page=n-1;if(page<0)page=0;
var lo=page*P,hi=Math.min(lo+P,m.length),show=new Set(m.slice(lo,hi)),on={};
for(i=0;i<bodies.length;i++){var v=show.has(bodies[i]);if(bodies[i].hidden===v)bodies[i].hidden=!v;if(v)bodies[i].getAttribute('data-g').split(' ').forEach(function(x){on[x]=1})}
groups.forEach(function(g){g.hidden=!on[g.getAttribute('data-grp')]});
if(info)info.textContent=m.length?'Showing '+(lo+1)+'\\u2013'+hi+' of '+m.length+' differences, page '+(page+1)+' of '+n:'No difference matches the filters';
if(prev)prev.disabled=page===0;if(next)next.disabled=page>=n-1;return m}
function reveal(el){if(!el)return;var p=el.closest('details');while(p){p.open=true;p=p.parentElement&&p.parentElement.closest('details')}
el.scrollIntoView({block:'start'});var a=el.querySelector('td');if(a){a.tabIndex=-1;a.focus({preventScroll:true})}}
boxes.forEach(function(b){b.addEventListener('change',function(){page=0;apply()})});
if(sel)sel.addEventListener('change',function(){page=0;apply()});
if(prev)prev.addEventListener('click',function(){page--;apply()});
if(next)next.addEventListener('click',function(){page++;apply()});
var reset=d.getElementById('freset');if(reset)reset.addEventListener('click',function(){boxes.forEach(function(b){b.checked=true});if(sel)sel.value='';page=0;apply()});
[].slice.call(d.querySelectorAll('a[data-cause]')).forEach(function(a){a.addEventListener('click',function(ev){
ev.preventDefault();boxes.forEach(function(b){b.checked=true});if(sel)sel.value=a.getAttribute('data-cause');page=0;var m=apply();
if(m.length){history.replaceState(null,'','#'+m[0].id);reveal(m[0])}})});
var t=location.hash&&d.getElementById(location.hash.slice(1)),k=t?bodies.indexOf(t):-1;if(k>=0)page=Math.floor(k/P);
apply();if(k>=0)reveal(t);
})();`

function inputBlock(label: string, i: DiffResult['a']): string {
  return (
    `<dt>${label}</dt><dd><code>${text(i.input)}</code> <span class="muted">${text(i.format)}</span>` +
    `${i.imageDigest ? `<br><code>${text(i.imageDigest)}</code>` : ''}</dd>`
  )
}

export function renderDiffHtml(result: DiffResult, options: DiffHtmlOptions = {}): string {
  const staticRows = options.staticRows ?? STATIC_ROWS
  const s = result.summary
  const diffs = result.differences
  const body: string[] = []
  const title = result.same
    ? 'Same image'
    : `Not the same: ${s.differences} difference${s.differences === 1 ? '' : 's'}`
  body.push(`<h1>repro diff</h1>`)
  body.push(
    `<div class="verdict ${result.same ? 'ok' : 'bad'}" role="status" id="verdict"><strong>${text(title)}</strong>` +
      (result.same
        ? `<br>${s.notes > 0 ? `${s.notes} packaging note(s) that --semantic treats as the same image.` : 'No difference.'}`
        : `<br>${s.causes.length} likely cause${s.causes.length === 1 ? '' : 's'}: ${CATEGORY_ORDER.map((c) => `${s.byCategory[c] ?? 0} ${c}`).join(', ')}`) +
      `</div>`,
  )
  if (s.causes.length > 0) {
    body.push(`<h2 id="causes">Likely causes</h2>`)
    body.push(causeList(s.causes, firstOfCause(diffs)))
  }
  body.push(
    `<dl class="kv">${inputBlock('A', result.a)}${inputBlock('B', result.b)}` +
      `<dt>compared</dt><dd>${s.layersCompared} layers compared, ${s.layersSkipped} skipped (same diff ID), ${s.filesCompared} files</dd>` +
      `<dt>ignored</dt><dd>${s.ignored} by ignore flags; ${s.notes} notes</dd></dl>`,
  )
  if (result.warnings.length > 0)
    body.push(`<h2>Warnings</h2><ul>${result.warnings.map((w) => `<li>${text(w)}</li>`).join('')}</ul>`)
  if (diffs.length > 0) {
    const cats = [...new Set([...CATEGORY_ORDER.filter((c) => s.byCategory[c] > 0), ...diffs.map((e) => e.category)])]
    const causes = [...new Set(diffs.map((e) => e.cause))]
    body.push(`<h2 id="differences">Differences (${diffs.length})</h2>`)
    body.push(
      `<div id="filters" hidden role="group" aria-label="Filters"><span>cause class:</span>` +
        cats.map((c) => `<label><input type="checkbox" data-cat="${attr(c)}" checked> ${text(c)}</label>`).join('') +
        `<label>cause: <select id="fcause"><option value="">all causes</option>${causes
          .map((c) => `<option value="${attr(c)}">${text(c)}</option>`)
          .join('')}</select></label><button type="button" id="freset">Show all</button></div>`,
    )
    if (diffs.length > staticRows)
      body.push(
        `<p class="nojs verdict warn">The first ${staticRows} of ${diffs.length} differences are shown. ` +
          `Turn on JavaScript to page through the rest, or read report.json (--report-dir) or --json.</p>`,
      )
    body.push(
      differenceTables(diffs, {
        staticRows,
        inlineCap: options.inlineCap ?? INLINE_DIFF_CAP,
        pageBudget: options.pageBudget ?? PAGE_DIFF_BUDGET,
        files: options.files,
        prefix: 'd',
      }),
    )
    body.push(
      `<div id="pager" hidden><button type="button" id="prev">Previous</button><span id="pinfo" aria-live="polite"></span>` +
        `<button type="button" id="next">Next</button></div>`,
    )
  }
  if (result.notes.length > 0) {
    const shown = result.notes.slice(0, staticRows)
    body.push(`<h2 id="notes">Notes (${result.notes.length}): packaging only, the same image with --semantic</h2>`)
    body.push(
      differenceTables(shown, {
        staticRows,
        inlineCap: 0,
        pageBudget: 0,
        prefix: 'n',
      }),
    )
    if (result.notes.length > shown.length)
      body.push(`<p class="muted">${result.notes.length - shown.length} more notes in --json.</p>`)
  }
  if (options.reportDirHref !== undefined)
    body.push(
      `<p class="muted">Differing files of both sides: <a href="${attr(options.reportDirHref || './')}">report directory</a> (a/ and b/, for diffoscope).</p>`,
    )
  return page({
    title: `repro diff: ${title}`,
    body: body.join('\n'),
    script: diffs.length > 0 ? DIFF_SCRIPT : undefined,
  })
}
