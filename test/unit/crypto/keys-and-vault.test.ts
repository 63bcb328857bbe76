import { beforeAll, describe, expect, it } from 'vitest'
import {
  checkKdfParams,
  decryptRecord,
  defaultKdfParams,
  derivePasswordKeys,
  encryptRecord,
  generateIdentity,
  generateVaultKey,
  identityFromJson,
  identityToJson,
  initCrypto,
  type KdfParams,
  MemoryRecordStore,
  minimumKdfParams,
  newPasswordSalt,
  publicIdentity,
  publicIdentityFromJson,
  publicIdentityToJson,
  sealIdentity,
  unsealIdentity,
  unwrapVaultKey,
  Vault,
  wrapVaultKey,
} from '../../../crypto/index.ts'
import { expectCode, expectCodeAsync, flipBit, utf8 } from './helpers.ts'

// Argon2id stays cheap here; one test runs the real minimums.
const testKdf: KdfParams = { algorithm: 'argon2id13', opsLimit: 1, memLimitBytes: 8192 }
const cheap = { minimums: testKdf }

beforeAll(async () => {
  await initCrypto()
})

describe('password key split', () => {
  it('enforces at least 64 MiB and 3 passes by default and derives at the default parameters', () => {
    expect(defaultKdfParams.memLimitBytes).toBeGreaterThanOrEqual(64 * 1024 * 1024)
    expect(defaultKdfParams.opsLimit).toBeGreaterThanOrEqual(3)
    expect(minimumKdfParams.memLimitBytes).toBe(64 * 1024 * 1024)
    expect(minimumKdfParams.opsLimit).toBe(3)
    const salt = newPasswordSalt()
    expectCode(() => derivePasswordKeys('pw', salt, { ...defaultKdfParams, opsLimit: 2 }), 'weak-kdf-params')
    expectCode(
      () => derivePasswordKeys('pw', salt, { ...defaultKdfParams, memLimitBytes: 32 * 1024 * 1024 }),
      'weak-kdf-params',
    )
    const keys = derivePasswordKeys('correct horse', salt, defaultKdfParams)
    expect(keys.masterKey).toHaveLength(32)
    expect(keys.authKey).toHaveLength(32)
  })

  it('refuses server parameters that are malformed or absurdly large', () => {
    expectCode(() => checkKdfParams({ ...defaultKdfParams, algorithm: 'argon2i13' }), 'bad-format')
    expectCode(() => checkKdfParams({ ...defaultKdfParams, opsLimit: 3.5 }), 'bad-format')
    expectCode(() => checkKdfParams({ ...defaultKdfParams, memLimitBytes: 64 * 1024 ** 3 }), 'bad-format')
    expectCode(() => checkKdfParams(null), 'bad-format')
    expect(checkKdfParams(JSON.parse(JSON.stringify(defaultKdfParams)))).toEqual(defaultKdfParams)
  })

  it('gives distinct master and auth keys that depend on password and salt', () => {
    const salt = newPasswordSalt()
    const a = derivePasswordKeys('hunter2', salt, testKdf, cheap)
    expect(a.masterKey).not.toEqual(a.authKey)
    expect(derivePasswordKeys('hunter2', salt, testKdf, cheap)).toEqual(a)
    expect(derivePasswordKeys('hunter3', salt, testKdf, cheap).authKey).not.toEqual(a.authKey)
    expect(derivePasswordKeys('hunter2', newPasswordSalt(), testKdf, cheap).authKey).not.toEqual(a.authKey)
  })

  it('treats a password typed in composed and decomposed Unicode as the same', () => {
    const salt = newPasswordSalt()
    const composed = derivePasswordKeys('caf\u00e9', salt, testKdf, cheap)
    expect(derivePasswordKeys('cafe\u0301', salt, testKdf, cheap)).toEqual(composed)
  })
})

describe('vault', () => {
  const master = () => derivePasswordKeys('pw', newPasswordSalt(), testKdf, cheap).masterKey

  it('unwraps the vault key with the right master key and refuses another one', () => {
    const m = master()
    const vaultKey = generateVaultKey()
    const wrapped = wrapVaultKey(vaultKey, m)
    expect(unwrapVaultKey(wrapped, m)).toEqual(vaultKey)
    expectCode(() => unwrapVaultKey(wrapped, master()), 'decrypt-failed')
    expectCode(() => unwrapVaultKey(flipBit(wrapped, 30), m), 'decrypt-failed')
    expectCode(() => unwrapVaultKey(flipBit(wrapped, 0), m), 'bad-format')
  })

  it('round-trips a record and refuses it when moved to another store, id or schema version', () => {
    const key = generateVaultKey()
    const ref = { store: 'messages', id: 'm-1', schemaVersion: 2 }
    const sealed = encryptRecord(key, ref, utf8('hello'))
    expect(decryptRecord(key, ref, sealed)).toEqual(utf8('hello'))
    expectCode(() => decryptRecord(key, { ...ref, store: 'contacts' }, sealed), 'decrypt-failed')
    expectCode(() => decryptRecord(key, { ...ref, id: 'm-2' }, sealed), 'decrypt-failed')
    expectCode(() => decryptRecord(key, { ...ref, schemaVersion: 1 }, sealed), 'decrypt-failed')
    expectCode(() => decryptRecord(generateVaultKey(), ref, sealed), 'decrypt-failed')
  })

  it('does not let two records be swapped in storage', async () => {
    const store = new MemoryRecordStore()
    const vault = new Vault(generateVaultKey(), store)
    const a = { store: 'messages', id: 'a', schemaVersion: 1 }
    const b = { store: 'messages', id: 'b', schemaVersion: 1 }
    await vault.putJson(a, { text: 'from a' })
    await vault.putJson(b, { text: 'from b' })
    expect(await vault.getJson(a)).toEqual({ text: 'from a' })
    const sealedA = await store.get('messages', 'a')
    const sealedB = await store.get('messages', 'b')
    await store.put('messages', 'a', sealedB!)
    await store.put('messages', 'b', sealedA!)
    await expectCodeAsync(() => vault.getJson(a), 'decrypt-failed')
    await expectCodeAsync(() => vault.get(b), 'decrypt-failed')
    expect(await vault.get({ ...a, id: 'missing' })).toBeUndefined()
  })
})

describe('identity', () => {
  it('signs a separate X25519 static key with the Ed25519 identity key', () => {
    const id = generateIdentity()
    expect(id.staticKey.publicKey).not.toEqual(id.identityKey.publicKey)
    const json = publicIdentityToJson(publicIdentity(id))
    expect(publicIdentityFromJson(JSON.parse(JSON.stringify(json)))).toEqual(publicIdentity(id))
    const other = generateIdentity()
    expectCode(
      () =>
        publicIdentityFromJson({ ...json, staticKey: publicIdentityToJson(publicIdentity(other)).staticKey }),
      'bad-signature',
    )
  })

  it('round-trips the secret identity through JSON and refuses mismatched halves', () => {
    const id = generateIdentity()
    const json = identityToJson(id)
    const back = identityFromJson(JSON.parse(JSON.stringify(json)))
    expect(back.identityKey.secretKey).toEqual(id.identityKey.secretKey)
    expect(back.staticKey).toEqual(id.staticKey)
    const other = identityToJson(generateIdentity())
    expectCode(
      () => identityFromJson({ ...json, identityPublicKey: other.identityPublicKey }),
      'untrusted-key',
    )
    expectCode(() => identityFromJson({ ...json, staticSignature: other.staticSignature }), 'bad-signature')
    expectCode(() => identityFromJson({ ...json, identitySeed: 'not base64!' }), 'bad-format')
  })

  it('unseals the key bundle on another device with the password and nothing else', () => {
    const salt = newPasswordSalt()
    const id = generateIdentity()
    const sealed = sealIdentity(id, derivePasswordKeys('pw', salt, testKdf, cheap).masterKey)
    // Another browser: same password and salt from prelogin, bundle from the server.
    const master = derivePasswordKeys('pw', salt, testKdf, cheap).masterKey
    const back = unsealIdentity(sealed, master, id.identityKey.publicKey)
    expect(back.identityKey.secretKey).toEqual(id.identityKey.secretKey)
    expect(back.staticKey.secretKey).toEqual(id.staticKey.secretKey)
    const wrong = derivePasswordKeys('pw2', salt, testKdf, cheap).masterKey
    expectCode(() => unsealIdentity(sealed, wrong), 'decrypt-failed')
  })

  it("refuses a bundle the server paired with another account's key or altered", () => {
    const master = generateVaultKey()
    const id = generateIdentity()
    const sealed = sealIdentity(id, master)
    expectCode(
      () => unsealIdentity(sealed, master, generateIdentity().identityKey.publicKey),
      'untrusted-key',
    )
    const other = sealIdentity(generateIdentity(), master)
    expectCode(() => unsealIdentity(other, master, id.identityKey.publicKey), 'untrusted-key')
    const bytes = Buffer.from(sealed, 'base64url')
    bytes[1] = (bytes[1] ?? 0) ^ 1 // the clear-text public key, which is bound as associated data
    expectCode(() => unsealIdentity(bytes.toString('base64url'), master), 'decrypt-failed')
  })
})
