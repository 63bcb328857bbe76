import { describe, expect, it } from 'vitest'
import { CryptoError, generateIdentity, initCrypto } from '../../../crypto/index.ts'
import { expectCode } from './helpers.ts'

describe('initialisation and errors', () => {
  it('refuses to work before initCrypto() and works after it, however often it is called', async () => {
    expectCode(() => generateIdentity(), 'not-ready')
    await Promise.all([initCrypto(), initCrypto()])
    await initCrypto()
    expect(generateIdentity().identityKey.publicKey).toHaveLength(32)
  })

  it('tells CryptoErrors and their codes apart from other errors', () => {
    const cause = new Error('inner')
    const e = new CryptoError('replay', 'seen before', { cause })
    expect(e.name).toBe('CryptoError')
    expect(e).toBeInstanceOf(Error)
    expect(e.cause).toBe(cause)
    expect(CryptoError.is(e)).toBe(true)
    expect(CryptoError.is(e, 'replay')).toBe(true)
    expect(CryptoError.is(e, 'stale')).toBe(false)
    expect(CryptoError.is(new Error('x'))).toBe(false)
    expect(CryptoError.is({ name: 'CryptoError', code: 'replay' })).toBe(false)
  })
})
