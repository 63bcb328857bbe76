import { randomBytes } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { sodium } from './sodium.ts'

export interface KeyPair {
  readonly publicKey: Uint8Array
  readonly secretKey: Uint8Array
}

export const x25519KeyBytes = 32
export const ed25519PublicKeyBytes = 32
export const ed25519SecretKeyBytes = 64
export const ed25519SignatureBytes = 64
export const xchachaNonceBytes = 24
export const aeadKeyBytes = 32
export const aeadTagBytes = 16

/** X25519 key pair; `secretKey` may be injected (test vectors), otherwise it is random. */
export function x25519KeyPair(secretKey?: Uint8Array): KeyPair {
  const secret = secretKey ?? randomBytes(x25519KeyBytes)
  if (secret.length !== x25519KeyBytes)
    throw new CryptoError('bad-format', 'X25519 secret key must be 32 bytes')
  return { publicKey: sodium().crypto_scalarmult_base(secret), secretKey: secret }
}

/**
 * X25519. libsodium refuses an all-zero result, which is exactly the small-order inputs.
 * @throws CryptoError 'bad-format' for wrong key lengths, 'low-order-key' for small-order points.
 */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (secretKey.length !== x25519KeyBytes || publicKey.length !== x25519KeyBytes) {
    throw new CryptoError('bad-format', 'X25519 keys must be 32 bytes')
  }
  try {
    return sodium().crypto_scalarmult(secretKey, publicKey)
  } catch (cause) {
    throw new CryptoError('low-order-key', 'X25519 public key has small order', { cause })
  }
}

export function ed25519KeyPair(): KeyPair {
  const seed = randomBytes(32)
  const pair = ed25519KeyPairFromSeed(seed)
  seed.fill(0)
  return pair
}

/** Deterministic Ed25519 key pair from a 32-byte seed (RFC 8032 "secret key"). */
export function ed25519KeyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new CryptoError('bad-format', 'Ed25519 seed must be 32 bytes')
  const { publicKey, privateKey } = sodium().crypto_sign_seed_keypair(seed)
  return { publicKey, secretKey: privateKey }
}

export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (secretKey.length !== ed25519SecretKeyBytes) {
    throw new CryptoError('bad-format', 'Ed25519 secret key must be 64 bytes')
  }
  return sodium().crypto_sign_detached(message, secretKey)
}

/** Strict verification (libsodium rejects non-canonical and small-order encodings); never throws. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ed25519SignatureBytes || publicKey.length !== ed25519PublicKeyBytes) return false
  try {
    return sodium().crypto_sign_verify_detached(signature, message, publicKey)
  } catch {
    return false
  }
}

/** @throws CryptoError 'bad-signature' unless the signature verifies. */
export function assertEd25519(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
  what: string,
): void {
  if (!ed25519Verify(signature, message, publicKey)) {
    throw new CryptoError('bad-signature', `${what}: signature does not verify`)
  }
}

export function xchachaEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  return sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associatedData, null, nonce, key)
}

/** @throws CryptoError 'decrypt-failed' when authentication fails or the sizes are wrong. */
export function xchachaDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, associatedData, nonce, key)
  } catch (cause) {
    throw new CryptoError('decrypt-failed', 'XChaCha20-Poly1305 authentication failed', { cause })
  }
}

export function chachaIetfEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  return sodium().crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, associatedData, null, nonce, key)
}

/** @throws CryptoError 'decrypt-failed' when authentication fails or the sizes are wrong. */
export function chachaIetfDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  try {
    return sodium().crypto_aead_chacha20poly1305_ietf_decrypt(null, ciphertext, associatedData, nonce, key)
  } catch (cause) {
    throw new CryptoError('decrypt-failed', 'ChaCha20-Poly1305 authentication failed', { cause })
  }
}
