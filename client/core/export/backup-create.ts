import { BackupWriter, type BackupOptions } from '../../../crypto/index.ts'
import { isFinal } from '../files/file-store.ts'
import type { GroupBackupSource } from '../groups/group-backup.ts'
import { dbVersion, type ConversationRecord, type FileRecord, type MessageRecord } from '../store/db.ts'
import { BlobBuilder } from './blob-builder.ts'
import { backupFormat, backupVersion, isBackupKey, ItemWriter, type BackupKey } from './backup-items.ts'
import { groupsStore, portableStores, skippedStores } from './backup-stores.ts'
import { DataError } from './errors.ts'
import type { ExportSource } from './export-model.ts'
import { anyDb, storeBatches } from './records.ts'
import { UnsupportedValueError } from './tagged-json.ts'

export interface BackupSource extends ExportSource {
  /** The group layer: each group's signed member lists, name and state (no keys). Absent: no groups. */
  readonly groups?: Pick<GroupBackupSource, 'backupGroups'>
}

export interface CreateBackupOptions {
  /** The backup's time (ms); messages whose disappearing timer ran out by then are left out. */
  readonly now?: number
  /** Argon2id parameters and (tests only) lowered minimums; crypto/backup.ts defaults otherwise. */
  readonly crypto?: BackupOptions
}

export interface BackupResult {
  readonly blob: Blob
  /** Records written per store. */
  readonly counts: Readonly<Record<string, number>>
  /** Records left out because they cannot be copied as plain data, per store. */
  readonly skipped: Readonly<Record<string, number>>
}

export const minPassphraseLength = 8

/**
 * Everything this device holds for the account that another device can use — contacts with
 * their pinned keys and verification marks, conversations, messages, files and their bytes,
 * groups (signed member lists, names and states; no sender key: group-backup.ts) — in one file encrypted under the passphrase (Argon2id, then secretstream: crypto/backup.ts).
 * Message bodies are written in the clear inside it: the vault key that seals them here does not
 * exist on the device that restores. Fields each store gains later are carried as they are (see
 * backup-stores.ts).
 *
 * Argon2id runs first and blocks for its duration (a few hundred ms at the defaults).
 * @throws DataError 'weak-passphrase' for a passphrase under 8 characters.
 */
export async function createBackup(
  source: BackupSource,
  passphrase: string,
  opts: CreateBackupOptions = {},
): Promise<BackupResult> {
  if ([...passphrase].length < minPassphraseLength)
    throw new DataError(
      'weak-passphrase',
      `a backup passphrase needs at least ${minPassphraseLength} characters`,
    )
  const now = opts.now ?? Date.now()
  const writer = new BackupWriter(passphrase, opts.crypto)
  const out = new BlobBuilder()
  out.add(writer.start())
  const items = new ItemWriter((bytes) => out.add(writer.write(bytes)))
  items.header({
    format: backupFormat,
    version: backupVersion,
    username: source.username,
    createdAt: now,
    dbVersion,
  })
  const counts: Record<string, number> = {}
  const skipped: Record<string, number> = {}
  const count = (store: string, into = counts): void => {
    into[store] = (into[store] ?? 0) + 1
  }
  const db = anyDb(source.db)
  /** Files whose bytes go into the backup: finished ones (an unfinished transfer cannot go on elsewhere). */
  const withChunks = new Set<string>()

  for (const store of portableStores) {
    for await (const batch of storeBatches(db, store, store === 'fileChunks' ? 16 : 1000)) {
      for (const { key, value } of batch) {
        switch (store) {
          case 'contacts':
            items.record(store, value)
            break
          case 'conversations': {
            const { preview, ...rest } = value as ConversationRecord
            const previewText =
              preview === null ? null : source.history.openPreview(value as ConversationRecord)
            items.record(store, { ...rest, previewText })
            break
          }
          case 'files': {
            const r = value as FileRecord
            const { sealed: _sealed, active: _active, ...rest } = r
            const meta = source.files.meta(r)
            if (isFinal(r.state)) {
              if (r.storedChunks > 0) withChunks.add(r.fileId)
              items.record(store, { ...rest, meta })
            } else {
              items.record(store, {
                ...rest,
                meta,
                state: 'failed',
                storedChunks: 0,
                doneChunks: 0,
                error: {
                  code: 'unavailable',
                  message: 'the transfer was not finished when the backup was made',
                },
              })
            }
            break
          }
          case 'messages': {
            const r = value as MessageRecord
            if (r.expiresAt !== undefined && r.expiresAt <= now) continue
            const { key: _key, body: _body, tokens: _tokens, ...rest } = r
            items.record(store, { ...rest, content: source.history.openRecord(r).content })
            break
          }
          case 'fileChunks': {
            const [fileId] = key as [string, number]
            if (!withChunks.has(fileId)) continue
            items.bytes(store, key as BackupKey, value as Uint8Array)
            break
          }
          default: {
            const unreachable: never = store
            throw new Error(`unhandled store ${String(unreachable)}`)
          }
        }
        count(store)
      }
    }
  }

  // Groups come from their own database, opened by the group layer (it holds the sealing key).
  for (const group of (await source.groups?.backupGroups()) ?? []) {
    items.record(groupsStore, group)
    count(groupsStore)
  }

  const known = new Set<string>([...portableStores, ...skippedStores, groupsStore])
  for (const store of [...db.objectStoreNames].filter((s) => !known.has(s)).sort()) {
    const inline = db.transaction(store).store.keyPath !== null
    for await (const batch of storeBatches(db, store)) {
      for (const { key, value } of batch) {
        const outOfLine = inline ? undefined : key
        if (outOfLine !== undefined && !isBackupKey(outOfLine)) {
          count(store, skipped)
          continue
        }
        try {
          items.record(store, value, outOfLine)
          count(store)
        } catch (e: unknown) {
          if (!(e instanceof UnsupportedValueError)) throw e
          count(store, skipped)
        }
      }
    }
  }

  items.end(counts)
  out.add(writer.finish())
  return { blob: out.finish('application/octet-stream'), counts, skipped }
}
