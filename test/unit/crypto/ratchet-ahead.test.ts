import { beforeAll, describe, expect, it } from 'vitest'
import {
  CryptoError,
  initCrypto,
  RatchetSession,
  randomBytes,
  utf8Decode,
  utf8Encode,
  x25519KeyPair,
} from '../../../crypto/index.ts'

function pair(): [RatchetSession, RatchetSession] {
  const rootKey = randomBytes(32)
  const ad = randomBytes(32)
  const a = x25519KeyPair()
  const b = x25519KeyPair()
  return [
    RatchetSession.create({
      role: 'initiator',
      rootKey,
      associatedData: ad,
      ownRatchetKeyPair: a,
      remoteRatchetKey: b.publicKey,
    }),
    RatchetSession.create({
      role: 'responder',
      rootKey,
      associatedData: ad,
      ownRatchetKeyPair: b,
      remoteRatchetKey: a.publicKey,
    }),
  ]
}

beforeAll(async () => {
  await initCrypto()
})

describe('saving ratchet state ahead of use', () => {
  it('restores to a state that skips the reserved message numbers, so no message key is used twice', () => {
    const [alice, bob] = pair()
    const saved = alice.toJsonAhead(8)
    // Alice sends three messages on the live state, then "crashes" and restores the saved state.
    const live = [0, 1, 2].map((i) => alice.encrypt(utf8Encode(`live ${i}`)))
    const restored = RatchetSession.restore(saved)
    expect(restored.sendCount).toBe(alice.sendCount + 5)
    const after = restored.encrypt(utf8Encode('after restore'))
    for (const [i, m] of live.entries()) expect(utf8Decode(bob.decrypt(m))).toBe(`live ${i}`)
    expect(utf8Decode(bob.decrypt(after))).toBe('after restore')
    // The restored state never produced a ciphertext under a key the live state had used.
    expect(() => bob.decrypt(live[0] ?? new Uint8Array())).toThrow(CryptoError)
  })

  it('leaves the live state untouched', () => {
    const [alice, bob] = pair()
    const before = JSON.stringify(alice.toJson())
    alice.toJsonAhead(100)
    expect(JSON.stringify(alice.toJson())).toBe(before)
    expect(utf8Decode(bob.decrypt(alice.encrypt(utf8Encode('hi'))))).toBe('hi')
  })
})
