import 'fake-indexeddb/auto'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { SessionStore, sequenceRetentionMs } from '../../../../client/core/peer/session-store.ts'
import { openHistoryDb } from '../../../../client/core/store/databases.ts'
import { envelopeWindowMs, generateVaultKey, initCrypto } from '../../../../crypto/index.ts'

beforeAll(async () => {
  await initCrypto()
})

afterEach(() => {
  vi.restoreAllMocks()
})

const sequenceKey = (peer: string, sid: string): string => `seq\u0000${peer}\u0000${sid}`

describe('envelope sequences kept in IndexedDB', () => {
  it('remembers accepted envelopes across a reload: the same one again is a duplicate, another with its number a replay', async () => {
    const key = generateVaultKey()
    const first = await openHistoryDb('sequences-reload')
    const before = new SessionStore(first, key)
    expect(await before.admit('alice', 's-1', 2, 'candidate')).toBe('fresh')
    expect(await before.admit('alice', 's-1', 1, 'offer')).toBe('fresh')
    first.close()

    const db = await openHistoryDb('sequences-reload')
    const after = new SessionStore(db, key)
    expect(await after.admit('alice', 's-1', 1, 'offer')).toBe('duplicate')
    expect(await after.admit('alice', 's-1', 1, 'another offer')).toBe('reused')
    expect(await after.admit('alice', 's-1', 3, 'candidate 2')).toBe('fresh')
    expect(await after.admit('alice', 's-2', 1, 'offer')).toBe('fresh')
    expect(await after.admit('bob', 's-1', 1, 'offer')).toBe('fresh')
    db.close()
  })

  it('keeps refusing every sequence at or below the one a client before issue 14 stored', async () => {
    const db = await openHistoryDb('sequences-legacy')
    await db.put('meta', 5, sequenceKey('alice', 's-1'))
    const store = new SessionStore(db, generateVaultKey())
    expect(await store.admit('alice', 's-1', 5, 'offer')).toBe('behind')
    expect(await store.admit('alice', 's-1', 1, 'offer')).toBe('behind')
    expect(await store.admit('alice', 's-1', 6, 'candidate')).toBe('fresh')
    expect(await store.admit('alice', 's-1', 6, 'candidate')).toBe('duplicate')
    db.close()
  })

  it('forgets a session only once every envelope it accepted would be refused as stale anyway', async () => {
    expect(sequenceRetentionMs).toBe(2 * envelopeWindowMs)
    const db = await openHistoryDb('sequences-sweep')
    await db.put('meta', 7, sequenceKey('carol', 'old'))
    await db.put('meta', new Uint8Array([1, 2, 3]), 'vault')
    const store = new SessionStore(db, generateVaultKey())
    const t0 = 1_764_000_000_000
    const clock = vi.spyOn(Date, 'now').mockReturnValue(t0)
    await store.admit('alice', 's-1', 1, 'offer')
    // A record from before issue 14 carries no time: its clock starts at the first sweep.
    expect(await db.get('meta', sequenceKey('carol', 'old'))).toEqual({ floor: 7, seen: [], atMs: t0 })

    // A new session is when old ones are swept: this one is just young enough to stay.
    clock.mockReturnValue(t0 + sequenceRetentionMs)
    await store.admit('alice', 's-2', 1, 'offer')
    expect(await db.get('meta', sequenceKey('alice', 's-1'))).toBeDefined()
    expect(await store.admit('alice', 's-1', 1, 'offer')).toBe('duplicate')

    clock.mockReturnValue(t0 + sequenceRetentionMs + 1)
    await store.admit('bob', 's-3', 1, 'offer')
    expect(await db.get('meta', sequenceKey('alice', 's-1'))).toBeUndefined()
    expect(await db.get('meta', sequenceKey('carol', 'old'))).toBeUndefined()
    expect(await db.get('meta', sequenceKey('alice', 's-2'))).toBeDefined()
    expect(await db.get('meta', 'vault')).toEqual(new Uint8Array([1, 2, 3]))
    db.close()
  })
})
