import { hmacSha256, toBase64Url, utf8Encode } from '../../../crypto/index.ts'

/**
 * A blind index for search over encrypted history: each message is stored with keyed hashes
 * of its search tokens, never the tokens themselves. A query hashes its own tokens the same way
 * and looks them up; candidates are then decrypted and checked, so the index only narrows.
 *
 * Tokens: for Latin-script words, the first three letters (so "hel" finds "hello"), or the whole
 * word if it is shorter; for Chinese, Japanese and Korean text, every character and every pair of
 * adjacent characters (words there are not separated by spaces).
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
        if (latin !== '') addWord(out, latin)
        latin = ''
        const next = chars[i + 1]
        if (!forQuery) out.add(`c:${c}`)
        if (next !== undefined && cjk.test(next)) out.add(`c:${c}${next}`)
        else if (forQuery && (i === 0 || !cjk.test(chars[i - 1] ?? ''))) out.add(`c:${c}`)
      } else latin += c
    }
    if (latin !== '') addWord(out, latin)
  }
  return out
}

/**
 * A word's one token, stored and queried alike: its first three letters, or the whole word if it
 * is shorter. A query word of three letters or more is matched as a prefix of a stored word
 * through the first; a shorter one only as a whole word (through the second), as before.
 * (Stored messages used to carry the whole-word token of longer words too; no query looks for it,
 * and it doubled the index entries a message costs. Records stored with it still match.)
 */
function addWord(out: Set<string>, word: string): void {
  const chars = [...word]
  out.add(chars.length >= prefixLength ? `p:${chars.slice(0, prefixLength).join('')}` : `w:${word}`)
}

/**
 * Hashed tokens kept for reuse. Words repeat (a history of 100,000 messages has far fewer
 * distinct tokens), and hashing was the larger half of storing a message; when the map is full it
 * starts again, so memory stays bounded whatever the history holds.
 */
const maxCachedTokens = 50_000

export class SearchIndexer {
  private readonly hashes = new Map<string, string>()

  constructor(private readonly key: Uint8Array) {}

  private hash(token: string): string {
    const known = this.hashes.get(token)
    if (known !== undefined) return known
    const hash = toBase64Url(hmacSha256(this.key, utf8Encode(token)).subarray(0, 9))
    if (this.hashes.size >= maxCachedTokens) this.hashes.clear()
    this.hashes.set(token, hash)
    return hash
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
