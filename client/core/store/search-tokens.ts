import { hmacSha256, toBase64Url, utf8Encode } from '../../../crypto/index.ts'

/**
 * A blind index for search over encrypted history: each message is stored with keyed hashes
 * of its search tokens, never the tokens themselves. A query hashes its own tokens the same way
 * and looks them up; candidates are then decrypted and checked, so the index only narrows.
 *
 * Tokens: for Latin-script words, the whole word and its first three letters (so "hel" finds
 * "hello"); for Chinese, Japanese and Korean text, every character and every pair of adjacent
 * characters (words there are not separated by spaces).
 */
const cjk = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/u
const wordChars = /[\p{L}\p{N}]+/gu
const prefixLength = 3

function rawTokens(text: string, forQuery: boolean): Set<string> {
  const out = new Set<string>()
  const lower = text.toLowerCase()
  for (const match of lower.matchAll(wordChars)) {
    const word = match[0]
    let latin = ''
    const chars = [...word]
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i] ?? ''
      if (cjk.test(c)) {
        if (latin !== '') addWord(out, latin, forQuery)
        latin = ''
        const next = chars[i + 1]
        if (!forQuery) out.add(`c:${c}`)
        if (next !== undefined && cjk.test(next)) out.add(`c:${c}${next}`)
        else if (forQuery && (i === 0 || !cjk.test(chars[i - 1] ?? ''))) out.add(`c:${c}`)
      } else latin += c
    }
    if (latin !== '') addWord(out, latin, forQuery)
  }
  return out
}

function addWord(out: Set<string>, word: string, forQuery: boolean): void {
  const chars = [...word]
  if (forQuery) {
    // A query word is matched as a prefix of a stored word.
    out.add(chars.length >= prefixLength ? `p:${chars.slice(0, prefixLength).join('')}` : `w:${word}`)
    return
  }
  out.add(`w:${word}`)
  if (chars.length >= prefixLength) out.add(`p:${chars.slice(0, prefixLength).join('')}`)
}

export class SearchIndexer {
  constructor(private readonly key: Uint8Array) {}

  private hash(token: string): string {
    return toBase64Url(hmacSha256(this.key, utf8Encode(token)).subarray(0, 9))
  }

  /** Hashed tokens to store beside a message. */
  tokensFor(text: string): string[] {
    return [...rawTokens(text, false)].map((t) => this.hash(t))
  }

  /**
   * Hashed tokens a matching message must all have, each with how specific it is (longer raw
   * tokens match fewer messages). Empty for a query with no words.
   */
  queryTokens(query: string): { hash: string; specificity: number }[] {
    return [...rawTokens(query, true)].map((t) => ({ hash: this.hash(t), specificity: [...t].length }))
  }
}

/** Where the query occurs in the text, case-insensitively, for highlighting. */
export function findMatches(text: string, query: string): { start: number; end: number }[] {
  const q = query.trim().toLowerCase()
  if (q === '') return []
  const lower = text.toLowerCase()
  const out: { start: number; end: number }[] = []
  let from = 0
  for (;;) {
    const i = lower.indexOf(q, from)
    if (i < 0) break
    out.push({ start: i, end: i + q.length })
    from = i + q.length
  }
  return out
}
