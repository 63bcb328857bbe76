import { beforeAll, describe, expect, it } from 'vitest'
import {
  generateIdentity,
  Handshake,
  type HandshakeOptions,
  type Identity,
  initCrypto,
  RatchetSession,
} from '../../../crypto/index.ts'
import { ed25519Sign } from '../../../crypto/primitives.ts'
import { staticSignatureMessage } from '../../../crypto/identity.ts'
import { expectCode, flipBit, utf8 } from './helpers.ts'

const fp = (n: number) =>
  'sha-256 ' + Array.from({ length: 32 }, (_, i) => ((n + i) % 256).toString(16).padStart(2, '0')).join(':')

let alice: Identity
let bob: Identity

beforeAll(async () => {
  await initCrypto()
  alice = generateIdentity()
  bob = generateIdentity()
})

function pair(
  overrides: { initiator?: Partial<HandshakeOptions>; responder?: Partial<HandshakeOptions> } = {},
) {
  const common = { sessionId: 'session-1', initiatorFingerprint: fp(1), responderFingerprint: fp(2) }
  const initiator = new Handshake({
    ...common,
    role: 'initiator',
    identity: alice,
    pinnedRemoteIdentityKey: bob.identityKey.publicKey,
    ...overrides.initiator,
  })
  const responder = new Handshake({
    ...common,
    role: 'responder',
    identity: bob,
    pinnedRemoteIdentityKey: alice.identityKey.publicKey,
    ...overrides.responder,
  })
  return { initiator, responder }
}

describe('Tincan handshake (Noise XX with identity payloads)', () => {
  it('completes in three messages with the same handshake hash and working transport keys', () => {
    const { initiator, responder } = pair()
    expect(initiator.isMyTurn).toBe(true)
    expect(responder.isMyTurn).toBe(false)
    responder.readMessage(initiator.writeMessage())
    initiator.readMessage(responder.writeMessage())
    responder.readMessage(initiator.writeMessage())
    expect(initiator.isComplete && responder.isComplete).toBe(true)
    const i = initiator.result()
    const r = responder.result()
    expect(i.handshakeHash).toEqual(r.handshakeHash)
    expect(i.remoteIdentityKey).toEqual(bob.identityKey.publicKey)
    expect(r.remoteIdentityKey).toEqual(alice.identityKey.publicKey)
    expect(i.remoteStaticKey).toEqual(bob.staticKey.publicKey)
    expect(r.receive.decrypt(i.send.encrypt(utf8('over noise')))).toEqual(utf8('over noise'))
    expect(i.ratchetInit.rootKey).toEqual(r.ratchetInit.rootKey)
    const a = RatchetSession.create(i.ratchetInit)
    const b = RatchetSession.create(r.ratchetInit)
    expect(b.decrypt(a.encrypt(utf8('over the ratchet')))).toEqual(utf8('over the ratchet'))
  })

  it('aborts when the responder is not the pinned identity', () => {
    const mallory = generateIdentity()
    const { initiator } = pair()
    const impostor = pair({ responder: { identity: mallory } }).responder
    impostor.readMessage(initiator.writeMessage())
    expectCode(() => initiator.readMessage(impostor.writeMessage()), 'untrusted-key')
    expectCode(() => initiator.writeMessage(), 'bad-state')
  })

  it('aborts when the initiator is not the pinned identity', () => {
    const mallory = generateIdentity()
    const { responder } = pair()
    const impostor = pair({ initiator: { identity: mallory } }).initiator
    responder.readMessage(impostor.writeMessage())
    impostor.readMessage(responder.writeMessage())
    expectCode(() => responder.readMessage(impostor.writeMessage()), 'untrusted-key')
    expect(responder.isComplete).toBe(false)
  })

  it('aborts when the static key is not signed by the pinned identity key', () => {
    const mallory = generateIdentity()
    // Bob's identity key with a static key Bob never signed.
    const forged: Identity = {
      identityKey: bob.identityKey,
      staticKey: mallory.staticKey,
      staticSignature: ed25519Sign(
        mallory.identityKey.secretKey,
        staticSignatureMessage(mallory.staticKey.publicKey),
      ),
    }
    const { initiator } = pair()
    const responder = pair({ responder: { identity: forged } }).responder
    responder.readMessage(initiator.writeMessage())
    expectCode(() => initiator.readMessage(responder.writeMessage()), 'untrusted-key')
  })

  it('fails when the two sides saw different DTLS fingerprints or session ids', () => {
    for (const responderOverride of [
      { initiatorFingerprint: fp(9) },
      { responderFingerprint: fp(9) },
      { sessionId: 'other' },
    ]) {
      const { initiator } = pair()
      const responder = pair({ responder: responderOverride }).responder
      responder.readMessage(initiator.writeMessage())
      expectCode(() => initiator.readMessage(responder.writeMessage()), 'decrypt-failed')
    }
  })

  it('fails on a tampered handshake message', () => {
    const { initiator, responder } = pair()
    responder.readMessage(initiator.writeMessage())
    const m2 = responder.writeMessage()
    expectCode(() => initiator.readMessage(flipBit(m2, m2.length - 1)), 'decrypt-failed')
    const again = pair()
    const m1 = again.initiator.writeMessage()
    again.responder.readMessage(m1)
    again.initiator.readMessage(again.responder.writeMessage())
    const m3 = again.initiator.writeMessage()
    expectCode(() => again.responder.readMessage(flipBit(m3, 5)), 'decrypt-failed')
  })

  it('refuses to hand out a result before completion and messages out of turn', () => {
    const { initiator, responder } = pair()
    expectCode(() => initiator.result(), 'bad-state')
    expectCode(() => responder.writeMessage(), 'bad-state')
  })
})
