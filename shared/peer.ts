import { Type, type Static } from '@sinclair/typebox'
import { Username } from './common.ts'

/**
 * Frames that travel between two browsers inside the Double Ratchet (the server never sees
 * them). Every frame has a sender-chosen id, the sender's timestamp and a type.
 */
const strict = { additionalProperties: false } as const

export const peerLimits = {
  idLength: 22,
  maxTextLength: 16_384,
  maxReceiptIds: 512,
  /** File names longer than this (UTF-16 units) are refused; the sender shortens them. */
  maxFileNameLength: 255,
  maxMimeLength: 127,
  /** 1 TiB: with chunks of at least 1 KiB the chunk index stays far below 2^32. */
  maxFileBytes: 2 ** 40,
  minChunkBytes: 1024,
  /** The largest data channel message browsers accept from each other is 256 KiB. */
  maxChunkBytes: 256 * 1024,
  /** A thumbnail travels inside the offer (base64url), so it stays small. */
  maxThumbnailBytes: 32 * 1024,
  maxImageSide: 65_535,
  /** A reply carries the start of the message it quotes, not all of it. */
  maxQuoteExcerptLength: 200,
  /** One emoji: room for the longest ZWJ sequences with skin tones (UTF-16 units). */
  maxEmojiLength: 32,
  /** The longest disappearing-message timer: 90 days, in seconds. */
  maxTimerSeconds: 90 * 24 * 60 * 60,
} as const

/** The timers the app offers, in seconds (0 = off); any whole number up to `maxTimerSeconds` is valid on the wire. */
export const disappearingTimerPresets = [0, 5 * 60, 60 * 60, 24 * 60 * 60, 7 * 24 * 60 * 60] as const

export const MessageId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
const Ts = Type.Integer({ minimum: 0 })

/** Seconds after `ts` at which a message is deleted on both devices (disappearing messages). */
const ExpiresAfter = Type.Integer({ minimum: 1, maximum: peerLimits.maxTimerSeconds })

/** The message a reply answers: its id, who wrote it, and the start of its text (or the file name). */
export const ReplyQuote = Type.Object(
  {
    id: MessageId,
    author: Username,
    excerpt: Type.String({ maxLength: peerLimits.maxQuoteExcerptLength }),
  },
  strict,
)
export type ReplyQuote = Static<typeof ReplyQuote>

export const TextMessage = Type.Object(
  {
    type: Type.Literal('text'),
    id: MessageId,
    ts: Ts,
    text: Type.String({ minLength: 1, maxLength: peerLimits.maxTextLength }),
    replyTo: Type.Optional(ReplyQuote),
    expiresAfter: Type.Optional(ExpiresAfter),
  },
  strict,
)
export type TextMessage = Static<typeof TextMessage>

/**
 * The sender's reaction to a message of the conversation (theirs or the receiver's): one per
 * person and message; a later one replaces it, and an empty `emoji` removes it. Applied only if
 * its `ts` is later than the reaction it replaces.
 */
export const ReactionMessage = Type.Object(
  {
    type: Type.Literal('reaction'),
    id: MessageId,
    ts: Ts,
    of: MessageId,
    // No whitespace or control characters; the UI offers emoji, the receiver only bounds them.
    emoji: Type.String({ maxLength: peerLimits.maxEmojiLength, pattern: '^[^\\s\\u0000-\\u001f\\u007f]*$' }),
  },
  strict,
)
export type ReactionMessage = Static<typeof ReactionMessage>

/** The sender's new text for one of their own text messages. */
export const EditMessage = Type.Object(
  {
    type: Type.Literal('edit'),
    id: MessageId,
    ts: Ts,
    of: MessageId,
    text: Type.String({ minLength: 1, maxLength: peerLimits.maxTextLength }),
  },
  strict,
)
export type EditMessage = Static<typeof EditMessage>

/** Delete for everyone: one of the sender's own messages becomes a "deleted" marker on both devices. */
export const DeleteMessage = Type.Object(
  { type: Type.Literal('delete'), id: MessageId, ts: Ts, of: MessageId },
  strict,
)
export type DeleteMessage = Static<typeof DeleteMessage>

/** The conversation's disappearing-message timer, in seconds (0 = off); also a line in the history. */
export const TimerMessage = Type.Object(
  {
    type: Type.Literal('timer'),
    id: MessageId,
    ts: Ts,
    seconds: Type.Integer({ minimum: 0, maximum: peerLimits.maxTimerSeconds }),
  },
  strict,
)
export type TimerMessage = Static<typeof TimerMessage>

/** Changes to messages already sent: they travel through the outbox but are not history messages themselves. */
export const MessageActionMessage = Type.Union([ReactionMessage, EditMessage, DeleteMessage])
export type MessageActionMessage = Static<typeof MessageActionMessage>

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

const base64UrlLength = (bytes: number): number => Math.ceil((bytes * 4) / 3)
const b64 = (minLength: number, maxLength: number) =>
  Type.String({ minLength, maxLength, pattern: '^[A-Za-z0-9_-]+$' })

/** 16 random bytes chosen by the sender, base64url: names the file everywhere, and its chunk frames. */
export const FileId = b64(peerLimits.idLength, peerLimits.idLength)
const Key32 = b64(43, 43)
const ChunkIndex = Type.Integer({ minimum: 0, maximum: 0xffff_ffff })
const ImageSide = Type.Integer({ minimum: 1, maximum: peerLimits.maxImageSide })

/**
 * A file or image offered to the friend; also a history message. Its `id` is the file id. The
 * per-file key travels here, inside the ratchet; the chunks themselves go as binary frames.
 */
export const FileOfferMessage = Type.Object(
  {
    type: Type.Literal('file-offer'),
    id: FileId,
    ts: Ts,
    kind: Type.Union([Type.Literal('file'), Type.Literal('image')]),
    name: Type.String({ minLength: 1, maxLength: peerLimits.maxFileNameLength }),
    size: Type.Integer({ minimum: 0, maximum: peerLimits.maxFileBytes }),
    /** A media type such as `image/png`, or empty when unknown. */
    mime: Type.String({ maxLength: peerLimits.maxMimeLength, pattern: '^[A-Za-z0-9!#$&^_.+/-]*$' }),
    /** BLAKE2b-256 of the plaintext. */
    hash: Key32,
    /** The per-file key (XChaCha20-Poly1305 secretstream, see crypto/README.md). */
    key: Key32,
    chunkSize: Type.Integer({ minimum: peerLimits.minChunkBytes, maximum: peerLimits.maxChunkBytes }),
    thumbnail: Type.Optional(b64(1, base64UrlLength(peerLimits.maxThumbnailBytes))),
    thumbnailMime: Type.Optional(
      Type.Union([Type.Literal('image/jpeg'), Type.Literal('image/png'), Type.Literal('image/webp')]),
    ),
    width: Type.Optional(ImageSide),
    height: Type.Optional(ImageSide),
    expiresAfter: Type.Optional(ExpiresAfter),
  },
  strict,
)
export type FileOfferMessage = Static<typeof FileOfferMessage>

/** The receiver wants the chunks from `fromChunk` on (0 at first, the first chunk not yet stored on resume). */
export const FileAcceptMessage = Type.Object(
  { type: Type.Literal('file-accept'), id: MessageId, ts: Ts, fileId: FileId, fromChunk: ChunkIndex },
  strict,
)
export type FileAcceptMessage = Static<typeof FileAcceptMessage>

/** The receiver has stored (verified and written) chunks [0, chunks): opens the sender's window. */
export const FileAckMessage = Type.Object(
  { type: Type.Literal('file-ack'), id: MessageId, ts: Ts, fileId: FileId, chunks: ChunkIndex },
  strict,
)
export type FileAckMessage = Static<typeof FileAckMessage>

export const FileDeclineMessage = Type.Object(
  { type: Type.Literal('file-decline'), id: MessageId, ts: Ts, fileId: FileId },
  strict,
)
export type FileDeclineMessage = Static<typeof FileDeclineMessage>

/**
 * Either side ends the transfer: the user cancelled, the data failed verification, the sender
 * no longer has the file, or the sender's or receiver's storage is full.
 */
export const FileCancelMessage = Type.Object(
  {
    type: Type.Literal('file-cancel'),
    id: MessageId,
    ts: Ts,
    fileId: FileId,
    reason: Type.Union([
      Type.Literal('cancelled'),
      Type.Literal('failed'),
      Type.Literal('unavailable'),
      Type.Literal('storage-full'),
    ]),
  },
  strict,
)
export type FileCancelMessage = Static<typeof FileCancelMessage>

/** The receiver has the whole file and its hash matched the offer. */
export const FileDoneMessage = Type.Object(
  { type: Type.Literal('file-done'), id: MessageId, ts: Ts, fileId: FileId },
  strict,
)
export type FileDoneMessage = Static<typeof FileDoneMessage>

export const FileControlMessage = Type.Union([
  FileAcceptMessage,
  FileAckMessage,
  FileDeclineMessage,
  FileCancelMessage,
  FileDoneMessage,
])
export type FileControlMessage = Static<typeof FileControlMessage>

export const PeerMessage = Type.Union([
  TextMessage,
  ReceiptMessage,
  TypingMessage,
  ReactionMessage,
  EditMessage,
  DeleteMessage,
  TimerMessage,
  FileOfferMessage,
  FileAcceptMessage,
  FileAckMessage,
  FileDeclineMessage,
  FileCancelMessage,
  FileDoneMessage,
])
export type PeerMessage = Static<typeof PeerMessage>
