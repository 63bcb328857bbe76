import { fileChunkCount } from '../../../crypto/index.ts'
import type { FileOfferMessage, GroupFileFrame } from '../../../shared/index.ts'
import { groupConversationId, groupOfConversation } from '../groups/types.ts'
import type { Message, MessageContent } from '../store/history.ts'
import type { FileRecord } from '../store/db.ts'
import { fileIdToBytes } from './chunk-frame.ts'
import type { FileStore } from './file-store.ts'
import { OutgoingStream } from './outgoing.ts'
import type { FilePeers, FileTuning } from './types.ts'

/** What files in groups need from the group layer (groups/groups.ts). */
export interface GroupFileRoutes {
  /** Whether this user may post in the group now (a member of its signed list, not removed). */
  canPost(groupId: string): boolean
  /** The group's members in its newest signed list, this user left out. */
  members(groupId: string): readonly string[]
  /** Whether `username` is in the group's signed list. */
  isMember(groupId: string, username: string): boolean
  /** Starts a connection to a member (if online and not connected). */
  connect(username: string): void
  /** Sends a frame on the open connection to a member; false when there is none. */
  send(peer: string, frame: GroupFileFrame): Promise<boolean>
  /** Posts the file's description as a group message (encrypted once with our sender key, signed). */
  post(
    groupId: string,
    offer: Omit<FileOfferMessage, 'ts'>,
    type: 'file' | 'image',
    content: MessageContent,
  ): Promise<Message>
}

/** The group a file was shared in, if it was shared in one (its record's `peer` is `group:<id>`). */
export function groupOfFile(r: FileRecord): string | undefined {
  return groupOfConversation(r.peer)
}

export { groupConversationId }

/**
 * Whether this device can serve the whole file: received and verified, or its own shared file —
 * also in the moment between its message going out and it being recorded as done (a member who
 * asks at once must not be sent away).
 */
export function canServe(r: FileRecord): boolean {
  const whole = r.storedChunks >= fileChunkCount(r.size, r.chunkSize)
  return whole && (r.state === 'done' || (r.direction === 'out' && r.state === 'preparing'))
}

interface ServeOptions {
  readonly store: FileStore
  readonly peers: FilePeers
  readonly routes: GroupFileRoutes
  readonly tuning: FileTuning
  readonly countWire: (fileId: string, bytes: number) => void
  readonly report: (work: Promise<unknown>) => void
}

/**
 * The serving side of files in groups: any member holding a whole file sends its stored chunks
 * to a member who asks, from the chunk asked for, within the window the asker's acknowledgements
 * open — the same flow control as between friends, one stream per asker and file.
 */
export class GroupFileServer {
  private readonly streams = new Map<
    string,
    { stream: OutgoingStream; peer: string; groupId: string; chunkCount: number }
  >()

  constructor(private readonly o: ServeOptions) {}

  /** A member asks for `fileId` from chunk `from` on. */
  async get(peer: string, groupId: string, fileId: string, from: number): Promise<void> {
    const record = await this.o.store.get(fileId).catch(() => undefined)
    const link = this.o.peers.fileLink(peer)
    const key = serveKey(fileId, peer)
    this.stop(key)
    if (record === undefined || groupOfFile(record) !== groupId || !canServe(record)) {
      await this.o.routes.send(peer, { type: 'group-file-stop', g: groupId, f: fileId })
      return
    }
    const chunkCount = fileChunkCount(record.size, record.chunkSize)
    if (from >= chunkCount) return
    if (link === undefined) {
      // No connection to send on (it just closed): the asker asks again, here or elsewhere.
      await this.o.routes.send(peer, { type: 'group-file-stop', g: groupId, f: fileId })
      return
    }
    const chunksPer = (bytes: number): number => Math.max(2, Math.ceil(bytes / record.chunkSize))
    const stream: OutgoingStream = new OutgoingStream({
      store: this.o.store,
      fileId,
      fileIdBytes: fileIdToBytes(fileId),
      chunkCount,
      from,
      maxMessageBytes: link.maxMessageBytes,
      scheduler: link.scheduler,
      windowChunks: chunksPer(this.o.tuning.windowBytes),
      readAheadChunks: chunksPer(this.o.tuning.readAheadBytes),
      onSent: (bytes) => this.o.countWire(fileId, bytes),
      onDetached: () => {
        if (this.streams.get(key)?.stream === stream) this.streams.delete(key)
      },
      onUnavailable: () => {
        // Deleted meanwhile: the asker tries another member.
        this.stop(key)
        this.o.report(this.o.routes.send(peer, { type: 'group-file-stop', g: groupId, f: fileId }))
      },
    })
    this.streams.set(key, { stream, peer, groupId, chunkCount })
    link.scheduler.add(stream)
  }

  /** The asker has stored chunks [0, chunks) (in the group the file was shared in, where it is a member). */
  ack(peer: string, groupId: string, fileId: string, chunks: number): void {
    const key = serveKey(fileId, peer)
    const s = this.streams.get(key)
    if (s === undefined || s.groupId !== groupId) return
    if (chunks >= s.chunkCount) this.stop(key)
    else s.stream.acknowledge(chunks)
  }

  /** The asker stopped (done, cancelled, or asking someone else); true if it was being served. */
  stopFor(peer: string, groupId: string, fileId: string): boolean {
    const key = serveKey(fileId, peer)
    return this.streams.get(key)?.groupId === groupId && this.stop(key)
  }

  /** A file is gone from this device (deleted, forgotten): the members it was going to ask elsewhere. */
  stopFile(fileId: string): void {
    for (const [key, s] of [...this.streams.entries()])
      if (key.startsWith(`${fileId}\n`)) {
        this.stop(key)
        this.o.report(this.o.routes.send(s.peer, { type: 'group-file-stop', g: s.groupId, f: fileId }))
      }
  }

  close(): void {
    for (const key of [...this.streams.keys()]) this.stop(key)
  }

  private stop(key: string): boolean {
    const s = this.streams.get(key)
    if (s === undefined) return false
    this.streams.delete(key)
    this.o.peers.fileLink(s.peer)?.scheduler.remove(s.stream)
    return true
  }
}

const serveKey = (fileId: string, peer: string): string => `${fileId}\n${peer}`
