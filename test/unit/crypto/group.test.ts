import { beforeAll, describe, expect, it } from 'vitest'
import {
  createMemberList,
  ed25519KeyPair,
  GroupReceiver,
  groupRotation,
  GroupSender,
  initCrypto,
  type KeyPair,
  nextMemberList,
  toBase64Url,
  verifyMemberListChain,
  verifyMemberListUpdate,
} from '../../../crypto/index.ts'
import { expectCode, flipBit, utf8 } from './helpers.ts'
import { limits } from '../../../shared/limits.ts'

const now = 1_764_000_000_000

beforeAll(async () => {
  await initCrypto()
})

function groupOf(...members: string[]) {
  const senders = new Map(members.map((m) => [m, GroupSender.create('g1', m, 0, now)]))
  const receivers = new Map(members.map((m) => [m, new GroupReceiver('g1')]))
  for (const [m, r] of receivers)
    for (const [s, sender] of senders) if (s !== m) r.install(sender.distribution(), s)
  return { senders, receivers }
}

describe('group sender keys', () => {
  it('delivers a signed message to every member, including through JSON-restored state', () => {
    const { senders, receivers } = groupOf('alice', 'bob', 'carol')
    const m = senders.get('alice')!.encrypt(utf8('hello group'))
    expect(receivers.get('bob')!.decrypt(m)).toMatchObject({
      sender: 'alice',
      epoch: 0,
      plaintext: utf8('hello group'),
    })
    const carol = GroupReceiver.restore(JSON.parse(JSON.stringify(receivers.get('carol')!.toJson())))
    expect(carol.decrypt(m).plaintext).toEqual(utf8('hello group'))
    const alice = GroupSender.restore(JSON.parse(JSON.stringify(senders.get('alice')!.toJson())))
    expect(carol.decrypt(alice.encrypt(utf8('after restore'))).plaintext).toEqual(utf8('after restore'))
  })

  it('decrypts out-of-order messages once each and refuses their replays', () => {
    const { senders, receivers } = groupOf('alice', 'bob')
    const alice = senders.get('alice')!
    const bob = receivers.get('bob')!
    const sent = Array.from({ length: 20 }, (_, i) => alice.encrypt(utf8(`m${i}`)))
    for (const i of [5, 0, 19, 3, 4, 1, 2, 18, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]) {
      expect(bob.decrypt(sent[i]!).plaintext).toEqual(utf8(`m${i}`))
    }
    for (const m of sent) expectCode(() => bob.decrypt(m), 'replay')
  })

  it('refuses a message too far ahead before deriving keys, and still reads the next one', () => {
    const { senders, receivers } = groupOf('alice', 'bob')
    const alice = senders.get('alice')!
    const bob = receivers.get('bob')!
    const before = JSON.stringify(bob.toJson())
    for (let i = 0; i <= 2001; i++) alice.encrypt(utf8('lost'))
    const farAhead = alice.encrypt(utf8('too far'))
    expectCode(() => bob.decrypt(farAhead), 'too-far-ahead')
    expect(JSON.stringify(bob.toJson())).toBe(before)
    const fresh = groupOf('alice', 'bob')
    const within = Array.from({ length: 2001 }, () => fresh.senders.get('alice')!.encrypt(utf8('x')))
    expect(fresh.receivers.get('bob')!.decrypt(within[2000]!).plaintext).toEqual(utf8('x'))
  })

  it('refuses a relayed message that was altered or re-signed by another member', () => {
    const { senders, receivers } = groupOf('alice', 'bob', 'mallory')
    const m = senders.get('alice')!.encrypt(utf8('pay bob'))
    const bob = receivers.get('bob')!
    expectCode(() => bob.decrypt(flipBit(m, m.length - 70)), 'bad-signature')
    expectCode(() => bob.decrypt(flipBit(m, m.length - 1)), 'bad-signature')
    // Mallory knows Alice's chain key but not her signing key: anything she signs is refused.
    const other = GroupSender.create('g1', 'alice', 0, now)
    expectCode(() => bob.decrypt(other.encrypt(utf8('forged'))), 'bad-signature')
    expect(bob.decrypt(m).plaintext).toEqual(utf8('pay bob'))
  })

  it('refuses a message from another group or an unknown sender', () => {
    const { senders } = groupOf('alice', 'bob')
    const elsewhere = new GroupReceiver('g2')
    expectCode(() => elsewhere.install(senders.get('alice')!.distribution(), 'alice'), 'bad-format')
    expectCode(() => elsewhere.decrypt(senders.get('alice')!.encrypt(utf8('x'))), 'no-sender-key')
  })

  it('locks a removed member out after the remaining members rekey', () => {
    const { senders, receivers } = groupOf('alice', 'bob', 'mallory')
    const alice = senders.get('alice')!
    const mallory = receivers.get('mallory')!
    expect(mallory.decrypt(alice.encrypt(utf8('before'))).plaintext).toEqual(utf8('before'))
    // Removal: every remaining member rotates and sends the new key to the remaining members only.
    const alice1 = alice.rotate(now)
    expect(alice1.epoch).toBe(1)
    expectCode(() => alice.encrypt(utf8('on the old key')), 'bad-state')
    receivers.get('bob')!.install(alice1.distribution(), 'alice')
    receivers.get('bob')!.removeSender('mallory')
    const after = alice1.encrypt(utf8('after removal'))
    expect(receivers.get('bob')!.decrypt(after).plaintext).toEqual(utf8('after removal'))
    expectCode(() => mallory.decrypt(after), 'no-sender-key')
    expectCode(
      () => receivers.get('bob')!.decrypt(senders.get('mallory')!.encrypt(utf8('still here?'))),
      'no-sender-key',
    )
  })

  it('accepts a sender key only from its owner and never lets a repeat rewind the chain', () => {
    const { senders, receivers } = groupOf('alice', 'bob', 'mallory')
    const bob = receivers.get('bob')!
    const alice = senders.get('alice')!
    expectCode(
      () => bob.install(GroupSender.create('g1', 'alice', 0, now).distribution(), 'mallory'),
      'untrusted-key',
    )
    expectCode(
      () => bob.install(GroupSender.create('g1', 'alice', 0, now).distribution(), 'alice'),
      'untrusted-key',
    )
    const early = alice.distribution()
    const first = alice.encrypt(utf8('once'))
    expect(bob.decrypt(first).plaintext).toEqual(utf8('once'))
    bob.install(early, 'alice')
    expectCode(() => bob.decrypt(first), 'replay')
  })

  it('asks for rotation after 100 messages or 7 days', () => {
    const s = GroupSender.create('g1', 'alice', 0, now)
    expect(s.needsRotation(now)).toBe(false)
    expect(s.needsRotation(now + groupRotation.maxAgeMs)).toBe(true)
    for (let i = 0; i < 99; i++) s.encrypt(utf8('x'))
    expect(s.needsRotation(now)).toBe(false)
    s.encrypt(utf8('x'))
    expect(s.needsRotation(now)).toBe(true)
  })
})

describe('group member list', () => {
  const signer = (id: string, identityKey: KeyPair = ed25519KeyPair()) => ({ id, identityKey })
  const member = (s: { id: string; identityKey: KeyPair }, admin = false) => ({
    id: s.id,
    identityKey: toBase64Url(s.identityKey.publicKey),
    admin,
  })

  it('accepts a chain of versions each signed by an admin of the one before', () => {
    const alice = signer('alice')
    const bob = signer('bob')
    const carol = signer('carol')
    const v0 = createMemberList('g1', alice, [member(bob, true)], 'Hikers')
    const v1 = nextMemberList(v0, bob, [member(alice, true), member(bob, true), member(carol)])
    const v2 = nextMemberList(v1, alice, [member(alice, true), member(carol)])
    const chain = JSON.parse(JSON.stringify([v0, v1, v2])) as unknown[]
    expect(verifyMemberListChain(chain, alice.identityKey.publicKey).members.map((m) => m.id)).toEqual([
      'alice',
      'carol',
    ])
  })

  it('refuses a list signed by somebody who is not an admin of the previous version', () => {
    const alice = signer('alice')
    const bob = signer('bob')
    const v0 = createMemberList('g1', alice, [member(bob)], 'Hikers')
    expectCode(() => nextMemberList(v0, bob, [member(bob, true)]), 'not-admin')
    // Bob forges it anyway, making himself admin in the new version.
    const forged = nextMemberList({ ...v0, members: v0.members.map((m) => ({ ...m, admin: true })) }, bob, [
      member(bob, true),
    ])
    expectCode(
      () => verifyMemberListUpdate(v0, { ...forged, prev: toBase64Url(new Uint8Array(32)) }),
      'bad-chain',
    )
    const signedByBob = { ...forged, prev: nextMemberList(v0, alice, []).prev }
    expectCode(() => verifyMemberListUpdate(v0, signedByBob), 'not-admin')
    expectCode(
      () =>
        verifyMemberListUpdate(null, createMemberList('g1', bob, [], 'Hikers'), alice.identityKey.publicKey),
      'untrusted-key',
    )
  })

  it('refuses a list that breaks the hash chain, skips a version or changes group', () => {
    const alice = signer('alice')
    const v0 = createMemberList('g1', alice, [], 'Hikers')
    const v1 = nextMemberList(v0, alice, [member(alice, true), member(signer('bob'))])
    const v2 = nextMemberList(v1, alice, [member(alice, true)])
    expectCode(() => verifyMemberListUpdate(v0, v2), 'bad-chain')
    const otherV0 = createMemberList('g1', alice, [member(signer('eve'))], 'Hikers')
    expectCode(() => verifyMemberListUpdate(otherV0, v1), 'bad-chain')
    expectCode(() => verifyMemberListUpdate(v0, { ...v1, groupId: 'g2' }), 'bad-chain')
    expectCode(() => verifyMemberListUpdate(null, v1), 'bad-chain')
  })

  it('refuses a list whose members or signature were altered', () => {
    const alice = signer('alice')
    const v0 = createMemberList('g1', alice, [member(signer('bob'))], 'Hikers')
    const v1 = nextMemberList(v0, alice, [member(alice, true), member(signer('bob'))])
    const tampered = { ...v1, members: v1.members.map((m) => ({ ...m, admin: true })) }
    expectCode(() => verifyMemberListUpdate(v0, tampered), 'bad-signature')
    const sig = Buffer.from(v1.sig, 'base64url')
    sig[0] = (sig[0] ?? 0) ^ 1
    expectCode(() => verifyMemberListUpdate(v0, { ...v1, sig: sig.toString('base64url') }), 'bad-signature')
    expectCode(() => verifyMemberListUpdate(v0, { ...v1, members: [...v1.members].reverse() }), 'bad-format')
  })

  it('signs the group name: a rename is a new version, an altered or bad name is refused', () => {
    const alice = signer('alice')
    const bob = signer('bob')
    const v0 = createMemberList('g1', alice, [member(bob)], 'Hikers')
    expect(v0.name).toBe('Hikers')
    const same = nextMemberList(v0, alice, v0.members)
    expect(same.name).toBe('Hikers')
    const renamed = nextMemberList(v0, alice, v0.members, 'Climbers')
    expect(verifyMemberListUpdate(v0, JSON.parse(JSON.stringify(renamed))).name).toBe('Climbers')
    expectCode(() => verifyMemberListUpdate(null, { ...v0, name: 'Renamed by the server' }), 'bad-signature')
    expectCode(() => verifyMemberListUpdate(v0, { ...renamed, name: 'Hikers' }), 'bad-signature')
    const { name: _dropped, ...unnamed } = v0
    expectCode(() => verifyMemberListUpdate(null, unnamed), 'bad-format')
    expectCode(() => verifyMemberListUpdate(null, { ...v0, name: '' }), 'bad-format')
    expectCode(
      () => createMemberList('g1', alice, [], 'x'.repeat(limits.groupNameMaxLength + 1)),
      'bad-format',
    )
    expectCode(() => nextMemberList(v0, alice, v0.members, ''), 'bad-format')
    expectCode(() => nextMemberList(v0, bob, v0.members, 'Bob’s'), 'not-admin')
  })
})
