import { equalBytes, FileDecryptor, FileHasher, type FileCryptoParams } from '../../../crypto/index.ts'
import type { FileState } from '../store/db.ts'
import type { ChunkPiece } from './chunk-frame.ts'
import { FileStoreError, type FileChunks } from './file-chunks.ts'

const transferring: ReadonlySet<FileState> = new Set(['transferring'])
/** Chunk bytes written per transaction at most. */
const maxWriteBytes = 1024 * 1024
/** Secretstream header and tag: a chunk on the wire is at most this much larger than its plaintext. */
const maxChunkOverheadBytes = 24 + 17

export type IncomingFailure = 'bad-data' | 'hash-mismatch' | 'storage-full' | 'storage-failed'

export interface IncomingStreamOptions {
  readonly store: FileChunks
  readonly fileId: string
  readonly params: FileCryptoParams
  readonly chunkCount: number
  readonly expectedHash: Uint8Array
  /** Chunks [0, stored) are in storage. */
  readonly onStored: (stored: number) => void
  /** Every chunk is stored and the file's hash matched the offer. */
  readonly onComplete: () => void
  readonly onFailed: (code: IncomingFailure, error: unknown) => void
}

/** What the transfers drive on the receiving side: an IncomingStream here, or one in a Worker. */
export interface IncomingSink {
  /** The first chunk the sender should send. */
  readonly resumeFrom: number
  /** Handles one piece; 'gap' when it is not the chunk expected next (the caller asks again). */
  push(p: ChunkPiece): 'ok' | 'old' | 'gap'
  /** A piece of a chunk was left half-assembled by a broken connection: forget it. */
  resetPieces(): void
  /** Resolves when no write is running. */
  settled(): Promise<void>
  /** Stops without further writes or callbacks. */
  stop(): void
}

/**
 * Opens the receiving side of a file whose first `stored` chunks are in storage; the sink starts
 * at once (completing the file if everything was stored already).
 */
export type OpenIncoming = (
  o: IncomingStreamOptions,
  stored: number,
  batchChunks: number,
) => Promise<IncomingSink>

export const openIncomingHere: OpenIncoming = async (o, stored, batchChunks) => {
  const s = await IncomingStream.open(o, stored, batchChunks)
  s.start()
  return s
}

/**
 * One file arriving: each chunk is decrypted (which authenticates it and its position), hashed
 * and written to storage as it came, in batches of whatever arrived while the previous write ran.
 * Nothing but the chunks not yet written is held in memory.
 */
export class IncomingStream implements IncomingSink {
  private readonly decryptor: FileDecryptor
  private readonly hasher = new FileHasher()
  /** Chunks decrypted so far: where the sender must go on from. */
  private decrypted: number
  private stored: number
  private readonly pending: Uint8Array[] = []
  private writing = false
  private pieces: Uint8Array[] = []
  private piecesIndex = -1
  private piecesBytes = 0
  private verified = false
  private stopped = false
  private idle: (() => void)[] = []

  private constructor(private readonly o: IncomingStreamOptions) {
    this.decryptor = new FileDecryptor(o.params)
    this.decrypted = 0
    this.stored = 0
  }

  /**
   * Starts receiving after the `stored` chunks already in storage, which are read back to bring
   * the decryptor and the hash to where they were (neither state can be saved). A stored chunk
   * that no longer decrypts is dropped with everything after it.
   */
  static async open(o: IncomingStreamOptions, stored: number, batchChunks: number): Promise<IncomingStream> {
    const s = new IncomingStream(o)
    let broken = false
    reading: for (let from = 0; from < stored; from += batchChunks) {
      const want = Math.min(batchChunks, stored - from)
      const chunks = await o.store.readChunks(o.fileId, from, want)
      for (const wire of chunks) {
        try {
          s.hasher.update(s.decryptor.decryptChunk(wire))
        } catch {
          broken = true
          break reading
        }
        s.decrypted++
      }
      if (chunks.length < want) break
    }
    if (broken) {
      // The decryptor may not go on after a bad chunk: start the file over.
      await o.store.deleteChunks(o.fileId, 0)
      return IncomingStream.open(o, 0, batchChunks)
    }
    if (s.decrypted < stored) await o.store.deleteChunks(o.fileId, s.decrypted)
    s.stored = s.decrypted
    return s
  }

  /** The first chunk the sender should send. */
  get resumeFrom(): number {
    return this.decrypted
  }

  /** A piece of a chunk was left half-assembled by a broken connection: forget it. */
  resetPieces(): void {
    this.pieces = []
    this.piecesIndex = -1
    this.piecesBytes = 0
  }

  /** Handles one piece; 'gap' when it is not the chunk expected next (the caller asks again). */
  push(p: ChunkPiece): 'ok' | 'old' | 'gap' {
    if (this.stopped || this.verified) return 'old'
    if (p.index < this.decrypted) return 'old'
    if (p.index > this.decrypted) return 'gap'
    if (this.piecesIndex !== p.index) this.resetPieces()
    this.piecesIndex = p.index
    this.pieces.push(p.piece)
    this.piecesBytes += p.piece.length
    if (this.piecesBytes > this.o.params.chunkSize + maxChunkOverheadBytes) {
      this.fail('bad-data', new FileStoreError('storage-failed', `chunk ${p.index} is too long`))
      return 'ok'
    }
    if (!p.last) return 'ok'
    const wire = this.pieces.length === 1 ? p.piece : concat(this.pieces, this.piecesBytes)
    this.resetPieces()
    let plain: Uint8Array
    try {
      plain = this.decryptor.decryptChunk(wire)
    } catch (e: unknown) {
      // An altered, misplaced or foreign chunk. The connection itself is authenticated (DTLS),
      // so this is the sender's doing: the file cannot be trusted, and it is not retried.
      this.fail('bad-data', e)
      return 'ok'
    }
    this.hasher.update(plain)
    this.decrypted++
    this.pending.push(wire)
    if (this.decrypted === this.o.chunkCount && !this.verify()) return 'ok'
    this.write()
    return 'ok'
  }

  /**
   * After `open`: if every chunk was stored already (the page closed before the file was marked
   * done), checks it and completes.
   */
  start(): void {
    if (this.decrypted === this.o.chunkCount && !this.verified && !this.verify()) return
    this.write()
  }

  /** The last chunk is in: the stream must be complete and the hash the offered one. */
  private verify(): boolean {
    try {
      this.decryptor.finish()
      if (!equalBytes(this.hasher.digest(), this.o.expectedHash)) {
        this.fail('hash-mismatch', new Error('the file does not match the hash in its offer'))
        return false
      }
    } catch (e: unknown) {
      this.fail('bad-data', e)
      return false
    }
    this.verified = true
    return true
  }

  /** Stops without further writes or callbacks. */
  stop(): void {
    this.stopped = true
    this.pending.length = 0
    this.resetPieces()
  }

  /** Resolves when no write is running. */
  settled(): Promise<void> {
    if (!this.writing) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  private write(): void {
    if (this.writing || this.stopped) return
    if (this.pending.length === 0) {
      if (this.verified && this.stored === this.o.chunkCount) {
        this.stopped = true
        this.o.onComplete()
      }
      return
    }
    // Bounded, so that the chat's own writes to the same database are never long behind.
    const batch = this.pending.splice(0, Math.max(1, Math.floor(maxWriteBytes / this.o.params.chunkSize)))
    const first = this.stored
    this.writing = true
    this.o.store.putChunks(this.o.fileId, first, batch, transferring).then(
      (record) => {
        this.writing = false
        this.wakeIdle()
        if (this.stopped) return
        if (record === undefined) {
          // The transfer ended meanwhile (cancelled): nothing more to do.
          this.stop()
          return
        }
        this.stored = first + batch.length
        this.o.onStored(this.stored)
        this.write()
      },
      (e: unknown) => {
        this.writing = false
        this.wakeIdle()
        if (this.stopped) return
        this.fail(FileStoreError.is(e, 'storage-full') ? 'storage-full' : 'storage-failed', e)
      },
    )
  }

  private wakeIdle(): void {
    for (const resolve of this.idle.splice(0)) resolve()
  }

  private fail(code: IncomingFailure, e: unknown): void {
    if (this.stopped) return
    this.stop()
    this.o.onFailed(code, e)
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
