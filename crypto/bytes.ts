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

interface WebCryptoRandom {
  getRandomValues(array: Uint8Array): Uint8Array
}

/**
 * Cryptographically secure random bytes. Uses Web Crypto's getRandomValues where the
 * platform has it (browsers, Node 19+): libsodium's JS build calls its entropy source once per
 * 4 bytes, which costs about 100 µs per key in Node. Falls back to libsodium otherwise.
 */
export function randomBytes(length: number): Uint8Array {
  const webCrypto = (globalThis as { crypto?: Partial<WebCryptoRandom> }).crypto
  if (typeof webCrypto?.getRandomValues !== 'function') return sodium().randombytes_buf(length)
  const out = new Uint8Array(length)
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    webCrypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)))
  }
  return out
}

/**
 * ISO/IEC 7816-4 padding exactly as sodium_pad: 0x80 then zeros up to a multiple of
 * `blockSize`, always at least one byte. Done in JS because the wrapper's copies into and out
 * of WebAssembly cost more than the padding itself.
 */
export function padBlock(data: Uint8Array, blockSize: number): Uint8Array {
  const out = new Uint8Array(data.length + blockSize - (data.length % blockSize))
  out.set(data)
  out[data.length] = 0x80
  return out
}

/**
 * Inverse of `padBlock` / sodium_pad. Scans the whole last block so the time does not depend
 * on the padding length.
 * @throws CryptoError 'bad-format' if the padding is malformed.
 */
export function unpadBlock(padded: Uint8Array, blockSize: number): Uint8Array {
  if (padded.length === 0 || padded.length % blockSize !== 0) {
    throw new CryptoError('bad-format', 'padded length is not a multiple of the block size')
  }
  let marker = -1
  let seenNonZero = 0
  for (let i = padded.length - 1; i >= padded.length - blockSize; i--) {
    const b = padded[i] as number
    const isCandidate = seenNonZero === 0 && b !== 0 ? 1 : 0
    if (isCandidate === 1) marker = b === 0x80 ? i : -2
    seenNonZero |= b
  }
  if (marker < 0) throw new CryptoError('bad-format', 'invalid padding')
  return padded.slice(0, marker)
}

/** UTF-8 without TextEncoder (not in the pure ES2022 lib). Lone surrogates become U+FFFD. */
export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3)
  let o = 0
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        i++
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd
    if (c < 0x80) {
      out[o++] = c
    } else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6)
      out[o++] = 0x80 | (c & 0x3f)
    } else if (c < 0x10000) {
      out[o++] = 0xe0 | (c >> 12)
      out[o++] = 0x80 | ((c >> 6) & 0x3f)
      out[o++] = 0x80 | (c & 0x3f)
    } else {
      out[o++] = 0xf0 | (c >> 18)
      out[o++] = 0x80 | ((c >> 12) & 0x3f)
      out[o++] = 0x80 | ((c >> 6) & 0x3f)
      out[o++] = 0x80 | (c & 0x3f)
    }
  }
  return out.slice(0, o)
}

/**
 * Strict UTF-8 decoding: overlong forms, surrogates and truncated sequences are refused.
 * @throws CryptoError 'bad-format' if the bytes are not valid UTF-8.
 */
export function utf8Decode(bytes: Uint8Array): string {
  const bad = () => new CryptoError('bad-format', 'invalid UTF-8')
  let out = ''
  for (let i = 0; i < bytes.length;) {
    const b0 = bytes[i] as number
    let cp: number
    let extra: number
    let min: number
    if (b0 < 0x80) [cp, extra, min] = [b0, 0, 0]
    else if (b0 >= 0xc2 && b0 < 0xe0) [cp, extra, min] = [b0 & 0x1f, 1, 0x80]
    else if (b0 >= 0xe0 && b0 < 0xf0) [cp, extra, min] = [b0 & 0x0f, 2, 0x800]
    else if (b0 >= 0xf0 && b0 < 0xf5) [cp, extra, min] = [b0 & 0x07, 3, 0x10000]
    else throw bad()
    for (let k = 1; k <= extra; k++) {
      const b = bytes[i + k]
      if (b === undefined || (b & 0xc0) !== 0x80) throw bad()
      cp = (cp << 6) | (b & 0x3f)
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw bad()
    out += String.fromCodePoint(cp)
    i += extra + 1
  }
  return out
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
