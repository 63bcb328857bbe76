import { beforeAll, describe, expect, it } from 'vitest'
import {
  type EnvelopeInput,
  generateIdentity,
  type Identity,
  initCrypto,
  MemorySequenceStore,
  sequenceWindow,
  signEnvelope,
  type SignedEnvelope,
  verifyEnvelope,
  type VerifyEnvelopeContext,
} from '../../../crypto/index.ts'
import { expectCodeAsync } from './helpers.ts'

const fpAlice =
  'sha-256 ' + Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0')).join(':')
const fpMallory =
  'sha-256 ' + Array.from({ length: 32 }, (_, i) => (i * 5).toString(16).padStart(2, '0')).join(':')
const sdp = (fp: string) =>
  ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel']
    .concat([`a=fingerprint:${fp}`, 'a=setup:actpass', ''])
    .join('\r\n')

const now = 1_764_000_000_000
let alice: Identity
let bob: Identity

beforeAll(async () => {
  await initCrypto()
  alice = generateIdentity()
  bob = generateIdentity()
})

function offer(overrides: Partial<EnvelopeInput> = {}): SignedEnvelope {
  return signEnvelope(alice.identityKey, {
    type: 'offer',
    from: 'alice',
    to: 'bob',
    sessionId: 's-1',
    sequence: 1,
    timestampMs: now,
    fingerprints: [fpAlice],
    payload: sdp(fpAlice),
    ...overrides,
  })
}

function candidate(overrides: Partial<EnvelopeInput> = {}): SignedEnvelope {
  return offer({
    type: 'candidate',
    payload: `{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host"}`,
    ...overrides,
  })
}

function bobContext(overrides: Partial<VerifyEnvelopeContext> = {}): VerifyEnvelopeContext {
  return {
    me: 'bob',
    pins: {
      pinnedIdentityKey: (u) => Promise.resolve(u === 'alice' ? alice.identityKey.publicKey : null),
    },
    sequences: new MemorySequenceStore(),
    nowMs: () => now + 5_000,
    ...overrides,
  }
}

describe('signed signaling envelopes', () => {
  it('verifies an offer that went through JSON and returns its fields', async () => {
    const e = JSON.parse(JSON.stringify(offer())) as unknown
    const v = await verifyEnvelope(e, bobContext())
    expect(v.from).toBe('alice')
    expect(v.payload).toBe(sdp(fpAlice))
    expect(v.fingerprints).toEqual([fpAlice.toUpperCase().replace('SHA-256', 'sha-256')])
    expect(JSON.stringify(e).length).toBeLessThan(64 * 1024)
  })

  it('refuses an envelope whose signed fields were tampered with', async () => {
    const e = offer()
    const tampered: SignedEnvelope[] = [
      { ...e, from: 'alice2' },
      { ...e, sid: 's-2' },
      { ...e, seq: 2 },
      { ...e, ts: e.ts + 1 },
      { ...e, type: 'answer' },
      { ...e, payload: e.payload + 'a=extra\r\n' },
      { ...e, fps: [fpAlice, fpMallory] },
    ]
    const ctx = bobContext({
      pins: { pinnedIdentityKey: () => Promise.resolve(alice.identityKey.publicKey) },
    })
    for (const t of tampered) await expectCodeAsync(() => verifyEnvelope(t, ctx), 'bad-signature')
    const sig = Buffer.from(e.sig, 'base64url')
    sig[10] = (sig[10] ?? 0) ^ 1
    await expectCodeAsync(
      () => verifyEnvelope({ ...e, sig: sig.toString('base64url') }, ctx),
      'bad-signature',
    )
  })

  it('refuses an envelope addressed to somebody else', async () => {
    await expectCodeAsync(() => verifyEnvelope(offer({ to: 'carol' }), bobContext()), 'wrong-recipient')
  })

  it('refuses an envelope older or newer than the 120 s window', async () => {
    await expectCodeAsync(() => verifyEnvelope(offer({ timestampMs: now - 121_000 }), bobContext()), 'stale')
    await expectCodeAsync(() => verifyEnvelope(offer(), bobContext({ nowMs: () => now - 120_001 })), 'stale')
    await expect(verifyEnvelope(offer({ timestampMs: now - 114_000 }), bobContext())).resolves.toBeDefined()
  })

  it('accepts the envelopes of a session in any order, each once, per session', async () => {
    // An honest relay may deliver a candidate before its offer: nothing about that is an attack.
    const ctx = bobContext()
    await verifyEnvelope(candidate({ sequence: 3 }), ctx)
    await verifyEnvelope(candidate({ sequence: 2 }), ctx)
    await expect(verifyEnvelope(offer({ sequence: 1 }), ctx)).resolves.toMatchObject({ type: 'offer' })
    await verifyEnvelope(candidate({ sequence: 4 }), ctx)
    await verifyEnvelope(offer({ sequence: 1, sessionId: 's-2' }), ctx)
  })

  it('drops the very same envelope delivered twice as a duplicate, not as an attack', async () => {
    // A sender whose acknowledgment was lost re-sends the envelope verbatim after reconnecting.
    const ctx = bobContext()
    const e = JSON.stringify(offer())
    await verifyEnvelope(JSON.parse(e), ctx)
    await expectCodeAsync(() => verifyEnvelope(JSON.parse(e), ctx), 'duplicate')
    await expectCodeAsync(() => verifyEnvelope(JSON.parse(e), ctx), 'duplicate')
    await verifyEnvelope(candidate({ sequence: 2 }), ctx)
    await expectCodeAsync(() => verifyEnvelope(JSON.parse(e), ctx), 'duplicate')
  })

  it('refuses as a replay a different envelope that reuses an accepted sequence number', async () => {
    const ctx = bobContext()
    await verifyEnvelope(offer({ sequence: 1 }), ctx)
    await verifyEnvelope(candidate({ sequence: 2 }), ctx)
    // Only the sender can sign these: a relay cannot make one, a sender that does is misbehaving.
    await expectCodeAsync(() => verifyEnvelope(offer({ sequence: 2 }), ctx), 'replay')
    await expectCodeAsync(() => verifyEnvelope(offer({ sequence: 1, timestampMs: now + 1 }), ctx), 'replay')
    await expectCodeAsync(() => verifyEnvelope(candidate({ sequence: 1 }), ctx), 'replay')
    // The refused ones changed nothing: the originals are still duplicates.
    await expectCodeAsync(() => verifyEnvelope(offer({ sequence: 1 }), ctx), 'duplicate')
  })

  it('refuses an envelope a window or more behind the latest of its session, even one accepted before', async () => {
    const ctx = bobContext()
    const first = offer({ sequence: 1 })
    await verifyEnvelope(first, ctx)
    await verifyEnvelope(candidate({ sequence: 100 }), ctx)
    // Too far behind to tell a re-sent envelope from a replayed one: refused and reported.
    await expectCodeAsync(() => verifyEnvelope(first, ctx), 'replay')
    await expectCodeAsync(() => verifyEnvelope(candidate({ sequence: 100 - sequenceWindow }), ctx), 'replay')
    await verifyEnvelope(candidate({ sequence: 101 - sequenceWindow }), ctx)
  })

  it('does not burn a sequence number on an envelope that fails verification', async () => {
    const ctx = bobContext()
    await expectCodeAsync(() => verifyEnvelope({ ...offer({ sequence: 9 }), seq: 10 }, ctx), 'bad-signature')
    await verifyEnvelope(offer({ sequence: 10 }), ctx)
    await expectCodeAsync(() => verifyEnvelope(offer({ sequence: 11, to: 'carol' }), ctx), 'wrong-recipient')
    await expectCodeAsync(() => verifyEnvelope(offer({ sequence: 11, timestampMs: 0 }), ctx), 'stale')
    await verifyEnvelope(offer({ sequence: 11 }), ctx)
  })

  it('refuses an SDP whose fingerprint was swapped for an unsigned one', async () => {
    // The relay cannot re-sign, so it swaps the SDP and keeps Alice's signed fingerprint list:
    // caught as tampering. A sender whose SDP and signed list disagree is caught here.
    const swapped = offer({ payload: sdp(fpMallory) })
    await expectCodeAsync(() => verifyEnvelope(swapped, bobContext()), 'fingerprint-mismatch')
    const withExtra = offer({ payload: sdp(fpAlice) + `a=fingerprint:${fpMallory}\r\n` })
    await expectCodeAsync(() => verifyEnvelope(withExtra, bobContext()), 'fingerprint-mismatch')
    const tamperedPayload = { ...offer(), payload: sdp(fpMallory) }
    await expectCodeAsync(() => verifyEnvelope(tamperedPayload, bobContext()), 'bad-signature')
  })

  it('refuses an offer or answer with no fingerprint at all, but not a candidate', async () => {
    const bare = 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n'
    await expectCodeAsync(
      () => verifyEnvelope(offer({ payload: bare }), bobContext()),
      'fingerprint-mismatch',
    )
    const candidate = offer({
      type: 'candidate',
      payload: '{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host"}',
    })
    await expect(verifyEnvelope(candidate, bobContext())).resolves.toMatchObject({ type: 'candidate' })
  })

  it('refuses an envelope signed by a key other than the pinned one', async () => {
    const forged = signEnvelope(bob.identityKey, {
      type: 'offer',
      from: 'alice',
      to: 'bob',
      sessionId: 's-1',
      sequence: 1,
      timestampMs: now,
      fingerprints: [fpAlice],
      payload: sdp(fpAlice),
    })
    await expectCodeAsync(() => verifyEnvelope(forged, bobContext()), 'untrusted-key')
    const unknownSender = offer({ from: 'dave' })
    await expectCodeAsync(() => verifyEnvelope(unknownSender, bobContext()), 'untrusted-key')
    // Claiming the pinned key while signing with another one fails on the signature.
    await expectCodeAsync(
      () => verifyEnvelope({ ...forged, key: offer().key }, bobContext()),
      'bad-signature',
    )
  })

  it('refuses malformed envelopes', async () => {
    const e = offer()
    for (const bad of [
      null,
      'x',
      { ...e, v: 2 },
      { ...e, seq: -1 },
      { ...e, fps: [1] },
      { ...e, key: 'AA' },
    ]) {
      await expectCodeAsync(() => verifyEnvelope(bad, bobContext()), 'bad-format')
    }
  })
})
