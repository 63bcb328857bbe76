import { openDB } from 'idb'
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
import { openHistoryDb, type Db } from './store/db.ts'

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
}

export type AccountErrorCode = 'weak-kdf-params' | 'wrong-password' | 'identity-mismatch'

export class AccountError extends Error {
  override readonly name = 'AccountError'
  constructor(
    readonly code: AccountErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

const toWire = (p: KdfParams): Kdf => ({
  alg: 'argon2id13',
  opsLimit: p.opsLimit,
  memLimitBytes: p.memLimitBytes,
})

/**
 * The vault key (which seals this device's history) is wrapped under a key derived from the
 * identity secret, not the password: a password change on another device must not lock the
 * history here.
 */
function vaultWrapKey(identity: Identity): Uint8Array {
  return hkdfSha256(
    identity.identityKey.secretKey.subarray(0, 32),
    new Uint8Array(0),
    utf8Encode('tincan/v1/device-vault-wrap'),
    32,
  )
}

async function openVault(db: Db, identity: Identity): Promise<Uint8Array> {
  const wrapKey = vaultWrapKey(identity)
  const stored = await db.get('meta', 'vault')
  if (stored instanceof Uint8Array) return unwrapVaultKey(stored, wrapKey)
  const vaultKey = generateVaultKey()
  await db.put('meta', wrapVaultKey(vaultKey, wrapKey), 'vault')
  return vaultKey
}

async function sessionFrom(grant: SessionGrant, identity: Identity): Promise<AccountSession> {
  const db = await openHistoryDb(grant.username)
  const vaultKey = await openVault(db, identity)
  return { username: grant.username, token: grant.token, sessionId: grant.sessionId, identity, vaultKey, db }
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
  keys.masterKey.fill(0)
  api.token = grant.token
  return sessionFrom(grant, identity)
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
  let identity: Identity
  try {
    identity = unsealIdentity(grant.keyBundle, keys.masterKey, fromBase64Url(grant.identityKey, 32))
  } catch (e: unknown) {
    throw new AccountError(
      'identity-mismatch',
      'the key bundle from the server does not open with this password',
      { cause: e },
    )
  } finally {
    keys.masterKey.fill(0)
  }
  api.token = grant.token
  return sessionFrom(grant, identity)
}

// ---- staying logged in across reloads ----

interface RememberedDevice {
  readonly username: string
  readonly key: CryptoKey
  readonly iv: Uint8Array
  readonly sealed: ArrayBuffer
}

const deviceDbName = 'tincan:device'

function openDeviceDb() {
  return openDB(deviceDbName, 1, {
    upgrade(db) {
      db.createObjectStore('device')
    },
  })
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
    const vaultKey = await openVault(history, identity)
    return {
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
