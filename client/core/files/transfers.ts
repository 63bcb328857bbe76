// Long: the file API's one entry point; the work is in sending.ts, receiving.ts, live-transfers.ts and group-files.ts.
import { notAcceptedText } from '../trust.ts'
import type {
  FileCancelMessage,
  FileControlMessage,
  FileOfferMessage,
  GroupFileFrame,
} from '../../../shared/index.ts'
import { Emitter } from '../emitter.ts'
import { newMessageId, type FileOfferHandler } from '../messenger.ts'
import { capMaxMessageBytes } from '../peer/link.ts'
import type { MessageContent } from '../store/history.ts'
import { chunkSizeFor } from './chunk-frame.ts'
import { hasRoomFor } from './describe.ts'
import type { FileSource } from './file-source.ts'
import {
  canServe,
  groupConversationId,
  GroupFileServer,
  groupOfFile,
  type GroupFileRoutes,
} from './group-files.ts'
import { isFinal, type FileStore } from './file-store.ts'
import type { OpenIncoming } from './incoming.ts'
import { LiveTransfers, newLive, type Live, type TransferDeps } from './live-transfers.ts'
import { readableStream, readStoredFile, storedFileBlob } from './read.ts'
import { FileReceiving } from './receiving.ts'
import { FileSending } from './sending.ts'
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
  /** Files in groups: what the group layer offers them (groups/groups.ts `fileRoutes`). */
  readonly groups?: GroupFileRoutes
}

/** Without a group layer (some tests): no group to post in, and asking for one is a typed error. */
const noGroups: GroupFileRoutes = {
  canPost: () => false,
  members: () => [],
  isMember: () => false,
  connect: () => undefined,
  send: () => Promise.resolve(false),
  post: () => Promise.reject(new FileTransferError('bad-state', 'group files are not available')),
}

/** Until a connection says otherwise, assume what every current browser accepts. */
const assumedMaxMessageBytes = capMaxMessageBytes

/**
 * Files and images between friends. The offer (with the file key) and every decision travel
 * inside the ratchet; chunks travel as binary frames on the same data channel, scheduled behind
 * chat and shared round-robin between transfers. The sender stores the encrypted file when it
 * is offered and sends from storage; the receiver stores each verified chunk as it arrives, so
 * a transfer resumes where it stopped after a lost connection or a reload. See docs/PROTOCOL.md.
 *
 * This class is the entry point and takes the friend's decisions; the sending side is in
 * sending.ts, the receiving side in receiving.ts, what both follow of a transfer in
 * live-transfers.ts, and serving group files to members in group-files.ts.
 */
export class FileTransfers extends Emitter<FileTransferEvents> implements FileOfferHandler {
  private readonly store: FileStore
  private readonly knownMaxMessageBytes = new Map<string, number>()
  private readonly tuning: FileTuning
  private readonly now: () => number
  private readonly offs: (() => void)[] = []
  private readonly started: Promise<void>
  private readonly lives: LiveTransfers
  private readonly sending: FileSending
  private readonly receiving: FileReceiving
  private readonly server: GroupFileServer
  private closed = false
  /** Images from friends up to this size are accepted without asking (0: never). */
  autoAcceptImagesUnderBytes: number

  constructor(private readonly o: FileTransfersOptions) {
    super()
    this.store = o.store
    this.tuning = { ...defaultFileTuning, ...o.tuning }
    this.now = o.now ?? Date.now
    this.autoAcceptImagesUnderBytes = o.autoAcceptImagesUnderBytes ?? defaultAutoAcceptImagesUnderBytes
    const shared: TransferDeps = {
      store: this.store,
      messenger: o.messenger,
      peers: o.peers,
      tuning: this.tuning,
      now: this.now,
    }
    const started = (): Promise<void> => this.started
    const closed = (): boolean => this.closed
    const routes = (): GroupFileRoutes => this.routes()
    const lives = (this.lives = new LiveTransfers({
      ...shared,
      started,
      closed,
      emit: (event, value) => this.emit(event, value),
      stopSource: (live) => this.receiving.stopSource(live),
    }))
    this.sending = new FileSending(lives, { ...shared, routes })
    this.receiving = new FileReceiving(lives, {
      ...shared,
      openIncoming: o.openIncoming,
      routes,
      started,
      closed,
    })
    this.server = new GroupFileServer({
      store: this.store,
      peers: o.peers,
      routes: o.groups ?? noGroups,
      tuning: this.tuning,
      countWire: (fileId, bytes) => lives.countWire(fileId, bytes),
      report: (work) => lives.background(work),
    })
    this.offs.push(
      o.peers.on('file-data', ({ peer, data }) => this.receiving.onData(peer, data)),
      o.peers.on('open', ({ peer }) => lives.background(this.onOpen(peer))),
      o.peers.on('state', ({ peer, state }) => {
        if (state !== 'idle') return
        for (const live of lives.withPeer(peer)) lives.emitView(live)
        // A group file whose member went away is fetched from another one.
        for (const live of lives.byId.values())
          if (live.source === peer) {
            live.source = undefined
            lives.background(this.receiving.resumeIncoming(live))
          }
      }),
    )
    this.started = this.start()
    lives.background(this.started)
  }

  /**
   * Loads unfinished transfers. A file whose preparation a reload interrupted is dropped — unless
   * it is a group file prepared whole and sealed with its hash: its message may be out already,
   * so it stays, shared, for members to fetch.
   */
  private async start(): Promise<void> {
    for (const record of await this.store.active()) {
      if (record.state === 'preparing') {
        if (groupOfFile(record) !== undefined && canServe(record) && this.store.meta(record).hash !== '')
          await this.store.update(record.fileId, (r) => {
            if (r.state !== 'preparing') return false
            r.state = 'done'
            r.doneChunks = r.storedChunks
            return true
          })
        else await this.store.remove(record.fileId)
        continue
      }
      this.lives.byId.set(record.fileId, newLive(record, this.store.meta(record)))
    }
  }

  close(): void {
    this.closed = true
    this.receiving.close()
    for (const off of this.offs.splice(0)) off()
    for (const live of this.lives.byId.values()) this.lives.stopStreams(live)
    this.server.close()
  }

  private routes(): GroupFileRoutes {
    return this.o.groups ?? noGroups
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
    if (!(await this.o.canSend(peer))) throw new FileTransferError('forbidden', notAcceptedText(peer))
    const link = this.o.peers.fileLink(peer)
    const chunkSize = chunkSizeFor(
      link?.maxMessageBytes ?? this.knownMaxMessageBytes.get(peer) ?? assumedMaxMessageBytes,
    )
    return this.sending.begin(peer, chunkSize, file, options)
  }

  /**
   * Shares a file in a group: it is prepared once, its description (with its key) goes to every
   * member as a signed group message, and each member fetches the chunks from any member who holds
   * the whole file (this device first). Resolves once the transfer exists (state `preparing`); it
   * is `done` once posted.
   * @throws FileTransferError 'not-member' (not in the group now), 'too-large', 'bad-thumbnail'.
   */
  async sendGroupFile(
    groupId: string,
    file: Blob | FileSource,
    options: SendFileOptions = {},
  ): Promise<FileTransferView> {
    await this.started
    if (!this.routes().canPost(groupId))
      throw new FileTransferError('not-member', 'you are not a member of this group now')
    // Chunks are cut into frames to fit each connection, so one size serves every member.
    return this.sending.begin(groupConversationId(groupId), chunkSizeFor(capMaxMessageBytes), file, options)
  }

  /** Several files at once in a group; each is prepared and posted on its own. */
  async sendGroupFiles(groupId: string, files: readonly (Blob | FileSource)[]): Promise<FileTransferView[]> {
    return Promise.all(files.map((f) => this.sendGroupFile(groupId, f)))
  }

  /** Several files at once; each is prepared and offered on its own. */
  async sendFiles(peer: string, files: readonly (Blob | FileSource)[]): Promise<FileTransferView[]> {
    return Promise.all(files.map((f) => this.sendFile(peer, f)))
  }

  /** Accepts an offered file: it starts (or resumes) as soon as the friend is connected. */
  async accept(fileId: string): Promise<void> {
    const live = await this.lives.mustGet(fileId)
    if (live.record.direction !== 'in')
      throw new FileTransferError('bad-state', 'only a received offer can be accepted')
    if (live.record.state === 'transferring') return
    if (live.record.state !== 'offered')
      throw new FileTransferError('bad-state', `the file is ${live.record.state}`)
    if (!(await hasRoomFor(live.record.size))) {
      await this.lives.fail(live, 'storage-full', 'not enough storage on this device for this file', true)
      return
    }
    await this.lives.setState(live, 'transferring')
    await this.receiving.resumeIncoming(live)
  }

  async decline(fileId: string): Promise<void> {
    const live = await this.lives.mustGet(fileId)
    if (live.record.direction !== 'in' || live.record.state !== 'offered')
      throw new FileTransferError('bad-state', 'only an offer waiting for a decision can be declined')
    await this.lives.setState(live, 'declined')
    this.lives.byId.delete(fileId)
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
    const live = await this.lives.mustGet(fileId)
    const was = live.record.state
    if (isFinal(was)) return
    this.lives.stopStreams(live)
    await this.lives.setState(live, 'cancelled')
    this.lives.byId.delete(fileId)
    await this.store.deleteChunks(fileId)
    if (groupOfFile(live.record) !== undefined) await this.receiving.stopSource(live)
    else if (was !== 'preparing') await this.lives.sendCancel(live.record.peer, fileId, 'cancelled', true)
  }

  /** Frees a file's stored bytes (its message stays). An unfinished transfer is cancelled. */
  async deleteFile(fileId: string): Promise<void> {
    const live = await this.lives.mustGet(fileId)
    if (!isFinal(live.record.state)) await this.cancel(fileId)
    this.server.stopFile(fileId)
    await this.store.deleteChunks(fileId)
    const record = await this.store.get(fileId)
    if (record !== undefined) this.emit('file', this.lives.view(newLive(record, live.meta)))
  }

  /**
   * The file's message was deleted or disappeared: an unfinished transfer stops (the friend is
   * told, as for a cancel) and the record, key, thumbnail and stored chunks go.
   */
  async forget(fileId: string): Promise<void> {
    await this.started
    const live = this.lives.byId.get(fileId)
    if (live !== undefined && !isFinal(live.record.state)) await this.cancel(fileId)
    this.server.stopFile(fileId)
    this.lives.byId.delete(fileId)
    this.lives.forgetWire(fileId)
    await this.store.remove(fileId)
  }

  async transfer(fileId: string): Promise<FileTransferView | undefined> {
    const live = await this.lives.get(fileId)
    return live && this.lives.view(live)
  }

  /** A friend's transfers (or every unfinished one), oldest first. */
  async transfers(peer?: string): Promise<FileTransferView[]> {
    await this.started
    if (peer === undefined)
      return [...this.lives.byId.values()]
        .sort((a, b) => a.record.createdAt - b.record.createdAt)
        .map((l) => this.lives.view(l))
    const records = await this.store.forPeer(peer)
    return records.map((r) =>
      this.lives.view(this.lives.byId.get(r.fileId) ?? newLive(r, this.store.meta(r))),
    )
  }

  /**
   * The file's plaintext as a Blob (decrypted from storage in batches; the browser keeps blob data
   * off the JavaScript heap). Only for a verified received file or one's own sent file.
   * @throws FileTransferError 'not-found' / 'bad-state' when the bytes are not (or no longer) available.
   */
  async openFile(fileId: string): Promise<Blob> {
    const { record, meta } = await this.lives.readable(fileId)
    return storedFileBlob(this.store, record, meta, this.lives.batchChunks(record))
  }

  /** The file's plaintext chunk by chunk, without ever holding the whole file. */
  async *readFile(fileId: string): AsyncGenerator<Uint8Array, void, undefined> {
    const { record, meta } = await this.lives.readable(fileId)
    yield* readStoredFile(this.store, record, meta, this.lives.batchChunks(record))
  }

  /** The same as a ReadableStream (to pipe into a file picked with `showSaveFilePicker`). */
  fileStream(fileId: string): ReadableStream<Uint8Array> {
    return readableStream(this.readFile(fileId))
  }

  /** Connects to friends with unfinished transfers (after a reload, or when they come online). */
  reconnect(peer?: string): void {
    const peers = new Set<string>()
    for (const live of this.lives.byId.values())
      if (
        live.record.state === 'transferring' &&
        groupOfFile(live.record) === undefined &&
        (peer === undefined || live.record.peer === peer)
      )
        peers.add(live.record.peer)
    for (const p of peers) this.o.peers.connect(p)
  }

  // ---- the friend's decisions ----

  /** @internal FileOfferHandler: an offer arrived. */
  async offer(
    peer: string,
    frame: FileOfferMessage,
  ): Promise<{ type: string; content: MessageContent } | undefined> {
    return this.receiving.recordOffer(peer, frame, undefined)
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
    return this.receiving.recordOffer(groupConversationId(groupId), frame, author)
  }

  /** @internal FileOfferHandler: the offer's message is stored. */
  async offerStored(_peer: string | undefined, frame: FileOfferMessage, isNew: boolean): Promise<void> {
    const live = this.lives.byId.get(frame.id)
    if (!isNew || live === undefined || live.record.state !== 'offered') return
    this.lives.emitView(live)
    if (live.record.kind === 'image' && live.record.size <= this.autoAcceptImagesUnderBytes)
      await this.accept(frame.id)
  }

  /** A decision or acknowledgement from the friend (routed here by peer-router.ts). */
  async control(peer: string, frame: FileControlMessage): Promise<void> {
    const live = await this.lives.get(frame.fileId)
    if (live === undefined) {
      // Asked for a file this device does not have (its preparation was cut short by a reload
      // just after the offer went out, say): say so, or the friend would wait for ever.
      if (frame.type === 'file-accept') await this.lives.sendCancel(peer, frame.fileId, 'unavailable', false)
      return
    }
    if (live.record.peer !== peer) return
    switch (frame.type) {
      case 'file-accept':
        this.sending.onAccept(peer, frame, live)
        return
      case 'file-ack':
        this.sending.onAck(live, frame.chunks)
        return
      case 'file-decline':
        await this.sending.onDecline(live)
        return
      case 'file-done':
        await this.sending.onDone(live)
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
        this.server.ack(peer, frame.g, frame.f, frame.c)
        return
      case 'group-file-stop':
        // A member we serve stops, or one we asked does not have the file.
        if (!this.server.stopFor(peer, frame.g, frame.f))
          await this.receiving.refusedBy(peer, frame.g, frame.f)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  private async onCancel(live: Live, frame: FileCancelMessage): Promise<void> {
    if (isFinal(live.record.state)) return
    if (frame.reason === 'cancelled') {
      this.lives.stopStreams(live)
      await this.lives.setState(live, 'cancelled')
      this.lives.byId.delete(live.record.fileId)
      await this.store.deleteChunks(live.record.fileId)
      return
    }
    const [code, message]: [FileErrorCode, string] =
      frame.reason === 'storage-full'
        ? ['peer-storage-full', `${live.record.peer}'s storage is full`]
        : frame.reason === 'unavailable'
          ? ['unavailable', `${live.record.peer} no longer has this file`]
          : ['peer-failed', `the transfer failed on ${live.record.peer}'s side`]
    await this.lives.fail(live, code, message, false)
  }

  // ---- connections ----

  /** A connection opened: transfers with that friend, and group files nobody sends us, go on. */
  private async onOpen(peer: string): Promise<void> {
    const link = this.o.peers.fileLink(peer)
    if (link !== undefined) this.knownMaxMessageBytes.set(peer, link.maxMessageBytes)
    await this.started
    for (const live of this.lives.withPeer(peer)) {
      if (live.record.direction === 'in' && live.record.state === 'transferring')
        await this.receiving.resumeIncoming(live)
      else this.lives.emitView(live)
    }
    await this.receiving.memberOpened(peer)
  }
}
