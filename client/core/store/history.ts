import {
  type ConversationRecord,
  type Db,
  type MessageRecord,
  type MessageState,
  type OutboxRecord,
} from './db.ts'
import { outboxIn } from '../outbox.ts'
import { addAbsent } from './add-absent.ts'
import { MessageChanges } from './message-changes.ts'
import { MessageCodec } from './message-codec.ts'
import {
  newConversation,
  previewOf,
  type ChangeBy,
  type ChangeOutcome,
  type Conversation,
  type Message,
  type Quote,
  type RemovedMessage,
  type SearchHit,
} from './message-types.ts'
import { findMatches } from './search-tokens.ts'

export * from './message-types.ts'

/** Messages per transaction in `addMany`. */
const addManyBatch = 2000

/** A message of the others marked read: whose receipt it needs. */
export interface ReadMark {
  readonly id: string
  readonly author: string
}

const stateRank: Record<MessageState, number> = {
  failed: 0,
  queued: 1,
  sent: 2,
  received: 2,
  delivered: 3,
  read: 4,
}

/**
 * The account's message history in IndexedDB: adding messages and their delivery states,
 * conversations and their previews, paging, search and timers. Bodies and previews are sealed
 * (message-codec.ts); changes after arrival are message-changes.ts's. Every read uses an index:
 * paging never scans the whole store.
 */
export class History {
  private readonly codec: MessageCodec
  private readonly changes: MessageChanges

  constructor(
    private readonly db: Db,
    vaultKey: Uint8Array,
  ) {
    this.codec = new MessageCodec(vaultKey)
    this.changes = new MessageChanges(db, this.codec)
  }

  /** The message a stored record holds (exports and backups read records in batches themselves). */
  openRecord(r: MessageRecord): Message {
    return this.codec.decode(r)
  }

  /**
   * A stored record for a message from elsewhere (a restored backup): body sealed under this
   * device's vault key, search tokens from this device's index key. The caller adds any other
   * stored fields.
   */
  sealRecord(m: Message): MessageRecord {
    return this.codec.record(m)
  }

  /** A conversation's preview in the clear, and sealed for this device (exports, backups). */
  openPreview(c: ConversationRecord): string {
    return this.codec.openPreview(c)
  }

  sealPreview(conversationId: string, text: string): Uint8Array {
    return this.codec.sealPreview(conversationId, text)
  }

  /**
   * Stores a message unless one with the same id exists (duplicates from resends are dropped).
   * Returns whether it was new. Incoming messages raise the conversation's unread count.
   */
  async add(
    m: Omit<Message, 'receivedAt'> & { receivedAt?: number },
    opts: {
      incoming: boolean
      kind?: 'direct' | 'group'
      peer: string
      outbox?: OutboxRecord
      /** Called once the id is known to be new, before the write commits (to show it at once). */
      isNew?: () => void
    },
  ): Promise<boolean> {
    // An outgoing message and its outbox entry are written together: one cannot exist without the other.
    const tx = this.db.transaction(['messages', 'conversations', 'outbox'], 'readwrite')
    const messages = tx.objectStore('messages')
    if ((await messages.index('byId').getKey(m.id)) !== undefined) {
      await tx.done
      return false
    }
    opts.isNew?.()
    await messages.add(this.codec.record({ ...m, receivedAt: m.receivedAt ?? Date.now() }))
    const conversations = tx.objectStore('conversations')
    const conv =
      (await conversations.get(m.conversationId)) ??
      newConversation(m.conversationId, opts.kind ?? 'direct', opts.peer)
    if (m.sentAt >= conv.lastMessageAt) {
      conv.lastMessageAt = m.sentAt
      const preview = previewOf(m)
      if (preview !== undefined) conv.preview = this.codec.seal('conversations', conv.id, preview)
    }
    if (opts.incoming) conv.unread++
    await conversations.put(conv)
    if (opts.outbox !== undefined) await outboxIn(tx).put(opts.outbox)
    await tx.done
    return true
  }

  /**
   * Stores many messages of one conversation in a few transactions (imports, benchmarks).
   * Messages whose id exists are skipped; returns how many were added.
   *
   * Each batch is sealed while the previous one commits, and its writes are issued at once
   * (add-absent.ts) rather than a lookup and a write awaited one after the other per message,
   * which cost two round trips to the storage process each — most of the time spent.
   */
  async addMany(
    messages: readonly Message[],
    opts: { kind?: 'direct' | 'group'; peer: string },
  ): Promise<number> {
    let added = 0
    let writing: Promise<number> | undefined
    for (let i = 0; i < messages.length; i += addManyBatch) {
      const batch = messages.slice(i, i + addManyBatch)
      const records = batch.map((m) => this.codec.record(m))
      added += (await writing) ?? 0
      writing = this.addBatch(batch, records, opts)
    }
    return added + ((await writing) ?? 0)
  }

  private async addBatch(
    batch: readonly Message[],
    records: readonly MessageRecord[],
    opts: { kind?: 'direct' | 'group'; peer: string },
  ): Promise<number> {
    const first = batch[0]
    if (first === undefined) return 0
    const tx = this.db.transaction(['messages', 'conversations'], 'readwrite')
    const conversations = tx.objectStore('conversations')
    const write = async (): Promise<number> => {
      const [added, stored] = await Promise.all([
        addAbsent(tx.objectStore('messages'), records),
        conversations.get(first.conversationId),
      ])
      let newest: Message | undefined
      batch.forEach((m, j) => {
        if (added[j] === true && (newest === undefined || m.sentAt >= newest.sentAt)) newest = m
      })
      if (newest !== undefined) {
        const conv = stored ?? newConversation(first.conversationId, opts.kind ?? 'direct', opts.peer)
        if (newest.sentAt >= conv.lastMessageAt) {
          conv.lastMessageAt = newest.sentAt
          const preview = previewOf(newest)
          if (preview !== undefined) conv.preview = this.codec.seal('conversations', conv.id, preview)
        }
        await conversations.put(conv)
      }
      return added.filter(Boolean).length
    }
    const [count] = await Promise.all([write(), tx.done])
    return count
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
    return this.codec.decode(record)
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
          const entry = await outboxIn(tx).get(id)
          if (entry?.conversationId === only.conversationId) await outboxIn(tx).delete(id)
        }
        continue
      }
      if (record.conversationId !== only.conversationId || record.author !== only.author) continue
      if (acknowledged) await outboxIn(tx).delete(id)
      if (stateRank[state] <= stateRank[record.state]) continue
      record.state = state
      await messages.put(record)
      changed.push(record)
    }
    await tx.done
    return changed.map((r) => this.codec.decode(r))
  }

  async get(id: string): Promise<Message | undefined> {
    const record = await this.db.getFromIndex('messages', 'byId', id)
    return record && this.codec.decode(record)
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
    return out.map((r) => this.codec.decode(r))
  }

  async count(conversationId?: string): Promise<number> {
    if (conversationId === undefined) return this.db.count('messages')
    const range = IDBKeyRange.bound([conversationId, -Infinity], [conversationId, Infinity])
    return this.db.countFromIndex('messages', 'byConversation', range)
  }

  /** Every conversation, the latest first; each preview is opened (see `conversation` for one). */
  async conversations(): Promise<Conversation[]> {
    const records = await this.db.getAllFromIndex('conversations', 'byLastMessage')
    return records.reverse().map((c) => this.conversationView(c))
  }

  /** One conversation: one record read and one preview opened, however many there are. */
  async conversation(conversationId: string): Promise<Conversation | undefined> {
    const record = await this.db.get('conversations', conversationId)
    return record === undefined ? undefined : this.conversationView(record)
  }

  private conversationView(c: ConversationRecord): Conversation {
    return {
      id: c.id,
      kind: c.kind,
      peer: c.peer,
      lastMessageAt: c.lastMessageAt,
      unread: c.unread,
      preview: c.preview === null ? '' : this.codec.open<string>('conversations', c.id, c.preview),
      timerSeconds: c.timer?.seconds ?? 0,
    }
  }

  /**
   * Marks a conversation read, in one transaction and without opening a body: its unread count
   * goes to 0, and the others' messages that were received but not read become `read`. The newest
   * `limit` messages are looked at, newest first; once as many as were unread are found, the walk
   * ends at the first of the others' messages that was read before. Returns those marked, oldest
   * first (for the read receipts).
   */
  async markRead(conversationId: string, me: string, limit = 200): Promise<ReadMark[]> {
    const tx = this.db.transaction(['conversations', 'messages'], 'readwrite')
    const conversations = tx.objectStore('conversations')
    const conv = await conversations.get(conversationId)
    const unread = conv?.unread ?? 0
    if (conv !== undefined && unread !== 0) {
      conv.unread = 0
      await conversations.put(conv)
    }
    const marked: ReadMark[] = []
    const range = IDBKeyRange.bound([conversationId, -Infinity], [conversationId, Number.MAX_SAFE_INTEGER])
    let cursor = await tx.objectStore('messages').index('byConversation').openCursor(range, 'prev')
    for (let seen = 0; cursor !== null && seen < limit; seen++) {
      const record = cursor.value
      if (record.author !== me && record.state === 'received') {
        record.state = 'read'
        await cursor.update(record)
        marked.push({ id: record.id, author: record.author })
      } else if (record.author !== me && record.state === 'read' && marked.length >= unread) break
      cursor = await cursor.continue()
    }
    await tx.done
    return marked.reverse()
  }

  /**
   * Messages containing `query` (case-insensitive), newest first, across all conversations or
   * one. The blind index narrows the candidates; each candidate is decrypted and checked.
   */
  async search(query: string, opts: { conversationId?: string; limit?: number } = {}): Promise<SearchHit[]> {
    const limit = opts.limit ?? 50
    const tokens = this.codec.indexer.queryTokens(query)
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
        const message = this.codec.decode(record)
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
      const content = this.codec.content(reply)
      if (content.replyTo?.missing !== true) continue
      reply.body = this.codec.seal('messages', reply.id, { ...content, replyTo: quote })
      await tx.store.put(reply)
      changed.push(reply)
    }
    await tx.done
    return changed.map((r) => this.codec.decode(r))
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
  /** {@link MessageChanges.edit} */
  edit(id: string, text: string, who: ChangeBy, outbox?: OutboxRecord): Promise<ChangeOutcome> {
    return this.changes.edit(id, text, who, outbox)
  }

  /** {@link MessageChanges.react} */
  react(id: string, emoji: string, who: ChangeBy, outbox?: OutboxRecord): Promise<ChangeOutcome> {
    return this.changes.react(id, emoji, who, outbox)
  }

  /** {@link MessageChanges.deleteForEveryone} */
  deleteForEveryone(id: string, who: ChangeBy, outbox?: OutboxRecord): Promise<ChangeOutcome> {
    return this.changes.deleteForEveryone(id, who, outbox)
  }

  /** {@link MessageChanges.remove} */
  remove(id: string): Promise<{ removed: RemovedMessage | undefined; updated: Message[] }> {
    return this.changes.remove(id)
  }

  /** {@link MessageChanges.expire} */
  expire(now: number, batch?: number): Promise<{ removed: RemovedMessage[]; updated: Message[] }> {
    return this.changes.expire(now, batch)
  }

  /** {@link MessageChanges.nextExpiry} */
  nextExpiry(): Promise<number | undefined> {
    return this.changes.nextExpiry()
  }
}
