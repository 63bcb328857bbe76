import { describe, expect, it } from 'vitest'
import { decodePeerMessage, peerLimits } from '../../../shared/index.ts'

const id = 'AAAAAAAAAAAAAAAAAAAAAA'
const of = 'BBBBBBBBBBBBBBBBBBBBBB'

function failure(raw: unknown): string {
  const d = decodePeerMessage(raw)
  if (d.ok) throw new Error(`decoded ${JSON.stringify(raw)}`)
  return 'path' in d ? `${d.reason} ${d.path}` : d.reason
}

describe('peer messages: replies and disappearing texts', () => {
  it('accepts a text with a quote and a timer', () => {
    const raw = {
      type: 'text',
      id,
      ts: 1,
      text: 'yes!',
      replyTo: { id: of, author: 'alice', excerpt: 'shall we?' },
      expiresAfter: 3600,
    }
    expect(decodePeerMessage(raw)).toEqual({ ok: true, value: raw })
  })

  it('rejects a quote whose excerpt is too long, whose author is not a username, or with extra fields', () => {
    const base = { type: 'text', id, ts: 1, text: 'hi' }
    const quote = { id: of, author: 'alice', excerpt: 'x' }
    expect(
      failure({ ...base, replyTo: { ...quote, excerpt: 'x'.repeat(peerLimits.maxQuoteExcerptLength + 1) } }),
    ).toMatch(/^bad-frame \/replyTo\/excerpt/)
    expect(failure({ ...base, replyTo: { ...quote, author: 'no spaces allowed' } })).toMatch(
      /^bad-frame \/replyTo\/author/,
    )
    expect(failure({ ...base, replyTo: { ...quote, text: 'the whole message' } })).toMatch(
      /^bad-frame \/replyTo/,
    )
  })

  it('rejects a timer of zero, a fraction or beyond the limit on a message', () => {
    const base = { type: 'text', id, ts: 1, text: 'hi' }
    expect(failure({ ...base, expiresAfter: 0 })).toMatch(/^bad-frame \/expiresAfter/)
    expect(failure({ ...base, expiresAfter: 1.5 })).toMatch(/^bad-frame \/expiresAfter/)
    expect(failure({ ...base, expiresAfter: peerLimits.maxTimerSeconds + 1 })).toMatch(
      /^bad-frame \/expiresAfter/,
    )
  })
})

describe('peer messages: reactions, edits, deletions, timers', () => {
  it('accepts each well-formed action', () => {
    for (const raw of [
      { type: 'reaction', id, ts: 2, of, emoji: '👍🏽' },
      { type: 'reaction', id, ts: 2, of, emoji: '👩‍👩‍👧‍👦' },
      { type: 'reaction', id, ts: 2, of, emoji: '' },
      { type: 'edit', id, ts: 3, of, text: 'fixed the typo' },
      { type: 'delete', id, ts: 4, of },
      { type: 'timer', id, ts: 5, seconds: 0 },
      { type: 'timer', id, ts: 5, seconds: peerLimits.maxTimerSeconds },
    ])
      expect(decodePeerMessage(raw)).toEqual({ ok: true, value: raw })
  })

  it('rejects a reaction that is too long, holds whitespace or control characters, or lacks its target', () => {
    const base = { type: 'reaction', id, ts: 2, of }
    expect(failure({ ...base, emoji: '😀'.repeat(17) })).toMatch(/^bad-frame \/emoji/)
    expect(failure({ ...base, emoji: 'a b' })).toMatch(/^bad-frame \/emoji/)
    expect(failure({ ...base, emoji: '\u0007' })).toMatch(/^bad-frame \/emoji/)
    expect(failure({ type: 'reaction', id, ts: 2, emoji: '👍' })).toMatch(/^bad-frame \/of/)
  })

  it('rejects an edit with empty or oversized text, or a bad target id', () => {
    const base = { type: 'edit', id, ts: 3, of }
    expect(failure({ ...base, text: '' })).toMatch(/^bad-frame \/text/)
    expect(failure({ ...base, text: 'x'.repeat(peerLimits.maxTextLength + 1) })).toMatch(/^bad-frame \/text/)
    expect(failure({ ...base, of: 'not an id!', text: 'x' })).toMatch(/^bad-frame \/of/)
  })

  it('rejects a delete carrying anything else, and timers out of range', () => {
    expect(failure({ type: 'delete', id, ts: 4, of, text: 'gone' })).toMatch(/^bad-frame/)
    expect(failure({ type: 'timer', id, ts: 5, seconds: -1 })).toMatch(/^bad-frame \/seconds/)
    expect(failure({ type: 'timer', id, ts: 5, seconds: peerLimits.maxTimerSeconds + 1 })).toMatch(
      /^bad-frame \/seconds/,
    )
    expect(failure({ type: 'timer', id, ts: 5, seconds: '3600' })).toMatch(/^bad-frame \/seconds/)
  })

  it('names an unknown type as such', () => {
    expect(failure({ type: 'poke', id, ts: 1 })).toBe('unknown-type')
  })
})
