import { CryptoError } from './errors.ts'

// Header, 42 bytes, all big-endian:
//   version u8 (=1) | flags u8 (=0, reserved) | ratchet public key (32) | previous chain length u32 | message number u32
// Wire message: header | XChaCha20-Poly1305(sodium_pad(plaintext, 256)) with
//   AD = handshake hash (32) | header (42).

export const ratchetVersion = 1
export const headerBytes = 42

export interface RatchetHeader {
  readonly dh: Uint8Array
  readonly pn: number
  readonly n: number
}

export function encodeHeader(h: RatchetHeader): Uint8Array {
  const out = new Uint8Array(headerBytes)
  const view = new DataView(out.buffer)
  out[0] = ratchetVersion
  out[1] = 0
  out.set(h.dh, 2)
  view.setUint32(34, h.pn)
  view.setUint32(38, h.n)
  return out
}

/** @throws CryptoError 'bad-format' for a short message, unknown version or set reserved flags. */
export function decodeHeader(message: Uint8Array): RatchetHeader {
  if (message.length < headerBytes) throw new CryptoError('bad-format', 'ratchet message too short')
  if (message[0] !== ratchetVersion) throw new CryptoError('bad-format', 'unknown ratchet message version')
  if (message[1] !== 0) throw new CryptoError('bad-format', 'unknown ratchet header flags')
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  return { dh: message.slice(2, 34), pn: view.getUint32(34), n: view.getUint32(38) }
}
