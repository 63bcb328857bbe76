import { ByteReader, ByteWriter } from './binary-codec.ts'
import { equalBytes, randomBytes, utf8Decode, utf8Encode } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { masterSubkey } from './password.ts'
import { xchachaDecrypt, xchachaEncrypt, xchachaNonceBytes } from './primitives.ts'
import { sodium } from './sodium.ts'

// Wrapped vault key:  version u8 (=1) | nonce (24) | XChaCha20-Poly1305(vault key) (32 + 16)
// Encrypted record:   version u8 (=1) | nonce (24) | XChaCha20-Poly1305(record) (n + 16)
const formatVersion = 1
export const vaultKeyBytes = 32
const wrapLabel = 'tincan/v1/vault/wrapped-key'
const recordLabel = 'tincan/v1/vault/record'
const recordKdfContext = 'tcnvault'
const recordSubkeyId = 1

/** Where a record lives. All three are bound into its associated data. */
export interface RecordRef {
  /** Object store name, e.g. 'messages'. */
  readonly store: string
  /** Primary key of the record within the store. */
  readonly id: string
  /** Schema version of the plaintext; a record cannot be replayed as another version. */
  readonly schemaVersion: number
}

export function generateVaultKey(): Uint8Array {
  return randomBytes(vaultKeyBytes)
}

/** Encrypts the vault key under a subkey of the master key, for storage next to the account. */
export function wrapVaultKey(vaultKey: Uint8Array, masterKey: Uint8Array): Uint8Array {
  if (vaultKey.length !== vaultKeyBytes) throw new CryptoError('bad-format', 'vault key must be 32 bytes')
  const nonce = randomBytes(xchachaNonceBytes)
  const ad = new ByteWriter().str(wrapLabel).u8(formatVersion).finish()
  const ct = xchachaEncrypt(masterSubkey(masterKey, 'vault-wrap'), nonce, vaultKey, ad)
  return new ByteWriter(1 + nonce.length + ct.length).u8(formatVersion).raw(nonce).raw(ct).finish()
}

/**
 * @throws CryptoError 'bad-format' for an unknown version or size, 'decrypt-failed' for a wrong
 * master key (wrong password) or altered bytes.
 */
export function unwrapVaultKey(wrapped: Uint8Array, masterKey: Uint8Array): Uint8Array {
  const r = new ByteReader(wrapped, 'wrapped vault key')
  if (r.u8() !== formatVersion) throw new CryptoError('bad-format', 'unknown wrapped vault key version')
  const nonce = r.raw(xchachaNonceBytes)
  const ct = r.rest()
  const ad = new ByteWriter().str(wrapLabel).u8(formatVersion).finish()
  const key = xchachaDecrypt(masterSubkey(masterKey, 'vault-wrap'), nonce, ct, ad)
  if (key.length !== vaultKeyBytes)
    throw new CryptoError('bad-format', 'wrapped vault key has the wrong size')
  return key
}

// Every history read and write opens or seals a record: the subkey of the last vault key used and
// the fixed start of the associated data are kept, instead of being made again each time (an
// export of 100,000 messages spent a fifth of its time there).
let lastRecordKey: { readonly vaultKey: Uint8Array; readonly key: Uint8Array } | undefined
let recordAdPrefix: Uint8Array | undefined

function recordKey(vaultKey: Uint8Array): Uint8Array {
  if (vaultKey.length !== vaultKeyBytes) throw new CryptoError('bad-format', 'vault key must be 32 bytes')
  // Compared by value: a caller may wipe or reuse its buffer.
  if (lastRecordKey !== undefined && equalBytes(lastRecordKey.vaultKey, vaultKey)) return lastRecordKey.key
  const key = sodium().crypto_kdf_derive_from_key(32, recordSubkeyId, recordKdfContext, vaultKey)
  lastRecordKey = { vaultKey: vaultKey.slice(), key }
  return key
}

/** lp(label) | version | lp(store) | lp(id) | schemaVersion u32, in one allocation. */
function recordAd(ref: RecordRef): Uint8Array {
  recordAdPrefix ??= new ByteWriter().str(recordLabel).u8(formatVersion).finish()
  const { schemaVersion } = ref
  if (!Number.isInteger(schemaVersion) || schemaVersion < 0 || schemaVersion > 0xffffffff)
    throw new CryptoError('bad-format', `u32 out of range: ${schemaVersion}`)
  const store = utf8Encode(ref.store)
  const id = utf8Encode(ref.id)
  const ad = new Uint8Array(recordAdPrefix.length + 4 + store.length + 4 + id.length + 4)
  const view = new DataView(ad.buffer)
  let at = recordAdPrefix.length
  ad.set(recordAdPrefix)
  view.setUint32(at, store.length)
  ad.set(store, (at += 4))
  view.setUint32((at += store.length), id.length)
  ad.set(id, (at += 4))
  view.setUint32(at + id.length, schemaVersion)
  return ad
}

/** Encrypts one record body; the ciphertext only opens under the same store, id and schema version. */
export function encryptRecord(vaultKey: Uint8Array, ref: RecordRef, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(xchachaNonceBytes)
  const ct = xchachaEncrypt(recordKey(vaultKey), nonce, plaintext, recordAd(ref))
  return new ByteWriter(1 + nonce.length + ct.length).u8(formatVersion).raw(nonce).raw(ct).finish()
}

/**
 * @throws CryptoError 'bad-format' for an unknown version, 'decrypt-failed' for a wrong key,
 * altered bytes, or a record moved to another store, id or schema version.
 */
export function decryptRecord(vaultKey: Uint8Array, ref: RecordRef, sealed: Uint8Array): Uint8Array {
  const r = new ByteReader(sealed, 'vault record')
  if (r.u8() !== formatVersion) throw new CryptoError('bad-format', 'unknown vault record version')
  const nonce = r.raw(xchachaNonceBytes)
  return xchachaDecrypt(recordKey(vaultKey), nonce, r.rest(), recordAd(ref))
}

/** Persistence for encrypted records; the client implements it over IndexedDB. */
export interface RecordStore {
  get(store: string, id: string): Promise<Uint8Array | undefined>
  put(store: string, id: string, sealed: Uint8Array): Promise<void>
  delete(store: string, id: string): Promise<void>
}

/** Records encrypted under the vault key, kept in any RecordStore. */
export class Vault {
  readonly #key: Uint8Array
  readonly #records: RecordStore

  /** @throws CryptoError 'bad-format' unless the vault key is 32 bytes. */
  constructor(vaultKey: Uint8Array, records: RecordStore) {
    if (vaultKey.length !== vaultKeyBytes) throw new CryptoError('bad-format', 'vault key must be 32 bytes')
    this.#key = vaultKey.slice()
    this.#records = records
  }

  async put(ref: RecordRef, plaintext: Uint8Array): Promise<void> {
    await this.#records.put(ref.store, ref.id, encryptRecord(this.#key, ref, plaintext))
  }

  /** @throws CryptoError 'decrypt-failed' / 'bad-format' as `decryptRecord`. */
  async get(ref: RecordRef): Promise<Uint8Array | undefined> {
    const sealed = await this.#records.get(ref.store, ref.id)
    return sealed === undefined ? undefined : decryptRecord(this.#key, ref, sealed)
  }

  async putJson(ref: RecordRef, value: unknown): Promise<void> {
    await this.put(ref, utf8Encode(JSON.stringify(value)))
  }

  /** @throws CryptoError as `get`, and 'bad-format' if the plaintext is not JSON. */
  async getJson(ref: RecordRef): Promise<unknown> {
    const bytes = await this.get(ref)
    if (bytes === undefined) return undefined
    try {
      return JSON.parse(utf8Decode(bytes)) as unknown
    } catch (cause) {
      throw CryptoError.is(cause)
        ? cause
        : new CryptoError('bad-format', 'vault record is not JSON', { cause })
    }
  }

  async delete(ref: Pick<RecordRef, 'store' | 'id'>): Promise<void> {
    await this.#records.delete(ref.store, ref.id)
  }
}

/** A RecordStore in a Map, for tests and for callers that persist elsewhere. */
export class MemoryRecordStore implements RecordStore {
  readonly #map = new Map<string, Uint8Array>()

  get(store: string, id: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.#map.get(JSON.stringify([store, id]))?.slice())
  }

  put(store: string, id: string, sealed: Uint8Array): Promise<void> {
    this.#map.set(JSON.stringify([store, id]), sealed.slice())
    return Promise.resolve()
  }

  delete(store: string, id: string): Promise<void> {
    this.#map.delete(JSON.stringify([store, id]))
    return Promise.resolve()
  }
}
