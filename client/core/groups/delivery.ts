import type { GroupMessageHeader } from '../../../crypto/index.ts'
import type { GroupAckFrame } from '../../../shared/index.ts'
import type { History, Message } from '../store/history.ts'
import type { GroupContext } from './context.ts'
import type { LiveGroup } from './group-store.ts'
import type { PeerView } from './holdings.ts'
import { groupConversationId } from './types.ts'

/** Our own messages whose delivery is followed (the newest ones). */
const maxPendingOwn = 500

const headerId = (g: string, h: GroupMessageHeader): string => `${g}\n${h.sender}\n${h.epoch}\n${h.iteration}`

interface Pending {
  readonly id: string
  readonly acked: Set<string>
}

/**
 * Our own group messages on their way: `sent` once another member's device has one, `delivered`
 * once every other member's has, as their acknowledgements and summaries say.
 */
export class GroupDelivery {
  /** Our own messages not yet known to be on every member's device. */
  private readonly pendingOwn = new Map<string, Pending>()

  constructor(
    private readonly c: GroupContext,
    private readonly history: History,
    private readonly onMessage: (m: Message) => void,
  ) {}

  /** At start: our recent messages that no other member had confirmed yet: their summaries will. */
  async resume(g: LiveGroup): Promise<void> {
    const recent = await this.c.store.copies(g.id, Math.max(0, g.nextSeq - maxPendingOwn), maxPendingOwn)
    for (const c of recent) {
      if (c.sender !== this.c.me || c.messageId === undefined) continue
      const state = (await this.history.get(c.messageId))?.state
      if (state === 'queued' || state === 'sent')
        this.pendingOwn.set(headerId(g.id, c), { id: c.messageId, acked: new Set() })
    }
  }

  /** A message of ours just sent, at `h` in our chain. */
  track(groupId: string, h: GroupMessageHeader, messageId: string): void {
    this.pendingOwn.set(headerId(groupId, h), { id: messageId, acked: new Set() })
    if (this.pendingOwn.size > maxPendingOwn) {
      const oldest = this.pendingOwn.keys().next().value
      if (oldest !== undefined) this.pendingOwn.delete(oldest)
    }
  }

  /** This user is out of the group: nothing of it is followed any more. */
  forget(groupId: string): void {
    for (const k of [...this.pendingOwn.keys()]) if (k.startsWith(`${groupId}\n`)) this.pendingOwn.delete(k)
  }

  /** A member's summary: their holdings of our messages count as delivery. */
  async summarized(g: LiveGroup, peer: string, view: PeerView): Promise<void> {
    for (const [id, pending] of this.pendingOwn) {
      const [gid, , e, i] = id.split('\n')
      if (gid === g.id && !view.needs(this.c.me, Number(e), Number(i))) await this.acked(g, id, pending, peer)
    }
  }

  /** A member acknowledges messages (it held them, or just got them from their sender). */
  async onAck(peer: string, g: LiveGroup, f: GroupAckFrame): Promise<void> {
    const view = this.c.views.of(peer, g.id)
    for (const a of f.a) {
      view.gotRanges(a.s, a.e, a.r)
      if (a.s !== this.c.me) continue
      for (const [from, to] of a.r) {
        for (let i = from; i < to && i - from < 10_000; i++) {
          const id = headerId(g.id, { sender: a.s, epoch: a.e, iteration: i })
          const pending = this.pendingOwn.get(id)
          if (pending !== undefined) await this.acked(g, id, pending, peer)
        }
      }
    }
  }

  /** Another member's device holds one of our messages: sent, then delivered once all have it. */
  private async acked(g: LiveGroup, id: string, pending: Pending, peer: string): Promise<void> {
    if (pending.acked.has(peer)) return
    pending.acked.add(peer)
    const others = g.chain.members.filter((m) => m.id !== this.c.me)
    const all = others.every((m) => pending.acked.has(m.id))
    if (all) this.pendingOwn.delete(id)
    if (!all && pending.acked.size > 1) return
    const only = { conversationId: groupConversationId(g.id), author: this.c.me }
    if (pending.acked.size === 1)
      for (const m of await this.history.advance([pending.id], 'sent', only)) this.onMessage(m)
    if (all) for (const m of await this.history.advance([pending.id], 'delivered', only)) this.onMessage(m)
  }
}
