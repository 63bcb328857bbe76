import { Type, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { FileMeta } from '../files/file-store.ts'
import { validPortableGroup } from '../groups/group-backup.ts'

// Which stores a backup carries, and how. Records are copied field by field, so fields added to
// a store later travel without changes here; what is sealed under the vault key (which differs
// between devices) is opened on the way out and sealed again under the restoring device's key.
//
//   contacts, conversations, messages, files, fileChunks   carried (see the portable shapes below)
//   meta       left out: this device's wrapped vault keys and signaling sequence numbers
//   sessions   left out: Double Ratchet state; a copy on a second device would fork the ratchet,
//              and a fresh handshake on the next connection makes a new one anyway
//   outbox     left out: resend state of this device. A message still queued is restored as
//              failed (it was never sent from here); file decisions and message actions waiting
//              in it belong to this device's transfers and connections
//   groups     not a store of this database: the group layer's own database
//              (`tincan-groups:<user>`) gives each group's signed member-list chain, name and
//              state, and never a sender key (client/core/groups/group-backup.ts says why)
//   any other store   copied as it is (records must be plain data; other values are counted
//              as skipped). A future store that holds data sealed under the vault key needs an
//              entry here.

export const skippedStores: ReadonlySet<string> = new Set(['meta', 'sessions', 'outbox'])

/** The backup's records of groups (group-backup.ts), restored through the group layer. */
export const groupsStore = 'groups'

/** Stores whose records are reshaped; written first, in this order (a file's record before its chunks). */
export const portableStores = ['contacts', 'conversations', 'files', 'messages', 'fileChunks'] as const

/**
 * A message as backed up: its stored fields except the key, the sealed body and the search tokens
 * (all three are made again on restore), plus `content` in the clear.
 */
export const PortableMessage = Type.Object({
  id: Type.String({ minLength: 1 }),
  conversationId: Type.String({ minLength: 1 }),
  author: Type.String(),
  sentAt: Type.Number(),
  receivedAt: Type.Number(),
  type: Type.String(),
  state: Type.Union(
    ['queued', 'sent', 'delivered', 'read', 'received', 'failed'].map((s) => Type.Literal(s)),
  ),
  expiresAt: Type.Optional(Type.Number()),
  content: Type.Object({ text: Type.String() }),
})

/** A conversation: stored fields with the sealed preview replaced by its text. */
export const PortableConversation = Type.Object({
  id: Type.String({ minLength: 1 }),
  kind: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
  peer: Type.String(),
  lastMessageAt: Type.Number(),
  unread: Type.Integer({ minimum: 0 }),
  previewText: Type.Union([Type.String(), Type.Null()]),
})

export const PortableContact = Type.Object({
  username: Type.String({ minLength: 1 }),
  identityKey: Type.String(),
  pendingKey: Type.Union([Type.String(), Type.Null()]),
  keptOver: Type.Optional(Type.String()),
  verified: Type.Boolean(),
  addedAt: Type.Number(),
})

/** A file: stored fields with the sealed part (name, hash, file key…) in the clear as `meta`. */
export const PortableFile = Type.Object({
  fileId: Type.String({ minLength: 1 }),
  peer: Type.String(),
  direction: Type.Union([Type.Literal('in'), Type.Literal('out')]),
  kind: Type.Union([Type.Literal('file'), Type.Literal('image')]),
  size: Type.Integer({ minimum: 0 }),
  chunkSize: Type.Integer({ minimum: 1 }),
  createdAt: Type.Number(),
  state: Type.String(),
  storedChunks: Type.Integer({ minimum: 0 }),
  doneChunks: Type.Integer({ minimum: 0 }),
  meta: Type.Object({ name: Type.String(), mime: Type.String(), hash: Type.String(), key: Type.String() }),
})

const chunkKey = Type.Tuple([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })])

const shapes: Readonly<Record<string, TSchema>> = {
  messages: PortableMessage,
  conversations: PortableConversation,
  contacts: PortableContact,
  files: PortableFile,
}

/** Whether a backed-up record of a carried store has the shape a restore relies on. */
export function validPortable(store: string, key: unknown, value: unknown): boolean {
  if (store === 'fileChunks') return value instanceof Uint8Array && Value.Check(chunkKey, key)
  // Shape and signatures: a chain that does not verify makes the whole backup damaged.
  if (store === groupsStore) return key === undefined && validPortableGroup(value)
  const shape = shapes[store]
  return shape === undefined || Value.Check(shape, value)
}

export interface PortableFileValue extends Record<string, unknown> {
  readonly fileId: string
  readonly meta: FileMeta
}
