import type { GroupContext } from './context.ts'
import type { LiveGroup } from './group-store.ts'
import { chooseLinks, forwardingParents, ringNeighbors } from './overlay.ts'

/** A connection to the same member is asked for at most this often. */
const connectEveryMs = 2000
/** A member with the larger name waits this long for the other to call before calling itself. */
const callGraceMs = 1500

export interface GroupLinksOptions {
  /** Group connections this device opens itself, across all its groups. */
  readonly maxLinks: number
  /** Members left out because a list gives a friend another key than the pinned one (pins.ts). */
  readonly mismatched: (username: string) => boolean
}

/**
 * The overlay as this device uses it (overlay.ts): which members it keeps connections to, how it
 * asks for one, and through whom each member's messages flow.
 */
export class GroupLinks {
  private readonly connectedAt = new Map<string, number>()
  private readonly answerTimers = new Set<ReturnType<typeof setTimeout>>()
  /** Per group: the forwarding trees (by origin) for one view of who is online. */
  private readonly trees = new Map<string, { key: string; byOrigin: Map<string, Map<string, string>> }>()

  constructor(
    private readonly c: GroupContext,
    private readonly o: GroupLinksOptions,
  ) {}

  close(): void {
    for (const t of this.answerTimers) clearTimeout(t)
  }

  /** Members this device keeps connections to, across its groups (overlay.ts). */
  wantedLinks(): string[] {
    const online = this.c.online()
    const per: string[][] = []
    for (const g of this.c.groups.values()) {
      if (!g.active) continue
      const members = g.chain.members
        .map((m) => m.id)
        .filter((u) => u !== this.c.me && online.has(u) && !this.o.mismatched(u))
      per.push(ringNeighbors(this.c.me, members, this.o.maxLinks))
    }
    return chooseLinks(per, this.o.maxLinks)
  }

  /** Opens the connections this device keeps for `g` (or for all groups) that are not open. */
  connectNeighbors(g?: LiveGroup): void {
    const wanted = this.wantedLinks()
    for (const u of wanted) {
      if (g !== undefined && !g.chain.isMember(u)) continue
      this.connect(u)
    }
  }

  /**
   * Asks the peer manager for a connection, at most once per `connectEveryMs` per member: a
   * burst of messages must not start a call per message (the peer manager retries by itself).
   */
  connect(peer: string): void {
    const { me, transport } = this.c
    if (peer === me || transport.isOpen(peer) || !this.c.online().has(peer)) return
    const now = this.c.now()
    if (now - (this.connectedAt.get(peer) ?? -Infinity) < connectEveryMs) return
    this.connectedAt.set(peer, now)
    if (me < peer) {
      transport.connect(peer)
      return
    }
    // Two members who want each other (ring neighbors do) would call at the same moment, and one
    // call would be thrown away: the smaller name calls, the other only if no call came meanwhile.
    const timer = setTimeout(() => {
      this.answerTimers.delete(timer)
      if (!this.c.closed() && !transport.isOpen(peer) && this.c.online().has(peer)) transport.connect(peer)
    }, callGraceMs)
    this.answerTimers.add(timer)
  }

  /** Members of `g` with an open connection, except `except`. */
  openMembers(g: LiveGroup, except?: string): string[] {
    return g.chain.members
      .map((m) => m.id)
      .filter((u) => u !== this.c.me && u !== except && this.c.transport.isOpen(u))
  }

  /** Open connections to anyone who is or was in the group, except `except`. */
  everOpen(g: LiveGroup, except: string | undefined): string[] {
    const all = new Set(g.chain.all.flatMap((v) => v.members.map((m) => m.id)))
    return [...all].filter((u) => u !== this.c.me && u !== except && this.c.transport.isOpen(u))
  }

  /** Per member, who passes `origin`'s messages to them (overlay.ts), for who is online now. */
  parentsFor(g: LiveGroup, origin: string): Map<string, string> {
    const online = this.c.online()
    const members = g.chain.members
      .map((m) => m.id)
      .filter((u) => u === this.c.me || (online.has(u) && !this.o.mismatched(u)))
    const key = members.join('\n')
    let trees = this.trees.get(g.id)
    if (trees === undefined || trees.key !== key) {
      trees = { key, byOrigin: new Map() }
      this.trees.set(g.id, trees)
    }
    let parents = trees.byOrigin.get(origin)
    if (parents === undefined) {
      parents = forwardingParents(origin, members, this.o.maxLinks)
      trees.byOrigin.set(origin, parents)
    }
    return parents
  }
}
