import { CryptoError } from './errors.ts'
import { sodium } from './sodium.ts'

const hashBytes = 32
const maxOutputBytes = 255 * hashBytes
const zeroSalt = new Uint8Array(hashBytes)

/** HMAC-SHA256 over the concatenation of `parts`, with a key of any length (RFC 2104). */
export function hmacSha256(key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const s = sodium()
  // One part under a 32-byte key (search tokens, chain keys): libsodium's one-shot call, one trip
  // into WebAssembly instead of three (half the time per hash).
  const only = parts.length === 1 ? parts[0] : undefined
  if (only !== undefined && key.length === s.crypto_auth_hmacsha256_KEYBYTES)
    return s.crypto_auth_hmacsha256(only, key)
  const state = s.crypto_auth_hmacsha256_init(key)
  for (const p of parts) s.crypto_auth_hmacsha256_update(state, p)
  return s.crypto_auth_hmacsha256_final(state)
}

/** RFC 5869 extract; an empty salt means HashLen zero bytes, as the RFC says. */
export function hkdfExtract(salt: Uint8Array | null, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt === null || salt.length === 0 ? zeroSalt : salt, ikm)
}

/**
 * RFC 5869 expand.
 * @throws CryptoError 'bad-format' if `length` exceeds 255 * 32 bytes or is negative.
 */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > maxOutputBytes) {
    throw new CryptoError('bad-format', `HKDF-SHA256 output length ${length} is out of range`)
  }
  const out = new Uint8Array(length)
  let previous: Uint8Array = new Uint8Array(0)
  const counter = new Uint8Array(1)
  for (let offset = 0, i = 1; offset < length; offset += hashBytes, i++) {
    counter[0] = i
    previous = hmacSha256(prk, previous, info, counter)
    out.set(previous.subarray(0, Math.min(hashBytes, length - offset)), offset)
  }
  return out
}

/** HKDF-SHA256 (RFC 5869). @throws CryptoError 'bad-format' for an out-of-range length. */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array | null,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return hkdfExpand(hkdfExtract(salt, ikm), info, length)
}

export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const s = sodium()
  if (parts.length === 1 && parts[0] !== undefined) return s.crypto_hash_sha256(parts[0])
  const state = s.crypto_hash_sha256_init()
  for (const p of parts) s.crypto_hash_sha256_update(state, p)
  return s.crypto_hash_sha256_final(state)
}
