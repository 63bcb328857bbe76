import { beforeAll, describe, expect, it } from 'vitest'
import {
  ed25519KeyPair,
  GroupReceiver,
  GroupSender,
  groupMessageHeader,
  initCrypto,
  signSenderKey,
  toBase64Url,
  verifySenderKey,
  type KeyPair,
  type SignedSenderKey,
} from '../../../crypto/index.ts'
import { expectCode, utf8 } from './helpers.ts'

let alice: KeyPair
const list = { version: 3, hash: new Uint8Array(32).fill(7) }

beforeAll(async () => {
  await initCrypto()
  alice = ed25519KeyPair()
})

function signed(prev?: { epoch: number; count: number; listVersion: number }): {
  sender: GroupSender
  key: SignedSenderKey
} {
  const sender = GroupSender.create('g1', 'alice', 5, 1_764_000_000_000)
  return { sender, key: signSenderKey(alice.secretKey, sender.distribution(), list, prev) }
}

describe('signed sender keys', () => {
  it('round-trips through JSON and opens the sender’s messages for whoever installs it', () => {
    const { sender, key } = signed({ epoch: 4, count: 100, listVersion: 2 })
    const checked = verifySenderKey(JSON.parse(JSON.stringify(key)), alice.publicKey)
    expect(checked).toEqual(key)
    expect(checked).toMatchObject({ listVersion: 3, listHash: toBase64Url(list.hash), prev: { epoch: 4 } })
    const receiver = new GroupReceiver('g1')
    receiver.install(checked, 'alice')
    expect(receiver.decrypt(sender.encrypt(utf8('hi'))).plaintext).toEqual(utf8('hi'))
  })

  it('refuses a key signed by anyone but the sender', () => {
    const { key } = signed()
    expectCode(() => verifySenderKey(key, ed25519KeyPair().publicKey), 'bad-signature')
  })

  it.each<[string, (k: SignedSenderKey) => unknown]>([
    ['another chain key', (k) => ({ ...k, chainKey: toBase64Url(new Uint8Array(32)) })],
    ['another signing key', (k) => ({ ...k, signingKey: toBase64Url(new Uint8Array(32).fill(1)) })],
    ['another epoch', (k) => ({ ...k, epoch: k.epoch + 1 })],
    ['another group', (k) => ({ ...k, groupId: 'g2' })],
    ['another sender', (k) => ({ ...k, sender: 'mallory' })],
    ['another list version', (k) => ({ ...k, listVersion: 4 })],
    ['another list hash', (k) => ({ ...k, listHash: toBase64Url(new Uint8Array(32)) })],
    ['a previous epoch added', (k) => ({ ...k, prev: { epoch: 1, count: 1, listVersion: 0 } })],
  ])('refuses a key with %s', (_, change) => {
    const { key } = signed()
    expectCode(() => verifySenderKey(change(key), alice.publicKey), 'bad-signature')
  })

  it('refuses malformed keys as bad-format', () => {
    const { key } = signed()
    for (const bad of [null, 'x', { ...key, v: 2 }, { ...key, epoch: -1 }, { ...key, sig: 'AA' }])
      expectCode(() => verifySenderKey(bad, alice.publicKey), 'bad-format')
  })
})

describe('group message header', () => {
  it('names the sender, epoch and iteration without any key', () => {
    const sender = GroupSender.create('g1', 'alice', 9, 0)
    sender.encrypt(utf8('first'))
    expect(groupMessageHeader(sender.encrypt(utf8('second')))).toEqual({
      sender: 'alice',
      epoch: 9,
      iteration: 1,
    })
  })

  it('refuses truncated or unknown messages', () => {
    const sender = GroupSender.create('g1', 'alice', 9, 0)
    const m = sender.encrypt(utf8('x'))
    expectCode(() => groupMessageHeader(m.subarray(0, 20)), 'bad-format')
    const other = Uint8Array.from(m)
    other[0] = 2
    expectCode(() => groupMessageHeader(other), 'bad-format')
  })
})
