import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import {
  clientFrameDecoder,
  clipErrorMessage,
  closeCodes,
  limits,
  parseJson,
  type ClientFrame,
  type ErrorCode,
  type RelayedSignalFrame,
  type ServerFrame,
} from '../../shared/index.ts'
import type { AddressCounter } from '../connection-guards.ts'
import type { Context } from '../context.ts'
import { StorageError } from '../storage/storage.ts'
import type { Connection, Relayed } from './hub.ts'
import { Outbox, type Offer, type OutboxOwner } from './outbox.ts'
import { announcePresence } from './presence.ts'

const parseFailures = {
  'bad-json': 'the frame is not valid JSON',
  'too-deep': `objects and arrays nest at most ${limits.maxJsonDepth} deep`,
  'frame-too-large': `frames are at most ${limits.maxFrameBytes} bytes`,
} as const

/** Compiled validators: several times faster than TypeBox's interpreter on the relay's hot path. */
const decodeClientFrame = clientFrameDecoder((schema) => {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => compiled.Check(value)
})

/** Over-rate frames tolerated (each answered `rate-limited`) before the socket is closed with 1008. */
const maxRateStrikes = 50

/**
 * Frames of one socket parsed and waiting for their turn. Past it the server stops reading that
 * socket until half are done, so a client sending faster than its frames can be relayed (a
 * slow Redis, a flood) waits in its own buffers, not in the server's memory (issue 15, D1).
 */
const maxFramesInFlight = 16

/** What the server around a socket hands it. */
export interface SocketHooks {
  /** Work that must finish before the hub and storage close (presence updates on close). */
  readonly track?: (work: Promise<void>) => void
  /** The counter this socket holds a place in until it authenticates or closes. */
  readonly unauthenticated?: { readonly counter: AddressCounter; readonly key: string }
}

/** One client's WebSocket. See ClientSocket. */
export function handleSocket(
  socket: WebSocket,
  ctx: Context,
  log: FastifyBaseLogger,
  hooks: SocketHooks = {},
): void {
  new ClientSocket(socket, ctx, log, hooks).listen()
}

/**
 * One client's WebSocket, from the unauthenticated first frame to close. Every frame is
 * answered: with its result, or with a typed error naming what was wrong.
 *
 * State and behaviour live in one object with methods, not in closures: the server holds tens of
 * thousands of these, and under tsx every named closure made per socket costs a few hundred bytes.
 */
class ClientSocket implements OutboxOwner {
  // Token bucket inline (two numbers, not an object per socket): 10,000 sockets add up.
  private tokens: number
  private refilledAt = Date.now()
  private conn: SocketConnection | undefined
  private authenticating = false
  private strikes = 0
  private closed = false
  private settled = false
  private queue: Promise<void> = Promise.resolve()
  /** Frames parsed and waiting for their turn (see maxFramesInFlight). */
  private inFlight = 0
  private readonly outbox: Outbox
  /** Dropped once authenticated: a cleared timer is still an object, and there are 10,000 sockets. */
  private authTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly socket: WebSocket,
    private readonly ctx: Context,
    private readonly log: FastifyBaseLogger,
    private readonly hooks: SocketHooks,
  ) {
    this.tokens = ctx.config.wsFramesPerS * 2
    this.outbox = new Outbox(socket, ctx.backlog, this)
    this.authTimer = setTimeout(() => this.authTimedOut(), limits.authTimeoutMs)
  }

  listen(): void {
    this.socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
      this.onMessage(data, isBinary),
    )
    this.socket.on('close', () => this.onClose())
    // Errors on the socket (a client's invalid frames, resets) are logged where the server
    // installs its WebSocket error handler (app.ts).
  }

  // ---- what the hub and the outbox call ----

  send(frame: ServerFrame): void {
    this.outbox.push(JSON.stringify(frame))
  }

  sendText(json: string): void {
    this.outbox.push(json)
  }

  offer(json: string): Offer {
    return this.outbox.offer(json)
  }

  get busy(): boolean {
    return this.outbox.busy
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    const wasBusy = this.outbox.busy
    this.socket.close(code, reason)
    this.closed = true
    // No longer busy but closing: other nodes stop answering `recipient-busy` for it.
    if (wasBusy) this.busyChanged()
  }

  busyChanged(): void {
    if (this.conn !== undefined) this.ctx.hub.busyChanged(this.conn)
  }

  tooSlow(): void {
    if (this.closed) return
    this.log.warn({ username: this.conn?.username }, 'closing a socket that does not read what it is sent')
    this.close(closeCodes.tooSlow, 'too slow: not reading')
  }

  // ---- answers ----

  private fail(code: ErrorCode, message: string, ref?: string): void {
    this.ctx.metrics.error(code, 'ws')
    const clipped = clipErrorMessage(message)
    this.send(
      ref === undefined
        ? { type: 'error', code, message: clipped }
        : { type: 'error', code, message: clipped, ref },
    )
  }

  /** Anything but a good `auth` as the first frame ends the socket at once (issue 15, D12). */
  private refuse(code: ErrorCode, message: string, ref?: string): void {
    this.fail(code, message, ref)
    this.close(closeCodes.unauthorized, 'not authenticated')
  }

  /** Before authentication a bad frame ends the socket; after it, it is only answered. */
  private bad(code: ErrorCode, message: string, ref?: string): void {
    if (this.conn === undefined) this.refuse(code, message, ref)
    else this.fail(code, message, ref)
  }

  /** The socket authenticated or closed: it no longer counts against its address's cap. */
  private settle(): void {
    if (this.settled) return
    this.settled = true
    const place = this.hooks.unauthenticated
    place?.counter.remove(place.key)
  }

  // ---- authentication ----

  private authTimedOut(): void {
    if (this.conn !== undefined) return
    if (this.authenticating) {
      // The token arrived but storage is slow to check it: not the client's fault, and 4401
      // would end its session.
      this.close(closeCodes.tryAgainLater, 'storage is slow; try again')
      return
    }
    this.fail('auth-timeout', `authenticate within ${limits.authTimeoutMs} ms`)
    this.close(closeCodes.unauthorized, 'auth timeout')
  }

  private async authenticate(frame: Extract<ClientFrame, { type: 'auth' }>): Promise<void> {
    this.authenticating = true
    try {
      await this.admit(frame)
    } catch (e: unknown) {
      if (!(e instanceof StorageError && e.code === 'unavailable')) throw e
      // The session may well be valid: the client keeps it and reconnects later. Without a
      // close it would wait for a `ready` that never comes.
      this.fail('storage-unavailable', 'storage is unavailable; try again', frame.ref)
      this.close(closeCodes.tryAgainLater, 'storage unavailable')
    }
  }

  private async admit(frame: Extract<ClientFrame, { type: 'auth' }>): Promise<void> {
    const { ctx } = this
    const { hub } = ctx
    const session = await ctx.sessionForToken(frame.token)
    if (session === undefined) {
      this.refuse('unauthorized', 'the session has expired or was revoked', frame.ref)
      return
    }
    if (this.closed) return
    clearTimeout(this.authTimer)
    this.authTimer = undefined
    this.settle()
    const me = new SocketConnection(session.username, session.id, session.expiresAt, this)
    this.conn = me
    const cameOnline = await hub.attach(me)
    // Logout, a password change or a revocation may have deleted the session after the read
    // above and closed its sockets before this one was attached: read again now that it is.
    // Whatever ends a session deletes it first and closes its sockets second, so one of the
    // two always sees this socket (issue 15, D2).
    const still = await ctx.sessionForToken(frame.token)
    if (still?.id !== session.id) {
      this.refuse('unauthorized', 'the session has expired or was revoked', frame.ref)
      await this.leave(me)
      return
    }
    const sockets = await hub.userSockets(me.username)
    if (sockets > ctx.config.wsMaxPerUser) {
      this.fail('too-many-sockets', `an account holds at most ${ctx.config.wsMaxPerUser} sockets`, frame.ref)
      this.close(closeCodes.tooManySockets, 'too many sockets for this account')
      await this.leave(me)
      return
    }
    const contacts = await ctx.contactsOf(me.username)
    const online = await hub.onlineAmong(contacts)
    this.send({ type: 'ready', username: me.username, sessionId: me.sessionId, online, ...refOf(frame) })
    if (cameOnline) await announcePresence(ctx, me.username, true, contacts)
    if (this.closed) await this.leave(me)
  }

  private async leave(me: Connection): Promise<void> {
    if (await this.ctx.hub.detach(me)) await announcePresence(this.ctx, me.username, false)
  }

  // ---- frames ----

  private async relay(me: Connection, frame: SignalFrame): Promise<void> {
    const { ctx } = this
    const to = frame.to.toLowerCase()
    if (to === me.username || !(await ctx.relayPolicy.allowed(me.username, to))) {
      this.fail('not-friends', 'signals go only to friends and members of a shared group', frame.ref)
      return
    }
    // One step, so a peer who just left is reported offline rather than sent into the void.
    this.relayed(to, frame, await ctx.hub.relay(to, relayedFrame(me, frame)))
  }

  /**
   * The relay without a promise, when nothing needs waiting for: the socket has no frame before
   * this one in flight (order holds), the pair's answer is cached, and the hub delivers on this
   * node. False when the frame must take the queue. Issue 17: at tens of thousands of frames a
   * second the promises per frame were a tenth of the relay's time.
   */
  private relayNow(me: Connection, frame: SignalFrame): boolean {
    const { ctx } = this
    const relayHere = ctx.hub.relayHere
    if (this.inFlight > 0 || relayHere === undefined) return false
    const to = frame.to.toLowerCase()
    const allowed = to === me.username ? false : ctx.relayPolicy.cached(me.username, to)
    if (allowed === undefined) return false
    if (!allowed)
      this.fail('not-friends', 'signals go only to friends and members of a shared group', frame.ref)
    else this.relayed(to, frame, relayHere.call(ctx.hub, to, relayedFrame(me, frame)))
    return true
  }

  private relayed(to: string, frame: SignalFrame, relayed: Relayed): void {
    const { ctx } = this
    switch (relayed) {
      case 'sent':
        ctx.metrics.framesRelayed++
        this.send({ type: 'sent', ...refOf(frame) })
        return
      case 'busy':
        this.fail('recipient-busy', `${to} is not reading what is sent; try again later`, frame.ref)
        return
      case 'offline':
        this.fail('peer-offline', `${to} is not connected`, frame.ref)
        return
      default: {
        const unreachable: never = relayed
        return unreachable
      }
    }
  }

  private async onFrame(frame: ClientFrame): Promise<void> {
    const { conn } = this
    if (conn === undefined) {
      if (frame.type !== 'auth') {
        this.refuse('not-authenticated', 'the first frame must be auth', frame.ref)
        return
      }
      if (this.authenticating) {
        this.fail('already-authenticated', 'authentication is in progress', frame.ref)
        return
      }
      await this.authenticate(frame)
      return
    }
    switch (frame.type) {
      case 'auth':
        this.fail('already-authenticated', 'this socket is already authenticated', frame.ref)
        return
      case 'ping':
        this.send({ type: 'pong', ...refOf(frame) })
        return
      case 'signal':
        await this.relay(conn, frame)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    this.ctx.metrics.framesReceived++
    if (this.closed) return
    const rate = this.ctx.config.wsFramesPerS
    const now = Date.now()
    this.tokens = Math.min(rate * 2, this.tokens + ((now - this.refilledAt) / 1000) * rate)
    this.refilledAt = now
    if (this.tokens < 1) {
      this.strikes++
      if (this.strikes > maxRateStrikes) {
        this.fail('rate-limited', 'too many frames; closing')
        this.close(closeCodes.policyViolation, 'rate limit')
      } else this.fail('rate-limited', 'too many frames; slow down')
      return
    }
    this.tokens -= 1
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
    if (isBinary) {
      this.bad('bad-frame', 'frames are JSON text')
      return
    }
    if (bytes.length > limits.maxFrameBytes) {
      this.bad('frame-too-large', `frames are at most ${limits.maxFrameBytes} bytes`)
      return
    }
    // Its UTF-8 size was checked just above, exactly: parseJson need not estimate it again.
    const parsed = parseJson(bytes.toString('utf8'), Number.POSITIVE_INFINITY)
    if (!parsed.ok) {
      this.bad(parsed.reason, parseFailures[parsed.reason])
      return
    }
    const decoded = decodeClientFrame(parsed.value)
    if (!decoded.ok) {
      const ref = 'ref' in decoded ? decoded.ref : undefined
      if (decoded.reason === 'bad-frame') this.bad('bad-frame', decoded.path, ref)
      else
        this.bad(decoded.reason === 'unknown-type' ? 'unknown-type' : 'bad-frame', 'unknown frame type', ref)
      return
    }
    // One frame at a time per socket: an offer must reach the peer before its candidates.
    const frame = decoded.value
    if (frame.type === 'signal' && this.conn !== undefined && this.relayNow(this.conn, frame)) return
    if (++this.inFlight === maxFramesInFlight) this.socket.pause()
    this.queue = this.queue
      .then(() => this.onFrame(frame))
      .catch((e: unknown) => {
        if (e instanceof StorageError && e.code === 'unavailable')
          this.fail('storage-unavailable', 'storage is unavailable; try again', frame.ref)
        else {
          this.log.error({ err: e }, 'frame handler failed')
          this.fail('internal', 'internal error', frame.ref)
        }
      })
      .then(() => {
        if (--this.inFlight === maxFramesInFlight / 2) this.socket.resume()
      })
  }

  private onClose(): void {
    this.closed = true
    clearTimeout(this.authTimer)
    this.outbox.release()
    this.settle()
    const me = this.conn
    if (me !== undefined)
      (this.hooks.track ?? ignore)(
        this.leave(me).catch((e: unknown) => this.log.warn({ err: e }, 'presence update on close failed')),
      )
  }
}

/** The hub's view of an authenticated socket. */
class SocketConnection implements Connection {
  constructor(
    readonly username: string,
    readonly sessionId: string,
    readonly expiresAt: number,
    private readonly client: ClientSocket,
  ) {}

  send(frame: ServerFrame): void {
    this.client.send(frame)
  }

  sendText(json: string): void {
    this.client.sendText(json)
  }

  offerSignal(json: string): Offer {
    return this.client.offer(json)
  }

  get busy(): boolean {
    return this.client.busy
  }

  close(code: number, reason: string): void {
    this.client.close(code, reason)
  }
}

type SignalFrame = Extract<ClientFrame, { type: 'signal' }>

function relayedFrame(me: Connection, frame: SignalFrame): RelayedSignalFrame {
  return { type: 'signal', from: me.username, sid: frame.sid, envelope: frame.envelope }
}

function ignore(): void {
  // Nothing waits for this socket's presence update.
}

function refOf(frame: { ref?: string | undefined }): { ref?: string } {
  return frame.ref === undefined ? {} : { ref: frame.ref }
}
