import type { IDBPDatabase } from 'idb'
import type { Db, MessageRecord } from '../store/db.ts'

// Reading whole stores in batches with getAll (much faster than a cursor per record, in browsers
// and in fake-indexeddb), one short transaction per batch so nothing holds the database long.

/** The database without its schema types, for copying stores this code does not know by name. */
export type AnyDb = IDBPDatabase<unknown>

export const anyDb = (db: Db): AnyDb => db as unknown as AnyDb

export interface StoredRecord {
  readonly key: IDBValidKey
  readonly value: unknown
}

/** Every record of a store with its primary key, in key order, `batch` at a time. */
export async function* storeBatches(
  db: AnyDb,
  store: string,
  batch = 500,
  range?: IDBKeyRange,
): AsyncGenerator<StoredRecord[], void, undefined> {
  let lower: IDBKeyRange | undefined = range
  for (;;) {
    const tx = db.transaction(store)
    const [keys, values] = await Promise.all([
      tx.store.getAllKeys(lower, batch),
      tx.store.getAll(lower, batch) as Promise<unknown[]>,
    ])
    await tx.done
    if (keys.length === 0) return
    yield keys.map((key, i) => ({ key, value: values[i] }))
    const last = keys.at(-1)
    if (keys.length < batch || last === undefined) return
    lower =
      range?.upper === undefined
        ? IDBKeyRange.lowerBound(last, true)
        : IDBKeyRange.bound(last, range.upper, true, range.upperOpen)
  }
}

/**
 * A conversation's messages oldest first, `batch` at a time, through the byConversation index.
 * Each batch starts at the last batch's time; messages of that same millisecond already given
 * (a prefix in key order) are asked for in addition and skipped, so ties are neither lost nor
 * repeated.
 */
export async function* conversationBatches(
  db: Db,
  conversationId: string,
  batch = 500,
): AsyncGenerator<MessageRecord[], void, undefined> {
  let from = -Infinity
  let seenAtFrom = new Set<string>()
  for (;;) {
    const ask = batch + seenAtFrom.size
    const range = IDBKeyRange.bound([conversationId, from], [conversationId, Infinity])
    const got = await db.getAllFromIndex('messages', 'byConversation', range, ask)
    const fresh = got.filter((r) => !(r.sentAt === from && seenAtFrom.has(r.id)))
    if (fresh.length > 0) yield fresh
    const last = fresh.at(-1)
    if (got.length < ask || last === undefined) return
    if (last.sentAt !== from) seenAtFrom = new Set()
    from = last.sentAt
    for (const r of fresh) if (r.sentAt === from) seenAtFrom.add(r.id)
  }
}
