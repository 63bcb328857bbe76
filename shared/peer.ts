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
} as const

export const MessageId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
const Ts = Type.Integer({ minimum: 0 })

export const TextMessage = Type.Object(
  {
    type: Type.Literal('text'),
    id: MessageId,
    ts: Ts,
    text: Type.String({ minLength: 1, maxLength: peerLimits.maxTextLength }),
  },
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
  FileOfferMessage,
  FileAcceptMessage,
  FileAckMessage,
  FileDeclineMessage,
  FileCancelMessage,
  FileDoneMessage,
])
export type PeerMessage = Static<typeof PeerMessage>
