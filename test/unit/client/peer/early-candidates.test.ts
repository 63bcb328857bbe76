import { describe, expect, it } from 'vitest'
import { EarlyCandidates } from '../../../../client/core/peer/early-candidates.ts'
import { envelopeWindowMs, sequenceWindow } from '../../../../crypto/index.ts'

describe('candidates that arrive before their offer', () => {
  it('hands over the candidates of a session in arrival order, once, and no other session’s', () => {
    const early = new EarlyCandidates()
    early.keep('alice', 's-1', 'c1')
    early.keep('alice', 's-1', 'c2')
    early.keep('bob', 's-1', 'b1')
    expect(early.take('alice', 's-2')).toEqual([])
    expect(early.take('alice', 's-1')).toEqual(['c1', 'c2'])
    expect(early.take('alice', 's-1')).toEqual([])
    expect(early.take('bob', 's-1')).toEqual(['b1'])
  })

  it('keeps two sessions per friend, the newest, and no more candidates than the sequence window', () => {
    const early = new EarlyCandidates()
    for (const sid of ['s-1', 's-2', 's-3']) early.keep('alice', sid, sid)
    for (let i = 0; i < sequenceWindow + 10; i++) early.keep('alice', 's-3', `c${i}`)
    expect(early.take('alice', 's-1')).toEqual([])
    expect(early.take('alice', 's-2')).toEqual(['s-2'])
    expect(early.take('alice', 's-3')).toHaveLength(sequenceWindow)
  })

  it('forgets candidates once their envelopes would be stale, and all of a friend’s on disconnect', () => {
    let now = 1_000_000
    const early = new EarlyCandidates(() => now)
    early.keep('alice', 's-1', 'c1')
    early.keep('bob', 's-1', 'b1')
    now += envelopeWindowMs + 1
    expect(early.take('alice', 's-1')).toEqual([])
    early.forget('bob')
    expect(early.take('bob', 's-1')).toEqual([])
  })
})
