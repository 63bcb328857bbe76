import type { RelayedSignalFrame, ServerFrame } from '../../shared/index.ts'
import type { Offer } from './outbox.ts'

/** One authenticated WebSocket as the hub sees it. */
export interface Connection {
  readonly username: string
  readonly sessionId: string
  /** When the session behind this socket expires; the socket is closed then. */
  readonly expiresAt: number
  /** Queues a frame the client must get (a socket far over its cap is closed instead). */
  send(frame: ServerFrame): void
  /** Sends a frame that is already JSON text (as it arrives from another node). */
  sendText(json: string): void
  /** Queues a relayed signal (JSON text) unless the socket is over its cap. */
  offerSignal(json: string): Offer
  /** True while signals to this socket are refused (see Outbox). */
  readonly busy: boolean
  close(code: number, reason: string): void
}

/** What became of a signal: on its way to at least one socket, refused by every one, or none to send it to. */
export type Relayed = 'sent' | 'busy' | 'offline'

/** What a hub tells the rest of the server about things that happened elsewhere. */
export interface HubListeners {
  /**
   * The user went offline without a socket closing here: the node that held their last
   * socket died. Their contacts must be told; the hub has already forgotten the presence.
   */
  presenceLost(username: string): Promise<void>
  /** Another node changed who may signal whom: forget cached relay decisions (one pair, or all). */
  relayChanged(pair: readonly [string, string] | undefined): void
}

/**
 * Presence and delivery to users' sockets. In-process (LocalHub), or over Redis (RedisHub) so
 * that several nodes behind a load balancer act as one.
 */
export interface Hub {
  /** Wires notifications from other nodes; called once, before any socket attaches. */
  listen(listeners: HubListeners): void
  /** Registers the socket; true when this made the user come online. */
  attach(conn: Connection): Promise<boolean>
  /** Forgets the socket; true when this made the user go offline. */
  detach(conn: Connection): Promise<boolean>
  isOnline(username: string): Promise<boolean>
  onlineAmong(usernames: readonly string[]): Promise<string[]>
  /** Sends to every socket of the user, wherever it is connected; false when the user has none. */
  deliver(username: string, frame: ServerFrame): Promise<boolean>
  /**
   * Sends a signal to every socket of the user that has room for it. `busy` when the user is
   * connected but every socket is over its cap: the sender is told to try again later.
   */
  relay(username: string, frame: RelayedSignalFrame): Promise<Relayed>
  /**
   * The same at once, for a hub that knows every socket (one node); absent where the answer
   * needs another node (Redis). Lets the relay's fast path skip the promises.
   */
  readonly relayHere?: (username: string, frame: RelayedSignalFrame) => Relayed
  /** One of this node's sockets started or stopped refusing signals. */
  busyChanged(conn: Connection): void
  /** How many sockets the user holds, on every node. */
  userSockets(username: string): Promise<number>
  closeSession(sessionId: string, code: number, reason: string): Promise<void>
  closeUser(username: string, code: number, reason: string): Promise<void>
  /** Tells the other nodes that relay decisions changed (this node has already forgotten them). */
  publishRelayChange(pair: readonly [string, string] | undefined): Promise<void>
  /** Sockets held by this node. */
  localConnections(): number
  local(): Iterable<Connection>
  /** Stops timers and lets go of shared state; call after this node's sockets are closed. */
  close(): Promise<void>
}

/** The sockets one node holds, by user. Both hubs keep one. */
export class SocketTable {
  private readonly byUser = new Map<string, Set<Connection>>()
  private count = 0

  /** Adds the socket; returns how many sockets the user now has here. */
  add(conn: Connection): number {
    let set = this.byUser.get(conn.username)
    if (set === undefined) {
      set = new Set()
      this.byUser.set(conn.username, set)
    }
    if (!set.has(conn)) {
      set.add(conn)
      this.count++
    }
    return set.size
  }

  /** Removes the socket; returns how many the user still has here, or undefined if it was not here. */
  remove(conn: Connection): number | undefined {
    const set = this.byUser.get(conn.username)
    if (set === undefined || !set.delete(conn)) return undefined
    this.count--
    if (set.size === 0) this.byUser.delete(conn.username)
    return set.size
  }

  of(username: string): ReadonlySet<Connection> | undefined {
    return this.byUser.get(username)
  }

  has(username: string): boolean {
    return this.byUser.has(username)
  }

  users(): IterableIterator<string> {
    return this.byUser.keys()
  }

  get size(): number {
    return this.count
  }

  /** Sends JSON text to every socket of the user here; returns how many got it. */
  sendText(username: string, json: string): number {
    const set = this.byUser.get(username)
    if (set === undefined) return 0
    for (const conn of set) conn.sendText(json)
    return set.size
  }

  /** Offers a signal to every socket of the user here. */
  relayText(username: string, json: string): Relayed {
    const set = this.byUser.get(username)
    if (set === undefined) return 'offline'
    let result: Relayed = 'offline'
    for (const conn of set) {
      const offer = conn.offerSignal(json)
      if (offer === 'queued') result = 'sent'
      else if (offer === 'busy' && result === 'offline') result = 'busy'
    }
    return result
  }

  /** Like relayText, without making the JSON when every socket would refuse it (a flood of large signals). */
  relay(username: string, frame: RelayedSignalFrame): Relayed {
    if (!this.byUser.has(username)) return 'offline'
    if (this.allBusy(username)) return 'busy'
    return this.relayText(username, JSON.stringify(frame))
  }

  /** True when the user has sockets here and every one refuses signals. */
  allBusy(username: string): boolean {
    const set = this.byUser.get(username)
    if (set === undefined) return false
    for (const conn of set) if (!conn.busy) return false
    return true
  }

  closeUser(username: string, code: number, reason: string): void {
    for (const conn of [...(this.byUser.get(username) ?? [])]) conn.close(code, reason)
  }

  closeSession(sessionId: string, code: number, reason: string): void {
    for (const conn of [...this.all()]) if (conn.sessionId === sessionId) conn.close(code, reason)
  }

  *all(): Iterable<Connection> {
    for (const set of this.byUser.values()) yield* set
  }
}

/** One process, no shared state: the zero-set-up default. */
export class LocalHub implements Hub {
  private readonly sockets = new SocketTable()

  listen(): void {
    // Nothing happens elsewhere.
  }

  attach(conn: Connection): Promise<boolean> {
    return Promise.resolve(this.sockets.add(conn) === 1)
  }

  detach(conn: Connection): Promise<boolean> {
    return Promise.resolve(this.sockets.remove(conn) === 0)
  }

  isOnline(username: string): Promise<boolean> {
    return Promise.resolve(this.sockets.has(username))
  }

  onlineAmong(usernames: readonly string[]): Promise<string[]> {
    return Promise.resolve(usernames.filter((u) => this.sockets.has(u)))
  }

  deliver(username: string, frame: ServerFrame): Promise<boolean> {
    if (!this.sockets.has(username)) return Promise.resolve(false)
    return Promise.resolve(this.sockets.sendText(username, JSON.stringify(frame)) > 0)
  }

  relay(username: string, frame: RelayedSignalFrame): Promise<Relayed> {
    return Promise.resolve(this.sockets.relay(username, frame))
  }

  relayHere(username: string, frame: RelayedSignalFrame): Relayed {
    return this.sockets.relay(username, frame)
  }

  busyChanged(): void {
    // Senders are on this node: relay() asks the sockets themselves.
  }

  userSockets(username: string): Promise<number> {
    return Promise.resolve(this.sockets.of(username)?.size ?? 0)
  }

  closeSession(sessionId: string, code: number, reason: string): Promise<void> {
    this.sockets.closeSession(sessionId, code, reason)
    return Promise.resolve()
  }

  closeUser(username: string, code: number, reason: string): Promise<void> {
    this.sockets.closeUser(username, code, reason)
    return Promise.resolve()
  }

  publishRelayChange(): Promise<void> {
    return Promise.resolve()
  }

  localConnections(): number {
    return this.sockets.size
  }

  local(): Iterable<Connection> {
    return this.sockets.all()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
