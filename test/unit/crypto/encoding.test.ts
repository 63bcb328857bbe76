import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { fromBase64Url, initCrypto, toBase64Url, utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import { ByteReader, ByteWriter } from '../../../crypto/binary-codec.ts'
import { padBlock, unpadBlock } from '../../../crypto/bytes.ts'
import { expectCode } from './helpers.ts'

beforeAll(async () => {
  await initCrypto()
})

describe('encodings', () => {
  it('encodes UTF-8 exactly like TextEncoder and decodes it back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        const bytes = utf8Encode(text)
        expect(bytes).toEqual(new TextEncoder().encode(text))
        expect(utf8Decode(bytes)).toBe(text)
      }),
      { numRuns: 300 },
    )
  })

  it('refuses invalid UTF-8: overlong forms, surrogates and cut sequences', () => {
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff], [0xf4, 0x90, 0x80, 0x80]]) {
      expectCode(() => utf8Decode(Uint8Array.from(bad)), 'bad-format')
    }
  })

  it('round-trips base64url and refuses padding, other alphabets and wrong lengths', () => {
    const bytes = Uint8Array.from([251, 255, 0, 1])
    expect(toBase64Url(bytes)).toBe('-_8AAQ')
    expect(fromBase64Url('-_8AAQ', 4)).toEqual(bytes)
    expectCode(() => fromBase64Url('-_8AAQ==', 4), 'bad-format')
    expectCode(() => fromBase64Url('+/8AAQ', 4), 'bad-format')
    expectCode(() => fromBase64Url('-_8AAQ', 5), 'bad-format')
    expectCode(() => fromBase64Url('-_8AAR', 4), 'bad-format')
  })

  it('writes length-prefixed fields that read back, across buffer growth', () => {
    const long = new Uint8Array(1000).fill(7)
    const w = new ByteWriter(4)
      .u8(1)
      .str('héllo')
      .lp(long)
      .u64(2 ** 53 - 1)
      .u32(0xffffffff)
      .u16(513)
    const r = new ByteReader(w.finish())
    expect([r.u8(), r.str(), r.lp(), r.u64(), r.u32(), r.u16()]).toEqual([
      1,
      'héllo',
      long,
      2 ** 53 - 1,
      0xffffffff,
      513,
    ])
    r.end()
    expectCode(() => new ByteReader(Uint8Array.from([0, 0, 0, 9, 1])).lp(), 'bad-format')
  })
})

describe('padding', () => {
  it('pads exactly like sodium_pad and unpads back, for every length around a block', async () => {
    const { default: sodium } = await import('libsodium-wrappers-sumo')
    for (let n = 0; n <= 520; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff)
      const padded = padBlock(data, 256)
      expect(padded).toEqual(sodium.pad(data, 256))
      expect(unpadBlock(padded, 256)).toEqual(data)
    }
  })

  it('refuses malformed padding', () => {
    expectCode(() => unpadBlock(new Uint8Array(256), 256), 'bad-format')
    expectCode(() => unpadBlock(new Uint8Array(255).fill(0x80), 256), 'bad-format')
    const wrongMarker = new Uint8Array(256)
    wrongMarker[10] = 0x81
    expectCode(() => unpadBlock(wrongMarker, 256), 'bad-format')
  })
})
