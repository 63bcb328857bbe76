import { beforeAll, describe, expect, it } from 'vitest'
import { initCrypto, x25519KeyPair } from '../../../crypto/index.ts'
import { NoiseHandshake, type NoisePattern } from '../../../crypto/noise.ts'
import { expectCode, flipBit, hex, readVectors, toHex } from './helpers.ts'

interface NoiseVector {
  protocol_name: string
  init_prologue: string
  init_static?: string
  init_ephemeral: string
  resp_prologue: string
  resp_static?: string
  resp_ephemeral: string
  handshake_hash: string
  messages: { payload: string; ciphertext: string }[]
}

const vectors = readVectors<{ vectors: NoiseVector[] }>(
  'noise/cacophony-25519-chachapoly-sha256.json',
).vectors
const supported: NoisePattern[] = ['XX', 'NN', 'NX', 'XN', 'IN', 'IX']
const handshakeLength: Record<NoisePattern, number> = { XX: 3, NN: 2, NX: 2, XN: 3, IN: 2, IX: 2 }

function patternOf(v: NoiseVector): NoisePattern | null {
  const m = /^Noise_([A-Z0-9a-z]+)_25519_ChaChaPoly_SHA256$/.exec(v.protocol_name)
  const p = m?.[1] as NoisePattern | undefined
  return p !== undefined && supported.includes(p) ? p : null
}

function parties(v: NoiseVector, pattern: NoisePattern) {
  const key = (h: string | undefined) => (h === undefined ? {} : { staticKeyPair: x25519KeyPair(hex(h)) })
  const initiator = new NoiseHandshake({
    pattern,
    initiator: true,
    prologue: hex(v.init_prologue),
    ...key(v.init_static),
    ephemeralKeyPair: x25519KeyPair(hex(v.init_ephemeral)),
  })
  const responder = new NoiseHandshake({
    pattern,
    initiator: false,
    prologue: hex(v.resp_prologue),
    ...key(v.resp_static),
    ephemeralKeyPair: x25519KeyPair(hex(v.resp_ephemeral)),
  })
  return { initiator, responder }
}

beforeAll(async () => {
  await initCrypto()
})

describe('Noise_XX_25519_ChaChaPoly_SHA256 and sibling patterns (cacophony vectors)', () => {
  const runnable = vectors.filter((v) => patternOf(v) !== null)

  it('includes the XX vector for this suite', () => {
    expect(runnable.map((v) => v.protocol_name)).toContain('Noise_XX_25519_ChaChaPoly_SHA256')
  })

  for (const v of runnable) {
    const pattern = patternOf(v)!
    it(`reproduces every ciphertext and the handshake hash of ${v.protocol_name}`, () => {
      const { initiator, responder } = parties(v, pattern)
      const n = handshakeLength[pattern]
      v.messages.forEach((m, i) => {
        const [sender, receiver] = i % 2 === 0 ? [initiator, responder] : [responder, initiator]
        if (i < n) {
          const ct = sender.writeMessage(hex(m.payload))
          expect(toHex(ct)).toBe(m.ciphertext)
          expect(toHex(receiver.readMessage(ct))).toBe(m.payload)
          if (i === n - 1) {
            expect(toHex(initiator.split().handshakeHash)).toBe(v.handshake_hash)
            expect(toHex(responder.split().handshakeHash)).toBe(v.handshake_hash)
          }
        } else {
          const ct = sender.split().send.encrypt(hex(m.payload))
          expect(toHex(ct)).toBe(m.ciphertext)
          expect(toHex(receiver.split().receive.decrypt(ct))).toBe(m.payload)
        }
      })
    })
  }

  it('aborts the handshake when a message was tampered with, and stays aborted', () => {
    const v = runnable.find((x) => x.protocol_name === 'Noise_XX_25519_ChaChaPoly_SHA256')!
    const { initiator, responder } = parties(v, 'XX')
    responder.readMessage(initiator.writeMessage())
    const m2 = responder.writeMessage()
    expectCode(() => initiator.readMessage(flipBit(m2, 40)), 'decrypt-failed')
    expectCode(() => initiator.readMessage(m2), 'bad-state')
  })

  it('refuses messages out of turn, short messages and a small-order ephemeral', () => {
    const v = runnable.find((x) => x.protocol_name === 'Noise_XX_25519_ChaChaPoly_SHA256')!
    const { initiator, responder } = parties(v, 'XX')
    expectCode(() => responder.writeMessage(), 'bad-state')
    expectCode(() => initiator.readMessage(new Uint8Array(32)), 'bad-state')
    expectCode(() => responder.readMessage(new Uint8Array(31)), 'bad-format')
    const fresh = parties(v, 'XX').responder
    fresh.readMessage(new Uint8Array(32)) // the all-zero point is only used at the first DH
    expectCode(() => fresh.writeMessage(), 'low-order-key')
  })

  it('does not decrypt a transport message replayed to the receiving cipher state', () => {
    const v = runnable.find((x) => x.protocol_name === 'Noise_XX_25519_ChaChaPoly_SHA256')!
    const { initiator, responder } = parties(v, 'XX')
    responder.readMessage(initiator.writeMessage())
    initiator.readMessage(responder.writeMessage())
    responder.readMessage(initiator.writeMessage())
    const ct = initiator.split().send.encrypt(hex('01'))
    expect(responder.split().receive.decrypt(ct)).toEqual(hex('01'))
    expectCode(() => responder.split().receive.decrypt(ct), 'decrypt-failed')
  })
})
