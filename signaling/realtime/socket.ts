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
  type ServerFrame,
} from '../../shared/index.ts'
import type { Context } from '../context.ts'
import { StorageError } from '../storage/storage.ts'
import type { Connection } from './hub.ts'
import { Outbox } from './outbox.ts'
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
  /** The socket authenticated or closed: it no longer counts against its address's cap. */
  readonly settled?: () => void
}

/**
 * One client's WebSocket, from the unauthenticated first frame to close. Every frame is
 * answered: with its result, or with a typed error naming what was wrong.
 */
export function handleSocket(
  socket: WebSocket,
  ctx: Context,
  log: FastifyBaseLogger,
  hooks: SocketHooks = {},
): void {
  const { hub, metrics } = ctx
  const track = hooks.track ?? (() => undefined)
  // Token bucket inline (two numbers, not an object per socket): 10,000 sockets add up.
  const rate = ctx.config.wsFramesPerS
  let tokens = rate * 2
  let refilledAt = Date.now()
  let conn: Connection | undefined
  let authenticating = false
  let strikes = 0
  let closed = false
  let settled = false
  let queue: Promise<void> = Promise.resolve()
  let inFlight = 0
  const frameDone = (): void => {
    inFlight--
    if (inFlight === maxFramesInFlight / 2) socket.resume()
  }

  const settle = (): void => {
    if (settled) return
    settled = true
    hooks.settled?.()
  }
  const outbox = new Outbox(socket, ctx.backlog, {
    busyChanged: () => {
      if (conn !== undefined) hub.busyChanged(conn)
    },
    tooSlow: () => {
      if (closed) return
      log.warn({ username: conn?.username }, 'closing a socket that does not read what it is sent')
      close(closeCodes.tooSlow, 'too slow: not reading')
    },
  })
  const sendText = (json: string): void => void outbox.push(json)
  const send = (frame: ServerFrame): void => sendText(JSON.stringify(frame))
  const fail = (code: ErrorCode, message: string, ref?: string): void => {
    metrics.error(code, 'ws')
    const clipped = clipErrorMessage(message)
    send(
      ref === undefined
        ? { type: 'error', code, message: clipped }
        : { type: 'error', code, message: clipped, ref },
    )
  }
  const close = (code: number, reason: string): void => {
    if (!closed) socket.close(code, reason)
    closed = true
  }
  /** Anything but a good `auth` as the first frame ends the socket at once (issue 15, D12). */
  const refuse = (code: ErrorCode, message: string, ref?: string): void => {
    fail(code, message, ref)
    close(closeCodes.unauthorized, 'not authenticated')
  }

  const authTimer = setTimeout(() => {
    if (conn !== undefined) return
    if (authenticating) {
      // The token arrived but storage is slow to check it: not the client's fault, and 4401
      // would end its session.
      close(closeCodes.tryAgainLater, 'storage is slow; try again')
      return
    }
    fail('auth-timeout', `authenticate within ${limits.authTimeoutMs} ms`)
    close(closeCodes.unauthorized, 'auth timeout')
  }, limits.authTimeoutMs)

  async function authenticate(frame: Extract<ClientFrame, { type: 'auth' }>): Promise<void> {
    authenticating = true
    try {
      await admit(frame)
    } catch (e: unknown) {
      if (!(e instanceof StorageError && e.code === 'unavailable')) throw e
      // The session may well be valid: the client keeps it and reconnects later. Without a
      // close it would wait for a `ready` that never comes.
      fail('storage-unavailable', 'storage is unavailable; try again', frame.ref)
      close(closeCodes.tryAgainLater, 'storage unavailable')
    }
  }

  async function admit(frame: Extract<ClientFrame, { type: 'auth' }>): Promise<void> {
    const session = await ctx.sessionForToken(frame.token)
    if (session === undefined) {
      refuse('unauthorized', 'the session has expired or was revoked', frame.ref)
      return
    }
    if (closed) return
    clearTimeout(authTimer)
    settle()
    const me: Connection = {
      username: session.username,
      sessionId: session.id,
      expiresAt: session.expiresAt,
      send,
      sendText,
      offerSignal: (json) => outbox.offer(json),
      get busy() {
        return outbox.busy
      },
      close,
    }
    conn = me
    const cameOnline = await hub.attach(me)
    // Logout, a password change or a revocation may have deleted the session after the read
    // above and closed its sockets before this one was attached: read again now that it is.
    // Whatever ends a session deletes it first and closes its sockets second, so one of the
    // two always sees this socket (issue 15, D2).
    const still = await ctx.sessionForToken(frame.token)
    if (still?.id !== session.id) {
      refuse('unauthorized', 'the session has expired or was revoked', frame.ref)
      await leave(me)
      return
    }
    const sockets = await hub.userSockets(me.username)
    if (sockets > ctx.config.wsMaxPerUser) {
      fail('too-many-sockets', `an account holds at most ${ctx.config.wsMaxPerUser} sockets`, frame.ref)
      close(closeCodes.tooManySockets, 'too many sockets for this account')
      await leave(me)
      return
    }
    const contacts = await ctx.contactsOf(me.username)
    const online = await hub.onlineAmong(contacts)
    send({ type: 'ready', username: me.username, sessionId: me.sessionId, online, ...refOf(frame) })
    if (cameOnline) await announcePresence(ctx, me.username, true, contacts)
    if (closed) await leave(me)
  }

  async function leave(me: Connection): Promise<void> {
    if (await hub.detach(me)) await announcePresence(ctx, me.username, false)
  }

  async function relay(me: Connection, frame: Extract<ClientFrame, { type: 'signal' }>): Promise<void> {
    const to = frame.to.toLowerCase()
    if (to === me.username || !(await ctx.relayPolicy.allowed(me.username, to))) {
      fail('not-friends', 'signals go only to friends and members of a shared group', frame.ref)
      return
    }
    // One step, so a peer who just left is reported offline rather than sent into the void.
    const relayed = await hub.relay(to, {
      type: 'signal',
      from: me.username,
      sid: frame.sid,
      envelope: frame.envelope,
    })
    switch (relayed) {
      case 'sent':
        metrics.framesRelayed++
        send({ type: 'sent', ...refOf(frame) })
        return
      case 'busy':
        fail('recipient-busy', `${to} is not reading what is sent; try again later`, frame.ref)
        return
      case 'offline':
        fail('peer-offline', `${to} is not connected`, frame.ref)
        return
      default: {
        const unreachable: never = relayed
        return unreachable
      }
    }
  }

  async function onFrame(frame: ClientFrame): Promise<void> {
    if (conn === undefined) {
      if (frame.type !== 'auth') {
        refuse('not-authenticated', 'the first frame must be auth', frame.ref)
        return
      }
      if (authenticating) {
        fail('already-authenticated', 'authentication is in progress', frame.ref)
        return
      }
      await authenticate(frame)
      return
    }
    switch (frame.type) {
      case 'auth':
        fail('already-authenticated', 'this socket is already authenticated', frame.ref)
        return
      case 'ping':
        send({ type: 'pong', ...refOf(frame) })
        return
      case 'signal':
        await relay(conn, frame)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    metrics.framesReceived++
    if (closed) return
    const now = Date.now()
    tokens = Math.min(rate * 2, tokens + ((now - refilledAt) / 1000) * rate)
    refilledAt = now
    if (tokens < 1) {
      strikes++
      if (strikes > maxRateStrikes) {
        fail('rate-limited', 'too many frames; closing')
        close(closeCodes.policyViolation, 'rate limit')
      } else fail('rate-limited', 'too many frames; slow down')
      return
    }
    tokens -= 1
    // Before authentication a bad frame ends the socket; after it, it is only answered.
    const bad = conn === undefined ? refuse : fail
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
    if (isBinary) {
      bad('bad-frame', 'frames are JSON text')
      return
    }
    if (bytes.length > limits.maxFrameBytes) {
      bad('frame-too-large', `frames are at most ${limits.maxFrameBytes} bytes`)
      return
    }
    // Its UTF-8 size was checked just above, exactly: parseJson need not estimate it again.
    const parsed = parseJson(bytes.toString('utf8'), Number.POSITIVE_INFINITY)
    if (!parsed.ok) {
      bad(parsed.reason, parseFailures[parsed.reason])
      return
    }
    const decoded = decodeClientFrame(parsed.value)
    if (!decoded.ok) {
      const ref = 'ref' in decoded ? decoded.ref : undefined
      if (decoded.reason === 'bad-frame') bad('bad-frame', decoded.path, ref)
      else bad(decoded.reason === 'unknown-type' ? 'unknown-type' : 'bad-frame', 'unknown frame type', ref)
      return
    }
    // One frame at a time per socket: an offer must reach the peer before its candidates.
    const frame = decoded.value
    if (++inFlight === maxFramesInFlight) socket.pause()
    queue = queue
      .then(() => onFrame(frame))
      .catch((e: unknown) => {
        if (e instanceof StorageError && e.code === 'unavailable')
          fail('storage-unavailable', 'storage is unavailable; try again', frame.ref)
        else {
          log.error({ err: e }, 'frame handler failed')
          fail('internal', 'internal error', frame.ref)
        }
      })
      .then(frameDone)
  })

  socket.on('close', () => {
    closed = true
    clearTimeout(authTimer)
    outbox.release()
    settle()
    const me = conn
    if (me !== undefined)
      track(leave(me).catch((e: unknown) => log.warn({ err: e }, 'presence update on close failed')))
  })
  // Errors on the socket (a client's invalid frames, resets) are logged where the server
  // installs its WebSocket error handler (app.ts).
}

function refOf(frame: { ref?: string | undefined }): { ref?: string } {
  return frame.ref === undefined ? {} : { ref: frame.ref }
}
