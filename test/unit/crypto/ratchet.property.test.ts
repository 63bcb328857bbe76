import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { CryptoError, initCrypto, type RatchetSession } from '../../../crypto/index.ts'
import { hex, utf8 } from './helpers.ts'
import { clone, lowOrderPoints, ratchetPair, shuffle, snapshot } from './ratchet-helpers.ts'

// Ported in spirit from libsignal's session tests: out-of-order delivery, duplicate messages,
// failed decryption leaving state unchanged, chain jumps over the limit.

beforeAll(async () => {
  await initCrypto()
})

function refuses(session: RatchetSession, message: Uint8Array): CryptoError {
  try {
    session.decrypt(message)
  } catch (e) {
    if (e instanceof CryptoError) return e
    throw e
  }
  throw new Error('message was accepted')
}

interface Sent {
  readonly to: 'alice' | 'bob'
  readonly text: string
  readonly message: Uint8Array
}

/**
 * Rounds alternate senders; in each round the receiver gets one message at once (so the next
 * round crosses a DH step) and the rest are held back for out-of-order delivery at the end.
 */
function converse(rounds: readonly { count: number; pick: number }[], maxSkip: number) {
  const { alice, bob } = ratchetPair({ maxSkip })
  const held: Sent[] = []
  rounds.forEach((round, r) => {
    const [sender, receiver, to] = r % 2 === 0 ? [alice, bob, 'bob' as const] : [bob, alice, 'alice' as const]
    const sent = Array.from({ length: round.count }, (_, i) => {
      const text = `round ${r} message ${i}`
      return { to, text, message: sender.encrypt(utf8(text)) }
    })
    const now = round.pick % sent.length
    expect(receiver.decrypt(sent[now]!.message)).toEqual(utf8(sent[now]!.text))
    held.push(...sent.filter((_, i) => i !== now))
  })
  return { alice, bob, held }
}

const roundsArb = fc.array(fc.record({ count: fc.integer({ min: 1, max: 40 }), pick: fc.nat() }), {
  minLength: 1,
  maxLength: 6,
})

describe('Double Ratchet properties', () => {
  it('decrypts each held-back message exactly once, in any order up to the skip bound, across several DH steps', () => {
    // A lowered bound (40) so that rounds of up to 41 messages reach it exactly.
    const boundedRounds = fc.array(fc.record({ count: fc.integer({ min: 1, max: 41 }), pick: fc.nat() }), {
      minLength: 1,
      maxLength: 6,
    })
    fc.assert(
      fc.property(boundedRounds, fc.integer(), (rounds, seed) => {
        const { alice, bob, held } = converse(rounds, 40)
        for (const m of shuffle(held, seed)) {
          const receiver = m.to === 'alice' ? alice : bob
          expect(receiver.decrypt(m.message)).toEqual(utf8(m.text))
          const before = snapshot(receiver)
          expect(['replay', 'decrypt-failed']).toContain(refuses(receiver, m.message).code)
          expect(snapshot(receiver)).toBe(before)
        }
      }),
      { numRuns: 25 },
    )
  })

  it('refuses every replay without changing the state', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(), (count, pick) => {
        const { alice, bob } = ratchetPair()
        const sent = Array.from({ length: count }, (_, i) => alice.encrypt(utf8(`m${i}`)))
        for (const m of sent) bob.decrypt(m)
        alice.decrypt(bob.encrypt(utf8('reply')))
        bob.decrypt(alice.encrypt(utf8('new chain')))
        const before = snapshot(bob)
        expect(refuses(bob, sent[pick % count]!).code).toBe('replay')
        expect(snapshot(bob)).toBe(before)
      }),
      { numRuns: 20 },
    )
  })

  it('refuses a header beyond the skip bound on the current or a new chain', () => {
    fc.assert(
      fc.property(fc.integer({ min: 11, max: 0xfffffffe }), fc.boolean(), (n, newChain) => {
        const { alice, bob } = ratchetPair({ maxSkip: 10 })
        bob.decrypt(alice.encrypt(utf8('first')))
        const m = alice.encrypt(utf8('x'))
        const forged = m.slice()
        if (newChain) forged.set(ratchetPair().alice.ratchetPublicKey, 2)
        new DataView(forged.buffer).setUint32(38, n + (newChain ? 0 : 1))
        const before = snapshot(bob)
        expect(refuses(bob, forged).code).toBe('too-far-ahead')
        expect(snapshot(bob)).toBe(before)
        expect(bob.decrypt(m)).toEqual(utf8('x'))
      }),
      { numRuns: 30 },
    )
  })

  it('refuses any message with one flipped bit and can still read the original', () => {
    const { alice, bob } = ratchetPair()
    bob.decrypt(alice.encrypt(utf8('warm up')))
    alice.decrypt(bob.encrypt(utf8('new chain')))
    const original = alice.encrypt(utf8('the real message'))
    fc.assert(
      fc.property(fc.nat({ max: original.length - 1 }), fc.integer({ min: 0, max: 7 }), (index, bit) => {
        const forged = original.slice()
        forged[index] = (forged[index] ?? 0) ^ (1 << bit)
        const before = snapshot(bob)
        const code = refuses(bob, forged).code
        expect(['decrypt-failed', 'bad-format', 'too-far-ahead', 'replay', 'low-order-key']).toContain(code)
        expect(snapshot(bob)).toBe(before)
      }),
      { numRuns: 200 },
    )
    expect(bob.decrypt(original)).toEqual(utf8('the real message'))
  })

  it('gives forward secrecy: a state saved after reading cannot read those messages again', () => {
    fc.assert(
      fc.property(roundsArb, (rounds) => {
        const { alice, bob } = ratchetPair()
        const delivered: { to: RatchetSession; message: Uint8Array }[] = []
        rounds.forEach((round, r) => {
          const [sender, receiver] = r % 2 === 0 ? [alice, bob] : [bob, alice]
          for (let i = 0; i < round.count; i++) {
            const message = sender.encrypt(utf8(`${r}/${i}`))
            receiver.decrypt(message)
            delivered.push({ to: receiver, message })
          }
        })
        for (const d of delivered) {
          const stolen = clone(d.to)
          expect(['replay', 'decrypt-failed']).toContain(refuses(stolen, d.message).code)
        }
      }),
      { numRuns: 10 },
    )
  })

  it('recovers from compromise: a cloned state cannot read once its owner has sent, heard back and sent again', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.boolean(), (warmUp, aliceLast) => {
        const { alice, bob } = ratchetPair()
        for (let i = 0; i < warmUp; i++) {
          bob.decrypt(alice.encrypt(utf8('a')))
          alice.decrypt(bob.encrypt(utf8('b')))
        }
        if (aliceLast) bob.decrypt(alice.encrypt(utf8('a')))
        const attacker = clone(bob)
        alice.decrypt(bob.encrypt(utf8('sent under the stolen key')))
        // Alice's reply still mixes in Bob's stolen ratchet key: the attacker reads it.
        const exposed = alice.encrypt(utf8('exposed'))
        expect(attacker.decrypt(exposed)).toEqual(utf8('exposed'))
        bob.decrypt(exposed)
        // Bob answers with a fresh ratchet key the attacker never saw; from here on it is locked out.
        alice.decrypt(bob.encrypt(utf8('healed')))
        const secret = alice.encrypt(utf8('secret again'))
        expect(bob.decrypt(secret)).toEqual(utf8('secret again'))
        expect(refuses(attacker, secret).code).toBe('decrypt-failed')
      }),
      { numRuns: 12 },
    )
  })

  it('refuses every small-order ratchet key, whatever the counters say', () => {
    fc.assert(
      fc.property(fc.constantFrom(...lowOrderPoints), fc.nat({ max: 10 }), (point, n) => {
        const { alice, bob } = ratchetPair()
        const forged = alice.encrypt(utf8('x'))
        forged.set(hex(point), 2)
        new DataView(forged.buffer).setUint32(38, n)
        const before = snapshot(bob)
        expect(refuses(bob, forged).code).toBe('low-order-key')
        expect(snapshot(bob)).toBe(before)
      }),
      { numRuns: 20 },
    )
  })

  it('continues identically after a save and restore at any point', () => {
    fc.assert(
      fc.property(roundsArb, fc.nat(), (rounds, saveAt) => {
        let { alice, bob } = ratchetPair()
        let step = 0
        rounds.forEach((round, r) => {
          for (let i = 0; i < round.count; i++, step++) {
            if (step === saveAt % 50) {
              alice = clone(alice)
              bob = clone(bob)
            }
            const [sender, receiver] = r % 2 === 0 ? [alice, bob] : [bob, alice]
            expect(receiver.decrypt(sender.encrypt(utf8(`${r}/${i}`)))).toEqual(utf8(`${r}/${i}`))
          }
        })
        expect(clone(alice).toJson()).toEqual(alice.toJson())
      }),
      { numRuns: 15 },
    )
  })
})
