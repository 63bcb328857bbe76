// Long: a restore is one two-pass procedure (verify everything, then write and undo on failure); halves would hide that.
import { BackupKeyCache, type KdfParams } from '../../../crypto/index.ts'
import { isQuotaError, type FileStore } from '../files/file-store.ts'
import type { GroupBackupSource, PortableGroupValue } from '../groups/group-backup.ts'
import { plausibleSentAt } from '../sender-time.ts'
import type {
  ContactRecord,
  ConversationRecord,
  Db,
  FileRecord,
  MessageRecord,
  MessageState,
} from '../store/db.ts'
import { addAbsent } from '../store/add-absent.ts'
import type { History, Message } from '../store/history.ts'
import { backupFormat, backupVersion, type BackupHeader, type BackupKey } from './backup-items.ts'
import { backupItems } from './backup-read.ts'
import { groupsStore, skippedStores, validPortable, type PortableFileValue } from './backup-stores.ts'
import { DataError } from './errors.ts'
import { anyDb, type AnyDb } from './records.ts'

export interface RestoreTarget {
  readonly username: string
  readonly db: Db
  readonly history: History
  readonly files: FileStore
  /** The group layer, which merges the backup's groups into its own database. Absent: groups are not restored. */
  readonly groups?: Pick<GroupBackupSource, 'restoreGroups'>
}

export interface RestoreOptions {
  /** The restore's time (ms): disappearing messages whose timer ran out by then are not restored. */
  readonly now?: number
  /** Tests only: the lowered Argon2id minimums the backup was made with. */
  readonly minimums?: KdfParams
}

/** A friend whose key on this device differs from the one in the backup: this device's key was kept. */
export interface KeyConflict {
  readonly username: string
  readonly keptKey: string
  readonly backupKey: string
}

export interface RestoreSummary {
  readonly backupCreatedAt: number
  /** Records added, per store (`messages`, `conversations`, `contacts`, `files`, `fileChunks`…). */
  readonly added: Readonly<Record<string, number>>
  /** Records this device had already (same id), left as they were apart from merged fields, per store. */
  readonly alreadyPresent: Readonly<Record<string, number>>
  /** Disappearing messages whose time ran out since the backup was made. */
  readonly expired: number
  /** Records of stores this version of Tincan does not have, per store. */
  readonly unknownStores: Readonly<Record<string, number>>
  /** Contacts whose verification mark came back from the backup. */
  readonly verifiedRestored: number
  readonly keyConflicts: readonly KeyConflict[]
  /**
   * Groups left out because their creator is not a friend with an accepted key on this device
   * (say, a key conflict above kept another key): the chain cannot be trusted here.
   */
  readonly groupsRefused: number
}

const messageBatch = 1000
const chunkBatchBytes = 4 * 1024 * 1024

/**
 * Restores a backup into this account's storage, merging by id: what exists stays, what is
 * missing is added, so restoring the same backup twice adds nothing the second time.
 *
 * Nothing is written unless the whole file is good. The restore reads the file twice: the first
 * pass decrypts and checks every item (passphrase, account, shapes, the final tag, the end
 * record's counts) and writes nothing; only then does the second pass write. The second pass
 * writes in many short transactions (one IndexedDB transaction cannot stay open across reads of
 * the file), remembering every record it adds; conversations, contacts and file records go last,
 * in one transaction, and then the groups, through the group layer (their creators' keys are
 * checked against the contacts just merged). If anything fails on the way (storage full, the file changed between
 * passes) the added records are deleted again before the error is thrown. A tab closed in the
 * middle of the second pass leaves whole records of a partial restore, never half a record; a
 * second restore completes it.
 *
 * The batches are committed with relaxed durability (not flushed to disk one by one, which is
 * also what Chromium, Firefox and Safari do by default); the last transaction is strict, and
 * storage engines write their log in order, so its flush covers the batches before it. A power
 * cut before that leaves at worst a partial restore of whole records, as a closed tab does.
 *
 * @throws DataError 'not-a-backup', 'unsupported-version', 'wrong-passphrase', 'damaged',
 * 'wrong-account' (the backup is another account's), 'storage-full', 'storage-failed'.
 */
export async function restoreBackup(
  target: RestoreTarget,
  blob: Blob,
  passphrase: string,
  opts: RestoreOptions = {},
): Promise<RestoreSummary> {
  // Argon2id runs once: the second pass reads the same file with the key the first one derived.
  const keys = new BackupKeyCache()
  try {
    const header = await verify(target, blob, passphrase, opts, keys)
    const run = new RestoreRun(target, opts.now ?? Date.now())
    await run.prepare()
    try {
      for await (const item of backupItems(blob, passphrase, opts.minimums, keys)) {
        if (item.kind === 'record') await run.record(item.store, item.key, item.value)
      }
      await run.finish()
    } catch (e: unknown) {
      await run.rollback().catch((rollbackError: unknown) => {
        console.error('taking back a failed restore failed', rollbackError)
      })
      throw storageError(e)
    }
    try {
      await run.restoreGroups()
    } catch (e: unknown) {
      throw storageError(e)
    }
    return run.summary(header.createdAt)
  } finally {
    keys.wipe()
  }
}

function storageError(e: unknown): DataError {
  if (DataError.is(e)) return e
  return isQuotaError(e)
    ? new DataError('storage-full', 'this device is out of storage space', { cause: e })
    : new DataError('storage-failed', 'storing the restored data failed', { cause: e })
}

/** The first pass: reads and checks everything, writes nothing. */
async function verify(
  target: RestoreTarget,
  blob: Blob,
  passphrase: string,
  opts: RestoreOptions,
  keys: BackupKeyCache,
): Promise<BackupHeader> {
  let header: BackupHeader | undefined
  let end: Readonly<Record<string, number>> | undefined
  const counts: Record<string, number> = {}
  const damaged = (what: string) => new DataError('damaged', `the backup is damaged: ${what}`)
  for await (const item of backupItems(blob, passphrase, opts.minimums, keys)) {
    if (end !== undefined) throw damaged('items after its end')
    switch (item.kind) {
      case 'header':
        if (header !== undefined) throw damaged('two headers')
        if (item.header.format !== backupFormat) throw damaged('not a backup header')
        if (item.header.version > backupVersion)
          throw new DataError('unsupported-version', 'this backup was made by a newer version of Tincan')
        // Compared as the server compares usernames: without regard to case.
        if (item.header.username.toLowerCase() !== target.username.toLowerCase())
          throw new DataError(
            'wrong-account',
            `this backup belongs to ${item.header.username}, not ${target.username}`,
          )
        header = item.header
        break
      case 'record':
        if (header === undefined) throw damaged('a record before the header')
        if (!validPortable(item.store, item.key, item.value))
          throw damaged(`a malformed ${item.store} record`)
        counts[item.store] = (counts[item.store] ?? 0) + 1
        break
      case 'end':
        end = item.counts
        break
      default: {
        const unreachable: never = item
        throw damaged(`unexpected item ${String(unreachable)}`)
      }
    }
  }
  if (header === undefined || end === undefined) throw damaged('it has no header or no end')
  const stores = new Set([...Object.keys(end), ...Object.keys(counts)])
  for (const s of stores) if ((end[s] ?? 0) !== (counts[s] ?? 0)) throw damaged(`records of ${s} are missing`)
  return header
}

type Counts = Record<string, number>

function bump(counts: Counts, store: string, by = 1): void {
  counts[store] = (counts[store] ?? 0) + by
}

/** The second pass: merges records in, remembering what it added so a failure can take it back. */
class RestoreRun {
  private readonly db: AnyDb
  private readonly added: Counts = {}
  private readonly present: Counts = {}
  private readonly unknown: Counts = {}
  private expired = 0
  private verifiedRestored = 0
  private readonly conflicts: KeyConflict[] = []
  private groupsRefused = 0
  private readonly groups: PortableGroupValue[] = []
  // Written last, in one transaction.
  private readonly contacts: ContactRecord[] = []
  private readonly conversations: ConversationRecord[] = []
  private readonly newFiles = new Map<string, FileRecord>()
  private existingFiles = new Set<string>()
  // Batches on their way in.
  private messages: MessageRecord[] = []
  /** The batch of messages being written, if any. */
  private writing: Promise<void> | undefined
  private chunks: { key: [string, number]; value: Uint8Array }[] = []
  private chunkBytes = 0
  private readonly others = new Map<string, { key?: BackupKey; value: unknown }[]>()
  // What was added, to take back on failure.
  private readonly addedMessageKeys: string[] = []
  private readonly chunkFiles = new Set<string>()
  private readonly addedOther = new Map<string, IDBValidKey[]>()

  constructor(
    private readonly target: RestoreTarget,
    private readonly now: number,
  ) {
    this.db = anyDb(target.db)
  }

  async prepare(): Promise<void> {
    this.existingFiles = new Set(await this.target.db.getAllKeys('files'))
  }

  async record(store: string, key: BackupKey | undefined, value: unknown): Promise<void> {
    switch (store) {
      case 'contacts':
        this.contacts.push(value as ContactRecord)
        return
      case 'conversations':
        this.conversations.push(
          this.conversation(value as ConversationRecord & { previewText: string | null }),
        )
        return
      case 'files':
        this.file(value as PortableFileValue)
        return
      case groupsStore:
        if (this.target.groups === undefined) bump(this.unknown, store)
        else this.groups.push(value as PortableGroupValue)
        return
      case 'messages':
        this.message(value as Record<string, unknown> & Message)
        if (this.messages.length >= messageBatch) await this.flushMessages()
        return
      case 'fileChunks': {
        const chunkKey = key as [string, number]
        if (!this.newFiles.has(chunkKey[0])) {
          bump(this.present, store)
          return
        }
        this.chunks.push({ key: chunkKey, value: value as Uint8Array })
        this.chunkBytes += (value as Uint8Array).length
        if (this.chunkBytes >= chunkBatchBytes) await this.flushChunks()
        return
      }
    }
    if (skippedStores.has(store)) return
    if (!this.db.objectStoreNames.contains(store)) {
      bump(this.unknown, store)
      return
    }
    const list = this.others.get(store) ?? []
    list.push(key === undefined ? { value } : { key, value })
    this.others.set(store, list)
    if (list.length >= messageBatch) await this.flushOther(store)
  }

  private conversation(v: ConversationRecord & { previewText: string | null }): ConversationRecord {
    const { previewText, ...rest } = v
    return {
      ...rest,
      // A backup made before issue 14 may hold a friend's date in 2286 (see db.ts, version 4).
      lastMessageAt: Math.min(v.lastMessageAt, this.now),
      preview: previewText === null ? null : this.target.history.sealPreview(v.id, previewText),
    }
  }

  private file(v: PortableFileValue): void {
    if (this.existingFiles.has(v.fileId)) {
      bump(this.present, 'files')
      return
    }
    const { meta, ...rest } = v
    this.newFiles.set(v.fileId, {
      ...(rest as unknown as FileRecord),
      sealed: this.target.files.seal(v.fileId, meta),
    })
  }

  private message(v: Record<string, unknown> & Message): void {
    if (v.expiresAt !== undefined && v.expiresAt <= this.now) {
      this.expired++
      return
    }
    const { content, ...clear } = v
    // Without this device's outbox entry a queued message would wait forever: it was never sent from here.
    const state: MessageState = v.state === 'queued' ? 'failed' : v.state
    const message: Message = {
      id: v.id,
      conversationId: v.conversationId,
      author: v.author,
      // Filed as new messages are (sender-time.ts): a backup made before issue 14 may hold dates in 2286.
      sentAt: plausibleSentAt(v.sentAt, v.receivedAt),
      receivedAt: v.receivedAt,
      type: v.type,
      state,
      content,
      ...(v.expiresAt === undefined ? {} : { expiresAt: v.expiresAt }),
    }
    this.messages.push({ ...(clear as Partial<MessageRecord>), ...this.target.history.sealRecord(message) })
  }

  /**
   * Starts writing the batch and returns once the previous one is written: the next batch is
   * decrypted, parsed and sealed while this one commits (at most one transaction in flight).
   */
  private async flushMessages(): Promise<void> {
    const batch = this.messages
    this.messages = []
    await this.writing
    if (batch.length === 0) return
    this.writing = this.writeMessages(batch)
    // Its failure is taken when it is awaited: by the next flush, `finish` or `rollback`.
    this.writing.catch(() => undefined)
  }

  private async writeMessages(batch: readonly MessageRecord[]): Promise<void> {
    const tx = this.target.db.transaction('messages', 'readwrite', { durability: 'relaxed' })
    // One add per message, all issued at once; one whose id (or key) exists is left as it is.
    const [added] = await Promise.all([addAbsent(tx.store, batch), tx.done])
    batch.forEach((r, i) => {
      if (added[i] !== true) {
        bump(this.present, 'messages')
        return
      }
      this.addedMessageKeys.push(r.key)
      bump(this.added, 'messages')
    })
  }

  private async flushChunks(): Promise<void> {
    const batch = this.chunks
    this.chunks = []
    this.chunkBytes = 0
    if (batch.length === 0) return
    const tx = this.target.db.transaction('fileChunks', 'readwrite', { durability: 'relaxed' })
    for (const c of batch) this.chunkFiles.add(c.key[0])
    await Promise.all(batch.map((c) => tx.store.put(c.value, c.key)))
    await tx.done
    bump(this.added, 'fileChunks', batch.length)
  }

  private async flushOther(store: string): Promise<void> {
    const batch = this.others.get(store) ?? []
    this.others.delete(store)
    if (batch.length === 0) return
    const tx = this.db.transaction(store, 'readwrite')
    const keyPath = tx.store.keyPath
    const added = this.addedOther.get(store) ?? []
    this.addedOther.set(store, added)
    for (const r of batch) {
      const key = r.key ?? keyFromPath(r.value, keyPath)
      if (key === undefined) throw new DataError('damaged', `a ${store} record has no key`)
      if ((await tx.store.getKey(key as IDBValidKey)) !== undefined) {
        bump(this.present, store)
        continue
      }
      added.push(key as IDBValidKey)
      await (r.key === undefined ? tx.store.add(r.value) : tx.store.add(r.value, r.key as IDBValidKey))
      bump(this.added, store)
    }
    await tx.done
  }

  /** The last writes: conversations, contacts and file records, merged in one transaction. */
  async finish(): Promise<void> {
    await this.flushMessages()
    await this.writing
    await this.flushChunks()
    for (const store of [...this.others.keys()]) await this.flushOther(store)
    // Strict: this commit is flushed to disk before the restore reports success, and with it the
    // relaxed batches written before it (see `restoreBackup`).
    const tx = this.target.db.transaction(['conversations', 'contacts', 'files'], 'readwrite', {
      durability: 'strict',
    })
    const conversations = tx.objectStore('conversations')
    for (const c of this.conversations) {
      const existing = await conversations.get(c.id)
      if (existing === undefined) {
        await conversations.put(c)
        bump(this.added, 'conversations')
        continue
      }
      // This device's fields win; the backup fills in what it lacks. The later last message
      // gives the preview. Unread counts are not added together: the same messages may be
      // counted on both sides.
      const newer = c.lastMessageAt > existing.lastMessageAt
      await conversations.put({
        ...c,
        ...existing,
        lastMessageAt: Math.max(existing.lastMessageAt, c.lastMessageAt),
        preview: newer ? c.preview : existing.preview,
        unread: Math.max(existing.unread, c.unread),
      })
      bump(this.present, 'conversations')
    }
    const contacts = tx.objectStore('contacts')
    for (const c of this.contacts) {
      const existing = await contacts.get(c.username)
      if (existing === undefined) {
        await contacts.put(c)
        bump(this.added, 'contacts')
        if (c.verified) this.verifiedRestored++
        continue
      }
      bump(this.present, 'contacts')
      if (existing.identityKey !== c.identityKey) {
        // Never replace a pinned key silently: the one on this device stays, the user is told.
        this.conflicts.push({ username: c.username, keptKey: existing.identityKey, backupKey: c.identityKey })
        continue
      }
      if (c.verified && !existing.verified) {
        await contacts.put({ ...c, ...existing, verified: true })
        this.verifiedRestored++
      }
    }
    const files = tx.objectStore('files')
    for (const f of this.newFiles.values()) {
      if ((await files.getKey(f.fileId)) !== undefined) {
        bump(this.present, 'files')
        continue
      }
      await files.add(f)
      bump(this.added, 'files')
    }
    await tx.done
  }

  /**
   * The groups, after everything else is in (their creators' pinned keys are among the contacts
   * just merged), written by the group layer into its own database. Each group is added whole
   * and a second restore finds it there, so a failure here is not taken back: the rest of the
   * backup is in, and restoring again adds the groups missing.
   */
  async restoreGroups(): Promise<void> {
    if (this.groups.length > 0 && this.target.groups !== undefined) {
      const g = await this.target.groups.restoreGroups(this.groups)
      if (g.added > 0) bump(this.added, groupsStore, g.added)
      if (g.alreadyPresent > 0) bump(this.present, groupsStore, g.alreadyPresent)
      this.groupsRefused = g.refused
    }
  }

  /** Deletes what this run added (records that were there before it are never touched). */
  async rollback(): Promise<void> {
    // A batch still being written settles first, so none of it can land after the deletes.
    await this.writing?.catch(() => undefined)
    for (let i = 0; i < this.addedMessageKeys.length; i += messageBatch) {
      const tx = this.target.db.transaction('messages', 'readwrite')
      await Promise.all(this.addedMessageKeys.slice(i, i + messageBatch).map((k) => tx.store.delete(k)))
      await tx.done
    }
    for (const fileId of this.chunkFiles) {
      await this.target.db.delete('fileChunks', IDBKeyRange.bound([fileId, 0], [fileId, Infinity]))
    }
    for (const [store, keys] of this.addedOther) {
      const tx = this.db.transaction(store, 'readwrite')
      await Promise.all(keys.map((k) => tx.store.delete(k)))
      await tx.done
    }
  }

  summary(backupCreatedAt: number): RestoreSummary {
    return {
      backupCreatedAt,
      added: this.added,
      alreadyPresent: this.present,
      expired: this.expired,
      unknownStores: this.unknown,
      verifiedRestored: this.verifiedRestored,
      keyConflicts: this.conflicts,
      groupsRefused: this.groupsRefused,
    }
  }
}

/** A record's key from the store's key path (a dotted path, or an array of them), as IndexedDB takes it. */
function keyFromPath(value: unknown, keyPath: string | string[] | null): unknown {
  if (keyPath === null) return undefined
  if (Array.isArray(keyPath)) {
    const parts = keyPath.map((p) => keyFromPath(value, p))
    return parts.some((p) => p === undefined) ? undefined : parts
  }
  let at: unknown = value
  for (const step of keyPath.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<string, unknown>)[step]
  }
  return at
}
