import {
  closeCodes,
  decodeServerFrame,
  type ErrorCode,
  type ServerFrame,
  type SignalFrame,
} from '../../shared/index.ts'
import { Emitter } from './emitter.ts'

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'ended'

type FrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>

export interface SignalingEvents extends Record<string, unknown> {
  state: ConnectionState
  ready: FrameOf<'ready'>
  presence: FrameOf<'presence'>
  signal: FrameOf<'signal'>
  'friend-request': FrameOf<'friend-request'>
  'friend-request-closed': FrameOf<'friend-request-closed'>
  'friend-added': FrameOf<'friend-added'>
  'friend-removed': FrameOf<'friend-removed'>
  'key-changed': FrameOf<'key-changed'>
  'group-updated': FrameOf<'group-updated'>
  'group-removed': FrameOf<'group-removed'>
  /** The session was revoked, expired or the account deleted: log in again. */
  'session-ended': { code: number }
}

/** What a WebSocket needs to offer; the browser's and the `ws` package's both fit. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'error', listener: () => void): void
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void
  addEventListener(type: 'close', listener: (ev: { code: number }) => void): void
}

export interface SignalingDeps {
  /** ws:// or wss:// URL of /ws. */
  readonly url: string
  readonly token: () => string | undefined
  readonly createSocket: (url: string) => SocketLike
  readonly random?: () => number
  readonly baseDelayMs?: number
  readonly maxDelayMs?: number
  readonly heartbeatIntervalMs?: number
  /** Signals queued while offline are dropped after this long: stale offers only confuse peers. */
  readonly pendingSignalTtlMs?: number
  /** A signal answered `recipient-busy` is sent again after about this long (until it is stale). */
  readonly busyRetryMs?: number
}

export type SignalResult = { ok: true } | { ok: false; code: ErrorCode | 'timeout' | 'expired' }

interface Pending {
  readonly frame: SignalFrame
  readonly queuedAt: number
  readonly resolve: (r: SignalResult) => void
  sent: boolean
}

const openState = 1

/**
 * The client's one connection to the server. Authenticates in the first frame, reconnects
 * with exponential backoff and full jitter, and after a reconnect re-sends signals that were
 * not yet acknowledged. Frames from the server are validated before anyone sees them.
 */
export class SignalingConnection extends Emitter<SignalingEvents> {
  state: ConnectionState = 'offline'
  /** Usernames of contacts that were online at the last `ready`, kept current by presence frames. */
  readonly online = new Set<string>()
  private socket: SocketLike | undefined
  private attempt = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private busyRetry: ReturnType<typeof setTimeout> | undefined
  private awaitingPong = false
  /**
   * The server said `auth-timeout` before closing with 4401: it did not see the auth frame in
   * time (a server busy with a reconnect wave, a slow network). The token was never refused, so
   * this is not the end of the session: reconnect with back-off (issue 17).
   */
  private authTimedOut = false
  private stopped = true
  private nextRef = 1
  private readonly pending = new Map<string, Pending>()
  private readonly random: () => number
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private readonly heartbeatIntervalMs: number
  private readonly pendingSignalTtlMs: number
  private readonly busyRetryMs: number

  constructor(private readonly deps: SignalingDeps) {
    super()
    this.random = deps.random ?? Math.random
    this.baseDelayMs = deps.baseDelayMs ?? 500
    // At most 10 s between tries: after a node restarts, its clients are all back within ~10 s
    // (the wave bench: with 30 s, the last of 5,000 took 30 s). Full jitter spreads them over
    // that window, and a server that still has too many answers with a delay the client keeps.
    this.maxDelayMs = deps.maxDelayMs ?? 10_000
    this.heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 25_000
    this.pendingSignalTtlMs = deps.pendingSignalTtlMs ?? 30_000
    this.busyRetryMs = deps.busyRetryMs ?? 1_000
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.open()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.retryTimer)
    clearTimeout(this.busyRetry)
    this.busyRetry = undefined
    this.closeSocket()
    for (const p of this.pending.values()) p.resolve({ ok: false, code: 'expired' })
    this.pending.clear()
    this.setState('offline')
  }

  /** Relays a signed envelope to a friend. Resolves when the server accepted or refused it. */
  sendSignal(to: string, sid: string, envelope: string): Promise<SignalResult> {
    const ref = `s${this.nextRef++}`
    const frame: SignalFrame = { type: 'signal', to, sid, envelope, ref }
    return new Promise((resolve) => {
      const p: Pending = { frame, queuedAt: Date.now(), resolve, sent: false }
      this.pending.set(ref, p)
      this.flush()
    })
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return
    this.state = state
    this.emit('state', state)
  }

  private open(): void {
    const token = this.deps.token()
    if (token === undefined) {
      this.setState('ended')
      this.emit('session-ended', { code: closeCodes.unauthorized })
      return
    }
    this.setState('connecting')
    this.authTimedOut = false
    const socket = this.deps.createSocket(this.deps.url)
    this.socket = socket
    // Handlers check that the socket is still the current one: a replaced socket is ignored.
    socket.addEventListener('open', () => {
      if (this.socket === socket) socket.send(JSON.stringify({ type: 'auth', token, ref: 'auth' }))
    })
    socket.addEventListener('message', (ev) => {
      if (this.socket === socket) this.onMessage(ev.data)
    })
    socket.addEventListener('error', () => undefined)
    socket.addEventListener('close', (ev) => {
      if (this.socket === socket) this.onClose(ev.code)
    })
  }

  private closeSocket(): void {
    clearInterval(this.heartbeat)
    const s = this.socket
    this.socket = undefined
    if (s !== undefined) {
      try {
        s.close(closeCodes.normal, 'bye')
      } catch {
        // already closed
      }
    }
  }

  private onClose(code: number): void {
    this.closeSocket()
    for (const p of this.pending.values()) p.sent = false
    const refused = code === closeCodes.unauthorized && !this.authTimedOut
    if (refused || code === closeCodes.sessionEnded) {
      this.stopped = true
      this.setState('ended')
      this.emit('session-ended', { code })
      return
    }
    this.setState('offline')
    this.online.clear()
    if (!this.stopped) this.scheduleReconnect()
  }

  private scheduleReconnect(minDelayMs = 0): void {
    clearTimeout(this.retryTimer)
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** this.attempt)
    this.attempt++
    // Full jitter: clients that lost the same node do not all return at the same moment.
    const delay = Math.max(minDelayMs, Math.floor(this.random() * ceiling))
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open()
    }, delay)
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') return
    let raw: unknown
    try {
      raw = JSON.parse(data)
    } catch {
      return
    }
    const decoded = decodeServerFrame(raw)
    if (!decoded.ok) return
    this.handle(decoded.value)
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ready':
        this.attempt = 0
        this.online.clear()
        for (const u of frame.online) this.online.add(u)
        this.startHeartbeat()
        this.setState('online')
        this.emit('ready', frame)
        this.flush()
        return
      case 'pong':
        this.awaitingPong = false
        return
      case 'sent':
      case 'error': {
        if (frame.type === 'error' && frame.code === 'auth-timeout') this.authTimedOut = true
        const p = frame.ref === undefined ? undefined : this.pending.get(frame.ref)
        if (p !== undefined && frame.type === 'error' && frame.code === 'recipient-busy') {
          // The peer is connected but its socket is backed up: not a failure, just not now.
          // The signal stays pending and goes again shortly, until it is too old to matter.
          p.sent = false
          this.retryBusyLater()
          return
        }
        if (p !== undefined && frame.ref !== undefined) {
          this.pending.delete(frame.ref)
          p.resolve(frame.type === 'sent' ? { ok: true } : { ok: false, code: frame.code })
        }
        return
      }
      case 'reconnect':
        // The node is draining: go elsewhere after the delay it suggests.
        this.closeSocket()
        for (const p of this.pending.values()) p.sent = false
        this.setState('offline')
        this.attempt = 0
        this.scheduleReconnect(frame.retryAfterMs)
        return
      case 'presence':
        if (frame.online) this.online.add(frame.username)
        else this.online.delete(frame.username)
        this.emit('presence', frame)
        return
      case 'signal':
        this.emit('signal', frame)
        return
      case 'friend-request':
        this.emit('friend-request', frame)
        return
      case 'friend-request-closed':
        this.emit('friend-request-closed', frame)
        return
      case 'friend-added':
        if (frame.online) this.online.add(frame.friend.username)
        this.emit('friend-added', frame)
        return
      case 'friend-removed':
        this.online.delete(frame.username)
        this.emit('friend-removed', frame)
        return
      case 'key-changed':
        this.emit('key-changed', frame)
        return
      case 'group-updated':
        this.emit('group-updated', frame)
        return
      case 'group-removed':
        this.emit('group-removed', frame)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  private startHeartbeat(): void {
    clearInterval(this.heartbeat)
    this.awaitingPong = false
    this.heartbeat = setInterval(() => {
      const s = this.socket
      if (s === undefined) return
      if (this.awaitingPong) {
        // No pong for a whole interval: the connection is dead even if TCP has not noticed.
        this.onClose(closeCodes.goingAway)
        return
      }
      this.awaitingPong = true
      s.send(JSON.stringify({ type: 'ping' }))
    }, this.heartbeatIntervalMs)
  }

  private retryBusyLater(): void {
    if (this.busyRetry !== undefined) return
    // Jittered, so that senders refused at the same moment do not all come back together.
    const delay = Math.floor(this.busyRetryMs * (1 + this.random()))
    this.busyRetry = setTimeout(() => {
      this.busyRetry = undefined
      this.flush()
    }, delay)
  }

  private flush(): void {
    const s = this.socket
    const now = Date.now()
    for (const [ref, p] of this.pending) {
      if (now - p.queuedAt > this.pendingSignalTtlMs) {
        this.pending.delete(ref)
        p.resolve({ ok: false, code: 'expired' })
        continue
      }
      if (p.sent || s === undefined || s.readyState !== openState || this.state !== 'online') continue
      s.send(JSON.stringify(p.frame))
      p.sent = true
    }
  }
}
