import { Type, type Static } from '@sinclair/typebox'

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
] as const

export type ErrorCode = (typeof errorCodes)[number]

export const ErrorCodeSchema = Type.Union(errorCodes.map((c) => Type.Literal(c)))

/** Body of every failed HTTP response. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      { code: ErrorCodeSchema, message: Type.String({ maxLength: 500 }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)
export type ErrorBody = Static<typeof ErrorBody>
