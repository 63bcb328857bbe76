import { decryptRecord, encryptRecord, hkdfSha256, utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import {
  messageKey,
  type ConversationRecord,
  type Db,
  type MessageRecord,
  type MessageState,
  type OutboxRecord,
} from './db.ts'
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
 * What a message carries, sealed at rest. `text` is always there (a file message holds the file
 * name, so search finds files by name); other types add fields.
 */
export interface MessageContent {
  readonly text: string
  readonly file?: FileContent
}

export interface Message {
  readonly id: string
  readonly conversationId: string
  readonly author: string
  readonly sentAt: number
  readonly receivedAt: number
  readonly type: string
  readonly state: MessageState
  readonly content: MessageContent
}

export interface Conversation {
  readonly id: string
  readonly kind: 'direct' | 'group'
  readonly peer: string
  readonly lastMessageAt: number
  readonly unread: number
  readonly preview: string
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
    }
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
      content: this.open<MessageContent>('messages', r.id, r.body),
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
    const existing = await conversations.get(m.conversationId)
    const conv: ConversationRecord = existing ?? {
      id: m.conversationId,
      kind: opts.kind ?? 'direct',
      peer: opts.peer,
      lastMessageAt: 0,
      unread: 0,
      preview: null,
    }
    if (m.sentAt >= conv.lastMessageAt) {
      conv.lastMessageAt = m.sentAt
      conv.preview = this.seal('conversations', conv.id, m.content.text.slice(0, 140))
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
        const conv: ConversationRecord = (await conversations.get(first.conversationId)) ?? {
          id: first.conversationId,
          kind: opts.kind ?? 'direct',
          peer: opts.peer,
          lastMessageAt: 0,
          unread: 0,
          preview: null,
        }
        if (newest.sentAt >= conv.lastMessageAt) {
          conv.lastMessageAt = newest.sentAt
          conv.preview = this.seal('conversations', conv.id, newest.content.text.slice(0, 140))
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
   * first — one index range read, however long the history.
   */
  async page(
    conversationId: string,
    opts: { beforeSentAt?: number; limit?: number } = {},
  ): Promise<Message[]> {
    const limit = opts.limit ?? 50
    const upper = opts.beforeSentAt ?? Number.MAX_SAFE_INTEGER
    const range = IDBKeyRange.bound([conversationId, -Infinity], [conversationId, upper], false, true)
    const out: MessageRecord[] = []
    let cursor = await this.db.transaction('messages').store.index('byConversation').openCursor(range, 'prev')
    while (cursor !== null && out.length < limit) {
      out.push(cursor.value)
      cursor = await cursor.continue()
    }
    return out.reverse().map((r) => this.decode(r))
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
}
