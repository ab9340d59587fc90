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
var P=1000,page=0,items=null,done=0,bodies=[].slice.call(d.querySelectorAll('tbody.d[id^="d-"]'));
var boxes=[].slice.call(d.querySelectorAll('input[data-cat]'));
var sel=d.getElementById('fcause'),prev=d.getElementById('prev'),next=d.getElementById('next'),info=d.getElementById('pinfo');
['filters','pager'].forEach(function(id){var e=d.getElementById(id);if(e)e.hidden=false});
function load(){if(items)return;items=bodies.map(function(b){return{el:b,c:b.getAttribute('data-c'),k:b.getAttribute('data-k')}});done=items.length;
var m=d.getElementById('more');if(m){var x=JSON.parse(m.textContent);x.r.forEach(function(r){var k=x.k[r[1]];items.push({t:r[0],c:k[0],k:k[1],h:r[2],el:null})})}}
function upto(n){for(;done<n&&done<items.length;done++){var it=items[done],b=d.createElement('tbody');
b.className='d';b.id='d-'+done;b.hidden=true;b.innerHTML=it.h;d.getElementById('dt'+it.t).appendChild(b);it.el=b;it.h=null}}
function apply(){load();var cats={};boxes.forEach(function(b){if(b.checked)cats[b.getAttribute('data-cat')]=1});
var cause=sel?sel.value:'',m=[],i;
for(i=0;i<items.length;i++){if(cats[items[i].c]&&(!cause||items[i].k===cause))m.push(i)}
var n=Math.max(1,Math.ceil(m.length/P));if(page>=n)page=n-1;if(page<0)page=0;
var lo=page*P,hi=Math.min(lo+P,m.length);if(hi>lo)upto(m[hi-1]+1);
var show=new Set(m.slice(lo,hi)),on={},last=null;
for(i=0;i<done;i++){var el=items[i].el,v=show.has(i);if(el.hidden===v)el.hidden=!v;
if(v&&el.parentNode!==last){last=el.parentNode;var g=last.closest('[data-grp]'),s=g&&g.parentNode.closest('[data-grp]');if(g)on[g.getAttribute('data-grp')]=1;if(s)on[s.getAttribute('data-grp')]=1}}
[].slice.call(d.querySelectorAll('[data-grp^="d"]')).forEach(function(g){g.hidden=!on[g.getAttribute('data-grp')]});
if(info)info.textContent=m.length?'Showing '+(lo+1)+'\\u2013'+hi+' of '+m.length+' differences, page '+(page+1)+' of '+n:'No difference matches the filters';
if(prev)prev.disabled=page===0;if(next)next.disabled=page>=n-1;return m.slice(lo,hi).map(function(i){return items[i].el})}
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
var h=/^#d-(\\d+)$/.exec(location.hash);if(h&&Number(h[1])>=bodies.length){page=Math.floor(Number(h[1])/P);apply();reveal(d.getElementById('d-'+h[1]))}
else if(info)info.textContent=info.getAttribute('data-first');
})();`

/**
 * JSON inside <script type="application/json">: the tokenizer only looks for "</script" (and "<!--", which
 * starts the escaped states), so '</' becomes '<\\/' (a JSON escape of '/') and '<!' becomes '<\\u0021'.
 */
export function dataBlock(data: unknown): string {
  return JSON.stringify(data).replace(/<\//g, '<\\/').replace(/<!/g, '<\\u0021')
}

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
    const deferred: Array<[number, string, string, string]> = []
    body.push(
      differenceTables(diffs, {
        staticRows,
        inlineCap: options.inlineCap ?? INLINE_DIFF_CAP,
        pageBudget: options.pageBudget ?? PAGE_DIFF_BUDGET,
        files: options.files,
        prefix: 'd',
        deferred,
      }),
    )
    const shown = Math.min(diffs.length, staticRows)
    const pages = Math.ceil(diffs.length / staticRows)
    body.push(
      `<div id="pager" hidden><button type="button" id="prev" disabled>Previous</button>` +
        `<span id="pinfo" aria-live="polite" data-first="Showing 1\u2013${shown} of ${diffs.length} differences, page 1 of ${pages}"></span>` +
        `<button type="button" id="next"${pages > 1 ? '' : ' disabled'}>Next</button></div>`,
    )
    if (deferred.length > 0) {
      // {k: [[category, cause]...], r: [[group, index into k, rows]...]}: the pairs once, not per row
      const kinds = new Map<string, number>()
      const k: string[][] = []
      const r = deferred.map(([g, c, cause, inner]) => {
        const key = `${c}\0${cause}`
        if (!kinds.has(key)) kinds.set(key, k.push([c, cause]) - 1)
        return [g, kinds.get(key), inner]
      })
      body.push(`<script type="application/json" id="more">${dataBlock({k, r})}</script>`)
    }
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
