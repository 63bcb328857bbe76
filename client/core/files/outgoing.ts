import { FileEncryptor, FileHasher, type FileCryptoParams } from '../../../crypto/index.ts'
import { TincanError } from '../errors.ts'
import type { FileState } from '../store/db.ts'
import type { FrameSource, SendScheduler } from '../peer/send-scheduler.ts'
import { chunkFrames } from './chunk-frame.ts'
import type { FileSource } from './file-source.ts'
import { FileStoreError, type FileStore } from './file-store.ts'

const preparing: ReadonlySet<FileState> = new Set(['preparing'])
const yieldEveryBytes = 1024 * 1024

/** A macrotask turn without timer clamping (`scheduler.yield` where the browser has it). */
function yieldToEventLoop(): Promise<void> {
  const s = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler
  if (typeof s?.yield === 'function') return s.yield()
  return new Promise((resolve) => {
    const channel = new MessageChannel()
    channel.port1.onmessage = () => {
      channel.port1.close()
      resolve()
    }
    channel.port2.postMessage(null)
  })
}

export const prepareErrorCodes = ['read-failed', 'cancelled'] as const
export type PrepareErrorCode = (typeof prepareErrorCodes)[number]

/** Preparing a file to send stopped; never reaches the API (the transfer fails with `read-failed`, or ends). */
export class PrepareError extends TincanError<PrepareErrorCode> {
  override readonly name = 'PrepareError'
}

/**
 * Reads the file once: hashes it (the hash goes in the offer), encrypts it under the file key and
 * stores the ciphertext chunks. Sending then only reads stored chunks, so a transfer survives a
 * reload of the sender's page (a File cannot be read again after one), and resuming is a matter
 * of reading from a later chunk. The cost: the file is stored once more on the sender's device.
 * Reading the next batch overlaps with writing the previous one.
 * @throws PrepareError 'read-failed' or 'cancelled'; FileStoreError 'storage-full'.
 */
export async function prepareFile(o: {
  readonly store: FileStore
  readonly fileId: string
  readonly params: FileCryptoParams
  readonly source: FileSource
  readonly chunkCount: number
  /** Bytes read and written per step. */
  readonly batchBytes: number
  readonly onProgress: (bytesDone: number) => void
}): Promise<Uint8Array> {
  const { chunkSize, fileSize } = o.params
  const hasher = new FileHasher()
  const encryptor = new FileEncryptor(o.params)
  const perBatch = Math.max(1, Math.floor(o.batchBytes / chunkSize))
  let writing: Promise<void> = Promise.resolve()
  for (let first = 0; first < o.chunkCount; first += perBatch) {
    const count = Math.min(perBatch, o.chunkCount - first)
    const offset = first * chunkSize
    const length = Math.min(fileSize, (first + count) * chunkSize) - offset
    let bytes: Uint8Array
    try {
      bytes = await o.source.read(offset, length)
    } catch (cause: unknown) {
      await writing.catch(() => undefined)
      throw new PrepareError('read-failed', `could not read ${o.source.name}`, { cause })
    }
    if (bytes.length !== length) {
      await writing.catch(() => undefined)
      throw new PrepareError('read-failed', `${o.source.name} changed while it was read`)
    }
    const chunks: Uint8Array[] = []
    for (let i = 0, since = 0; i < count; i++) {
      const plain = bytes.subarray(i * chunkSize, Math.min(length, (i + 1) * chunkSize))
      hasher.update(plain)
      chunks.push(encryptor.encryptChunk(plain).data)
      since += plain.length
      // Hashing and encrypting a MiB takes ~10 ms in a page: let the page breathe between them.
      if (since >= yieldEveryBytes && i < count - 1) {
        since = 0
        await yieldToEventLoop()
      }
    }
    await writing
    const done = Math.min(fileSize, (first + count) * chunkSize)
    writing = o.store.putChunks(o.fileId, first, chunks, preparing).then((written) => {
      if (written === undefined) throw new PrepareError('cancelled', 'the file was cancelled')
      o.onProgress(done)
    })
    // Awaited at the next step; a failure meanwhile must not count as unhandled.
    writing.catch(() => undefined)
  }
  await writing
  return hasher.digest()
}

export interface OutgoingStreamOptions {
  readonly store: FileStore
  readonly fileId: string
  readonly fileIdBytes: Uint8Array
  readonly chunkCount: number
  /** First chunk to send (the receiver's resume point). */
  readonly from: number
  readonly maxMessageBytes: number
  readonly scheduler: SendScheduler
  /** Chunks that may be sent beyond the last one the receiver confirmed storing. */
  readonly windowChunks: number
  /** Chunks read from storage ahead of sending. */
  readonly readAheadChunks: number
  readonly onSent: (wireBytes: number) => void
  readonly onDetached: () => void
  /** Storage could not give the chunks (deleted meanwhile, or a read error). */
  readonly onUnavailable: (e: unknown) => void
}

interface QueuedFrame {
  readonly frame: Uint8Array
  readonly index: number
  readonly first: boolean
}

/**
 * Feeds one transfer's stored chunks to the connection's scheduler: reads ahead from storage and
 * stops at the window, which the receiver's acknowledgements (`acknowledge`) move forward — so a
 * receiver that stores slowly never has more than the window in memory.
 */
export class OutgoingStream implements FrameSource {
  private readonly queue: QueuedFrame[] = []
  /** Next chunk to read from storage. */
  private readNext: number
  private reading = false
  private acked: number
  private stopped = false

  constructor(private readonly o: OutgoingStreamOptions) {
    this.readNext = o.from
    this.acked = o.from
    this.fill()
  }

  /** The receiver has stored chunks [0, chunks). */
  acknowledge(chunks: number): void {
    if (chunks <= this.acked) return
    this.acked = chunks
    this.o.scheduler.wake()
  }

  nextFrame(): Uint8Array | undefined {
    const head = this.queue[0]
    if (head === undefined || (head.first && head.index - this.acked >= this.o.windowChunks)) return undefined
    this.queue.shift()
    this.o.onSent(head.frame.length)
    if (head.first) this.fill()
    return head.frame
  }

  detached(): void {
    this.stopped = true
    this.queue.length = 0
    this.o.onDetached()
  }

  /** Reads the next batch if the read-ahead has room. */
  private fill(): void {
    if (this.stopped || this.reading || this.readNext >= this.o.chunkCount) return
    const queuedChunks = this.queue.filter((f) => f.first).length
    const room = this.o.readAheadChunks - queuedChunks
    if (room < Math.max(1, this.o.readAheadChunks >> 1)) return
    const from = this.readNext
    const count = Math.min(room, this.o.chunkCount - from)
    this.reading = true
    this.o.store.readChunks(this.o.fileId, from, count).then(
      (chunks) => {
        this.reading = false
        if (this.stopped) return
        if (chunks.length !== count) {
          this.o.onUnavailable(new FileStoreError('storage-failed', 'stored chunks are missing'))
          return
        }
        chunks.forEach((wire, i) => {
          const frames = chunkFrames(this.o.fileIdBytes, from + i, wire, this.o.maxMessageBytes)
          frames.forEach((frame, k) => this.queue.push({ frame, index: from + i, first: k === 0 }))
        })
        this.readNext = from + count
        this.o.scheduler.wake()
        this.fill()
      },
      (e: unknown) => {
        this.reading = false
        if (!this.stopped) this.o.onUnavailable(e)
      },
    )
  }
}
