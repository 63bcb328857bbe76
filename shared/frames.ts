import { Type, type Static } from '@sinclair/typebox'
import { Group, PendingRequest, PublicUser } from './api.ts'
import { Base64Url32, Id, Username } from './common.ts'
import { ErrorCodeSchema } from './errors.ts'
import { limits } from './limits.ts'

const strict = { additionalProperties: false } as const

/** Optional client-chosen reference; the server echoes it in the answer to that frame. */
const Ref = Type.Optional(Type.String({ minLength: 1, maxLength: limits.refMaxLength }))

/** WebRTC session id chosen by the caller: groups the offer, answer and candidates of one connection. */
export const SessionId = Type.String({
  minLength: 8,
  maxLength: limits.sessionIdMaxLength,
  pattern: '^[A-Za-z0-9_-]+$',
})

/** A signed signaling envelope (see crypto/): opaque to the server beyond its size. */
export const Envelope = Type.String({ minLength: 1, maxLength: limits.envelopeMaxLength })

// ---- client → server ----

export const AuthFrame = Type.Object(
  { type: Type.Literal('auth'), token: Type.String({ minLength: 43, maxLength: 43 }), ref: Ref },
  strict,
)
export type AuthFrame = Static<typeof AuthFrame>

export const PingFrame = Type.Object({ type: Type.Literal('ping'), ref: Ref }, strict)
export type PingFrame = Static<typeof PingFrame>

export const SignalFrame = Type.Object(
  { type: Type.Literal('signal'), to: Username, sid: SessionId, envelope: Envelope, ref: Ref },
  strict,
)
export type SignalFrame = Static<typeof SignalFrame>

export const ClientFrame = Type.Union([AuthFrame, PingFrame, SignalFrame])
export type ClientFrame = Static<typeof ClientFrame>

// ---- server → client ----

export const ReadyFrame = Type.Object(
  {
    type: Type.Literal('ready'),
    username: Username,
    sessionId: Id,
    online: Type.Array(Username),
    ref: Ref,
  },
  strict,
)
export type ReadyFrame = Static<typeof ReadyFrame>

export const PongFrame = Type.Object({ type: Type.Literal('pong'), ref: Ref }, strict)
export type PongFrame = Static<typeof PongFrame>

/** The relay accepted a signal frame for delivery to every connected session of the recipient. */
export const SentFrame = Type.Object({ type: Type.Literal('sent'), ref: Ref }, strict)
export type SentFrame = Static<typeof SentFrame>

export const RelayedSignalFrame = Type.Object(
  { type: Type.Literal('signal'), from: Username, sid: SessionId, envelope: Envelope },
  strict,
)
export type RelayedSignalFrame = Static<typeof RelayedSignalFrame>

export const PresenceFrame = Type.Object(
  { type: Type.Literal('presence'), username: Username, online: Type.Boolean() },
  strict,
)
export type PresenceFrame = Static<typeof PresenceFrame>

export const FriendRequestFrame = Type.Object(
  { type: Type.Literal('friend-request'), request: PendingRequest },
  strict,
)
export type FriendRequestFrame = Static<typeof FriendRequestFrame>

/** A request between the recipient and `username` went away: declined, cancelled or answered elsewhere. */
export const FriendRequestClosedFrame = Type.Object(
  {
    type: Type.Literal('friend-request-closed'),
    username: Username,
    reason: Type.Union([Type.Literal('declined'), Type.Literal('cancelled')]),
  },
  strict,
)
export type FriendRequestClosedFrame = Static<typeof FriendRequestClosedFrame>

export const FriendAddedFrame = Type.Object(
  { type: Type.Literal('friend-added'), friend: PublicUser, online: Type.Boolean() },
  strict,
)
export type FriendAddedFrame = Static<typeof FriendAddedFrame>

export const FriendRemovedFrame = Type.Object(
  { type: Type.Literal('friend-removed'), username: Username },
  strict,
)
export type FriendRemovedFrame = Static<typeof FriendRemovedFrame>

/** A friend's identity key changed. Clients warn and block sending until the user accepts it. */
export const KeyChangedFrame = Type.Object(
  { type: Type.Literal('key-changed'), username: Username, identityKey: Base64Url32 },
  strict,
)
export type KeyChangedFrame = Static<typeof KeyChangedFrame>

export const GroupUpdatedFrame = Type.Object({ type: Type.Literal('group-updated'), group: Group }, strict)
export type GroupUpdatedFrame = Static<typeof GroupUpdatedFrame>

/** The recipient is no longer in the group (removed, left elsewhere, or the group was deleted). */
export const GroupRemovedFrame = Type.Object(
  { type: Type.Literal('group-removed'), groupId: Id, by: Type.Optional(Username) },
  strict,
)
export type GroupRemovedFrame = Static<typeof GroupRemovedFrame>

/** The node is shutting down: reconnect (to another node) after a short random delay. */
export const ReconnectFrame = Type.Object(
  { type: Type.Literal('reconnect'), retryAfterMs: Type.Integer({ minimum: 0 }) },
  strict,
)
export type ReconnectFrame = Static<typeof ReconnectFrame>

export const ErrorFrame = Type.Object(
  {
    type: Type.Literal('error'),
    code: ErrorCodeSchema,
    message: Type.String({ maxLength: limits.errorMessageMaxLength }),
    ref: Ref,
  },
  strict,
)
export type ErrorFrame = Static<typeof ErrorFrame>

export const ServerFrame = Type.Union([
  ReadyFrame,
  PongFrame,
  SentFrame,
  RelayedSignalFrame,
  PresenceFrame,
  FriendRequestFrame,
  FriendRequestClosedFrame,
  FriendAddedFrame,
  FriendRemovedFrame,
  KeyChangedFrame,
  GroupUpdatedFrame,
  GroupRemovedFrame,
  ReconnectFrame,
  ErrorFrame,
])
export type ServerFrame = Static<typeof ServerFrame>
