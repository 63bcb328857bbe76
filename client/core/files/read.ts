import { FileDecryptor, fileChunkCount, fromBase64Url } from '../../../crypto/index.ts'
import type { FileRecord } from '../store/db.ts'
import { fileIdToBytes } from './chunk-frame.ts'
import { FileStoreError, type FileMeta, type FileStore } from './file-store.ts'

/**
 * A stored file's plaintext, chunk by chunk, decrypted from storage as it is read (a few MiB at a
 * time): nothing holds the whole file.
 * @throws FileStoreError 'storage-failed' if chunks are missing; CryptoError if one was altered.
 */
export async function* readStoredFile(
  store: FileStore,
  record: FileRecord,
  meta: FileMeta,
  batchChunks: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  const decryptor = new FileDecryptor({
    key: fromBase64Url(meta.key, 32, 'file key'),
    fileId: fileIdToBytes(record.fileId),
    fileSize: record.size,
    chunkSize: record.chunkSize,
  })
  const count = fileChunkCount(record.size, record.chunkSize)
  for (let from = 0; from < count; from += batchChunks) {
    const want = Math.min(batchChunks, count - from)
    const chunks = await store.readChunks(record.fileId, from, want)
    if (chunks.length !== want) throw new FileStoreError('storage-failed', 'the file is no longer stored')
    for (const wire of chunks) yield decryptor.decryptChunk(wire)
  }
  decryptor.finish()
}

/**
 * The file as a Blob. Each batch becomes its own Blob as soon as it is decrypted, and the result
 * is a Blob of those: the browser keeps blob data outside the JavaScript heap (on disk when it
 * is large), so opening a 1 GiB file does not need 1 GiB of memory in the page.
 */
export async function storedFileBlob(
  store: FileStore,
  record: FileRecord,
  meta: FileMeta,
  batchChunks: number,
): Promise<Blob> {
  const parts: Blob[] = []
  let batch: Uint8Array<ArrayBuffer>[] = []
  let batchBytes = 0
  const batchLimit = batchChunks * record.chunkSize
  for await (const plain of readStoredFile(store, record, meta, batchChunks)) {
    batch.push(plain as Uint8Array<ArrayBuffer>)
    batchBytes += plain.length
    if (batchBytes >= batchLimit) {
      parts.push(new Blob(batch))
      batch = []
      batchBytes = 0
    }
  }
  if (batch.length > 0) parts.push(new Blob(batch))
  return new Blob(parts, { type: meta.mime })
}

/** Chunks as a ReadableStream (to pipe into a file picked with `showSaveFilePicker`). */
export function readableStream(
  chunks: AsyncGenerator<Uint8Array, void, undefined>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next()
      if (next.done === true) controller.close()
      else controller.enqueue(next.value)
    },
    async cancel() {
      await chunks.return(undefined)
    },
  })
}
