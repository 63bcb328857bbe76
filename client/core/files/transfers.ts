import {
  fileChunkCount,
  fromBase64Url,
  newFileId,
  newFileKey,
  toBase64Url,
  type FileCryptoParams,
} from '../../../crypto/index.ts'
import {
  peerLimits,
  type FileAcceptMessage,
  type GroupFileFrame,
  type FileCancelMessage,
  type FileControlMessage,
  type FileOfferMessage,
} from '../../../shared/index.ts'
import { Emitter } from '../emitter.ts'
import { newMessageId, type FileMessageHandler } from '../messenger.ts'
import { capMaxMessageBytes } from '../peer/link.ts'
import type { FileRecord, FileState } from '../store/db.ts'
import type { MessageContent } from '../store/history.ts'
import { chunkSizeFor, fileIdToBytes, readChunkFrame } from './chunk-frame.ts'
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
import { groupConversationId, GroupFileServer, groupOfFile, type GroupFileRoutes } from './group-files.ts'
import { isFinal, isQuotaError, type FileMeta, type FileStore } from './file-store.ts'
import { openIncomingHere, type IncomingFailure, type IncomingSink, type OpenIncoming } from './incoming.ts'
import { RateMeter } from './meter.ts'
import { OutgoingStream, prepareFile, PrepareError } from './outgoing.ts'
import { readStoredFile, storedFileBlob } from './read.ts'
import {
  defaultAutoAcceptImagesUnderBytes,
  defaultFileTuning,
  FileTransferError,
  type FileErrorCode,
  type FileMessenger,
  type FilePeers,
  type FileTransferEvents,
  type FileTransferView,
  type FileTuning,
  type SendFileOptions,
} from './types.ts'

export * from './types.ts'
export { thumbnailBytes } from './describe.ts'
export type { GroupFileRoutes } from './group-files.ts'

export interface FileTransfersOptions {
  readonly store: FileStore
  readonly messenger: FileMessenger
  readonly peers: FilePeers
  readonly canSend: (peer: string) => Promise<boolean>
  readonly autoAcceptImagesUnderBytes?: number
  readonly tuning?: Partial<FileTuning>
  readonly now?: () => number
  /** Where received chunks are decrypted, hashed and stored: here by default, or in a Worker (see receive-worker-client.ts). */
  readonly openIncoming?: OpenIncoming
  /** Files in groups (late-bound: the group layer is made after the transfers). */
  readonly groups?: () => GroupFileRoutes | undefined
}

/** A group file with no member to fetch from is asked for again this often (someone may have finished it meanwhile). */
const groupRetryMs = 15_000

/** Until a connection says otherwise, assume what every current browser accepts. */
const assumedMaxMessageBytes = capMaxMessageBytes

interface Live {
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
  /** in, group file: members who said they do not have it (asked again once their connection reopens, or after a while). */
  readonly refused: Set<string>
  readonly meter: RateMeter
  lastProgressMs: number
}

/**
 * Files and images between friends. The offer (with the file key) and every decision travel
 * inside the ratchet; chunks travel as binary frames on the same data channel, scheduled behind
 * chat and shared round-robin between transfers. The sender stores the encrypted file when it
 * is offered and sends from storage; the receiver stores each verified chunk as it arrives, so
 * a transfer resumes where it stopped after a lost connection or a reload. See docs/PROTOCOL.md.
 */
export class FileTransfers extends Emitter<FileTransferEvents> implements FileMessageHandler {
  private readonly store: FileStore
  private readonly lives = new Map<string, Live>()
  private readonly knownMaxMessageBytes = new Map<string, number>()
  /** Chunk bytes on the wire per file since this page loaded (kept after the transfer ends). */
  private readonly wireBytes = new Map<string, number>()
  private readonly tuning: FileTuning
  private readonly now: () => number
  private readonly offs: (() => void)[] = []
  private readonly started: Promise<void>
  private readonly server: GroupFileServer
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  /** Images from friends up to this size are accepted without asking (0: never). */
  autoAcceptImagesUnderBytes: number

  constructor(private readonly o: FileTransfersOptions) {
    super()
    this.store = o.store
    this.tuning = { ...defaultFileTuning, ...o.tuning }
    this.now = o.now ?? Date.now
    this.autoAcceptImagesUnderBytes = o.autoAcceptImagesUnderBytes ?? defaultAutoAcceptImagesUnderBytes
    this.server = new GroupFileServer({
      store: this.store,
      peers: o.peers,
      routes: {
        canPost: (g) => this.routes().canPost(g),
        members: (g) => this.routes().members(g),
        isMember: (g, u) => this.routes().isMember(g, u),
        connect: (u) => this.routes().connect(u),
        send: (peer, frame) => this.routes().send(peer, frame),
        post: (g, offer, type, content) => this.routes().post(g, offer, type, content),
      },
      tuning: this.tuning,
      countWire: (fileId, bytes) => this.countWire(fileId, bytes),
      report: (work) => this.background(work),
    })
    this.offs.push(
      o.peers.on('file-data', ({ peer, data }) => this.onData(peer, data)),
      o.peers.on('open', ({ peer }) => this.background(this.onOpen(peer))),
      o.peers.on('state', ({ peer, state }) => {
        if (state !== 'idle') return
        for (const live of this.livesOf(peer)) this.emitView(live)
        // A group file whose member went away is fetched from another one.
        for (const live of this.lives.values())
          if (live.source === peer) {
            live.source = undefined
            this.background(this.resumeIncoming(live))
          }
      }),
    )
    this.started = this.start()
    this.background(this.started)
  }

  /** Loads unfinished transfers; a file whose preparation a reload interrupted is dropped. */
  private async start(): Promise<void> {
    for (const record of await this.store.active()) {
      if (record.state === 'preparing') {
        await this.store.remove(record.fileId)
        continue
      }
      this.lives.set(record.fileId, this.newLive(record, this.store.meta(record)))
    }
  }

  private newLive(record: FileRecord, meta: FileMeta): Live {
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

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    for (const off of this.offs.splice(0)) off()
    for (const live of this.lives.values()) this.stopStreams(live)
    this.server.close()
  }

  private routes(): GroupFileRoutes {
    const routes = this.o.groups?.()
    if (routes === undefined) throw new FileTransferError('bad-state', 'group files are not available')
    return routes
  }

  // ---- API ----

  /**
   * Offers a file to a friend. Resolves once the transfer exists (state `preparing`); the file is
   * then hashed, encrypted and copied into storage, and offered (`file` events follow).
   * @throws FileTransferError 'forbidden' (friend's key changed), 'too-large', 'bad-thumbnail'.
   */
  async sendFile(
    peer: string,
    file: Blob | FileSource,
    options: SendFileOptions = {},
  ): Promise<FileTransferView> {
    await this.started
    if (!(await this.o.canSend(peer)))
      throw new FileTransferError('forbidden', `${peer}'s key changed: review it before sending`)
    const link = this.o.peers.fileLink(peer)
    const chunkSize = chunkSizeFor(
      link?.maxMessageBytes ?? this.knownMaxMessageBytes.get(peer) ?? assumedMaxMessageBytes,
    )
    return this.begin(peer, chunkSize, file, options)
  }

  /**
   * Shares a file in a group: it is prepared once, its description (with its key) goes to every
   * member as a signed group message, and each member fetches the chunks from any member who holds
   * the whole file (this device first). Resolves once the transfer exists (state `preparing`); it
   * is `done` once posted.
   * @throws FileTransferError 'forbidden' (not a member now), 'too-large', 'bad-thumbnail'.
   */
  async sendGroupFile(
    groupId: string,
    file: Blob | FileSource,
    options: SendFileOptions = {},
  ): Promise<FileTransferView> {
    await this.started
    if (!this.routes().canPost(groupId))
      throw new FileTransferError('forbidden', 'you are not a member of this group now')
    // Chunks are cut into frames to fit each connection, so one size serves every member.
    return this.begin(groupConversationId(groupId), chunkSizeFor(capMaxMessageBytes), file, options)
  }

  /** Several files at once in a group; each is prepared and posted on its own. */
  async sendGroupFiles(groupId: string, files: readonly (Blob | FileSource)[]): Promise<FileTransferView[]> {
    return Promise.all(files.map((f) => this.sendGroupFile(groupId, f)))
  }

  /** Records an outgoing file for `peer` (a friend, or `group:<id>`) and prepares it in the background. */
  private async begin(
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
      createdAt: this.now(),
      state: 'preparing',
      storedChunks: 0,
      doneChunks: 0,
      error: null,
      sealed: this.store.seal(fileId, meta),
    }
    const live = this.newLive(record, meta)
    this.lives.set(fileId, live)
    if (!(await hasRoomFor(source.size))) {
      // Checked up front where the browser can tell; a write that fails later is caught too.
      await this.store.create(record)
      await this.fail(live, 'storage-full', 'not enough storage on this device to send this file', false)
      return this.view(live)
    }
    await this.store.create(record)
    this.emitView(live)
    this.background(
      this.prepare(live, source, { key, fileId: fileIdBytes, fileSize: source.size, chunkSize }),
    )
    return this.view(live)
  }

  /** Several files at once; each is prepared and offered on its own. */
  async sendFiles(peer: string, files: readonly (Blob | FileSource)[]): Promise<FileTransferView[]> {
    return Promise.all(files.map((f) => this.sendFile(peer, f)))
  }

  /** Accepts an offered file: it starts (or resumes) as soon as the friend is connected. */
  async accept(fileId: string): Promise<void> {
    const live = await this.mustGet(fileId)
    if (live.record.direction !== 'in')
      throw new FileTransferError('bad-state', 'only a received offer can be accepted')
    if (live.record.state === 'transferring') return
    if (live.record.state !== 'offered')
      throw new FileTransferError('bad-state', `the file is ${live.record.state}`)
    if (!(await hasRoomFor(live.record.size))) {
      await this.fail(live, 'storage-full', 'not enough storage on this device for this file', true)
      return
    }
    await this.setState(live, 'transferring')
    await this.resumeIncoming(live)
  }

  async decline(fileId: string): Promise<void> {
    const live = await this.mustGet(fileId)
    if (live.record.direction !== 'in' || live.record.state !== 'offered')
      throw new FileTransferError('bad-state', 'only an offer waiting for a decision can be declined')
    await this.setState(live, 'declined')
    this.lives.delete(fileId)
    // In a group nobody waits for an answer: the file stays with whoever holds it.
    if (groupOfFile(live.record) !== undefined) return
    await this.o.messenger.sendReliable(live.record.peer, {
      type: 'file-decline',
      id: newMessageId(),
      ts: this.now(),
      fileId,
    })
  }

  /** Cancels on either side, in any unfinished state; the friend is told. */
  async cancel(fileId: string): Promise<void> {
    const live = await this.mustGet(fileId)
    const was = live.record.state
    if (isFinal(was)) return
    this.stopStreams(live)
    await this.setState(live, 'cancelled')
    this.lives.delete(fileId)
    await this.store.deleteChunks(fileId)
    if (groupOfFile(live.record) !== undefined) await this.stopSource(live)
    else if (was !== 'preparing') await this.sendCancel(live.record.peer, fileId, 'cancelled', true)
  }

  /** Frees a file's stored bytes (its message stays). An unfinished transfer is cancelled. */
  async deleteFile(fileId: string): Promise<void> {
    const live = await this.mustGet(fileId)
    if (!isFinal(live.record.state)) await this.cancel(fileId)
    this.server.stopFile(fileId)
    await this.store.deleteChunks(fileId)
    const record = await this.store.get(fileId)
    if (record !== undefined) this.emit('file', this.view(this.newLive(record, live.meta)))
  }

  /**
   * The file's message was deleted or disappeared: an unfinished transfer stops (the friend is
   * told, as for a cancel) and the record, key, thumbnail and stored chunks go.
   */
  async forget(fileId: string): Promise<void> {
    await this.started
    const live = this.lives.get(fileId)
    if (live !== undefined && !isFinal(live.record.state)) await this.cancel(fileId)
    this.server.stopFile(fileId)
    this.lives.delete(fileId)
    this.wireBytes.delete(fileId)
    await this.store.remove(fileId)
  }

  async transfer(fileId: string): Promise<FileTransferView | undefined> {
    const live = await this.get(fileId)
    return live && this.view(live)
  }

  /** A friend's transfers (or every unfinished one), oldest first. */
  async transfers(peer?: string): Promise<FileTransferView[]> {
    await this.started
    if (peer === undefined)
      return [...this.lives.values()]
        .sort((a, b) => a.record.createdAt - b.record.createdAt)
        .map((l) => this.view(l))
    const records = await this.store.forPeer(peer)
    return records.map((r) => this.view(this.lives.get(r.fileId) ?? this.newLive(r, this.store.meta(r))))
  }

  /**
   * The file's plaintext as a Blob (decrypted from storage in batches; the browser keeps blob data
   * off the JavaScript heap). Only for a verified received file or one's own sent file.
   * @throws FileTransferError 'not-found' / 'bad-state' when the bytes are not (or no longer) available.
   */
  async openFile(fileId: string): Promise<Blob> {
    const { record, meta } = await this.readable(fileId)
    return storedFileBlob(this.store, record, meta, this.batchChunks(record))
  }

  /** The file's plaintext chunk by chunk, without ever holding the whole file. */
  async *readFile(fileId: string): AsyncGenerator<Uint8Array, void, undefined> {
    const { record, meta } = await this.readable(fileId)
    yield* readStoredFile(this.store, record, meta, this.batchChunks(record))
  }

  /** The same as a ReadableStream (to pipe into a file picked with `showSaveFilePicker`). */
  fileStream(fileId: string): ReadableStream<Uint8Array> {
    const chunks = this.readFile(fileId)
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next()
        if (next.done === true) controller.close()
        else controller.enqueue(next.value)
      },
      async cancel() {
        await chunks.return(undefined)
      },
    })
  }

  /** Connects to friends with unfinished transfers (after a reload, or when they come online). */
  reconnect(peer?: string): void {
    const peers = new Set<string>()
    for (const live of this.lives.values())
      if (
        live.record.state === 'transferring' &&
        groupOfFile(live.record) === undefined &&
        (peer === undefined || live.record.peer === peer)
      )
        peers.add(live.record.peer)
    for (const p of peers) this.o.peers.connect(p)
  }

  // ---- sending ----

  private async prepare(live: Live, source: FileSource, params: FileCryptoParams): Promise<void> {
    const { fileId, peer } = live.record
    const chunkCount = fileChunkCount(params.fileSize, params.chunkSize)
    let hash: Uint8Array
    try {
      hash = await prepareFile({
        store: this.store,
        fileId,
        params,
        source,
        chunkCount,
        batchBytes: this.tuning.batchBytes,
        onProgress: (bytes) => {
          live.record.storedChunks = Math.ceil(bytes / params.chunkSize)
          this.progress(live, 'preparing', bytes)
        },
      })
    } catch (e: unknown) {
      if (e instanceof PrepareError && e.code === 'cancelled') return
      if (e instanceof PrepareError) await this.fail(live, 'read-failed', e.message, false)
      else if (isQuotaError(e))
        await this.fail(live, 'storage-full', 'storage is full: the file could not be prepared', false)
      else await this.fail(live, 'storage-failed', errorMessage(e), false)
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
    const record = await this.store.update(fileId, (r) => {
      if (r.state !== 'preparing') return false
      r.state = 'offered'
      r.sealed = this.store.seal(fileId, meta)
      return true
    })
    if (record === undefined || record.state !== 'offered') {
      // Cancelled while the offer was being written: tell the friend.
      await this.sendCancel(peer, fileId, 'cancelled', true)
      return
    }
    live.record.state = record.state
    live.record.storedChunks = record.storedChunks
    this.emitView(live)
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
    const ready = await this.store.update(fileId, (r) => {
      if (r.state !== 'preparing') return false
      r.sealed = this.store.seal(fileId, live.meta)
      return true
    })
    if (ready?.state !== 'preparing') return
    try {
      await this.routes().post(groupId, offer, live.record.kind, content)
    } catch (e: unknown) {
      // Removed from the group while the file was prepared: it was never shared.
      await this.fail(live, 'not-member', errorMessage(e), false)
      return
    }
    live.record.doneChunks = chunkCount
    if (await this.setState(live, 'done')) this.lives.delete(fileId)
  }

  private onAccept(peer: string, frame: FileAcceptMessage, live: Live): void {
    const r = live.record
    if (r.direction !== 'out') return
    if (isFinal(r.state)) {
      // The friend did not hear how it ended (or raced it): say it again.
      if (r.state !== 'done') this.background(this.sendCancel(peer, r.fileId, cancelReasonOf(live), false))
      return
    }
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    const link = this.o.peers.fileLink(peer)
    if (r.state === 'preparing' || link === undefined || frame.fromChunk > chunkCount) return
    if (r.state === 'offered') {
      r.state = 'transferring'
      this.background(this.persistTransferring(live))
    }
    this.stopStreams(live)
    live.meter.reset()
    live.record.doneChunks = Math.max(live.record.doneChunks, frame.fromChunk)
    const chunksPer = (bytes: number): number => Math.max(2, Math.ceil(bytes / r.chunkSize))
    const stream: OutgoingStream = new OutgoingStream({
      store: this.store,
      fileId: r.fileId,
      fileIdBytes: fileIdToBytes(r.fileId),
      chunkCount,
      from: frame.fromChunk,
      maxMessageBytes: link.maxMessageBytes,
      scheduler: link.scheduler,
      windowChunks: chunksPer(this.tuning.windowBytes),
      readAheadChunks: chunksPer(this.tuning.readAheadBytes),
      onSent: (bytes) => this.countWire(r.fileId, bytes),
      onDetached: () => {
        if (live.stream !== stream) return
        live.stream = undefined
        this.emitView(live)
      },
      onUnavailable: () => {
        this.background(this.fail(live, 'unavailable', 'the file is no longer stored on this device', true))
      },
    })
    live.stream = stream
    link.scheduler.add(stream)
    this.emitView(live)
  }

  private async persistTransferring(live: Live): Promise<void> {
    await this.store.update(live.record.fileId, (r) => {
      if (r.state !== 'offered') return false
      r.state = 'transferring'
      return true
    })
  }

  private onAck(live: Live, chunks: number): void {
    const r = live.record
    if (r.direction !== 'out' || r.state !== 'transferring') return
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    const done = Math.min(chunks, chunkCount)
    if (done <= r.doneChunks) return
    r.doneChunks = done
    live.stream?.acknowledge(done)
    this.progress(live, 'transferring', Math.min(r.size, done * r.chunkSize))
  }

  // ---- receiving ----

  /** Brings the receiving side up (reading back what is stored) and asks for the rest. */
  private async resumeIncoming(live: Live): Promise<void> {
    const r = live.record
    const groupId = groupOfFile(r)
    if (groupId !== undefined) {
      if (r.state !== 'transferring') return
      if (!this.routes().canPost(groupId)) {
        // Removed or left: members serve only those in the signed member list.
        await this.fail(live, 'not-member', 'you are no longer in this group', false)
        return
      }
      live.source = this.pickSource(live, groupId)
      if (live.source === undefined) {
        this.emitView(live)
        return
      }
    } else if (!this.o.peers.isOpen(r.peer)) {
      this.o.peers.connect(r.peer)
      this.emitView(live)
      return
    }
    // Already under way: its caller reports any failure.
    if (live.opening !== undefined) return live.opening.catch(() => undefined)
    live.opening = (async () => {
      if (live.incoming === undefined) {
        const open = this.o.openIncoming ?? openIncomingHere
        const sink = await open(this.incomingOptions(live), r.storedChunks, this.batchChunks(r))
        // Cancelled or failed while storage was read back: this sink must not write anything.
        if (live.record.state !== 'transferring') sink.stop()
        else live.incoming = sink
      } else {
        await live.incoming.settled()
        live.incoming.resetPieces()
      }
    })()
    try {
      await live.opening
    } catch (e: unknown) {
      // Storage could not be read back (or the worker failed): the user can send it again.
      await this.fail(live, isQuotaError(e) ? 'storage-full' : 'storage-failed', errorMessage(e), true)
      return
    } finally {
      live.opening = undefined
    }
    const incoming = live.incoming
    if (incoming === undefined || live.record.state !== 'transferring') return
    live.gapAskedAt = -1
    live.meter.reset()
    await this.askFrom(live, incoming.resumeFrom)
    this.emitView(live)
  }

  /** Asks whoever sends us the file for the chunks from `from` on. */
  private async askFrom(live: Live, from: number): Promise<void> {
    const r = live.record
    const groupId = groupOfFile(r)
    if (groupId === undefined) {
      await this.o.messenger.sendEphemeral(r.peer, {
        type: 'file-accept',
        id: newMessageId(),
        ts: this.now(),
        fileId: r.fileId,
        fromChunk: from,
      })
      return
    }
    const source = live.source
    if (source === undefined) return
    if (!(await this.routes().send(source, { type: 'group-file-get', g: groupId, f: r.fileId, c: from }))) {
      if (live.source === source) live.source = undefined
    }
  }

  /**
   * The member to fetch a group file from: the one already sending it, else its author, else any
   * connected member who has not said it lacks the file. With none connected, the author is
   * called and the others are asked again later.
   */
  private pickSource(live: Live, groupId: string): string | undefined {
    const routes = this.routes()
    const open = (u: string): boolean => this.o.peers.isOpen(u) && routes.isMember(groupId, u)
    if (live.source !== undefined && open(live.source)) return live.source
    const author = live.meta.from
    const members = routes.members(groupId)
    const order = author === undefined ? members : [author, ...members.filter((m) => m !== author)]
    const found = order.find((u) => open(u) && !live.refused.has(u))
    if (found !== undefined) return found
    if (author !== undefined && !this.o.peers.isOpen(author)) routes.connect(author)
    this.retryLater()
    return undefined
  }

  /** Group files with nobody to fetch from are asked for again, from every member, in a while. */
  private retryLater(): void {
    if (this.retryTimer !== undefined || this.closed) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      for (const live of this.lives.values()) {
        if (groupOfFile(live.record) === undefined || live.source !== undefined) continue
        live.refused.clear()
        this.background(this.resumeIncoming(live))
      }
    }, groupRetryMs)
  }

  /** Tells the member sending us a group file to stop (done, cancelled or failed here). */
  private async stopSource(live: Live): Promise<void> {
    const groupId = groupOfFile(live.record)
    const source = live.source
    live.source = undefined
    if (groupId === undefined || source === undefined) return
    await this.routes().send(source, { type: 'group-file-stop', g: groupId, f: live.record.fileId })
  }

  private incomingOptions(live: Live) {
    const r = live.record
    return {
      store: this.store,
      fileId: r.fileId,
      params: {
        key: fromBase64Url(live.meta.key, 32, 'file key'),
        fileId: fileIdToBytes(r.fileId),
        fileSize: r.size,
        chunkSize: r.chunkSize,
      },
      chunkCount: fileChunkCount(r.size, r.chunkSize),
      expectedHash: fromBase64Url(live.meta.hash, 32, 'file hash'),
      onStored: (stored: number) => this.onStored(live, stored),
      onComplete: () => this.background(this.onComplete(live)),
      onFailed: (code: IncomingFailure, e: unknown) => this.background(this.onIncomingFailed(live, code, e)),
    }
  }

  private onData(peer: string, body: Uint8Array): void {
    const piece = readChunkFrame(body)
    if (piece === null) return
    const live = this.lives.get(piece.fileId)
    // Only the friend the file came from (or the member serving it), and only once accepted.
    if (live === undefined || this.sourceOf(live) !== peer || live.incoming === undefined) return
    this.countWire(piece.fileId, body.length + 1)
    if (live.incoming.push(piece) === 'gap' && live.gapAskedAt !== live.incoming.resumeFrom) {
      live.gapAskedAt = live.incoming.resumeFrom
      this.background(this.askFrom(live, live.incoming.resumeFrom))
    }
  }

  private onStored(live: Live, stored: number): void {
    const r = live.record
    r.storedChunks = stored
    r.doneChunks = stored
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    this.progress(live, 'transferring', Math.min(r.size, stored * r.chunkSize))
    const every = Math.max(1, Math.floor(this.tuning.ackEveryBytes / r.chunkSize))
    if (stored - live.lastAck >= every || stored === chunkCount) {
      live.lastAck = stored
      const groupId = groupOfFile(r)
      if (groupId === undefined)
        this.background(
          this.o.messenger.sendEphemeral(r.peer, {
            type: 'file-ack',
            id: newMessageId(),
            ts: this.now(),
            fileId: r.fileId,
            chunks: stored,
          }),
        )
      else if (live.source !== undefined)
        this.background(
          this.routes().send(live.source, { type: 'group-file-ack', g: groupId, f: r.fileId, c: stored }),
        )
    }
  }

  private async onComplete(live: Live): Promise<void> {
    const { fileId, peer } = live.record
    live.incoming = undefined
    if (!(await this.setState(live, 'done'))) return
    this.lives.delete(fileId)
    this.progress(live, 'transferring', live.record.size, true)
    if (groupOfFile(live.record) !== undefined) {
      await this.stopSource(live)
      return
    }
    await this.o.messenger.sendReliable(peer, {
      type: 'file-done',
      id: newMessageId(),
      ts: this.now(),
      fileId,
    })
  }

  private async onIncomingFailed(live: Live, code: IncomingFailure, e: unknown): Promise<void> {
    live.incoming = undefined
    const message =
      code === 'bad-data'
        ? 'a chunk of the file failed verification: it was altered or is not part of this file'
        : code === 'hash-mismatch'
          ? 'the received file does not match the hash its sender announced'
          : code === 'storage-full'
            ? 'storage is full: the file could not be stored (nothing else was lost)'
            : `storing the file failed: ${errorMessage(e)}`
    await this.fail(live, code, message, true)
  }

  // ---- the friend's decisions ----

  /** @internal FileMessageHandler: an offer arrived. */
  async offer(
    peer: string,
    frame: FileOfferMessage,
  ): Promise<{ type: string; content: MessageContent } | undefined> {
    return this.recordOffer(peer, frame, undefined)
  }

  /**
   * A file shared in a group, from the group message that describes it (checked and decrypted by
   * the group layer). Returns the message content to store, or undefined to drop it.
   */
  async groupOffer(
    groupId: string,
    author: string,
    frame: FileOfferMessage,
  ): Promise<{ type: 'file' | 'image'; content: MessageContent } | undefined> {
    return this.recordOffer(groupConversationId(groupId), frame, author)
  }

  private async recordOffer(
    peer: string,
    frame: FileOfferMessage,
    from: string | undefined,
  ): Promise<{ type: 'file' | 'image'; content: MessageContent } | undefined> {
    await this.started
    try {
      fileIdToBytes(frame.id)
      fromBase64Url(frame.key, 32)
      fromBase64Url(frame.hash, 32)
      if (frame.thumbnail !== undefined) fromBase64Url(frame.thumbnail)
    } catch {
      return undefined
    }
    const kind = frame.kind === 'image' && isInlineImage(frame.mime) ? 'image' : 'file'
    const meta: FileMeta = {
      name: cleanName(frame.name),
      mime: frame.mime.toLowerCase(),
      hash: frame.hash,
      key: frame.key,
      ...(frame.thumbnail === undefined ? {} : { thumbnail: frame.thumbnail }),
      ...(frame.thumbnailMime === undefined ? {} : { thumbnailMime: frame.thumbnailMime }),
      ...(frame.width === undefined ? {} : { width: frame.width }),
      ...(frame.height === undefined ? {} : { height: frame.height }),
      ...(from === undefined ? {} : { from }),
    }
    const record: FileRecord = {
      fileId: frame.id,
      peer,
      direction: 'in',
      kind,
      size: frame.size,
      chunkSize: frame.chunkSize,
      createdAt: this.now(),
      state: 'offered',
      storedChunks: 0,
      doneChunks: 0,
      error: null,
      sealed: this.store.seal(frame.id, meta),
    }
    if (!(await this.store.create(record))) {
      const existing = await this.store.get(frame.id)
      // A resent offer is fine; an id another friend's file already has is not.
      if (existing?.peer !== peer || existing.direction !== 'in') return undefined
      return { type: existing.kind, content: fileContent(frame.id, existing, this.store.meta(existing)) }
    }
    this.lives.set(frame.id, this.newLive(record, meta))
    return { type: kind, content: fileContent(frame.id, record, meta) }
  }

  /** @internal FileMessageHandler: the offer's message is stored. */
  async offerStored(_peer: string | undefined, frame: FileOfferMessage, isNew: boolean): Promise<void> {
    const live = this.lives.get(frame.id)
    if (!isNew || live === undefined || live.record.state !== 'offered') return
    this.emitView(live)
    if (live.record.kind === 'image' && live.record.size <= this.autoAcceptImagesUnderBytes)
      await this.accept(frame.id)
  }

  /** @internal FileMessageHandler: a decision or acknowledgement from the friend. */
  async control(peer: string, frame: FileControlMessage): Promise<void> {
    const live = await this.get(frame.fileId)
    if (live === undefined) {
      // Asked for a file this device does not have (its preparation was cut short by a reload
      // just after the offer went out, say): say so, or the friend would wait for ever.
      if (frame.type === 'file-accept') await this.sendCancel(peer, frame.fileId, 'unavailable', false)
      return
    }
    if (live.record.peer !== peer) return
    switch (frame.type) {
      case 'file-accept':
        this.onAccept(peer, frame, live)
        return
      case 'file-ack':
        this.onAck(live, frame.chunks)
        return
      case 'file-decline':
        if (live.record.direction !== 'out' || isFinal(live.record.state)) return
        this.stopStreams(live)
        await this.setState(live, 'declined')
        this.lives.delete(frame.fileId)
        await this.store.deleteChunks(frame.fileId)
        return
      case 'file-done':
        if (live.record.direction !== 'out' || isFinal(live.record.state)) return
        this.stopStreams(live)
        live.record.doneChunks = fileChunkCount(live.record.size, live.record.chunkSize)
        if (await this.setState(live, 'done')) this.progress(live, 'transferring', live.record.size, true)
        this.lives.delete(frame.fileId)
        return
      case 'file-cancel':
        await this.onCancel(live, frame)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  /**
   * A group file frame from a member (the group layer checked they are in the signed list of
   * group `frame.g`): someone asks us for a file, acknowledges what we sent, or stops.
   */
  async groupControl(peer: string, frame: GroupFileFrame): Promise<void> {
    await this.started
    switch (frame.type) {
      case 'group-file-get':
        await this.server.get(peer, frame.g, frame.f, frame.c)
        return
      case 'group-file-ack':
        this.server.ack(peer, frame.f, frame.c)
        return
      case 'group-file-stop': {
        if (this.server.stopFor(peer, frame.f)) return
        // The member we asked does not have it: ask the next one.
        const live = this.lives.get(frame.f)
        if (live === undefined || live.source !== peer || groupOfFile(live.record) !== frame.g) return
        live.refused.add(peer)
        live.source = undefined
        await this.resumeIncoming(live)
        return
      }
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  private async onCancel(live: Live, frame: FileCancelMessage): Promise<void> {
    if (isFinal(live.record.state)) return
    if (frame.reason === 'cancelled') {
      this.stopStreams(live)
      await this.setState(live, 'cancelled')
      this.lives.delete(live.record.fileId)
      await this.store.deleteChunks(live.record.fileId)
      return
    }
    const [code, message]: [FileErrorCode, string] =
      frame.reason === 'storage-full'
        ? ['peer-storage-full', `${live.record.peer}'s storage is full`]
        : frame.reason === 'unavailable'
          ? ['unavailable', `${live.record.peer} no longer has this file`]
          : ['peer-failed', `the transfer failed on ${live.record.peer}'s side`]
    await this.fail(live, code, message, false)
  }

  // ---- shared ----

  private async onOpen(peer: string): Promise<void> {
    const link = this.o.peers.fileLink(peer)
    if (link !== undefined) this.knownMaxMessageBytes.set(peer, link.maxMessageBytes)
    await this.started
    for (const live of this.livesOf(peer)) {
      if (live.record.direction === 'in' && live.record.state === 'transferring')
        await this.resumeIncoming(live)
      else this.emitView(live)
    }
    // Group files with nobody sending them: this member may have them.
    for (const live of this.lives.values()) {
      const groupId = groupOfFile(live.record)
      if (groupId === undefined || live.source !== undefined || live.record.state !== 'transferring') continue
      live.refused.delete(peer)
      if (this.routes().isMember(groupId, peer)) await this.resumeIncoming(live)
    }
  }

  /**
   * Ends a transfer as failed: frees its data (a failed file cannot be trusted, and a full disk
   * needs the space back for the rest of the history), tells the user and, if `notify`, the friend.
   */
  private async fail(live: Live, code: FileErrorCode, message: string, notify: boolean): Promise<void> {
    const { fileId, peer } = live.record
    if (isFinal(live.record.state)) return
    const wasOffered = live.record.state !== 'preparing'
    this.stopStreams(live)
    live.record.state = 'failed'
    live.record.error = { code, message }
    this.lives.delete(fileId)
    this.emit('file-error', { fileId, peer, code, message })
    await this.store
      .update(fileId, (r) => {
        if (isFinal(r.state)) return false
        r.state = 'failed'
        r.error = { code, message }
        return true
      })
      .catch(() => undefined)
    await this.store.deleteChunks(fileId).catch(() => undefined)
    live.record.storedChunks = 0
    this.emitView(live)
    if (groupOfFile(live.record) !== undefined) {
      if (notify) await this.stopSource(live).catch(() => undefined)
      return
    }
    if (notify && wasOffered) {
      const reason =
        code === 'storage-full' ? 'storage-full' : code === 'unavailable' ? 'unavailable' : 'failed'
      await this.sendCancel(peer, fileId, reason, true)
    }
  }

  private async sendCancel(
    peer: string,
    fileId: string,
    reason: FileCancelMessage['reason'],
    reliable: boolean,
  ): Promise<void> {
    const frame: FileCancelMessage = {
      type: 'file-cancel',
      id: newMessageId(),
      ts: this.now(),
      fileId,
      reason,
    }
    if (reliable) await this.o.messenger.sendReliable(peer, frame)
    else await this.o.messenger.sendEphemeral(peer, frame)
  }

  /** Persists a state change; false if the transfer had ended already. */
  private async setState(live: Live, state: FileState): Promise<boolean> {
    let changed = false
    const stored = await this.store.update(live.record.fileId, (r) => {
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

  private stopStreams(live: Live): void {
    const stream = live.stream
    live.stream = undefined
    if (stream !== undefined) this.o.peers.fileLink(live.record.peer)?.scheduler.remove(stream)
    live.incoming?.stop()
    live.incoming = undefined
  }

  private progress(live: Live, phase: 'preparing' | 'transferring', bytesDone: number, final = false): void {
    live.meter.record(bytesDone)
    const t = this.now()
    if (!final && bytesDone < live.record.size && t - live.lastProgressMs < this.tuning.progressIntervalMs)
      return
    live.lastProgressMs = t
    const r = live.record
    this.emit('file-progress', {
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

  private view(live: Live): FileTransferView {
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
  private sourceOf(live: Live): string | undefined {
    return groupOfFile(live.record) === undefined ? live.record.peer : live.source
  }

  private countWire(fileId: string, bytes: number): void {
    this.wireBytes.set(fileId, (this.wireBytes.get(fileId) ?? 0) + bytes)
  }

  private emitView(live: Live): void {
    if (!this.closed) this.emit('file', this.view(live))
  }

  private livesOf(peer: string): Live[] {
    return [...this.lives.values()].filter((l) => l.record.peer === peer)
  }

  private async get(fileId: string): Promise<Live | undefined> {
    await this.started
    const live = this.lives.get(fileId)
    if (live !== undefined) return live
    const record = await this.store.get(fileId)
    if (record === undefined) return undefined
    const loaded = this.newLive(record, this.store.meta(record))
    if (!isFinal(record.state)) this.lives.set(fileId, loaded)
    return loaded
  }

  private async mustGet(fileId: string): Promise<Live> {
    const live = await this.get(fileId)
    if (live === undefined) throw new FileTransferError('not-found', 'no such file')
    return live
  }

  private async readable(fileId: string): Promise<{ record: FileRecord; meta: FileMeta }> {
    await this.started
    const record = await this.store.get(fileId)
    if (record === undefined) throw new FileTransferError('not-found', 'no such file')
    const live = this.lives.get(fileId) ?? this.newLive(record, this.store.meta(record))
    live.record = record
    if (!this.view(live).available)
      throw new FileTransferError('bad-state', 'the file is not available on this device')
    return { record, meta: live.meta }
  }

  private batchChunks(r: FileRecord): number {
    return Math.max(1, Math.floor(this.tuning.batchBytes / r.chunkSize))
  }

  private background(work: Promise<unknown>): void {
    work.catch((e: unknown) => {
      if (!this.closed) console.error('file transfer work failed', e)
    })
  }
}

function cancelReasonOf(live: Live): FileCancelMessage['reason'] {
  const code = live.record.error?.code
  if (live.record.state === 'cancelled' || live.record.state === 'declined' || code === undefined)
    return 'cancelled'
  return code === 'storage-full' ? 'storage-full' : code === 'unavailable' ? 'unavailable' : 'failed'
}
