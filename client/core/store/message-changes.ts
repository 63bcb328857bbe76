import type { IDBPTransaction } from 'idb'
import { eraseFileIn } from '../files/file-chunks.ts'
import { outboxIn } from '../outbox.ts'
import type { Db, MessageRecord, OutboxRecord, TincanDb } from './db.ts'
import type { MessageCodec } from './message-codec.ts'
import {
  previewOf,
  type ChangeBy,
  type ChangeOutcome,
  type ChangeRefusal,
  type Message,
  type MessageContent,
  type RemovedMessage,
} from './message-types.ts'

type ChangeStores = 'messages' | 'conversations' | 'outbox' | 'files' | 'fileChunks'
const changeStores: ChangeStores[] = ['messages', 'conversations', 'outbox', 'files', 'fileChunks']
type ChangeTx = IDBPTransaction<TincanDb, ChangeStores[], 'readwrite'>

/**
 * Changes to stored messages after they arrived: edits, reactions, deletes for everyone, deletes
 * for me and disappearing messages running out. Each is one transaction with what goes with it
 * (the outbox entry telling the friend, the file's data, the quotes of it, the preview).
 */
export class MessageChanges {
  constructor(
    private readonly db: Db,
    private readonly codec: MessageCodec,
  ) {}

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
    const content = this.codec.content(record)
    const next = apply(record, content)
    if (typeof next === 'string') return refuse(next)
    record.body = this.codec.seal('messages', id, next)
    record.tokens = this.codec.indexer.tokensFor(next.text)
    const fileId = erase ? content.file?.fileId : undefined
    let quotes: MessageRecord[] = []
    if (erase) {
      delete record.replyTo
      if (fileId !== undefined) await eraseFileIn(tx, fileId)
      await outboxIn(tx).delete(id)
      quotes = await this.clearQuotes(tx, id)
    }
    await messages.put(record)
    if (outbox !== undefined) await outboxIn(tx).put(outbox)
    await this.refreshConversation(tx, record.conversationId, 0)
    await tx.done
    return {
      ok: true,
      message: this.codec.decode(record),
      quotes: quotes.map((r) => this.codec.decode(r)),
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
      const fileId = this.codec.content(r).file?.fileId
      await messages.delete(r.key)
      updated.delete(r.id)
      if (fileId !== undefined) await eraseFileIn(tx, fileId)
      if (dropOutbox) await outboxIn(tx).delete(r.id)
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
    return { removed, updated: [...updated.values()].map((r) => this.codec.decode(r)) }
  }

  /** Replies quoting a deleted message keep only who wrote it and that it is gone. */
  private async clearQuotes(tx: ChangeTx, id: string): Promise<MessageRecord[]> {
    const messages = tx.objectStore('messages')
    const changed: MessageRecord[] = []
    for (const reply of await messages.index('byReplyTo').getAll(id)) {
      const content = this.codec.content(reply)
      const quote = content.replyTo
      if (quote === undefined || quote.deleted === true || quote.missing === true) continue
      reply.body = this.codec.seal('messages', reply.id, {
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
      const shown = previewOf({ type: cursor.value.type, content: this.codec.content(cursor.value) })
      if (shown !== undefined) {
        preview = shown
        break
      }
      cursor = await cursor.continue()
    }
    conv.preview = preview === '' ? null : this.codec.seal('conversations', conv.id, preview)
    conv.unread = Math.max(0, conv.unread - unreadGone)
    await conversations.put(conv)
  }
}
