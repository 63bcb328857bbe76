import {
  checkKdfParams,
  defaultKdfParams,
  fromBase64Url,
  generateIdentity,
  generateVaultKey,
  hkdfSha256,
  identityFromJson,
  identityToJson,
  newPasswordSalt,
  sealIdentity,
  toBase64Url,
  unsealIdentity,
  unwrapVaultKey,
  utf8Decode,
  utf8Encode,
  wrapVaultKey,
  type Identity,
  type KdfParams,
  type PasswordKeys,
} from '../../crypto/index.ts'
import type { Kdf, SessionGrant } from '../../shared/index.ts'
import type { Api } from './api.ts'
import { TincanError } from './errors.ts'
import { openDeviceDb, openHistoryDb } from './store/databases.ts'
import type { Db } from './store/db.ts'

/** Runs Argon2id: in a Worker in the browser (so the page stays live), directly in Node. */
export type KdfRunner = (password: string, salt: Uint8Array, params: KdfParams) => Promise<PasswordKeys>

/** A logged-in account on this device: everything the client needs, held only in memory. */
export interface AccountSession {
  readonly username: string
  readonly token: string
  readonly sessionId: string
  readonly identity: Identity
  readonly vaultKey: Uint8Array
  readonly db: Db
  /** This device's history could not be opened (identity and password both changed) and was cleared. */
  readonly historyReset: boolean
}

export const accountErrorCodes = ['weak-kdf-params', 'wrong-password', 'identity-mismatch'] as const
export type AccountErrorCode = (typeof accountErrorCodes)[number]

export class AccountError extends TincanError<AccountErrorCode> {
  override readonly name = 'AccountError'
}

const toWire = (p: KdfParams): Kdf => ({
  alg: 'argon2id13',
  opsLimit: p.opsLimit,
  memLimitBytes: p.memLimitBytes,
})

/**
 * The vault key (which seals this device's history) is random per device and kept wrapped
 * twice: under a key from the identity secret (so a reload can open it without the password,
 * and a password change elsewhere does not lock it) and under the password's master key (so
 * an identity reset with the same password does not lock it either). Each login re-wraps
 * both. Only when both changed is the old history unreadable; then it is cleared and the
 * user told (`historyReset`).
 */
function identityWrapKey(identity: Identity): Uint8Array {
  return hkdfSha256(
    identity.identityKey.secretKey.subarray(0, 32),
    new Uint8Array(0),
    utf8Encode('tincan/v1/device-vault-wrap'),
    32,
  )
}

function tryUnwrap(wrapped: unknown, key: Uint8Array): Uint8Array | undefined {
  if (!(wrapped instanceof Uint8Array)) return undefined
  try {
    return unwrapVaultKey(wrapped, key)
  } catch {
    return undefined
  }
}

/** Stores sealed under the vault key; cleared when the vault key cannot be recovered. */
const sealedStores = ['messages', 'conversations', 'outbox', 'sessions'] as const

async function openVault(
  db: Db,
  identity: Identity,
  masterKey?: Uint8Array,
): Promise<{ vaultKey: Uint8Array; historyReset: boolean }> {
  const byIdentity = identityWrapKey(identity)
  const [identityWrapped, passwordWrapped] = await Promise.all([
    db.get('meta', 'vault'),
    db.get('meta', 'vault-pw'),
  ])
  const existing =
    tryUnwrap(identityWrapped, byIdentity) ??
    (masterKey === undefined ? undefined : tryUnwrap(passwordWrapped, masterKey))
  const hadVault = identityWrapped !== undefined
  const vaultKey = existing ?? generateVaultKey()
  if (existing === undefined && hadVault) {
    const tx = db.transaction(sealedStores, 'readwrite')
    await Promise.all(sealedStores.map((name) => tx.objectStore(name).clear()))
    await tx.done
  }
  await db.put('meta', wrapVaultKey(vaultKey, byIdentity), 'vault')
  if (masterKey !== undefined) await db.put('meta', wrapVaultKey(vaultKey, masterKey), 'vault-pw')
  return { vaultKey, historyReset: existing === undefined && hadVault }
}

async function sessionFrom(
  grant: SessionGrant,
  identity: Identity,
  masterKey: Uint8Array,
): Promise<AccountSession> {
  const db = await openHistoryDb(grant.username)
  const { vaultKey, historyReset } = await openVault(db, identity, masterKey)
  return {
    username: grant.username,
    token: grant.token,
    sessionId: grant.sessionId,
    identity,
    vaultKey,
    db,
    historyReset,
  }
}

/** Creates the account: keys are made here; the server gets the public key and a sealed bundle. */
export async function register(
  api: Api,
  username: string,
  password: string,
  kdf: KdfRunner,
): Promise<AccountSession> {
  const salt = newPasswordSalt()
  const keys = await kdf(password, salt, defaultKdfParams)
  const identity = generateIdentity()
  const grant = await api.register({
    username,
    salt: toBase64Url(salt),
    kdf: toWire(defaultKdfParams),
    authKey: toBase64Url(keys.authKey),
    identityKey: toBase64Url(identity.identityKey.publicKey),
    keyBundle: sealIdentity(identity, keys.masterKey),
  })
  api.token = grant.token
  try {
    return await sessionFrom(grant, identity, keys.masterKey)
  } finally {
    keys.masterKey.fill(0)
  }
}

/**
 * Logs in with the password. The KDF parameters come from the server but are checked against
 * the client's minimums; the identity comes back from the sealed bundle and must match the
 * public key the server lists for the account.
 * @throws AccountError 'weak-kdf-params', ApiError 'invalid-credentials', AccountError 'wrong-password'.
 */
export async function login(
  api: Api,
  username: string,
  password: string,
  kdf: KdfRunner,
): Promise<AccountSession> {
  const pre = await api.prelogin(username)
  let params: KdfParams
  try {
    params = checkKdfParams({
      algorithm: pre.kdf.alg,
      opsLimit: pre.kdf.opsLimit,
      memLimitBytes: pre.kdf.memLimitBytes,
    })
  } catch (e: unknown) {
    throw new AccountError(
      'weak-kdf-params',
      'the server asked for weaker password hashing than this app allows',
      { cause: e },
    )
  }
  const keys = await kdf(password, fromBase64Url(pre.salt, 16), params)
  const grant = await api.login(username, toBase64Url(keys.authKey))
  try {
    let identity: Identity
    try {
      identity = unsealIdentity(grant.keyBundle, keys.masterKey, fromBase64Url(grant.identityKey, 32))
    } catch (e: unknown) {
      throw new AccountError(
        'identity-mismatch',
        'the key bundle from the server does not open with this password',
        { cause: e },
      )
    }
    api.token = grant.token
    return await sessionFrom(grant, identity, keys.masterKey)
  } finally {
    keys.masterKey.fill(0)
  }
}

// ---- staying logged in across reloads ----

interface RememberedDevice {
  readonly username: string
  readonly key: CryptoKey
  readonly iv: Uint8Array
  readonly sealed: ArrayBuffer
}

/**
 * Keeps the session usable after a reload without the password: its secrets are encrypted with
 * a non-extractable AES-GCM key that WebCrypto holds for this browser profile. Logging out
 * deletes both.
 */
export async function rememberSession(session: AccountSession): Promise<void> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const payload = utf8Encode(
    JSON.stringify({
      username: session.username,
      token: session.token,
      sessionId: session.sessionId,
      identity: identityToJson(session.identity),
    }),
  )
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new Uint8Array(payload))
  payload.fill(0)
  const db = await openDeviceDb()
  await db.put(
    'device',
    { username: session.username, key, iv, sealed } satisfies RememberedDevice,
    'current',
  )
  db.close()
}

/** The remembered session, if any; a damaged record is deleted and yields undefined. */
export async function restoreSession(api: Api): Promise<AccountSession | undefined> {
  const db = await openDeviceDb()
  const stored = (await db.get('device', 'current')) as RememberedDevice | undefined
  db.close()
  if (stored === undefined) return undefined
  try {
    const plain = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: new Uint8Array(stored.iv) },
        stored.key,
        stored.sealed,
      ),
    )
    const json = JSON.parse(utf8Decode(plain)) as {
      username: string
      token: string
      sessionId: string
      identity: unknown
    }
    plain.fill(0)
    const identity = identityFromJson(json.identity)
    api.token = json.token
    const history = await openHistoryDb(json.username)
    const { vaultKey, historyReset } = await openVault(history, identity)
    return {
      historyReset,
      username: json.username,
      token: json.token,
      sessionId: json.sessionId,
      identity,
      vaultKey,
      db: history,
    }
  } catch {
    await forgetSession()
    return undefined
  }
}

export async function forgetSession(): Promise<void> {
  const db = await openDeviceDb()
  await db.delete('device', 'current')
  db.close()
}
