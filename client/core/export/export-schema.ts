import { Type, type Static } from '@sinclair/typebox'

// The readable JSON export, version 1, as a JSON Schema (TypeBox). docs/EXPORT.md describes it
// and docs/export.schema.json is this schema as a file (a test keeps the two equal). A new
// optional field keeps the version; removing or changing a field raises it.

export const exportFormat = 'tincan-export'
export const exportVersion = 1

const description = (text: string) => ({ description: text })

/** UTC, millisecond precision, as `Date.prototype.toISOString` writes it. */
export const IsoTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$',
  ...description('UTC time, e.g. 2025-03-01T09:30:00.000Z'),
})

export const ExportedFile = Type.Object(
  {
    fileId: Type.String(description('the file id; also the id of the message that carries it')),
    kind: Type.Union([Type.Literal('file'), Type.Literal('image')]),
    name: Type.String(description('the name the sender gave')),
    mime: Type.String(description('media type as the sender gave it; may be empty')),
    size: Type.Integer({ minimum: 0, ...description('bytes') }),
    hash: Type.Union([Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }), Type.Null()], {
      ...description('BLAKE2b-256 of the content, base64url without padding; null if unknown'),
    }),
    path: Type.Union([Type.String({ pattern: '^attachments/' }), Type.Null()], {
      ...description(
        'where the bytes are inside the attachments ZIP; null when this device does not have them (declined, unfinished, deleted)',
      ),
    }),
  },
  { additionalProperties: false },
)

export const ExportedQuote = Type.Object(
  {
    id: Type.String(),
    author: Type.String(description("who wrote the quoted message; '' when it is missing")),
    excerpt: Type.String(
      description('the start of the quoted text; empty when the quoted message was deleted'),
    ),
    deleted: Type.Optional(Type.Literal(true)),
    missing: Type.Optional(
      Type.Literal(true, {
        ...description('this device did not have the quoted message when the reply came'),
      }),
    ),
  },
  { additionalProperties: false },
)

export const ExportedReaction = Type.Object(
  { author: Type.String(), emoji: Type.String({ minLength: 1 }), at: IsoTime },
  { additionalProperties: false },
)

export const MessageState = Type.Union(
  [
    Type.Literal('queued'),
    Type.Literal('sent'),
    Type.Literal('delivered'),
    Type.Literal('read'),
    Type.Literal('received'),
    Type.Literal('failed'),
  ],
  description(
    'queued/sent/delivered/read for messages of the account, received for the others, failed if sending gave up',
  ),
)

export const ExportedMessage = Type.Object(
  {
    id: Type.String(),
    author: Type.String(description('username of the sender')),
    sentAt: IsoTime,
    receivedAt: IsoTime,
    type: Type.String(description('text, file, image or timer (a disappearing-message timer change)')),
    state: MessageState,
    text: Type.String(
      description('the text; for a file the file name; empty for a deleted message or a timer line'),
    ),
    file: Type.Optional(ExportedFile),
    replyTo: Type.Optional(ExportedQuote),
    reactions: Type.Optional(Type.Array(ExportedReaction)),
    editedAt: Type.Optional(IsoTime),
    deleted: Type.Optional(Type.Literal(true)),
    deletedAt: Type.Optional(IsoTime),
    timerSeconds: Type.Optional(
      Type.Integer({ minimum: 0, ...description('type timer: the timer set, in seconds (0 = off)') }),
    ),
    expiresAt: Type.Optional(IsoTime),
  },
  { additionalProperties: false },
)

export const ExportedConversation = Type.Object(
  {
    id: Type.String(),
    kind: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
    peer: Type.String(description("the friend's username, or the group id")),
    title: Type.String(description("the friend's username, or the group's name if known")),
    timerSeconds: Type.Integer({ minimum: 0, ...description('disappearing-message timer; 0 = off') }),
    messageCount: Type.Integer({ minimum: 0 }),
    messages: Type.Array(ExportedMessage, description('oldest first')),
  },
  { additionalProperties: false },
)

export const TincanExport = Type.Object(
  {
    format: Type.Literal(exportFormat),
    version: Type.Literal(exportVersion),
    exportedAt: IsoTime,
    account: Type.Object({ username: Type.String() }, { additionalProperties: false }),
    conversations: Type.Array(ExportedConversation, description('most recent first')),
  },
  {
    $id: 'urn:tincan:schema:export:1',
    title: 'Tincan readable export, version 1',
    additionalProperties: false,
  },
)

export type IsoTime = Static<typeof IsoTime>
export type ExportedFile = Static<typeof ExportedFile>
export type ExportedQuote = Static<typeof ExportedQuote>
export type ExportedReaction = Static<typeof ExportedReaction>
export type ExportedMessage = Static<typeof ExportedMessage>
export type ExportedConversation = Static<typeof ExportedConversation>
export type TincanExport = Static<typeof TincanExport>
