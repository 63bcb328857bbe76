import { TincanError } from '../errors.ts'
import type { FileControlMessage, FileOfferMessage } from '../../../shared/index.ts'
import type { FileLink, PeerManagerEvents } from '../peer/peer-manager.ts'
import type { FileDirection, FileState } from '../store/db.ts'
import type { Message, MessageContent } from '../store/history.ts'

// The file API's public shapes: what the UI reads from events and passes to the client.

/** Why a transfer failed, as the UI tells the user. */
export const fileErrorCodes = [
  /** This device's storage is full (IndexedDB quota): free space, then send or accept again. */
  'storage-full',
  /** The friend's storage is full. */
  'peer-storage-full',
  /** A chunk failed authentication: altered or not from this file. Nothing is kept. */
  'bad-data',
  /** Every chunk arrived but the whole file does not match the hash in the offer. */
  'hash-mismatch',
  /** The sender no longer has the file (deleted, or its storage was cleared). */
  'unavailable',
  /** The file could not be read from disk while preparing it (changed or removed). */
  'read-failed',
  /** The friend's side reported a failure (one of the above, on their device). */
  'peer-failed',
  'storage-failed',
  /** A file could not be shared in a group this user is no longer in. */
  'not-member',
] as const
export type FileErrorCode = (typeof fileErrorCodes)[number]

/** Where a transfer stands, for the UI. `waiting`: accepted and unfinished, but not moving now (no connection). */
export type TransferState = FileState | 'waiting'

/** A transfer as the UI shows it. */
export interface FileTransferView {
  /** Also the id of the file's message in the conversation. */
  readonly fileId: string
  readonly peer: string
  readonly direction: FileDirection
  readonly kind: 'file' | 'image'
  readonly name: string
  readonly mime: string
  readonly size: number
  readonly state: TransferState
  /** Preparing: bytes prepared. Otherwise: bytes stored at the receiver (the sender counts what the receiver confirmed). */
  readonly bytesDone: number
  readonly error: { readonly code: FileErrorCode; readonly message: string } | null
  /** `openFile` can give the bytes: received and verified, or the sender's own stored copy. */
  readonly available: boolean
  /** Chunk bytes sent (out) or received (in) on the wire since this page loaded, over all connections. */
  readonly wireBytes: number
  /** Plaintext bytes per chunk (resume points are in chunks). */
  readonly chunkSize: number
  /** Set for a file shared in a group (then `peer` is the conversation, `group:<id>`). */
  readonly groupId?: string
  /** A received group file: its author. */
  readonly from?: string
}

export interface FileProgress {
  readonly fileId: string
  readonly peer: string
  readonly direction: FileDirection
  readonly phase: 'preparing' | 'transferring'
  readonly bytesDone: number
  readonly bytesTotal: number
  readonly bytesPerSecond: number
  /** Seconds left at the current speed; null until the speed is known. */
  readonly etaSeconds: number | null
}

export interface FileErrorEvent {
  readonly fileId: string
  readonly peer: string
  readonly code: FileErrorCode
  readonly message: string
}

export interface FileTransferEvents extends Record<string, unknown> {
  /** A transfer appeared or changed state (offered, accepted, waiting, done, failed…). */
  file: FileTransferView
  /** At most every `progressIntervalMs` per transfer while it moves, and at its end. */
  'file-progress': FileProgress
  'file-error': FileErrorEvent
}

export interface SendFileOptions {
  /** Defaults to the File's name. */
  readonly name?: string
  /** Defaults to the File's type. */
  readonly mime?: string
  /** 'image' shows inline; defaults to 'image' for common image types, else 'file'. */
  readonly kind?: 'file' | 'image'
  /** A small preview made by the UI (≤ 32 KiB; JPEG, PNG or WebP), sent in the offer. */
  readonly thumbnail?: Uint8Array | Blob
  readonly thumbnailMime?: 'image/jpeg' | 'image/png' | 'image/webp'
  readonly width?: number
  readonly height?: number
}

/** Knobs for tests and benchmarks; the defaults suit browsers. */
export interface FileTuning {
  /** Chunk bytes the sender may have in flight beyond the receiver's last confirmation. */
  readonly windowBytes: number
  /** The receiver confirms storing after about this many bytes. */
  readonly ackEveryBytes: number
  /** The sender reads this much ahead from storage. */
  readonly readAheadBytes: number
  /** Bytes hashed, encrypted and written per step while preparing, and read per step when opening. */
  readonly batchBytes: number
  readonly progressIntervalMs: number
  /** A member sending a group file that sends nothing for this long is given up for another. */
  readonly silentSourceMs: number
}

export const defaultFileTuning: FileTuning = {
  windowBytes: 8 * 1024 * 1024,
  ackEveryBytes: 1024 * 1024,
  readAheadBytes: 2 * 1024 * 1024,
  batchBytes: 4 * 1024 * 1024,
  progressIntervalMs: 200,
  silentSourceMs: 30_000,
}

export const defaultAutoAcceptImagesUnderBytes = 10 * 1024 * 1024

export const fileTransferErrorCodes = [
  'not-found',
  /** The friend's key changed and has not been accepted. */
  'forbidden',
  /** A group file, and the user is no longer in the group. */
  'not-member',
  'bad-state',
  'too-large',
  'bad-thumbnail',
] as const
export type FileTransferErrorCode = (typeof fileTransferErrorCodes)[number]

/** Misuse of the API (unknown file, wrong state, oversized thumbnail); transfer failures are events. */
export class FileTransferError extends TincanError<FileTransferErrorCode> {
  override readonly name = 'FileTransferError'
}

/** What the transfers need from the messenger. */
export interface FileMessenger {
  sendFileOffer(
    peer: string,
    offer: Omit<FileOfferMessage, 'ts'>,
    type: string,
    content: MessageContent,
  ): Promise<Message>
  sendReliable(peer: string, frame: FileControlMessage): Promise<void>
  sendEphemeral(peer: string, frame: FileControlMessage): Promise<boolean>
}

/** What the transfers need from the peer manager. */
export interface FilePeers {
  fileLink(peer: string): FileLink | undefined
  isOpen(peer: string): boolean
  connect(peer: string): void
  on<K extends keyof PeerManagerEvents>(event: K, handler: (value: PeerManagerEvents[K]) => void): () => void
}
