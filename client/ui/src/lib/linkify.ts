export type TextPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'link'; readonly href: string; readonly text: string }

const urlPattern = /\bhttps?:\/\/[^\s<>"'`]+/gi
/** Punctuation that usually ends the sentence rather than the URL. */
const trailing = /[.,!?;:'"’”)\]}>»。，！？；：）】」』]+$/

/** Keeps a closing bracket that balances an opening one inside the URL (Wikipedia-style links). */
function trimUrl(raw: string): string {
  let url = raw.replace(trailing, '')
  const rest = raw.slice(url.length)
  for (const [open, close] of [
    ['(', ')'],
    ['[', ']'],
  ] as const) {
    if (rest.startsWith(close) && url.split(open).length > url.split(close).length) url += close
  }
  return url
}

function safeHref(candidate: string): string | undefined {
  try {
    const u = new URL(candidate)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined
  } catch {
    return undefined
  }
}

/**
 * Splits message text into plain text and http(s) links, for rendering as text nodes and
 * anchors. Nothing here produces HTML: the caller renders each part as text.
 */
export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = []
  let last = 0
  for (const match of text.matchAll(urlPattern)) {
    const start = match.index
    const url = trimUrl(match[0])
    const href = safeHref(url)
    if (href === undefined || url === '') continue
    if (start > last) parts.push({ kind: 'text', text: text.slice(last, start) })
    parts.push({ kind: 'link', href, text: url })
    last = start + url.length
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) })
  return parts
}
