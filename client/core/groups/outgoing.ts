import { utf8Encode } from '../../../crypto/index.ts'
import { groupLimits, type GroupFrame } from '../../../shared/index.ts'

/** Sends encrypted frames to one member over the pairwise connection (the peer manager). */
export interface FrameSink {
  /** False when there is no open connection. */
  send(peer: string, plaintext: Uint8Array): Promise<boolean>
  /** The largest data channel message the member's side accepts. */
  maxMessageBytes(peer: string): number
}

/** Room left in a data channel message for the ratchet's header, tag and 256-byte padding. */
const ratchetOverheadBytes = 1024

type Batched =
  | { readonly g: string; readonly type: 'group-list'; readonly item: unknown }
  | { readonly g: string; readonly type: 'group-keys'; readonly item: unknown }
  | { readonly g: string; readonly type: 'group-msgs'; readonly item: string }
  | {
      readonly g: string
      readonly type: 'group-ack'
      readonly item: { readonly s: string; readonly e: number; readonly i: number }
    }
type Entry = Batched | { readonly frame: GroupFrame }

const maxItems: Record<Batched['type'], number> = {
  'group-list': groupLimits.maxListVersions,
  'group-keys': groupLimits.maxKeys,
  'group-msgs': groupLimits.maxMessages,
  'group-ack': groupLimits.maxMessages,
}

/**
 * Group frames waiting for one member, in order. Items queued in the same turn of the event loop
 * leave together: consecutive items of one kind and group share a frame, up to the connection's
 * message size. Order across kinds is kept, so a member list goes before the keys that name its
 * version, and a key before the messages it opens.
 */
export class GroupOutgoing {
  private readonly queues = new Map<string, Entry[]>()
  private readonly scheduled = new Set<string>()

  constructor(
    private readonly sink: FrameSink,
    /** Whether the member's connection may carry this group's data now (checked as frames leave). */
    private readonly allowed: (peer: string, groupId: string) => boolean,
  ) {}

  frame(peer: string, frame: GroupFrame): void {
    this.push(peer, { frame })
  }

  list(peer: string, g: string, version: unknown): void {
    this.push(peer, { g, type: 'group-list', item: version })
  }

  key(peer: string, g: string, key: unknown): void {
    this.push(peer, { g, type: 'group-keys', item: key })
  }

  message(peer: string, g: string, ct: string): void {
    this.push(peer, { g, type: 'group-msgs', item: ct })
  }

  ack(peer: string, g: string, s: string, e: number, i: number): void {
    this.push(peer, { g, type: 'group-ack', item: { s, e, i } })
  }

  /** Everything queued for a member whose connection closed: what it misses, the next summary finds. */
  drop(peer: string): void {
    this.queues.delete(peer)
  }

  private push(peer: string, entry: Entry): void {
    let q = this.queues.get(peer)
    if (q === undefined) {
      q = []
      this.queues.set(peer, q)
    }
    q.push(entry)
    if (!this.scheduled.has(peer)) {
      this.scheduled.add(peer)
      setTimeout(() => this.flush(peer), 0)
    }
  }

  /** Sends everything queued for the member now. */
  flush(peer: string): void {
    this.scheduled.delete(peer)
    const q = this.queues.get(peer)
    this.queues.delete(peer)
    if (q === undefined) return
    const budget = Math.max(8 * 1024, this.sink.maxMessageBytes(peer) - ratchetOverheadBytes)
    let i = 0
    while (i < q.length) {
      const first = q[i] as Entry
      if (!this.allowed(peer, 'frame' in first ? first.frame.g : first.g)) {
        i++
        continue
      }
      if ('frame' in first) {
        this.send(peer, first.frame)
        i++
        continue
      }
      const items: Batched[] = [first]
      let bytes = 64 + JSON.stringify(first.item).length
      i++
      while (i < q.length && items.length < maxItems[first.type]) {
        const next = q[i] as Entry
        if ('frame' in next || next.type !== first.type || next.g !== first.g) break
        const size = JSON.stringify(next.item).length + 1
        if (bytes + size > budget) break
        bytes += size
        items.push(next)
        i++
      }
      this.send(peer, batchFrame(first.g, first.type, items))
    }
  }

  private send(peer: string, frame: GroupFrame): void {
    // `send` hands the frame to the connection before its first await, so frames keep their order.
    void this.sink.send(peer, utf8Encode(JSON.stringify(frame)))
  }
}

function batchFrame(g: string, type: Batched['type'], items: readonly Batched[]): GroupFrame {
  switch (type) {
    case 'group-list':
      return { type, g, l: items.map((b) => b.item) }
    case 'group-keys':
      return { type, g, k: items.map((b) => b.item) }
    case 'group-msgs':
      return { type, g, m: items.map((b) => b.item as string) }
    case 'group-ack': {
      const byChain = new Map<string, { s: string; e: number; its: number[] }>()
      for (const b of items) {
        const { s, e, i } = b.item as { s: string; e: number; i: number }
        const id = `${s}\n${e}`
        const entry = byChain.get(id) ?? { s, e, its: [] }
        byChain.set(id, entry)
        entry.its.push(i)
      }
      const a: { s: string; e: number; r: [number, number][] }[] = []
      for (const { s, e, its } of byChain.values()) {
        const ranges: [number, number][] = []
        for (const i of its.sort((x, y) => x - y)) {
          const last = ranges[ranges.length - 1]
          if (last !== undefined && last[1] >= i) last[1] = Math.max(last[1], i + 1)
          else ranges.push([i, i + 1])
        }
        for (let at = 0; at < ranges.length; at += groupLimits.maxRanges)
          a.push({ s, e, r: ranges.slice(at, at + groupLimits.maxRanges) })
      }
      return { type, g, a }
    }
    default: {
      const unreachable: never = type
      return unreachable
    }
  }
}
