import { fromBase64Url, type Identity } from '../../../crypto/index.ts'
import type { GroupListFrame } from '../../../shared/index.ts'
import type { ContactRecord } from '../store/db.ts'
import type { GroupContext } from './context.ts'
import type { GroupDelivery } from './delivery.ts'
import { chainId, LiveGroup } from './group-store.ts'
import type { GroupInbox } from './inbox.ts'
import type { GroupLinks } from './links.ts'
import { MemberChain } from './member-chain.ts'
import type { MemberPins } from './pins.ts'
import type { SenderKeys } from './sender-keys.ts'
import type { GroupSync } from './sync.ts'
import type { GroupEvents } from './types.ts'

/** The version a member list claims (before it is verified); undefined when it names none. */
export function versionOf(raw: unknown): number | undefined {
  const v = (raw as { version?: unknown } | null | undefined)?.version
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined
}

export interface MemberListsOptions {
  readonly identity: Identity
  /** A friend's pinned key, if any (trust.ts). */
  readonly contact: (username: string) => Promise<ContactRecord | undefined>
  readonly keys: Pick<SenderKeys, 'rotate'>
  readonly sync: Pick<GroupSync, 'sendSync'>
  readonly links: Pick<GroupLinks, 'connect' | 'connectNeighbors' | 'openMembers' | 'everOpen'>
  readonly pins: Pick<MemberPins, 'rebuild'>
  readonly delivery: Pick<GroupDelivery, 'forget'>
  readonly inbox: Pick<GroupInbox, 'forget'>
  readonly onRemoved: (e: GroupEvents['group-removed']) => void
}

/**
 * The admin-signed member lists: a group joined from its verified chain, each new version
 * applied (keys of removed members dropped, our sender key replaced), and everything of a
 * group forgotten once this user is out of it.
 */
export class MemberLists {
  constructor(
    private readonly c: GroupContext,
    private readonly o: MemberListsOptions,
  ) {}

  /** The key that must have signed a chain's version 0: ours, or its creator's pinned and accepted key. */
  async creatorKey(creator: string): Promise<Uint8Array | undefined> {
    if (creator === this.c.me) return this.o.identity.identityKey.publicKey
    const contact = await this.o.contact(creator)
    return contact !== undefined && contact.pendingKey === null
      ? fromBase64Url(contact.identityKey, 32)
      : undefined
  }

  /**
   * A group seen for the first time: the chain must start with a version 0 signed by its creator
   * with the key pinned for that friend, and its newest version must name us.
   */
  async adopt(
    groupId: string,
    chainRaw: readonly unknown[],
    from: string | undefined,
    fromServer: boolean,
  ): Promise<void> {
    const first = chainRaw[0] as { signer?: unknown; groupId?: unknown } | undefined
    const creator = typeof first?.signer === 'string' ? first.signer : undefined
    if (first?.groupId !== groupId || creator === undefined) return
    const creatorKey = await this.creatorKey(creator)
    if (creatorKey === undefined) {
      this.c.report({
        groupId,
        code: 'untrusted-creator',
        message: `${creator} created the group but is not a friend with an accepted key: not joined`,
        ...(from === undefined ? {} : { peer: from }),
      })
      return
    }
    let chain: MemberChain
    try {
      chain = MemberChain.verify(chainRaw, creatorKey)
    } catch (e: unknown) {
      this.reportList(groupId, e, from)
      return
    }
    if (!chain.isMember(this.c.me)) {
      if (fromServer)
        this.c.report({
          groupId,
          code: 'not-in-member-list',
          message: 'the server says you are in this group, but its signed member list does not name you',
        })
      return
    }
    const g = new LiveGroup(groupId, chain, { state: 'active', lastEpoch: 0 })
    this.c.groups.set(groupId, g)
    await this.c.store.saveGroup(g)
    await this.o.pins.rebuild()
    await this.o.keys.rotate(g)
    this.c.changed()
    for (const p of this.o.links.openMembers(g, from)) this.o.sync.sendSync(p, g)
    this.o.links.connectNeighbors(g)
  }

  /** A `group-list` frame: a group we do not hold yet, from its version 0, or newer versions. */
  async onList(peer: string, f: GroupListFrame): Promise<void> {
    const g = this.c.groups.get(f.g)
    if (g === undefined) {
      if (versionOf(f.l[0]) === 0) await this.adopt(f.g, f.l, peer, false)
      return
    }
    await this.applyList(g, f.l, peer)
  }

  /**
   * New versions of a group's member list (from the admin, the server's hint, or any member):
   * each must extend the last one held. Removed members' keys are dropped and everyone left
   * replaces their sender key; if the list no longer names us, the group becomes read-only.
   */
  async applyList(g: LiveGroup, suffix: readonly unknown[], from: string | undefined): Promise<void> {
    const { me, out, store } = this.c
    const { links, sync } = this.o
    const firstNew = suffix.find((raw) => (versionOf(raw) ?? -1) > g.chain.version)
    if (firstNew === undefined) {
      try {
        g.chain.extend(suffix)
      } catch (e: unknown) {
        this.reportList(g.id, e, from)
      }
      return
    }
    if ((versionOf(firstNew) ?? 0) > g.chain.version + 1) {
      // A gap: ask whoever sent it for everything after what we hold.
      if (from !== undefined) sync.sendSync(from, g)
      return
    }
    let changes
    try {
      changes = g.chain.extend(suffix)
    } catch (e: unknown) {
      this.reportList(g.id, e, from)
      return
    }
    if (changes.length === 0) return
    const versions = g.chain.after(changes[0]!.version - 1)
    const told = new Set<string>()
    for (const p of links.everOpen(g, from)) {
      told.add(p)
      for (const v of versions) out.list(p, g.id, v)
    }
    if (!g.chain.isMember(me)) {
      const wasActive = g.active
      if (g.state === 'active') {
        g.state = 'removed'
        g.removedBy = g.chain.head.signer
      }
      g.leavePending = false
      await this.forget(g)
      if (wasActive) this.o.onRemoved({ groupId: g.id, name: g.name, by: g.chain.head.signer })
      this.c.changed()
      return
    }
    if (!g.active) {
      // Added again after leaving or being removed.
      g.state = 'active'
      g.removedBy = undefined
      g.leavePending = false
    }
    const removed = new Set(changes.flatMap((c) => c.removed))
    for (const u of removed) if (g.chain.isMember(u)) removed.delete(u)
    const dropped: { sender: string; epoch: number }[] = []
    for (const u of removed) {
      for (const h of g.holdings.epochsOf(u)) {
        dropped.push({ sender: u, epoch: h.epoch })
        g.keys.delete(chainId(u, h.epoch))
        g.receivers.delete(chainId(u, h.epoch))
      }
      g.holdings.delete(u)
    }
    await store.deleteChains(g.id, dropped)
    await store.saveGroup(g)
    await this.o.pins.rebuild()
    await this.o.keys.rotate(g)
    // The admin tells the removed (friends) itself; everyone syncs again, so whatever was
    // dropped for naming a version we did not have yet comes back.
    if (g.chain.isAdmin(me)) for (const u of removed) if (!told.has(u)) links.connect(u)
    for (const p of links.openMembers(g)) sync.sendSync(p, g)
    this.c.changed()
    links.connectNeighbors(g)
  }

  /** Drops every key of a group this user is no longer in (removed or left). */
  async forget(g: LiveGroup): Promise<void> {
    g.sender?.rotate(this.c.now())
    g.sender = undefined
    g.ownKey = undefined
    for (const h of g.holdings.all()) g.holdings.delete(h.sender)
    g.keys.clear()
    g.receivers.clear()
    this.o.inbox.forget(g.id)
    this.o.delivery.forget(g.id)
    await this.c.store.wipeKeys(g.id)
    await this.c.store.saveGroup(g)
    await this.o.pins.rebuild()
  }

  private reportList(groupId: string, e: unknown, from: string | undefined): void {
    this.c.report({
      groupId,
      code: 'bad-member-list',
      message: `member list refused: ${e instanceof Error ? e.message : String(e)}`,
      ...(from === undefined ? {} : { peer: from }),
    })
  }
}
