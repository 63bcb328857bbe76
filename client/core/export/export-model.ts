import { fileChunkCount } from '../../../crypto/index.ts'
import type { FileMeta, FileStore } from '../files/file-store.ts'
import type { Db, FileRecord } from '../store/db.ts'
import type { History, Message } from '../store/history.ts'
import { DataError } from './errors.ts'
import type { ExportedConversation, ExportedFile, ExportedMessage } from './export-schema.ts'
import { conversationBatches } from './records.ts'

/** What an export reads: the account's history and files on this device. No server is involved. */
export interface ExportSource {
  readonly username: string
  readonly db: Db
  readonly history: History
  readonly files: FileStore
  /** Group names by group id, for the titles of group conversations (what the app last heard). */
  readonly groupNames?: ReadonlyMap<string, string>
}

export interface ExportOptions {
  /** Only this conversation (its id, e.g. `direct:bob`); every conversation when absent. */
  readonly conversationId?: string
  /** The export's time (ms); messages whose disappearing timer ran out by then are left out. */
  readonly now?: number
}

export type ConversationHead = Omit<ExportedConversation, 'messages' | 'messageCount'>

/** One message as exported, with what the HTML and ZIP writers need to find its file's bytes. */
export interface ExportEntry {
  readonly message: ExportedMessage
  readonly file?: { readonly record: FileRecord; readonly complete: boolean }
  /** The small preview that came with an image offer (base64url), shown when the image is not here. */
  readonly thumbnail?: { readonly data: string; readonly mime: string }
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`)

/**
 * `Date.prototype.toISOString` by arithmetic (civil date from days, H. Hinnant's algorithm):
 * the same text, several times faster, which counts at two times per message.
 */
export function iso(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms >= 253402300800000) return new Date(ms).toISOString()
  const days = Math.floor(ms / 86_400_000)
  let rest = ms - days * 86_400_000
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  const hours = Math.floor(rest / 3_600_000)
  rest -= hours * 3_600_000
  const minutes = Math.floor(rest / 60_000)
  rest -= minutes * 60_000
  const seconds = Math.floor(rest / 1000)
  const millis = Math.floor(rest - seconds * 1000)
  const msText = millis < 10 ? `00${millis}` : millis < 100 ? `0${millis}` : `${millis}`
  return `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}T${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${msText}Z`
}

/** The conversations to export, most recent first. @throws DataError 'not-found' for an unknown id. */
export async function exportHeads(source: ExportSource, opts: ExportOptions): Promise<ConversationHead[]> {
  const all = await source.history.conversations()
  const chosen = opts.conversationId === undefined ? all : all.filter((c) => c.id === opts.conversationId)
  if (opts.conversationId !== undefined && chosen.length === 0)
    throw new DataError('not-found', 'no such conversation on this device')
  return chosen.map((c) => ({
    id: c.id,
    kind: c.kind,
    peer: c.peer,
    title: c.kind === 'group' ? (source.groupNames?.get(c.peer) ?? c.peer) : c.peer,
    timerSeconds: c.timerSeconds ?? 0,
  }))
}

/** A conversation's messages oldest first, in batches, leaving out those that expired by `now`. */
export async function* exportEntries(
  source: ExportSource,
  conversationId: string,
  now: number,
): AsyncGenerator<ExportEntry[], void, undefined> {
  for await (const records of conversationBatches(source.db, conversationId)) {
    const out: ExportEntry[] = []
    for (const r of records) {
      if (r.expiresAt !== undefined && r.expiresAt <= now) continue
      const e = entry(source, source.history.openRecord(r))
      out.push(e instanceof Promise ? await e : e)
    }
    if (out.length > 0) yield out
  }
}

/** The bytes of a file are on this device, whole and (for a received file) verified. */
export function fileComplete(r: FileRecord): boolean {
  if (r.storedChunks < fileChunkCount(r.size, r.chunkSize)) return false
  return r.state === 'done' || (r.direction === 'out' && r.state !== 'preparing')
}

/** Synchronous for most messages: only a file message reads its file record. */
function entry(source: ExportSource, m: Message): ExportEntry | Promise<ExportEntry> {
  if (m.content.file === undefined) return finishEntry(m, undefined, undefined)
  const fileId = m.content.file.fileId
  return source.db
    .get('files', fileId)
    .then((record) => finishEntry(m, record, record && source.files.meta(record)))
}

function finishEntry(m: Message, record: FileRecord | undefined, meta: FileMeta | undefined): ExportEntry {
  const c = m.content
  const message: Record<string, unknown> = {
    id: m.id,
    author: m.author,
    sentAt: iso(m.sentAt),
    receivedAt: iso(m.receivedAt),
    type: m.type,
    state: m.state,
    text: c.text,
  }
  let file: ExportEntry['file']
  if (c.file !== undefined) {
    const complete = record !== undefined && fileComplete(record)
    const exported: ExportedFile = {
      fileId: c.file.fileId,
      kind: c.file.kind,
      name: c.file.name,
      mime: c.file.mime,
      size: c.file.size,
      hash: meta?.hash ?? null,
      path: complete ? attachmentPath(c.file.fileId, c.file.name) : null,
    }
    message['file'] = exported
    if (record !== undefined) file = { record, complete }
  }
  if (c.replyTo !== undefined)
    message['replyTo'] = {
      id: c.replyTo.id,
      author: c.replyTo.author,
      excerpt: c.replyTo.excerpt,
      ...(c.replyTo.deleted === true ? { deleted: true } : {}),
      ...(c.replyTo.missing === true ? { missing: true } : {}),
    }
  const reactions = (c.reactions ?? []).filter((r) => r.emoji !== '')
  if (reactions.length > 0)
    message['reactions'] = reactions.map((r) => ({ author: r.author, emoji: r.emoji, at: iso(r.at) }))
  if (c.editedAt !== undefined) message['editedAt'] = iso(c.editedAt)
  if (c.deleted === true) message['deleted'] = true
  if (c.deletedAt !== undefined) message['deletedAt'] = iso(c.deletedAt)
  if (c.timerSeconds !== undefined) message['timerSeconds'] = c.timerSeconds
  if (m.expiresAt !== undefined) message['expiresAt'] = iso(m.expiresAt)
  const thumb = c.file?.thumbnail
  const thumbMime = c.file?.thumbnailMime
  return {
    message: message as unknown as ExportedMessage,
    ...(file === undefined ? {} : { file }),
    ...(thumb === undefined || thumbMime === undefined
      ? {}
      : { thumbnail: { data: thumb, mime: thumbMime } }),
  }
}

// Characters a file name must not bring into a path: separators, characters Windows refuses,
// control characters, and direction overrides (which can disguise an extension).
// eslint-disable-next-line no-control-regex
const unsafeNameChars = /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
const maxNameLength = 100

/** A name that is safe as one path segment on every system, keeping the extension. */
export function safeFileName(name: string): string {
  let clean = name
    .replace(unsafeNameChars, '_')
    .trim()
    .replace(/[. ]+$/, '')
  if (/^\.+$/.test(clean) || clean === '') clean = 'file'
  const chars = [...clean]
  if (chars.length > maxNameLength) {
    const dot = chars.lastIndexOf('.')
    const ext = dot > 0 && chars.length - dot <= 16 ? chars.slice(dot) : []
    clean = [...chars.slice(0, maxNameLength - ext.length), ...ext].join('')
  }
  return clean
}

/** Where a file's bytes go in the attachments ZIP: unique by file id, readable by name. */
export function attachmentPath(fileId: string, name: string): string {
  return `attachments/${fileId.replace(/[^A-Za-z0-9_-]/g, '_')}/${safeFileName(name)}`
}
