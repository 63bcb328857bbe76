import { type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb'
import { maxClockAheadMs } from '../sender-time.ts'

export type MessageState = 'queued' | 'sent' | 'delivered' | 'read' | 'received' | 'failed'

/** A message as stored: metadata in the clear (for indexes), the body sealed under the vault key. */
export interface MessageRecord {
  /** Time-sortable primary key: zero-padded sentAt, then the message id. */
  readonly key: string
  readonly id: string
  readonly conversationId: string
  readonly author: string
  readonly sentAt: number
  readonly receivedAt: number
  readonly type: string
  state: MessageState
  /** Sealed JSON body (text, attachments, quote…). */
  body: Uint8Array
  /** Blind search tokens (see search-tokens.ts). */
  tokens: string[]
  /**
   * Since version 3. When a disappearing message is deleted (ms since the epoch); absent for
   * messages that stay. Sparse index `byExpiry`.
   */
  expiresAt?: number
  /** Since version 3. The id of the message this one quotes, so deleting that one can clear the quote. Sparse index `byReplyTo`. */
  replyTo?: string
}

export interface ConversationRecord {
  readonly id: string
  readonly kind: 'direct' | 'group'
  /** The friend's username, or the group id. */
  readonly peer: string
  lastMessageAt: number
  unread: number
  /** Sealed preview of the last message. */
  preview: Uint8Array | null
  /** Since version 3 (absent = off). The disappearing-message timer in seconds, and the `ts` of the change that set it. */
  timer?: { seconds: number; setAt: number; setBy: string }
}

export interface ContactRecord {
  readonly username: string
  /** The identity key pinned on first contact (base64url). */
  identityKey: string
  /** A different key the server announced; sending stays blocked until the user accepts it. */
  pendingKey: string | null
  /** A reported key the user chose not to take (kept the pinned one): reported again, it is not news. */
  keptOver?: string
  verified: boolean
  addedAt: number
}

export interface OutboxRecord {
  /** Message id: at most one entry per message. */
  readonly id: string
  readonly to: string
  readonly conversationId: string
  readonly queuedAt: number
  /** Sealed wire payload, resent as is until acknowledged. */
  readonly payload: Uint8Array
  attempts: number
}

export type FileDirection = 'in' | 'out'

/**
 * Where a transfer stands. `preparing`: the sender is hashing, encrypting and copying the file
 * into storage; `offered`: waiting for the receiver's decision; `transferring`: accepted and not
 * finished (moving, or waiting for the connection). The last four are final.
 */
export type FileState =
  'preparing' | 'offered' | 'transferring' | 'done' | 'declined' | 'cancelled' | 'failed'

/** One file sent or received. What names or describes the file is sealed; sizes and states are not. */
export interface FileRecord {
  readonly fileId: string
  readonly peer: string
  readonly direction: FileDirection
  readonly kind: 'file' | 'image'
  readonly size: number
  readonly chunkSize: number
  readonly createdAt: number
  state: FileState
  /** Present (1) while the transfer is unfinished, so the sparse `byActive` index lists only those. */
  active?: 1
  /** Chunks in `fileChunks` from index 0 on: prepared (sender) or received and verified (receiver). */
  storedChunks: number
  /** Sender: chunks the receiver confirmed storing. Receiver: same as storedChunks. */
  doneChunks: number
  error: { readonly code: string; readonly message: string } | null
  /** Sealed JSON (see files/file-store.ts): name, type, hash, file key, thumbnail. */
  sealed: Uint8Array
}

export interface TincanDb extends DBSchema {
  meta: { key: string; value: unknown }
  messages: {
    key: string
    value: MessageRecord
    indexes: {
      byConversation: [string, number]
      byId: string
      byToken: string
      /** Since version 3. */
      byExpiry: number
      /** Since version 3. */
      byReplyTo: string
    }
  }
  conversations: { key: string; value: ConversationRecord; indexes: { byLastMessage: number } }
  contacts: { key: string; value: ContactRecord }
  outbox: { key: string; value: OutboxRecord; indexes: { byPeer: [string, number] } }
  /** Sealed per-peer session state (ratchet) and per-peer envelope sequence numbers. */
  sessions: { key: string; value: { peer: string; sealed: Uint8Array } }
  /** Since version 2. */
  files: { key: string; value: FileRecord; indexes: { byActive: number; byPeer: [string, number] } }
  /**
   * Since version 2. A file's chunks exactly as they travel: secretstream ciphertext under the
   * file's own key (the key is sealed in `files`). Key: [file id, chunk index].
   */
  fileChunks: { key: [string, number]; value: Uint8Array }
}

export type Db = IDBPDatabase<TincanDb>

export const dbVersion = 4

/** One database per account, so two accounts in one browser never share history. */
export function dbName(username: string): string {
  return `tincan:${username}`
}

/**
 * Takes the account's database from `oldVersion` to `dbVersion` (store/databases.ts opens it).
 * Each step takes it from one version to the next, so existing data stays.
 */
export function upgradeHistoryDb(
  db: IDBPDatabase<TincanDb>,
  oldVersion: number,
  tx: IDBPTransaction<TincanDb, StoreNames<TincanDb>[], 'versionchange'>,
): void {
  if (oldVersion < 1) createVersion1(db)
  if (oldVersion < 2) {
    const files = db.createObjectStore('files', { keyPath: 'fileId' })
    files.createIndex('byActive', 'active')
    files.createIndex('byPeer', ['peer', 'createdAt'])
    db.createObjectStore('fileChunks')
  }
  if (oldVersion < 3) {
    // Both sparse: only messages with the field are indexed, so older records need no rewrite.
    const messages = tx.objectStore('messages')
    messages.createIndex('byExpiry', 'expiresAt')
    messages.createIndex('byReplyTo', 'replyTo')
  }
  // Its requests run in the upgrade's transaction: one that fails aborts the upgrade (nothing
  // is half refiled) and the database does not open; anything else failing aborts it too.
  if (oldVersion < 4)
    refileFutureMessages(tx, Date.now()).catch(() => {
      if (tx.error === null) tx.abort()
    })
}

/**
 * Version 4 (issue 14): messages whose sender dated them more than `maxClockAheadMs` after their
 * arrival were filed at that time — at the bottom of their chat, and the chat at the top of the
 * list, for good. They are filed at their arrival, as new ones are (sender-time.ts), and the
 * conversations they held up take the time of their newest message. Only what is still in the
 * future is read: a range of the time-ordered primary key, not the whole store.
 */
async function refileFutureMessages(
  tx: IDBPTransaction<TincanDb, StoreNames<TincanDb>[], 'versionchange'>,
  nowMs: number,
): Promise<void> {
  const future = nowMs + maxClockAheadMs
  const messages = tx.objectStore('messages')
  let cursor = await messages.openCursor(IDBKeyRange.lowerBound(messageKey(future, '')))
  while (cursor !== null) {
    const r = cursor.value
    if (r.sentAt > r.receivedAt + maxClockAheadMs) {
      // Deleted first (its id is a unique index); the new key is behind the cursor, never met again.
      await cursor.delete()
      await messages.put({ ...r, key: messageKey(r.receivedAt, r.id), sentAt: r.receivedAt })
    }
    cursor = await cursor.continue()
  }
  const conversations = tx.objectStore('conversations')
  for (const c of await conversations.index('byLastMessage').getAll(IDBKeyRange.lowerBound(future, true))) {
    const range = IDBKeyRange.bound([c.id, -Infinity], [c.id, Infinity])
    const newest = await messages.index('byConversation').openCursor(range, 'prev')
    await conversations.put({ ...c, lastMessageAt: Math.min(newest?.value.sentAt ?? nowMs, nowMs) })
  }
}

function createVersion1(db: IDBPDatabase<TincanDb>): void {
  db.createObjectStore('meta')
  const messages = db.createObjectStore('messages', { keyPath: 'key' })
  messages.createIndex('byConversation', ['conversationId', 'sentAt'])
  messages.createIndex('byId', 'id', { unique: true })
  messages.createIndex('byToken', 'tokens', { multiEntry: true })
  const conversations = db.createObjectStore('conversations', { keyPath: 'id' })
  conversations.createIndex('byLastMessage', 'lastMessageAt')
  db.createObjectStore('contacts', { keyPath: 'username' })
  const outbox = db.createObjectStore('outbox', { keyPath: 'id' })
  outbox.createIndex('byPeer', ['to', 'queuedAt'])
  db.createObjectStore('sessions', { keyPath: 'peer' })
}

/** Zero-padded so string order is time order (until the year 5138). */
export function messageKey(sentAt: number, id: string): string {
  return `${sentAt.toString().padStart(14, '0')}:${id}`
}
