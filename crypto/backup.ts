import { ByteReader, ByteWriter } from './binary-codec.ts'
import { concatBytes, equalBytes, utf8Encode } from './bytes.ts'
import { CryptoError } from './errors.ts'
import {
  argon2id,
  defaultKdfParams,
  type KdfParams,
  minimumKdfParams,
  newPasswordSalt,
  passwordSaltBytes,
} from './password.ts'
import { type Sodium, sodium } from './sodium.ts'

// Encrypted backup file, all integers big-endian:
//   header (62 bytes):
//     magic "TINCANBK" (8) | format version u8 (=1) | KDF id u8 (1 = Argon2id13) |
//     opsLimit u32 | memLimit in KiB u32 | salt (16) | chunk size u32 | secretstream header (24)
//   body: frames of  length u32 | crypto_secretstream_xchacha20poly1305 ciphertext (chunk + 17)
//     every frame's AD is the whole header; the last frame has TAG_FINAL, and nothing may follow it.
// Key: Argon2id13(passphrase, salt, opsLimit, memLimit) to 32 bytes.

const magic = utf8Encode('TINCANBK')
const formatVersion = 1
const kdfArgon2id13 = 1
export const backupHeaderBytes = 62
export const defaultBackupChunkBytes = 64 * 1024
const maxChunkBytes = 16 * 1024 * 1024

export interface BackupOptions {
  readonly kdfParams?: KdfParams
  readonly chunkSize?: number
  /** Tests lower this to keep Argon2id cheap; production code passes nothing. */
  readonly minimums?: KdfParams
}

type PushState = ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_push']>['state']

/** Writes a backup as a stream: `start()`, then `write()` any number of times, then `finish()`. */
export class BackupWriter {
  readonly #s = sodium()
  readonly #state: PushState
  readonly #header: Uint8Array
  readonly #chunkSize: number
  #buffer: Uint8Array
  #buffered = 0
  #started = false
  #finished = false

  /**
   * Derives the key (Argon2id: blocks for as long as the parameters say).
   * @throws CryptoError 'weak-kdf-params' / 'bad-format' for parameters out of bounds or a bad chunk size.
   */
  constructor(passphrase: string, options: BackupOptions = {}) {
    const params = options.kdfParams ?? defaultKdfParams
    const chunkSize = options.chunkSize ?? defaultBackupChunkBytes
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > maxChunkBytes) {
      throw new CryptoError('bad-format', 'backup chunk size must be 1 byte to 16 MiB')
    }
    const salt = newPasswordSalt()
    const key = argon2id(passphrase, salt, params, 32, options.minimums)
    const { state, header } = this.#s.crypto_secretstream_xchacha20poly1305_init_push(key)
    key.fill(0)
    this.#state = state
    this.#chunkSize = chunkSize
    this.#buffer = new Uint8Array(chunkSize)
    this.#header = new ByteWriter(backupHeaderBytes)
      .raw(magic)
      .u8(formatVersion)
      .u8(kdfArgon2id13)
      .u32(params.opsLimit)
      .u32(params.memLimitBytes / 1024)
      .raw(salt)
      .u32(chunkSize)
      .raw(header)
      .finish()
  }

  /** The header; must be the first bytes of the file. */
  start(): Uint8Array {
    if (this.#started) throw new CryptoError('bad-state', 'backup header already written')
    this.#started = true
    return this.#header.slice()
  }

  /** Buffers `data` and returns the frames completed by it (possibly none). */
  write(data: Uint8Array): Uint8Array {
    if (!this.#started || this.#finished)
      throw new CryptoError('bad-state', 'write outside start() ... finish()')
    const frames: Uint8Array[] = []
    let offset = 0
    while (offset < data.length) {
      const take = Math.min(this.#chunkSize - this.#buffered, data.length - offset)
      this.#buffer.set(data.subarray(offset, offset + take), this.#buffered)
      this.#buffered += take
      offset += take
      if (this.#buffered === this.#chunkSize) {
        frames.push(this.#frame(this.#buffer, this.#s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE))
        this.#buffered = 0
      }
    }
    return concatBytes(...frames)
  }

  /** The last frame (with the final tag); the file is complete after it. */
  finish(): Uint8Array {
    if (!this.#started || this.#finished)
      throw new CryptoError('bad-state', 'finish outside start() ... finish()')
    this.#finished = true
    const frame = this.#frame(
      this.#buffer.subarray(0, this.#buffered),
      this.#s.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    )
    this.#buffer.fill(0)
    return frame
  }

  #frame(chunk: Uint8Array, tag: number): Uint8Array {
    const ct = this.#s.crypto_secretstream_xchacha20poly1305_push(this.#state, chunk, this.#header, tag)
    return new ByteWriter(4 + ct.length).u32(ct.length).raw(ct).finish()
  }
}

/**
 * The key a passphrase gave for one backup file, kept so that reading the same file again (a
 * restore checks the whole file, then reads it a second time to write) does not run Argon2id
 * again. Bound to the passphrase and to the header's KDF parameters and salt: another file, or
 * another passphrase, derives its own. `wipe()` when done.
 */
export class BackupKeyCache {
  #entry: { readonly passphrase: string; readonly kdf: Uint8Array; readonly key: Uint8Array } | null = null

  /** A copy of the key for these header bytes (KDF id, parameters, salt), or null. */
  get(passphrase: string, kdf: Uint8Array): Uint8Array | null {
    const e = this.#entry
    return e !== null && e.passphrase === passphrase && equalBytes(e.kdf, kdf) ? e.key.slice() : null
  }

  set(passphrase: string, kdf: Uint8Array, key: Uint8Array): void {
    this.wipe()
    this.#entry = { passphrase, kdf: kdf.slice(), key: key.slice() }
  }

  wipe(): void {
    this.#entry?.key.fill(0)
    this.#entry = null
  }
}

/** Reads a backup as a stream: `push()` bytes as they arrive, then `finish()`. */
export class BackupReader {
  readonly #s = sodium()
  readonly #passphrase: string
  readonly #minimums: KdfParams
  readonly #keys: BackupKeyCache | undefined
  #pending: Uint8Array = new Uint8Array(0)
  #header: Uint8Array | null = null
  #state: ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_pull']> | null = null
  #maxFrameBytes = 0
  #final = false

  /** `keys`: where a key derived for this file is kept for a second reading (see BackupKeyCache). */
  constructor(
    passphrase: string,
    options: Pick<BackupOptions, 'minimums'> & { readonly keys?: BackupKeyCache } = {},
  ) {
    this.#passphrase = passphrase
    this.#minimums = options.minimums ?? minimumKdfParams
    this.#keys = options.keys
  }

  /** True once the final frame has been read. */
  get complete(): boolean {
    return this.#final
  }

  /**
   * Consumes the next bytes of the file and returns the plaintext chunks they complete.
   * @throws CryptoError 'bad-format' (not a backup, unknown version, bad frame length, bytes
   * after the end), 'weak-kdf-params', 'decrypt-failed' (wrong passphrase or altered file).
   */
  push(bytes: Uint8Array): Uint8Array[] {
    if (this.#final && bytes.length > 0)
      throw new CryptoError('bad-format', 'data after the end of the backup')
    this.#pending = this.#pending.length === 0 ? bytes.slice() : concatBytes(this.#pending, bytes)
    const out: Uint8Array[] = []
    if (this.#header === null) {
      if (
        this.#pending.length >= magic.length &&
        !equalBytes(this.#pending.subarray(0, magic.length), magic)
      ) {
        throw new CryptoError('bad-format', 'not a Tincan backup')
      }
      if (this.#pending.length < backupHeaderBytes) return out
      this.#readHeader(this.#pending.subarray(0, backupHeaderBytes))
      this.#pending = this.#pending.slice(backupHeaderBytes)
    }
    let offset = 0
    while (this.#pending.length - offset >= 4) {
      if (this.#final) throw new CryptoError('bad-format', 'data after the end of the backup')
      const length = new DataView(this.#pending.buffer, this.#pending.byteOffset + offset).getUint32(0)
      if (length < this.#s.crypto_secretstream_xchacha20poly1305_ABYTES || length > this.#maxFrameBytes) {
        throw new CryptoError('bad-format', 'bad backup frame length')
      }
      if (this.#pending.length - offset - 4 < length) break
      out.push(this.#open(this.#pending.subarray(offset + 4, offset + 4 + length)))
      offset += 4 + length
    }
    this.#pending = this.#pending.slice(offset)
    if (this.#final && this.#pending.length > 0)
      throw new CryptoError('bad-format', 'data after the end of the backup')
    return out
  }

  /** @throws CryptoError 'truncated' unless the final frame was read. */
  finish(): void {
    if (!this.#final) throw new CryptoError('truncated', 'backup ends before its final frame')
  }

  #readHeader(header: Uint8Array): void {
    const r = new ByteReader(header, 'backup header')
    r.raw(magic.length)
    if (r.u8() !== formatVersion) throw new CryptoError('bad-format', 'unknown backup version')
    if (r.u8() !== kdfArgon2id13) throw new CryptoError('bad-format', 'unknown backup KDF')
    const opsLimit = r.u32()
    const memLimitBytes = r.u32() * 1024
    const salt = r.raw(passwordSaltBytes)
    const chunkSize = r.u32()
    const streamHeader = r.rest()
    if (chunkSize < 1 || chunkSize > maxChunkBytes)
      throw new CryptoError('bad-format', 'bad backup chunk size')
    const params: KdfParams = { algorithm: 'argon2id13', opsLimit, memLimitBytes }
    // KDF id, parameters and salt: what the key depends on besides the passphrase.
    const kdf = header.subarray(magic.length + 1, magic.length + 2 + 8 + passwordSaltBytes)
    let key = this.#keys?.get(this.#passphrase, kdf) ?? null
    if (key === null) {
      key = argon2id(this.#passphrase, salt, params, 32, this.#minimums)
      this.#keys?.set(this.#passphrase, kdf, key)
    }
    try {
      this.#state = this.#s.crypto_secretstream_xchacha20poly1305_init_pull(streamHeader, key)
    } catch (cause) {
      throw new CryptoError('bad-format', 'bad backup stream header', { cause })
    } finally {
      key.fill(0)
    }
    this.#header = header.slice()
    this.#maxFrameBytes = chunkSize + this.#s.crypto_secretstream_xchacha20poly1305_ABYTES
  }

  #open(frame: Uint8Array): Uint8Array {
    if (this.#state === null || this.#header === null)
      throw new CryptoError('bad-state', 'backup header missing')
    let result: { message: Uint8Array; tag: number } | false
    try {
      result = this.#s.crypto_secretstream_xchacha20poly1305_pull(this.#state, frame, this.#header)
    } catch (cause) {
      throw new CryptoError('decrypt-failed', 'backup frame does not authenticate', { cause })
    }
    if (result === false) throw new CryptoError('decrypt-failed', 'wrong passphrase or altered backup')
    if (result.tag === this.#s.crypto_secretstream_xchacha20poly1305_TAG_FINAL) this.#final = true
    else if (result.tag !== this.#s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
      throw new CryptoError('bad-format', 'unexpected backup frame tag')
    }
    return result.message
  }
}
