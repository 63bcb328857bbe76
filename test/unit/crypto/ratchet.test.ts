import sodiumModule from 'libsodium-wrappers-sumo'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  generateIdentity,
  Handshake,
  hkdfSha256,
  initCrypto,
  randomBytes,
  RatchetSession,
  x25519KeyPair,
} from '../../../crypto/index.ts'
import { kdfChain } from '../../../crypto/ratchet-kdf.ts'
import { expectCode, hex, readVectors, toHex, utf8 } from './helpers.ts'
import { clone, lowOrderPoints, ratchetPair, snapshot } from './ratchet-helpers.ts'

interface ChainVector {
  chainKey: { chainKey: string; cipherKey: string; macKey: string; nextChainKey: string }
}

beforeAll(async () => {
  await initCrypto()
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('Double Ratchet key derivation', () => {
  it("reproduces libsignal's chain-key vector (seed 0x01, next chain 0x02)", () => {
    const v = readVectors<ChainVector>('signal.json').chainKey
    const { seed, nextChainKey } = kdfChain(hex(v.chainKey))
    expect(toHex(nextChainKey)).toBe(v.nextChainKey)
    const keys = hkdfSha256(seed, new Uint8Array(32), utf8('WhisperMessageKeys'), 80)
    expect(toHex(keys.subarray(0, 32))).toBe(v.cipherKey)
    expect(toHex(keys.subarray(32, 64))).toBe(v.macKey)
  })
})

describe('Double Ratchet session', () => {
  it('lets either side speak first and keeps talking across many round trips', () => {
    const { alice, bob } = ratchetPair()
    expect(alice.decrypt(bob.encrypt(utf8('bob first')))).toEqual(utf8('bob first'))
    for (let i = 0; i < 10; i++) {
      expect(bob.decrypt(alice.encrypt(utf8(`a${i}`)))).toEqual(utf8(`a${i}`))
      expect(alice.decrypt(bob.encrypt(utf8(`b${i}`)))).toEqual(utf8(`b${i}`))
    }
  })

  it('pads every message to a multiple of 256 bytes so lengths do not leak', () => {
    const { alice } = ratchetPair()
    const short = alice.encrypt(utf8('hi'))
    const longer = alice.encrypt(new Uint8Array(200))
    expect(short.length).toBe(longer.length)
    expect((short.length - 42 - 16) % 256).toBe(0)
  })

  it('works end to end from a Tincan handshake', () => {
    const a = generateIdentity()
    const b = generateIdentity()
    const fp = (n: number) =>
      'sha-256 ' + Array.from({ length: 32 }, () => n.toString(16).padStart(2, '0')).join(':')
    const common = { sessionId: 's', initiatorFingerprint: fp(1), responderFingerprint: fp(2) }
    const i = new Handshake({
      ...common,
      role: 'initiator',
      identity: a,
      pinnedRemoteIdentityKey: b.identityKey.publicKey,
    })
    const r = new Handshake({
      ...common,
      role: 'responder',
      identity: b,
      pinnedRemoteIdentityKey: a.identityKey.publicKey,
    })
    r.readMessage(i.writeMessage())
    i.readMessage(r.writeMessage())
    r.readMessage(i.writeMessage())
    const alice = RatchetSession.create(i.result().ratchetInit)
    const bob = RatchetSession.create(r.result().ratchetInit)
    expect(bob.decrypt(alice.encrypt(utf8('hello')))).toEqual(utf8('hello'))
    expect(alice.decrypt(bob.encrypt(utf8('hi')))).toEqual(utf8('hi'))
  })

  it('refuses a message from another session with the same keys but another handshake hash', () => {
    const rootKey = randomBytes(32)
    const a = x25519KeyPair()
    const b = x25519KeyPair()
    const alice = RatchetSession.create({
      role: 'initiator',
      rootKey,
      associatedData: randomBytes(32),
      ownRatchetKeyPair: a,
      remoteRatchetKey: b.publicKey,
    })
    const bob = RatchetSession.create({
      role: 'responder',
      rootKey,
      associatedData: randomBytes(32),
      ownRatchetKeyPair: b,
      remoteRatchetKey: a.publicKey,
    })
    expectCode(() => bob.decrypt(alice.encrypt(utf8('x'))), 'decrypt-failed')
  })

  it('rejects a header beyond the skip bound before deriving any key', () => {
    const { alice, bob } = ratchetPair({ maxSkip: 50 })
    bob.decrypt(alice.encrypt(utf8('first')))
    const real = alice.encrypt(utf8('x'))
    const hmac = vi.spyOn(sodiumModule, 'crypto_auth_hmacsha256')
    const dh = vi.spyOn(sodiumModule, 'crypto_scalarmult')
    const before = snapshot(bob)
    const forge = (n: number, pn: number, newKey: boolean) => {
      const m = real.slice()
      if (newKey) m.set(x25519KeyPair().publicKey, 2)
      new DataView(m.buffer).setUint32(34, pn)
      new DataView(m.buffer).setUint32(38, n)
      return m
    }
    expectCode(() => bob.decrypt(forge(52, 0, false)), 'too-far-ahead')
    expectCode(() => bob.decrypt(forge(0xffffffff, 0, false)), 'too-far-ahead')
    expectCode(() => bob.decrypt(forge(51, 0, true)), 'too-far-ahead')
    expectCode(() => bob.decrypt(forge(0, 0xffffffff, true)), 'too-far-ahead')
    expect(hmac).not.toHaveBeenCalled()
    expect(dh).not.toHaveBeenCalled()
    expect(snapshot(bob)).toBe(before)
    // The spies do see derivations: the genuine message goes through them.
    expect(bob.decrypt(real)).toEqual(utf8('x'))
    expect(hmac).toHaveBeenCalled()
  })

  it('accepts a jump of exactly 2000 skipped messages by default, then reads the skipped ones in any order', () => {
    const { alice, bob } = ratchetPair()
    const sent = Array.from({ length: 2001 }, (_, i) => alice.encrypt(utf8(`m${i}`)))
    expect(bob.decrypt(sent[2000]!)).toEqual(utf8('m2000'))
    for (const i of [1999, 0, 1000, 1]) expect(bob.decrypt(sent[i]!)).toEqual(utf8(`m${i}`))
    const next = Array.from({ length: 2002 }, () => alice.encrypt(utf8('x')))
    expectCode(() => bob.decrypt(next[2001]!), 'too-far-ahead')
  })

  it('refuses a ratchet key of small order and keeps its state', () => {
    const { alice, bob } = ratchetPair()
    const m = alice.encrypt(utf8('x'))
    for (const p of lowOrderPoints) {
      const forged = m.slice()
      forged.set(hex(p), 2)
      const before = snapshot(bob)
      expectCode(() => bob.decrypt(forged), 'low-order-key')
      expect(snapshot(bob)).toBe(before)
    }
    expect(bob.decrypt(m)).toEqual(utf8('x'))
    for (const p of lowOrderPoints) {
      expectCode(
        () =>
          RatchetSession.create({
            role: 'initiator',
            rootKey: randomBytes(32),
            associatedData: randomBytes(32),
            ownRatchetKeyPair: x25519KeyPair(),
            remoteRatchetKey: hex(p),
          }),
        'low-order-key',
      )
    }
  })

  it('drops skipped keys after their maximum age and reports the late message as stale', () => {
    let now = 1_000_000
    const opts = { skippedKeyMaxAgeMs: 60_000, nowMs: () => now }
    const { alice, bob } = ratchetPair(opts)
    const late = alice.encrypt(utf8('late'))
    bob.decrypt(alice.encrypt(utf8('on time')))
    now += 60_001
    expectCode(() => bob.decrypt(late), 'stale')
    bob.decrypt(alice.encrypt(utf8('next'))) // a successful decrypt purges expired keys
    expect(bob.toJson().skipped).toEqual([])
    expectCode(() => bob.decrypt(late), 'replay')
  })

  it('keeps skipped keys for at most the configured number of old receiving chains', () => {
    const { alice, bob } = ratchetPair({ maxSkippedChains: 2 })
    const lost: Uint8Array[] = []
    for (let round = 0; round < 4; round++) {
      lost.push(alice.encrypt(utf8(`lost ${round}`)))
      bob.decrypt(alice.encrypt(utf8(`seen ${round}`)))
      alice.decrypt(bob.encrypt(utf8('ack')))
    }
    expect(bob.toJson().skipped).toHaveLength(2)
    expectCode(() => bob.decrypt(lost[0]!), 'replay')
    expect(bob.decrypt(lost[3]!)).toEqual(utf8('lost 3'))
  })

  it('refuses malformed messages and saved states', () => {
    const { alice, bob } = ratchetPair()
    const m = alice.encrypt(utf8('x'))
    const wrongVersion = m.slice()
    wrongVersion[0] = 2
    expectCode(() => bob.decrypt(wrongVersion), 'bad-format')
    expectCode(() => bob.decrypt(m.subarray(0, 50)), 'bad-format')
    expectCode(() => RatchetSession.restore({ ...bob.toJson(), ns: -1 }), 'bad-format')
    expectCode(
      () => RatchetSession.restore({ ...bob.toJson(), dhsPublic: alice.toJson().dhsPublic }),
      'untrusted-key',
    )
    expect(clone(bob).decrypt(m)).toEqual(utf8('x'))
  })
})
