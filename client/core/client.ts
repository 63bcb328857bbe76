import { formatSafetyNumber, fromBase64Url, safetyNumber, safetyQrPayload } from '../../crypto/index.ts'
import {
  peerLimits,
  type Friend,
  type Group,
  type PendingRequest,
  type PendingRequests,
  type PublicUser,
} from '../../shared/index.ts'
import {
  forgetSession,
  login,
  register,
  rememberSession,
  restoreSession,
  type AccountSession,
  type KdfRunner,
} from './account.ts'
import { Api, ApiError } from './api.ts'
import { AccountData } from './export/account-data.ts'
import type { CreateBackupOptions } from './export/backup-create.ts'
import type { RestoreOptions, RestoreSummary } from './export/backup-restore.ts'
import type { HtmlExportOptions } from './export/export-html.ts'
import type { ExportOptions } from './export/export-model.ts'
import { Emitter } from './emitter.ts'
import type { FileSource } from './files/file-source.ts'
import { FileStore } from './files/file-store.ts'
import { workerIncoming } from './files/receive-worker-client.ts'
import {
  FileTransfers,
  type FileErrorEvent,
  type FileProgress,
  type FileTransferView,
  type FileTuning,
  type SendFileOptions,
} from './files/transfers.ts'
import { MessageActionError } from './action-error.ts'
import { ExpirySweeper } from './disappearing.ts'
import { MessageActions } from './message-actions.ts'
import { Messenger, type SendTextOptions } from './messenger.ts'
import { Outbox } from './outbox.ts'
import { PeerManager, type PeerManagerEnv, type PeerState } from './peer/peer-manager.ts'
import { SignalingConnection, type ConnectionState, type SocketLike } from './signaling.ts'
import {
  directConversationId,
  History,
  type Conversation,
  type Message,
  type RemovedMessage,
  type SearchHit,
} from './store/history.ts'
import type { ContactRecord } from './store/db.ts'
import { Trust, type PinOutcome } from './trust.ts'
import { checkScannedSafetyQr, type SafetyScanResult } from './safety-scan.ts'
import { GroupError } from './groups/errors.ts'
import {
  groupConversationId,
  Groups,
  isGroupFrame,
  type GroupErrorEvent,
  type GroupView,
} from './groups/groups.ts'
import type { GroupTypingEvent } from './groups/signals.ts'

export { GroupError, groupConversationId, type GroupErrorEvent, type GroupTypingEvent, type GroupView }
export type { GroupMemberView } from './groups/groups.ts'
export type { SafetyScanResult } from './safety-scan.ts'

export interface ClientEnv {
  /** http(s) origin of the server, e.g. "http://localhost:8080" (the page's origin in the browser). */
  readonly serverUrl: string
  readonly kdf: KdfRunner
  readonly createSocket: (url: string) => SocketLike
  readonly peers: PeerManagerEnv
  readonly fetch?: typeof fetch
  /** File transfer knobs (tests, benchmarks); the defaults suit browsers. */
  readonly files?: Partial<FileTuning>
  /**
   * Browser: a Worker to decrypt, hash and store received files in (`createReceiveWorker` from
   * files/receive-worker-client.ts), so the page stays free for the UI. Without it (Node) that
   * work runs in the page.
   */
  readonly receiveWorker?: () => Worker
  /** Group chat knobs (tests, benchmarks): `maxLinks`, the group connections a device opens itself (default 8). */
  readonly groups?: { readonly maxLinks?: number }
}

/** A friend as the UI shows one. */
export interface FriendView {
  readonly username: string
  readonly online: boolean
  readonly since: number
  /** Pinned key is verified (safety number compared). */
  readonly verified: boolean
  /** The server announced a different key that the user has not accepted: sending is blocked. */
  readonly keyChanged: boolean
  /**
   * The server lists this friend, but nothing on this device vouches for the friendship (this
   * browser neither sent nor accepted the request) or a signed group member list gives them
   * another key: no key is trusted until the user confirms the one claimed. Sending is blocked.
   */
  readonly unconfirmed: boolean
  readonly peerState: PeerState
}

export interface ClientEvents extends Record<string, unknown> {
  connection: ConnectionState
  friends: readonly FriendView[]
  requests: PendingRequests
  /** The user's groups as their signed member lists say (see GroupView), after any change. */
  groups: readonly GroupView[]
  conversations: readonly Conversation[]
  /** A message was added, or its delivery state changed. */
  message: Message
  /** A stored message changed: edited, reacted to, deleted for everyone (a marker stays), or its quote cleared. */
  'message-updated': Message
  /** A message left this device: deleted for me, or its disappearing timer ran out. */
  'message-removed': RemovedMessage
  typing: { peer: string; typing: boolean }
  /** For notifications: a friend request arrived. */
  'friend-request': PendingRequest
  /** A friend's key changed: warn, and block sending until accepted (or the pinned key is kept). */
  'key-changed': { username: string }
  /**
   * A connection to a friend failed verification (forged or swapped keys or fingerprints), or a
   * friend tried to edit or delete a message that is not theirs (`not-author`,
   * `wrong-conversation`, `not-editable`; not applied).
   */
  'peer-error': { peer: string; code: string; message: string }
  'session-ended': undefined
  /** A file transfer appeared or changed state. */
  file: FileTransferView
  /** Bytes done, total, speed and time left of a moving transfer. */
  'file-progress': FileProgress
  /** A transfer failed (`code` says why; 'storage-full' means this device's storage is full). */
  'file-error': FileErrorEvent
  /** The group admin's signed member list no longer has the user: the group is read-only now. */
  'group-removed': { groupId: string; name: string; by: string }
  /** Group data refused: membership the server claims, forged or altered messages, bad member lists. */
  'group-error': GroupErrorEvent
  /** A member is typing in a group, or stopped. */
  'group-typing': GroupTypingEvent
}

export interface SafetyNumberView {
  /** 60 digits in 12 groups of 5. */
  readonly digits: string
  /** Text to put in a QR code. */
  readonly qr: string
  readonly verified: boolean
}

/**
 * Everything a Tincan user does, in one object: account, friends, chats, trust. Framework-free;
 * the Svelte UI wraps it in rune state, and tests drive it directly in Node.
 */
export class TincanClient extends Emitter<ClientEvents> {
  readonly username: string
  readonly api: Api
  readonly signaling: SignalingConnection
  readonly history: History
  readonly trust: Trust
  readonly peers: PeerManager
  readonly messenger: Messenger
  readonly files: FileTransfers
  /** Reactions, edits and deletions. */
  readonly actions: MessageActions
  /** Group chat: member lists, sender keys, messages and catch-up (groups/groups.ts). */
  readonly groupChat: Groups
  private readonly expiry: ExpirySweeper
  private readonly receiveWorker: ReturnType<typeof workerIncoming> | undefined
  private friendList: Friend[] = []
  private requestList: PendingRequests = { incoming: [], outgoing: [] }
  private groupList: Group[] = []
  private readReceipts = true
  private typingIndicators = true
  private closed = false

  private constructor(
    private readonly env: ClientEnv,
    private readonly session: AccountSession,
    api: Api,
  ) {
    super()
    // Warnings raised while starting (a member list that disagrees with a pinned key, say) wait for the screen.
    this.holdUntilHeard(['key-changed', 'peer-error', 'group-error', 'group-removed', 'friend-request'])
    this.username = session.username
    this.api = api
    const wsUrl = `${env.serverUrl.replace(/^http/, 'ws')}/ws`
    this.signaling = new SignalingConnection({
      url: wsUrl,
      token: () => api.token,
      createSocket: env.createSocket,
    })
    this.history = new History(session.db, session.vaultKey)
    this.trust = new Trust(session.db)
    this.peers = new PeerManager({
      me: session.username,
      identity: session.identity,
      signaling: this.signaling,
      trust: this.trust,
      db: session.db,
      vaultKey: session.vaultKey,
      iceConfig: () => api.ice(),
      env: env.peers,
    })
    this.messenger = new Messenger({
      me: session.username,
      history: this.history,
      outbox: new Outbox(session.db),
      transport: this.peers,
      vaultKey: session.vaultKey,
      canSend: (peer) => this.trust.canSend(peer),
      readReceipts: () => this.readReceipts,
      typingIndicators: () => this.typingIndicators,
      // Late-bound: the transfers need the messenger, and the messenger hands them file messages.
      files: {
        offer: (peer, frame) => this.files.offer(peer, frame),
        offerStored: (peer, frame, isNew) => this.files.offerStored(peer, frame, isNew),
        control: (peer, frame) => this.files.control(peer, frame),
      },
      actions: { receive: (peer, frame) => this.actions.receive(peer, frame) },
    })
    this.receiveWorker =
      env.receiveWorker === undefined ? undefined : workerIncoming(session.username, env.receiveWorker)
    this.files = new FileTransfers({
      store: new FileStore(session.db, session.vaultKey),
      messenger: this.messenger,
      peers: this.peers,
      canSend: (peer) => this.trust.canSend(peer),
      ...(env.files === undefined ? {} : { tuning: env.files }),
      ...(this.receiveWorker === undefined ? {} : { openIncoming: this.receiveWorker }),
      // Late-bound: the groups are made after the transfers, and hand them files shared in groups.
      groups: () => this.groupChat.fileRoutes(),
    })
    this.actions = new MessageActions({
      me: session.username,
      history: this.history,
      messenger: this.messenger,
      canSend: (peer) => this.trust.canSend(peer),
      files: this.files,
      // Late-bound: the groups are made after the actions, and hand them changes from groups.
      groups: () => ({
        canPost: (groupId) => this.groupChat.fileRoutes().canPost(groupId),
        postChange: (groupId, frame) => this.groupChat.postChange(groupId, frame),
      }),
    })
    this.expiry = new ExpirySweeper({
      history: this.history,
      onExpired: (out) => this.actions.removed(out),
      onError: (e: unknown) => console.error('deleting expired messages failed', e),
    })
    this.groupChat = new Groups({
      me: session.username,
      identity: session.identity,
      vaultKey: session.vaultKey,
      history: this.history,
      api,
      transport: {
        isOpen: (peer) => this.peers.isOpen(peer),
        authenticatedKey: (peer) => this.peers.authenticatedKey(peer),
        send: (peer, plaintext) => this.peers.send(peer, plaintext),
        connect: (peer) => this.peers.connect(peer),
        maxMessageBytes: (peer) => this.peers.fileLink(peer)?.maxMessageBytes ?? 16 * 1024,
      },
      online: () => this.signaling.online,
      contact: (username) => this.trust.contact(username),
      ...(env.groups?.maxLinks === undefined ? {} : { maxLinks: env.groups.maxLinks }),
      nextTimestamp: () => this.messenger.nextTimestamp(),
      files: this.files,
      actions: this.actions,
      readReceipts: () => this.readReceipts,
      typingIndicators: () => this.typingIndicators,
    })
    // Group members who are not friends are authenticated with the key their signed list gives.
    this.trust.setFallback((username) => this.groupChat.groupKey(username))
    this.wire()
  }

  static async register(env: ClientEnv, username: string, password: string): Promise<TincanClient> {
    const api = new Api(env.serverUrl, env.fetch)
    return TincanClient.start(env, await register(api, username, password, env.kdf), api)
  }

  static async login(env: ClientEnv, username: string, password: string): Promise<TincanClient> {
    const api = new Api(env.serverUrl, env.fetch)
    return TincanClient.start(env, await login(api, username, password, env.kdf), api)
  }

  /** The session remembered on this device, if it is still valid. */
  static async restore(env: ClientEnv): Promise<TincanClient | undefined> {
    const api = new Api(env.serverUrl, env.fetch)
    const session = await restoreSession(api)
    if (session === undefined) return undefined
    try {
      await api.sessions()
    } catch (e: unknown) {
      if (ApiError.is(e, 'unauthorized')) {
        await forgetSession()
        return undefined
      }
      // Offline: carry on with local history; the connection retries.
    }
    return TincanClient.start(env, session, api, false)
  }

  private static async start(
    env: ClientEnv,
    session: AccountSession,
    api: Api,
    remember = true,
  ): Promise<TincanClient> {
    if (remember) await rememberSession(session)
    const client = new TincanClient(env, session, api)
    // Whatever disappeared while the app was closed goes before anything is shown or sent.
    await client.expiry.sweep()
    await client.groupChat.ready()
    client.signaling.start()
    await client.refresh().catch(() => undefined)
    return client
  }

  private wire(): void {
    const s = this.signaling
    s.on('state', (state) => {
      this.emit('connection', state)
    })
    s.on('ready', () => {
      this.background(this.refresh().then(() => this.messenger.flushAll()))
      this.files.reconnect()
    })
    s.on('session-ended', () => {
      this.emit('session-ended', undefined)
    })
    s.on('presence', (f) => {
      this.emitFriends()
      if (f.online) {
        this.background(this.messenger.flush(f.username))
        this.files.reconnect(f.username)
      } else this.peers.peerWentOffline(f.username)
    })
    s.on('friend-request', (f) => {
      this.requestList = {
        ...this.requestList,
        incoming: [...this.requestList.incoming.filter((r) => r.username !== f.request.username), f.request],
      }
      this.emit('requests', this.requestList)
      this.emit('friend-request', f.request)
    })
    s.on('friend-request-closed', () => this.background(this.refreshRequests()))
    // What the server says of friends and keys is checked against what this device vouches for (trust.ts).
    s.on('friend-added', (f) => {
      const { username, identityKey } = f.friend
      this.background(
        this.trust
          .observeFriend(username, identityKey)
          .then((outcome) => this.keyObserved(username, outcome))
          .then(() => this.refresh()),
      )
    })
    s.on('friend-removed', (f) => {
      this.peers.disconnect(f.username)
      this.background(this.refresh())
    })
    s.on('key-changed', (f) => {
      this.background(
        this.trust
          .observeKeyChange(f.username, f.identityKey)
          .then((outcome) => this.keyObserved(f.username, outcome)),
      )
    })
    s.on('group-updated', () => this.background(this.refreshGroups()))
    s.on('group-removed', () => this.background(this.refreshGroups()))
    this.peers.on('message', ({ peer, plaintext, identityKey }) => {
      if (isGroupFrame(plaintext)) this.background(this.groupChat.receive(peer, plaintext, identityKey))
      // A group member who is not a friend has a connection for group frames only.
      else if (!this.groupChat.isGroupOnly(peer)) this.background(this.messenger.receive(peer, plaintext))
    })
    this.wireGroups()
    this.peers.on('open', ({ peer }) => {
      this.emitFriends()
      this.background(this.messenger.connectionOpened(peer))
    })
    this.peers.on('state', () => this.emitFriends())
    this.peers.on('error', (e) => this.background(this.peerRefused(e)))
    this.messenger.on('message', (m) => {
      if (m.expiresAt !== undefined) this.expiry.schedule(m.expiresAt)
      this.emit('message', m)
      this.background(this.emitConversations())
    })
    this.actions.on('message-updated', (m) => {
      this.emit('message-updated', m)
      this.background(this.emitConversations())
    })
    this.actions.on('message-removed', (r) => {
      this.emit('message-removed', r)
      this.background(this.emitConversations())
    })
    this.actions.on('refused', (r) => this.emit('peer-error', r))
    this.messenger.on('typing', (t) => this.emit('typing', t))
    this.files.on('file', (f) => this.emit('file', f))
    this.files.on('file-progress', (p) => this.emit('file-progress', p))
    this.files.on('file-error', (e) => this.emit('file-error', e))
  }

  /**
   * Reloads friends, requests and groups from the server. Friend keys are pinned only where this
   * device vouches for the friendship (trust.ts); other keys the server gives are claims.
   */
  async refresh(): Promise<void> {
    const [friends] = await Promise.all([this.api.friends(), this.refreshRequests(), this.refreshGroups()])
    this.friendList = friends.friends
    let pinned = false
    for (const f of this.friendList) {
      const outcome = await this.trust.observeFriend(f.username, f.identityKey)
      if (outcome === 'pinned') pinned = true
      this.keyObserved(f.username, outcome, false)
    }
    this.trust.retainClaims(new Set(this.friendList.map((f) => f.username)))
    await this.trust.friendListSeen()
    if (pinned) await this.groupChat.contactsChanged()
    this.emitFriends()
    await this.emitConversations()
  }

  /**
   * A connection was refused. For lack of a trusted key, while the user has a key to review
   * (changed or unconfirmed, each shown by its own banner), it is the expected outcome, not news.
   */
  private async peerRefused(e: ClientEvents['peer-error']): Promise<void> {
    if (e.code === 'untrusted-key') {
      const contact = await this.trust.contact(e.peer)
      if (contact?.pendingKey != null || (contact === undefined && this.trust.claim(e.peer) !== undefined))
        return
    }
    this.emit('peer-error', e)
  }

  /** A reported key was parked: the connection on the old key ends, and the user is told. */
  private keyObserved(username: string, outcome: PinOutcome, friendsDue = true): void {
    if (outcome === 'changed') {
      this.peers.disconnect(username)
      this.emit('key-changed', { username })
    }
    if (outcome === 'mismatch') this.groupChat.reportKeyClaim(username)
    if (friendsDue) this.emitFriends()
  }

  private async refreshRequests(): Promise<void> {
    this.requestList = await this.api.requests()
    this.emit('requests', this.requestList)
  }

  private async refreshGroups(): Promise<void> {
    this.groupList = (await this.api.groups()).groups
    // What the server says is compared with the signed member lists; `groups` comes from there.
    await this.groupChat.serverGroups(this.groupList)
  }

  private wireGroups(): void {
    const g = this.groupChat
    this.signaling.on('ready', () => g.online())
    this.signaling.on('presence', (f) => g.presence(f.username, f.online))
    this.signaling.on('group-removed', (f) => g.serverRemoved(f.groupId))
    this.peers.on('open', ({ peer }) => g.linkOpened(peer))
    this.peers.on('state', ({ peer, state }) => {
      if (state === 'idle') g.linkClosed(peer)
    })
    g.on('groups', (views) => this.emit('groups', views))
    let conversationsDue = false
    g.on('message', (m) => {
      this.emit('message', m)
      // A catch-up stores hundreds of messages in a row: one conversation list for them all.
      if (conversationsDue) return
      conversationsDue = true
      setTimeout(() => {
        conversationsDue = false
        if (!this.closed) this.background(this.emitConversations())
      }, 0)
    })
    g.on('group-removed', (r) => this.emit('group-removed', r))
    g.on('group-error', (e) => this.emit('group-error', e))
    g.on('group-typing', (e) => this.emit('group-typing', e))
  }

  private emitFriends(): void {
    this.background(this.friendViews().then((views) => this.emit('friends', views)))
  }

  /** Work started by events: failures are reported, never unhandled; after close they are expected. */
  private background(work: Promise<unknown>): void {
    work.catch((e: unknown) => {
      if (!this.closed) console.error('background work failed', e)
    })
  }

  private async emitConversations(): Promise<void> {
    this.emit('conversations', await this.history.conversations())
  }

  async friendViews(): Promise<FriendView[]> {
    const contacts = new Map((await this.trust.contacts()).map((c) => [c.username, c]))
    return this.friendList.map((f) => {
      const c: ContactRecord | undefined = contacts.get(f.username)
      const peerState = this.peers.state(f.username)
      return {
        username: f.username,
        // The server's presence is a hint; an open connection that passed the handshake is proof.
        online: peerState === 'open' || this.signaling.online.has(f.username),
        since: f.since,
        verified: c?.verified ?? false,
        keyChanged: c?.pendingKey != null,
        unconfirmed: c === undefined,
        peerState,
      }
    })
  }

  /** This account's identity public key (what friends pin and safety numbers are made from). */
  get identityKey(): Uint8Array {
    return this.session.identity.identityKey.publicKey
  }

  /** True when this device's old history could not be opened (identity and password both changed) and was cleared. */
  get historyReset(): boolean {
    return this.session.historyReset
  }

  get requests(): PendingRequests {
    return this.requestList
  }

  /** The user's groups: membership from the signed member lists this device verified. */
  get groups(): readonly GroupView[] {
    return this.groupChat.list()
  }

  // ---- friends ----

  async searchUsers(prefix: string): Promise<PublicUser[]> {
    return (await this.api.searchUsers(prefix)).users
  }

  async sendFriendRequest(to: string, note?: string): Promise<'pending' | 'accepted'> {
    // Before the server hears of it: its `friend-added` may come before the answer.
    await this.trust.recordIntent(to)
    const r = await this.api.sendRequest(to, note)
    await this.refresh()
    return r.status
  }

  async acceptFriendRequest(from: string): Promise<void> {
    await this.trust.recordIntent(from)
    await this.api.acceptRequest(from)
    await this.refresh()
  }

  async declineFriendRequest(from: string): Promise<void> {
    await this.api.declineRequest(from)
    await this.refreshRequests()
  }

  async cancelFriendRequest(to: string): Promise<void> {
    await this.trust.dropIntent(to)
    await this.api.cancelRequest(to)
    await this.refreshRequests()
  }

  async removeFriend(username: string): Promise<void> {
    await this.api.removeFriend(username)
    this.peers.disconnect(username)
    await this.refresh()
  }

  async blockUser(username: string): Promise<void> {
    await this.api.block(username)
    this.peers.disconnect(username)
    await this.refresh()
  }

  async unblockUser(username: string): Promise<void> {
    await this.api.unblock(username)
  }

  async blockedUsers(): Promise<string[]> {
    return (await this.api.blocked()).blocked
  }

  // ---- chat ----

  /**
   * Sends a text message; it is stored as queued and goes out when the friend is reachable.
   * `options.replyTo` (a message id of this conversation) makes it a reply quoting that message.
   * With the conversation's disappearing timer on, it carries the timer.
   * @throws MessageActionError 'not-found' / 'deleted' for a `replyTo` that cannot be quoted.
   */
  async sendText(peer: string, text: string, options?: SendTextOptions): Promise<Message> {
    if (!(await this.trust.canSend(peer)))
      throw new ApiError('forbidden', `${peer}'s key changed: review it before sending`, 0)
    return this.messenger.sendText(peer, text, options)
  }

  /**
   * Sets (or replaces) the user's reaction to a message, mine or the friend's; '' removes it.
   * Resolves with the message as changed (also a `message-updated` event).
   * @throws MessageActionError
   */
  async react(messageId: string, emoji: string): Promise<Message> {
    return this.actions.react(messageId, emoji)
  }

  /** Edits one of the user's own text messages, on both devices (`content.editedAt` is set). @throws MessageActionError */
  async editMessage(messageId: string, text: string): Promise<Message> {
    return this.actions.edit(messageId, text)
  }

  /** Deletes one of the user's own messages on both devices; a marker stays (`content.deleted`). @throws MessageActionError */
  async deleteForEveryone(messageId: string): Promise<Message> {
    return this.actions.deleteForEveryone(messageId)
  }

  /** Removes a message from this device only (a `message-removed` event); false if it was not there. */
  async deleteForMe(messageId: string): Promise<boolean> {
    return this.actions.deleteForMe(messageId)
  }

  /**
   * Sets the conversation's disappearing-message timer in seconds (0 = off; see
   * `disappearingTimerPresets`). Both sides get a `timer` line, and messages sent from then on by
   * either side are deleted on both devices that long after they were sent.
   * @throws MessageActionError 'invalid' (not a whole number of seconds within limits), 'forbidden'.
   */
  async setDisappearingTimer(peer: string, seconds: number): Promise<Message> {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > peerLimits.maxTimerSeconds)
      throw new MessageActionError(
        'invalid',
        `a timer is a whole number of seconds from 0 to ${peerLimits.maxTimerSeconds}`,
      )
    if (!(await this.trust.canSend(peer)))
      throw new MessageActionError('forbidden', `${peer}'s key changed: review it before sending`)
    const message = await this.messenger.sendTimer(peer, seconds)
    await this.emitConversations()
    return message
  }

  /** The conversation's disappearing-message timer in seconds; 0 = off. */
  async disappearingTimer(peer: string): Promise<number> {
    return this.history.timer(directConversationId(peer))
  }

  async setTyping(peer: string, typing: boolean): Promise<void> {
    await this.messenger.sendTyping(peer, typing)
  }

  /** Older messages of a conversation, oldest first. */
  async loadMessages(conversationId: string, beforeSentAt?: number, limit = 50): Promise<Message[]> {
    return this.history.page(conversationId, beforeSentAt === undefined ? { limit } : { beforeSentAt, limit })
  }

  /** Newer messages of a conversation, sent after `afterSentAt` (exclusive), oldest first. */
  async loadMessagesAfter(conversationId: string, afterSentAt: number, limit = 50): Promise<Message[]> {
    return this.history.page(conversationId, { afterSentAt, limit })
  }

  /** One stored message, if it is on this device. */
  async message(id: string): Promise<Message | undefined> {
    return this.history.get(id)
  }

  async markRead(peer: string): Promise<void> {
    await this.messenger.markRead(peer)
    await this.emitConversations()
  }

  async search(query: string, conversationId?: string): Promise<SearchHit[]> {
    return this.history.search(query, conversationId === undefined ? {} : { conversationId })
  }

  async conversations(): Promise<Conversation[]> {
    return this.history.conversations()
  }

  /**
   * Off: read receipts are not sent, and the friend's count only as delivered (as in Signal).
   * Not stored by the client: the UI keeps the choice and sets it at start.
   */
  setReadReceipts(on: boolean): void {
    this.readReceipts = on
  }

  /** Off: the user's typing is not sent, and friends' typing is not reported. The UI keeps the choice. */
  setTypingIndicators(on: boolean): void {
    this.typingIndicators = on
  }

  get readReceiptsEnabled(): boolean {
    return this.readReceipts
  }

  get typingIndicatorsEnabled(): boolean {
    return this.typingIndicators
  }

  /** Opens the encrypted connection to a friend ahead of time (e.g. when their chat is opened). */
  connect(peer: string): void {
    this.peers.connect(peer)
  }

  // ---- files ----

  /**
   * Offers a file (or image) to a friend: resolves when the transfer exists (`preparing`); it is
   * then hashed, encrypted, stored and offered, with `file` and `file-progress` events.
   */
  async sendFile(
    peer: string,
    file: Blob | FileSource,
    options?: SendFileOptions,
  ): Promise<FileTransferView> {
    return this.files.sendFile(peer, file, options)
  }

  async sendFiles(peer: string, files: readonly (Blob | FileSource)[]): Promise<FileTransferView[]> {
    return this.files.sendFiles(peer, files)
  }

  /**
   * Shares a file (or image) in a group: prepared once here, described to every member in a signed
   * group message, and fetched by each member from whichever member has it (this device first).
   * @throws FileTransferError 'forbidden' when this user is not in the group now.
   */
  async sendGroupFile(
    groupId: string,
    file: Blob | FileSource,
    options?: SendFileOptions,
  ): Promise<FileTransferView> {
    return this.files.sendGroupFile(groupId, file, options)
  }

  async sendGroupFiles(groupId: string, files: readonly (Blob | FileSource)[]): Promise<FileTransferView[]> {
    return this.files.sendGroupFiles(groupId, files)
  }

  async acceptFile(fileId: string): Promise<void> {
    await this.files.accept(fileId)
  }

  async declineFile(fileId: string): Promise<void> {
    await this.files.decline(fileId)
  }

  async cancelFile(fileId: string): Promise<void> {
    await this.files.cancel(fileId)
  }

  /** A received (verified) or sent file as a Blob, for saving or showing. */
  async openFile(fileId: string): Promise<Blob> {
    return this.files.openFile(fileId)
  }

  async fileTransfer(fileId: string): Promise<FileTransferView | undefined> {
    return this.files.transfer(fileId)
  }

  /** Images from friends up to this size are accepted without asking (0: always ask). */
  setAutoAcceptImagesUnderBytes(bytes: number): void {
    this.files.autoAcceptImagesUnderBytes = Math.max(0, bytes)
  }

  // ---- groups ----

  /**
   * Creates a group of friends with the user as its admin (the one who signs member lists).
   * @throws GroupError 'invalid', 'too-many', 'not-friend'; ApiError from the server.
   */
  async createGroup(name: string, members: readonly string[]): Promise<GroupView> {
    return this.groupChat.create(name, members)
  }

  /** Admin only: adds friends; they can read only what is sent from now on. @throws GroupError, ApiError */
  async addGroupMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    return this.groupChat.addMembers(groupId, usernames)
  }

  /** Admin only: removes members; they cannot read anything sent afterwards. @throws GroupError, ApiError */
  async removeGroupMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    return this.groupChat.removeMembers(groupId, usernames)
  }

  /** Admin only. @throws GroupError, ApiError */
  async renameGroup(groupId: string, name: string): Promise<GroupView> {
    return this.groupChat.rename(groupId, name)
  }

  /** Leaves a group (the admin only once alone); the history stays. @throws GroupError, ApiError */
  async leaveGroup(groupId: string): Promise<void> {
    await this.groupChat.leave(groupId)
  }

  /**
   * Sends a text to a group (conversation `group:<id>`), or a reply quoting one of its messages:
   * `queued`, then `sent` once another member's device has it, `delivered` once every other member
   * of the signed list has it, `read` once every other member has read it.
   * @throws GroupError 'not-found', 'not-member', 'invalid'; MessageActionError 'not-found' or
   * 'deleted' for a `replyTo` that is not (or no longer) a message of the group.
   */
  async sendGroupText(groupId: string, text: string, options?: SendTextOptions): Promise<Message> {
    return this.groupChat.sendText(groupId, text, options)
  }

  /** Tells the group's connected members that the user is typing (or stopped), if typing indicators are on. */
  async setGroupTyping(groupId: string, typing: boolean): Promise<void> {
    await this.groupChat.sendTyping(groupId, typing)
  }

  async markGroupRead(groupId: string): Promise<void> {
    await this.groupChat.markRead(groupId)
    await this.emitConversations()
  }

  group(groupId: string): GroupView | undefined {
    return this.groupChat.view(groupId)
  }

  // ---- trust ----

  /**
   * The safety number with a friend's pinned key, or, for an unconfirmed friend, with the key the
   * server claims (comparing it and marking it verified is how the user confirms it).
   */
  async safetyNumber(peer: string): Promise<SafetyNumberView> {
    const contact = await this.trust.contact(peer)
    const key = contact?.identityKey ?? this.trust.claim(peer)
    if (key === undefined) throw new ApiError('not-found', `${peer} is not a contact`, 0)
    const local = { identityKey: this.session.identity.identityKey.publicKey, username: this.username }
    const remote = { identityKey: fromBase64Url(key, 32), username: peer }
    return {
      digits: formatSafetyNumber(safetyNumber(local, remote)),
      qr: safetyQrPayload(local, remote),
      verified: contact?.verified ?? false,
    }
  }

  /** Marks the safety number compared; for an unconfirmed friend this pins the key it was made from. */
  async setVerified(peer: string, verified: boolean): Promise<void> {
    await this.trust.setVerified(peer, verified)
    await this.trustChanged(peer)
  }

  /**
   * A safety-number QR code scanned from the friend's screen: marks them verified when it is the
   * code their device must show for the keys this device holds (safety-scan.ts), else says why not.
   * @throws ApiError 'not-found' if `peer` is not a contact.
   */
  async scanSafetyQr(peer: string, scanned: string): Promise<SafetyScanResult> {
    const local = { identityKey: this.session.identity.identityKey.publicKey, username: this.username }
    const result = await checkScannedSafetyQr(this.trust, local, peer, scanned)
    if (result === undefined) throw new ApiError('not-found', `${peer} is not a contact`, 0)
    if (result === 'verified') await this.trustChanged(peer)
    return result
  }

  /** The user takes the key the server reported: a friend's new key, or an unconfirmed friend's key. */
  async acceptKeyChange(peer: string): Promise<void> {
    await this.trust.acceptKeyChange(peer)
    await this.trustChanged(peer)
  }

  /** The user keeps the pinned key over the one the server reported; sending works again. */
  async keepPinnedKey(peer: string): Promise<void> {
    await this.trust.keepPinnedKey(peer)
    await this.trustChanged(peer)
  }

  private async trustChanged(peer: string): Promise<void> {
    await this.groupChat.contactsChanged()
    this.emitFriends()
    this.background(this.messenger.flush(peer))
  }

  // ---- your data: export, backup and restore (all on this device: no server call) ----

  private accountData: AccountData | undefined

  /** Readable exports, the encrypted backup and its restore (client/core/export/). */
  get data(): AccountData {
    this.accountData ??= new AccountData({
      username: this.username,
      db: this.session.db,
      history: this.history,
      files: new FileStore(this.session.db, this.session.vaultKey),
      groupNames: () => new Map(this.groupChat.list().map((g) => [g.id, g.name])),
      groups: {
        backupGroups: () => this.groupChat.backupGroups(),
        restoreGroups: async (groups) => {
          // The restore wrote contacts behind trust's cache; a group's creator is checked against them.
          await this.trust.contacts()
          return this.groupChat.restoreGroups(groups)
        },
      },
      restored: async () => {
        // Trust caches contacts; the sweeper arms its timer for restored disappearing messages.
        await this.trust.contacts()
        await this.expiry.sweep()
        this.emitFriends()
        await this.emitConversations()
      },
    })
    return this.accountData
  }

  /** JSON of one conversation (`conversationId`) or all; schema in docs/EXPORT.md. */
  exportJson(opts?: ExportOptions): Promise<Blob> {
    return this.data.exportJson(opts)
  }

  /** A single HTML file that opens offline, images embedded. */
  exportHtml(opts?: HtmlExportOptions): Promise<Blob> {
    return this.data.exportHtml(opts)
  }

  /** The attachments on this device as a ZIP, at the paths the JSON and HTML exports name. */
  exportAttachmentsZip(opts?: ExportOptions): Promise<Blob> {
    return this.data.exportAttachmentsZip(opts)
  }

  /** JSON, HTML and attachments in one ZIP. */
  exportArchive(opts?: HtmlExportOptions): Promise<Blob> {
    return this.data.exportArchive(opts)
  }

  /**
   * Everything to restore this account's history on another device, encrypted under the
   * passphrase. @throws DataError 'weak-passphrase' (under 8 characters).
   */
  createBackup(passphrase: string, opts?: CreateBackupOptions): Promise<Blob> {
    return this.data.createBackup(passphrase, opts)
  }

  /**
   * Merges a backup of this account into this device; a second restore of it adds nothing. A
   * wrong passphrase or a damaged file changes nothing.
   * @throws DataError 'wrong-passphrase', 'damaged', 'not-a-backup', 'unsupported-version',
   * 'wrong-account', 'storage-full', 'storage-failed'.
   */
  restoreBackup(backup: Blob, passphrase: string, opts?: RestoreOptions): Promise<RestoreSummary> {
    return this.data.restoreBackup(backup, passphrase, opts)
  }

  // ---- session ----

  /** Closes connections but keeps the session remembered (page unload, tests). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.expiry.close()
    this.files.close()
    this.receiveWorker?.terminate()
    this.messenger.close()
    this.groupChat.close()
    this.peers.close()
    this.signaling.stop()
    this.session.db.close()
  }

  async logout(): Promise<void> {
    try {
      await this.api.logout()
    } catch {
      // Offline or already logged out: forgetting locally is what matters.
    }
    await forgetSession()
    this.close()
  }
}
