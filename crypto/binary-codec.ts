import { CryptoError } from './errors.ts'
import { utf8Decode, utf8Encode } from './bytes.ts'

const maxSafeHigh = 0x1fffff // 2^53 - 1 split into 21 high bits and 32 low bits

/**
 * Builds canonical byte strings: fixed-width big-endian integers and u32-length-prefixed
 * fields, so no two different field lists encode to the same bytes.
 */
export class ByteWriter {
  private buf: Uint8Array
  private view: DataView
  private length = 0

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity)
    this.view = new DataView(this.buf.buffer)
  }

  /** Grows the buffer if needed and returns the offset to write at; read `buf`/`view` only after calling it. */
  private reserve(n: number): number {
    const need = this.length + n
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2))
      next.set(this.buf.subarray(0, this.length))
      this.buf = next
      this.view = new DataView(next.buffer)
    }
    const at = this.length
    this.length = need
    return at
  }

  u8(value: number): this {
    const at = this.reserve(1)
    this.view.setUint8(at, value)
    return this
  }

  u16(value: number): this {
    const at = this.reserve(2)
    this.view.setUint16(at, value)
    return this
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new CryptoError('bad-format', `u32 out of range: ${value}`)
    }
    const at = this.reserve(4)
    this.view.setUint32(at, value)
    return this
  }

  /** Non-negative safe integers only (below 2^53). */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new CryptoError('bad-format', `u64 out of range: ${value}`)
    const at = this.reserve(8)
    this.view.setUint32(at, Math.floor(value / 0x100000000))
    this.view.setUint32(at + 4, value >>> 0)
    return this
  }

  raw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.length)
    this.buf.set(bytes, at)
    return this
  }

  /** u32 length, then the bytes. */
  lp(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes)
  }

  /** UTF-8, length-prefixed. */
  str(text: string): this {
    return this.lp(utf8Encode(text))
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

/** Reads what ByteWriter wrote; every overrun is a 'bad-format' CryptoError. */
export class ByteReader {
  private offset = 0
  private readonly bytes: Uint8Array
  private readonly what: string
  private readonly view: DataView

  constructor(bytes: Uint8Array, what = 'input') {
    this.bytes = bytes
    this.what = what
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  private take(n: number): number {
    if (n > this.remaining) throw new CryptoError('bad-format', `${this.what} is too short`)
    const at = this.offset
    this.offset += n
    return at
  }

  u8(): number {
    return this.view.getUint8(this.take(1))
  }

  u16(): number {
    return this.view.getUint16(this.take(2))
  }

  u32(): number {
    return this.view.getUint32(this.take(4))
  }

  u64(): number {
    const at = this.take(8)
    const high = this.view.getUint32(at)
    if (high > maxSafeHigh) throw new CryptoError('bad-format', `${this.what} has an integer beyond 2^53`)
    return high * 0x100000000 + this.view.getUint32(at + 4)
  }

  raw(n: number): Uint8Array {
    const at = this.take(n)
    return this.bytes.slice(at, at + n)
  }

  lp(maxLength = this.remaining): Uint8Array {
    const n = this.u32()
    if (n > maxLength)
      throw new CryptoError('bad-format', `${this.what} has a field longer than ${maxLength}`)
    return this.raw(n)
  }

  str(maxLength?: number): string {
    return utf8Decode(this.lp(maxLength))
  }

  rest(): Uint8Array {
    return this.raw(this.remaining)
  }

  /** @throws CryptoError 'bad-format' if bytes are left over. */
  end(): void {
    if (this.remaining !== 0) throw new CryptoError('bad-format', `${this.what} has trailing bytes`)
  }
}
