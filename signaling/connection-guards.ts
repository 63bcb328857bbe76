import { isIPv6, type Server, type Socket } from 'node:net'
import type { ServerOptions } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from './config.ts'

/**
 * Limits on what one client address may hold open (issue 15, D4): TCP connections, and sockets
 * that have not authenticated yet. An IPv6 client usually owns a whole /64, so addresses in one
 * /64 count as one.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped?.[1] !== undefined) return mapped[1]
  if (!isIPv6(ip)) return ip
  const [head = '', tail = ''] = ip.split('%')[0]?.split('::') ?? []
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/** Counts what each address holds; refuses past `max`. */
export class AddressCounter {
  private readonly counts = new Map<string, number>()

  constructor(private readonly max: number) {}

  /** Counts one more for `key`; false (and nothing counted) when it already holds `max`. */
  tryAdd(key: string): boolean {
    const n = this.counts.get(key) ?? 0
    if (n >= this.max) return false
    this.counts.set(key, n + 1)
    return true
  }

  remove(key: string): void {
    const n = this.counts.get(key) ?? 0
    if (n <= 1) this.counts.delete(key)
    else this.counts.set(key, n - 1)
  }
}

/**
 * One warning per address and cause per interval: a cap that is hit is worth a line in the log,
 * but the client hitting it must not be able to fill the log.
 */
export class WarnThrottle {
  private readonly last = new Map<string, number>()

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly everyMs = 60_000,
  ) {}

  warn(key: string, details: Record<string, unknown>, message: string): void {
    const now = Date.now()
    const at = this.last.get(key)
    if (at !== undefined && now - at < this.everyMs) return
    if (this.last.size >= 10_000) this.last.clear()
    this.last.set(key, now)
    this.log.warn(details, message)
  }
}

/**
 * Timeouts of the HTTP server. Node checks the header and request timeouts on an interval (30 s
 * by default), so it is set from the timeouts themselves: a trickled request is cut close to
 * when it is due.
 */
export function httpTimeouts(
  config: Pick<Config, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'idleTimeoutMs'>,
): {
  requestTimeout: number
  keepAliveTimeout: number
  connectionTimeout: number
  http: ServerOptions
} {
  const shortest = Math.min(config.headersTimeoutMs, config.requestTimeoutMs)
  return {
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // WebSockets are exempt: `ws` turns the idle timeout off once a socket is upgraded.
    connectionTimeout: config.idleTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(shortest / 4))),
    },
  }
}

/**
 * Refuses a TCP connection from an address that already holds `maxConnectionsPerIp`: closed at
 * once, before a byte is read. Behind a reverse proxy every connection comes from the proxy, so
 * the cap is left to the proxy there (DEPLOY.md).
 */
export function capConnectionsPerAddress(
  server: Server,
  config: Pick<Config, 'maxConnectionsPerIp' | 'trustProxy'>,
  warnings: WarnThrottle,
): void {
  if (config.maxConnectionsPerIp === 0 || config.trustProxy !== false) return
  const open = new AddressCounter(config.maxConnectionsPerIp)
  server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress ?? '')
    if (!open.tryAdd(key)) {
      warnings.warn(
        `connections ${key}`,
        { address: key, cap: config.maxConnectionsPerIp },
        'connection refused: this address holds MAX_CONNECTIONS_PER_IP connections',
      )
      socket.destroy()
      return
    }
    socket.once('close', () => open.remove(key))
  })
}

/**
 * What `ws` reports about a client's frames (invalid UTF-8, a frame over its size limit, a bad
 * opcode) and connections that reset: the client's doing, so one line at debug and a count at
 * /metrics; the WebSocket layer has already closed the socket with the right code (1007, 1009,
 * 1002). Anything else is the server's own failure: logged at error, with its stack.
 */
export function isClientSocketError(error: Error): boolean {
  const code = (error as { code?: unknown }).code
  return (
    typeof code === 'string' &&
    (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT')
  )
}
