import { fileChunkCount, fromBase64Url } from '../../../crypto/index.ts'
import type { FileOfferMessage } from '../../../shared/index.ts'
import { newMessageId } from '../messenger.ts'
import type { FileRecord } from '../store/db.ts'
import type { MessageContent } from '../store/history.ts'
import { fileIdToBytes, readChunkFrame } from './chunk-frame.ts'
import { cleanName, errorMessage, fileContent, isInlineImage } from './describe.ts'
import { isQuotaError, type FileMeta } from './file-store.ts'
import { groupOfFile, type GroupFileRoutes } from './group-files.ts'
import { openIncomingHere, type IncomingFailure, type OpenIncoming } from './incoming.ts'
import { newLive, type Live, type LiveTransfers, type TransferDeps } from './live-transfers.ts'

/** A group file with no member to fetch from is asked for again this often (someone may have finished it meanwhile). */
const groupRetryMs = 15_000

export interface FileReceivingOptions extends TransferDeps {
  /** Where received chunks are decrypted, hashed and stored: here by default, or in a Worker. */
  readonly openIncoming: OpenIncoming | undefined
  /** Files in groups (the group layer); throws when there is none. */
  readonly routes: () => GroupFileRoutes
  /** Resolves once the unfinished transfers are loaded (transfers.ts). */
  readonly started: () => Promise<void>
  readonly closed: () => boolean
}

/**
 * The receiving side: an offer (from a friend, or a group message) is recorded; once accepted,
 * the chunks are asked for — from the friend, or from a member holding a group file — verified,
 * stored as they arrive and acknowledged, and the transfer resumes where it stopped.
 */
/** How often members sending group files are checked for silence. */
const watchEveryMs = 1000

export class FileReceiving {
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private watchdog: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly lives: LiveTransfers,
    private readonly o: FileReceivingOptions,
  ) {}

  close(): void {
    clearTimeout(this.retryTimer)
    clearInterval(this.watchdog)
  }

  /**
   * A member that says nothing while sending a group file (stuck, or gone without its connection
   * closing yet) is given up after `silentSourceMs`: the next member is asked, from where it stopped.
   */
  private watch(): void {
    if (this.watchdog !== undefined || this.o.closed()) return
    this.watchdog = setInterval(() => {
      const silentMs = this.o.tuning.silentSourceMs
      let watching = false
      for (const live of this.lives.byId.values()) {
        const source = live.source
        if (source === undefined || groupOfFile(live.record) === undefined) continue
        watching = true
        if (this.o.now() - (live.heardAt ?? 0) < silentMs) continue
        live.refused.add(source)
        this.lives.background(this.stopSource(live).then(() => this.resumeIncoming(live)))
      }
      if (!watching) {
        clearInterval(this.watchdog)
        this.watchdog = undefined
      }
    }, watchEveryMs)
  }

  /**
   * Records an offer: a friend's, or a group file's from its message (`from`: its author). The
   * message content to store, or undefined to drop the offer.
   */
  async recordOffer(
    peer: string,
    frame: FileOfferMessage,
    from: string | undefined,
  ): Promise<{ type: 'file' | 'image'; content: MessageContent } | undefined> {
    await this.o.started()
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
      createdAt: this.o.now(),
      state: 'offered',
      storedChunks: 0,
      doneChunks: 0,
      error: null,
      sealed: this.o.store.seal(frame.id, meta),
    }
    if (!(await this.o.store.create(record))) {
      const existing = await this.o.store.get(frame.id)
      // A resent offer is fine; an id another friend's file already has is not.
      if (existing?.peer !== peer || existing.direction !== 'in') return undefined
      return { type: existing.kind, content: fileContent(frame.id, existing, this.o.store.meta(existing)) }
    }
    this.lives.byId.set(frame.id, newLive(record, meta))
    return { type: kind, content: fileContent(frame.id, record, meta) }
  }

  /** Brings the receiving side up (reading back what is stored) and asks for the rest. */
  async resumeIncoming(live: Live): Promise<void> {
    const r = live.record
    const groupId = groupOfFile(r)
    if (groupId !== undefined) {
      if (r.state !== 'transferring') return
      if (!this.o.routes().canPost(groupId)) {
        // Removed or left: members serve only those in the signed member list.
        await this.lives.fail(live, 'not-member', 'you are no longer in this group', false)
        return
      }
      live.source = this.pickSource(live, groupId)
      if (live.source === undefined) {
        this.lives.emitView(live)
        return
      }
    } else if (!this.o.peers.isOpen(r.peer)) {
      this.o.peers.connect(r.peer)
      this.lives.emitView(live)
      return
    }
    // Already under way: its caller reports any failure.
    if (live.opening !== undefined) return live.opening.catch(() => undefined)
    live.opening = (async () => {
      if (live.incoming === undefined) {
        const open = this.o.openIncoming ?? openIncomingHere
        const sink = await open(this.incomingOptions(live), r.storedChunks, this.lives.batchChunks(r))
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
      await this.lives.fail(live, isQuotaError(e) ? 'storage-full' : 'storage-failed', errorMessage(e), true)
      return
    } finally {
      live.opening = undefined
    }
    const incoming = live.incoming
    if (incoming === undefined || live.record.state !== 'transferring') return
    live.gapAskedAt = -1
    live.meter.reset()
    await this.askFrom(live, incoming.resumeFrom)
    this.lives.emitView(live)
  }

  /** Asks whoever sends us the file for the chunks from `from` on. */
  private async askFrom(live: Live, from: number): Promise<void> {
    const r = live.record
    const groupId = groupOfFile(r)
    if (groupId === undefined) {
      await this.o.messenger.sendEphemeral(r.peer, {
        type: 'file-accept',
        id: newMessageId(),
        ts: this.o.now(),
        fileId: r.fileId,
        fromChunk: from,
      })
      return
    }
    const source = live.source
    if (source === undefined) return
    live.heardAt = this.o.now()
    if (!(await this.o.routes().send(source, { type: 'group-file-get', g: groupId, f: r.fileId, c: from }))) {
      // The connection went meanwhile: another member, or this one again later.
      if (live.source === source) live.source = undefined
      this.retryLater()
      return
    }
    this.watch()
  }

  /**
   * The member to fetch a group file from: the one already sending it, else its author, else any
   * connected member who has not said it lacks the file. With none connected, the author is
   * called and the others are asked again later.
   */
  private pickSource(live: Live, groupId: string): string | undefined {
    const routes = this.o.routes()
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
    if (this.retryTimer !== undefined || this.o.closed()) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      for (const live of this.lives.byId.values()) {
        if (groupOfFile(live.record) === undefined || live.source !== undefined) continue
        live.refused.clear()
        this.lives.background(this.resumeIncoming(live))
      }
    }, groupRetryMs)
  }

  /** Tells the member sending us a group file to stop (done, cancelled or failed here). */
  async stopSource(live: Live): Promise<void> {
    const groupId = groupOfFile(live.record)
    const source = live.source
    live.source = undefined
    if (groupId === undefined || source === undefined) return
    await this.o.routes().send(source, { type: 'group-file-stop', g: groupId, f: live.record.fileId })
  }

  private incomingOptions(live: Live) {
    const r = live.record
    return {
      store: this.o.store,
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
      onComplete: () => this.lives.background(this.onComplete(live)),
      onFailed: (code: IncomingFailure, e: unknown) =>
        this.lives.background(this.onIncomingFailed(live, code, e)),
    }
  }

  onData(peer: string, body: Uint8Array): void {
    const piece = readChunkFrame(body)
    if (piece === null) return
    const live = this.lives.byId.get(piece.fileId)
    // Only the friend the file came from (or the member serving it), and only once accepted.
    if (live === undefined || this.lives.sourceOf(live) !== peer || live.incoming === undefined) return
    live.heardAt = this.o.now()
    this.lives.countWire(piece.fileId, body.length + 1)
    if (live.incoming.push(piece) === 'gap' && live.gapAskedAt !== live.incoming.resumeFrom) {
      live.gapAskedAt = live.incoming.resumeFrom
      this.lives.background(this.askFrom(live, live.incoming.resumeFrom))
    }
  }

  private onStored(live: Live, stored: number): void {
    const r = live.record
    r.storedChunks = stored
    r.doneChunks = stored
    const chunkCount = fileChunkCount(r.size, r.chunkSize)
    this.lives.progress(live, 'transferring', Math.min(r.size, stored * r.chunkSize))
    const every = Math.max(1, Math.floor(this.o.tuning.ackEveryBytes / r.chunkSize))
    if (stored - live.lastAck >= every || stored === chunkCount) {
      live.lastAck = stored
      const groupId = groupOfFile(r)
      if (groupId === undefined)
        this.lives.background(
          this.o.messenger.sendEphemeral(r.peer, {
            type: 'file-ack',
            id: newMessageId(),
            ts: this.o.now(),
            fileId: r.fileId,
            chunks: stored,
          }),
        )
      else if (live.source !== undefined)
        this.lives.background(
          this.o.routes().send(live.source, { type: 'group-file-ack', g: groupId, f: r.fileId, c: stored }),
        )
    }
  }

  private async onComplete(live: Live): Promise<void> {
    const { fileId, peer } = live.record
    live.incoming = undefined
    if (!(await this.lives.setState(live, 'done'))) return
    this.lives.byId.delete(fileId)
    this.lives.progress(live, 'transferring', live.record.size, true)
    if (groupOfFile(live.record) !== undefined) {
      await this.stopSource(live)
      return
    }
    await this.o.messenger.sendReliable(peer, {
      type: 'file-done',
      id: newMessageId(),
      ts: this.o.now(),
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
    await this.lives.fail(live, code, message, true)
  }

  /** A connection opened: group files with nobody sending them may be with this member. */
  async memberOpened(peer: string): Promise<void> {
    for (const live of this.lives.byId.values()) {
      const groupId = groupOfFile(live.record)
      if (groupId === undefined || live.source !== undefined || live.record.state !== 'transferring') continue
      live.refused.delete(peer)
      if (this.o.routes().isMember(groupId, peer)) await this.resumeIncoming(live)
    }
  }

  /** The member we asked for a group file does not have it: ask the next one. */
  async refusedBy(peer: string, groupId: string, fileId: string): Promise<void> {
    const live = this.lives.byId.get(fileId)
    if (live === undefined || live.source !== peer || groupOfFile(live.record) !== groupId) return
    live.refused.add(peer)
    live.source = undefined
    await this.resumeIncoming(live)
  }
}
