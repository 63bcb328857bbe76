import 'fake-indexeddb/auto'
import { FileStore } from '../../../../client/core/files/file-store.ts'
import type { ExportSource } from '../../../../client/core/export/export-model.ts'
import { openHistoryDb } from '../../../../client/core/store/databases.ts'
import type { Db, FileRecord } from '../../../../client/core/store/db.ts'
import {
  directConversationId,
  History,
  type FileContent,
  type Message,
  type MessageContent,
} from '../../../../client/core/store/history.ts'
import {
  fileChunkCount,
  FileEncryptor,
  FileHasher,
  generateVaultKey,
  newFileId,
  newFileKey,
  toBase64Url,
} from '../../../../crypto/index.ts'

/** One account's storage on one device: its own database and vault key. */
export interface Device extends ExportSource {
  readonly db: Db
  readonly history: History
  readonly files: FileStore
  readonly vaultKey: Uint8Array
}

let n = 0

/** A fresh database (a new device, or this one after its data was cleared) for `username`. */
export async function freshDevice(username: string): Promise<Device> {
  const db = await openHistoryDb(`${username}-device-${n++}`)
  const vaultKey = generateVaultKey()
  return { username, db, vaultKey, history: new History(db, vaultKey), files: new FileStore(db, vaultKey) }
}

/** A 1×1 PNG. */
export const tinyPng = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
)

export interface StoredFile {
  readonly fileId: string
  readonly bytes: Uint8Array
  readonly hash: string
  readonly content: FileContent
}

/** Stores a file the way a finished transfer leaves it: sealed record, chunks as they travelled. */
export async function storeFile(
  device: Device,
  opts: {
    peer: string
    name: string
    mime: string
    bytes: Uint8Array
    kind?: 'file' | 'image'
    direction?: 'in' | 'out'
    state?: FileRecord['state']
    chunkSize?: number
    thumbnail?: string
  },
): Promise<StoredFile> {
  const chunkSize = opts.chunkSize ?? 1024
  const key = newFileKey()
  const idBytes = newFileId()
  const fileId = toBase64Url(idBytes)
  const size = opts.bytes.length
  const encryptor = new FileEncryptor({ key, fileId: idBytes, fileSize: size, chunkSize })
  const hasher = new FileHasher()
  hasher.update(opts.bytes)
  const hash = toBase64Url(hasher.digest())
  const chunks: Uint8Array[] = []
  for (let i = 0; i < fileChunkCount(size, chunkSize); i++)
    chunks.push(
      encryptor.encryptChunk(opts.bytes.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize))).data,
    )
  const kind = opts.kind ?? (opts.mime.startsWith('image/') ? 'image' : 'file')
  const record: FileRecord = {
    fileId,
    peer: opts.peer,
    direction: opts.direction ?? 'in',
    kind,
    size,
    chunkSize,
    createdAt: Date.now(),
    state: 'transferring',
    storedChunks: 0,
    doneChunks: 0,
    error: null,
    sealed: device.files.seal(fileId, { name: opts.name, mime: opts.mime, hash, key: toBase64Url(key) }),
  }
  await device.files.create(record)
  await device.files.putChunks(fileId, 0, chunks, new Set(['transferring']))
  const state = opts.state ?? 'done'
  await device.files.update(fileId, (r) => {
    r.state = state
    return true
  })
  const content: FileContent = {
    fileId,
    kind,
    name: opts.name,
    size,
    mime: opts.mime,
    ...(opts.thumbnail === undefined
      ? {}
      : { thumbnail: opts.thumbnail, thumbnailMime: 'image/png' as const }),
  }
  return { fileId, bytes: opts.bytes, hash, content }
}

let m = 0

/** Adds a message to the direct conversation with `peer` (incoming when `author` is the peer). */
export async function addMessage(
  device: Device,
  peer: string,
  author: string,
  content: MessageContent,
  extra: { sentAt?: number; id?: string; type?: string; expiresAt?: number; state?: Message['state'] } = {},
): Promise<Message> {
  const incoming = author === peer
  const message: Message = {
    id: extra.id ?? `msg-${m++}`,
    conversationId: directConversationId(peer),
    author,
    sentAt: extra.sentAt ?? 1_700_000_000_000 + m * 1000,
    receivedAt: extra.sentAt ?? 1_700_000_000_000 + m * 1000,
    type: extra.type ?? (content.file === undefined ? 'text' : content.file.kind),
    state: extra.state ?? (incoming ? 'received' : 'read'),
    content,
    ...(extra.expiresAt === undefined ? {} : { expiresAt: extra.expiresAt }),
  }
  await device.history.add(message, { incoming, peer })
  return message
}

/** Every message of a conversation, oldest first. */
export async function allMessages(device: Device, conversationId: string): Promise<Message[]> {
  return device.history.page(conversationId, { limit: 1_000_000 })
}
