import { fileChunkCount } from '../../../crypto/index.ts'
import type { FileAcceptMessage, FileCancelMessage } from '../../../shared/index.ts'
import { newMessageId } from '../messenger.ts'
import type { FileRecord, FileState } from '../store/db.ts'
import { isFinal, type FileMeta, type FileStore } from './file-store.ts'
import { groupOfFile } from './group-files.ts'
import type { IncomingSink } from './incoming.ts'
import { RateMeter } from './meter.ts'
import type { OutgoingStream } from './outgoing.ts'
import {
  FileTransferError,
  type FileErrorCode,
  type FileTransferEvents,
  type FileTransferView,
} from './types.ts'
import type { FileMessenger, FilePeers, FileTuning } from './types.ts'

/** A transfer this page follows: its record and meta, and what moves its bytes now. */
export interface Live {
  record: FileRecord
  meta: FileMeta
  /** out: the stream feeding the current connection. */
  stream?: OutgoingStream | undefined
  /** in: the stream decrypting and storing. */
  incoming?: IncomingSink | undefined
  opening?: Promise<void> | undefined
  lastAck: number
  gapAskedAt: number
  /** in, group file: the member sending us the chunks now. */
  source?: string | undefined
  /** in, group file: when that member was last asked or last sent a chunk. */
  heardAt?: number | undefined
  /** out: an accept that came while the offer was still being recorded here (taken up right after). */
  earlyAccept?: { readonly peer: string; readonly frame: FileAcceptMessage } | undefined
  /** in, group file: members who said they do not have it (asked again once their connection reopens, or after a while). */
  readonly refused: Set<string>
  readonly meter: RateMeter
  lastProgressMs: number
}

/** A transfer as this page starts following it: nothing moving, nothing acknowledged since the record. */
export function newLive(record: FileRecord, meta: FileMeta): Live {
  return {
    record,
    meta,
    lastAck: record.storedChunks,
    gapAskedAt: -1,
    refused: new Set(),
    meter: new RateMeter(),
    lastProgressMs: 0,
  }
}

/** What both sides of the transfers work with (transfers.ts makes it). */
export interface TransferDeps {
  readonly store: FileStore
  readonly messenger: FileMessenger
  readonly peers: FilePeers
  readonly tuning: FileTuning
  readonly now: () => number
}

export interface LiveTransfersOptions extends TransferDeps {
  /** Resolves once the unfinished transfers are loaded (transfers.ts). */
  readonly started: () => Promise<void>
  readonly closed: () => boolean
  readonly emit: <K extends keyof FileTransferEvents>(event: K, value: FileTransferEvents[K]) => void
  /** Tells the member sending us a group file to stop (receiving.ts). */
  readonly stopSource: (live: Live) => Promise<void>
}

/**
 * The transfers this page follows, by file id, in both directions: their state as stored, how
 * one ends (done, failed, cancelled), its progress, and the view the UI gets of it.
 */
export class LiveTransfers {
  /** The unfinished transfers, by file id. */
  readonly byId = new Map<string, Live>()
  /** Chunk bytes on the wire per file since this page loaded (kept after the transfer ends). */
  private readonly wireBytes = new Map<string, number>()

  constructor(private readonly o: LiveTransfersOptions) {}

  /**
   * Ends a transfer as failed: frees its data (a failed file cannot be trusted, and a full disk
   * needs the space back for the rest of the history), tells the user and, if `notify`, the friend.
   */
  async fail(live: Live, code: FileErrorCode, message: string, notify: boolean): Promise<void> {
    const { fileId, peer } = live.record
    if (isFinal(live.record.state)) return
    const wasOffered = live.record.state !== 'preparing'
    this.stopStreams(live)
    live.record.state = 'failed'
    live.record.error = { code, message }
    this.byId.delete(fileId)
    this.o.emit('file-error', { fileId, peer, code, message })
    await this.o.store
      .update(fileId, (r) => {
        if (isFinal(r.state)) return false
        r.state = 'failed'
        r.error = { code, message }
        return true
      })
      .catch(() => undefined)
    await this.o.store.deleteChunks(fileId).catch(() => undefined)
    live.record.storedChunks = 0
    this.emitView(live)
    if (groupOfFile(live.record) !== undefined) {
      if (notify) await this.o.stopSource(live).catch(() => undefined)
      return
    }
    if (notify && wasOffered) {
      const reason =
        code === 'storage-full' ? 'storage-full' : code === 'unavailable' ? 'unavailable' : 'failed'
      await this.sendCancel(peer, fileId, reason, true)
    }
  }

  async sendCancel(
    peer: string,
    fileId: string,
    reason: FileCancelMessage['reason'],
    reliable: boolean,
  ): Promise<void> {
    const frame: FileCancelMessage = {
      type: 'file-cancel',
      id: newMessageId(),
      ts: this.o.now(),
      fileId,
      reason,
    }
    if (reliable) await this.o.messenger.sendReliable(peer, frame)
    else await this.o.messenger.sendEphemeral(peer, frame)
  }

  /** Persists a state change; false if the transfer had ended already. */
  async setState(live: Live, state: FileState): Promise<boolean> {
    let changed = false
    const stored = await this.o.store.update(live.record.fileId, (r) => {
      if (isFinal(r.state)) return false
      r.state = state
      r.doneChunks = Math.max(r.doneChunks, live.record.doneChunks)
      changed = true
      return true
    })
    // Counters in memory run ahead of storage; only the state is taken from there.
    if (stored !== undefined) live.record.state = stored.state
    if (changed) this.emitView(live)
    return changed
  }

  stopStreams(live: Live): void {
    const stream = live.stream
    live.stream = undefined
    if (stream !== undefined) this.o.peers.fileLink(live.record.peer)?.scheduler.remove(stream)
    live.incoming?.stop()
    live.incoming = undefined
  }

  progress(live: Live, phase: 'preparing' | 'transferring', bytesDone: number, final = false): void {
    live.meter.record(bytesDone)
    const t = this.o.now()
    if (!final && bytesDone < live.record.size && t - live.lastProgressMs < this.o.tuning.progressIntervalMs)
      return
    live.lastProgressMs = t
    const r = live.record
    this.o.emit('file-progress', {
      fileId: r.fileId,
      peer: r.peer,
      direction: r.direction,
      phase,
      bytesDone,
      bytesTotal: r.size,
      bytesPerSecond: live.meter.bytesPerSecond(),
      etaSeconds: live.meter.etaSeconds(r.size),
    })
  }

  view(live: Live): FileTransferView {
    const r = live.record
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    const source = this.sourceOf(live)
    const groupId = groupOfFile(r)
    const moving =
      r.direction === 'out'
        ? live.stream !== undefined
        : source !== undefined && this.o.peers.isOpen(source) && live.incoming !== undefined
    const bytes = (chunks: number): number => Math.min(r.size, chunks * r.chunkSize)
    return {
      fileId: r.fileId,
      peer: r.peer,
      direction: r.direction,
      kind: r.kind,
      name: live.meta.name,
      mime: live.meta.mime,
      size: r.size,
      state: r.state === 'transferring' && !moving ? 'waiting' : r.state,
      bytesDone: bytes(r.state === 'preparing' ? r.storedChunks : r.doneChunks),
      error: r.error === null ? null : { code: r.error.code as FileErrorCode, message: r.error.message },
      // The sender's copy is deleted when the transfer is declined, cancelled or failed.
      available:
        r.storedChunks >= chunkCount &&
        (r.state === 'done' ||
          (r.direction === 'out' && (r.state === 'offered' || r.state === 'transferring'))),
      wireBytes: this.wireBytes.get(r.fileId) ?? 0,
      chunkSize: r.chunkSize,
      ...(groupId === undefined ? {} : { groupId }),
      ...(live.meta.from === undefined ? {} : { from: live.meta.from }),
    }
  }

  /** Who sends us the chunks of an incoming file: the friend, or the member serving a group file. */
  sourceOf(live: Live): string | undefined {
    return groupOfFile(live.record) === undefined ? live.record.peer : live.source
  }

  countWire(fileId: string, bytes: number): void {
    this.wireBytes.set(fileId, (this.wireBytes.get(fileId) ?? 0) + bytes)
  }

  emitView(live: Live): void {
    if (!this.o.closed()) this.o.emit('file', this.view(live))
  }

  withPeer(peer: string): Live[] {
    return [...this.byId.values()].filter((l) => l.record.peer === peer)
  }

  async get(fileId: string): Promise<Live | undefined> {
    await this.o.started()
    const live = this.byId.get(fileId)
    if (live !== undefined) return live
    const record = await this.o.store.get(fileId)
    if (record === undefined) return undefined
    const loaded = newLive(record, this.o.store.meta(record))
    if (!isFinal(record.state)) this.byId.set(fileId, loaded)
    return loaded
  }

  async mustGet(fileId: string): Promise<Live> {
    const live = await this.get(fileId)
    if (live === undefined) throw new FileTransferError('not-found', 'no such file')
    return live
  }

  async readable(fileId: string): Promise<{ record: FileRecord; meta: FileMeta }> {
    await this.o.started()
    const record = await this.o.store.get(fileId)
    if (record === undefined) throw new FileTransferError('not-found', 'no such file')
    const live = this.byId.get(fileId) ?? newLive(record, this.o.store.meta(record))
    live.record = record
    if (!this.view(live).available)
      throw new FileTransferError('bad-state', 'the file is not available on this device')
    return { record, meta: live.meta }
  }

  batchChunks(r: FileRecord): number {
    return Math.max(1, Math.floor(this.o.tuning.batchBytes / r.chunkSize))
  }

  background(work: Promise<unknown>): void {
    work.catch((e: unknown) => {
      if (!this.o.closed()) console.error('file transfer work failed', e)
    })
  }

  /** Forgets the bytes counted for a file (its record is gone). */
  forgetWire(fileId: string): void {
    this.wireBytes.delete(fileId)
  }
}

/** What a friend who asks for a file that ended here is told of how it ended. */
export function cancelReasonOf(live: Live): FileCancelMessage['reason'] {
  const code = live.record.error?.code
  if (live.record.state === 'cancelled' || live.record.state === 'declined' || code === undefined)
    return 'cancelled'
  return code === 'storage-full' ? 'storage-full' : code === 'unavailable' ? 'unavailable' : 'failed'
}
