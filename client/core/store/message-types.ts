import type { ConversationRecord, MessageState } from './db.ts'
import { shownFileName } from '../files/file-name.ts'

// What a message, a conversation and a change to them are, as the rest of the client sees them,
// and the small rules every part applies to them (conversation ids, previews, reactions shown).

/** What a file or image message describes (the bytes themselves are in the file store). */
export interface FileContent {
  /** The file id (base64url), which is also the message id: pass it to the file API. */
  readonly fileId: string
  readonly kind: 'file' | 'image'
  readonly name: string
  readonly size: number
  /** Media type as the sender gave it; may be empty. */
  readonly mime: string
  /** Small preview sent in the offer, base64url (see `thumbnailBytes` in files/). */
  readonly thumbnail?: string
  readonly thumbnailMime?: string
  readonly width?: number
  readonly height?: number
}

/**
 * The message a reply answers. On a received reply, author and excerpt come from this device's
 * own copy of that message, never from the reply (quotes.ts).
 */
export interface Quote {
  readonly id: string
  /** Who wrote the quoted message; '' when it is `missing`. */
  readonly author: string
  /** The start of the quoted text (or the file name); empty once the quoted message is deleted. */
  readonly excerpt: string
  /** The quoted message was deleted (for everyone, for me, or it disappeared): show "deleted message". */
  readonly deleted?: true
  /**
   * This device did not have the quoted message when the reply came (it never arrived, was
   * deleted here, disappeared, or belongs to another conversation): show "original message not
   * found", naming no one. Filled in if the message arrives later (`fillMissingQuotes`).
   */
  readonly missing?: true
}

/** One person's reaction to a message; each person has at most one per message. */
export interface Reaction {
  readonly author: string
  readonly emoji: string
  /** The sender's time of the reaction (ms). */
  readonly at: number
}

/**
 * What a message carries, sealed at rest. `text` is always there (a file message holds the file
 * name, so search finds files by name; a deleted message and a timer line hold ''); other types
 * and actions add fields.
 */
export interface MessageContent {
  readonly text: string
  readonly file?: FileContent
  /** A reply: the message it answers. */
  readonly replyTo?: Quote
  /** Reactions, at most one per person, oldest first. */
  readonly reactions?: readonly Reaction[]
  /** Set when the author edited the text: the time of the latest edit (ms). */
  readonly editedAt?: number
  /** Deleted for everyone by its author: show "this message was deleted". Text, file and quote are gone. */
  readonly deleted?: true
  readonly deletedAt?: number
  /** Type `timer` (a line in the conversation): the disappearing-message timer this author set, in seconds (0 = off). */
  readonly timerSeconds?: number
}

export interface Message {
  readonly id: string
  readonly conversationId: string
  readonly author: string
  readonly sentAt: number
  readonly receivedAt: number
  /** `text`, `file`, `image`, or `timer` (a disappearing-message timer change, shown as a line). */
  readonly type: string
  readonly state: MessageState
  readonly content: MessageContent
  /** A disappearing message: when it is deleted from this device (ms since the epoch). */
  readonly expiresAt?: number
}

export interface Conversation {
  readonly id: string
  readonly kind: 'direct' | 'group'
  readonly peer: string
  readonly lastMessageAt: number
  readonly unread: number
  readonly preview: string
  /** The disappearing-message timer in seconds; 0 = off. */
  readonly timerSeconds: number
}

/** A message taken out of the history (deleted for me, or disappeared). */
export interface RemovedMessage {
  readonly id: string
  readonly conversationId: string
  /** Set for a file or image message: its stored data went with it. */
  readonly fileId?: string
}

/** Why a change to a message was not applied. */
export type ChangeRefusal =
  /** No such message on this device (never arrived, deleted, or disappeared). */
  | 'not-found'
  /** The message belongs to another conversation than the one the change came from. */
  | 'wrong-conversation'
  /** Only the author may edit or delete a message for everyone. */
  | 'not-author'
  /** Only text messages can be edited; timer lines take no reactions. */
  | 'not-editable'
  /** The message was deleted for everyone. */
  | 'deleted'
  /** A later change of the same kind was applied already (a resent or overtaken frame). */
  | 'stale'

export type ChangeOutcome =
  | {
      readonly ok: true
      readonly message: Message
      /** Replies whose quote of a deleted message was cleared. */
      readonly quotes: readonly Message[]
      /** A file message deleted for everyone: its stored data went with it. */
      readonly fileId?: string
    }
  | { readonly ok: false; readonly reason: ChangeRefusal }

/** Who asks for a change, from which conversation, at what (sender's) time. */
export interface ChangeBy {
  readonly by: string
  readonly conversationId: string
  readonly at: number
}

export interface SearchHit {
  readonly message: Message
  readonly matches: readonly { start: number; end: number }[]
}

/**
 * A conversation: one-to-one with a friend, or a group. The client's API is keyed by it, so chats
 * and groups are one thing to the UI; the type keeps a bare username or group id from passing
 * for one.
 */
export type ConversationId = `direct:${string}` | `group:${string}`

export const directConversationId = (peer: string): `direct:${string}` => `direct:${peer}`

/** What a conversation id names (undefined for a string that is none). */
export function conversationTarget(
  conversationId: string,
):
  | { readonly kind: 'direct'; readonly peer: string }
  | { readonly kind: 'group'; readonly groupId: string }
  | undefined {
  if (conversationId.startsWith('direct:'))
    return { kind: 'direct', peer: conversationId.slice('direct:'.length) }
  if (conversationId.startsWith('group:'))
    return { kind: 'group', groupId: conversationId.slice('group:'.length) }
  return undefined
}

/** The friend of a one-to-one conversation; undefined for any other conversation. */
export function peerOfConversation(conversationId: string): string | undefined {
  return conversationId.startsWith('direct:') ? conversationId.slice('direct:'.length) : undefined
}

const previewLength = 140

/**
 * What the conversation list shows for a message; undefined for lines that do not count (timer
 * changes). A file or image is its name after a sign that needs no translation.
 */
export function previewOf(m: { type: string; content: MessageContent }): string | undefined {
  if (m.type === 'timer') return undefined
  const file = m.content.file
  const text =
    file === undefined
      ? m.content.text
      : `${file.kind === 'image' ? '📷' : '📎'} ${shownFileName(file.name).full}`
  return text.slice(0, previewLength)
}

/** Reactions as stored: removals are kept (with an empty emoji) so an older reaction resent later cannot come back. */
export function visibleReactions(content: MessageContent): MessageContent {
  const reactions = content.reactions
  if (reactions === undefined || reactions.every((r) => r.emoji !== '')) return content
  const shown = reactions.filter((r) => r.emoji !== '')
  const { reactions: _all, ...rest } = content
  return shown.length === 0 ? rest : { ...rest, reactions: shown }
}

export function newConversation(id: string, kind: 'direct' | 'group', peer: string): ConversationRecord {
  return { id, kind, peer, lastMessageAt: 0, unread: 0, preview: null }
}
