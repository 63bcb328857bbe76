import {
  createMemberList,
  CryptoError,
  fromBase64Url,
  groupMessageHeader,
  GroupReceiver,
  GroupSender,
  nextMemberList,
  randomBytes,
  signSenderKey,
  toBase64Url,
  utf8Decode,
  utf8Encode,
  verifySenderKey,
  type GroupMember,
  type GroupMessageHeader,
  type Identity,
  type SignedSenderKey,
} from '../../../crypto/index.ts'
import {
  decodeGroupContent,
  decodeGroupFrame,
  limits,
  peerLimits,
  type Group,
  type FileOfferMessage,
  type GroupAckFrame,
  type GroupContent,
  type GroupFileFrame,
  type GroupKeysFrame,
  type GroupListFrame,
  type GroupMessagesFrame,
  type GroupSyncFrame,
} from '../../../shared/index.ts'
import type { Api } from '../api.ts'
import { Emitter } from '../emitter.ts'
import type { History, Message, MessageContent } from '../store/history.ts'
import type { ContactRecord } from '../store/db.ts'
import type { GroupFileRoutes } from '../files/group-files.ts'
import { GroupError } from './errors.ts'
import { portableGroup, type GroupRestoreCounts, type PortableGroupValue } from './group-backup.ts'
import type { CopyRow } from './group-db.ts'
import { chainId, GroupStore, LiveGroup } from './group-store.ts'
import { PeerView } from './holdings.ts'
import { MemberChain } from './member-chain.ts'
import { GroupOutgoing, type FrameSink } from './outgoing.ts'
import { GroupSignals } from './signals.ts'
import { chooseLinks, forwardingParents, ringNeighbors } from './overlay.ts'
import { RangeSet } from './ranges.ts'
import { groupConversationId, type GroupErrorEvent, type GroupEvents, type GroupView } from './types.ts'

/** The pairwise connections to members (the peer manager). */
export interface GroupTransport extends FrameSink {
  isOpen(peer: string): boolean
  /** Starts connecting if not connected (and the member is online). */
  connect(peer: string): void
}

export interface GroupsOptions {
  readonly me: string
  readonly identity: Identity
  readonly vaultKey: Uint8Array
  readonly history: History
  readonly api: Pick<Api, 'createGroup' | 'updateMembers' | 'renameGroup' | 'leaveGroup'>
  readonly transport: GroupTransport
  /** Who the server says is online (presence). */
  readonly online: () => ReadonlySet<string>
  /** A friend's pinned key, if any (trust.ts). */
  readonly contact: (username: string) => Promise<ContactRecord | undefined>
  /** Group connections this device opens itself, across all its groups (default 8). */
  readonly maxLinks?: number
  readonly now?: () => number
  /** Strictly increasing message timestamps, shared with one-to-one chat. */
  readonly nextTimestamp?: () => number
  /** What files shared in groups do (files/transfers.ts). */
  readonly files?: GroupFileHandler
  /** Off: no read receipts are sent in groups, and the others' do not count. */
  readonly readReceipts?: () => boolean
  /** Off: typing is not sent to groups, and the others' is not reported. */
  readonly typingIndicators?: () => boolean
}

/** The file transfers' side of files in groups. */
export interface GroupFileHandler {
  /** Records a shared file from its group message; the content to store, or undefined to drop it. */
  groupOffer(
    groupId: string,
    author: string,
    frame: FileOfferMessage,
  ): Promise<{ type: 'file' | 'image'; content: MessageContent } | undefined>
  /** The file's message is stored (`isNew` false for a duplicate). */
  offerStored(peer: undefined, frame: FileOfferMessage, isNew: boolean): Promise<void>
  /** A member asks for, acknowledges or stops a file (already checked to be in the signed list). */
  groupControl(peer: string, frame: GroupFileFrame): Promise<void>
}

export {
  groupConversationId,
  groupOfConversation,
  isGroupFrame,
  type GroupErrorEvent,
  type GroupErrorEventCode,
  type GroupEvents,
  type GroupMemberView,
  type GroupView,
} from './types.ts'

/** Newest epochs kept per sender (keys and read state), 100 messages each between rotations. */
const keptEpochsPerSender = 16
/** Newest ciphertext copies kept per group for members who missed them. */
const keptCopies = 5000
/** Our own messages whose delivery is followed (the newest ones). */
const maxPendingOwn = 500
/** Messages waiting for a sender key not here yet, per group. */
const maxParked = 2000
/** A connection to the same member is asked for at most this often. */
const connectEveryMs = 2000
/** A member with the larger name waits this long for the other to call before calling itself. */
const callGraceMs = 1500
/** The same refusal from the same member is reported at most this often. */
const errorEveryMs = 5000
/** Summaries to more members wait until a catch-up has brought nothing new for this long. */
const catchUpQuietMs = 1000
/** A gap in a sender's messages is asked for again after this long (it may just be on its way). */
const repairDelayMs = 1000
/** Groups with traffic compare summaries with one connected member this often, for anything a relay missed. */
const antiEntropyMs = 30_000
/** Epochs follow a clock (seconds since 2024), so a member that lost its state never reuses one. */
const epochOriginMs = Date.UTC(2024, 0, 1)

const newMessageId = (): string => toBase64Url(randomBytes(16))
const headerId = (g: string, h: GroupMessageHeader): string => `${g}\n${h.sender}\n${h.epoch}\n${h.iteration}`

function blobOf(value: unknown): string {
  return toBase64Url(utf8Encode(JSON.stringify(value)))
}

function parseBlob(blob: string): unknown {
  try {
    return JSON.parse(utf8Decode(fromBase64Url(blob))) as unknown
  } catch {
    return undefined
  }
}

function versionOf(raw: unknown): number | undefined {
  const v = (raw as { version?: unknown } | null | undefined)?.version
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined
}

/**
 * Group chat over the pairwise connections among members (docs/PROTOCOL.md, "Groups"): the
 * admin-signed member list, sender keys signed by their owners and passed on member to member,
 * messages encrypted once and flooded over a bounded set of connections, and catch-up from
 * whichever member is online.
 */
export class Groups extends Emitter<GroupEvents> {
  private readonly store: GroupStore
  private readonly groups = new Map<string, LiveGroup>()
  private readonly queues = new Map<string, Promise<unknown>>()
  /** Per connected member and group: what they hold, as far as this connection knows. */
  private readonly views = new Map<string, Map<string, PeerView>>()
  /** Per connected member and group: the member-list version their last summary named. */
  private readonly peerVersions = new Map<string, Map<string, number>>()
  private readonly out: GroupOutgoing
  /** Per group and epoch: messages that arrived before their sender key. */
  private readonly parked = new Map<string, Map<string, { bytes: Uint8Array; from: string }[]>>()
  /** Our own messages not yet known to be on every member's device. */
  private readonly pendingOwn = new Map<string, { id: string; acked: Set<string> }>()
  private readonly server = new Map<string, Group>()
  private serverListed = false
  /** Identity keys the member lists give non-friends (null: two groups disagree). */
  private pins = new Map<string, string | null>()
  /** Members left out because a list gives a friend another key than the pinned one. */
  private readonly mismatched = new Set<string>()
  private readonly errorsAt = new Map<string, number>()
  private readonly connectedAt = new Map<string, number>()
  private readonly answerTimers = new Set<ReturnType<typeof setTimeout>>()
  private readonly signals: GroupSignals
  private readonly maxLinks: number
  private readonly now: () => number
  private readonly nextTimestamp: () => number
  private readonly loaded: Promise<void>
  private emitScheduled = false
  private closed = false
  /** Per group: the forwarding trees (by origin) for one view of who is online. */
  private readonly trees = new Map<string, { key: string; byOrigin: Map<string, Map<string, string>> }>()
  private readonly repairs = new Map<string, ReturnType<typeof setTimeout>>()
  /** Per group: the catch-up in progress, and the members whose summaries wait for it. */
  private readonly catchUps = new Map<
    string,
    { progressAt: number; waiting: Set<string>; timer: ReturnType<typeof setTimeout> | undefined }
  >()
  private readonly lastRepair = new Map<string, string>()
  /** Groups with messages since the last anti-entropy round. */
  private readonly active = new Set<string>()
  private antiEntropyRound = 0
  private readonly antiEntropy: ReturnType<typeof setInterval>

  constructor(private readonly o: GroupsOptions) {
    super()
    this.store = new GroupStore(o.me, o.vaultKey)
    this.out = new GroupOutgoing(o.transport)
    this.signals = new GroupSignals({
      me: o.me,
      history: o.history,
      send: async (peer, frame) =>
        o.transport.isOpen(peer) && o.transport.send(peer, utf8Encode(JSON.stringify(frame))),
      openMembers: (groupId) => {
        const g = this.activeGroup(groupId)
        return g === undefined ? [] : this.openMembers(g)
      },
      members: (groupId) => this.otherMembers(groupId),
      connect: (peer) => this.connect(peer),
      readReceipts: o.readReceipts ?? (() => true),
      typingIndicators: o.typingIndicators ?? (() => true),
      onTyping: (e) => this.emit('group-typing', e),
      onMessage: (m) => this.emit('message', m),
    })
    this.maxLinks = o.maxLinks ?? 8
    this.now = o.now ?? Date.now
    this.nextTimestamp = o.nextTimestamp ?? this.now
    this.loaded = this.load()
    this.antiEntropy = setInterval(() => this.compareSummaries(), antiEntropyMs)
  }

  private async load(): Promise<void> {
    for (const g of await this.store.loadAll()) {
      this.groups.set(g.id, g)
      if (!g.active) continue
      // Our recent messages that no other member had confirmed yet: their summaries will.
      const recent = await this.store.copies(g.id, Math.max(0, g.nextSeq - maxPendingOwn), maxPendingOwn)
      for (const c of recent) {
        if (c.sender !== this.o.me || c.messageId === undefined) continue
        const state = (await this.o.history.get(c.messageId))?.state
        if (state === 'queued' || state === 'sent')
          this.pendingOwn.set(headerId(g.id, c), { id: c.messageId, acked: new Set() })
      }
    }
    await this.rebuildPins()
  }

  /** Resolves when the stored groups are loaded (the client waits for it before going online). */
  ready(): Promise<void> {
    return this.loaded
  }

  close(): void {
    this.closed = true
    clearInterval(this.antiEntropy)
    for (const t of this.repairs.values()) clearTimeout(t)
    for (const c of this.catchUps.values()) clearTimeout(c.timer)
    for (const t of this.answerTimers) clearTimeout(t)
    void this.store.close()
  }

  // ---- views ----

  list(): GroupView[] {
    return [...this.groups.values()].map((g) => this.viewOf(g)).sort((a, b) => a.name.localeCompare(b.name))
  }

  view(groupId: string): GroupView | undefined {
    const g = this.groups.get(groupId)
    return g === undefined ? undefined : this.viewOf(g)
  }

  private viewOf(g: LiveGroup): GroupView {
    const online = this.o.online()
    const s = this.server.get(g.id)
    let serverView: GroupView['serverView'] = 'unknown'
    if (s !== undefined) {
      const listed = new Set(s.members.map((m) => m.username))
      const signed = new Set(g.chain.members.map((m) => m.id))
      const same = listed.size === signed.size && [...listed].every((u) => signed.has(u)) && s.name === g.name
      serverView = same ? 'agrees' : 'differs'
    } else if (this.serverListed) serverView = 'missing'
    return {
      id: g.id,
      conversationId: groupConversationId(g.id),
      name: g.name,
      admin: g.chain.creator,
      isAdmin: g.chain.isAdmin(this.o.me),
      members: g.chain.members.map((m) => ({
        username: m.id,
        admin: m.admin,
        me: m.id === this.o.me,
        online: m.id === this.o.me || online.has(m.id),
        connected: m.id !== this.o.me && this.o.transport.isOpen(m.id),
      })),
      state: g.state,
      ...(g.removedBy === undefined ? {} : { removedBy: g.removedBy }),
      version: g.chain.version,
      serverView,
    }
  }

  /** One `groups` event for any number of changes in the same turn. */
  private changed(): void {
    if (this.emitScheduled || this.closed) return
    this.emitScheduled = true
    queueMicrotask(() => {
      this.emitScheduled = false
      if (!this.closed) this.emit('groups', this.list())
    })
  }

  private report(e: GroupErrorEvent): void {
    const key = `${e.groupId}\n${e.code}\n${e.peer ?? ''}\n${e.members?.join(',') ?? ''}`
    const now = this.now()
    if (now - (this.errorsAt.get(key) ?? -Infinity) < errorEveryMs) return
    this.errorsAt.set(key, now)
    if (this.errorsAt.size > 1000) this.errorsAt.clear()
    this.emit('group-error', e)
  }

  // ---- keys for connections to members who are not friends ----

  /**
   * The identity key a member list gives a member who is not a friend, for authenticating the
   * connection to them (trust.ts falls back to it). Null when no group names them or two
   * groups disagree.
   */
  async groupKey(username: string): Promise<Uint8Array | null> {
    await this.loaded
    const key = this.pins.get(username)
    return key === undefined || key === null ? null : fromBase64Url(key, 32)
  }

  /** In a group with us and not a contact: their connection is for group frames only. */
  /** What files shared in groups need from the groups (files/group-files.ts). */
  fileRoutes(): GroupFileRoutes {
    return {
      canPost: (groupId) => this.activeGroup(groupId) !== undefined,
      members: (groupId) => this.otherMembers(groupId),
      isMember: (groupId, username) => this.activeGroup(groupId)?.chain.isMember(username) === true,
      connect: (username) => this.connect(username),
      send: async (peer, frame) =>
        this.o.transport.isOpen(peer) && this.o.transport.send(peer, utf8Encode(JSON.stringify(frame))),
      post: (groupId, offer, type, content) => this.postFile(groupId, offer, type, content),
    }
  }

  /** The group, if this user is an active member of it. */
  private activeGroup(groupId: string): LiveGroup | undefined {
    const g = this.groups.get(groupId)
    return g?.active === true && g.chain.isMember(this.o.me) ? g : undefined
  }

  /** The other members in the group's newest signed list; none once this user is out. */
  private otherMembers(groupId: string): string[] {
    return (
      this.activeGroup(groupId)
        ?.chain.members.map((m) => m.id)
        .filter((u) => u !== this.o.me) ?? []
    )
  }

  isGroupOnly(username: string): boolean {
    return this.pins.has(username)
  }

  private async rebuildPins(): Promise<void> {
    const pins = new Map<string, string | null>()
    for (const g of this.groups.values()) {
      if (!g.active) continue
      for (const m of g.chain.members) {
        if (m.id === this.o.me) continue
        const contact = await this.o.contact(m.id)
        if (contact !== undefined) {
          if (contact.identityKey !== m.identityKey && !this.mismatched.has(m.id)) {
            this.mismatched.add(m.id)
            this.report({
              groupId: g.id,
              code: 'key-mismatch',
              message: `the member list gives ${m.id} another key than the one pinned for them`,
              members: [m.id],
            })
          }
          continue
        }
        const known = pins.get(m.id)
        pins.set(m.id, known === undefined || known === m.identityKey ? m.identityKey : null)
      }
    }
    this.pins = pins
  }

  // ---- connections ----

  /** Members this device keeps connections to, across its groups (overlay.ts). */
  wantedLinks(): string[] {
    const online = this.o.online()
    const per: string[][] = []
    for (const g of this.groups.values()) {
      if (!g.active) continue
      const members = g.chain.members
        .map((m) => m.id)
        .filter((u) => u !== this.o.me && online.has(u) && !this.mismatched.has(u))
      per.push(ringNeighbors(this.o.me, members, this.maxLinks))
    }
    return chooseLinks(per, this.maxLinks)
  }

  /** Opens the connections this device keeps for `g` (or for all groups) that are not open. */
  private connectNeighbors(g?: LiveGroup): void {
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
  private connect(peer: string): void {
    if (peer === this.o.me || this.o.transport.isOpen(peer) || !this.o.online().has(peer)) return
    const now = this.now()
    if (now - (this.connectedAt.get(peer) ?? -Infinity) < connectEveryMs) return
    this.connectedAt.set(peer, now)
    if (this.o.me < peer) {
      this.o.transport.connect(peer)
      return
    }
    // Two members who want each other (ring neighbors do) would call at the same moment, and one
    // call would be thrown away: the smaller name calls, the other only if no call came meanwhile.
    const timer = setTimeout(() => {
      this.answerTimers.delete(timer)
      if (!this.closed && !this.o.transport.isOpen(peer) && this.o.online().has(peer))
        this.o.transport.connect(peer)
    }, callGraceMs)
    this.answerTimers.add(timer)
  }

  /** The server's connection came back (or the client started): catch up with neighbors. */
  online(): void {
    void this.loaded.then(() => this.connectNeighbors())
  }

  /** Presence changed: a member who came online may have missed messages. */
  presence(username: string, online: boolean): void {
    void this.loaded.then(() => {
      if (![...this.groups.values()].some((g) => g.chain.isMember(username))) return
      this.changed()
      if (online && this.wantedLinks().includes(username)) this.connect(username)
    })
  }

  /** A connection opened: summaries of every group the member is (or was) in go both ways. */
  linkOpened(peer: string): void {
    this.signals.linkOpened(peer)
    void this.loaded.then(() => {
      this.views.delete(peer)
      this.peerVersions.delete(peer)
      let any = false
      for (const g of this.groups.values()) {
        if (!g.chain.everMember(peer)) continue
        any = true
        this.catchUpFrom(peer, g)
        if (g.leavePending && g.chain.creator === peer) this.out.frame(peer, { type: 'group-leave', g: g.id })
      }
      if (any) this.changed()
    })
  }

  /**
   * Our summary to a member whose connection just opened. Every member who gets it sends what we
   * miss, so when several connections open at once (coming back online) one catches us up first:
   * the others get our summary once nothing new has come for a moment, and send only what the
   * first did not have.
   */
  private catchUpFrom(peer: string, g: LiveGroup): void {
    const now = this.now()
    const current = this.catchUps.get(g.id)
    if (current === undefined || now - current.progressAt >= catchUpQuietMs) {
      this.catchUps.set(g.id, { progressAt: now, waiting: new Set(), timer: undefined })
      this.sendSync(peer, g)
      return
    }
    current.waiting.add(peer)
    const check = (): void => {
      const c = this.catchUps.get(g.id)
      if (c === undefined || this.closed) return
      const quietFor = this.now() - c.progressAt
      if (quietFor < catchUpQuietMs) {
        c.timer = setTimeout(check, catchUpQuietMs - quietFor)
        return
      }
      this.catchUps.delete(g.id)
      for (const p of c.waiting) if (this.o.transport.isOpen(p)) this.sendSync(p, g)
    }
    current.timer ??= setTimeout(check, catchUpQuietMs)
  }

  linkClosed(peer: string): void {
    this.views.delete(peer)
    this.peerVersions.delete(peer)
    this.out.drop(peer)
    if ([...this.groups.values()].some((g) => g.chain.isMember(peer))) this.changed()
  }

  private view_(peer: string, groupId: string): PeerView {
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

  private sendSync(peer: string, g: LiveGroup, askBack = false): void {
    const me = this.o.me
    const s = g.active ? g.holdings.summarize((v) => g.chain.isMember(me, v)) : []
    this.out.frame(peer, {
      type: 'group-sync',
      g: g.id,
      v: g.chain.version,
      h: g.chain.hash,
      s,
      ...(askBack ? { r: true as const } : {}),
    })
  }

  /** Members of `g` with an open connection, except `except`. */
  private openMembers(g: LiveGroup, except?: string): string[] {
    return g.chain.members
      .map((m) => m.id)
      .filter((u) => u !== this.o.me && u !== except && this.o.transport.isOpen(u))
  }

  // ---- serialization ----

  /** Work on one group runs one step at a time, in the order it arrived. */
  private run<T>(groupId: string, task: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(groupId) ?? Promise.resolve()
    const next = prev.then(async () => {
      await this.loaded
      return task()
    })
    const settled = next.catch(() => undefined)
    this.queues.set(groupId, settled)
    void settled.then(() => {
      if (this.queues.get(groupId) === settled) this.queues.delete(groupId)
    })
    return next
  }

  // ---- what the server says ----

  /** The server's list of the user's groups (at start and after reconnecting). */
  async serverGroups(list: readonly Group[]): Promise<void> {
    await this.loaded
    const listed = new Set(list.map((g) => g.id))
    for (const id of [...this.server.keys()]) if (!listed.has(id)) this.server.delete(id)
    this.serverListed = true
    for (const group of list) await this.serverGroup(group)
    for (const g of this.groups.values()) if (g.active && !listed.has(g.id)) this.askAdmin(g)
    this.changed()
  }

  /**
   * The server's word on one group: its name, who it lists, and the newest signed member list.
   * Only the signed list decides membership and the name; the server's members and name are
   * compared with it (`serverView`), never shown.
   */
  async serverGroup(group: Group): Promise<void> {
    await this.loaded
    this.server.set(group.id, group)
    const blob = parseBlob(group.memberList)
    const known = this.groups.get(group.id)
    if (known === undefined) {
      await this.run(group.id, () => this.joinFromServer(group, blob))
      this.changed()
      return
    }
    await this.run(group.id, async () => {
      const version = versionOf(blob)
      if (known.active && version === known.chain.version + 1) await this.applyList(known, [blob], undefined)
      else if (known.active && version !== undefined && version > known.chain.version + 1)
        this.askAdmin(known)
      if (!known.active) return
      const extra = group.members.map((m) => m.username).filter((u) => !known.chain.isMember(u))
      if (extra.length > 0)
        this.report({
          groupId: group.id,
          code: 'server-membership',
          message: `the server lists ${extra.join(', ')} in the group, but the signed member list does not: ignored`,
          members: extra,
        })
    })
    this.changed()
  }

  /** The server says the user is no longer in the group: ask the admin for the signed list that says so. */
  serverRemoved(groupId: string): void {
    this.server.delete(groupId)
    const g = this.groups.get(groupId)
    if (g?.active === true) this.askAdmin(g)
    this.changed()
  }

  /** Connects to the admin (a friend) and anyone online in the group, to sync the member list. */
  private askAdmin(g: LiveGroup): void {
    const admin = g.chain.creator
    this.connect(admin)
    this.connectNeighbors(g)
  }

  private async joinFromServer(group: Group, blob: unknown): Promise<void> {
    if (this.groups.has(group.id)) return
    if (versionOf(blob) === 0) {
      await this.adopt(group.id, [blob], undefined, true)
      return
    }
    // A list we cannot check from here: get the chain from the admin named by the server (a
    // friend, since only friends can be added); until then the group is not shown.
    const admin = group.members.find((m) => m.role === 'admin')?.username
    if (admin !== undefined && (await this.o.contact(admin)) !== undefined) this.connect(admin)
  }

  /**
   * A group seen for the first time: the chain must start with a version 0 signed by its creator
   * with the key pinned for that friend, and its newest version must name us.
   */
  private async adopt(
    groupId: string,
    chainRaw: readonly unknown[],
    from: string | undefined,
    fromServer: boolean,
  ): Promise<void> {
    const first = chainRaw[0] as { signer?: unknown; groupId?: unknown } | undefined
    const creator = typeof first?.signer === 'string' ? first.signer : undefined
    if (first?.groupId !== groupId || creator === undefined) return
    const contact = creator === this.o.me ? undefined : await this.o.contact(creator)
    const creatorKey =
      creator === this.o.me
        ? this.o.identity.identityKey.publicKey
        : contact !== undefined && contact.pendingKey === null
          ? fromBase64Url(contact.identityKey, 32)
          : undefined
    if (creatorKey === undefined) {
      this.report({
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
      this.report({
        groupId,
        code: 'bad-member-list',
        message: `member list refused: ${e instanceof Error ? e.message : String(e)}`,
        ...(from === undefined ? {} : { peer: from }),
      })
      return
    }
    if (!chain.isMember(this.o.me)) {
      if (fromServer)
        this.report({
          groupId,
          code: 'not-in-member-list',
          message: 'the server says you are in this group, but its signed member list does not name you',
        })
      return
    }
    const g = new LiveGroup(groupId, chain, { state: 'active', lastEpoch: 0 })
    this.groups.set(groupId, g)
    await this.store.saveGroup(g)
    await this.rebuildPins()
    await this.rotate(g)
    this.changed()
    for (const p of this.openMembers(g, from)) this.sendSync(p, g)
    this.connectNeighbors(g)
  }

  // ---- backup (group-backup.ts: what a backup carries of a group, and why never a key) ----

  /** The groups as an encrypted backup carries them: signed member lists, names and states. */
  async backupGroups(): Promise<PortableGroupValue[]> {
    await this.loaded
    return [...this.groups.values()].map(portableGroup)
  }

  /**
   * Merges groups from a backup (whose first pass already checked every chain link by link). A
   * group this device holds keeps its state, and takes the backup's chain only where it
   * extends its own, checked like a list from a member: an older chain changes nothing, a fork
   * is refused and reported. A group it does not hold is added when version 0 was signed by this
   * user or by a friend with the pinned, accepted key (as `adopt` requires), with no sender key:
   * the first message sent makes a new one, at an epoch after `lastEpoch` (`rotate`).
   */
  async restoreGroups(list: readonly PortableGroupValue[]): Promise<GroupRestoreCounts> {
    await this.loaded
    let added = 0
    let alreadyPresent = 0
    let refused = 0
    for (const r of list) {
      await this.run(r.id, async () => {
        const known = this.groups.get(r.id)
        if (known !== undefined) {
          alreadyPresent++
          if ((versionOf(r.chain[r.chain.length - 1]) ?? -1) > known.chain.version)
            await this.applyList(known, r.chain, undefined)
          return
        }
        const chain = await this.trustedChain(r.id, r.chain)
        if (chain === undefined) {
          refused++
          return
        }
        // A list that no longer names this user leaves the group read-only, whatever else the backup says.
        const removed = r.state === 'active' && !chain.isMember(this.o.me)
        const removedBy = removed ? chain.head.signer : r.removedBy
        // The name is the chain's (its newest version), not the backup's `name` field.
        const g = new LiveGroup(r.id, chain, {
          state: removed ? 'removed' : r.state,
          ...(removedBy === undefined ? {} : { removedBy }),
          lastEpoch: r.lastEpoch,
          leavePending: !removed && r.leavePending === true,
        })
        this.groups.set(g.id, g)
        await this.store.saveGroup(g)
        added++
        if (!g.active) return
        // Catch-up, as after coming back online: members send their keys and what we lack.
        for (const p of this.openMembers(g)) this.sendSync(p, g)
      })
    }
    if (added > 0) {
      await this.rebuildPins()
      this.changed()
      this.connectNeighbors()
    }
    return { added, alreadyPresent, refused }
  }

  /** A chain from a backup, verified from a version 0 signed with the creator's trusted key. */
  private async trustedChain(
    groupId: string,
    chainRaw: readonly unknown[],
  ): Promise<MemberChain | undefined> {
    const first = chainRaw[0] as { signer?: unknown } | undefined
    const creator = typeof first?.signer === 'string' ? first.signer : undefined
    if (creator === undefined) return undefined
    const contact = creator === this.o.me ? undefined : await this.o.contact(creator)
    const creatorKey =
      creator === this.o.me
        ? this.o.identity.identityKey.publicKey
        : contact !== undefined && contact.pendingKey === null
          ? fromBase64Url(contact.identityKey, 32)
          : undefined
    if (creatorKey === undefined) {
      this.report({
        groupId,
        code: 'untrusted-creator',
        message: `${creator} created the group but is not a friend with an accepted key: not restored`,
      })
      return undefined
    }
    try {
      const chain = MemberChain.verify(chainRaw, creatorKey)
      if (chain.groupId !== groupId) throw new CryptoError('bad-chain', 'a member list of another group')
      return chain
    } catch (e: unknown) {
      this.report({
        groupId,
        code: 'bad-member-list',
        message: `member list in the backup refused: ${e instanceof Error ? e.message : String(e)}`,
      })
      return undefined
    }
  }

  // ---- lifecycle (the user's actions) ----

  private async member(username: string): Promise<GroupMember> {
    const c = await this.o.contact(username)
    if (c === undefined || c.pendingKey !== null)
      throw new GroupError('not-friend', `${username} is not a friend with an accepted key`)
    return { id: username, identityKey: c.identityKey, admin: false }
  }

  private get signer(): { id: string; identityKey: Identity['identityKey'] } {
    return { id: this.o.me, identityKey: this.o.identity.identityKey }
  }

  /**
   * Creates a group of friends with the user as its admin: the server records it, then the
   * signed member list (version 0) goes to the server and to every member.
   * @throws GroupError 'invalid', 'too-many', 'not-friend'; ApiError from the server.
   */
  async create(name: string, members: readonly string[]): Promise<GroupView> {
    await this.loaded
    if (name.trim().length === 0 || name.length > limits.groupNameMaxLength)
      throw new GroupError('invalid', `a group name has 1 to ${limits.groupNameMaxLength} characters`)
    const others = [...new Set(members)].filter((u) => u !== this.o.me)
    if (others.length + 1 > limits.groupMaxMembers)
      throw new GroupError('too-many', `a group has at most ${limits.groupMaxMembers} members`)
    const listed = await Promise.all(others.map((u) => this.member(u)))
    // The server makes the id the signed list must name: create, then attach the list.
    const created = await this.o.api.createGroup({
      name,
      members: others,
      memberList: blobOf({ pending: true }),
    })
    const list = createMemberList(created.id, this.signer, listed, name)
    await this.run(created.id, () => this.adopt(created.id, [list], undefined, false))
    await this.o.api.renameGroup(created.id, name, blobOf(list))
    return this.requireView(created.id)
  }

  private requireView(groupId: string): GroupView {
    const v = this.view(groupId)
    if (v === undefined) throw new GroupError('not-found', 'no such group')
    return v
  }

  private adminGroup(groupId: string): LiveGroup {
    const g = this.groups.get(groupId)
    if (g === undefined) throw new GroupError('not-found', 'no such group')
    if (!g.active) throw new GroupError('not-member', 'you are no longer in this group')
    if (!g.chain.isAdmin(this.o.me)) throw new GroupError('not-admin', 'only the admin can do that')
    return g
  }

  /** Signs the next member list, has the server record it, and applies it here. */
  private async changeMembers(g: LiveGroup, members: readonly GroupMember[]): Promise<void> {
    const next = nextMemberList(g.chain.head, this.signer, members)
    await this.o.api.updateMembers(g.id, {
      members: next.members.map((m) => ({ username: m.id, role: m.admin ? 'admin' : 'member' })),
      memberList: blobOf(next),
    })
    await this.applyList(g, [next], undefined)
  }

  /**
   * Adds friends to a group (admin only). Everyone's sender keys are replaced, so the new members
   * can read only what is sent from now on.
   * @throws GroupError 'not-found', 'not-member', 'not-admin', 'not-friend', 'too-many'; ApiError.
   */
  async addMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    await this.run(groupId, async () => {
      const g = this.adminGroup(groupId)
      const fresh = [...new Set(usernames)].filter((u) => !g.chain.isMember(u))
      if (fresh.length === 0) return
      if (g.chain.members.length + fresh.length > limits.groupMaxMembers)
        throw new GroupError('too-many', `a group has at most ${limits.groupMaxMembers} members`)
      const added = await Promise.all(fresh.map((u) => this.member(u)))
      await this.changeMembers(g, [...g.chain.members, ...added])
    })
    return this.requireView(groupId)
  }

  /**
   * Removes members (admin only). Every remaining member replaces its sender key, so the removed
   * ones cannot read anything sent after this; they are told with the signed list.
   * @throws GroupError 'not-found', 'not-member', 'not-admin', 'invalid' (removing oneself: leave instead); ApiError.
   */
  async removeMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    await this.run(groupId, async () => {
      const g = this.adminGroup(groupId)
      const gone = new Set(usernames.filter((u) => g.chain.isMember(u)))
      if (gone.has(this.o.me)) throw new GroupError('invalid', 'the admin leaves with leaveGroup')
      if (gone.size === 0) return
      await this.changeMembers(
        g,
        g.chain.members.filter((m) => !gone.has(m.id)),
      )
    })
    return this.requireView(groupId)
  }

  /**
   * Renames a group (admin only). The name is in the signed list: a rename is its next version,
   * with the same members and the new name, which the server records (with the name it shows)
   * and members verify like any other version. A name from the server alone is never shown.
   * @throws GroupError 'not-found', 'not-member', 'not-admin', 'invalid'; ApiError.
   */
  async rename(groupId: string, name: string): Promise<GroupView> {
    if (name.trim().length === 0 || name.length > limits.groupNameMaxLength)
      throw new GroupError('invalid', `a group name has 1 to ${limits.groupNameMaxLength} characters`)
    await this.run(groupId, async () => {
      const g = this.adminGroup(groupId)
      if (g.name === name) return
      const next = nextMemberList(g.chain.head, this.signer, g.chain.members, name)
      await this.o.api.renameGroup(groupId, name, blobOf(next))
      await this.applyList(g, [next], undefined)
    })
    this.changed()
    return this.requireView(groupId)
  }

  /**
   * Leaves a group: the server stops listing the user, this device forgets the group's keys at
   * once, and the admin is asked to sign a list without the user. The history stays.
   * @throws GroupError 'not-found', 'not-member', 'admin-cannot-leave' (while others remain); ApiError.
   */
  async leave(groupId: string): Promise<void> {
    await this.run(groupId, async () => {
      const g = this.groups.get(groupId)
      if (g === undefined) throw new GroupError('not-found', 'no such group')
      if (!g.active) throw new GroupError('not-member', 'you are no longer in this group')
      const admin = g.chain.isAdmin(this.o.me)
      if (admin && g.chain.members.length > 1)
        throw new GroupError('admin-cannot-leave', 'the admin signs every change: remove the others first')
      await this.o.api.leaveGroup(groupId)
      g.state = 'left'
      g.leavePending = !admin
      await this.forget(g)
      if (g.leavePending) {
        const creator = g.chain.creator
        if (this.o.transport.isOpen(creator)) this.out.frame(creator, { type: 'group-leave', g: g.id })
        else this.connect(creator)
      }
    })
    this.changed()
  }

  /** Drops every key of a group this user is no longer in (removed or left). */
  private async forget(g: LiveGroup): Promise<void> {
    g.sender?.rotate(this.now())
    g.sender = undefined
    g.ownKey = undefined
    for (const h of g.holdings.all()) g.holdings.delete(h.sender)
    g.keys.clear()
    g.receivers.clear()
    this.parked.delete(g.id)
    for (const k of [...this.pendingOwn.keys()]) if (k.startsWith(`${g.id}\n`)) this.pendingOwn.delete(k)
    await this.store.wipeKeys(g.id)
    await this.store.saveGroup(g)
    await this.rebuildPins()
  }

  // ---- member lists ----

  /**
   * New versions of a group's member list (from the admin, the server's hint, or any member):
   * each must extend the last one held. Removed members' keys are dropped and everyone left
   * replaces their sender key; if the list no longer names us, the group becomes read-only.
   */
  private async applyList(g: LiveGroup, suffix: readonly unknown[], from: string | undefined): Promise<void> {
    const firstNew = suffix.find((raw) => (versionOf(raw) ?? -1) > g.chain.version)
    if (firstNew === undefined) {
      try {
        g.chain.extend(suffix)
      } catch (e: unknown) {
        this.reportList(g, e, from)
      }
      return
    }
    if ((versionOf(firstNew) ?? 0) > g.chain.version + 1) {
      // A gap: ask whoever sent it for everything after what we hold.
      if (from !== undefined) this.sendSync(from, g)
      return
    }
    let changes
    try {
      changes = g.chain.extend(suffix)
    } catch (e: unknown) {
      this.reportList(g, e, from)
      return
    }
    if (changes.length === 0) return
    const versions = g.chain.after(changes[0]!.version - 1)
    const told = new Set<string>()
    for (const p of this.everOpen(g, from)) {
      told.add(p)
      for (const v of versions) this.out.list(p, g.id, v)
    }
    const me = this.o.me
    if (!g.chain.isMember(me)) {
      const wasActive = g.active
      if (g.state === 'active') {
        g.state = 'removed'
        g.removedBy = g.chain.head.signer
      }
      g.leavePending = false
      await this.forget(g)
      if (wasActive) this.emit('group-removed', { groupId: g.id, name: g.name, by: g.chain.head.signer })
      this.changed()
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
    await this.store.deleteChains(g.id, dropped)
    await this.store.saveGroup(g)
    await this.rebuildPins()
    await this.rotate(g)
    // The admin tells the removed (friends) itself; everyone syncs again, so whatever was
    // dropped for naming a version we did not have yet comes back.
    if (g.chain.isAdmin(me)) for (const u of removed) if (!told.has(u)) this.connect(u)
    for (const p of this.openMembers(g)) this.sendSync(p, g)
    this.changed()
    this.connectNeighbors(g)
  }

  private reportList(g: LiveGroup, e: unknown, from: string | undefined): void {
    this.report({
      groupId: g.id,
      code: 'bad-member-list',
      message: `member list refused: ${e instanceof Error ? e.message : String(e)}`,
      ...(from === undefined ? {} : { peer: from }),
    })
  }

  /** Open connections to anyone who is or was in the group, except `except`. */
  private everOpen(g: LiveGroup, except: string | undefined): string[] {
    const all = new Set(g.chain.all.flatMap((v) => v.members.map((m) => m.id)))
    return [...all].filter((u) => u !== this.o.me && u !== except && this.o.transport.isOpen(u))
  }

  // ---- sender keys ----

  /**
   * A new sending chain bound to the current member-list version: at joining, after every
   * membership change, and every 100 messages or 7 days. The signed key goes to every member
   * connected now; the others get it in the next summary exchange, from us or from anyone.
   */
  private async rotate(g: LiveGroup): Promise<void> {
    const now = this.now()
    const old = g.sender
    const oldKey = g.ownKey
    const epoch = Math.max(g.lastEpoch + 1, Math.floor((now - epochOriginMs) / 1000))
    const sender = GroupSender.create(g.id, this.o.me, epoch, now)
    const key = signSenderKey(
      this.o.identity.identityKey.secretKey,
      sender.distribution(),
      { version: g.chain.version, hash: fromBase64Url(g.chain.hash, 32) },
      old === undefined || oldKey === undefined
        ? undefined
        : { epoch: old.epoch, count: old.iteration, listVersion: oldKey.listVersion },
    )
    old?.rotate(now)
    g.sender = sender
    g.ownKey = key
    g.lastEpoch = epoch
    g.holdings.set({
      sender: this.o.me,
      epoch,
      listVersion: key.listVersion,
      prev: key.prev,
      held: new RangeSet(),
    })
    g.keys.set(chainId(this.o.me, epoch), key)
    const dropped = this.pruneEpochs(g, this.o.me)
    await this.store.saveGroup(g)
    await this.store.save(g, { sender: true, chains: [chainId(this.o.me, epoch)] })
    await this.store.deleteChains(g.id, dropped)
    this.forwardKey(g, key, undefined)
  }

  /** Keeps a sender's newest epochs; returns the ones dropped. */
  private pruneEpochs(g: LiveGroup, sender: string): { sender: string; epoch: number }[] {
    const old = g.holdings.epochsOf(sender).slice(keptEpochsPerSender)
    for (const h of old) {
      g.holdings.delete(sender, h.epoch)
      g.keys.delete(chainId(sender, h.epoch))
      g.receivers.delete(chainId(sender, h.epoch))
    }
    return old.map((h) => ({ sender, epoch: h.epoch }))
  }

  /** To every connected member entitled to it (in its list version) who may not have it. */
  private forwardKey(g: LiveGroup, key: SignedSenderKey, except: string | undefined): void {
    for (const p of this.openMembers(g, except)) {
      if (!g.chain.isMember(p, key.listVersion)) continue
      const view = this.view_(p, g.id)
      if (!view.needsKey(key.sender, key.epoch)) continue
      view.gotKey(key.sender, key.epoch)
      this.out.key(p, g.id, key)
    }
  }

  // ---- messages ----

  /**
   * Sends a text to the group: encrypted once with our sender key, stored as queued, and sent to
   * every connected member, who pass it on. `sent` once another member's device has it,
   * `delivered` once every member connected to us has confirmed it.
   * @throws GroupError 'not-found', 'not-member', 'invalid'.
   */
  async sendText(groupId: string, text: string): Promise<Message> {
    if (text.length === 0 || text.length > peerLimits.maxTextLength)
      throw new GroupError('invalid', `a message has 1 to ${peerLimits.maxTextLength} characters`)
    return this.post(groupId, (id, ts) => ({ type: 'text', id, ts, text }), 'text', { text })
  }

  /**
   * Shares a prepared file: its description, with its key, as a group message (files/transfers.ts
   * calls this once the file is stored here, ready to be served).
   * @throws GroupError 'not-found', 'not-member'.
   */
  async postFile(
    groupId: string,
    offer: Omit<FileOfferMessage, 'ts'>,
    type: 'file' | 'image',
    content: MessageContent,
  ): Promise<Message> {
    return this.post(groupId, (_id, ts) => ({ ...offer, ts }), type, content, offer.id)
  }

  /** Encrypts once with our sender key, signs, stores and sends a group message. */
  private async post(
    groupId: string,
    make: (id: string, ts: number) => GroupContent,
    type: string,
    stored: MessageContent,
    id: string = newMessageId(),
  ): Promise<Message> {
    return this.run(groupId, async () => {
      const g = this.groups.get(groupId)
      if (g === undefined) throw new GroupError('not-found', 'no such group')
      if (!g.active) throw new GroupError('not-member', 'you are no longer in this group')
      if (g.sender === undefined || g.sender.needsRotation(this.now())) await this.rotate(g)
      const sender = g.sender as GroupSender
      const ts = this.nextTimestamp()
      const content = make(id, ts)
      const iteration = sender.iteration
      const ct = sender.encrypt(utf8Encode(JSON.stringify(content)))
      const h = { sender: this.o.me, epoch: sender.epoch, iteration }
      g.holdings.get(h.sender, h.epoch)?.held.add(iteration)
      const copy: CopyRow = { groupId, seq: g.nextSeq++, ...h, ct, messageId: content.id }
      // The sending chain is stored before anything encrypted with it leaves.
      await this.store.save(g, { sender: true, chains: [chainId(h.sender, h.epoch)], copies: [copy] })
      const message: Message = {
        id: content.id,
        conversationId: groupConversationId(groupId),
        author: this.o.me,
        sentAt: ts,
        receivedAt: ts,
        type,
        state: 'queued',
        content: stored,
      }
      await this.o.history.add(message, { incoming: false, kind: 'group', peer: groupId })
      this.pendingOwn.set(headerId(groupId, h), { id: content.id, acked: new Set() })
      if (this.pendingOwn.size > maxPendingOwn) {
        const oldest = this.pendingOwn.keys().next().value
        if (oldest !== undefined) this.pendingOwn.delete(oldest)
      }
      this.emit('message', message)
      this.active.add(groupId)
      this.forward(g, h, ct, undefined)
      if (g.nextSeq % 500 === 0) await this.store.pruneCopies(groupId, g.nextSeq, keptCopies)
      return message
    })
  }

  /**
   * Passes a message on along the origin's forwarding tree (overlay.ts): to the connected
   * members whose parent we are, and to connected members outside the tree. A child that is not
   * connected is called, and gets it in the summary exchange. When the origin is not online as
   * far as we know, there is no tree and every connected member who may lack it gets it.
   * Duplicates are dropped by their position in the sender's chain.
   */
  private forward(g: LiveGroup, h: GroupMessageHeader, ct: Uint8Array, except: string | undefined): void {
    const listVersion = g.holdings.get(h.sender, h.epoch)?.listVersion
    if (listVersion === undefined) return
    const parents = this.parentsFor(g, h.sender)
    let encoded: string | undefined
    for (const p of this.openMembers(g, except)) {
      if (p === h.sender || !g.chain.isMember(p, listVersion)) continue
      const parent = parents.get(p)
      if (parent !== undefined && parent !== this.o.me) continue
      const view = this.view_(p, g.id)
      if (!view.needs(h.sender, h.epoch, h.iteration)) continue
      view.got(h.sender, h.epoch, h.iteration)
      encoded ??= toBase64Url(ct)
      this.out.message(p, g.id, encoded)
    }
    for (const [child, parent] of parents) if (parent === this.o.me) this.connect(child)
  }

  private parentsFor(g: LiveGroup, origin: string): Map<string, string> {
    const online = this.o.online()
    const members = g.chain.members
      .map((m) => m.id)
      .filter((u) => u === this.o.me || (online.has(u) && !this.mismatched.has(u)))
    const key = members.join('\n')
    let trees = this.trees.get(g.id)
    if (trees === undefined || trees.key !== key) {
      trees = { key, byOrigin: new Map() }
      this.trees.set(g.id, trees)
    }
    let parents = trees.byOrigin.get(origin)
    if (parents === undefined) {
      parents = forwardingParents(origin, members, this.maxLinks)
      trees.byOrigin.set(origin, parents)
    }
    return parents
  }

  /**
   * A message arrived past a gap in its sender's chain: if the gap is still there in a moment,
   * our summary goes to the member who delivered it, who sends what is missing.
   */
  private repairSoon(g: LiveGroup, peer: string): void {
    if (this.repairs.has(g.id)) return
    this.repairs.set(
      g.id,
      setTimeout(() => {
        this.repairs.delete(g.id)
        if (this.closed || !g.active || !this.o.transport.isOpen(peer)) return
        const gaps = g.holdings
          .all()
          .filter((h) => h.sender !== this.o.me && h.held.contiguous < h.held.end)
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
    if (this.closed) return
    this.antiEntropyRound++
    for (const id of this.active) {
      const g = this.groups.get(id)
      if (g?.active !== true) continue
      const open = this.openMembers(g)
      const peer = open[this.antiEntropyRound % Math.max(1, open.length)]
      if (peer !== undefined) this.sendSync(peer, g, true)
    }
    this.active.clear()
  }

  /** Marks the conversation read (group read receipts are not sent). */
  async markRead(groupId: string): Promise<void> {
    const conversationId = groupConversationId(groupId)
    await this.o.history.markRead(conversationId)
    const recent = await this.o.history.page(conversationId, { limit: 200 })
    const unread = recent.filter((m) => m.author !== this.o.me && m.state === 'received')
    for (const m of unread) await this.o.history.setState(m.id, 'read')
    this.signals.read(groupId, unread)
  }

  /** Tells the connected members of the group that this user is typing (or stopped). */
  async sendTyping(groupId: string, typing: boolean): Promise<void> {
    await this.loaded
    if (this.groups.get(groupId)?.active !== true) return
    await this.signals.typing(groupId, typing)
  }

  // ---- frames from members ----

  /** A decrypted group frame from a member's connection. Malformed frames are dropped. */
  async receive(peer: string, plaintext: Uint8Array): Promise<void> {
    if (this.closed) return
    let raw: unknown
    try {
      raw = JSON.parse(utf8Decode(plaintext))
    } catch {
      return
    }
    const decoded = decodeGroupFrame(raw)
    if (!decoded.ok) return
    const frame = decoded.value
    // Chunk traffic, typing and reads do not wait behind the group's other work; membership is
    // checked all the same.
    if (
      frame.type === 'group-file-get' ||
      frame.type === 'group-file-ack' ||
      frame.type === 'group-file-stop'
    ) {
      if (await this.admitted(frame.g, peer)) await this.o.files?.groupControl(peer, frame)
      return
    }
    if (frame.type === 'group-typing') {
      if (await this.admitted(frame.g, peer)) this.signals.typingFrom(peer, frame)
      return
    }
    if (frame.type === 'group-read') {
      if (await this.admitted(frame.g, peer)) await this.signals.readBy(peer, frame)
      return
    }
    await this.run(frame.g, async () => {
      if (this.closed) return
      switch (frame.type) {
        case 'group-sync':
          await this.onSync(peer, frame)
          return
        case 'group-list':
          await this.onList(peer, frame)
          return
        case 'group-keys':
          await this.onKeys(peer, frame)
          return
        case 'group-msgs':
          await this.onMessages(peer, frame)
          return
        case 'group-ack':
          await this.onAck(peer, frame)
          return
        case 'group-leave': {
          const g = this.groups.get(frame.g)
          if (
            g?.active !== true ||
            !g.chain.isAdmin(this.o.me) ||
            !g.chain.isMember(peer) ||
            peer === this.o.me
          )
            return
          const rest = g.chain.members.filter((m) => m.id !== peer)
          await this.changeMembers(g, rest)
          return
        }
        default: {
          const unreachable: never = frame
          return unreachable
        }
      }
    })
  }

  /**
   * Whether a member may send us data for the group. A sender not in our list whose last summary
   * named a newer version is probably new: its frames wait for the list (dropped now, synced
   * again after). Anyone else is refused and reported.
   */
  private async admitted(groupId: string, peer: string): Promise<boolean> {
    await this.loaded
    const g = this.groups.get(groupId)
    return g !== undefined && this.admits(g, peer)
  }

  private admits(g: LiveGroup, peer: string): boolean {
    if (g.active && g.chain.isMember(peer)) return true
    const theirs = this.peerVersions.get(peer)?.get(g.id)
    if (theirs !== undefined && theirs > g.chain.version) return false
    if (g.active)
      this.report({
        groupId: g.id,
        code: 'not-a-member',
        message: `${peer} is not in the signed member list: their group data was refused`,
        peer,
      })
    return false
  }

  private async onSync(peer: string, f: GroupSyncFrame): Promise<void> {
    const g = this.groups.get(f.g)
    if (g === undefined) {
      // A group we do not know yet: ask for its chain (we check it before joining).
      if (f.v >= 0) this.out.frame(peer, { type: 'group-sync', g: f.g, v: -1, h: '', s: [] })
      return
    }
    let versions = this.peerVersions.get(peer)
    if (versions === undefined) {
      versions = new Map()
      this.peerVersions.set(peer, versions)
    }
    versions.set(g.id, f.v)
    if (!g.chain.everMember(peer)) {
      // Perhaps added in a version we do not hold yet: our head (and nothing we hold) asks for it.
      if (f.v > g.chain.version)
        this.out.frame(peer, { type: 'group-sync', g: g.id, v: g.chain.version, h: g.chain.hash, s: [] })
      else this.admits(g, peer)
      return
    }
    if (f.v < g.chain.version) for (const v of g.chain.after(f.v)) this.out.list(peer, g.id, v)
    else if (f.v === g.chain.version && f.h !== g.chain.hash)
      this.report({
        groupId: g.id,
        code: 'bad-member-list',
        message: `${peer} holds another version ${f.v} of the member list`,
        peer,
      })
    if (!g.active || !g.chain.isMember(peer)) return
    // Both ways: what they lack we send below, what we lack they send on our summary.
    if (f.r === true) this.sendSync(peer, g)
    const view = PeerView.fromSummary(f.s)
    this.views.get(peer)?.delete(g.id)
    const byGroup = this.views.get(peer) ?? new Map<string, PeerView>()
    byGroup.set(g.id, view)
    this.views.set(peer, byGroup)
    // Their holdings of our messages count as delivery.
    for (const [id, pending] of this.pendingOwn) {
      const [gid, , e, i] = id.split('\n')
      if (gid === g.id && !view.needs(this.o.me, Number(e), Number(i))) await this.acked(g, id, pending, peer)
    }
    // Keys first (oldest epoch first), then messages in the order we got them.
    const keys = g.holdings
      .all()
      .filter((h) => g.chain.isMember(peer, h.listVersion) && view.needsKey(h.sender, h.epoch))
      .sort((a, b) => a.epoch - b.epoch)
    for (const h of keys) {
      const key = g.keys.get(chainId(h.sender, h.epoch))
      if (key === undefined) continue
      view.gotKey(h.sender, h.epoch)
      this.out.key(peer, g.id, key)
    }
    for (let seq = Math.max(0, g.nextSeq - keptCopies); seq < g.nextSeq;) {
      const batch = await this.store.copies(g.id, seq, 500)
      if (batch.length === 0) break
      for (const c of batch) {
        const h = g.holdings.get(c.sender, c.epoch)
        if (h === undefined || c.sender === peer || !g.chain.isMember(peer, h.listVersion)) continue
        if (!view.needs(c.sender, c.epoch, c.iteration)) continue
        view.got(c.sender, c.epoch, c.iteration)
        this.out.message(peer, g.id, toBase64Url(c.ct))
      }
      seq = (batch[batch.length - 1] as CopyRow).seq + 1
    }
  }

  private async onList(peer: string, f: GroupListFrame): Promise<void> {
    const g = this.groups.get(f.g)
    if (g === undefined) {
      if (versionOf(f.l[0]) === 0) await this.adopt(f.g, f.l, peer, false)
      return
    }
    await this.applyList(g, f.l, peer)
  }

  private async onKeys(peer: string, f: GroupKeysFrame): Promise<void> {
    const g = this.groups.get(f.g)
    if (g === undefined || !this.admits(g, peer)) return
    const view = this.view_(peer, g.id)
    const dirty: string[] = []
    const installed: SignedSenderKey[] = []
    for (const raw of f.k) {
      const r = raw as Partial<SignedSenderKey> | null
      const sender = r?.sender
      const listVersion = r?.listVersion
      if (typeof sender !== 'string' || typeof listVersion !== 'number' || typeof r?.epoch !== 'number')
        continue
      view.gotKey(sender, r.epoch)
      // Keys for a version we do not hold yet come again in the summary after the list.
      if (listVersion > g.chain.version || sender === this.o.me) continue
      if (!g.chain.isMember(sender) || !g.chain.isMember(sender, listVersion)) continue
      if (!g.chain.isMember(this.o.me, listVersion)) continue
      if (g.holdings.get(sender, r.epoch) !== undefined) continue
      const identityKey = g.chain.member(sender, listVersion)?.identityKey
      let key: SignedSenderKey
      try {
        key = verifySenderKey(raw, fromBase64Url(identityKey, 32))
        if (key.groupId !== g.id || key.listHash !== g.chain.hashOf(listVersion))
          throw new CryptoError('bad-chain', 'sender key for another group or member list')
        const receiver = new GroupReceiver(g.id)
        receiver.install(key, sender)
        g.receivers.set(chainId(sender, key.epoch), receiver)
      } catch (e: unknown) {
        this.report({
          groupId: g.id,
          code: 'forged-key',
          message: `a sender key for ${sender} from ${peer} was refused: ${e instanceof Error ? e.message : String(e)}`,
          peer,
        })
        continue
      }
      g.keys.set(chainId(sender, key.epoch), key)
      g.holdings.set({ sender, epoch: key.epoch, listVersion, prev: key.prev, held: new RangeSet() })
      dirty.push(chainId(sender, key.epoch))
      installed.push(key)
    }
    if (installed.length === 0) return
    const dropped = [...new Set(installed.map((k) => k.sender))].flatMap((s) => this.pruneEpochs(g, s))
    await this.store.save(g, { chains: dirty })
    await this.store.deleteChains(g.id, dropped)
    for (const key of installed) {
      this.forwardKey(g, key, peer)
      const waiting = this.parked.get(g.id)?.get(chainId(key.sender, key.epoch))
      if (waiting !== undefined) {
        this.parked.get(g.id)?.delete(chainId(key.sender, key.epoch))
        for (const w of waiting) await this.readMessages(g, w.from, [w.bytes])
      }
    }
  }

  private async onMessages(peer: string, f: GroupMessagesFrame): Promise<void> {
    const g = this.groups.get(f.g)
    if (g === undefined || !this.admits(g, peer)) return
    const messages: Uint8Array[] = []
    for (const m of f.m) {
      try {
        messages.push(fromBase64Url(m))
      } catch {
        // not base64url: dropped
      }
    }
    await this.readMessages(g, peer, messages)
  }

  /** Verifies, decrypts, stores and passes on new messages; duplicates are only acknowledged. */
  private async readMessages(g: LiveGroup, peer: string, messages: readonly Uint8Array[]): Promise<void> {
    const view = this.view_(peer, g.id)
    const dirty = new Set<string>()
    const copies: CopyRow[] = []
    let missingKey = false
    for (const bytes of messages) {
      let h: GroupMessageHeader
      try {
        h = groupMessageHeader(bytes)
      } catch {
        this.reportForged(g, peer, undefined, 'unreadable header')
        continue
      }
      view.got(h.sender, h.epoch, h.iteration)
      if (g.holdings.has(h.sender, h.epoch, h.iteration)) {
        // Acknowledgements go to the sender only: they make its message `sent` and `delivered`.
        if (peer === h.sender) this.out.ack(peer, g.id, h.sender, h.epoch, h.iteration)
        continue
      }
      if (h.sender === this.o.me || !g.chain.isMember(h.sender)) continue
      const id = chainId(h.sender, h.epoch)
      const receiver = g.receivers.get(id)
      const holding = g.holdings.get(h.sender, h.epoch)
      if (receiver === undefined || holding === undefined) {
        this.park(g, id, bytes, peer)
        missingKey = true
        continue
      }
      let plaintext: Uint8Array
      try {
        plaintext = receiver.decrypt(bytes).plaintext
      } catch (e: unknown) {
        if (CryptoError.is(e, 'replay')) holding.held.add(h.iteration)
        else if (!CryptoError.is(e, 'too-far-ahead')) this.reportForged(g, peer, h.sender, String(e))
        continue
      }
      holding.held.add(h.iteration)
      dirty.add(id)
      copies.push({ groupId: g.id, seq: g.nextSeq++, ...h, ct: bytes })
      this.active.add(g.id)
      const catchUp = this.catchUps.get(g.id)
      if (catchUp !== undefined) catchUp.progressAt = this.now()
      if (peer === h.sender) this.out.ack(peer, g.id, h.sender, h.epoch, h.iteration)
      if (holding.held.contiguous < h.iteration) this.repairSoon(g, peer)
      let content
      try {
        content = decodeGroupContent(JSON.parse(utf8Decode(plaintext)) as unknown)
      } catch {
        continue
      }
      // Passed on as it came, whatever we make of it: other members may read more types.
      this.forward(g, h, bytes, peer)
      if (!content.ok) continue
      const value = content.value
      const described =
        value.type === 'text'
          ? { type: 'text', content: { text: value.text } }
          : await this.o.files?.groupOffer(g.id, h.sender, value)
      if (described === undefined) continue
      const message: Message = {
        id: value.id,
        conversationId: groupConversationId(g.id),
        author: h.sender,
        sentAt: value.ts,
        receivedAt: this.now(),
        type: described.type,
        state: 'received',
        content: described.content,
      }
      const isNew = await this.o.history.add(message, { incoming: true, kind: 'group', peer: g.id })
      if (isNew) this.emit('message', message)
      if (value.type === 'file-offer') await this.o.files?.offerStored(undefined, value, isNew)
    }
    if (dirty.size > 0 || copies.length > 0) await this.store.save(g, { chains: dirty, copies })
    if (copies.length > 0 && Math.floor(g.nextSeq / 500) !== Math.floor((g.nextSeq - copies.length) / 500))
      await this.store.pruneCopies(g.id, g.nextSeq, keptCopies)
    // Their summary said they had the key, or they would have sent it first: ask again.
    if (missingKey) this.sendSync(peer, g)
  }

  private reportForged(g: LiveGroup, peer: string, sender: string | undefined, why: string): void {
    this.report({
      groupId: g.id,
      code: 'forged-message',
      message: `a group message${sender === undefined ? '' : ` from ${sender}`} relayed by ${peer} does not verify (${why}): dropped`,
      peer,
    })
  }

  private park(g: LiveGroup, id: string, bytes: Uint8Array, from: string): void {
    let byChain = this.parked.get(g.id)
    if (byChain === undefined) {
      byChain = new Map()
      this.parked.set(g.id, byChain)
    }
    let total = 0
    for (const list of byChain.values()) total += list.length
    if (total >= maxParked) return
    const list = byChain.get(id) ?? []
    list.push({ bytes, from })
    byChain.set(id, list)
  }

  private async onAck(peer: string, f: GroupAckFrame): Promise<void> {
    const g = this.groups.get(f.g)
    if (g === undefined || !this.admits(g, peer)) return
    const view = this.view_(peer, g.id)
    for (const a of f.a) {
      view.gotRanges(a.s, a.e, a.r)
      if (a.s !== this.o.me) continue
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
  private async acked(
    g: LiveGroup,
    id: string,
    pending: { id: string; acked: Set<string> },
    peer: string,
  ): Promise<void> {
    if (pending.acked.has(peer)) return
    pending.acked.add(peer)
    const others = g.chain.members.filter((m) => m.id !== this.o.me)
    const all = others.every((m) => pending.acked.has(m.id))
    if (all) this.pendingOwn.delete(id)
    if (!all && pending.acked.size > 1) return
    const only = { conversationId: groupConversationId(g.id), author: this.o.me }
    if (pending.acked.size === 1)
      for (const m of await this.o.history.advance([pending.id], 'sent', only)) this.emit('message', m)
    if (all)
      for (const m of await this.o.history.advance([pending.id], 'delivered', only)) this.emit('message', m)
  }
}
