import { CryptoError } from './errors.ts'
import { sodium } from './sodium.ts'

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** Constant-time for equal lengths; the length itself is not secret anywhere we compare. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  if (a.length === 0) return true
  return sodium().memcmp(a, b)
}

export function randomBytes(length: number): Uint8Array {
  return sodium().randombytes_buf(length)
}

export function utf8Encode(text: string): Uint8Array {
  return sodium().from_string(text)
}

/** @throws CryptoError 'bad-format' if the bytes are not valid UTF-8. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return sodium().to_string(bytes)
  } catch (cause) {
    throw new CryptoError('bad-format', 'invalid UTF-8', { cause })
  }
}

export function toBase64Url(bytes: Uint8Array): string {
  const s = sodium()
  return s.to_base64(bytes, s.base64_variants.URLSAFE_NO_PADDING)
}

/**
 * Strict unpadded base64url; `length` pins the decoded size when the field has one.
 * @throws CryptoError 'bad-format' on bad characters, padding or length.
 */
export function fromBase64Url(text: unknown, length?: number, what = 'value'): Uint8Array {
  if (typeof text !== 'string') throw new CryptoError('bad-format', `${what} is not a string`)
  let out: Uint8Array
  try {
    const s = sodium()
    out = s.from_base64(text, s.base64_variants.URLSAFE_NO_PADDING)
  } catch (cause) {
    throw new CryptoError('bad-format', `${what} is not base64url`, { cause })
  }
  // libsodium ignores nothing, but re-encoding also rejects non-canonical trailing bits.
  if (toBase64Url(out) !== text) throw new CryptoError('bad-format', `${what} is not canonical base64url`)
  if (length !== undefined && out.length !== length) {
    throw new CryptoError('bad-format', `${what} must be ${length} bytes, got ${out.length}`)
  }
  return out
}

export function toHex(bytes: Uint8Array): string {
  return sodium().to_hex(bytes)
}

/** Best-effort erasure: JavaScript may have copied the bytes elsewhere already. */
export function wipe(...buffers: readonly Uint8Array[]): void {
  for (const b of buffers) b.fill(0)
}
