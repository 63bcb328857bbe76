import { decryptRecord, encryptRecord, hkdfSha256, utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import { messageKey, type ConversationRecord, type MessageRecord } from './db.ts'
import { visibleReactions, type Message, type MessageContent } from './message-types.ts'
import { SearchIndexer } from './search-tokens.ts'

const bodySchema = 1

/**
 * How messages and previews are kept: bodies and previews sealed with a key from the vault key,
 * bound to their record (see crypto/vault.ts), and blind search tokens beside them.
 */
export class MessageCodec {
  readonly indexer: SearchIndexer

  constructor(private readonly vaultKey: Uint8Array) {
    this.indexer = new SearchIndexer(
      hkdfSha256(vaultKey, new Uint8Array(0), utf8Encode('tincan/v1/search-index'), 32),
    )
  }

  seal(store: string, id: string, value: unknown): Uint8Array {
    return encryptRecord(
      this.vaultKey,
      { store, id, schemaVersion: bodySchema },
      utf8Encode(JSON.stringify(value)),
    )
  }

  open<T>(store: string, id: string, sealed: Uint8Array): T {
    return JSON.parse(
      utf8Decode(decryptRecord(this.vaultKey, { store, id, schemaVersion: bodySchema }, sealed)),
    ) as T
  }

  record(m: Message): MessageRecord {
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
  content(r: MessageRecord): MessageContent {
    return this.open<MessageContent>('messages', r.id, r.body)
  }

  decode(r: MessageRecord): Message {
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
}
