import { beforeAll, describe, expect, it } from 'vitest'
import {
  chachaIetfDecrypt,
  chachaIetfEncrypt,
  CryptoError,
  ed25519Verify,
  hkdfSha256,
  hmacSha256,
  initCrypto,
  x25519,
  xchachaDecrypt,
  xchachaEncrypt,
} from '../../../crypto/index.ts'
import { hex, readVectors, toHex } from './helpers.ts'

// Wycheproof files: valid cases must pass, invalid ones must fail. "acceptable" X25519 cases
// (low-order and twist points) pass either way, but only a refusal or the listed output counts.

interface Suite<G> {
  readonly algorithm: string
  readonly testGroups: readonly G[]
}
interface Case {
  readonly tcId: number
  readonly comment: string
  readonly flags: readonly string[]
  readonly result: 'valid' | 'invalid' | 'acceptable'
}

function outcome(run: () => boolean): boolean {
  try {
    return run()
  } catch (e) {
    if (e instanceof CryptoError) return false
    throw e
  }
}

beforeAll(async () => {
  await initCrypto()
})

describe('Wycheproof X25519', () => {
  type T = Case & { public: string; private: string; shared: string }
  const suite = readVectors<Suite<{ tests: readonly T[] }>>('wycheproof/x25519_test.json')
  const tests = suite.testGroups.flatMap((g) => g.tests)

  it(`computes every valid case and never a wrong secret for acceptable ones (${tests.length} cases)`, () => {
    const zero = '0'.repeat(64)
    const failures: string[] = []
    for (const t of tests) {
      let got: string | null = null
      try {
        got = toHex(x25519(hex(t.private), hex(t.public)))
      } catch (e) {
        if (!(e instanceof CryptoError)) throw e
      }
      // A refusal is right for acceptable cases and for the all-zero secret; anything computed must match.
      if (got === null && t.result === 'valid' && t.shared !== zero) failures.push(`${t.tcId} refused`)
      if (got !== null && got !== t.shared) failures.push(`${t.tcId} computed ${got}`)
    }
    expect(tests.length).toBe(518)
    expect(failures).toEqual([])
  })

  it('refuses every case whose shared secret would be all zero', () => {
    const zero = tests.filter((t) => t.shared === '0'.repeat(64))
    expect(zero.length).toBeGreaterThan(0)
    for (const t of zero) expect(outcome(() => x25519(hex(t.private), hex(t.public)).length > 0)).toBe(false)
  })
})

describe('Wycheproof Ed25519', () => {
  type T = Case & { msg: string; sig: string }
  const suite = readVectors<Suite<{ publicKey: { pk: string }; tests: readonly T[] }>>(
    'wycheproof/ed25519_test.json',
  )

  it('accepts every valid signature and rejects every invalid one', () => {
    const failures: string[] = []
    let count = 0
    for (const g of suite.testGroups) {
      const pk = hex(g.publicKey.pk)
      for (const t of g.tests) {
        count++
        const ok = outcome(() => ed25519Verify(hex(t.sig), hex(t.msg), pk))
        if (ok !== (t.result === 'valid')) failures.push(`${t.tcId} (${t.result}, ${t.comment})`)
      }
    }
    expect(count).toBe(151)
    expect(failures).toEqual([])
  })
})

type AeadCase = Case & { key: string; iv: string; aad: string; msg: string; ct: string; tag: string }
type AeadGroup = { ivSize: number; tagSize: number; tests: readonly AeadCase[] }

function runAead(
  file: string,
  nonceBits: number,
  encrypt: typeof xchachaEncrypt,
  decrypt: typeof xchachaDecrypt,
): () => void {
  return () => {
    const suite = readVectors<Suite<AeadGroup>>(file)
    const failures: string[] = []
    let count = 0
    for (const g of suite.testGroups) {
      for (const t of g.tests) {
        count++
        const key = hex(t.key)
        const nonce = hex(t.iv)
        const aad = hex(t.aad)
        const sealed = hex(t.ct + t.tag)
        const opened = outcome(() => toHex(decrypt(key, nonce, sealed, aad)) === t.msg)
        if (opened !== (t.result === 'valid')) failures.push(`${t.tcId} decrypt (${t.result}, ${t.comment})`)
        if (t.result === 'valid' && g.ivSize === nonceBits) {
          const ct = toHex(encrypt(key, nonce, hex(t.msg), aad))
          if (ct !== t.ct + t.tag) failures.push(`${t.tcId} encrypt`)
        }
      }
    }
    expect(count).toBe(suite.testGroups.reduce((n, g) => n + g.tests.length, 0))
    expect(failures).toEqual([])
  }
}

describe('Wycheproof AEAD', () => {
  it(
    'opens every valid XChaCha20-Poly1305 case and refuses every invalid one',
    runAead('wycheproof/xchacha20_poly1305_test.json', 192, xchachaEncrypt, xchachaDecrypt),
  )
  it(
    'opens every valid ChaCha20-Poly1305 case and refuses every invalid one',
    runAead('wycheproof/chacha20_poly1305_test.json', 96, chachaIetfEncrypt, chachaIetfDecrypt),
  )
})

describe('Wycheproof HMAC-SHA256 and HKDF-SHA256', () => {
  it('matches every valid HMAC tag (compared on the tag prefix) and no invalid one', () => {
    type T = Case & { key: string; msg: string; tag: string }
    const suite = readVectors<Suite<{ tagSize: number; tests: readonly T[] }>>(
      'wycheproof/hmac_sha256_test.json',
    )
    const failures: string[] = []
    for (const g of suite.testGroups) {
      for (const t of g.tests) {
        const mac = toHex(hmacSha256(hex(t.key), hex(t.msg)).subarray(0, g.tagSize / 8))
        if ((mac === t.tag) !== (t.result === 'valid')) failures.push(`${t.tcId} (${t.result})`)
      }
    }
    expect(failures).toEqual([])
  })

  it('derives every valid HKDF output and refuses every invalid size', () => {
    type T = Case & { ikm: string; salt: string; info: string; size: number; okm: string }
    const suite = readVectors<Suite<{ tests: readonly T[] }>>('wycheproof/hkdf_sha256_test.json')
    const failures: string[] = []
    for (const g of suite.testGroups) {
      for (const t of g.tests) {
        const ok = outcome(() => toHex(hkdfSha256(hex(t.ikm), hex(t.salt), hex(t.info), t.size)) === t.okm)
        if (ok !== (t.result === 'valid')) failures.push(`${t.tcId} (${t.result}, ${t.comment})`)
      }
    }
    expect(failures).toEqual([])
  })
})
