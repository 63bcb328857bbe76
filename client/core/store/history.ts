import { decryptRecord, encryptRecord, hkdfSha256, utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import type { IDBPTransaction } from 'idb'
import {
  messageKey,
  type ConversationRecord,
  type Db,
  type MessageRecord,
  type MessageState,
  type OutboxRecord,
  type TincanDb,
} from './db.ts'
import { shownFileName } from '../files/file-name.ts'
import { findMatches, SearchIndexer } from './search-tokens.ts'

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

const bodySchema = 1
const stateRank: Record<MessageState, number> = {
  failed: 0,
  queued: 1,
  sent: 2,
  received: 2,
  delivered: 3,
  read: 4,
}

export const directConversationId = (peer: string): string => `direct:${peer}`

/** The friend of a one-to-one conversation; undefined for any other conversation. */
export function peerOfConversation(conversationId: string): string | undefined {
  return conversationId.startsWith('direct:') ? conversationId.slice('direct:'.length) : undefined
}

const previewLength = 140

/**
 * What the conversation list shows for a message; undefined for lines that do not count (timer
 * changes). A file or image is its name after a sign that needs no translation.
 */
function previewOf(m: { type: string; content: MessageContent }): string | undefined {
  if (m.type === 'timer') return undefined
  const file = m.content.file
  const text =
    file === undefined
      ? m.content.text
      : `${file.kind === 'image' ? '📷' : '📎'} ${shownFileName(file.name).full}`
  return text.slice(0, previewLength)
}

/** Reactions as stored: removals are kept (with an empty emoji) so an older reaction resent later cannot come back. */
function visibleReactions(content: MessageContent): MessageContent {
  const reactions = content.reactions
  if (reactions === undefined || reactions.every((r) => r.emoji !== '')) return content
  const shown = reactions.filter((r) => r.emoji !== '')
  const { reactions: _all, ...rest } = content
  return shown.length === 0 ? rest : { ...rest, reactions: shown }
}

function newConversation(id: string, kind: 'direct' | 'group', peer: string): ConversationRecord {
  return { id, kind, peer, lastMessageAt: 0, unread: 0, preview: null }
}

type ChangeStores = 'messages' | 'conversations' | 'outbox' | 'files' | 'fileChunks'
const changeStores: ChangeStores[] = ['messages', 'conversations', 'outbox', 'files', 'fileChunks']
type ChangeTx = IDBPTransaction<TincanDb, ChangeStores[], 'readwrite'>

/**
 * The account's message history in IndexedDB. Bodies and previews are sealed with a key from
 * the vault key, bound to their record (see crypto/vault.ts); indexes hold only ids, times and
 * blind search tokens. Every read uses an index: paging never scans the whole store.
 */
export class History {
  private readonly indexer: SearchIndexer

  constructor(
    private readonly db: Db,
    private readonly vaultKey: Uint8Array,
  ) {
    this.indexer = new SearchIndexer(
      hkdfSha256(vaultKey, new Uint8Array(0), utf8Encode('tincan/v1/search-index'), 32),
    )
  }

  private seal(store: string, id: string, value: unknown): Uint8Array {
    return encryptRecord(
      this.vaultKey,
      { store, id, schemaVersion: bodySchema },
      utf8Encode(JSON.stringify(value)),
    )
  }

  private open<T>(store: string, id: string, sealed: Uint8Array): T {
    return JSON.parse(
      utf8Decode(decryptRecord(this.vaultKey, { store, id, schemaVersion: bodySchema }, sealed)),
    ) as T
  }

  private record(m: Message): MessageRecord {
    return {
      key: messageKey(m.sentAt, m.id),
      id: m.id,
      conversationId: m.conversationId,
      author: m.author,
      sentAt: m.sentAt,
      receivedAt: m.receivedAt,
      type: m.type,
      state: m.state,
      body: this.seal('messages', m.id, m.content),
      tokens: this.indexer.tokensFor(m.content.text),
      ...(m.expiresAt === undefined ? {} : { expiresAt: m.expiresAt }),
      ...(m.content.replyTo === undefined ? {} : { replyTo: m.content.replyTo.id }),
    }
  }

  /** The body as stored, reactions removed included. */
  private content(r: MessageRecord): MessageContent {
    return this.open<MessageContent>('messages', r.id, r.body)
  }

  private decode(r: MessageRecord): Message {
    return {
      id: r.id,
      conversationId: r.conversationId,
      author: r.author,
      sentAt: r.sentAt,
      receivedAt: r.receivedAt,
      type: r.type,
      state: r.state,
      content: visibleReactions(this.content(r)),
      ...(r.expiresAt === undefined ? {} : { expiresAt: r.expiresAt }),
    }
  }

  /** The message a stored record holds (exports and backups read records in batches themselves). */
  openRecord(r: MessageRecord): Message {
    return this.decode(r)
  }

  /**
   * A stored record for a message from elsewhere (a restored backup): body sealed under this
   * device's vault key, search tokens from this device's index key. The caller adds any other
   * stored fields.
   */
  sealRecord(m: Message): MessageRecord {
    return this.record(m)
  }

  /** A conversation's preview in the clear, and sealed for this device (exports, backups). */
  openPreview(c: ConversationRecord): string {
    return c.preview === null ? '' : this.open<string>('conversations', c.id, c.preview)
  }

  sealPreview(conversationId: string, text: string): Uint8Array {
    return this.seal('conversations', conversationId, text)
  }

  /**
   * Stores a message unless one with the same id exists (duplicates from resends are dropped).
   * Returns whether it was new. Incoming messages raise the conversation's unread count.
   */
  async add(
    m: Omit<Message, 'receivedAt'> & { receivedAt?: number },
    opts: { incoming: boolean; kind?: 'direct' | 'group'; peer: string; outbox?: OutboxRecord },
  ): Promise<boolean> {
    // An outgoing message and its outbox entry are written together: one cannot exist without the other.
    const tx = this.db.transaction(['messages', 'conversations', 'outbox'], 'readwrite')
    const messages = tx.objectStore('messages')
    if ((await messages.index('byId').getKey(m.id)) !== undefined) {
      await tx.done
      return false
    }
    await messages.add(this.record({ ...m, receivedAt: m.receivedAt ?? Date.now() }))
    const conversations = tx.objectStore('conversations')
    const conv =
      (await conversations.get(m.conversationId)) ??
      newConversation(m.conversationId, opts.kind ?? 'direct', opts.peer)
    if (m.sentAt >= conv.lastMessageAt) {
      conv.lastMessageAt = m.sentAt
      const preview = previewOf(m)
      if (preview !== undefined) conv.preview = this.seal('conversations', conv.id, preview)
    }
    if (opts.incoming) conv.unread++
    await conversations.put(conv)
    if (opts.outbox !== undefined) await tx.objectStore('outbox').put(opts.outbox)
    await tx.done
    return true
  }

  /**
   * Stores many messages of one conversation in a few transactions (imports, benchmarks).
   * Messages whose id exists are skipped; returns how many were added.
   */
  async addMany(
    messages: readonly Message[],
    opts: { kind?: 'direct' | 'group'; peer: string },
  ): Promise<number> {
    let added = 0
    for (let i = 0; i < messages.length; i += 1000) {
      const batch = messages.slice(i, i + 1000)
      const tx = this.db.transaction(['messages', 'conversations'], 'readwrite')
      const store = tx.objectStore('messages')
      const byId = store.index('byId')
      let newest: Message | undefined
      for (const m of batch) {
        if ((await byId.getKey(m.id)) !== undefined) continue
        await store.add(this.record(m))
        added++
        if (newest === undefined || m.sentAt >= newest.sentAt) newest = m
      }
      const first = batch[0]
      if (newest !== undefined && first !== undefined) {
        const conversations = tx.objectStore('conversations')
        const conv =
          (await conversations.get(first.conversationId)) ??
          newConversation(first.conversationId, opts.kind ?? 'direct', opts.peer)
        if (newest.sentAt >= conv.lastMessageAt) {
          conv.lastMessageAt = newest.sentAt
          const preview = previewOf(newest)
          if (preview !== undefined) conv.preview = this.seal('conversations', conv.id, preview)
        }
        await conversations.put(conv)
      }
      await tx.done
    }
    return added
  }

  /** Moves a message's state forward (queued → sent → delivered → read); never back. */
  async setState(id: string, state: MessageState): Promise<Message | undefined> {
    const tx = this.db.transaction('messages', 'readwrite')
    const index = tx.store.index('byId')
    const record = await index.get(id)
    if (record === undefined) {
      await tx.done
      return undefined
    }
    if (stateRank[state] > stateRank[record.state] || state === 'failed') {
      record.state = state
      await tx.store.put(record)
    }
    await tx.done
    return this.decode(record)
  }

  /**
   * Moves several messages forward at once, in one transaction: only the caller's own messages in
   * that conversation (a friend's receipt cannot touch anything else). With `delivered` or
   * `read`, their outbox entries go too. Returns the messages that changed.
   */
  async advance(
    ids: readonly string[],
    state: MessageState,
    only: { conversationId: string; author: string },
  ): Promise<Message[]> {
    const tx = this.db.transaction(['messages', 'outbox'], 'readwrite')
    const messages = tx.objectStore('messages')
    const byId = messages.index('byId')
    const changed: MessageRecord[] = []
    const acknowledged = state === 'delivered' || state === 'read'
    for (const id of ids) {
      const record = await byId.get(id)
      if (record === undefined) {
        // Some outbox entries are not history messages (file transfer decisions): they too
        // leave on the receipt, if they were addressed to that conversation.
        if (acknowledged) {
          const entry = await tx.objectStore('outbox').get(id)
          if (entry?.conversationId === only.conversationId) await tx.objectStore('outbox').delete(id)
        }
        continue
      }
      if (record.conversationId !== only.conversationId || record.author !== only.author) continue
      if (acknowledged) await tx.objectStore('outbox').delete(id)
      if (stateRank[state] <= stateRank[record.state]) continue
      record.state = state
      await messages.put(record)
      changed.push(record)
    }
    await tx.done
    return changed.map((r) => this.decode(r))
  }

  async get(id: string): Promise<Message | undefined> {
    const record = await this.db.getFromIndex('messages', 'byId', id)
    return record && this.decode(record)
  }

  /**
   * The newest `limit` messages of a conversation sent before `beforeSentAt` (exclusive), oldest
   * first — one index range read, however long the history. With `afterSentAt` instead, the
   * oldest `limit` sent after it (exclusive), oldest first: paging forward from a message opened
   * from a search.
   */
  async page(
    conversationId: string,
    opts: { beforeSentAt?: number; afterSentAt?: number; limit?: number } = {},
  ): Promise<Message[]> {
    const limit = opts.limit ?? 50
    const forward = opts.afterSentAt !== undefined
    const lower = opts.afterSentAt ?? -Infinity
    const upper = opts.beforeSentAt ?? Number.MAX_SAFE_INTEGER
    const range = IDBKeyRange.bound([conversationId, lower], [conversationId, upper], forward, true)
    const out: MessageRecord[] = []
    let cursor = await this.db
      .transaction('messages')
      .store.index('byConversation')
      .openCursor(range, forward ? 'next' : 'prev')
    while (cursor !== null && out.length < limit) {
      out.push(cursor.value)
      cursor = await cursor.continue()
    }
    if (!forward) out.reverse()
    return out.map((r) => this.decode(r))
  }

  async count(conversationId?: string): Promise<number> {
    if (conversationId === undefined) return this.db.count('messages')
    const range = IDBKeyRange.bound([conversationId, -Infinity], [conversationId, Infinity])
    return this.db.countFromIndex('messages', 'byConversation', range)
  }

  async conversations(): Promise<Conversation[]> {
    const records = await this.db.getAllFromIndex('conversations', 'byLastMessage')
    return records.reverse().map((c) => ({
      id: c.id,
      kind: c.kind,
      peer: c.peer,
      lastMessageAt: c.lastMessageAt,
      unread: c.unread,
      preview: c.preview === null ? '' : this.open<string>('conversations', c.id, c.preview),
      timerSeconds: c.timer?.seconds ?? 0,
    }))
  }

  async markRead(conversationId: string): Promise<void> {
    const tx = this.db.transaction('conversations', 'readwrite')
    const conv = await tx.store.get(conversationId)
    if (conv !== undefined && conv.unread !== 0) {
      conv.unread = 0
      await tx.store.put(conv)
    }
    await tx.done
  }

  /**
   * Messages containing `query` (case-insensitive), newest first, across all conversations or
   * one. The blind index narrows the candidates; each candidate is decrypted and checked.
   */
  async search(query: string, opts: { conversationId?: string; limit?: number } = {}): Promise<SearchHit[]> {
    const limit = opts.limit ?? 50
    const tokens = this.indexer.queryTokens(query)
    if (tokens.length === 0) return []
    // Walk the most specific token's entries newest first (index entries with one key are in
    // primary-key order, and primary keys are time-ordered); the other tokens and the decrypted
    // text filter. No counting, no sorting, stops at `limit` hits.
    const lead = tokens.reduce((a, b) => (b.specificity > a.specificity ? b : a))
    const tx = this.db.transaction('messages')
    const hits: SearchHit[] = []
    let cursor = await tx.store.index('byToken').openCursor(lead.hash, 'prev')
    while (cursor !== null && hits.length < limit) {
      const record = cursor.value
      if (
        (opts.conversationId === undefined || record.conversationId === opts.conversationId) &&
        tokens.every((t) => record.tokens.includes(t.hash))
      ) {
        const message = this.decode(record)
        const matches = findMatches(message.content.text, query)
        if (matches.length > 0) hits.push({ message, matches })
      }
      cursor = await cursor.continue()
    }
    await tx.done
    return hits
  }
  /**
   * Replies of `quoted`'s conversation whose quote of it was missing when they were stored (in a
   * group a reply can overtake the message it answers) show `quote` from now on. Returns them.
   */
  async fillMissingQuotes(quoted: Message, quote: Quote): Promise<Message[]> {
    const tx = this.db.transaction('messages', 'readwrite')
    const changed: MessageRecord[] = []
    for (const reply of await tx.store.index('byReplyTo').getAll(quoted.id)) {
      if (reply.conversationId !== quoted.conversationId) continue
      const content = this.content(reply)
      if (content.replyTo?.missing !== true) continue
      reply.body = this.seal('messages', reply.id, { ...content, replyTo: quote })
      await tx.store.put(reply)
      changed.push(reply)
    }
    await tx.done
    return changed.map((r) => this.decode(r))
  }

  // ---- changes to stored messages: actions and disappearing messages ----

  /** The conversation's disappearing-message timer in seconds (0 = off). */
  async timer(conversationId: string): Promise<number> {
    return (await this.db.get('conversations', conversationId))?.timer?.seconds ?? 0
  }

  /**
   * Sets the conversation's timer unless a later change is applied already (later `setAt`, then
   * the greater author name), so two changes that cross leave both devices on the same timer.
   * Returns whether the timer changed.
   */
  async setTimer(
    conversationId: string,
    peer: string,
    timer: { seconds: number; setAt: number; setBy: string },
  ): Promise<boolean> {
    const tx = this.db.transaction('conversations', 'readwrite')
    const conv = (await tx.store.get(conversationId)) ?? newConversation(conversationId, 'direct', peer)
    const current = conv.timer
    if (
      current !== undefined &&
      (current.setAt > timer.setAt || (current.setAt === timer.setAt && current.setBy >= timer.setBy))
    ) {
      await tx.done
      return false
    }
    conv.timer = { seconds: timer.seconds, setAt: timer.setAt, setBy: timer.setBy }
    await tx.store.put(conv)
    await tx.done
    return true
  }

  /** The author's new text for a text message; the search tokens follow it. Later edits win. */
  edit(id: string, text: string, who: ChangeBy, outbox?: OutboxRecord): Promise<ChangeOutcome> {
    return this.change(id, who, outbox, false, (record, content) => {
      if (record.author !== who.by) return 'not-author'
      if (content.deleted === true) return 'deleted'
      if (record.type !== 'text') return 'not-editable'
      if ((content.editedAt ?? 0) >= who.at) return 'stale'
      return { ...content, text, editedAt: who.at }
    })
  }

  /** Sets (or, with '', removes) `who.by`'s reaction; an older reaction than the one stored is ignored. */
  react(id: string, emoji: string, who: ChangeBy, outbox?: OutboxRecord): Promise<ChangeOutcome> {
    return this.change(id, who, outbox, false, (record, content) => {
      if (content.deleted === true) return 'deleted'
      if (record.type === 'timer') return 'not-editable'
      const reactions = content.reactions ?? []
      const previous = reactions.find((r) => r.author === who.by)
      if (previous !== undefined && previous.at >= who.at) return 'stale'
      // A removal stays as an empty entry: it must outrank an older reaction that arrives again.
      const next = [...reactions.filter((r) => r.author !== who.by), { author: who.by, emoji, at: who.at }]
      return { ...content, reactions: next }
    })
  }

  /**
   * Delete for everyone: the author's message becomes a marker with no text, file, quote or
   * reactions; its search tokens, its file's data and its unsent outbox entry go, and replies
   * that quote it lose the excerpt.
   */
  deleteForEveryone(id: string, who: ChangeBy, outbox?: OutboxRecord): Promise<ChangeOutcome> {
    return this.change(id, who, outbox, true, (record, content) => {
      if (record.author !== who.by) return 'not-author'
      if (content.deleted === true) return 'stale'
      if (record.type === 'timer') return 'not-editable'
      return { text: '', deleted: true, deletedAt: who.at }
    })
  }

  /**
   * Reads, changes and writes one message in one transaction. `outbox`, when given, is the frame
   * telling the friend, stored in the same transaction only if the change is applied.
   */
  private async change(
    id: string,
    who: ChangeBy,
    outbox: OutboxRecord | undefined,
    erase: boolean,
    apply: (record: MessageRecord, content: MessageContent) => MessageContent | ChangeRefusal,
  ): Promise<ChangeOutcome> {
    const tx = this.db.transaction(changeStores, 'readwrite')
    const messages = tx.objectStore('messages')
    const record = await messages.index('byId').get(id)
    const refuse = async (reason: ChangeRefusal) => {
      await tx.done
      return { ok: false, reason } as const
    }
    if (record === undefined) return refuse('not-found')
    if (record.conversationId !== who.conversationId) return refuse('wrong-conversation')
    const content = this.content(record)
    const next = apply(record, content)
    if (typeof next === 'string') return refuse(next)
    record.body = this.seal('messages', id, next)
    record.tokens = this.indexer.tokensFor(next.text)
    const fileId = erase ? content.file?.fileId : undefined
    let quotes: MessageRecord[] = []
    if (erase) {
      delete record.replyTo
      if (fileId !== undefined) await eraseFile(tx, fileId)
      await tx.objectStore('outbox').delete(id)
      quotes = await this.clearQuotes(tx, id)
    }
    await messages.put(record)
    if (outbox !== undefined) await tx.objectStore('outbox').put(outbox)
    await this.refreshConversation(tx, record.conversationId, 0)
    await tx.done
    return {
      ok: true,
      message: this.decode(record),
      quotes: quotes.map((r) => this.decode(r)),
      ...(fileId === undefined ? {} : { fileId }),
    }
  }

  /**
   * Delete for me: the message leaves this device (body, tokens, file data); the friend's copy
   * stays. Returns what was removed (undefined if it was not there) and the replies whose quote
   * of it was cleared.
   */
  async remove(id: string): Promise<{ removed: RemovedMessage | undefined; updated: Message[] }> {
    const tx = this.db.transaction(changeStores, 'readwrite')
    const record = await tx.objectStore('messages').index('byId').get(id)
    const out = record === undefined ? { removed: [], updated: [] } : await this.erase(tx, [record], false)
    await tx.done
    return { removed: out.removed[0], updated: out.updated }
  }

  /**
   * Removes every message whose time ran out by `now`, with its search tokens, file data,
   * unsent outbox entry and preview, in batches of a few hundred per transaction.
   */
  async expire(now: number, batch = 256): Promise<{ removed: RemovedMessage[]; updated: Message[] }> {
    const removed: RemovedMessage[] = []
    const updated = new Map<string, Message>()
    for (;;) {
      const tx = this.db.transaction(changeStores, 'readwrite')
      const due = await tx
        .objectStore('messages')
        .index('byExpiry')
        .getAll(IDBKeyRange.upperBound(now), batch)
      const out = due.length === 0 ? { removed: [], updated: [] } : await this.erase(tx, due, true)
      await tx.done
      removed.push(...out.removed)
      for (const r of out.removed) updated.delete(r.id)
      for (const m of out.updated) updated.set(m.id, m)
      if (due.length < batch) break
    }
    return { removed, updated: [...updated.values()] }
  }

  /** When the next disappearing message is due, if any (ms since the epoch). */
  async nextExpiry(): Promise<number | undefined> {
    const cursor = await this.db.transaction('messages').store.index('byExpiry').openKeyCursor()
    return cursor?.key
  }

  private async erase(
    tx: ChangeTx,
    records: readonly MessageRecord[],
    dropOutbox: boolean,
  ): Promise<{ removed: RemovedMessage[]; updated: Message[] }> {
    const messages = tx.objectStore('messages')
    const removed: RemovedMessage[] = []
    const updated = new Map<string, MessageRecord>()
    const unread = new Map<string, number>()
    for (const r of records) {
      const fileId = this.content(r).file?.fileId
      await messages.delete(r.key)
      updated.delete(r.id)
      if (fileId !== undefined) await eraseFile(tx, fileId)
      if (dropOutbox) await tx.objectStore('outbox').delete(r.id)
      if (r.state === 'received') unread.set(r.conversationId, (unread.get(r.conversationId) ?? 0) + 1)
      else unread.set(r.conversationId, unread.get(r.conversationId) ?? 0)
      for (const q of await this.clearQuotes(tx, r.id)) updated.set(q.id, q)
      removed.push({
        id: r.id,
        conversationId: r.conversationId,
        ...(fileId === undefined ? {} : { fileId }),
      })
    }
    for (const [conversationId, unreadGone] of unread)
      await this.refreshConversation(tx, conversationId, unreadGone)
    return { removed, updated: [...updated.values()].map((r) => this.decode(r)) }
  }

  /** Replies quoting a deleted message keep only who wrote it and that it is gone. */
  private async clearQuotes(tx: ChangeTx, id: string): Promise<MessageRecord[]> {
    const messages = tx.objectStore('messages')
    const changed: MessageRecord[] = []
    for (const reply of await messages.index('byReplyTo').getAll(id)) {
      const content = this.content(reply)
      const quote = content.replyTo
      if (quote === undefined || quote.deleted === true || quote.missing === true) continue
      reply.body = this.seal('messages', reply.id, {
        ...content,
        replyTo: { id: quote.id, author: quote.author, excerpt: '', deleted: true },
      })
      await messages.put(reply)
      changed.push(reply)
    }
    return changed
  }

  /** After messages changed or went: the preview shows the newest message left, and unread drops by those removed unread. */
  private async refreshConversation(tx: ChangeTx, conversationId: string, unreadGone: number): Promise<void> {
    const conversations = tx.objectStore('conversations')
    const conv = await conversations.get(conversationId)
    if (conv === undefined) return
    const range = IDBKeyRange.bound([conversationId, -Infinity], [conversationId, Infinity])
    let cursor = await tx.objectStore('messages').index('byConversation').openCursor(range, 'prev')
    let preview = ''
    // Timer lines do not count; a handful of them in a row is already unusual.
    for (let looked = 0; cursor !== null && looked < 20; looked++) {
      const shown = previewOf({ type: cursor.value.type, content: this.content(cursor.value) })
      if (shown !== undefined) {
        preview = shown
        break
      }
      cursor = await cursor.continue()
    }
    conv.preview = preview === '' ? null : this.seal('conversations', conv.id, preview)
    conv.unread = Math.max(0, conv.unread - unreadGone)
    await conversations.put(conv)
  }
}

/** A file's record (name, key, thumbnail) and its stored chunks. */
async function eraseFile(tx: ChangeTx, fileId: string): Promise<void> {
  await tx.objectStore('fileChunks').delete(IDBKeyRange.bound([fileId, 0], [fileId, Infinity]))
  await tx.objectStore('files').delete(fileId)
}
