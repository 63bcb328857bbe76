import type { ServerFrame } from '../../shared/index.ts'

/** One authenticated WebSocket as the hub sees it. */
export interface Connection {
  readonly username: string
  readonly sessionId: string
  send(frame: ServerFrame): void
  close(code: number, reason: string): void
}

/**
 * Presence and delivery to users' sockets. In-process here; the same interface can be backed
 * by Redis pub/sub so that several nodes act as one.
 */
export interface Hub {
  /** Registers the socket; true when this made the user come online. */
  attach(conn: Connection): Promise<boolean>
  /** Forgets the socket; true when this made the user go offline. */
  detach(conn: Connection): Promise<boolean>
  isOnline(username: string): Promise<boolean>
  onlineAmong(usernames: readonly string[]): Promise<string[]>
  /** Sends to every socket of the user, wherever it is connected. */
  deliver(username: string, frame: ServerFrame): Promise<void>
  closeSession(sessionId: string, code: number, reason: string): Promise<void>
  closeUser(username: string, code: number, reason: string): Promise<void>
  /** Sockets held by this node. */
  localConnections(): number
  local(): Iterable<Connection>
}

export class LocalHub implements Hub {
  private readonly byUser = new Map<string, Set<Connection>>()
  private count = 0

  attach(conn: Connection): Promise<boolean> {
    let set = this.byUser.get(conn.username)
    const first = set === undefined
    if (set === undefined) {
      set = new Set()
      this.byUser.set(conn.username, set)
    }
    if (!set.has(conn)) {
      set.add(conn)
      this.count++
    }
    return Promise.resolve(first)
  }

  detach(conn: Connection): Promise<boolean> {
    const set = this.byUser.get(conn.username)
    if (set === undefined || !set.delete(conn)) return Promise.resolve(false)
    this.count--
    if (set.size > 0) return Promise.resolve(false)
    this.byUser.delete(conn.username)
    return Promise.resolve(true)
  }

  isOnline(username: string): Promise<boolean> {
    return Promise.resolve(this.byUser.has(username))
  }

  onlineAmong(usernames: readonly string[]): Promise<string[]> {
    return Promise.resolve(usernames.filter((u) => this.byUser.has(u)))
  }

  deliver(username: string, frame: ServerFrame): Promise<void> {
    for (const conn of this.byUser.get(username) ?? []) conn.send(frame)
    return Promise.resolve()
  }

  closeSession(sessionId: string, code: number, reason: string): Promise<void> {
    for (const set of this.byUser.values())
      for (const conn of set) if (conn.sessionId === sessionId) conn.close(code, reason)
    return Promise.resolve()
  }

  closeUser(username: string, code: number, reason: string): Promise<void> {
    for (const conn of [...(this.byUser.get(username) ?? [])]) conn.close(code, reason)
    return Promise.resolve()
  }

  localConnections(): number {
    return this.count
  }

  *local(): Iterable<Connection> {
    for (const set of this.byUser.values()) yield* set
  }
}
