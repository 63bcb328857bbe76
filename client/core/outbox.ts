import type { Db, OutboxRecord } from './store/db.ts'

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
