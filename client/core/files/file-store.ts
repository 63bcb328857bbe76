import { decryptRecord, encryptRecord, utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import type { Db, FileRecord } from '../store/db.ts'
import { FileChunks, storageError, withActive } from './file-chunks.ts'

export {
  FileStoreError,
  fileStoreErrorCodes,
  isFinal,
  isQuotaError,
  type FileStoreErrorCode,
} from './file-chunks.ts'

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

/**
 * File records and chunks in the account's IndexedDB. Chunks are stored as they travel
 * (ciphertext under the file key), one record per chunk under [file id, index]; a batch of chunks
 * and the record's count of stored chunks are written in one transaction, so after a crash the
 * count never claims a chunk that is not there.
 */
export class FileStore extends FileChunks {
  constructor(
    db: Db,
    private readonly vaultKey: Uint8Array,
  ) {
    super(db)
  }

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
}
