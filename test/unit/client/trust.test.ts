import 'fake-indexeddb/auto'
import { beforeAll, describe, expect, it } from 'vitest'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import type { Db } from '../../../client/core/store/db.ts'
import { Trust } from '../../../client/core/trust.ts'
import { fromBase64Url, initCrypto, randomBytes, toBase64Url } from '../../../crypto/index.ts'

let n = 0
async function freshDb(): Promise<Db> {
  return openHistoryDb(`trust-test-${++n}-${toBase64Url(randomBytes(6))}`)
}

const key = (): string => toBase64Url(randomBytes(32))

/** A device whose first friend list (empty) was already applied. */
async function settledTrust(db?: Db): Promise<Trust> {
  const trust = new Trust(db ?? (await freshDb()))
  await trust.friendListSeen()
  return trust
}

describe('where a trusted key comes from', () => {
  beforeAll(async () => {
    await initCrypto()
  })

  it('pins a friend this device sent a request to, or accepted, on first sight', async () => {
    const trust = await settledTrust()
    const [bobKey, carolKey] = [key(), key()]
    await trust.recordIntent('bob')
    await trust.recordIntent('carol')
    expect(await trust.observeFriend('bob', bobKey)).toBe('pinned')
    expect(await trust.observeFriend('carol', carolKey)).toBe('pinned')
    expect(await trust.canSend('bob')).toBe(true)
    expect(toBase64Url((await trust.pinnedIdentityKey('bob'))!)).toBe(bobKey)
  })

  it('takes a fresh device’s first friend list on trust, and no later one', async () => {
    const trust = new Trust(await freshDb())
    const bobKey = key()
    expect(await trust.observeFriend('bob', bobKey)).toBe('pinned')
    await trust.friendListSeen()
    const danKey = key()
    expect(await trust.observeFriend('dan', danKey)).toBe('unconfirmed')
    expect(await trust.contact('dan')).toBeUndefined()
    expect(await trust.canSend('dan')).toBe(false)
    expect(await trust.pinnedIdentityKey('dan')).toBeNull()
    expect(trust.claim('dan')).toBe(danKey)
  })

  it('treats a device that pinned contacts before intents were kept as past its first list', async () => {
    const db = await freshDb()
    await db.put('contacts', {
      username: 'bob',
      identityKey: key(),
      pendingKey: null,
      verified: false,
      addedAt: 1,
    })
    const trust = new Trust(db)
    expect(await trust.observeFriend('eve', key())).toBe('unconfirmed')
  })

  it('stops vouching for a friendship whose request this device withdrew', async () => {
    const trust = await settledTrust()
    await trust.recordIntent('bob')
    await trust.dropIntent('bob')
    expect(await trust.observeFriend('bob', key())).toBe('unconfirmed')
  })

  it('pins an unconfirmed friend’s key only when the user confirms it or verifies its safety number', async () => {
    const trust = await settledTrust()
    const [danKey, eveKey] = [key(), key()]
    await trust.observeFriend('dan', danKey)
    await trust.observeFriend('eve', eveKey)
    await trust.acceptKeyChange('dan')
    expect((await trust.contact('dan'))?.identityKey).toBe(danKey)
    await trust.setVerified('eve', false)
    expect(await trust.contact('eve')).toBeUndefined()
    await trust.setVerified('eve', true)
    expect(await trust.contact('eve')).toMatchObject({ identityKey: eveKey, verified: true })
  })

  it('forgets a claim the server no longer makes', async () => {
    const trust = await settledTrust()
    await trust.observeFriend('dan', key())
    await trust.observeFriend('eve', key())
    trust.retainClaims(new Set(['eve']))
    expect(trust.claim('eve')).toBeDefined()
    await trust.acceptKeyChange('dan')
    expect(await trust.contact('dan')).toBeUndefined()
  })

  it('ignores a key-changed report about someone who is not a contact', async () => {
    const trust = await settledTrust()
    expect(await trust.observeKeyChange('carol', key())).toBe('ignored')
    expect(await trust.contact('carol')).toBeUndefined()
    expect(await trust.pinnedIdentityKey('carol')).toBeNull()
  })

  it('keeps a group member’s key from their signed list over any key the server reports', async () => {
    const trust = await settledTrust()
    const listKey = key()
    trust.setFallback((u) => Promise.resolve(u === 'carol' ? fromBase64Url(listKey, 32) : null))
    const serverKey = key()
    expect(await trust.observeKeyChange('carol', serverKey)).toBe('mismatch')
    await trust.recordIntent('carol')
    expect(await trust.observeFriend('carol', serverKey)).toBe('mismatch')
    expect(await trust.contact('carol')).toBeUndefined()
    expect(toBase64Url((await trust.pinnedIdentityKey('carol'))!)).toBe(listKey)
    // The server agreeing with the list is fine: the list vouches for the key.
    expect(await trust.observeFriend('carol', listKey)).toBe('pinned')
  })

  it('parks a changed key for a friend, and only the user clears the warning', async () => {
    const trust = await settledTrust()
    const [old, fresh, third] = [key(), key(), key()]
    await trust.recordIntent('bob')
    await trust.observeFriend('bob', old)
    expect(await trust.observeKeyChange('bob', fresh)).toBe('changed')
    expect(await trust.canSend('bob')).toBe(false)
    expect(await trust.pinnedIdentityKey('bob')).toBeNull()
    // The server naming the old key again, by any frame, leaves the warning.
    expect(await trust.observeKeyChange('bob', old)).toBe('unchanged')
    expect(await trust.observeFriend('bob', old)).toBe('unchanged')
    expect((await trust.contact('bob'))?.pendingKey).toBe(fresh)
    // The user keeps the pinned key: sending works, and the same claim again is no news.
    await trust.keepPinnedKey('bob')
    expect(await trust.canSend('bob')).toBe(true)
    expect(await trust.observeKeyChange('bob', fresh)).toBe('unchanged')
    expect(await trust.canSend('bob')).toBe(true)
    // Another key is reported again; this time the user accepts it.
    expect(await trust.observeKeyChange('bob', third)).toBe('changed')
    await trust.setVerified('bob', true)
    await trust.acceptKeyChange('bob')
    expect(await trust.contact('bob')).toMatchObject({
      identityKey: third,
      pendingKey: null,
      verified: false,
    })
  })

  it('remembers what this device vouched for across a restart', async () => {
    const db = await freshDb()
    const first = await settledTrust(db)
    await first.recordIntent('bob')
    const again = new Trust(db)
    expect(await again.observeFriend('bob', key())).toBe('pinned')
    expect(await again.observeFriend('dan', key())).toBe('unconfirmed')
  })

  it('marks a scanned key verified only while it is still the key the safety number was made from', async () => {
    const trust = await settledTrust()
    const [bobKey, danKey, danNewKey] = [key(), key(), key()]
    await trust.recordIntent('bob')
    await trust.observeFriend('bob', bobKey)
    expect(await trust.verifyKey('bob', key())).toBe(false)
    expect((await trust.contact('bob'))?.verified).toBe(false)
    expect(await trust.verifyKey('bob', bobKey)).toBe(true)
    expect((await trust.contact('bob'))?.verified).toBe(true)
    // An unconfirmed friend: the server's claim moved on after the code was checked against the old one.
    expect(await trust.observeFriend('dan', danKey)).toBe('unconfirmed')
    expect(await trust.observeFriend('dan', danNewKey)).toBe('unconfirmed')
    expect(await trust.verifyKey('dan', danKey)).toBe(false)
    expect(await trust.contact('dan')).toBeUndefined()
    expect(await trust.verifyKey('dan', danNewKey)).toBe(true)
    expect(await trust.contact('dan')).toMatchObject({
      identityKey: danNewKey,
      verified: true,
      pendingKey: null,
    })
    expect(await trust.canSend('dan')).toBe(true)
  })
})
