/** A piece of text to show, marked when it is part of a match. */
export interface TextPart {
  readonly text: string
  readonly mark: boolean
}

export interface Range {
  readonly start: number
  readonly end: number
}

/**
 * The stretch of `text` around its first match, split into plain and matched parts for the
 * template to wrap in <mark> (text is never turned into HTML). An ellipsis shows what was cut.
 */
export function highlightParts(
  text: string,
  matches: readonly Range[],
  contextChars = 40,
  maxChars = 160,
): TextPart[] {
  const sorted = [...matches].filter((m) => m.end > m.start).sort((a, b) => a.start - b.start)
  const first = sorted[0]
  let from = first === undefined ? 0 : Math.max(0, first.start - contextChars)
  // Do not start in the middle of a word when there is a space nearby.
  if (from > 0) {
    const space = text.lastIndexOf(' ', from)
    if (space >= 0 && from - space < 12) from = space + 1
  }
  const to = Math.min(text.length, from + maxChars)
  const parts: TextPart[] = []
  const push = (s: string, mark: boolean) => {
    if (s !== '') parts.push({ text: s, mark })
  }
  if (from > 0) push('…', false)
  let at = from
  for (const m of sorted) {
    const start = Math.max(m.start, at)
    const end = Math.min(m.end, to)
    if (end <= start) continue
    push(text.slice(at, start), false)
    push(text.slice(start, end), true)
    at = end
  }
  push(text.slice(at, to), false)
  if (to < text.length) push('…', false)
  return parts
}
