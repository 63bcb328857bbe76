// The HTML export's only style: inline (the file's CSP allows nothing else), system fonts, light
// and dark, readable when printed.
export const htmlStyle = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --out: #dcf3e3; --fg: #1b1f24; --muted: #667085; --line: #d0d5dd; }
@media (prefers-color-scheme: dark) { :root { --bg: #111418; --card: #1c2128; --out: #1d3a2a; --fg: #e6e9ee; --muted: #98a2b3; --line: #344054; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 52rem; padding: 1rem; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji"; }
header p, .count, .notes, .meta time, .missing, small { color: var(--muted); }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
nav ul { padding-left: 1.2rem; }
a { color: inherit; }
ol.messages { list-style: none; margin: 0; padding: 0; }
li.day { text-align: center; color: var(--muted); font-size: .85rem; margin: 1rem 0 .5rem; }
li.system { text-align: center; color: var(--muted); font-size: .85rem; margin: .5rem 0; }
li.msg { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .45rem .7rem; margin: .35rem 0; max-width: 85%; width: fit-content; min-width: 12rem; break-inside: avoid; }
li.msg.out { margin-left: auto; background: var(--out); }
.meta { font-size: .8rem; }
.author { font-weight: 600; margin-right: .35rem; }
p { margin: .2rem 0; }
.text, blockquote, figcaption, .file, bdi { unicode-bidi: isolate; overflow-wrap: anywhere; }
.text { white-space: pre-wrap; }
.deleted { font-style: italic; color: var(--muted); }
blockquote { margin: .2rem 0; padding: .1rem .5rem; border-left: 3px solid var(--line); color: var(--muted); font-size: .9rem; white-space: pre-wrap; }
figure { margin: .3rem 0; }
img { display: block; max-width: 100%; max-height: 28rem; border-radius: .4rem; }
figcaption { font-size: .8rem; color: var(--muted); }
ul.reactions { list-style: none; display: flex; gap: .25rem; margin: .2rem 0 0; padding: 0; }
ul.reactions li { border: 1px solid var(--line); border-radius: 1rem; padding: 0 .4rem; font-size: .9rem; }
.notes { font-size: .75rem; text-align: right; }
@media print { body { background: #fff; color: #000; } li.msg { border-color: #999; } }
`
  .trim()
  .replace(/\n\s*/g, ' ')
