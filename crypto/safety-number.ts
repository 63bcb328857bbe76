import { concatBytes, equalBytes, fromBase64Url, toBase64Url, utf8Encode } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { sodium } from './sodium.ts'

/** Signal's numeric fingerprint, version 1: 5200 rounds of SHA-512 per party. */
export const safetyNumberIterations = 5200
const fingerprintVersion = new Uint8Array([0, 0])
/** Signal's key type byte for Curve25519/Ed25519-family keys; kept so the published vector applies. */
const djbKeyType = 0x05
const qrVersion = 1
const scannableBytes = 32

export interface SafetyParty {
  /** Ed25519 identity public key (32 bytes). */
  readonly identityKey: Uint8Array
  /** The account name, Signal's "stable identifier". */
  readonly username: string
}

function typedKey(identityKey: Uint8Array): Uint8Array {
  if (identityKey.length !== 32) throw new CryptoError('bad-format', 'identity key must be 32 bytes')
  return concatBytes(new Uint8Array([djbKeyType]), identityKey)
}

/**
 * The 64-byte iterated hash for one party: h = SHA512(0x0000 || key || id || key), then
 * h = SHA512(h || key) until `iterations` hashes in all.
 */
export function fingerprintHash(
  key: Uint8Array,
  stableId: string,
  iterations = safetyNumberIterations,
): Uint8Array {
  const s = sodium()
  let h = s.crypto_hash_sha512(concatBytes(fingerprintVersion, key, utf8Encode(stableId), key))
  // One reusable buffer: h occupies the first 64 bytes, the key the rest.
  const buf = new Uint8Array(64 + key.length)
  buf.set(key, 64)
  for (let i = 1; i < iterations; i++) {
    buf.set(h, 0)
    h = s.crypto_hash_sha512(buf)
  }
  return h
}

/** Six 5-byte big-endian chunks of the first 30 bytes, each mod 100000, zero-padded: 30 digits. */
export function displayableFingerprint(hash: Uint8Array): string {
  let out = ''
  for (let i = 0; i < 30; i += 5) {
    let chunk = 0
    for (let j = 0; j < 5; j++) chunk = chunk * 256 + (hash[i + j] ?? 0)
    out += String(chunk % 100000).padStart(5, '0')
  }
  return out
}

/** The 60-digit number from already-typed keys (0x05 || key); the published vector uses this form. */
export function safetyNumberFromTypedKeys(
  localKey: Uint8Array,
  localId: string,
  remoteKey: Uint8Array,
  remoteId: string,
): string {
  const local = displayableFingerprint(fingerprintHash(localKey, localId))
  const remote = displayableFingerprint(fingerprintHash(remoteKey, remoteId))
  return local <= remote ? local + remote : remote + local
}

/**
 * The 60-digit safety number both users see identically.
 * @throws CryptoError 'bad-format' unless both identity keys are 32 bytes.
 */
export function safetyNumber(local: SafetyParty, remote: SafetyParty): string {
  return safetyNumberFromTypedKeys(
    typedKey(local.identityKey),
    local.username,
    typedKey(remote.identityKey),
    remote.username,
  )
}

/** 12 groups of 5 digits, as shown to users. */
export function formatSafetyNumber(digits: string): string {
  return (digits.match(/.{1,5}/g) ?? []).join(' ')
}

// QR payload bytes: version u8 (=1) | shower's fingerprint (32) | scanner's fingerprint (32),
// each the first 32 bytes of that party's iterated hash; carried as base64url text.

/** What to put in the QR code this user shows. */
export function safetyQrPayload(local: SafetyParty, remote: SafetyParty): string {
  const mine = fingerprintHash(typedKey(local.identityKey), local.username).subarray(0, scannableBytes)
  const theirs = fingerprintHash(typedKey(remote.identityKey), remote.username).subarray(0, scannableBytes)
  return toBase64Url(concatBytes(new Uint8Array([qrVersion]), mine, theirs))
}

/**
 * Checks a QR code scanned from the other user's screen: true only if it carries their key
 * and ours exactly as we have them.
 * @throws CryptoError 'bad-format' if the payload is not a version-1 safety QR.
 */
export function verifySafetyQr(scanned: string, local: SafetyParty, remote: SafetyParty): boolean {
  const bytes = fromBase64Url(scanned, 1 + 2 * scannableBytes, 'safety QR payload')
  if (bytes[0] !== qrVersion) throw new CryptoError('bad-format', 'unknown safety QR version')
  const mine = fingerprintHash(typedKey(local.identityKey), local.username).subarray(0, scannableBytes)
  const theirs = fingerprintHash(typedKey(remote.identityKey), remote.username).subarray(0, scannableBytes)
  const theirsOk = equalBytes(bytes.subarray(1, 1 + scannableBytes), theirs)
  const mineOk = equalBytes(bytes.subarray(1 + scannableBytes), mine)
  return theirsOk && mineOk
}
