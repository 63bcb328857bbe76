import { TincanError } from '../errors.ts'
import type { Db, FileRecord, FileState, TincanDb } from '../store/db.ts'
import type { IDBPTransaction, StoreNames } from 'idb'

// A file's stored chunks and the counts that go with them: all the receive Worker touches, so it
// needs no key (nothing here is sealed). The sealed record (name, key, hash) is file-store.ts's.

export const fileStoreErrorCodes = ['storage-full', 'storage-failed'] as const
export type FileStoreErrorCode = (typeof fileStoreErrorCodes)[number]

/** Storage refused a write: the quota is used up (`storage-full`), or something else went wrong. */
export class FileStoreError extends TincanError<FileStoreErrorCode> {
  override readonly name = 'FileStoreError'
}

/** IndexedDB reports a full disk or an exhausted origin quota as QuotaExceededError. */
export function isQuotaError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false
  const name = (e as { name?: unknown }).name
  const message = (e as { message?: unknown }).message
  return (
    name === 'QuotaExceededError' ||
    (name === 'UnknownError' && typeof message === 'string' && /quota|disk|space/i.test(message)) ||
    FileStoreError.is(e, 'storage-full')
  )
}

export function storageError(e: unknown, what: string): FileStoreError {
  if (FileStoreError.is(e)) return e
  return isQuotaError(e)
    ? new FileStoreError('storage-full', `storage is full: ${what}`, { cause: e })
    : new FileStoreError('storage-failed', `${what} failed`, { cause: e })
}

const unfinished: ReadonlySet<FileState> = new Set(['preparing', 'offered', 'transferring'])

export const isFinal = (state: FileState): boolean => !unfinished.has(state)

/** The range of a file's chunks in `fileChunks`, from chunk `from` on. */
export function chunkRange(fileId: string, from = 0, to = Infinity): IDBKeyRange {
  return IDBKeyRange.bound([fileId, from], [fileId, to])
}

/** A file's chunks and counts in the account's database. */
export class FileChunks {
  constructor(protected readonly db: Db) {}

  /**
   * Writes chunks first…first+n−1 and raises the record's stored count to first+n, in one
   * transaction — unless the transfer has ended meanwhile (then nothing is written: a cancelled
   * file's space stays free). Returns the record as written, or undefined if it was not.
   * @throws FileStoreError 'storage-full' when the quota is exhausted.
   */
  async putChunks(
    fileId: string,
    first: number,
    chunks: readonly Uint8Array[],
    states: ReadonlySet<FileState>,
  ): Promise<FileRecord | undefined> {
    const tx = this.db.transaction(['files', 'fileChunks'], 'readwrite')
    // Handled here so an abort is never an unhandled rejection; awaited below.
    tx.done.catch(() => undefined)
    try {
      const files = tx.objectStore('files')
      const record = await files.get(fileId)
      if (record === undefined || !states.has(record.state) || first > record.storedChunks) {
        tx.abort()
        return undefined
      }
      const store = tx.objectStore('fileChunks')
      const writes: Promise<unknown>[] = chunks.map((c, i) => store.put(compact(c), [fileId, first + i]))
      record.storedChunks = Math.max(record.storedChunks, first + chunks.length)
      if (record.direction === 'in') record.doneChunks = record.storedChunks
      writes.push(files.put(withActive(record)))
      await Promise.all(writes)
      await tx.done
      return record
    } catch (e: unknown) {
      // The transaction's reason says more than a request's (quota errors abort the transaction).
      const reason = await tx.done.then(
        () => e,
        (r: unknown) => r ?? e,
      )
      throw storageError(reason, 'storing file data')
    }
  }

  /** Up to `count` stored chunks from index `from` on, in order. */
  readChunks(fileId: string, from: number, count: number): Promise<Uint8Array[]> {
    return this.db.getAll('fileChunks', chunkRange(fileId, from, from + count - 1))
  }

  async countChunks(fileId: string): Promise<number> {
    return this.db.count('fileChunks', chunkRange(fileId))
  }

  /** Frees a file's data; the record (and its message) stay. */
  async deleteChunks(fileId: string, from = 0): Promise<void> {
    const tx = this.db.transaction(['files', 'fileChunks'], 'readwrite')
    await tx.objectStore('fileChunks').delete(chunkRange(fileId, from))
    const record = await tx.objectStore('files').get(fileId)
    if (record !== undefined && record.storedChunks > from) {
      record.storedChunks = from
      if (record.direction === 'in') record.doneChunks = from
      await tx.objectStore('files').put(withActive(record))
    }
    await tx.done
  }

  async remove(fileId: string): Promise<void> {
    const tx = this.db.transaction(['files', 'fileChunks'], 'readwrite')
    await tx.objectStore('fileChunks').delete(chunkRange(fileId))
    await tx.objectStore('files').delete(fileId)
    await tx.done
  }
}

/** Erases a file's record and chunks inside a larger change (a message deleted with its file). */
export async function eraseFileIn(
  tx: IDBPTransaction<TincanDb, StoreNames<TincanDb>[], 'readwrite'>,
  fileId: string,
): Promise<void> {
  await tx.objectStore('fileChunks').delete(chunkRange(fileId))
  await tx.objectStore('files').delete(fileId)
}

/** Keeps the sparse index in step with the state. */
export function withActive(record: FileRecord): FileRecord {
  if (isFinal(record.state)) delete record.active
  else record.active = 1
  return record
}

/** A view into a much larger buffer would be stored with the whole buffer: copy it out. */
function compact(bytes: Uint8Array): Uint8Array {
  return bytes.buffer.byteLength - bytes.byteLength > 4096 ? bytes.slice() : bytes
}
