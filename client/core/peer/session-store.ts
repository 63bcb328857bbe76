import {
  decryptRecord,
  encryptRecord,
  utf8Decode,
  utf8Encode,
  type SequenceStore,
} from '../../../crypto/index.ts'
import type { Db } from '../store/db.ts'

const schemaVersion = 1

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

  async advance(peer: string, sessionId: string, sequence: number): Promise<boolean> {
    const key = `seq\u0000${peer}\u0000${sessionId}`
    const tx = this.db.transaction('meta', 'readwrite')
    const last = (await tx.store.get(key)) as number | undefined
    const ok = last === undefined || sequence > last
    if (ok) await tx.store.put(sequence, key)
    await tx.done
    return ok
  }
}
