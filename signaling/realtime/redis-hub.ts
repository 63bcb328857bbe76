// Long: presence, relay, back-pressure and session ends across nodes share one Redis connection and its scripts.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { RelayedSignalFrame, ServerFrame } from '../../shared/index.ts'
import { SocketTable, type Connection, type Hub, type HubListeners, type Relayed } from './hub.ts'
import { leaveLua, onlineLua, reapLua, relayLua, socketsLua, syncLua, type Scripts } from './redis-scripts.ts'

/**
 * Presence and delivery across nodes, over Redis.
 *
 * Keys (all under the configured prefix P):
 *   P node:<id>          this node's lease: exists while the node lives (PX leaseMs, renewed every heartbeatMs)
 *   P nodes              set of node ids that may hold presence (so a survivor can clean up after a dead one)
 *   P node-users:<id>    set of users with a socket on node <id>
 *   P presence:<user>    hash node id → number of the user's sockets on that node
 *   P busy:<user>:<id>   exists (PX busyTtlMs) while every socket of the user on node <id> refuses signals
 * Channels:
 *   P u:<user>           frames for a user; a node subscribes while it holds one of their sockets
 *   P all                cluster-wide control: close a session, forget relay decisions
 *   P node:<id>          subscribed by node <id> only: its subscriber count says the process is alive
 *
 * A presence entry counts only while its node's lease exists, so a dead node's users stop being
 * online as soon as the lease is gone. A node that crashes drops its Redis connections at once;
 * survivors notice (no subscriber on its node channel) at their next heartbeat, or as soon as one
 * of its users reconnects elsewhere, delete its lease and tell that node's users' contacts they
 * went offline. A node that hangs without dropping its connections loses its lease after leaseMs.
 */

export interface RedisHubOptions {
  readonly url: string
  readonly prefix: string
  readonly heartbeatMs?: number
  readonly leaseMs?: number
  readonly log?: { warn(obj: unknown, msg: string): void; info?(obj: unknown, msg: string): void }
}

/** Messages on user channels and on the control channel: "<origin node>\n<kind>\n<rest>". */
type Kind = 'frame' | 'signal' | 'close-user' | 'close-session' | 'relay'

/**
 * How long a busy mark lives unless renewed. Marks are renewed while signals keep being refused,
 * so a mark left by a node that stopped in between only misleads senders this long.
 */
const busyTtlMs = 30_000

export class RedisHub implements Hub {
  private readonly sockets = new SocketTable()
  private readonly cmd: Redis
  private readonly sub: Redis
  private readonly scripts: Scripts
  private readonly heartbeatMs: number
  private readonly leaseMs: number
  private readonly p: string
  private nodeIdValue = newNodeId()
  private listeners: HubListeners | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private beating = false
  private closed = false
  /** Users whose channel this node is subscribed to (it holds one of their sockets). */
  private readonly subscribed = new Set<string>()
  /** Users marked busy here, with when the mark was last written. */
  private readonly markedBusy = new Map<string, number>()
  /** Work that must finish before the connections to Redis close. */
  private readonly inFlight = new Set<Promise<unknown>>()

  private constructor(private readonly options: RedisHubOptions) {
    this.p = options.prefix
    this.heartbeatMs = options.heartbeatMs ?? 2_000
    this.leaseMs = options.leaseMs ?? 10_000
    const redisOptions = { lazyConnect: true, maxRetriesPerRequest: 5, connectionName: 'tincan' }
    // Commands issued in one turn of the event loop (a burst of relays) leave in one write.
    this.cmd = new Redis(options.url, { ...redisOptions, enableAutoPipelining: true })
    this.sub = new Redis(options.url, redisOptions)
    for (const r of [this.cmd, this.sub])
      r.on('error', (e: unknown) => options.log?.warn({ err: e }, 'redis connection error'))
    this.cmd.defineCommand('tincanSync', { numberOfKeys: 2, lua: syncLua })
    this.cmd.defineCommand('tincanReap', { numberOfKeys: 1, lua: reapLua })
    this.cmd.defineCommand('tincanOnline', { lua: onlineLua })
    this.cmd.defineCommand('tincanRelay', { numberOfKeys: 1, lua: relayLua })
    this.cmd.defineCommand('tincanSockets', { numberOfKeys: 1, lua: socketsLua })
    this.scripts = this.cmd as unknown as Scripts
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message))
  }

  /** Connects, subscribes and takes a lease; rejects when Redis cannot be reached. */
  static async open(options: RedisHubOptions): Promise<RedisHub> {
    let lastError: unknown
    const hub = new RedisHub({
      ...options,
      log: {
        warn(obj, msg) {
          lastError = (obj as { err?: unknown }).err
          options.log?.warn(obj, msg)
        },
        info(obj, msg) {
          options.log?.info?.(obj, msg)
        },
      },
    })
    try {
      await Promise.all([hub.cmd.connect(), hub.sub.connect()])
      await hub.sub.subscribe(hub.controlChannel)
      await hub.join()
    } catch (e: unknown) {
      hub.cmd.disconnect()
      hub.sub.disconnect()
      // The connection's own error says why (refused, unknown host); `e` only says it closed.
      const why = lastError instanceof Error ? lastError.message : e instanceof Error ? e.message : String(e)
      throw new Error(`cannot reach Redis at ${new URL(options.url).host}: ${why}`, { cause: e })
    }
    hub.heartbeat = setInterval(() => void hub.track(hub.beat()), hub.heartbeatMs)
    hub.heartbeat.unref()
    return hub
  }

  /** This node's id in Redis (changes if the node ever loses its lease). */
  get nodeId(): string {
    return this.nodeIdValue
  }

  listen(listeners: HubListeners): void {
    this.listeners = listeners
  }

  attach(conn: Connection): Promise<boolean> {
    const count = this.sockets.add(conn)
    return this.track(this.register(conn.username, count))
  }

  detach(conn: Connection): Promise<boolean> {
    const count = this.sockets.remove(conn)
    if (count === undefined) return Promise.resolve(false)
    // The sockets left may all be busy, or none may be left.
    if (count > 0 || this.markedBusy.has(conn.username)) this.busyChanged(conn)
    return this.track(this.unregister(conn.username, count))
  }

  async isOnline(username: string): Promise<boolean> {
    if (this.sockets.has(username)) return true
    const [online] = await this.scripts.tincanOnline(1, this.presenceKey(username), this.leasePrefix)
    return online === 1
  }

  async onlineAmong(usernames: readonly string[]): Promise<string[]> {
    const remote = usernames.filter((u) => !this.sockets.has(u))
    const flags =
      remote.length === 0
        ? []
        : await this.scripts.tincanOnline(
            remote.length,
            ...remote.map((u) => this.presenceKey(u)),
            this.leasePrefix,
          )
    const online = new Set(remote.filter((_u, i) => flags[i] === 1))
    return usernames.filter((u) => this.sockets.has(u) || online.has(u))
  }

  async deliver(username: string, frame: ServerFrame): Promise<boolean> {
    const json = JSON.stringify(frame)
    const here = this.sockets.sendText(username, json)
    // Subscribers count nodes holding the user; this node is one of them when it subscribed.
    const receivers = await this.cmd.publish(this.userChannel(username), this.message('frame', json))
    return here > 0 || receivers - (this.subscribed.has(username) ? 1 : 0) > 0
  }

  async relay(username: string, frame: RelayedSignalFrame): Promise<Relayed> {
    const json = JSON.stringify(frame)
    const here = this.sockets.relayText(username, json)
    if (here === 'busy') this.markBusy(username)
    const remote = await this.scripts.tincanRelay(
      this.presenceKey(username),
      this.userChannel(username),
      this.message('signal', json),
      this.leasePrefix,
      this.busyPrefix(username),
      this.nodeId,
    )
    // Subscribers count nodes holding the user; this node is one of them when it subscribed.
    if (here === 'sent' || remote - (this.subscribed.has(username) ? 1 : 0) > 0) return 'sent'
    return here === 'busy' || remote < 0 ? 'busy' : 'offline'
  }

  busyChanged(conn: Connection): void {
    if (this.sockets.allBusy(conn.username)) this.markBusy(conn.username, true)
    else if (this.markedBusy.delete(conn.username))
      void this.track(this.cmd.del(this.busyKey(conn.username)).catch(() => undefined))
  }

  userSockets(username: string): Promise<number> {
    return this.scripts.tincanSockets(this.presenceKey(username), this.leasePrefix)
  }

  async closeSession(sessionId: string, code: number, reason: string): Promise<void> {
    this.sockets.closeSession(sessionId, code, reason)
    await this.cmd.publish(
      this.controlChannel,
      this.message('close-session', `${code}\n${sessionId}\n${reason}`),
    )
  }

  async closeUser(username: string, code: number, reason: string): Promise<void> {
    this.sockets.closeUser(username, code, reason)
    await this.cmd.publish(this.userChannel(username), this.message('close-user', `${code}\n${reason}`))
  }

  async publishRelayChange(pair: readonly [string, string] | undefined): Promise<void> {
    await this.cmd.publish(
      this.controlChannel,
      this.message('relay', pair === undefined ? '' : pair.join('\n')),
    )
  }

  localConnections(): number {
    return this.sockets.size
  }

  local(): Iterable<Connection> {
    return this.sockets.all()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    await Promise.allSettled([...this.inFlight])
    // Give the lease up rather than wait for it to expire. If presence is left behind (a detach
    // failed), stay listed: the next heartbeat of another node cleans up after this one.
    await this.cmd
      .eval(
        leaveLua,
        3,
        this.leaseKey(this.nodeId),
        this.nodeUsersKey(this.nodeId),
        this.nodesKey,
        this.nodeId,
      )
      .catch(() => undefined)
    await Promise.allSettled([this.cmd.quit(), this.sub.quit()])
  }

  // ---- back-pressure ----

  /**
   * Tells senders on other nodes that every socket of the user here refuses signals, so they
   * answer `recipient-busy` instead of publishing what would be dropped. Written when the user
   * becomes busy, or when a signal is refused without a fresh mark (it expired, or a socket
   * with room left); renewed at most every third of its lifetime.
   */
  private markBusy(username: string, changed = false): void {
    const now = Date.now()
    const at = this.markedBusy.get(username)
    if (!changed && at !== undefined && now - at < busyTtlMs / 3) return
    if (!this.sockets.allBusy(username)) return
    this.markedBusy.set(username, now)
    void this.track(
      this.cmd.set(this.busyKey(username), '1', 'PX', busyTtlMs).catch((e: unknown) => {
        this.options.log?.warn({ err: e }, 'could not mark a user busy')
      }),
    )
  }

  // ---- presence ----

  private async register(username: string, count: number): Promise<boolean> {
    if (count === 1 && !this.subscribed.has(username)) {
      this.subscribed.add(username)
      await this.sub.subscribe(this.userChannel(username))
    }
    // A reconnecting user may still be listed on the node that just died: find out now, so
    // their friends see them go offline and come back instead of nothing at all.
    const elsewhere = (await this.cmd.hkeys(this.presenceKey(username))).filter((id) => id !== this.nodeId)
    if (elsewhere.length > 0) await this.checkNodes(elsewhere)
    const [before, now, live, stale] = await this.sync(username)
    const cameOnline = before === 0 && now === 1 && live === 0
    if (cameOnline && stale > 0)
      await this.listeners
        ?.presenceLost(username)
        .catch((e: unknown) => this.options.log?.warn({ err: e, username }, 'presence update failed'))
    return cameOnline
  }

  private async unregister(username: string, count: number): Promise<boolean> {
    if (count === 0 && this.subscribed.delete(username))
      void this.sub.unsubscribe(this.userChannel(username)).catch(() => undefined)
    const [before, now, live] = await this.sync(username)
    return before === 1 && now === 0 && live === 0
  }

  /**
   * Writes the number of sockets the user has here *now*, not when the caller started: an
   * attach that waited on Redis must not overwrite the detach that came after it.
   */
  private sync(username: string): Promise<[number, number, number, number]> {
    return this.scripts.tincanSync(
      this.presenceKey(username),
      this.nodeUsersKey(this.nodeId),
      this.nodeId,
      this.leasePrefix,
      this.sockets.of(username)?.size ?? 0,
      username,
    )
  }

  /** Takes (or renews) the lease and lists this node among those to watch. */
  private async join(): Promise<void> {
    await this.sub.subscribe(this.nodeChannel(this.nodeId))
    await this.cmd
      .multi()
      .set(this.leaseKey(this.nodeId), String(Date.now()), 'PX', this.leaseMs)
      .sadd(this.nodesKey, this.nodeId)
      .exec()
  }

  private async beat(): Promise<void> {
    if (this.beating || this.closed) return
    this.beating = true
    try {
      const renewed = await this.cmd.set(
        this.leaseKey(this.nodeId),
        String(Date.now()),
        'PX',
        this.leaseMs,
        'XX',
      )
      if (renewed === null) await this.leaseLost()
      const others = (await this.cmd.smembers(this.nodesKey)).filter((id) => id !== this.nodeId)
      await this.checkNodes(others)
    } catch (e: unknown) {
      this.options.log?.warn({ err: e }, 'redis heartbeat failed')
    } finally {
      this.beating = false
    }
  }

  /**
   * Other nodes declared this one dead (it could not reach Redis for a while) and told its users'
   * friends they went offline. Start again under a new id, and send every client here to
   * reconnect, so that each comes back online through the normal path.
   */
  private async leaseLost(): Promise<void> {
    this.options.log?.warn({ node: this.nodeId }, 'lost the presence lease; clients will reconnect')
    const old = this.nodeId
    this.nodeIdValue = newNodeId()
    await this.sub.unsubscribe(this.nodeChannel(old))
    await this.join()
    for (const conn of [...this.sockets.all()]) {
      conn.send({ type: 'reconnect', retryAfterMs: Math.floor(Math.random() * 1000) })
      conn.close(1012, 'server restarting')
    }
  }

  /** Nodes whose lease is gone or whose process has no subscriber any more are dead: clean up after them. */
  private async checkNodes(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    const pipeline = this.cmd.pipeline()
    for (const id of ids) pipeline.exists(this.leaseKey(id)).pubsub('NUMSUB', this.nodeChannel(id))
    const replies = (await pipeline.exec()) ?? []
    const dead: string[] = []
    ids.forEach((id, i) => {
      const leased = replies[2 * i]?.[1] === 1
      const numsub = replies[2 * i + 1]?.[1] as [string, number] | undefined
      if (!leased || Number(numsub?.[1] ?? 0) === 0) dead.push(id)
    })
    for (const id of dead) {
      await this.cmd.del(this.leaseKey(id))
      void this.track(
        this.reap(id).catch((e: unknown) => this.options.log?.warn({ err: e, node: id }, 'cleanup failed')),
      )
    }
  }

  /** Removes a dead node's presence entries and announces who went offline because of it. One node does it. */
  private async reap(dead: string): Promise<void> {
    const mine = await this.cmd.set(`${this.p}reap:${dead}`, this.nodeId, 'PX', 60_000, 'NX')
    if (mine === null) return
    const users = await this.cmd.smembers(this.nodeUsersKey(dead))
    this.options.log?.info?.({ node: dead, users: users.length }, 'cleaning up after a node that died')
    for (const username of users) {
      const lost = await this.scripts.tincanReap(this.presenceKey(username), dead, this.leasePrefix)
      if (lost === 1) {
        await this.listeners
          ?.presenceLost(username)
          .catch((e: unknown) => this.options.log?.warn({ err: e, username }, 'presence update failed'))
      }
    }
    await this.cmd.multi().del(this.nodeUsersKey(dead)).srem(this.nodesKey, dead).exec()
  }

  // ---- messages from other nodes ----

  private onMessage(channel: string, message: string): void {
    const first = message.indexOf('\n')
    const second = message.indexOf('\n', first + 1)
    if (first < 0 || second < 0) return
    if (message.slice(0, first) === this.nodeId) return
    const kind = message.slice(first + 1, second) as Kind
    const rest = message.slice(second + 1)
    const userPrefix = `${this.p}u:`
    if (channel.startsWith(userPrefix)) {
      const username = channel.slice(userPrefix.length)
      if (kind === 'frame') this.sockets.sendText(username, rest)
      else if (kind === 'signal') {
        if (this.sockets.relayText(username, rest) === 'busy') this.markBusy(username)
      } else if (kind === 'close-user') {
        const [code, reason] = splitOnce(rest)
        this.sockets.closeUser(username, Number(code), reason)
      }
    } else if (channel === this.controlChannel) {
      if (kind === 'close-session') {
        const [code, afterCode] = splitOnce(rest)
        const [sessionId, reason] = splitOnce(afterCode)
        this.sockets.closeSession(sessionId, Number(code), reason)
      } else if (kind === 'relay') {
        const [a, b] = splitOnce(rest)
        this.listeners?.relayChanged(rest === '' ? undefined : [a, b])
      }
    }
  }

  // ---- names ----

  private message(kind: Kind, body: string): string {
    return `${this.nodeId}\n${kind}\n${body}`
  }

  private get leasePrefix(): string {
    return `${this.p}node:`
  }

  private leaseKey(id: string): string {
    return `${this.p}node:${id}`
  }

  private nodeChannel(id: string): string {
    return `${this.p}node:${id}`
  }

  private get nodesKey(): string {
    return `${this.p}nodes`
  }

  private nodeUsersKey(id: string): string {
    return `${this.p}node-users:${id}`
  }

  private busyPrefix(username: string): string {
    return `${this.p}busy:${username}:`
  }

  private busyKey(username: string): string {
    return `${this.busyPrefix(username)}${this.nodeId}`
  }

  private presenceKey(username: string): string {
    return `${this.p}presence:${username}`
  }

  private userChannel(username: string): string {
    return `${this.p}u:${username}`
  }

  private get controlChannel(): string {
    return `${this.p}all`
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work)
    const done = (): void => void this.inFlight.delete(work)
    work.then(done, done)
    return work
  }
}

function newNodeId(): string {
  return randomBytes(8).toString('hex')
}

function splitOnce(s: string): [string, string] {
  const i = s.indexOf('\n')
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)]
}
