import { beforeAll, describe, expect, it } from 'vitest'
import {
  ed25519KeyPairFromSeed,
  ed25519Sign,
  ed25519Verify,
  hkdfExpand,
  hkdfExtract,
  hkdfSha256,
  hmacSha256,
  initCrypto,
  x25519,
  xchachaDecrypt,
  xchachaEncrypt,
} from '../../../crypto/index.ts'
import { expectCode, flipBit, hex, toHex, utf8 } from './helpers.ts'

beforeAll(async () => {
  await initCrypto()
})

describe('Ed25519 (RFC 8032 section 7.1)', () => {
  const cases = [
    {
      name: 'TEST 1 (empty message)',
      secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      message: '',
      signature:
        'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      name: 'TEST 2 (one byte)',
      secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      message: '72',
      signature:
        '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
    {
      name: 'TEST 3 (two bytes)',
      secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
      public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
      message: 'af82',
      signature:
        '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
    },
    {
      name: 'TEST SHA(abc)',
      secret: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
      public: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
      message:
        'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      signature:
        'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
    },
  ]

  for (const c of cases) {
    it(`derives the public key, signs and verifies ${c.name}`, () => {
      const pair = ed25519KeyPairFromSeed(hex(c.secret))
      expect(toHex(pair.publicKey)).toBe(c.public)
      const signature = ed25519Sign(pair.secretKey, hex(c.message))
      expect(toHex(signature)).toBe(c.signature)
      expect(ed25519Verify(signature, hex(c.message), pair.publicKey)).toBe(true)
    })
  }

  it('rejects a published signature whose first byte was altered', () => {
    const c = cases[1]!
    expect(ed25519Verify(flipBit(hex(c.signature), 0), hex(c.message), hex(c.public))).toBe(false)
  })

  it('rejects a published signature over a different message', () => {
    const c = cases[2]!
    expect(ed25519Verify(hex(c.signature), hex('af83'), hex(c.public))).toBe(false)
  })
})

describe('X25519 (RFC 7748)', () => {
  it('computes the two scalar multiplication vectors of section 5.2', () => {
    expect(
      toHex(
        x25519(
          hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
          hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
        ),
      ),
    ).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552')
    expect(
      toHex(
        x25519(
          hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
          hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
        ),
      ),
    ).toBe('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957')
  })

  it('reaches the section 5.2 values after 1 and 1000 iterations', () => {
    let k = hex('0900000000000000000000000000000000000000000000000000000000000000')
    let u = k
    const after: Record<number, string> = {}
    for (let i = 1; i <= 1000; i++) {
      const next = x25519(k, u)
      u = k
      k = next
      if (i === 1 || i === 1000) after[i] = toHex(k)
    }
    expect(after[1]).toBe('422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079')
    expect(after[1000]).toBe('684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51')
  })

  it('agrees on the section 6.1 Diffie-Hellman shared secret from both sides', () => {
    const base = hex('0900000000000000000000000000000000000000000000000000000000000000')
    const a = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
    const b = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
    const alicePublic = x25519(a, base)
    const bobPublic = x25519(b, base)
    expect(toHex(alicePublic)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
    expect(toHex(bobPublic)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
    expect(toHex(x25519(a, bobPublic))).toBe(shared)
    expect(toHex(x25519(b, alicePublic))).toBe(shared)
  })

  it('refuses a small-order public key instead of returning an all-zero secret', () => {
    const a = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
    expectCode(() => x25519(a, new Uint8Array(32)), 'low-order-key')
    const orderEight = hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')
    expectCode(() => x25519(a, orderEight), 'low-order-key')
  })
})

describe('HKDF-SHA256 (RFC 5869 appendix A)', () => {
  const range = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i)
  const cases = [
    {
      name: 'A.1 basic',
      ikm: new Uint8Array(22).fill(0x0b),
      salt: range(0x00, 0x0c),
      info: range(0xf0, 0xf9),
      length: 42,
      prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      name: 'A.2 long inputs and outputs',
      ikm: range(0x00, 0x4f),
      salt: range(0x60, 0xaf),
      info: range(0xb0, 0xff),
      length: 82,
      prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
      okm:
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09' +
        'da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      name: 'A.3 empty salt and info',
      ikm: new Uint8Array(22).fill(0x0b),
      salt: new Uint8Array(0),
      info: new Uint8Array(0),
      length: 42,
      prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ]

  for (const c of cases) {
    it(`matches PRK and OKM of test case ${c.name}`, () => {
      const prk = hkdfExtract(c.salt, c.ikm)
      expect(toHex(prk)).toBe(c.prk)
      expect(toHex(hkdfExpand(prk, c.info, c.length))).toBe(c.okm)
      expect(toHex(hkdfSha256(c.ikm, c.salt, c.info, c.length))).toBe(c.okm)
    })
  }

  it('refuses an output longer than 255 hash blocks', () => {
    expectCode(() => hkdfSha256(new Uint8Array(32), null, new Uint8Array(0), 255 * 32 + 1), 'bad-format')
  })
})

describe('HMAC-SHA256 (RFC 4231)', () => {
  const aa131 = new Uint8Array(131).fill(0xaa)
  const cases = [
    {
      n: 1,
      key: new Uint8Array(20).fill(0x0b),
      data: utf8('Hi There'),
      mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    },
    {
      n: 2,
      key: utf8('Jefe'),
      data: utf8('what do ya want for nothing?'),
      mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    },
    {
      n: 3,
      key: new Uint8Array(20).fill(0xaa),
      data: new Uint8Array(50).fill(0xdd),
      mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
    },
    {
      n: 4,
      key: Uint8Array.from({ length: 25 }, (_, i) => i + 1),
      data: new Uint8Array(50).fill(0xcd),
      mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
    },
    {
      n: 5,
      key: new Uint8Array(20).fill(0x0c),
      data: utf8('Test With Truncation'),
      mac: 'a3b6167473100ee06e0c796c2955552b',
    },
    {
      n: 6,
      key: aa131,
      data: utf8('Test Using Larger Than Block-Size Key - Hash Key First'),
      mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    },
    {
      n: 7,
      key: aa131,
      data: utf8(
        'This is a test using a larger than block-size key and a larger than block-size data. ' +
          'The key needs to be hashed before being used by the HMAC algorithm.',
      ),
      mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    },
  ]

  for (const c of cases) {
    it(`matches test case ${c.n}${c.n === 5 ? ' (truncated to 128 bits)' : ''}`, () => {
      const mac = hmacSha256(c.key, c.data)
      expect(toHex(mac.subarray(0, c.mac.length / 2))).toBe(c.mac)
    })
  }

  it('gives the same MAC when the message arrives in pieces', () => {
    const c = cases[6]!
    expect(toHex(hmacSha256(c.key, c.data.subarray(0, 7), c.data.subarray(7)))).toBe(c.mac)
  })
})

describe('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha section A.3.1)', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f')
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657')
  const aad = hex('50515253c0c1c2c3c4c5c6c7')
  const plaintext = utf8(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  )
  const ciphertext =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39' +
    'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e'
  const tag = 'c0875924c1c7987947deafd8780acf49'

  it('encrypts to the published ciphertext and tag', () => {
    expect(toHex(xchachaEncrypt(key, nonce, plaintext, aad))).toBe(ciphertext + tag)
  })

  it('decrypts the published ciphertext', () => {
    expect(xchachaDecrypt(key, nonce, hex(ciphertext + tag), aad)).toEqual(plaintext)
  })

  it('rejects a ciphertext whose tag was altered', () => {
    const sealed = hex(ciphertext + tag)
    expectCode(() => xchachaDecrypt(key, nonce, flipBit(sealed, sealed.length - 1), aad), 'decrypt-failed')
  })

  it('rejects the published ciphertext under different associated data', () => {
    expectCode(() => xchachaDecrypt(key, nonce, hex(ciphertext + tag), flipBit(aad, 0)), 'decrypt-failed')
  })
})
