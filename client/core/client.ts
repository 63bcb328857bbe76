// The facade: one method per thing a person does. Long, but each method only hands over to a part.
import { notAcceptedText } from './trust.ts'
import { formatSafetyNumber, fromBase64Url, safetyNumber, safetyQrPayload } from '../../crypto/index.ts'
import { peerLimits, type PendingRequests, type PublicUser } from '../../shared/index.ts'
import {
  forgetSession,
  login,
  register,
  rememberSession,
  restoreSession,
  type AccountSession,
} from './account.ts'
import { MessageActionError } from './action-error.ts'
import { Api, ApiError } from './api.ts'
import type { ClientEnv, ClientEvents, SafetyNumberView } from './client-types.ts'
import {
  createParts,
  emitConversations,
  refreshFromServer,
  type ClientParts,
  type PartsSink,
} from './create-client.ts'
import { Emitter } from './emitter.ts'
import { AccountData } from './export/account-data.ts'
import type { CreateBackupOptions } from './export/backup-create.ts'
import type { RestoreOptions, RestoreSummary } from './export/backup-restore.ts'
import type { HtmlExportOptions } from './export/export-html.ts'
import type { ExportOptions } from './export/export-model.ts'
import type { FileSource } from './files/file-source.ts'
import { FileStore } from './files/file-store.ts'
import type { FileTransferView, SendFileOptions } from './files/types.ts'
import type { FriendView } from './friends.ts'
import { GroupError } from './groups/errors.ts'
import { groupConversationId, type GroupErrorEvent, type GroupView } from './groups/groups.ts'
import type { SendTextOptions } from './messenger.ts'
import type { PeerState } from './peer/peer-manager.ts'
import type { ConnectionState } from './signaling.ts'
import {
  conversationTarget,
  type Conversation,
  type ConversationId,
  type Message,
  type SearchHit,
} from './store/history.ts'
import { checkScannedSafetyQr, type SafetyScanResult } from './safety-scan.ts'

export { GroupError, groupConversationId, type GroupErrorEvent, type GroupView }
export type { GroupMemberView } from './groups/groups.ts'
export type { ClientEnv, ClientEvents, SafetyNumberView, TypingEvent } from './client-types.ts'
export type { FriendView } from './friends.ts'
export type { PeerErrorEvent } from './peer-error.ts'
export type { SafetyScanResult } from './safety-scan.ts'

/** The parts of each client, for test helpers only (test/helpers/internals.ts); the UI never sees them. */
const partsOf = new WeakMap<TincanClient, ClientParts>()

/** @internal Test helpers reach a client's parts through this, and through nothing else. */
export function clientParts(client: TincanClient): ClientParts {
  const parts = partsOf.get(client)
  if (parts === undefined) throw new Error('not a started client')
  return parts
}

/**
 * Everything a Tincan user does, in one object: account, friends, chats, groups, files, trust,
 * their data. Framework-free; the Svelte UI wraps it in rune state, and tests drive it in Node.
 * The parts it hands over to are made and wired in create-client.ts.
 */
export class TincanClient extends Emitter<ClientEvents> {
  readonly username: string
  private readonly p: ClientParts
  private readonly sink: PartsSink
  private closed = false

  private constructor(env: ClientEnv, session: AccountSession, api: Api) {
    super()
    // Warnings raised while starting (a member list that disagrees with a pinned key, say) wait for the screen.
    this.holdUntilHeard(['key-changed', 'peer-error', 'group-error', 'group-removed', 'friend-request'])
    this.username = session.username
    this.sink = {
      emit: (event, value) => this.emit(event, value),
      background: (work) => {
        // Work started by events: failures are reported, never unhandled; after close they are expected.
        work.catch((e: unknown) => {
          if (!this.closed) console.error('background work failed', e)
        })
      },
      closed: () => this.closed,
    }
    this.p = createParts(env, session, api, this.sink)
    partsOf.set(this, this.p)
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
    const p = client.p
    // Whatever disappeared while the app was closed goes before anything is shown or sent.
    await p.expiry.sweep()
    await p.groups.ready()
    p.signaling.start()
    await client.refresh().catch(() => undefined)
    return client
  }

  /** Reloads friends, requests and groups from the server (keys and membership are checked, not taken). */
  async refresh(): Promise<void> {
    await refreshFromServer(this.p, this.sink)
  }

  // ---- state ----

  /** The connection to the server. */
  get connectionState(): ConnectionState {
    return this.p.signaling.state
  }

  /** Whether the server says `username` is online now (a hint; see `FriendView.online`). */
  isOnline(username: string): boolean {
    return this.p.signaling.online.has(username)
  }

  /** Whether an encrypted, verified connection to `peer` is open now. */
  isConnected(peer: string): boolean {
    return this.p.peers.isOpen(peer)
  }

  /** Where the direct connection to `peer` stands. */
  peerState(peer: string): PeerState {
    return this.p.peers.state(peer)
  }

  async friendViews(): Promise<FriendView[]> {
    return this.p.friends.views()
  }

  /** This account's identity public key (what friends pin and safety numbers are made from). */
  get identityKey(): Uint8Array {
    return this.p.session.identity.identityKey.publicKey
  }

  /** True when this device's old history could not be opened (identity and password both changed) and was cleared. */
  get historyReset(): boolean {
    return this.p.session.historyReset
  }

  get requests(): PendingRequests {
    return this.p.friends.requests
  }

  /** The user's groups: membership from the signed member lists this device verified. */
  get groups(): readonly GroupView[] {
    return this.p.groups.list()
  }

  // ---- friends ----

  async searchUsers(prefix: string): Promise<PublicUser[]> {
    return (await this.p.api.searchUsers(prefix)).users
  }

  async sendFriendRequest(to: string, note?: string): Promise<'pending' | 'accepted'> {
    return this.p.friends.send(to, note)
  }

  async acceptFriendRequest(from: string): Promise<void> {
    await this.p.friends.accept(from)
  }

  async declineFriendRequest(from: string): Promise<void> {
    await this.p.friends.decline(from)
  }

  async cancelFriendRequest(to: string): Promise<void> {
    await this.p.friends.cancel(to)
  }

  async removeFriend(username: string): Promise<void> {
    await this.p.friends.remove(username)
    await emitConversations(this.p, this.sink)
  }

  async blockUser(username: string): Promise<void> {
    await this.p.friends.block(username)
    await emitConversations(this.p, this.sink)
  }

  async unblockUser(username: string): Promise<void> {
    await this.p.api.unblock(username)
  }

  async blockedUsers(): Promise<string[]> {
    return (await this.p.api.blocked()).blocked
  }

  // ---- chat ----

  /**
   * Sends a text to a conversation, or a reply quoting one of its messages (`options.replyTo`).
   * To a friend: stored as queued, it goes out when they are reachable, with the conversation's
   * disappearing timer if on. To a group: `queued`, then `sent` once another member's device has
   * it, `delivered` once every other member of the signed list has it, `read` once all read it.
   * @throws MessageActionError 'forbidden' (the friend's key is not accepted), 'not-found' /
   * 'deleted' for a `replyTo` that cannot be quoted; GroupError 'not-found', 'not-member', 'invalid'.
   */
  async sendText(conversationId: ConversationId, text: string, options?: SendTextOptions): Promise<Message> {
    const target = this.target(conversationId)
    if (target.kind === 'group') return this.p.groups.sendText(target.groupId, text, options)
    await this.mayWriteTo(target.peer)
    return this.p.messenger.sendText(target.peer, text, options)
  }

  /** Which friend or group a conversation is with. @throws MessageActionError 'not-found' */
  private target(conversationId: ConversationId): NonNullable<ReturnType<typeof conversationTarget>> {
    const target = conversationTarget(conversationId)
    if (target === undefined) throw new MessageActionError('not-found', 'no such conversation')
    return target
  }

  /** @throws MessageActionError 'forbidden' while the friend's key awaits the user's review. */
  private async mayWriteTo(peer: string): Promise<void> {
    if (!(await this.p.trust.canSend(peer))) throw new MessageActionError('forbidden', notAcceptedText(peer))
  }

  /**
   * Sets (or replaces) the user's reaction to a message, mine or the friend's; '' removes it.
   * Resolves with the message as changed (also a `message-updated` event).
   * @throws MessageActionError
   */
  async react(messageId: string, emoji: string): Promise<Message> {
    return this.p.actions.react(messageId, emoji)
  }

  /** Edits one of the user's own text messages, on both devices (`content.editedAt` is set). @throws MessageActionError */
  async editMessage(messageId: string, text: string): Promise<Message> {
    return this.p.actions.edit(messageId, text)
  }

  /** Deletes one of the user's own messages on both devices; a marker stays (`content.deleted`). @throws MessageActionError */
  async deleteForEveryone(messageId: string): Promise<Message> {
    return this.p.actions.deleteForEveryone(messageId)
  }

  /** Removes a message from this device only (a `message-removed` event); false if it was not there. */
  async deleteForMe(messageId: string): Promise<boolean> {
    return this.p.actions.deleteForMe(messageId)
  }

  /**
   * Sets the conversation's disappearing-message timer in seconds (0 = off; see
   * `disappearingTimerPresets`). Both sides get a `timer` line, and messages sent from then on by
   * either side are deleted on both devices that long after they were sent.
   * @throws MessageActionError 'invalid' (not a whole number of seconds within limits), 'forbidden'.
   */
  async setDisappearingTimer(conversationId: ConversationId, seconds: number): Promise<Message> {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > peerLimits.maxTimerSeconds)
      throw new MessageActionError(
        'invalid',
        `a timer is a whole number of seconds from 0 to ${peerLimits.maxTimerSeconds}`,
      )
    const target = this.target(conversationId)
    if (target.kind === 'group')
      throw new MessageActionError('invalid', 'disappearing messages are for one-to-one chats')
    await this.mayWriteTo(target.peer)
    const message = await this.p.messenger.sendTimer(target.peer, seconds)
    this.p.conversations.changed(conversationId)
    return message
  }

  /** The conversation's disappearing-message timer in seconds; 0 = off. */
  async disappearingTimer(conversationId: ConversationId): Promise<number> {
    return this.p.history.timer(conversationId)
  }

  /** Tells the friend, or the group's connected members, that the user is typing (or stopped), if typing indicators are on. */
  async setTyping(conversationId: ConversationId, typing: boolean): Promise<void> {
    const target = this.target(conversationId)
    if (target.kind === 'group') await this.p.groups.sendTyping(target.groupId, typing)
    else await this.p.messenger.sendTyping(target.peer, typing)
  }

  /** Older messages of a conversation, oldest first. */
  async loadMessages(conversationId: string, beforeSentAt?: number, limit = 50): Promise<Message[]> {
    return this.p.history.page(
      conversationId,
      beforeSentAt === undefined ? { limit } : { beforeSentAt, limit },
    )
  }

  /** Newer messages of a conversation, sent after `afterSentAt` (exclusive), oldest first. */
  async loadMessagesAfter(conversationId: string, afterSentAt: number, limit = 50): Promise<Message[]> {
    return this.p.history.page(conversationId, { afterSentAt, limit })
  }

  /** One stored message, if it is on this device. */
  async message(id: string): Promise<Message | undefined> {
    return this.p.history.get(id)
  }

  /** Everything received in the conversation is read (read receipts go out if they are on). */
  async markRead(conversationId: ConversationId): Promise<void> {
    const target = this.target(conversationId)
    if (target.kind === 'group') await this.p.groups.markRead(target.groupId)
    else await this.p.messenger.markRead(target.peer)
    this.p.conversations.changed(conversationId)
  }

  /** Messages whose words start with the query's, newest first: in one conversation, or in all. */
  async search(query: string, opts: { conversationId?: string; limit?: number } = {}): Promise<SearchHit[]> {
    return this.p.history.search(query, opts)
  }

  async conversations(): Promise<Conversation[]> {
    return this.p.history.conversations()
  }

  /**
   * Off: read receipts are not sent, and the friend's count only as delivered (as in Signal).
   * Not stored by the client: the UI keeps the choice and sets it at start.
   */
  setReadReceipts(on: boolean): void {
    this.p.settings.readReceipts = on
  }

  /** Off: the user's typing is not sent, and friends' typing is not reported. The UI keeps the choice. */
  setTypingIndicators(on: boolean): void {
    this.p.settings.typingIndicators = on
  }

  get readReceiptsEnabled(): boolean {
    return this.p.settings.readReceipts
  }

  get typingIndicatorsEnabled(): boolean {
    return this.p.settings.typingIndicators
  }

  /** Opens the encrypted connection to a friend ahead of time (e.g. when their chat is opened). */
  connect(peer: string): void {
    this.p.peers.connect(peer)
  }

  // ---- files ----

  /**
   * Offers a file (or image) to a friend: resolves when the transfer exists (`preparing`); it is
   * then hashed, encrypted, stored and offered, with `file` and `file-progress` events.
   */
  async sendFile(
    conversationId: ConversationId,
    file: Blob | FileSource,
    options?: SendFileOptions,
  ): Promise<FileTransferView> {
    const target = this.target(conversationId)
    return target.kind === 'group'
      ? this.p.files.sendGroupFile(target.groupId, file, options)
      : this.p.files.sendFile(target.peer, file, options)
  }

  /**
   * Offers files to a friend, or shares them in a group (prepared once here, described to every
   * member in a signed group message, fetched by each member from whichever member has them).
   * @throws FileTransferError 'forbidden' (the friend's key is not accepted), 'not-member' (not in the group now).
   */
  async sendFiles(
    conversationId: ConversationId,
    files: readonly (Blob | FileSource)[],
  ): Promise<FileTransferView[]> {
    const target = this.target(conversationId)
    return target.kind === 'group'
      ? this.p.files.sendGroupFiles(target.groupId, files)
      : this.p.files.sendFiles(target.peer, files)
  }

  async acceptFile(fileId: string): Promise<void> {
    await this.p.files.accept(fileId)
  }

  async declineFile(fileId: string): Promise<void> {
    await this.p.files.decline(fileId)
  }

  async cancelFile(fileId: string): Promise<void> {
    await this.p.files.cancel(fileId)
  }

  /** A received (verified) or sent file as a Blob, for saving or showing. */
  async openFile(fileId: string): Promise<Blob> {
    return this.p.files.openFile(fileId)
  }

  async fileTransfer(fileId: string): Promise<FileTransferView | undefined> {
    return this.p.files.transfer(fileId)
  }

  /** Images from friends up to this size are accepted without asking (0: always ask). */
  setAutoAcceptImagesUnderBytes(bytes: number): void {
    this.p.files.autoAcceptImagesUnderBytes = Math.max(0, bytes)
  }

  // ---- groups ----

  /**
   * Creates a group of friends with the user as its admin (the one who signs member lists).
   * @throws GroupError 'invalid', 'too-many', 'not-friend'; ApiError from the server.
   */
  async createGroup(name: string, members: readonly string[]): Promise<GroupView> {
    return this.p.groups.create(name, members)
  }

  /** Admin only: adds friends; they can read only what is sent from now on. @throws GroupError, ApiError */
  async addGroupMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    return this.p.groups.addMembers(groupId, usernames)
  }

  /** Admin only: removes members; they cannot read anything sent afterwards. @throws GroupError, ApiError */
  async removeGroupMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    return this.p.groups.removeMembers(groupId, usernames)
  }

  /** Admin only. @throws GroupError, ApiError */
  async renameGroup(groupId: string, name: string): Promise<GroupView> {
    return this.p.groups.rename(groupId, name)
  }

  /** Leaves a group (the admin only once alone); the history stays. @throws GroupError, ApiError */
  async leaveGroup(groupId: string): Promise<void> {
    await this.p.groups.leave(groupId)
  }

  group(groupId: string): GroupView | undefined {
    return this.p.groups.view(groupId)
  }

  // ---- trust ----

  /**
   * The safety number with a friend's pinned key, or, for an unconfirmed friend, with the key the
   * server claims (comparing it and marking it verified is how the user confirms it).
   */
  async safetyNumber(peer: string): Promise<SafetyNumberView> {
    const contact = await this.p.trust.contact(peer)
    const key = contact?.identityKey ?? this.p.trust.claim(peer)
    if (key === undefined) throw new ApiError('not-found', `${peer} is not a contact`, 0)
    const local = { identityKey: this.p.session.identity.identityKey.publicKey, username: this.username }
    const remote = { identityKey: fromBase64Url(key, 32), username: peer }
    return {
      digits: formatSafetyNumber(safetyNumber(local, remote)),
      qr: safetyQrPayload(local, remote),
      verified: contact?.verified ?? false,
    }
  }

  /** Marks the safety number compared; for an unconfirmed friend this pins the key it was made from. */
  async setVerified(peer: string, verified: boolean): Promise<void> {
    await this.p.trust.setVerified(peer, verified)
    await this.trustChanged(peer)
  }

  /**
   * A safety-number QR code scanned from the friend's screen: marks them verified when it is the
   * code their device must show for the keys this device holds (safety-scan.ts), else says why not.
   * @throws ApiError 'not-found' if `peer` is not a contact.
   */
  async scanSafetyQr(peer: string, scanned: string): Promise<SafetyScanResult> {
    const local = { identityKey: this.identityKey, username: this.username }
    const result = await checkScannedSafetyQr(this.p.trust, local, peer, scanned)
    if (result === undefined) throw new ApiError('not-found', `${peer} is not a contact`, 0)
    if (result === 'verified') await this.trustChanged(peer)
    return result
  }

  /** The user takes the key the server reported: a friend's new key, or an unconfirmed friend's key. */
  async acceptKeyChange(peer: string): Promise<void> {
    await this.p.trust.acceptKeyChange(peer)
    await this.trustChanged(peer)
  }

  /** The user keeps the pinned key over the one the server reported; sending works again. */
  async keepPinnedKey(peer: string): Promise<void> {
    await this.p.trust.keepPinnedKey(peer)
    await this.trustChanged(peer)
  }

  private async trustChanged(peer: string): Promise<void> {
    await this.p.groups.contactsChanged()
    this.p.friends.changed()
    this.sink.background(this.p.messenger.flush(peer))
  }

  // ---- your data: export, backup and restore (all on this device: no server call) ----

  private accountData: AccountData | undefined

  /** Readable exports, the encrypted backup and its restore (client/core/export/). */
  get data(): AccountData {
    this.accountData ??= new AccountData({
      username: this.username,
      db: this.p.session.db,
      history: this.p.history,
      files: new FileStore(this.p.session.db, this.p.session.vaultKey),
      groupNames: () => new Map(this.p.groups.list().map((g) => [g.id, g.name])),
      groups: {
        backupGroups: () => this.p.groups.backupGroups(),
        restoreGroups: async (groups) => {
          // The restore wrote contacts behind trust's cache; a group's creator is checked against them.
          await this.p.trust.contacts()
          return this.p.groups.restoreGroups(groups)
        },
      },
      restored: async () => {
        // Trust caches contacts, the messenger timers; the sweeper arms its timer for restored disappearing messages.
        await this.p.trust.contacts()
        this.p.messenger.forgetTimers()
        await this.p.expiry.sweep()
        this.p.friends.changed()
        await emitConversations(this.p, this.sink)
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
    this.p.expiry.close()
    this.p.files.close()
    this.p.receiveWorker?.terminate()
    this.p.messenger.close()
    this.p.groups.close()
    this.p.peers.close()
    this.p.signaling.stop()
    this.p.session.db.close()
  }

  async logout(): Promise<void> {
    try {
      await this.p.api.logout()
    } catch {
      // Offline or already logged out: forgetting locally is what matters.
    }
    await forgetSession()
    this.close()
  }
}
