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

/**
 * Every record of a store with its primary key, in key order, `batch` at a time. The next batch
 * is asked for before this one is handed out, so reading overlaps with the caller's work.
 */
export async function* storeBatches(
  db: AnyDb,
  store: string,
  batch = 1000,
): AsyncGenerator<StoredRecord[], void, undefined> {
  const read = async (lower: IDBKeyRange | undefined): Promise<StoredRecord[]> => {
    const tx = db.transaction(store)
    const [keys, values] = await Promise.all([
      tx.store.getAllKeys(lower, batch),
      tx.store.getAll(lower, batch) as Promise<unknown[]>,
    ])
    await tx.done
    return keys.map((key, i) => ({ key, value: values[i] }))
  }
  let next = read(undefined)
  for (;;) {
    const records = await next
    const last = records.at(-1)
    if (last === undefined) return
    const more = records.length === batch
    if (more) next = read(IDBKeyRange.lowerBound(last.key, true))
    yield records
    if (!more) return
  }
}

/**
 * A conversation's messages oldest first, `batch` at a time, through the byConversation index.
 * Each batch starts at the last batch's time; messages of that same millisecond already given
 * (a prefix in key order) are asked for in addition and skipped, so ties are neither lost nor
 * repeated. The next batch is asked for before this one is handed out.
 */
export async function* conversationBatches(
  db: Db,
  conversationId: string,
  batch = 1000,
): AsyncGenerator<MessageRecord[], void, undefined> {
  const read = (from: number, skip: ReadonlySet<string>) => {
    const ask = batch + skip.size
    const range = IDBKeyRange.bound([conversationId, from], [conversationId, Infinity])
    return db
      .getAllFromIndex('messages', 'byConversation', range, ask)
      .then((got) => ({ got, ask, from, skip }))
  }
  let next = read(-Infinity, new Set())
  for (;;) {
    const { got, ask, from, skip } = await next
    const fresh = got.filter((r) => !(r.sentAt === from && skip.has(r.id)))
    const last = fresh.at(-1)
    const more = got.length === ask && last !== undefined
    if (last !== undefined && more) {
      const seen = new Set(last.sentAt === from ? skip : [])
      for (const r of fresh) if (r.sentAt === last.sentAt) seen.add(r.id)
      next = read(last.sentAt, seen)
    }
    if (fresh.length > 0) yield fresh
    if (!more) return
  }
}
