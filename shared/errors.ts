import { Type, type Static } from '@sinclair/typebox'
import { limits } from './limits.ts'

/** Every error code the server can answer with, over HTTP or WebSocket. */
export const errorCodes = [
  'bad-request',
  'bad-json',
  'too-deep',
  'payload-too-large',
  'unauthorized',
  'invalid-credentials',
  'forbidden',
  'not-found',
  'username-taken',
  'rate-limited',
  'not-friends',
  'blocked',
  'already-friends',
  'self',
  'not-member',
  'not-admin',
  'group-full',
  'too-many-groups',
  'conflict',
  'unknown-type',
  'bad-frame',
  'frame-too-large',
  'not-authenticated',
  'already-authenticated',
  'auth-timeout',
  'peer-offline',
  'storage-unavailable',
  'internal',
  // Back-pressure and connection caps (issue 15).
  'recipient-busy',
  'too-many-sockets',
] as const

export type ErrorCode = (typeof errorCodes)[number]

export const ErrorCodeSchema = Type.Union(errorCodes.map((c) => Type.Literal(c)))

/** Body of every failed HTTP response. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      { code: ErrorCodeSchema, message: Type.String({ maxLength: limits.errorMessageMaxLength }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)
export type ErrorBody = Static<typeof ErrorBody>

/**
 * An error message cut to the length the protocol allows. Messages can quote the input (a
 * field's path names its key), and a hostile key is as long as the frame.
 */
export function clipErrorMessage(message: string): string {
  return message.length <= limits.errorMessageMaxLength
    ? message
    : `${message.slice(0, limits.errorMessageMaxLength - 1)}…`
}
