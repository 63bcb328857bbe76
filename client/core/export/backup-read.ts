import {
  type BackupKeyCache,
  BackupReader,
  backupHeaderBytes,
  CryptoError,
  type KdfParams,
} from '../../../crypto/index.ts'
import { ItemReader, type BackupItem } from './backup-items.ts'
import { DataError } from './errors.ts'
import { blobChunks } from './zip-writer.ts'

const magic = 'TINCANBK'
const fileFormatVersion = 1
const readSliceBytes = 1024 * 1024

/**
 * Checks the file's first bytes: a Tincan backup, in a version this code reads.
 * @throws DataError 'not-a-backup', 'unsupported-version', 'damaged' (too short to hold a header).
 */
export async function checkBackupFile(blob: Blob): Promise<void> {
  const head = new Uint8Array(await blob.slice(0, magic.length + 1).arrayBuffer())
  const isTincan = head.length >= magic.length && [...magic].every((c, i) => head[i] === c.charCodeAt(0))
  if (!isTincan) throw new DataError('not-a-backup', 'this file is not a Tincan backup')
  if (head.length <= magic.length) throw new DataError('damaged', 'the backup was cut short')
  if (head[magic.length] !== fileFormatVersion)
    throw new DataError('unsupported-version', 'this backup was made by a newer version of Tincan')
}

/** Where the first frame ends: after the header, a u32 length, and that many bytes. */
async function firstFrameEnd(blob: Blob): Promise<number> {
  const lengthBytes = new Uint8Array(await blob.slice(backupHeaderBytes, backupHeaderBytes + 4).arrayBuffer())
  if (lengthBytes.length < 4) return blob.size
  return backupHeaderBytes + 4 + new DataView(lengthBytes.buffer).getUint32(0)
}

/**
 * The backup's items, decrypted and parsed as the file is read (1 MiB at a time). Nothing is
 * trusted before its frame authenticates; the last frame's final tag proves nothing was cut off.
 * `keys` keeps the passphrase's key for a second reading of the same file.
 * @throws DataError 'wrong-passphrase' (the first frame does not open), 'damaged' (a later frame
 * does not open, the file ends early, or an item does not parse), and as `checkBackupFile`.
 */
export async function* backupItems(
  blob: Blob,
  passphrase: string,
  minimums?: KdfParams,
  keys?: BackupKeyCache,
): AsyncGenerator<BackupItem, void, undefined> {
  await checkBackupFile(blob)
  const reader = new BackupReader(passphrase, {
    ...(minimums === undefined ? {} : { minimums }),
    ...(keys === undefined ? {} : { keys }),
  })
  const items = new ItemReader()
  let opened = 0
  const fail = (e: unknown): DataError => {
    if (DataError.is(e)) return e
    if (CryptoError.is(e, 'decrypt-failed'))
      return opened === 0
        ? new DataError('wrong-passphrase', 'wrong passphrase, or the file is damaged', { cause: e })
        : new DataError('damaged', 'the backup was altered', { cause: e })
    if (CryptoError.is(e, 'truncated'))
      return new DataError('damaged', 'the backup was cut short', { cause: e })
    return new DataError('damaged', 'the backup cannot be read', { cause: e })
  }
  try {
    // The header and the first frame go in on their own, so a failure there (and only there)
    // reads as a wrong passphrase; the rest follows a slice at a time.
    const first = await firstFrameEnd(blob)
    for (const piece of [blob.slice(0, first), blob.slice(first)]) {
      for await (const bytes of blobChunks(piece, readSliceBytes)) {
        for (const plain of reader.push(bytes)) {
          opened++
          for (const item of items.push(plain)) yield item
        }
      }
    }
    reader.finish()
    items.finish()
  } catch (e: unknown) {
    throw fail(e)
  }
}
