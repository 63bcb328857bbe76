// Long: the group layer's one entry point — it makes the parts (one file each, listed below) and routes to them.
import { LRUCache } from 'lru-cache'
import { utf8Encode, type Identity } from '../../../crypto/index.ts'
import {
  peerLimits,
  type FileOfferMessage,
  type GroupFrame,
  type Group,
  type MessageActionMessage,
} from '../../../shared/index.ts'
import type { Api } from '../api.ts'
import { Emitter } from '../emitter.ts'
import type { History, Message, MessageContent } from '../store/history.ts'
import type { ContactRecord } from '../store/db.ts'
import type { GroupFileRoutes } from '../files/group-files.ts'
import { quoteFor } from '../quotes.ts'
import { GroupAdmin } from './admin.ts'
import type {
  GroupActionHandler,
  GroupContentHandlers,
  GroupContext,
  GroupFileHandler,
  GroupTransport,
} from './context.ts'
import { GroupDelivery } from './delivery.ts'
import { GroupError } from './errors.ts'
import { portableGroup, type GroupRestoreCounts, type PortableGroupValue } from './group-backup.ts'
import { GroupRestore } from './group-restore.ts'
import { GroupStore, type LiveGroup } from './group-store.ts'
import { PeerViews } from './holdings.ts'
import { GroupInbox } from './inbox.ts'
import { GroupLinks } from './links.ts'
import { MemberLists } from './member-lists.ts'
import { GroupOutgoing } from './outgoing.ts'
import { MemberPins } from './pins.ts'
import { MessageRelay } from './relay.ts'
import { GroupRouter } from './router.ts'
import { SenderKeys } from './sender-keys.ts'
import { ServerGroups } from './server-view.ts'
import { GroupSignals } from './signals.ts'
import { GroupSync } from './sync.ts'
import {
  groupConversationId,
  groupView,
  type GroupErrorEvent,
  type GroupEvents,
  type GroupView,
} from './types.ts'

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
  /** Off: no read receipts are sent in groups, and the others' do not count. */
  readonly readReceipts?: () => boolean
  /** Off: typing is not sent to groups, and the others' is not reported. */
  readonly typingIndicators?: () => boolean
}

export type { GroupActionHandler, GroupFileHandler, GroupTransport } from './context.ts'
export {
  groupConversationId,
  groupOfConversation,
  type GroupErrorEvent,
  type GroupErrorEventCode,
  type GroupEvents,
  type GroupMemberView,
  type GroupView,
} from './types.ts'

/** The same refusal from the same member is reported at most this often. */
const errorEveryMs = 5000

/**
 * Group chat over the pairwise connections among members (docs/PROTOCOL.md, "Groups"): the
 * admin-signed member list, sender keys signed by their owners and passed on member to member,
 * messages encrypted once and flooded over a bounded set of connections, and catch-up from
 * whichever member is online.
 *
 * This class is the entry point: it routes frames and connection events to the parts, each in a
 * file of its own — member lists (member-lists.ts) and the admin's actions (admin.ts), sender
 * keys (sender-keys.ts), messages out (relay.ts) and in (inbox.ts), their delivery
 * (delivery.ts), summaries and catch-up (sync.ts), connections (links.ts), keys for members who
 * are not friends (pins.ts), what the server says (server-view.ts) and restoring a backup
 * (group-restore.ts). Work on one group runs one step at a time (`run`).
 */
export class Groups extends Emitter<GroupEvents> {
  private readonly store: GroupStore
  private readonly groups = new Map<string, LiveGroup>()
  private readonly queues = new Map<string, Promise<unknown>>()
  private readonly views = new PeerViews()
  private readonly out: GroupOutgoing
  /** Refusals reported in the last `errorEveryMs`; a flood of distinct ones evicts the oldest. */
  private readonly errorsAt: LRUCache<string, true>
  private readonly now: () => number
  private readonly loaded: Promise<void>
  private emitScheduled = false
  private closed = false
  private readonly pins: MemberPins
  private readonly links: GroupLinks
  private readonly delivery: GroupDelivery
  private readonly sync: GroupSync
  private readonly relay: MessageRelay
  private readonly admin: GroupAdmin
  private readonly server: ServerGroups
  private readonly restore: GroupRestore
  private readonly signals: GroupSignals
  private readonly router: GroupRouter
  private readonly handlers: GroupContentHandlers = {}

  constructor(private readonly o: GroupsOptions) {
    super()
    this.store = new GroupStore(o.me, o.vaultKey)
    this.out = new GroupOutgoing(o.transport, (peer, groupId) => this.mayCarry(peer, groupId))
    this.now = o.now ?? Date.now
    this.errorsAt = new LRUCache({ max: 1000, ttl: errorEveryMs, perf: { now: () => this.now() } })
    const c: GroupContext = {
      me: o.me,
      groups: this.groups,
      store: this.store,
      out: this.out,
      views: this.views,
      transport: o.transport,
      online: () => o.online(),
      now: () => this.now(),
      loaded: () => this.loaded,
      closed: () => this.closed,
      run: (groupId, task) => this.run(groupId, task),
      report: (e) => this.report(e),
      changed: () => this.changed(),
    }
    const onMessage = (m: Message): void => this.emit('message', m)
    const { identity, history, contact, api } = o
    const handlers = this.handlers
    const pins = (this.pins = new MemberPins(c, contact))
    const maxLinks = o.maxLinks ?? 8
    const links = (this.links = new GroupLinks(c, { maxLinks, mismatched: (u) => pins.isMismatched(u) }))
    const delivery = (this.delivery = new GroupDelivery(c, history, onMessage))
    const keys = new SenderKeys(c, identity, links)
    const admits = (g: LiveGroup, peer: string): boolean => this.router.admits(g, peer)
    const sync = (this.sync = new GroupSync(c, { links, delivery, admits }))
    const relay = (this.relay = new MessageRelay(c, {
      history,
      nextTimestamp: o.nextTimestamp ?? this.now,
      keys,
      delivery,
      links,
      traffic: (groupId) => sync.traffic(groupId),
      onMessage,
    }))
    const inbox = new GroupInbox(c, { history, handlers, keys, relay, sync, onMessage })
    const lists = new MemberLists(c, {
      identity,
      contact,
      keys,
      sync,
      links,
      pins,
      delivery,
      inbox,
      onRemoved: (e) => this.emit('group-removed', e),
    })
    const requireView = (groupId: string): GroupView => this.requireView(groupId)
    const admin = (this.admin = new GroupAdmin(c, { identity, api, contact, lists, links, requireView }))
    this.server = new ServerGroups(c, { contact, lists, links })
    this.restore = new GroupRestore(c, { lists, pins, links, sync })
    const signals = (this.signals = new GroupSignals({
      me: o.me,
      history,
      send: (peer, frame) => this.sendOpen(peer, frame),
      openMembers: (groupId) => {
        const g = this.activeGroup(groupId)
        return g === undefined ? [] : links.openMembers(g)
      },
      members: (groupId) => this.otherMembers(groupId),
      connect: (peer) => links.connect(peer),
      readReceipts: o.readReceipts ?? (() => true),
      typingIndicators: o.typingIndicators ?? (() => true),
      onTyping: (e) => this.emit('group-typing', e),
      onMessage,
    }))
    const mayCarry = (peer: string, groupId: string, key: Uint8Array): boolean =>
      this.mayCarry(peer, groupId, key)
    this.router = new GroupRouter(c, { handlers, signals, sync, lists, inbox, delivery, admin, mayCarry })
    this.loaded = this.load()
  }

  private async load(): Promise<void> {
    for (const g of await this.store.loadAll()) {
      this.groups.set(g.id, g)
      if (g.active) await this.delivery.resume(g)
    }
    await this.pins.rebuild()
  }

  /** Resolves when the stored groups are loaded (the client waits for it before going online). */
  ready(): Promise<void> {
    return this.loaded
  }

  close(): void {
    this.closed = true
    this.sync.close()
    this.links.close()
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

  private requireView(groupId: string): GroupView {
    const v = this.view(groupId)
    if (v === undefined) throw new GroupError('not-found', 'no such group')
    return v
  }

  private viewOf(g: LiveGroup): GroupView {
    const { me, transport } = this.o
    const isOpen = (u: string): boolean => transport.isOpen(u)
    const keyMismatch = (u: string): boolean =>
      this.pins.isMismatched(u) || (isOpen(u) && !this.pins.authentic(g, u))
    return groupView(g, me, this.o.online(), isOpen, this.server.serverView(g), keyMismatch)
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
    if (this.errorsAt.has(key)) return
    this.errorsAt.set(key, true)
    this.emit('group-error', e)
  }

  // ---- keys for connections to members who are not friends (pins.ts) ----

  /** {@link MemberPins.groupKey}, once the stored groups are loaded. */
  async groupKey(username: string): Promise<Uint8Array | null> {
    await this.loaded
    return this.pins.groupKey(username)
  }

  /**
   * Where shared files and message changes that arrive in groups go (create-client.ts registers
   * them once, right after making them).
   */
  handleContent(handlers: { files: GroupFileHandler; actions: GroupActionHandler }): void {
    this.handlers.files = handlers.files
    this.handlers.actions = handlers.actions
  }

  /** A friend's pinned key changed (accepted, or first pinned): which members' keys agree may have changed. */
  async contactsChanged(): Promise<void> {
    await this.loaded
    await this.pins.rebuild()
    this.changed()
  }

  /** The server claimed another key for `username` than the signed member lists give: said in each group. */
  reportKeyClaim(username: string): void {
    for (const g of this.groups.values())
      if (g.active && g.chain.isMember(username))
        this.report({
          groupId: g.id,
          code: 'key-claim',
          message: `the server claimed another key for ${username} than the member list gives: ignored`,
          members: [username],
        })
  }

  /** {@link MemberPins.isGroupOnly} */
  isGroupOnly(username: string): boolean {
    return this.pins.isGroupOnly(username)
  }

  /** What files shared in groups need from the groups (files/group-files.ts). */
  fileRoutes(): GroupFileRoutes {
    return {
      canPost: (groupId) => this.activeGroup(groupId) !== undefined,
      members: (groupId) => this.otherMembers(groupId),
      isMember: (groupId, username) => this.activeGroup(groupId)?.chain.isMember(username) === true,
      connect: (username) => this.links.connect(username),
      send: (peer, frame) => this.sendOpen(peer, frame),
      post: (groupId, offer, type, content) => this.postFile(groupId, offer, type, content),
    }
  }

  /** Sends a frame on the open connection to a member, not queued; false when there is none. */
  private async sendOpen(peer: string, frame: GroupFrame): Promise<boolean> {
    if (!this.o.transport.isOpen(peer) || !this.mayCarry(peer, frame.g)) return false
    return this.o.transport.send(peer, utf8Encode(JSON.stringify(frame)))
  }

  /**
   * Whether the connection to `peer` may carry data of this group, either way: its remote side
   * proved the key the signed member list gives `peer` (a group we do not hold has nothing to leak).
   */
  private mayCarry(
    peer: string,
    groupId: string,
    identityKey = this.o.transport.authenticatedKey(peer),
  ): boolean {
    const g = this.groups.get(groupId)
    // Someone the list never named gets no group secrets anyway (router.ts, sync.ts decide what).
    if (g === undefined || !g.chain.everMember(peer)) return true
    if (identityKey !== undefined && g.chain.lastKeyMatches(peer, identityKey)) return true
    this.report({
      groupId,
      code: 'key-mismatch',
      message: `the connection to ${peer} is not authenticated with the key the member list gives them: their group data was refused and nothing was sent`,
      members: [peer],
      peer,
    })
    return false
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

  // ---- connections (links.ts) ----

  /** {@link GroupLinks.wantedLinks} */
  wantedLinks(): string[] {
    return this.links.wantedLinks()
  }

  /** The server's connection came back (or the client started): catch up with neighbors. */
  online(): void {
    void this.loaded.then(() => this.links.connectNeighbors())
  }

  /** Presence changed: a member who came online may have missed messages. */
  presence(username: string, online: boolean): void {
    void this.loaded.then(() => {
      if (![...this.groups.values()].some((g) => g.chain.isMember(username))) return
      this.changed()
      if (online && this.links.wantedLinks().includes(username)) this.links.connect(username)
    })
  }

  /** A connection opened: summaries of every group the member is (or was) in go both ways. */
  linkOpened(peer: string): void {
    this.signals.linkOpened(peer)
    void this.loaded.then(() => {
      this.views.drop(peer)
      let any = false
      for (const g of this.groups.values()) {
        if (!g.chain.everMember(peer)) continue
        any = true
        this.sync.catchUpFrom(peer, g)
        if (g.leavePending && g.chain.creator === peer) this.out.frame(peer, { type: 'group-leave', g: g.id })
      }
      if (any) this.changed()
    })
  }

  linkClosed(peer: string): void {
    this.views.drop(peer)
    this.out.drop(peer)
    if ([...this.groups.values()].some((g) => g.chain.isMember(peer))) this.changed()
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

  // ---- what the server says (server-view.ts) ----

  /** {@link ServerGroups.serverGroups} */
  async serverGroups(list: readonly Group[]): Promise<void> {
    await this.server.serverGroups(list)
  }

  /** {@link ServerGroups.serverGroup} */
  async serverGroup(group: Group): Promise<void> {
    await this.server.serverGroup(group)
  }

  /** {@link ServerGroups.serverRemoved} */
  serverRemoved(groupId: string): void {
    this.server.serverRemoved(groupId)
  }

  // ---- backup (group-backup.ts: what a backup carries of a group, and why never a key) ----

  /** The groups as an encrypted backup carries them: signed member lists, names and states. */
  async backupGroups(): Promise<PortableGroupValue[]> {
    await this.loaded
    return [...this.groups.values()].map(portableGroup)
  }

  /** {@link GroupRestore.restoreGroups} */
  async restoreGroups(list: readonly PortableGroupValue[]): Promise<GroupRestoreCounts> {
    return this.restore.restoreGroups(list)
  }

  // ---- the user's actions (admin.ts) ----

  /** {@link GroupAdmin.create} */
  async create(name: string, members: readonly string[]): Promise<GroupView> {
    return this.admin.create(name, members)
  }

  /** {@link GroupAdmin.addMembers} */
  async addMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    return this.admin.addMembers(groupId, usernames)
  }

  /** {@link GroupAdmin.removeMembers} */
  async removeMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    return this.admin.removeMembers(groupId, usernames)
  }

  /** {@link GroupAdmin.rename} */
  async rename(groupId: string, name: string): Promise<GroupView> {
    return this.admin.rename(groupId, name)
  }

  /** {@link GroupAdmin.leave} */
  async leave(groupId: string): Promise<void> {
    await this.admin.leave(groupId)
  }

  // ---- messages ----

  /**
   * Sends a text to the group: encrypted once with our sender key, stored as queued, and sent to
   * every connected member, who pass it on. `sent` once another member's device has it,
   * `delivered` once every other member of the signed list has it (delivery.ts).
   * @throws GroupError 'not-found', 'not-member', 'invalid'.
   */
  async sendText(
    groupId: string,
    text: string,
    options: { readonly replyTo?: string } = {},
  ): Promise<Message> {
    if (text.length === 0 || text.length > peerLimits.maxTextLength)
      throw new GroupError('invalid', `a message has 1 to ${peerLimits.maxTextLength} characters`)
    const replyTo =
      options.replyTo === undefined
        ? undefined
        : await quoteFor(this.o.history, groupConversationId(groupId), options.replyTo)
    const extra = replyTo === undefined ? {} : { replyTo }
    const sent = await this.relay.post(groupId, (id, ts) => ({ type: 'text', id, ts, text, ...extra }), {
      type: 'text',
      content: { text, ...extra },
    })
    return sent as Message
  }

  /**
   * Sends a reaction, edit or delete (already applied here by message-actions.ts) to the group as
   * a group message: signed, so the others apply it as this user's change and no one else's.
   * @throws GroupError 'not-found', 'not-member'.
   */
  async postChange(groupId: string, frame: MessageActionMessage): Promise<void> {
    await this.relay.post(groupId, () => frame, undefined, frame.id)
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
    const sent = await this.relay.post(groupId, (_id, ts) => ({ ...offer, ts }), { type, content }, offer.id)
    return sent as Message
  }

  /** Marks the conversation read; the authors are told when read receipts are on (signals.ts). */
  async markRead(groupId: string): Promise<void> {
    const conversationId = groupConversationId(groupId)
    const unread = await this.o.history.markRead(conversationId, this.o.me)
    // A former member still marks its copy read, but tells no one: the others would refuse it.
    if (this.groups.get(groupId)?.active === true) this.signals.read(groupId, unread)
  }

  /** Tells the connected members of the group that this user is typing (or stopped). */
  async sendTyping(groupId: string, typing: boolean): Promise<void> {
    await this.loaded
    if (this.groups.get(groupId)?.active !== true) return
    await this.signals.typing(groupId, typing)
  }

  // ---- frames from members (router.ts) ----

  /** {@link GroupRouter.receive} */
  async receive(peer: string, frame: GroupFrame, identityKey: Uint8Array): Promise<void> {
    await this.router.receive(peer, frame, identityKey)
  }
}
