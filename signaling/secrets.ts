import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
export const fromB64url = (s: string): Buffer => Buffer.from(s, 'base64url')

/** Random id for sessions and groups: 16 bytes, 22 characters. */
export const newId = (): string => b64url(randomBytes(16))

/** Bearer token: 256 random bits. Only its SHA-256 is stored. */
export const newToken = (): string => b64url(randomBytes(32))
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url')

/**
 * The auth key is 32 bytes of Argon2id output, so a salted SHA-256 is enough to make a
 * stolen database useless for logging in; a slow hash would add nothing but load.
 */
export function hashAuthKey(authKey: string, salt: string): string {
  return createHash('sha256').update(fromB64url(salt)).update(fromB64url(authKey)).digest('base64url')
}

export function authKeyMatches(authKey: string, salt: string, expectedHash: string): boolean {
  const actual = fromB64url(hashAuthKey(authKey, salt))
  const expected = fromB64url(expectedHash)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** Stable fake salt for a username that does not exist, so prelogin does not reveal who does. */
export function fakeSalt(serverSecret: string, username: string): string {
  return b64url(
    createHmac('sha256', fromB64url(serverSecret))
      .update(`prelogin-salt:${username}`)
      .digest()
      .subarray(0, 16),
  )
}

export const newSecret = (): string => b64url(randomBytes(32))
