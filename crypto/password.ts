import { limits } from '../shared/limits.ts'
import { CryptoError } from './errors.ts'
import { randomBytes, utf8Encode } from './bytes.ts'
import { hkdfExpand, hkdfExtract } from './hkdf.ts'
import { sodium } from './sodium.ts'

/** Argon2id parameters as the server hands them out in `prelogin` (and as a backup file stores them). */
export interface KdfParams {
  readonly algorithm: 'argon2id13'
  /** Passes over memory (Argon2 t). */
  readonly opsLimit: number
  /** Memory in bytes (Argon2 m, times 1024). */
  readonly memLimitBytes: number
}

export interface PasswordKeys {
  /** Never leaves the device: it wraps the vault key and seals the identity bundle. */
  readonly masterKey: Uint8Array
  /** Sent to the server at registration and login; the server stores only a salted hash of it. */
  readonly authKey: Uint8Array
}

const mebibyte = 1024 * 1024

/** What a new account and a new backup use. */
export const defaultKdfParams: KdfParams = {
  algorithm: 'argon2id13',
  opsLimit: 3,
  memLimitBytes: 64 * mebibyte,
}

/**
 * The client refuses anything weaker, whatever the server says: a server that could lower the
 * cost would make the auth key it stores cheap to brute-force back to the password. The server
 * refuses to register weaker ones too (shared/limits.ts holds both numbers).
 */
export const minimumKdfParams: KdfParams = {
  algorithm: 'argon2id13',
  opsLimit: limits.kdfMinOpsLimit,
  memLimitBytes: limits.kdfMinMemLimitBytes,
}

/** Above this a hostile server or backup file could freeze or crash the tab. */
export const maximumKdfParams: KdfParams = {
  algorithm: 'argon2id13',
  opsLimit: limits.kdfMaxOpsLimit,
  memLimitBytes: limits.kdfMaxMemLimitBytes,
}

export const passwordSaltBytes = 16

const splitInfoMaster = 'tincan/v1/password/master-key'
const splitInfoAuth = 'tincan/v1/password/auth-key'

/**
 * Validates parameters that came from outside (server JSON, backup header).
 * `minimums` exists so tests can run Argon2id cheaply; production code passes nothing.
 * @throws CryptoError 'weak-kdf-params' below the minimums, 'bad-format' for malformed or
 * oversized values.
 */
export function checkKdfParams(params: unknown, minimums: KdfParams = minimumKdfParams): KdfParams {
  if (typeof params !== 'object' || params === null) throw new CryptoError('bad-format', 'KDF params missing')
  const { algorithm, opsLimit, memLimitBytes } = params as Record<string, unknown>
  if (algorithm !== 'argon2id13') throw new CryptoError('bad-format', 'KDF algorithm must be argon2id13')
  if (!Number.isSafeInteger(opsLimit) || !Number.isSafeInteger(memLimitBytes)) {
    throw new CryptoError('bad-format', 'KDF limits must be integers')
  }
  const ops = opsLimit as number
  const mem = memLimitBytes as number
  if (ops < minimums.opsLimit || mem < minimums.memLimitBytes) {
    throw new CryptoError(
      'weak-kdf-params',
      `Argon2id needs at least ${minimums.opsLimit} passes and ${minimums.memLimitBytes} bytes`,
    )
  }
  const s = sodium()
  if (ops < s.crypto_pwhash_OPSLIMIT_MIN || mem < s.crypto_pwhash_MEMLIMIT_MIN) {
    throw new CryptoError('weak-kdf-params', 'KDF params are below what libsodium accepts')
  }
  if (ops > maximumKdfParams.opsLimit || mem > maximumKdfParams.memLimitBytes || mem % 1024 !== 0) {
    throw new CryptoError('bad-format', 'KDF params are above the accepted maximum or not whole KiB')
  }
  return { algorithm: 'argon2id13', opsLimit: ops, memLimitBytes: mem }
}

export function newPasswordSalt(): Uint8Array {
  return randomBytes(passwordSaltBytes)
}

/**
 * Argon2id13 to 64 bytes. Blocks the calling thread for as long as the parameters say
 * (about half a second at the defaults); run it in a worker if the UI must stay live.
 * @throws CryptoError 'weak-kdf-params' / 'bad-format' from `checkKdfParams`, 'bad-format' for a bad salt.
 */
export function argon2id(
  password: string | Uint8Array,
  salt: Uint8Array,
  params: KdfParams,
  outputBytes: number,
  minimums: KdfParams = minimumKdfParams,
): Uint8Array {
  const checked = checkKdfParams(params, minimums)
  if (salt.length !== passwordSaltBytes) throw new CryptoError('bad-format', 'salt must be 16 bytes')
  const s = sodium()
  const pw = typeof password === 'string' ? utf8Encode(password.normalize('NFKC')) : password
  return s.crypto_pwhash(
    outputBytes,
    pw,
    salt,
    checked.opsLimit,
    checked.memLimitBytes,
    s.crypto_pwhash_ALG_ARGON2ID13,
  )
}

/**
 * Password → Argon2id (64 bytes) → HKDF-SHA256 with distinct labels → master key and auth key.
 * The password is NFKC-normalised so the same password typed on another keyboard still works.
 * @throws CryptoError 'weak-kdf-params' if the server-supplied params are below the minimums.
 */
export function derivePasswordKeys(
  password: string,
  salt: Uint8Array,
  params: KdfParams,
  options: { readonly minimums?: KdfParams } = {},
): PasswordKeys {
  const stretched = argon2id(password, salt, params, 64, options.minimums)
  const prk = hkdfExtract(null, stretched)
  stretched.fill(0)
  return {
    masterKey: hkdfExpand(prk, utf8Encode(splitInfoMaster), 32),
    authKey: hkdfExpand(prk, utf8Encode(splitInfoAuth), 32),
  }
}

/** Purposes of keys derived from the master key; each gets its own crypto_kdf subkey id. */
export type MasterKeyPurpose = 'vault-wrap' | 'identity-bundle'

const masterSubkeyIds: Record<MasterKeyPurpose, number> = { 'vault-wrap': 1, 'identity-bundle': 2 }
const masterKdfContext = 'tcnmastr'

/** A 32-byte subkey of the master key for one purpose (crypto_kdf, BLAKE2b). */
export function masterSubkey(masterKey: Uint8Array, purpose: MasterKeyPurpose): Uint8Array {
  if (masterKey.length !== 32) throw new CryptoError('bad-format', 'master key must be 32 bytes')
  return sodium().crypto_kdf_derive_from_key(32, masterSubkeyIds[purpose], masterKdfContext, masterKey)
}
