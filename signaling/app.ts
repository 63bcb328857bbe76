import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import fastifyStatic from '@fastify/static'
import fastifyWebsocket from '@fastify/websocket'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { WebSocket } from 'ws'
import {
  closeCodes,
  ErrorBody,
  Health,
  limits,
  parseJson,
  wellFormedTextPattern,
  type ErrorCode,
  type ServerFrame,
} from '../shared/index.ts'
import type { Config, TrustProxy } from './config.ts'
import {
  addressKey,
  AddressCounter,
  capConnectionsPerAddress,
  httpTimeouts,
  isClientSocketError,
  WarnThrottle,
} from './connection-guards.ts'
import { createContext, type Context } from './context.ts'
import { HttpError } from './http-error.ts'
import { Metrics } from './metrics.ts'
import type { Hub } from './realtime/hub.ts'
import { openHub } from './realtime/open-hub.ts'
import { announcePresence } from './realtime/presence.ts'
import { handleSocket } from './realtime/socket.ts'
import { accountRoutes } from './routes/accounts.ts'
import { friendRoutes } from './routes/friends.ts'
import { groupRoutes } from './routes/groups.ts'
import { iceRoutes } from './routes/ice.ts'
import { newSecret } from './secrets.ts'
import { errorBody, rawErrorResponse, securityHeaders } from './security-headers.ts'
import { StorageError, type Storage, type StorageErrorCode } from './storage/storage.ts'

export { contentSecurityPolicy } from './security-headers.ts'

/** Closes every socket here whose session no longer exists in storage, with 4403. */
export async function closeEndedSessions(hub: Hub, storage: Storage): Promise<void> {
  const sockets = [...hub.local()]
  if (sockets.length === 0) return
  const live = await storage.liveSessionIds([...new Set(sockets.map((c) => c.sessionId))])
  for (const c of sockets) if (!live.has(c.sessionId)) c.close(closeCodes.sessionEnded, 'session ended')
}

export interface App {
  readonly app: FastifyInstance
  readonly ctx: Context
  /** Tells every client to reconnect elsewhere, closes sockets, then the server and storage. */
  readonly shutdown: (graceMs?: number) => Promise<void>
}

/**
 * ajv 8 calls `unicode` deprecated but still honours it (test/integration/signaling/
 * issue-15-text.test.ts holds it to that); its warning at every start is dropped, nothing else.
 */
const ajvLogger = {
  log: (): void => undefined,
  warn: (...args: unknown[]): void => {
    if (!/option unicode\b/.test(String(args[0]))) console.warn(...args)
  },
  error: (...args: unknown[]): void => console.error(...args),
}

const storageAnswers: Record<StorageErrorCode, readonly [ErrorCode, string]> = {
  conflict: ['conflict', 'changed meanwhile; reload and retry'],
  unavailable: ['storage-unavailable', 'storage is unavailable; try again shortly'],
  invalid: ['bad-request', 'the server cannot store this text'],
}
const statusOfStorageError: Record<StorageErrorCode, number> = {
  conflict: 409,
  unavailable: 503,
  invalid: 400,
}

/**
 * Fastify's `trustProxy` for the setting. A hop count becomes a function (Fastify no longer takes
 * numbers): the nearest `hops` addresses are proxies, whoever they are, so it is safe only when
 * nothing but those proxies can reach this node (docs/DEPLOY.md).
 */
function trustProxyOption(
  trust: TrustProxy,
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false) return false
  if (typeof trust === 'number') return (_address, hop) => hop < trust
  return [...trust]
}

function reconnectFrame(): ServerFrame {
  return { type: 'reconnect', retryAfterMs: Math.floor(Math.random() * 1000) }
}

/**
 * The server on `storage`, with the given hub or the configured one (Redis when REDIS_URL is
 * set). shutdown() closes both.
 */
export async function buildApp(config: Config, storage: Storage, givenHub?: Hub): Promise<App> {
  const metrics = new Metrics()
  const serverSecret = await storage.initMeta('prelogin_secret', newSecret())

  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Tokens travel only in the Authorization header and the first socket frame; neither is logged.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
    },
    bodyLimit: limits.maxFrameBytes,
    trustProxy: trustProxyOption(config.trustProxy),
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        allErrors: false,
        // Lengths in UTF-16 code units, as the client's TypeBox checks count them (shared/limits.ts):
        // counted in code points, a name of 64 emoji passed here and failed in every client.
        unicode: false,
        logger: ajvLogger,
      },
    },
    return503OnClosing: true,
    ...httpTimeouts(config),
    // Errors the router raises before any route runs get the same typed body as the rest.
    // They are answered before any hook runs, so the security headers are set here too.
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode ?? 400
      metrics.error('bad-request', 'http')
      void (reply as FastifyReply)
        .code(status)
        .headers(securityHeaders)
        .send(errorBody('bad-request', error.message))
    },
    // Requests Node's parser refuses (headers over 16 KiB, malformed request lines): typed too.
    clientErrorHandler: (error: Error & { code?: string }, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        const address = addressKey(socket.remoteAddress ?? '')
        // Declared below, once the app has a logger; no connection is accepted before that.
        warnings.warn(
          `timeout ${address}`,
          { address },
          'request cut off: not received within HEADERS_TIMEOUT_MS / REQUEST_TIMEOUT_MS',
        )
      }
      const [status, message] =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'request headers are too large']
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'request timed out']
            : [400, 'malformed HTTP request']
      if (socket.writable) socket.write(rawErrorResponse(status, message))
      socket.destroy(error)
    },
  })

  const warnings = new WarnThrottle(app.log)
  capConnectionsPerAddress(app.server, config, warnings)
  const unauthenticated = new AddressCounter(config.wsMaxUnauthenticatedPerIp)

  const hub = givenHub ?? (await openHub(config, app.log))
  const ctx = createContext({ config, storage, hub, metrics, serverSecret })
  hub.listen({
    presenceLost: (username) => announcePresence(ctx, username, false),
    relayChanged: (pair) => ctx.relayPolicy.forgetHere(pair),
  })
  let draining = false
  /** Presence updates of sockets that closed, which must finish before the hub and storage close. */
  const leaving = new Set<Promise<void>>()
  const track = (work: Promise<void>): void => {
    leaving.add(work)
    void work.finally(() => leaving.delete(work))
  }

  // JSON bodies: depth-limited before parsing, so hostile nesting costs nothing.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const parsed = parseJson(body as string)
    if (parsed.ok) {
      done(null, parsed.value)
      return
    }
    const code = parsed.reason
    const status = code === 'frame-too-large' ? 413 : 400
    done(
      Object.assign(new HttpError(code === 'frame-too-large' ? 'payload-too-large' : code, `body: ${code}`), {
        statusCode: status,
      }),
      undefined,
    )
  })

  app.setErrorHandler((error: FastifyError | HttpError | StorageError | Error, request, reply) => {
    let status = 500
    let body: ErrorBody
    if (error instanceof HttpError) {
      status = error.status
      body = errorBody(error.code, error.message)
      if (error.retryAfterS !== undefined)
        void reply.header('retry-after', String(Math.max(1, error.retryAfterS)))
    } else if (error instanceof StorageError) {
      const [code, message] = storageAnswers[error.code]
      status = statusOfStorageError[error.code]
      body = errorBody(code, message)
      if (status === 503) request.log.error({ err: error.cause }, 'storage unavailable')
    } else if ('validation' in error && error.validation !== undefined) {
      status = 400
      const first = error.validation[0]
      const extra = first?.params['additionalProperty']
      const where = `${error.validationContext ?? 'request'}${first?.instancePath ?? ''}`
      const what =
        first?.params['pattern'] === wellFormedTextPattern
          ? 'must not contain NUL or unpaired surrogates'
          : (first?.message ?? 'is invalid')
      body = errorBody('bad-request', `${where} ${what}${typeof extra === 'string' ? `: ${extra}` : ''}`)
    } else if ('statusCode' in error && error.statusCode === 413) {
      status = 413
      body = errorBody('payload-too-large', `bodies are at most ${limits.maxFrameBytes} bytes`)
    } else if (
      'statusCode' in error &&
      typeof error.statusCode === 'number' &&
      error.statusCode >= 400 &&
      error.statusCode < 500
    ) {
      status = error.statusCode
      body = errorBody(status === 404 ? 'not-found' : 'bad-request', error.message)
    } else {
      request.log.error({ err: error }, 'request failed')
      body = errorBody('internal', 'internal error')
    }
    metrics.error(body.error.code, 'http')
    return reply.code(status).send(body)
  })

  app.addHook('onSend', (_request, reply, payload, done) => {
    metrics.httpRequests++
    for (const [k, v] of Object.entries(securityHeaders)) reply.header(k, v)
    done(null, payload)
  })

  const socketError = (error: Error, socket: WebSocket, address: string): void => {
    if (isClientSocketError(error)) {
      const code = (error as { code?: unknown }).code
      metrics.error(code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame-too-large' : 'bad-frame', 'ws')
      app.log.debug({ code, address }, `websocket closed: ${error.message}`)
      // ws has closed it already with the code that says why (1007, 1009, 1002).
      return
    }
    app.log.error({ err: error }, 'websocket handler failed')
    socket.terminate()
  }
  await app.register(fastifyWebsocket, {
    // Frames over maxFrameBytes get a typed error; only far larger ones are cut off by ws itself
    // (1009). No permessage-deflate (ws's default for servers, said here so it stays so): signals
    // are small and high in entropy, and each compressing socket holds a zlib context of its own.
    options: { maxPayload: 4 * limits.maxFrameBytes, perMessageDeflate: false },
    errorHandler: (error, socket, request) => socketError(error, socket, request.ip),
  })
  /**
   * The HTTP response of each upgrade request, until the socket is handed over. The request,
   * the response, their logger and headers (some 2 KiB) would otherwise live as long as the
   * socket: @fastify/websocket's error listener holds them, and the raw socket its response.
   */
  const upgradeResponses = new WeakMap<object, ServerResponse>()
  const handOver = (socket: WebSocket, request: FastifyRequest): string => {
    const address = request.ip
    upgradeResponses.get(request.raw)?.detachSocket(request.raw.socket)
    upgradeResponses.delete(request.raw)
    socket.removeAllListeners('error')
    socket.on('error', (error: Error) => socketError(error, socket, address))
    return address
  }
  // A malformed handshake (bad key or version) is answered by ws on the raw socket; with a
  // listener, the answer is ours: typed, with the security headers.
  app.websocketServer.on('wsClientError', (error: Error, socket: Duplex) => {
    metrics.error('bad-request', 'http')
    if (!socket.writable) {
      socket.destroy()
      return
    }
    socket.once('finish', () => socket.destroy())
    socket.end(
      rawErrorResponse(
        400,
        error.message,
        /version/i.test(error.message) ? { 'sec-websocket-version': '13, 8' } : {},
      ),
    )
  })

  app.route({
    method: 'GET',
    url: '/ws',
    // Plain HTTP to the socket's address gets told what it is, not an empty 404.
    handler: (_request, reply) =>
      reply
        .code(426)
        .send(errorBody('bad-request', 'this is the WebSocket endpoint; send an upgrade request')),
    onRequest: (request, reply, done) => {
      if (request.ws) upgradeResponses.set(request.raw, reply.raw)
      done()
    },
    wsHandler: (socket, request) => {
      const ip = handOver(socket, request)
      if (draining) {
        // Sockets that arrive while this node drains go straight to another one.
        socket.send(JSON.stringify(reconnectFrame()))
        socket.close(1012, 'server restarting')
        return
      }
      const address = addressKey(ip)
      if (!unauthenticated.tryAdd(address)) {
        warnings.warn(
          `unauthenticated ${address}`,
          { address, cap: config.wsMaxUnauthenticatedPerIp },
          'socket refused: this address holds WS_MAX_UNAUTHENTICATED_PER_IP sockets not yet authenticated',
        )
        metrics.error('rate-limited', 'ws')
        socket.send(
          JSON.stringify({
            type: 'error',
            code: 'rate-limited',
            message: 'too many sockets from this address are still authenticating; try again later',
          } satisfies ServerFrame),
        )
        socket.close(closeCodes.tryAgainLater, 'too many unauthenticated sockets')
        return
      }
      // The app logger, not the request's child: a socket outlives its upgrade request by hours.
      handleSocket(socket, ctx, app.log, {
        track,
        unauthenticated: { counter: unauthenticated, key: address },
      })
    },
  })

  app.get('/healthz', { schema: { response: { 200: Health, 503: ErrorBody } } }, async () => {
    await storage.ping()
    return {
      status: 'ok' as const,
      uptimeS: Math.round(process.uptime()),
      connections: hub.localConnections(),
    }
  })

  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4').send(metrics.render(hub.localConnections(), ctx.backlog)),
  )

  accountRoutes(app, ctx)
  friendRoutes(app, ctx)
  groupRoutes(app, ctx)
  iceRoutes(app, ctx)

  const hasClient = existsSync(join(config.clientDir, 'index.html'))
  if (hasClient) {
    await app.register(fastifyStatic, {
      root: config.clientDir,
      prefix: '/',
      index: 'index.html',
      wildcard: false,
    })
  }
  app.setNotFoundHandler((request, reply) => {
    // Deep links into the single-page client get its page; API and unknown files get JSON.
    if (
      hasClient &&
      request.method === 'GET' &&
      !request.url.startsWith('/api/') &&
      !/\.[a-z0-9]+$/i.test(request.url.split('?')[0] ?? '')
    )
      return reply.sendFile('index.html')
    metrics.error('not-found', 'http')
    return reply
      .code(404)
      .send(errorBody('not-found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`))
  })

  const sweep = setInterval(() => {
    storage
      .deleteExpiredSessions(Date.now())
      .catch((e: unknown) => app.log.warn({ err: e }, 'session sweep failed'))
  }, 3_600_000)
  // A socket does not outlive its session: once the token expires, so does the connection.
  const expirySweep = setInterval(() => {
    const now = Date.now()
    for (const c of hub.local()) if (c.expiresAt <= now) c.close(closeCodes.sessionEnded, 'session expired')
  }, 30_000)
  // Logout, revocation or deletion on a node that could not tell this one (Redis was away):
  // every socket's session is looked up again now and then, not only trusted until it expires.
  let checking = false
  const sessionCheck = setInterval(() => {
    if (checking) return
    checking = true
    closeEndedSessions(hub, storage)
      .catch((e: unknown) => app.log.warn({ err: e }, 'session check failed'))
      .finally(() => (checking = false))
  }, config.sessionCheckMs)
  sessionCheck.unref()
  expirySweep.unref()
  sweep.unref()
  // Deleted rows are overwritten in the SQLite file at once; their old pages leave the WAL here.
  const compaction = setInterval(() => {
    storage.compact().catch((e: unknown) => app.log.warn({ err: e }, 'database compaction failed'))
  }, config.sqliteCheckpointS * 1000)
  compaction.unref()

  let shuttingDown: Promise<void> | undefined
  async function shutdown(graceMs = config.shutdownGraceMs): Promise<void> {
    shuttingDown ??= (async () => {
      clearInterval(sweep)
      clearInterval(expirySweep)
      clearInterval(compaction)
      clearInterval(sessionCheck)
      draining = true
      // Each client is told to reconnect after its own random delay (another node behind the load
      // balancer takes it); unacknowledged signals and messages are re-sent from there.
      for (const c of [...hub.local()]) c.send(reconnectFrame())
      // Give clients a moment to move; then close what is left.
      const deadline = Date.now() + graceMs
      while (hub.localConnections() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      for (const c of [...hub.local()]) c.close(1012, 'server restarting')
      await app.close()
      // Friends must hear that this node's users left before the hub lets go of Redis.
      await Promise.allSettled([...leaving])
      await hub.close()
      await storage.close()
    })()
    return shuttingDown
  }

  return { app, ctx, shutdown }
}
