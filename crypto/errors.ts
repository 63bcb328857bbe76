/**
 * Every failure the crypto module reports. Callers switch on `code`, never on `message`:
 * messages are for logs and may change.
 */
export const cryptoErrorCodes = [
  /** `initCrypto()` has not resolved yet. */
  'not-ready',
  /** AEAD authentication failed: wrong key, tampered ciphertext, header or associated data. */
  'decrypt-failed',
  /** An Ed25519 signature did not verify. */
  'bad-signature',
  /** A key is not the one pinned for that peer, or a key bundle does not match its owner. */
  'untrusted-key',
  /** A message, envelope or sequence number was already seen. */
  'replay',
  /**
   * The very same signaling envelope was already accepted (a relay re-sent it). Nothing to do
   * and nothing to warn about; a different envelope reusing its sequence is a 'replay'.
   */
  'duplicate',
  /** A message claims a counter beyond the skipped-key bound; refused before any derivation. */
  'too-far-ahead',
  /** A signed timestamp is outside the accepted window, or a stored key has expired. */
  'stale',
  /** A signed envelope is addressed to somebody else. */
  'wrong-recipient',
  /** An SDP carries a DTLS fingerprint that the sender did not sign. */
  'fingerprint-mismatch',
  /** Input does not parse: wrong length, magic, version, encoding or field type. */
  'bad-format',
  /** A stream ended before its final tag. */
  'truncated',
  /** Password-hashing parameters below the enforced minimums. */
  'weak-kdf-params',
  /** A Diffie-Hellman public key of small order (the shared secret would be all zero). */
  'low-order-key',
  /** A group member list was signed by somebody who is not an admin of the previous version. */
  'not-admin',
  /** A group member list does not extend the previous version (hash, version or group id). */
  'bad-chain',
  /** No sender key is known for this group member and epoch. */
  'no-sender-key',
  /** A state machine was driven out of order (for example a handshake message out of turn). */
  'bad-state',
  /** A decrypted file does not hash to the value announced for it. */
  'hash-mismatch',
] as const
export type CryptoErrorCode = (typeof cryptoErrorCodes)[number]

export class CryptoError extends Error {
  override readonly name = 'CryptoError'
  readonly code: CryptoErrorCode

  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  /** True when `e` is a CryptoError, and when `code` is given, one with that code. */
  static is(e: unknown, code?: CryptoErrorCode): e is CryptoError {
    if (!(e instanceof CryptoError)) return false
    return code === undefined || e.code === code
  }
}
