import { Type, type Static } from '@sinclair/typebox'

/**
 * Frames that travel between two browsers inside the Double Ratchet (the server never sees
 * them). Every frame has a sender-chosen id, the sender's timestamp and a type.
 */
const strict = { additionalProperties: false } as const

export const peerLimits = {
  idLength: 22,
  maxTextLength: 16_384,
  maxReceiptIds: 512,
} as const

export const MessageId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
const Ts = Type.Integer({ minimum: 0 })

export const TextMessage = Type.Object(
  { type: Type.Literal('text'), id: MessageId, ts: Ts, text: Type.String({ minLength: 1, maxLength: peerLimits.maxTextLength }) },
  strict,
)
export type TextMessage = Static<typeof TextMessage>

/** Delivered: the message is stored on the friend's device. Read: the friend saw it. */
export const ReceiptMessage = Type.Object(
  {
    type: Type.Literal('receipt'),
    id: MessageId,
    ts: Ts,
    status: Type.Union([Type.Literal('delivered'), Type.Literal('read')]),
    of: Type.Array(MessageId, { minItems: 1, maxItems: peerLimits.maxReceiptIds }),
  },
  strict,
)
export type ReceiptMessage = Static<typeof ReceiptMessage>

export const TypingMessage = Type.Object(
  { type: Type.Literal('typing'), id: MessageId, ts: Ts, typing: Type.Boolean() },
  strict,
)
export type TypingMessage = Static<typeof TypingMessage>

export const PeerMessage = Type.Union([TextMessage, ReceiptMessage, TypingMessage])
export type PeerMessage = Static<typeof PeerMessage>
