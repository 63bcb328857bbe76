import { decryptRecord, encryptRecord, utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import { TincanError } from '../errors.ts'
import type { Db, FileRecord, FileState } from '../store/db.ts'

/** The sealed part of a file record: what names or unlocks the file. */
export interface FileMeta {
  readonly name: string
  readonly mime: string
  /** BLAKE2b-256 of the plaintext, base64url. */
  readonly hash: string
  /** The file key, base64url: the stored chunks are ciphertext under it. */
  readonly key: string
  readonly thumbnail?: string
  readonly thumbnailMime?: 'image/jpeg' | 'image/png' | 'image/webp'
  readonly width?: number
  readonly height?: number
  /** A file shared in a group: its author (the first member to fetch it from). */
  readonly from?: string
}

const metaSchema = 1

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

function storageError(e: unknown, what: string): FileStoreError {
  if (FileStoreError.is(e)) return e
  return isQuotaError(e)
    ? new FileStoreError('storage-full', `storage is full: ${what}`, { cause: e })
    : new FileStoreError('storage-failed', `${what} failed`, { cause: e })
}

const unfinished: ReadonlySet<FileState> = new Set(['preparing', 'offered', 'transferring'])

export const isFinal = (state: FileState): boolean => !unfinished.has(state)

/** The range of a file's chunks in `fileChunks`, from chunk `from` on. */
function chunkRange(fileId: string, from = 0, to = Infinity): IDBKeyRange {
  return IDBKeyRange.bound([fileId, from], [fileId, to])
}

/**
 * File records and chunks in the account's IndexedDB. Chunks are stored as they travel
 * (ciphertext under the file key), one record per chunk under [file id, index]; a batch of chunks
 * and the record's count of stored chunks are written in one transaction, so after a crash the
 * count never claims a chunk that is not there.
 */
export class FileStore {
  constructor(
    private readonly db: Db,
    private readonly vaultKey: Uint8Array,
  ) {}

  seal(fileId: string, meta: FileMeta): Uint8Array {
    return encryptRecord(
      this.vaultKey,
      { store: 'files', id: fileId, schemaVersion: metaSchema },
      utf8Encode(JSON.stringify(meta)),
    )
  }

  meta(record: FileRecord): FileMeta {
    return JSON.parse(
      utf8Decode(
        decryptRecord(
          this.vaultKey,
          { store: 'files', id: record.fileId, schemaVersion: metaSchema },
          record.sealed,
        ),
      ),
    ) as FileMeta
  }

  /** Adds a record; false if one with that id exists. */
  async create(record: FileRecord): Promise<boolean> {
    const tx = this.db.transaction('files', 'readwrite')
    const exists = (await tx.store.getKey(record.fileId)) !== undefined
    if (!exists) await tx.store.add(withActive(record))
    await tx.done.catch((e: unknown) => {
      throw storageError(e, 'saving the file record')
    })
    return !exists
  }

  get(fileId: string): Promise<FileRecord | undefined> {
    return this.db.get('files', fileId)
  }

  /** Reads, changes and writes one record in one transaction; `change` returns whether to write. */
  async update(fileId: string, change: (r: FileRecord) => boolean): Promise<FileRecord | undefined> {
    const tx = this.db.transaction('files', 'readwrite')
    const record = await tx.store.get(fileId)
    if (record !== undefined && change(record)) await tx.store.put(withActive(record))
    await tx.done.catch((e: unknown) => {
      throw storageError(e, 'updating the file record')
    })
    return record
  }

  /** Transfers that have not finished (any peer). */
  active(): Promise<FileRecord[]> {
    return this.db.getAllFromIndex('files', 'byActive', 1)
  }

  /** A friend's files, oldest first. */
  forPeer(peer: string): Promise<FileRecord[]> {
    return this.db.getAllFromIndex('files', 'byPeer', IDBKeyRange.bound([peer, -Infinity], [peer, Infinity]))
  }

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

/** Keeps the sparse index in step with the state. */
function withActive(record: FileRecord): FileRecord {
  if (isFinal(record.state)) delete record.active
  else record.active = 1
  return record
}

/** A view into a much larger buffer would be stored with the whole buffer: copy it out. */
function compact(bytes: Uint8Array): Uint8Array {
  return bytes.buffer.byteLength - bytes.byteLength > 4096 ? bytes.slice() : bytes
}
