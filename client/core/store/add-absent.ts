import { unwrap, type IDBPObjectStore, type StoreNames, type StoreValue } from 'idb'

/**
 * Adds each value to `store` unless a record with its key, or with its value of a unique index,
 * is there already; resolves, once every request has finished, with whether each was added.
 *
 * One request per value, all issued at once. Looking each key up first doubled the requests of a
 * bulk insert (restores, imports), which is where its time goes; instead an `add` that meets an
 * existing record fails with a ConstraintError, and that error (only that one) is kept from
 * aborting the transaction. Any other failure (storage full) aborts it as usual and rejects.
 * The caller awaits the transaction's `done` for the commit.
 */
export function addAbsent<DB, Stores extends ArrayLike<StoreNames<DB>>, Name extends StoreNames<DB>>(
  store: IDBPObjectStore<DB, Stores, Name, 'readwrite'>,
  values: readonly StoreValue<DB, Name>[],
): Promise<boolean[]> {
  const raw = unwrap(store)
  const added = values.map(() => false)
  return new Promise((resolve, reject) => {
    let left = values.length
    let failed = false
    const settled = () => {
      if (--left === 0 && !failed) resolve(added)
    }
    if (left === 0) resolve(added)
    values.forEach((value, i) => {
      const request = raw.add(value)
      request.onsuccess = () => {
        added[i] = true
        settled()
      }
      request.onerror = (event) => {
        if (request.error?.name === 'ConstraintError') {
          // Present already: not an error of the transaction. preventDefault keeps it from
          // aborting; stopPropagation from reaching the transaction's error listeners (idb's
          // `done` would reject on it).
          event.preventDefault()
          event.stopPropagation()
          settled()
          return
        }
        if (!failed) {
          failed = true
          reject(request.error ?? new Error('adding a record failed'))
        }
      }
    })
  })
}
