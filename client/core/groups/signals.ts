import { peerLimits, type GroupReadFrame, type GroupTypingFrame } from '../../../shared/index.ts'
import type { History, Message, ReadMark } from '../store/history.ts'
import { groupConversationId } from './types.ts'

/** Someone typing in a group (or who stopped). */
export interface GroupTypingEvent {
  readonly groupId: string
  readonly username: string
  readonly typing: boolean
}

export interface GroupSignalsOptions {
  readonly me: string
  readonly history: History
  /** Sends on an open connection to a member; false when there is none. */
  readonly send: (peer: string, frame: GroupTypingFrame | GroupReadFrame) => Promise<boolean>
  /** Members of the group this device has an open connection to. */
  readonly openMembers: (groupId: string) => readonly string[]
  /** The other members in the group's newest signed list (none once this user is out). */
  readonly members: (groupId: string) => readonly string[]
  /** Starts a connection to a member (if online and not connected). */
  readonly connect: (peer: string) => void
  /** Off: no reads are sent, and the others' reads do not count (as in one-to-one chats). */
  readonly readReceipts: () => boolean
  /** Off: our typing is not sent, and the others' is not reported. */
  readonly typingIndicators: () => boolean
  readonly onTyping: (e: GroupTypingEvent) => void
  readonly onMessage: (m: Message) => void
}

/** Own messages whose readers are counted (the newest ones). */
const maxCounted = 2000

/**
 * Typing and read receipts in groups. Typing goes to the members this device is connected to
 * and is not relayed. Reads go to each message's author (waiting in memory until a connection to
 * them opens); an own message becomes `read` once every other member of the signed list has
 * read it, as WhatsApp shows it. Readers are counted for this page's lifetime.
 */
export class GroupSignals {
  /** Per own message id: the members who have read it. */
  private readonly readers = new Map<string, Set<string>>()
  /** Reads not yet told: per author, per group, message ids. */
  private readonly unsent = new Map<string, Map<string, Set<string>>>()

  constructor(private readonly o: GroupSignalsOptions) {}

  async typing(groupId: string, typing: boolean): Promise<void> {
    if (!this.o.typingIndicators()) return
    const frame: GroupTypingFrame = { type: 'group-typing', g: groupId, t: typing }
    await Promise.all(this.o.openMembers(groupId).map((p) => this.o.send(p, frame)))
  }

  /** A member's typing frame (the group layer checked they are a member). */
  typingFrom(peer: string, frame: GroupTypingFrame): void {
    if (this.o.typingIndicators()) this.o.onTyping({ groupId: frame.g, username: peer, typing: frame.t })
  }

  /** Others' messages this device just marked read: their authors are told. */
  read(groupId: string, messages: readonly ReadMark[]): void {
    if (!this.o.readReceipts()) return
    for (const m of messages) {
      if (m.author === this.o.me) continue
      let byGroup = this.unsent.get(m.author)
      if (byGroup === undefined) {
        byGroup = new Map()
        this.unsent.set(m.author, byGroup)
      }
      const ids = byGroup.get(groupId) ?? new Set<string>()
      byGroup.set(groupId, ids)
      ids.add(m.id)
      // Only the newest reads wait for an author who stays away.
      if (ids.size > peerLimits.maxReceiptIds) ids.delete(ids.values().next().value as string)
    }
    for (const author of new Set(messages.map((m) => m.author))) void this.flush(author)
  }

  /** A connection opened: reads waiting for that member go now. */
  linkOpened(peer: string): void {
    void this.flush(peer)
  }

  private async flush(author: string): Promise<void> {
    const byGroup = this.unsent.get(author)
    if (byGroup === undefined) return
    for (const [groupId, ids] of byGroup) {
      const list = [...ids]
      const frame: GroupReadFrame = { type: 'group-read', g: groupId, m: list }
      if (!(await this.o.send(author, frame))) {
        this.o.connect(author)
        return
      }
      for (const id of list) ids.delete(id)
      if (ids.size === 0) byGroup.delete(groupId)
    }
    if (byGroup.size === 0) this.unsent.delete(author)
  }

  /** A member read some of our messages (the group layer checked they are a member). */
  async readBy(peer: string, frame: GroupReadFrame): Promise<void> {
    if (!this.o.readReceipts()) return
    const members = this.o.members(frame.g)
    const done: string[] = []
    for (const id of frame.m) {
      let set = this.readers.get(id)
      if (set === undefined) {
        set = new Set()
        this.readers.set(id, set)
        if (this.readers.size > maxCounted) this.readers.delete(this.readers.keys().next().value as string)
      }
      set.add(peer)
      if (members.length > 0 && members.every((m) => set.has(m))) done.push(id)
    }
    if (done.length === 0) return
    // Only our own messages of that group move; ids of anything else change nothing.
    const changed = await this.o.history.advance(done, 'read', {
      conversationId: groupConversationId(frame.g),
      author: this.o.me,
    })
    for (const id of done) this.readers.delete(id)
    for (const m of changed) this.o.onMessage(m)
  }
}
