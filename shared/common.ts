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

/** Argon2id parameters, within what the client accepts (whole KiB of memory, as libsodium takes it). */
export const Kdf = Type.Object(
  {
    alg: Type.Literal('argon2id13'),
    opsLimit: Type.Integer({ minimum: limits.kdfMinOpsLimit, maximum: limits.kdfMaxOpsLimit }),
    memLimitBytes: Type.Integer({
      minimum: limits.kdfMinMemLimitBytes,
      maximum: limits.kdfMaxMemLimitBytes,
      multipleOf: 1024,
    }),
  },
  { additionalProperties: false },
)
export type Kdf = Static<typeof Kdf>

/**
 * Well-formed text: any character except NUL, with surrogates only in pairs. Written so that it
 * means the same with and without the regular expression `u` flag (ajv on the server uses it,
 * TypeBox in the client does not). PostgreSQL cannot store NUL, and a lone surrogate cannot be
 * encoded as UTF-8 at all (drivers would silently turn it into U+FFFD).
 */
export const wellFormedTextPattern = '^(?:[^\\u0000\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$'

/** Free text a person typed (a note, a group name): well-formed, length in UTF-16 code units. */
export const Text = (options: { readonly minLength?: number; readonly maxLength: number }) =>
  Type.String({ ...options, pattern: wellFormedTextPattern })

/** Random id made by the server (sessions, groups): base64url of 16 bytes. */
export const Id = Type.String({ minLength: 22, maxLength: 22, pattern: '^[A-Za-z0-9_-]+$' })

export const Timestamp = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' })

/** Canonical form of a username: how uniqueness and lookups work. */
export function canonicalUsername(name: string): string {
  return name.toLowerCase()
}
