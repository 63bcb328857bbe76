import {
  fileChunkCount,
  newFileId,
  newFileKey,
  toBase64Url,
  type FileCryptoParams,
} from '../../../crypto/index.ts'
import { peerLimits, type FileAcceptMessage, type FileOfferMessage } from '../../../shared/index.ts'
import type { FileRecord } from '../store/db.ts'
import type { MessageContent } from '../store/history.ts'
import { fileIdToBytes } from './chunk-frame.ts'
import {
  bytesOf,
  clampSide,
  cleanMime,
  cleanName,
  errorMessage,
  fileContent,
  hasRoomFor,
  isInlineImage,
} from './describe.ts'
import { blobSource, isFileSource, type FileSource } from './file-source.ts'
import { isFinal, isQuotaError, type FileMeta } from './file-store.ts'
import { GroupError } from '../groups/errors.ts'
import { groupOfFile, type GroupFileRoutes } from './group-files.ts'
import {
  cancelReasonOf,
  newLive,
  type Live,
  type LiveTransfers,
  type TransferDeps,
} from './live-transfers.ts'
import { OutgoingStream, prepareFile, PrepareError } from './outgoing.ts'
import { FileTransferError, type FileTransferView, type SendFileOptions } from './types.ts'

export interface FileSendingOptions extends TransferDeps {
  /** Files in groups (the group layer); throws when there is none. */
  readonly routes: () => GroupFileRoutes
}

/**
 * The sending side: a file is prepared once (hashed, encrypted and copied into storage), then
 * offered to a friend, or described in a group message; a friend's accept starts a stream from
 * storage from the chunk they ask for, and their acks move it on.
 */
export class FileSending {
  constructor(
    private readonly lives: LiveTransfers,
    private readonly o: FileSendingOptions,
  ) {}

  /** Records an outgoing file for `peer` (a friend, or `group:<id>`) and prepares it in the background. */
  async begin(
    peer: string,
    chunkSize: number,
    file: Blob | FileSource,
    options: SendFileOptions,
  ): Promise<FileTransferView> {
    const source = isFileSource(file) ? file : blobSource(file, options.name)
    if (source.size > peerLimits.maxFileBytes)
      throw new FileTransferError('too-large', 'files are limited to 1 TiB')
    const thumbnail = options.thumbnail === undefined ? undefined : await bytesOf(options.thumbnail)
    if (
      thumbnail !== undefined &&
      (thumbnail.length === 0 || thumbnail.length > peerLimits.maxThumbnailBytes)
    )
      throw new FileTransferError(
        'bad-thumbnail',
        `a thumbnail must be 1 byte to ${peerLimits.maxThumbnailBytes / 1024} KiB`,
      )
    const mime = cleanMime(options.mime ?? source.type)
    const kind =
      (options.kind ?? (isInlineImage(mime) ? 'image' : 'file')) === 'image' && isInlineImage(mime)
        ? 'image'
        : 'file'
    const fileIdBytes = newFileId()
    const fileId = toBase64Url(fileIdBytes)
    const key = newFileKey()
    const meta: FileMeta = {
      name: cleanName(options.name ?? source.name),
      mime,
      hash: '',
      key: toBase64Url(key),
      ...(thumbnail === undefined
        ? {}
        : { thumbnail: toBase64Url(thumbnail), thumbnailMime: options.thumbnailMime ?? 'image/jpeg' }),
      ...(options.width === undefined ? {} : { width: clampSide(options.width) }),
      ...(options.height === undefined ? {} : { height: clampSide(options.height) }),
    }
    const record: FileRecord = {
      fileId,
      peer,
      direction: 'out',
      kind,
      size: source.size,
      chunkSize,
      createdAt: this.o.now(),
      state: 'preparing',
      storedChunks: 0,
      doneChunks: 0,
      error: null,
      sealed: this.o.store.seal(fileId, meta),
    }
    const live = newLive(record, meta)
    this.lives.byId.set(fileId, live)
    if (!(await hasRoomFor(source.size))) {
      // Checked up front where the browser can tell; a write that fails later is caught too.
      await this.o.store.create(record)
      await this.lives.fail(
        live,
        'storage-full',
        'not enough storage on this device to send this file',
        false,
      )
      return this.lives.view(live)
    }
    await this.o.store.create(record)
    this.lives.emitView(live)
    this.lives.background(
      this.prepare(live, source, { key, fileId: fileIdBytes, fileSize: source.size, chunkSize }),
    )
    return this.lives.view(live)
  }

  private async prepare(live: Live, source: FileSource, params: FileCryptoParams): Promise<void> {
    const { fileId, peer } = live.record
    const chunkCount = fileChunkCount(params.fileSize, params.chunkSize)
    let hash: Uint8Array
    try {
      hash = await prepareFile({
        store: this.o.store,
        fileId,
        params,
        source,
        chunkCount,
        batchBytes: this.o.tuning.batchBytes,
        onProgress: (bytes) => {
          live.record.storedChunks = Math.ceil(bytes / params.chunkSize)
          this.lives.progress(live, 'preparing', bytes)
        },
      })
    } catch (e: unknown) {
      if (e instanceof PrepareError && e.code === 'cancelled') return
      if (e instanceof PrepareError) await this.lives.fail(live, 'read-failed', e.message, false)
      else if (isQuotaError(e))
        await this.lives.fail(live, 'storage-full', 'storage is full: the file could not be prepared', false)
      else await this.lives.fail(live, 'storage-failed', errorMessage(e), false)
      return
    }
    const meta: FileMeta = { ...live.meta, hash: toBase64Url(hash) }
    live.meta = meta
    const content = fileContent(fileId, live.record, meta)
    const offer: Omit<FileOfferMessage, 'ts'> = {
      type: 'file-offer',
      id: fileId,
      kind: live.record.kind,
      name: meta.name,
      size: live.record.size,
      mime: meta.mime,
      hash: meta.hash,
      key: meta.key,
      chunkSize: live.record.chunkSize,
      ...(meta.thumbnail === undefined ? {} : { thumbnail: meta.thumbnail }),
      ...(meta.thumbnailMime === undefined ? {} : { thumbnailMime: meta.thumbnailMime }),
      ...(meta.width === undefined ? {} : { width: meta.width }),
      ...(meta.height === undefined ? {} : { height: meta.height }),
    }
    const groupId = groupOfFile(live.record)
    if (groupId !== undefined) {
      await this.post(live, groupId, offer, content)
      return
    }
    // The offer goes into the outbox (sent now, or when the friend is next reachable) first, so
    // a transfer recorded as offered always has its offer on the way.
    await this.o.messenger.sendFileOffer(peer, offer, live.record.kind, content)
    const record = await this.o.store.update(fileId, (r) => {
      if (r.state !== 'preparing') return false
      r.state = 'offered'
      r.sealed = this.o.store.seal(fileId, meta)
      return true
    })
    if (record === undefined || record.state !== 'offered') {
      // Cancelled while the offer was being written: tell the friend.
      await this.lives.sendCancel(peer, fileId, 'cancelled', true)
      return
    }
    live.record.state = record.state
    live.record.storedChunks = record.storedChunks
    this.lives.emitView(live)
    const early = live.earlyAccept
    live.earlyAccept = undefined
    if (early !== undefined) this.onAccept(early.peer, early.frame, live)
  }

  /**
   * A prepared group file: its description goes to the group as a signed message and the file is
   * `done` here — members fetch it from this device or any member who has it already.
   */
  private async post(
    live: Live,
    groupId: string,
    offer: Omit<FileOfferMessage, 'ts'>,
    content: MessageContent,
  ): Promise<void> {
    const { fileId } = live.record
    // Sealed with its hash first, so the file can be served the moment its message is out.
    const chunkCount = fileChunkCount(live.record.size, live.record.chunkSize)
    const ready = await this.o.store.update(fileId, (r) => {
      if (r.state !== 'preparing') return false
      r.sealed = this.o.store.seal(fileId, live.meta)
      return true
    })
    if (ready?.state !== 'preparing') return
    try {
      await this.o.routes().post(groupId, offer, live.record.kind, content)
    } catch (e: unknown) {
      // Removed from the group while the file was prepared (or its message could not be stored):
      // it was never shared.
      const out = GroupError.is(e, 'not-member') || GroupError.is(e, 'not-found')
      await this.lives.fail(live, out ? 'not-member' : 'storage-failed', errorMessage(e), false)
      return
    }
    live.record.doneChunks = chunkCount
    if (await this.lives.setState(live, 'done')) this.lives.byId.delete(fileId)
  }

  onAccept(peer: string, frame: FileAcceptMessage, live: Live): void {
    const r = live.record
    if (r.direction !== 'out') return
    if (isFinal(r.state)) {
      // The friend did not hear how it ended (or raced it): say it again.
      if (r.state !== 'done')
        this.lives.background(this.lives.sendCancel(peer, r.fileId, cancelReasonOf(live), false))
      return
    }
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    if (r.state === 'preparing') {
      // The offer is out but not yet recorded as offered (the friend answered within that
      // moment): taken up as soon as it is, or the friend would wait for chunks that never come.
      if (live.meta.hash !== '') live.earlyAccept = { peer, frame }
      return
    }
    const link = this.o.peers.fileLink(peer)
    if (link === undefined || frame.fromChunk > chunkCount) return
    if (r.state === 'offered') {
      r.state = 'transferring'
      this.lives.background(this.persistTransferring(live))
    }
    this.lives.stopStreams(live)
    live.meter.reset()
    live.record.doneChunks = Math.max(live.record.doneChunks, frame.fromChunk)
    const chunksPer = (bytes: number): number => Math.max(2, Math.ceil(bytes / r.chunkSize))
    const stream: OutgoingStream = new OutgoingStream({
      store: this.o.store,
      fileId: r.fileId,
      fileIdBytes: fileIdToBytes(r.fileId),
      chunkCount,
      from: frame.fromChunk,
      maxMessageBytes: link.maxMessageBytes,
      scheduler: link.scheduler,
      windowChunks: chunksPer(this.o.tuning.windowBytes),
      readAheadChunks: chunksPer(this.o.tuning.readAheadBytes),
      onSent: (bytes) => this.lives.countWire(r.fileId, bytes),
      onDetached: () => {
        if (live.stream !== stream) return
        live.stream = undefined
        this.lives.emitView(live)
      },
      onUnavailable: () => {
        this.lives.background(
          this.lives.fail(live, 'unavailable', 'the file is no longer stored on this device', true),
        )
      },
    })
    live.stream = stream
    link.scheduler.add(stream)
    this.lives.emitView(live)
  }

  private async persistTransferring(live: Live): Promise<void> {
    await this.o.store.update(live.record.fileId, (r) => {
      if (r.state !== 'offered') return false
      r.state = 'transferring'
      return true
    })
  }

  onAck(live: Live, chunks: number): void {
    const r = live.record
    if (r.direction !== 'out' || r.state !== 'transferring') return
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    const done = Math.min(chunks, chunkCount)
    if (done <= r.doneChunks) return
    r.doneChunks = done
    live.stream?.acknowledge(done)
    this.lives.progress(live, 'transferring', Math.min(r.size, done * r.chunkSize))
  }

  /** The friend declined our file: its stored copy goes. */
  async onDecline(live: Live): Promise<void> {
    if (live.record.direction !== 'out' || isFinal(live.record.state)) return
    this.lives.stopStreams(live)
    await this.lives.setState(live, 'declined')
    this.lives.byId.delete(live.record.fileId)
    await this.o.store.deleteChunks(live.record.fileId)
  }

  /** The friend holds the whole file and verified it. */
  async onDone(live: Live): Promise<void> {
    if (live.record.direction !== 'out' || isFinal(live.record.state)) return
    this.lives.stopStreams(live)
    live.record.doneChunks = fileChunkCount(live.record.size, live.record.chunkSize)
    if (await this.lives.setState(live, 'done'))
      this.lives.progress(live, 'transferring', live.record.size, true)
    this.lives.byId.delete(live.record.fileId)
  }
}
