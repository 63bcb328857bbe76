import { Type, type Static } from '@sinclair/typebox'
import { limits } from './limits.ts'

/** 3–32 of a-z 0-9 _ . - ; compared without regard to case (upper case is accepted and folded). */
export const Username = Type.String({
  minLength: limits.usernameMinLength,
  maxLength: limits.usernameMaxLength,
  pattern: '^[A-Za-z0-9_.-]+$',
})
export type Username = Static<typeof Username>

export const Base64Url32 = Type.String({
  minLength: limits.key32Base64Length,
  maxLength: limits.key32Base64Length,
  pattern: '^[A-Za-z0-9_-]+$',
})

export const Salt = Type.String({
  minLength: limits.saltBase64Length,
  maxLength: limits.saltBase64Length,
  pattern: '^[A-Za-z0-9_-]+$',
})

/** Opaque base64url blob with a length limit. */
export const Blob64 = (maxLength: number) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$' })

export const Kdf = Type.Object(
  {
    alg: Type.Literal('argon2id13'),
    opsLimit: Type.Integer({ minimum: 1, maximum: 64 }),
    memLimitBytes: Type.Integer({ minimum: 8192, maximum: 4 * 1024 * 1024 * 1024 }),
  },
  { additionalProperties: false },
)
export type Kdf = Static<typeof Kdf>

/** Random id made by the server (sessions, groups): base64url of 16 bytes. */
export const Id = Type.String({ minLength: 22, maxLength: 22, pattern: '^[A-Za-z0-9_-]+$' })

export const Timestamp = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' })

/** Canonical form of a username: how uniqueness and lookups work. */
export function canonicalUsername(name: string): string {
  return name.toLowerCase()
}
