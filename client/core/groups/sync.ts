import { toBase64Url } from '../../../crypto/index.ts'
import type { GroupSyncFrame } from '../../../shared/index.ts'
import { keptCopies, type GroupContext } from './context.ts'
import type { GroupDelivery } from './delivery.ts'
import type { CopyRow } from './group-db.ts'
import { chainId, type LiveGroup } from './group-store.ts'
import { PeerView } from './holdings.ts'
import type { GroupLinks } from './links.ts'

/** Summaries to more members wait until a catch-up has brought nothing new for this long. */
const catchUpQuietMs = 1000
/** A gap in a sender's messages is asked for again after this long (it may just be on its way). */
const repairDelayMs = 1000
/** Groups with traffic compare summaries with one connected member this often, for anything a relay missed. */
const antiEntropyMs = 30_000

export interface GroupSyncOptions {
  readonly links: Pick<GroupLinks, 'openMembers'>
  readonly delivery: Pick<GroupDelivery, 'summarized'>
  /** Whether a member may send us data for the group (reported when not). */
  readonly admits: (g: LiveGroup, peer: string) => boolean
}

/**
 * Summaries (`group-sync`): what each side holds, so the other sends what it lacks. They go when
 * a connection opens (one catch-up at a time), after a gap in a sender's messages, and now and
 * then to one member per group with traffic (anti-entropy).
 */
export class GroupSync {
  /** Per group: the catch-up in progress, and the members whose summaries wait for it. */
  private readonly catchUps = new Map<
    string,
    { progressAt: number; waiting: Set<string>; timer: ReturnType<typeof setTimeout> | undefined }
  >()
  private readonly repairs = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly lastRepair = new Map<string, string>()
  /** Groups with messages since the last anti-entropy round. */
  private readonly active = new Set<string>()
  private antiEntropyRound = 0
  private readonly antiEntropy: ReturnType<typeof setInterval>

  constructor(
    private readonly c: GroupContext,
    private readonly o: GroupSyncOptions,
  ) {
    this.antiEntropy = setInterval(() => this.compareSummaries(), antiEntropyMs)
  }

  close(): void {
    clearInterval(this.antiEntropy)
    for (const t of this.repairs.values()) clearTimeout(t)
    for (const c of this.catchUps.values()) clearTimeout(c.timer)
  }

  /** A message was sent or came in: the group takes part in the next anti-entropy round. */
  traffic(groupId: string): void {
    this.active.add(groupId)
  }

  /** A new message came in: a catch-up in progress is still bringing something. */
  progress(groupId: string): void {
    const catchUp = this.catchUps.get(groupId)
    if (catchUp !== undefined) catchUp.progressAt = this.c.now()
  }

  sendSync(peer: string, g: LiveGroup, askBack = false): void {
    const me = this.c.me
    const s = g.active ? g.holdings.summarize((v) => g.chain.isMember(me, v)) : []
    this.c.out.frame(peer, {
      type: 'group-sync',
      g: g.id,
      v: g.chain.version,
      h: g.chain.hash,
      s,
      ...(askBack ? { r: true as const } : {}),
    })
  }

  /**
   * Our summary to a member whose connection just opened. Every member who gets it sends what we
   * miss, so when several connections open at once (coming back online) one catches us up first:
   * the others get our summary once nothing new has come for a moment, and send only what the
   * first did not have.
   */
  catchUpFrom(peer: string, g: LiveGroup): void {
    const now = this.c.now()
    const current = this.catchUps.get(g.id)
    if (current === undefined || now - current.progressAt >= catchUpQuietMs) {
      this.catchUps.set(g.id, { progressAt: now, waiting: new Set(), timer: undefined })
      this.sendSync(peer, g)
      return
    }
    current.waiting.add(peer)
    const check = (): void => {
      const c = this.catchUps.get(g.id)
      if (c === undefined || this.c.closed()) return
      const quietFor = this.c.now() - c.progressAt
      if (quietFor < catchUpQuietMs) {
        c.timer = setTimeout(check, catchUpQuietMs - quietFor)
        return
      }
      this.catchUps.delete(g.id)
      for (const p of c.waiting) if (this.c.transport.isOpen(p)) this.sendSync(p, g)
    }
    current.timer ??= setTimeout(check, catchUpQuietMs)
  }

  /**
   * A message arrived past a gap in its sender's chain: if the gap is still there in a moment,
   * our summary goes to the member who delivered it, who sends what is missing.
   */
  repairSoon(g: LiveGroup, peer: string): void {
    if (this.repairs.has(g.id)) return
    this.repairs.set(
      g.id,
      setTimeout(() => {
        this.repairs.delete(g.id)
        if (this.c.closed() || !g.active || !this.c.transport.isOpen(peer)) return
        const gaps = g.holdings
          .all()
          .filter((h) => h.sender !== this.c.me && h.held.contiguous < h.held.end)
          .map((h) => `${h.sender}/${h.epoch}/${h.held.contiguous}`)
          .join(',')
        // The same gaps as last time: that member could not fill them; the next summary may.
        if (gaps === '' || gaps === this.lastRepair.get(g.id)) return
        this.lastRepair.set(g.id, gaps)
        this.sendSync(peer, g)
      }, repairDelayMs),
    )
  }

  /**
   * Every 30 s, each group with traffic compares summaries with one connected member, in turn,
   * both ways: a member a relay missed (say, its link to its parent in a tree failed) is found
   * by a neighbor within a few rounds.
   */
  private compareSummaries(): void {
    if (this.c.closed()) return
    this.antiEntropyRound++
    for (const id of this.active) {
      const g = this.c.groups.get(id)
      if (g?.active !== true) continue
      const open = this.o.links.openMembers(g)
      const peer = open[this.antiEntropyRound % Math.max(1, open.length)]
      if (peer !== undefined) this.sendSync(peer, g, true)
    }
    this.active.clear()
  }

  /**
   * A member's summary: the member-list versions they lack, then the keys and the ciphertext
   * copies they lack (and ours back when they ask for it).
   */
  async onSync(peer: string, f: GroupSyncFrame): Promise<void> {
    const { out, views } = this.c
    const g = this.c.groups.get(f.g)
    if (g === undefined) {
      // A group we do not know yet: ask for its chain (we check it before joining).
      if (f.v >= 0) out.frame(peer, { type: 'group-sync', g: f.g, v: -1, h: '', s: [] })
      return
    }
    views.setVersion(peer, g.id, f.v)
    if (!g.chain.everMember(peer)) {
      // Perhaps added in a version we do not hold yet: our head (and nothing we hold) asks for it.
      if (f.v > g.chain.version)
        out.frame(peer, { type: 'group-sync', g: g.id, v: g.chain.version, h: g.chain.hash, s: [] })
      else this.o.admits(g, peer)
      return
    }
    if (f.v < g.chain.version) for (const v of g.chain.after(f.v)) out.list(peer, g.id, v)
    else if (f.v === g.chain.version && f.h !== g.chain.hash)
      this.c.report({
        groupId: g.id,
        code: 'bad-member-list',
        message: `${peer} holds another version ${f.v} of the member list`,
        peer,
      })
    if (!g.active || !g.chain.isMember(peer)) return
    // Both ways: what they lack we send below, what we lack they send on our summary.
    if (f.r === true) this.sendSync(peer, g)
    const view = PeerView.fromSummary(f.s)
    views.replace(peer, g.id, view)
    await this.o.delivery.summarized(g, peer, view)
    // Keys first (oldest epoch first), then messages in the order we got them.
    const keys = g.holdings
      .all()
      .filter((h) => g.chain.isMember(peer, h.listVersion) && view.needsKey(h.sender, h.epoch))
      .sort((a, b) => a.epoch - b.epoch)
    for (const h of keys) {
      const key = g.keys.get(chainId(h.sender, h.epoch))
      if (key === undefined) continue
      view.gotKey(h.sender, h.epoch)
      out.key(peer, g.id, key)
    }
    for (let seq = Math.max(0, g.nextSeq - keptCopies); seq < g.nextSeq;) {
      const batch = await this.c.store.copies(g.id, seq, 500)
      if (batch.length === 0) break
      for (const c of batch) {
        const h = g.holdings.get(c.sender, c.epoch)
        if (h === undefined || c.sender === peer || !g.chain.isMember(peer, h.listVersion)) continue
        if (!view.needs(c.sender, c.epoch, c.iteration)) continue
        view.got(c.sender, c.epoch, c.iteration)
        out.message(peer, g.id, toBase64Url(c.ct))
      }
      seq = (batch[batch.length - 1] as CopyRow).seq + 1
    }
  }
}
