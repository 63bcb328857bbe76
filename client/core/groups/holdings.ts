import type { PreviousEpoch } from '../../../crypto/index.ts'
import { groupLimits, type EpochSummary, type SenderSummary } from '../../../shared/index.ts'
import { RangeSet } from './ranges.ts'

/** One epoch of one sender's key as this device holds it. */
export interface EpochHolding {
  readonly sender: string
  readonly epoch: number
  /** The member-list version the epoch belongs to (from its signed key). */
  readonly listVersion: number
  readonly prev: PreviousEpoch | undefined
  /** Iterations read (or, for our own epochs, sent), whose ciphertexts we may still hold. */
  readonly held: RangeSet
}

/** Every sender-key epoch a device holds in one group: what it tells others in a summary. */
export class Holdings {
  private readonly bySender = new Map<string, Map<number, EpochHolding>>()

  get(sender: string, epoch: number): EpochHolding | undefined {
    return this.bySender.get(sender)?.get(epoch)
  }

  set(h: EpochHolding): void {
    let epochs = this.bySender.get(h.sender)
    if (epochs === undefined) {
      epochs = new Map()
      this.bySender.set(h.sender, epochs)
    }
    epochs.set(h.epoch, h)
  }

  delete(sender: string, epoch?: number): void {
    if (epoch === undefined) this.bySender.delete(sender)
    else this.bySender.get(sender)?.delete(epoch)
  }

  has(sender: string, epoch: number, iteration: number): boolean {
    return this.get(sender, epoch)?.held.has(iteration) ?? false
  }

  /** A sender's epochs, newest first. */
  epochsOf(sender: string): EpochHolding[] {
    return [...(this.bySender.get(sender)?.values() ?? [])].sort((a, b) => b.epoch - a.epoch)
  }

  senders(): string[] {
    return [...this.bySender.keys()]
  }

  all(): EpochHolding[] {
    return [...this.bySender.values()].flatMap((m) => [...m.values()])
  }

  /**
   * The summary a peer needs to send us what we miss: per sender the newest epochs held, with
   * the iterations held. Epochs below the lowest listed are not asked for again (we had them,
   * or they were before our time) — except one: when the lowest epoch held names a previous
   * epoch of a list version we were in (`entitled`), that epoch is listed as wanted, so a member
   * whose first key of a sender was a later epoch still gets the one before.
   */
  summarize(entitled: (listVersion: number) => boolean): SenderSummary[] {
    const out: SenderSummary[] = []
    for (const sender of this.senders().slice(0, groupLimits.maxSummarySenders)) {
      const epochs = this.epochsOf(sender).slice(0, groupLimits.maxSummaryEpochs - 1)
      const entries: EpochSummary[] = epochs.map((h) => ({
        e: h.epoch,
        d: true,
        r: h.held.toPairs(groupLimits.maxRanges),
      }))
      const lowest = epochs[epochs.length - 1]
      const prev = lowest?.prev
      if (prev !== undefined && entitled(prev.listVersion) && this.get(sender, prev.epoch) === undefined)
        entries.push({ e: prev.epoch, d: false, r: [] })
      out.push({ s: sender, e: entries })
    }
    return out
  }
}

/**
 * What a connected member holds, as far as we know: its summary, then whatever it acknowledged
 * or sent us, and whatever we sent it on this connection. Decides what it still needs, so
 * nothing is sent to it twice over one connection.
 */
export class PeerView {
  private readonly floors = new Map<string, number>()
  private readonly keys = new Set<string>()
  private readonly held = new Map<string, RangeSet>()
  /** Until its summary arrives we know nothing: live messages go, nothing old is offered. */
  summarized = false

  static fromSummary(senders: readonly SenderSummary[]): PeerView {
    const view = new PeerView()
    view.summarized = true
    for (const s of senders) {
      if (s.e.length === 0) continue
      view.floors.set(s.s, Math.min(...s.e.map((e) => e.e)))
      for (const e of s.e) {
        if (e.d) view.keys.add(`${s.s}\n${e.e}`)
        view.ranges(s.s, e.e).addAll(RangeSet.of(e.r))
      }
    }
    return view
  }

  private ranges(sender: string, epoch: number): RangeSet {
    const id = `${sender}\n${epoch}`
    let r = this.held.get(id)
    if (r === undefined) {
      r = new RangeSet()
      this.held.set(id, r)
    }
    return r
  }

  /** Before its floor, a sender's epochs are done with as far as the peer is concerned. */
  private belowFloor(sender: string, epoch: number): boolean {
    const floor = this.floors.get(sender)
    return floor !== undefined && epoch < floor
  }

  needsKey(sender: string, epoch: number): boolean {
    return !this.belowFloor(sender, epoch) && !this.keys.has(`${sender}\n${epoch}`)
  }

  needs(sender: string, epoch: number, iteration: number): boolean {
    return !this.belowFloor(sender, epoch) && !this.ranges(sender, epoch).has(iteration)
  }

  gotKey(sender: string, epoch: number): void {
    this.keys.add(`${sender}\n${epoch}`)
  }

  got(sender: string, epoch: number, iteration: number): void {
    this.ranges(sender, epoch).add(iteration)
  }

  gotRanges(sender: string, epoch: number, pairs: readonly (readonly [number, number])[]): void {
    this.ranges(sender, epoch).addAll(RangeSet.of(pairs))
  }
}

/**
 * Per connected member and group: what they hold, as far as this connection knows, and the
 * member-list version their last summary named. Both go when the connection closes or opens again.
 */
export class PeerViews {
  private readonly views = new Map<string, Map<string, PeerView>>()
  private readonly versions = new Map<string, Map<string, number>>()

  /** The member's view of the group, made empty (nothing known yet) the first time. */
  of(peer: string, groupId: string): PeerView {
    let byGroup = this.views.get(peer)
    if (byGroup === undefined) {
      byGroup = new Map()
      this.views.set(peer, byGroup)
    }
    let v = byGroup.get(groupId)
    if (v === undefined) {
      v = new PeerView()
      byGroup.set(groupId, v)
    }
    return v
  }

  /** The member's summary of the group replaces whatever this connection knew. */
  replace(peer: string, groupId: string, view: PeerView): void {
    this.views.get(peer)?.delete(groupId)
    const byGroup = this.views.get(peer) ?? new Map<string, PeerView>()
    byGroup.set(groupId, view)
    this.views.set(peer, byGroup)
  }

  version(peer: string, groupId: string): number | undefined {
    return this.versions.get(peer)?.get(groupId)
  }

  setVersion(peer: string, groupId: string, version: number): void {
    let byGroup = this.versions.get(peer)
    if (byGroup === undefined) {
      byGroup = new Map()
      this.versions.set(peer, byGroup)
    }
    byGroup.set(groupId, version)
  }

  /** Forgets everything about the member (its connection opened anew, or closed). */
  drop(peer: string): void {
    this.views.delete(peer)
    this.versions.delete(peer)
  }
}
