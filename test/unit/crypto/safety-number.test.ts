import { beforeAll, describe, expect, it } from 'vitest'
import {
  ed25519KeyPair,
  formatSafetyNumber,
  initCrypto,
  safetyNumber,
  safetyNumberFromTypedKeys,
  safetyQrPayload,
  toBase64Url,
  fromBase64Url,
  verifySafetyQr,
} from '../../../crypto/index.ts'
import { fingerprintHash } from '../../../crypto/safety-number.ts'
import { expectCode, hex, readVectors, toHex } from './helpers.ts'

interface SignalVectors {
  safetyNumberV1: {
    iterations: number
    aliceIdentityKey: string
    aliceStableId: string
    bobIdentityKey: string
    bobStableId: string
    displayable: string
    aliceFingerprintFirst32: string
    bobFingerprintFirst32: string
  }
}

const v = readVectors<SignalVectors>('signal.json').safetyNumberV1

beforeAll(async () => {
  await initCrypto()
})

describe('safety numbers', () => {
  it("reproduces libsignal's per-party fingerprint hashes", () => {
    expect(v.iterations).toBe(5200)
    const alice = fingerprintHash(hex(v.aliceIdentityKey), v.aliceStableId)
    const bob = fingerprintHash(hex(v.bobIdentityKey), v.bobStableId)
    expect(toHex(alice.subarray(0, 32))).toBe(v.aliceFingerprintFirst32)
    expect(toHex(bob.subarray(0, 32))).toBe(v.bobFingerprintFirst32)
  })

  it("reproduces libsignal's 60-digit displayable number from either side", () => {
    const a = hex(v.aliceIdentityKey)
    const b = hex(v.bobIdentityKey)
    expect(safetyNumberFromTypedKeys(a, v.aliceStableId, b, v.bobStableId)).toBe(v.displayable)
    expect(safetyNumberFromTypedKeys(b, v.bobStableId, a, v.aliceStableId)).toBe(v.displayable)
  })

  it('gives both users the same number and changes it when a key changes', () => {
    const alice = { identityKey: ed25519KeyPair().publicKey, username: 'alice' }
    const bob = { identityKey: ed25519KeyPair().publicKey, username: 'bob' }
    const n = safetyNumber(alice, bob)
    expect(n).toMatch(/^\d{60}$/)
    expect(safetyNumber(bob, alice)).toBe(n)
    expect(safetyNumber(alice, { ...bob, identityKey: ed25519KeyPair().publicKey })).not.toBe(n)
    expect(formatSafetyNumber(n).split(' ')).toHaveLength(12)
  })

  it('matches a QR code shown by the other user and refuses one made for another key', () => {
    const alice = { identityKey: ed25519KeyPair().publicKey, username: 'alice' }
    const bob = { identityKey: ed25519KeyPair().publicKey, username: 'bob' }
    const shownByBob = safetyQrPayload(bob, alice)
    expect(verifySafetyQr(shownByBob, alice, bob)).toBe(true)
    const mallory = { identityKey: ed25519KeyPair().publicKey, username: 'bob' }
    expect(verifySafetyQr(safetyQrPayload(mallory, alice), alice, bob)).toBe(false)
    expect(verifySafetyQr(safetyQrPayload(bob, mallory), alice, bob)).toBe(false)
    // Our own code scanned back (a mirror) is not the peer's.
    expect(verifySafetyQr(safetyQrPayload(alice, bob), alice, bob)).toBe(false)
  })

  it('refuses a QR payload of another version or length', () => {
    const alice = { identityKey: ed25519KeyPair().publicKey, username: 'alice' }
    const bob = { identityKey: ed25519KeyPair().publicKey, username: 'bob' }
    const bytes = fromBase64Url(safetyQrPayload(bob, alice))
    bytes[0] = 2
    expectCode(() => verifySafetyQr(toBase64Url(bytes), alice, bob), 'bad-format')
    expectCode(() => verifySafetyQr(toBase64Url(bytes.subarray(0, 33)), alice, bob), 'bad-format')
  })
})
