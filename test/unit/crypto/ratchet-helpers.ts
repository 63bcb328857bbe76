import { randomBytes, RatchetSession, type RatchetOptions, x25519KeyPair } from '../../../crypto/index.ts'

/** Two sessions as a completed handshake would create them (random root key and hash). */
export function ratchetPair(options: RatchetOptions = {}): { alice: RatchetSession; bob: RatchetSession } {
  const rootKey = randomBytes(32)
  const associatedData = randomBytes(32)
  const a = x25519KeyPair()
  const b = x25519KeyPair()
  return {
    alice: RatchetSession.create(
      { role: 'initiator', rootKey, associatedData, ownRatchetKeyPair: a, remoteRatchetKey: b.publicKey },
      options,
    ),
    bob: RatchetSession.create(
      { role: 'responder', rootKey, associatedData, ownRatchetKeyPair: b, remoteRatchetKey: a.publicKey },
      options,
    ),
  }
}

/** A deep copy through JSON, as persisted state would be. */
export function clone(session: RatchetSession, options: RatchetOptions = {}): RatchetSession {
  return RatchetSession.restore(JSON.parse(JSON.stringify(session.toJson())), options)
}

export function snapshot(session: RatchetSession): string {
  return JSON.stringify(session.toJson())
}

/** Deterministic Fisher-Yates so fast-check can shrink on the seed. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  let x = seed >>> 0 || 1
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    const j = (x >>> 0) % (i + 1)
    const tmp = out[i] as T
    out[i] = out[j] as T
    out[j] = tmp
  }
  return out
}

export const lowOrderPoints = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]
