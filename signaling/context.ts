import type { FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { Config } from './config.ts'
import { HttpError } from './http-error.ts'
import type { Metrics } from './metrics.ts'
import { perHour, perMinute, type RateLimiter } from './rate-limiter.ts'
import type { Hub } from './realtime/hub.ts'
import { NodeBacklog } from './realtime/outbox.ts'
import { hashToken } from './secrets.ts'
import type { SessionRecord, Storage } from './storage/storage.ts'
import type { ServerFrame } from '../shared/index.ts'

/** Who made an authenticated request. */
export interface Caller {
  readonly username: string
  readonly sessionId: string
}

/** Everything route handlers and the socket handler need, passed in explicitly. */
export interface Context {
  readonly config: Config
  readonly storage: Storage
  readonly hub: Hub
  readonly metrics: Metrics
  readonly serverSecret: string
  readonly limiters: {
    readonly authIp: RateLimiter
    readonly authUser: RateLimiter
    /** User searches and name lookups, per account. */
    readonly search: RateLimiter
    /** Friend requests, per (sender, recipient) pair. */
    readonly friendRequest: RateLimiter
  }
  readonly relayPolicy: RelayPolicy
  /** What waits unsent in this node's sockets, against the caps of issue 15 (D1). */
  readonly backlog: NodeBacklog
  /** Resolves a bearer token to its live session, or undefined. */
  sessionForToken(token: string): Promise<SessionRecord | undefined>
  /** The caller of a request with `Authorization: Bearer …`; throws HttpError('unauthorized'). */
  caller(request: FastifyRequest): Promise<Caller>
  /**
   * Friends and group co-members: everyone who sees the user's presence. Neither side of a
   * block is a contact of the other, even in a shared group.
   */
  contactsOf(username: string): Promise<string[]>
  /** Sends a frame to each user's sockets. */
  push(usernames: Iterable<string>, frame: ServerFrame): Promise<void>
}

const touchEveryMs = 60_000
const touchBatchMs = 1_000

/**
 * Decides whether `from` may send signals to `to`: mutual friends or members of a shared group,
 * and neither blocks the other. Answers are cached briefly because relaying is the hot path;
 * every change of friendship, block or membership forgets the affected entries, here and (through
 * `announce`, the hub's pub/sub) on every other node. The short TTL is the backstop for an
 * announcement lost while a node was reconnecting to Redis.
 */
export class RelayPolicy {
  /** Past the bound the least recently used pairs go: the busy ones stay cached. */
  private readonly cache: LRUCache<string, boolean>
  /**
   * Lookups on their way, by pair: frames that miss the cache together (a pair's first signals,
   * both directions, or every pair when their entries expire) wait for one lookup instead of
   * each asking the database four questions (issue 17: on PostgreSQL that emptied the pool).
   */
  private readonly pending = new Map<string, Promise<boolean>>()
  /**
   * Counts forgets. A lookup that started before a change of friendship, block or membership
   * read the old state: its answer serves the frames that were waiting for it, and is not cached.
   */
  private epoch = 0

  constructor(
    private readonly storage: Pick<Storage, 'areFriends' | 'isBlocked' | 'shareGroup'>,
    ttlMs = 10_000,
    private readonly announce: (pair: readonly [string, string] | undefined) => Promise<void> = () =>
      Promise.resolve(),
    maxPairs = 100_000,
  ) {
    this.cache = new LRUCache({ max: maxPairs, ttl: ttlMs })
  }

  allowed(from: string, to: string): Promise<boolean> {
    const key = pairKey(from, to)
    const hit = this.cache.get(key)
    if (hit !== undefined) return Promise.resolve(hit)
    const waiting = this.pending.get(key)
    if (waiting !== undefined) return waiting
    const lookup: Promise<boolean> = this.lookUp(key, from, to).finally(() => {
      if (this.pending.get(key) === lookup) this.pending.delete(key)
    })
    this.pending.set(key, lookup)
    return lookup
  }

  /** The cached answer, if there is one: the relay's fast path needs no promise. */
  cached(from: string, to: string): boolean | undefined {
    return this.cache.get(pairKey(from, to))
  }

  private async lookUp(key: string, from: string, to: string): Promise<boolean> {
    const epoch = this.epoch
    const [friends, blockedA, blockedB] = await Promise.all([
      this.storage.areFriends(from, to),
      this.storage.isBlocked(from, to),
      this.storage.isBlocked(to, from),
    ])
    const allowed = !blockedA && !blockedB && (friends || (await this.storage.shareGroup(from, to)))
    if (this.epoch === epoch) this.cache.set(key, allowed)
    return allowed
  }

  forget(a: string, b: string): void {
    this.forgetHere([a, b])
    this.announce([a, b]).catch(() => undefined)
  }

  forgetAll(): void {
    this.forgetHere(undefined)
    this.announce(undefined).catch(() => undefined)
  }

  /** Forgets on this node only: what another node announced. */
  forgetHere(pair: readonly [string, string] | undefined): void {
    this.epoch++
    if (pair === undefined) {
      this.cache.clear()
      this.pending.clear()
    } else {
      const key = pairKey(pair[0], pair[1])
      this.cache.delete(key)
      // Frames from now on wait for a lookup that starts after the change.
      this.pending.delete(key)
    }
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`
}

export function createContext(deps: {
  config: Config
  storage: Storage
  hub: Hub
  metrics: Metrics
  serverSecret: string
}): Context {
  const { config, storage, hub } = deps
  // An entry older than `touchEveryMs` would be touched anyway, so that is its time to live.
  // Sessions touched lately, in two generations that turn over every `touchEveryMs`: a session
  // in either was touched less than twice that ago. Sets hold only the sessions there are; an
  // LRU bounded at 100,000 kept arrays for all of them from the start (some 4 MiB; issue 17).
  let touchedNow = new Set<string>()
  let touchedBefore = new Set<string>()
  const turnOver = setInterval(() => {
    touchedBefore = touchedNow
    touchedNow = new Set()
  }, touchEveryMs)
  turnOver.unref()

  /**
   * Last-seen writes wait here up to `touchBatchMs` and go in one statement: after a restart
   * every reconnecting socket needs one, and on SQLite each write of its own is a sync to disk
   * on the event loop (issue 17, the reconnect wave).
   */
  const touches = new Set<string>()
  let touchTimer: ReturnType<typeof setTimeout> | undefined
  const flushTouches = (): void => {
    touchTimer = undefined
    const ids = [...touches]
    touches.clear()
    // Last-seen is bookkeeping: a database that cannot take writes (disk full, read-only)
    // must not lock out every device that reconnects.
    storage.touchSessions(ids, Date.now()).catch(() => undefined)
  }

  async function sessionForToken(token: string): Promise<SessionRecord | undefined> {
    const session = await storage.getSessionByTokenHash(hashToken(token))
    const now = Date.now()
    if (session === undefined || session.expiresAt <= now) return undefined
    const touchedLately = touchedNow.has(session.id) || touchedBefore.has(session.id)
    if (!touchedLately && now - session.lastSeenAt > touchEveryMs) {
      touchedNow.add(session.id)
      touches.add(session.id)
      if (touchTimer === undefined) {
        touchTimer = setTimeout(flushTouches, touchBatchMs)
        touchTimer.unref()
      }
    }
    return session
  }

  return {
    ...deps,
    limiters: {
      authIp: perMinute(config.authPerIpPerMin),
      authUser: perMinute(config.authPerUserPerMin),
      search: perMinute(config.searchPerMin),
      friendRequest: perHour(config.friendRequestsPerUserPerHour),
    },
    relayPolicy: new RelayPolicy(storage, 10_000, (pair) => hub.publishRelayChange(pair)),
    backlog: new NodeBacklog({
      maxBytes: config.wsMaxQueuedBytes,
      maxFrames: config.wsMaxQueuedFrames,
      nodeMaxBytes: config.wsNodeMaxQueuedBytes,
      slowReaderMs: config.wsSlowReaderMs,
    }),
    sessionForToken,
    async caller(request) {
      const header = request.headers.authorization
      const token = header?.startsWith('Bearer ') === true ? header.slice(7) : undefined
      if (token === undefined || token.length !== 43)
        throw new HttpError('unauthorized', 'missing or malformed token')
      const session = await sessionForToken(token)
      if (session === undefined) throw new HttpError('unauthorized', 'the session has expired or was revoked')
      return { username: session.username, sessionId: session.id }
    },
    async contactsOf(username) {
      const [friends, peers, blocks] = await Promise.all([
        storage.friendNames(username),
        storage.groupPeers(username),
        storage.blockPartners(username),
      ])
      const hidden = new Set(blocks)
      return [...new Set([...friends, ...peers])].filter((u) => !hidden.has(u))
    },
    async push(usernames, frame) {
      await Promise.all([...new Set(usernames)].map((u) => hub.deliver(u, frame)))
    },
  }
}
