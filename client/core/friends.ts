import type { Friend, PendingRequest, PendingRequests, PublicUser } from '../../shared/index.ts'
import type { Api } from './api.ts'
import { Emitter } from './emitter.ts'
import type { Groups } from './groups/groups.ts'
import type { PeerManager, PeerState } from './peer/peer-manager.ts'
import type { PeerErrorEvent } from './peer-error.ts'
import type { SignalingConnection } from './signaling.ts'
import type { Trust, PinOutcome } from './trust.ts'

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

export interface FriendsEvents extends Record<string, unknown> {
  friends: readonly FriendView[]
  requests: PendingRequests
  /** For notifications: a friend request arrived. */
  'friend-request': PendingRequest
  /** A friend's key changed: warn, and block sending until accepted (or the pinned key is kept). */
  'key-changed': { username: string }
  /** A connection was refused for a reason the user should hear (see `refused`). */
  'peer-error': PeerErrorEvent
}

export interface FriendsOptions {
  readonly api: Api
  readonly trust: Trust
  readonly signaling: SignalingConnection
  readonly peers: Pick<PeerManager, 'state' | 'disconnect'>
  readonly groups: Pick<Groups, 'contactsChanged' | 'reportKeyClaim'>
  /** Failures of work started by events are reported here, never left unhandled. */
  readonly background: (work: Promise<unknown>) => void
}

/**
 * The friend list and friend requests as the server states them, checked against what this device
 * vouches for: keys are pinned only where a source here vouches for them (trust.ts), and a key the
 * server reports as changed is parked for the user's review.
 */
export class Friends extends Emitter<FriendsEvents> {
  private list: Friend[] = []
  private requestList: PendingRequests = { incoming: [], outgoing: [] }

  constructor(private readonly o: FriendsOptions) {
    super()
    const s = o.signaling
    s.on('friend-request', (f) => {
      this.requestList = {
        ...this.requestList,
        incoming: [...this.requestList.incoming.filter((r) => r.username !== f.request.username), f.request],
      }
      this.emit('requests', this.requestList)
      this.emit('friend-request', f.request)
    })
    s.on('friend-request-closed', () => o.background(this.refreshRequests()))
    s.on('key-changed', (f) => {
      o.background(
        o.trust
          .observeKeyChange(f.username, f.identityKey)
          .then((outcome) => this.keyObserved(f.username, outcome)),
      )
    })
  }

  get requests(): PendingRequests {
    return this.requestList
  }

  /** A `friend-added` frame: its key is weighed at once (a message may follow right away), then the list reloads. */
  async added(friend: PublicUser): Promise<void> {
    this.keyObserved(friend.username, await this.o.trust.observeFriend(friend.username, friend.identityKey))
  }

  /**
   * Reloads friends and requests from the server. Friend keys are pinned only where this device
   * vouches for the friendship (trust.ts); other keys the server gives are claims.
   */
  async refresh(): Promise<void> {
    const [friends] = await Promise.all([this.o.api.friends(), this.refreshRequests()])
    this.list = friends.friends
    let pinned = false
    for (const f of this.list) {
      const outcome = await this.o.trust.observeFriend(f.username, f.identityKey)
      if (outcome === 'pinned') pinned = true
      this.keyObserved(f.username, outcome, false)
    }
    this.o.trust.retainClaims(new Set(this.list.map((f) => f.username)))
    await this.o.trust.friendListSeen()
    if (pinned) await this.o.groups.contactsChanged()
    this.changed()
  }

  async refreshRequests(): Promise<void> {
    this.requestList = await this.o.api.requests()
    this.emit('requests', this.requestList)
  }

  /** Friends' presence, connections or trust changed: a new `friends` event. */
  changed(): void {
    this.o.background(this.views().then((views) => this.emit('friends', views)))
  }

  async views(): Promise<FriendView[]> {
    const contacts = new Map((await this.o.trust.contacts()).map((c) => [c.username, c]))
    return this.list.map((f) => {
      const c = contacts.get(f.username)
      const peerState = this.o.peers.state(f.username)
      return {
        username: f.username,
        // The server's presence is a hint; an open connection that passed the handshake is proof.
        online: peerState === 'open' || this.o.signaling.online.has(f.username),
        since: f.since,
        verified: c?.verified ?? false,
        keyChanged: c?.pendingKey != null,
        unconfirmed: c === undefined,
        peerState,
      }
    })
  }

  /**
   * A connection was refused. For lack of a trusted key, while the user has a key to review
   * (changed or unconfirmed, each shown by its own banner), it is the expected outcome, not news.
   */
  async refused(e: FriendsEvents['peer-error']): Promise<void> {
    if (e.code === 'untrusted-key') {
      const contact = await this.o.trust.contact(e.peer)
      if (contact?.pendingKey != null || (contact === undefined && this.o.trust.claim(e.peer) !== undefined))
        return
    }
    this.emit('peer-error', e)
  }

  /** A reported key was parked: the connection on the old key ends, and the user is told. */
  private keyObserved(username: string, outcome: PinOutcome, friendsDue = true): void {
    if (outcome === 'changed') {
      this.o.peers.disconnect(username)
      this.emit('key-changed', { username })
    }
    if (outcome === 'mismatch') this.o.groups.reportKeyClaim(username)
    if (friendsDue) this.changed()
  }

  // ---- what the user does ----

  async send(to: string, note?: string): Promise<'pending' | 'accepted'> {
    // Before the server hears of it: its `friend-added` may come before the answer.
    await this.o.trust.recordIntent(to)
    const r = await this.o.api.sendRequest(to, note)
    await this.refresh()
    return r.status
  }

  async accept(from: string): Promise<void> {
    await this.o.trust.recordIntent(from)
    await this.o.api.acceptRequest(from)
    await this.refresh()
  }

  async decline(from: string): Promise<void> {
    await this.o.api.declineRequest(from)
    await this.refreshRequests()
  }

  async cancel(to: string): Promise<void> {
    await this.o.trust.dropIntent(to)
    await this.o.api.cancelRequest(to)
    await this.refreshRequests()
  }

  async remove(username: string): Promise<void> {
    await this.o.api.removeFriend(username)
    this.o.peers.disconnect(username)
    await this.refresh()
  }

  async block(username: string): Promise<void> {
    await this.o.api.block(username)
    this.o.peers.disconnect(username)
    await this.refresh()
  }
}
