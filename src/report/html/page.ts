/**
 * The page shell shared by every HTML report: one self-contained file, inline CSS and (optionally) one inline
 * script, no external resource of any kind. A Content-Security-Policy pins the style and the script by their
 * sha256, so even an escaping mistake could not run injected script or load anything from the network.
 */
import {createHash} from 'node:crypto'

import {text} from './escape.js'

const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--head:#f6f8fa;
--ok:#1a7f37;--okbg:#dafbe1;--bad:#cf222e;--badbg:#ffebe9;--warn:#9a6700;--warnbg:#fff8c5;--link:#0550ae;
--add:#e6ffec;--del:#ffebe9;--addw:#abf2bc;--delw:#ffc1c0;--focus:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;--line:#30363d;--head:#161b22;
--ok:#3fb950;--okbg:#12261e;--bad:#f85149;--badbg:#2d1214;--warn:#d29922;--warnbg:#272115;--link:#58a6ff;
--add:#12261e;--del:#2d1214;--addw:#1f6f3a;--delw:#8e2a28;--focus:#58a6ff}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1400px;margin:0 auto;padding:12px 16px 48px}
a{color:var(--link)}
a:focus-visible,button:focus-visible,summary:focus-visible,input:focus-visible,select:focus-visible,td:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px;z-index:9}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin:1.2em 0 .4em}h3{font-size:1.05em;margin:.8em 0 .3em}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
.verdict{border:2px solid;border-radius:8px;padding:10px 14px;margin:8px 0 14px}
.verdict.ok{border-color:var(--ok);background:var(--okbg)}.verdict.bad{border-color:var(--bad);background:var(--badbg)}
.verdict.warn{border-color:var(--warn);background:var(--warnbg)}
.verdict strong{font-size:1.25em}
.muted{color:var(--muted)}
.tw{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
td.v{word-break:break-all;white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;min-width:8em}
td.a{background:var(--del)}td.b{background:var(--add)}
.badge{display:inline-block;border-radius:10px;padding:0 7px;font-size:.8em;border:1px solid var(--line);white-space:nowrap}
.c-content{border-color:var(--bad);color:var(--bad)}.c-metadata{border-color:var(--warn);color:var(--warn)}
.c-packaging{border-color:var(--muted);color:var(--muted)}
ol.causes{padding-left:1.4em}ol.causes li{margin:.35em 0}
details.g{margin:.5em 0;border:1px solid var(--line);border-radius:6px;padding:0 6px 6px}
details.g>summary{cursor:pointer;padding:6px 2px;font-weight:600}
.sbs{table-layout:fixed;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82em}
.sbs td{border:0;padding:0 4px;white-space:pre-wrap;word-break:break-all}
.sbs td.n{width:3.5em;text-align:right;color:var(--muted);user-select:none}
.sbs td.del{background:var(--del)}.sbs td.add{background:var(--add)}.sbs tr.h td{color:var(--muted);background:var(--head)}
div.sb{content-visibility:auto;contain-intrinsic-size:auto 6em}
pre.hex{overflow-x:auto;margin:4px 0}pre.hex mark{background:var(--delw);color:inherit}
#filters{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:center;margin:8px 0;padding:8px;border:1px solid var(--line);border-radius:6px}
#pager{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:8px 0}
button{font:inherit;padding:2px 10px;border-radius:6px;border:1px solid var(--line);background:var(--head);color:var(--fg);cursor:pointer}
select{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:2px}
.js .nojs{display:none}
.m td.cell{text-align:center;white-space:nowrap}
.m td.pass{background:var(--okbg)}.m td.fail,.m td.error{background:var(--badbg)}.m td.expected{background:var(--warnbg)}
.m td.none{color:var(--muted)}
.st-pass{color:var(--ok)}.st-fail,.st-error{color:var(--bad)}.st-expected{color:var(--warn)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-all}
@media (max-width:640px){main{padding:8px}body{font-size:14px}th,td{padding:3px 4px}.hide-narrow{display:none}}
`

function sha256b64(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('base64')
}

export interface PageOptions {
  title: string
  body: string
  /** the page's one inline script (a constant of this module's callers, never data) */
  script?: string
}

/** The whole document. Deterministic: no date, no host, no random id. */
export function page(o: PageOptions): string {
  const scriptSrc = o.script ? `'sha256-${sha256b64(o.script)}'` : "'none'"
  const csp = `default-src 'none'; style-src 'sha256-${sha256b64(CSS)}'; script-src ${scriptSrc}; img-src data:; base-uri 'none'; form-action 'none'`
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${text(o.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<a class="skip" href="#main">Skip to content</a>',
    `<main id="main">`,
    o.body,
    '</main>',
    o.script ? `<script>${o.script}</script>` : '',
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
