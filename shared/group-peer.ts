import { Type, type Static } from '@sinclair/typebox'
import { Id, Username } from './common.ts'
import {
  DeleteMessage,
  EditMessage,
  FileId,
  FileOfferMessage,
  MessageId,
  peerLimits,
  ReactionMessage,
  ReplyQuote,
} from './peer.ts'

/**
 * Group chat frames (see docs/PROTOCOL.md, "Groups"). Two layers:
 *
 * - `GroupFrame`: between two members, inside their pairwise Double Ratchet like any peer
 *   message (the server never sees them). They carry the signed member list, signed sender
 *   keys, and group messages exactly as their sender encrypted and signed them, so a member can
 *   pass on what it holds without being able to change it.
 * - `GroupContent`: what a group message decrypts to (encrypted once, with the sender's key).
 *
 * Every `GroupFrame` is serialized with `type` first, so the client can route it before parsing.
 */
const strict = { additionalProperties: false } as const

export const groupLimits = {
  /** Senders in one summary: every member of the largest group. */
  maxSummarySenders: 50,
  /** Epochs of one sender in a summary: the newest ones held (older ones are done with). */
  maxSummaryEpochs: 8,
  /** Ranges of held iterations per epoch in a summary or acknowledgement. */
  maxRanges: 64,
  /** Member-list versions in one frame. */
  maxListVersions: 64,
  /** Sender keys in one frame. */
  maxKeys: 64,
  /** Group messages in one frame (frames also stay under the connection's message size). */
  maxMessages: 512,
  /** A group message as base64url: a maximum-length text padded, with its header and signature. */
  maxMessageLength: 96 * 1024,
} as const

const U32 = Type.Integer({ minimum: 0, maximum: 0xffffffff })

/** Held iterations as half-open ranges [from, to). */
export const IterationRanges = Type.Array(Type.Tuple([U32, U32]), { maxItems: groupLimits.maxRanges })
export type IterationRanges = Static<typeof IterationRanges>

/** One epoch of one sender in a summary: whether its sender key is held, and which messages. */
export const EpochSummary = Type.Object({ e: U32, d: Type.Boolean(), r: IterationRanges }, strict)
export type EpochSummary = Static<typeof EpochSummary>

export const SenderSummary = Type.Object(
  { s: Username, e: Type.Array(EpochSummary, { maxItems: groupLimits.maxSummaryEpochs }) },
  strict,
)
export type SenderSummary = Static<typeof SenderSummary>

/**
 * What a member holds of one group, sent when a connection between two members opens: the head
 * of its member list (version −1 and an empty hash when it has none yet) and, per sender, the
 * newest epochs it holds. The other side answers with what is missing: newer list versions,
 * sender keys, messages.
 */
export const GroupSyncFrame = Type.Object(
  {
    type: Type.Literal('group-sync'),
    g: Id,
    v: Type.Integer({ minimum: -1 }),
    h: Type.String({ maxLength: 43, pattern: '^[A-Za-z0-9_-]*$' }),
    s: Type.Array(SenderSummary, { maxItems: groupLimits.maxSummarySenders }),
    /** Answer with your own summary too (the periodic comparison; connections opening send both anyway). */
    r: Type.Optional(Type.Literal(true)),
  },
  strict,
)
export type GroupSyncFrame = Static<typeof GroupSyncFrame>

/** Consecutive versions of the admin-signed member list, oldest first (checked by crypto/). */
export const GroupListFrame = Type.Object(
  {
    type: Type.Literal('group-list'),
    g: Id,
    l: Type.Array(Type.Unknown(), { minItems: 1, maxItems: groupLimits.maxListVersions }),
  },
  strict,
)
export type GroupListFrame = Static<typeof GroupListFrame>

/** Sender keys signed by their senders (`SignedSenderKey`, checked by crypto/). */
export const GroupKeysFrame = Type.Object(
  {
    type: Type.Literal('group-keys'),
    g: Id,
    k: Type.Array(Type.Unknown(), { minItems: 1, maxItems: groupLimits.maxKeys }),
  },
  strict,
)
export type GroupKeysFrame = Static<typeof GroupKeysFrame>

/** Group messages as their senders encrypted and signed them, base64url. */
export const GroupMessagesFrame = Type.Object(
  {
    type: Type.Literal('group-msgs'),
    g: Id,
    m: Type.Array(
      Type.String({ minLength: 1, maxLength: groupLimits.maxMessageLength, pattern: '^[A-Za-z0-9_-]+$' }),
      { minItems: 1, maxItems: groupLimits.maxMessages },
    ),
  },
  strict,
)
export type GroupMessagesFrame = Static<typeof GroupMessagesFrame>

/** Messages the sending member now holds (so they are not sent to it again; the sender counts delivery). */
export const GroupAckFrame = Type.Object(
  {
    type: Type.Literal('group-ack'),
    g: Id,
    a: Type.Array(Type.Object({ s: Username, e: U32, r: IterationRanges }, strict), {
      minItems: 1,
      maxItems: groupLimits.maxMessages,
    }),
  },
  strict,
)
export type GroupAckFrame = Static<typeof GroupAckFrame>

/** To the admin: the sender left the group and asks to be taken off the signed member list. */
export const GroupLeaveFrame = Type.Object({ type: Type.Literal('group-leave'), g: Id }, strict)
export type GroupLeaveFrame = Static<typeof GroupLeaveFrame>

/**
 * Files in groups. The group message that shares a file carries its key and hash (signed and
 * encrypted by its sender), so any member holding the whole file can serve it: a member asks one
 * member at a time for the chunks from `c` on, over their pairwise connection. The chunks travel as
 * the same binary frames as between friends.
 */
export const GroupFileGetFrame = Type.Object(
  { type: Type.Literal('group-file-get'), g: Id, f: FileId, c: U32 },
  strict,
)
export type GroupFileGetFrame = Static<typeof GroupFileGetFrame>

/** The asking member has stored chunks [0, c): opens the serving member's window. */
export const GroupFileAckFrame = Type.Object(
  { type: Type.Literal('group-file-ack'), g: Id, f: FileId, c: U32 },
  strict,
)
export type GroupFileAckFrame = Static<typeof GroupFileAckFrame>

/**
 * Either side stops: to the serving member, "I have it all, or no longer want it"; to the asking
 * member, "I do not have this file (any more)". A device never both serves and fetches one file.
 */
export const GroupFileStopFrame = Type.Object(
  { type: Type.Literal('group-file-stop'), g: Id, f: FileId },
  strict,
)
export type GroupFileStopFrame = Static<typeof GroupFileStopFrame>

export const GroupFileFrame = Type.Union([GroupFileGetFrame, GroupFileAckFrame, GroupFileStopFrame])

/** The sending member is typing in the group (or stopped): to the members it is connected to, not relayed. */
export const GroupTypingFrame = Type.Object(
  { type: Type.Literal('group-typing'), g: Id, t: Type.Boolean() },
  strict,
)
export type GroupTypingFrame = Static<typeof GroupTypingFrame>

/** To a message's author: the sending member has read these of the author's messages. */
export const GroupReadFrame = Type.Object(
  {
    type: Type.Literal('group-read'),
    g: Id,
    m: Type.Array(MessageId, { minItems: 1, maxItems: peerLimits.maxReceiptIds }),
  },
  strict,
)
export type GroupReadFrame = Static<typeof GroupReadFrame>
export type GroupFileFrame = Static<typeof GroupFileFrame>

export const GroupFrame = Type.Union([
  GroupSyncFrame,
  GroupListFrame,
  GroupKeysFrame,
  GroupMessagesFrame,
  GroupAckFrame,
  GroupLeaveFrame,
  GroupFileGetFrame,
  GroupFileAckFrame,
  GroupFileStopFrame,
  GroupTypingFrame,
  GroupReadFrame,
])
export type GroupFrame = Static<typeof GroupFrame>

/** A text in a group: what one group message decrypts to. */
export const GroupTextContent = Type.Object(
  {
    type: Type.Literal('text'),
    id: MessageId,
    ts: Type.Integer({ minimum: 0 }),
    text: Type.String({ minLength: 1, maxLength: peerLimits.maxTextLength }),
    replyTo: Type.Optional(ReplyQuote),
  },
  strict,
)
export type GroupTextContent = Static<typeof GroupTextContent>

/**
 * A file or image shared in the group: the same description as a one-to-one offer (its `id` is
 * the file id and the message id), with the per-file key, safe inside the sender-key encryption.
 */
export const GroupFileContent = FileOfferMessage
export type GroupFileContent = FileOfferMessage

/**
 * Everything a group message can carry: a text, a shared file, or a change to a message of the
 * group (a reaction by anyone; an edit or a delete for everyone by the message's author only,
 * which the signature on the group message proves).
 */
export const GroupContent = Type.Union([
  GroupTextContent,
  GroupFileContent,
  ReactionMessage,
  EditMessage,
  DeleteMessage,
])
export type GroupContent = Static<typeof GroupContent>
