import type { IDBPObjectStore } from 'idb'
import {
  admitSequence,
  decryptRecord,
  encryptRecord,
  envelopeWindowMs,
  utf8Decode,
  utf8Encode,
  type SequenceRecord,
  type SequenceStore,
  type SequenceVerdict,
} from '../../../crypto/index.ts'
import type { Db, TincanDb } from '../store/db.ts'

const schemaVersion = 1

// Envelope sequences live in `meta` under `seq␀peer␀sid`, as { floor, seen, atMs } (atMs: when
// one was last accepted; before issue 14 the value was the last sequence, a bare number).
const sequencePrefix = 'seq\u0000'
/**
 * An envelope accepted at local time t carried a timestamp of at most t + window, so once the
 * clock is past t + 2 × window every one of them is refused as stale: the record guards nothing.
 */
export const sequenceRetentionMs = 2 * envelopeWindowMs

interface StoredSequences extends SequenceRecord {
  readonly atMs: number
}

function readSequences(value: unknown): StoredSequences | undefined {
  if (typeof value === 'number') return { floor: value, seen: [], atMs: Date.now() }
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Partial<StoredSequences>
  if (typeof v.floor !== 'number' || !Array.isArray(v.seen) || typeof v.atMs !== 'number') return undefined
  return { floor: v.floor, seen: v.seen, atMs: v.atMs }
}

export interface StoredRatchet {
  /** Identifies the ratchet to both sides: the hash of the handshake that created it. */
  readonly id: string
  readonly state: unknown
}

/**
 * Per-friend Double Ratchet state, sealed under the vault key in IndexedDB, so a reload or a
 * new connection continues the same ratchet. Also the envelope sequence numbers seen per
 * (friend, session), so replayed signaling envelopes are refused across reloads too.
 */
export class SessionStore implements SequenceStore {
  constructor(
    private readonly db: Db,
    private readonly vaultKey: Uint8Array,
  ) {}

  async load(peer: string): Promise<StoredRatchet | undefined> {
    const row = await this.db.get('sessions', peer)
    if (row === undefined) return undefined
    const plain = decryptRecord(this.vaultKey, { store: 'sessions', id: peer, schemaVersion }, row.sealed)
    return JSON.parse(utf8Decode(plain)) as StoredRatchet
  }

  async save(peer: string, ratchet: StoredRatchet): Promise<void> {
    const sealed = encryptRecord(
      this.vaultKey,
      { store: 'sessions', id: peer, schemaVersion },
      utf8Encode(JSON.stringify(ratchet)),
    )
    await this.db.put('sessions', { peer, sealed })
  }

  async forget(peer: string): Promise<void> {
    await this.db.delete('sessions', peer)
  }

  async admit(peer: string, sessionId: string, sequence: number, digest: string): Promise<SequenceVerdict> {
    const key = `${sequencePrefix}${peer}\u0000${sessionId}`
    const tx = this.db.transaction('meta', 'readwrite')
    const stored = readSequences(await tx.store.get(key))
    const { verdict, record } = admitSequence(stored, sequence, digest)
    if (verdict === 'fresh') {
      const nowMs = Date.now()
      // A new session is the moment to forget the ones that can no longer matter.
      if (stored === undefined) await sweepSequences(tx.store, nowMs)
      await tx.store.put(
        { floor: record.floor, seen: record.seen, atMs: nowMs } satisfies StoredSequences,
        key,
      )
    }
    await tx.done
    return verdict
  }
}

type MetaStore = IDBPObjectStore<TincanDb, ['meta'], 'meta', 'readwrite'>

async function sweepSequences(store: MetaStore, nowMs: number): Promise<void> {
  let cursor = await store.openCursor(IDBKeyRange.bound(sequencePrefix, `${sequencePrefix}\uffff`))
  while (cursor !== null) {
    const record = readSequences(cursor.value)
    if (record === undefined || nowMs - record.atMs > sequenceRetentionMs) await cursor.delete()
    // A record from before issue 14 has no time: its clock starts now.
    else if (typeof cursor.value === 'number') await cursor.update(record)
    cursor = await cursor.continue()
  }
}
