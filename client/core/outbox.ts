import type { IDBPTransaction, StoreNames } from 'idb'
import type { Db, OutboxRecord, TincanDb } from './store/db.ts'

/**
 * The outbox's part of a larger change, in that change's transaction: a message and its outbox
 * entry are written (or removed) together, or not at all.
 */
export function outboxIn(tx: IDBPTransaction<TincanDb, StoreNames<TincanDb>[], 'readwrite'>) {
  const store = tx.objectStore('outbox')
  return {
    get: (id: string): Promise<OutboxRecord | undefined> => store.get(id),
    put: async (entry: OutboxRecord): Promise<void> => {
      await store.put(entry)
    },
    delete: (id: string): Promise<void> => store.delete(id),
  }
}

/**
 * Messages written but not yet acknowledged by the friend's device, kept in IndexedDB so they
 * survive a reload and go out when the friend is next reachable. Entries leave only on a
 * delivery receipt.
 */
export class Outbox {
  constructor(private readonly db: Db) {}

  async put(entry: OutboxRecord): Promise<void> {
    await this.db.put('outbox', entry)
  }

  /** The peer's entries, oldest first (the order they were written in). */
  async forPeer(peer: string): Promise<OutboxRecord[]> {
    return this.db.getAllFromIndex('outbox', 'byPeer', IDBKeyRange.bound([peer, -Infinity], [peer, Infinity]))
  }

  async peers(): Promise<string[]> {
    const all = await this.db.getAll('outbox')
    return [...new Set(all.map((e) => e.to))]
  }

  async remove(ids: readonly string[]): Promise<void> {
    const tx = this.db.transaction('outbox', 'readwrite')
    await Promise.all(ids.map((id) => tx.store.delete(id)))
    await tx.done
  }

  async size(): Promise<number> {
    return this.db.count('outbox')
  }
}
