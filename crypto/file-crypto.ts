import { ByteWriter } from './binary-codec.ts'
import { equalBytes, randomBytes } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { type Sodium, sodium } from './sodium.ts'

// File transfer encryption. The file is cut into chunks of a caller-chosen size; chunks are
// grouped in segments of 256, and each segment is its own crypto_secretstream_xchacha20poly1305
// stream under key_s = crypto_kdf_derive_from_key(32, s, "tcnfile1", file key). So a transfer can
// restart at any segment boundary, and each segment ends with TAG_FINAL.
//
// Wire chunk: [secretstream header (24), first chunk of a segment only] | ciphertext (plaintext + 17)
// Chunk AD:   file id (16) | file size u64 | chunk size u32 | segment u32 | chunk within segment u32
// Every chunk but the last carries exactly `chunkSize` bytes, so positions and the expected
// final tag follow from (file size, chunk size) and truncation, reordering or tampering fail.

export const fileChunksPerSegment = 256
export const fileKeyBytes = 32
export const fileIdBytes = 16
export const fileHashBytes = 32
const maxChunkBytes = 16 * 1024 * 1024
const segmentKdfContext = 'tcnfile1'

export interface FileCryptoParams {
  /** Random per-file key (`newFileKey()`), sent to the receiver inside the ratchet. */
  readonly key: Uint8Array
  /** Random per-file id (`newFileId()`). */
  readonly fileId: Uint8Array
  readonly fileSize: number
  readonly chunkSize: number
}

export interface EncryptedChunk {
  /** Zero-based chunk index within the whole file. */
  readonly index: number
  readonly segment: number
  readonly data: Uint8Array
}

export function newFileKey(): Uint8Array {
  return randomBytes(fileKeyBytes)
}

export function newFileId(): Uint8Array {
  return randomBytes(fileIdBytes)
}

/** Number of chunks for a file: at least one, so an empty file still ends with a final tag. */
export function fileChunkCount(fileSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(fileSize / chunkSize))
}

export function fileSegmentCount(fileSize: number, chunkSize: number): number {
  return Math.ceil(fileChunkCount(fileSize, chunkSize) / fileChunksPerSegment)
}

/** Bytes of ciphertext for a file, for progress bars and quotas. */
export function encryptedFileSize(fileSize: number, chunkSize: number): number {
  const s = sodium()
  const chunks = fileChunkCount(fileSize, chunkSize)
  const segments = fileSegmentCount(fileSize, chunkSize)
  return (
    fileSize +
    chunks * s.crypto_secretstream_xchacha20poly1305_ABYTES +
    segments * s.crypto_secretstream_xchacha20poly1305_HEADERBYTES
  )
}

function checkParams(p: FileCryptoParams, startSegment: number): void {
  if (p.key.length !== fileKeyBytes) throw new CryptoError('bad-format', 'file key must be 32 bytes')
  if (p.fileId.length !== fileIdBytes) throw new CryptoError('bad-format', 'file id must be 16 bytes')
  if (!Number.isSafeInteger(p.fileSize) || p.fileSize < 0)
    throw new CryptoError('bad-format', 'bad file size')
  if (!Number.isInteger(p.chunkSize) || p.chunkSize < 1 || p.chunkSize > maxChunkBytes) {
    throw new CryptoError('bad-format', 'chunk size must be 1 byte to 16 MiB')
  }
  if (
    !Number.isInteger(startSegment) ||
    startSegment < 0 ||
    startSegment >= fileSegmentCount(p.fileSize, p.chunkSize)
  ) {
    throw new CryptoError('bad-format', 'start segment out of range')
  }
}

/** Shared bookkeeping: which chunk comes next, how long it must be, and whether it ends a segment. */
abstract class FileCursor {
  protected readonly s: Sodium
  protected readonly params: FileCryptoParams
  protected readonly chunkCount: number
  protected next: number

  protected constructor(params: FileCryptoParams, startSegment: number) {
    checkParams(params, startSegment)
    this.s = sodium()
    this.params = { ...params, key: params.key.slice(), fileId: params.fileId.slice() }
    this.chunkCount = fileChunkCount(params.fileSize, params.chunkSize)
    this.next = startSegment * fileChunksPerSegment
  }

  /** Index of the next chunk to process. */
  get nextIndex(): number {
    return this.next
  }

  get done(): boolean {
    return this.next >= this.chunkCount
  }

  protected expectedLength(index: number): number {
    return index === this.chunkCount - 1
      ? this.params.fileSize - index * this.params.chunkSize
      : this.params.chunkSize
  }

  protected isFinalOfSegment(index: number): boolean {
    return index % fileChunksPerSegment === fileChunksPerSegment - 1 || index === this.chunkCount - 1
  }

  protected segmentKey(segment: number): Uint8Array {
    return this.s.crypto_kdf_derive_from_key(32, segment, segmentKdfContext, this.params.key)
  }

  protected ad(index: number): Uint8Array {
    const segment = Math.floor(index / fileChunksPerSegment)
    return new ByteWriter(36)
      .raw(this.params.fileId)
      .u64(this.params.fileSize)
      .u32(this.params.chunkSize)
      .u32(segment)
      .u32(index % fileChunksPerSegment)
      .finish()
  }
}

/** Encrypts a file one chunk at a time, from the start or from any segment boundary. */
export class FileEncryptor extends FileCursor {
  #state: ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_push']>['state'] | null = null

  /** @throws CryptoError 'bad-format' for bad sizes, keys or start segment. */
  constructor(params: FileCryptoParams, startSegment = 0) {
    super(params, startSegment)
  }

  /**
   * Encrypts the next chunk, which must be exactly `chunkSize` bytes (the last one: the rest).
   * @throws CryptoError 'bad-format' for a chunk of the wrong length, 'bad-state' past the end.
   */
  encryptChunk(plaintext: Uint8Array): EncryptedChunk {
    if (this.done) throw new CryptoError('bad-state', 'file already fully encrypted')
    const index = this.next
    if (plaintext.length !== this.expectedLength(index)) {
      throw new CryptoError('bad-format', `chunk ${index} must be ${this.expectedLength(index)} bytes`)
    }
    const segment = Math.floor(index / fileChunksPerSegment)
    let header: Uint8Array | null = null
    if (index % fileChunksPerSegment === 0 || this.#state === null) {
      const init = this.s.crypto_secretstream_xchacha20poly1305_init_push(this.segmentKey(segment))
      this.#state = init.state
      header = init.header
    }
    const tag = this.isFinalOfSegment(index)
      ? this.s.crypto_secretstream_xchacha20poly1305_TAG_FINAL
      : this.s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    const ct = this.s.crypto_secretstream_xchacha20poly1305_push(this.#state, plaintext, this.ad(index), tag)
    if (this.isFinalOfSegment(index)) this.#state = null
    this.next++
    if (header === null) return { index, segment, data: ct }
    const data = new Uint8Array(header.length + ct.length)
    data.set(header)
    data.set(ct, header.length)
    return { index, segment, data }
  }
}

/** Decrypts chunks in order, from the start or from any segment boundary. */
export class FileDecryptor extends FileCursor {
  #state: ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_pull']> | null = null
  #failed = false

  /** @throws CryptoError 'bad-format' for bad sizes, keys or start segment. */
  constructor(params: FileCryptoParams, startSegment = 0) {
    super(params, startSegment)
  }

  /**
   * Decrypts the next chunk in order.
   * @throws CryptoError 'decrypt-failed' for a tampered, reordered, misplaced or foreign chunk,
   * 'bad-format' for a wrong size or misplaced final tag, 'bad-state' past the end or after a
   * 'bad-format' failure. After 'decrypt-failed' the decryptor is unchanged, so the genuine
   * chunk can still be fed (libsodium only advances the stream on success).
   */
  decryptChunk(data: Uint8Array): Uint8Array {
    if (this.#failed)
      throw new CryptoError('bad-state', 'an authenticated chunk was malformed; restart the segment')
    if (this.done) throw new CryptoError('bad-state', 'file already fully decrypted')
    const index = this.next
    let ct = data
    if (index % fileChunksPerSegment === 0 || this.#state === null) {
      const headerBytes = this.s.crypto_secretstream_xchacha20poly1305_HEADERBYTES
      if (data.length < headerBytes) throw new CryptoError('bad-format', 'segment header missing')
      try {
        this.#state = this.s.crypto_secretstream_xchacha20poly1305_init_pull(
          data.subarray(0, headerBytes),
          this.segmentKey(Math.floor(index / fileChunksPerSegment)),
        )
      } catch (cause) {
        throw new CryptoError('bad-format', 'bad segment header', { cause })
      }
      ct = data.subarray(headerBytes)
    }
    let result: { message: Uint8Array; tag: number } | false
    try {
      result = this.s.crypto_secretstream_xchacha20poly1305_pull(this.#state, ct, this.ad(index))
    } catch (cause) {
      throw new CryptoError('decrypt-failed', `chunk ${index} does not authenticate`, { cause })
    }
    if (result === false) throw new CryptoError('decrypt-failed', `chunk ${index} does not authenticate`)
    const final = result.tag === this.s.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    if (final !== this.isFinalOfSegment(index) || result.message.length !== this.expectedLength(index)) {
      // The stream has moved past this chunk, so there is no way back within the segment.
      this.#failed = true
      throw new CryptoError('bad-format', `chunk ${index} has the wrong tag or length`)
    }
    if (final) this.#state = null
    this.next++
    return result.message
  }

  /**
   * Call after the last chunk.
   * @throws CryptoError 'truncated' if chunks are missing.
   */
  finish(): void {
    if (!this.done)
      throw new CryptoError('truncated', `file ended at chunk ${this.next} of ${this.chunkCount}`)
  }
}

/** Streaming BLAKE2b-256 of a file's plaintext, as announced in the file offer. */
export class FileHasher {
  readonly #s = sodium()
  readonly #state = this.#s.crypto_generichash_init(null, fileHashBytes)
  #finished = false

  update(chunk: Uint8Array): void {
    if (this.#finished) throw new CryptoError('bad-state', 'hash already finished')
    this.#s.crypto_generichash_update(this.#state, chunk)
  }

  digest(): Uint8Array {
    if (this.#finished) throw new CryptoError('bad-state', 'hash already finished')
    this.#finished = true
    return this.#s.crypto_generichash_final(this.#state, fileHashBytes)
  }

  /** @throws CryptoError 'hash-mismatch' unless the data hashed to `expected`. */
  verify(expected: Uint8Array): void {
    if (!equalBytes(this.digest(), expected))
      throw new CryptoError('hash-mismatch', 'file hash does not match the offer')
  }
}
