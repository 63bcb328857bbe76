import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { limits } from '../shared/index.ts'

/**
 * Which proxies in front may say who the client is (X-Forwarded-For): none, the nearest N hops
 * whatever their address, or those at these addresses and ranges (Fastify's `trustProxy`).
 */
export type TrustProxy = false | number | readonly string[]

/** Everything the server reads from its environment. See `--help` and docs/DEPLOY.md. */
export interface Config {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly databaseUrl: string | undefined
  readonly databasePoolSize: number
  readonly redisUrl: string | undefined
  /** Prefix of every Redis key and channel, so several deployments can share one Redis. */
  readonly redisPrefix: string
  readonly clientDir: string
  readonly logLevel: string
  readonly trustProxy: TrustProxy
  readonly tokenTtlMs: number
  readonly stunUrls: readonly string[]
  readonly turnUrls: readonly string[]
  readonly turnSecret: string | undefined
  readonly turnTtlS: number
  readonly relayOnly: boolean
  /** Auth routes (prelogin, register, login): burst and per-minute refill, per IP and per username. */
  readonly authPerIpPerMin: number
  readonly authPerUserPerMin: number
  readonly searchPerMin: number
  /** WebSocket frames per second per socket (token bucket; burst = 2 × rate). */
  readonly wsFramesPerS: number
  readonly shutdownGraceMs: number
  // ---- what one account may do, and what the database keeps ----
  /** Friend requests from one account to the same user per hour (burst = the same number). */
  readonly friendRequestsPerUserPerHour: number
  /** Groups one account may be a member of. */
  readonly maxGroupsPerUser: number
  /** Seconds between SQLite checkpoints that truncate the WAL. */
  readonly sqliteCheckpointS: number
  // ---- connections and back-pressure (issue 15: D1, D2, D4, D10, D12) ----
  /** Bytes and frames that may wait for one slow socket before signals to it are refused. */
  readonly wsMaxQueuedBytes: number
  readonly wsMaxQueuedFrames: number
  /** Bytes that may wait for all of this node's sockets together. */
  readonly wsNodeMaxQueuedBytes: number
  /** A socket over its cap this long without draining is closed with 4408. */
  readonly wsSlowReaderMs: number
  /** Sockets one account may hold, across all nodes. */
  readonly wsMaxPerUser: number
  /** Sockets not yet authenticated, per client address. */
  readonly wsMaxUnauthenticatedPerIp: number
  /** TCP connections per peer address (0: no cap). Not applied behind a trusted proxy. */
  readonly maxConnectionsPerIp: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  /** A connection with no traffic either way for this long is closed (WebSockets excepted). */
  readonly idleTimeoutMs: number
  /** How often every socket's session is checked against storage. */
  readonly sessionCheckMs: number
}

interface Setting {
  readonly env: string
  readonly def: string
  readonly help: string
}

export const settings: readonly Setting[] = [
  {
    env: 'HOST',
    def: '127.0.0.1',
    help: 'address to listen on (use 0.0.0.0 to accept connections from other hosts)',
  },
  { env: 'PORT', def: '8080', help: 'TCP port for HTTP and WebSocket' },
  { env: 'DATA_DIR', def: './data', help: 'folder for the SQLite database' },
  {
    env: 'DATABASE_URL',
    def: '',
    help: 'postgres://user:password@host:5432/db to use PostgreSQL instead of SQLite',
  },
  { env: 'DATABASE_POOL_SIZE', def: '10', help: 'PostgreSQL connections per node' },
  {
    env: 'REDIS_URL',
    def: '',
    help: 'redis://host:6379 to share presence and relay between several nodes',
  },
  { env: 'REDIS_PREFIX', def: 'tincan:', help: 'prefix of every Redis key and channel' },
  { env: 'CLIENT_DIR', def: './dist/client', help: 'built web client served at /' },
  { env: 'LOG_LEVEL', def: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  {
    env: 'TRUST_PROXY',
    def: 'false',
    help: 'behind a reverse proxy: its addresses or CIDR ranges (127.0.0.1,10.0.0.0/8), or how many proxies are in front (1), so client IPs come from X-Forwarded-For',
  },
  { env: 'TOKEN_TTL_DAYS', def: '30', help: 'how long a login session lasts' },
  { env: 'STUN_URLS', def: '', help: 'comma-separated stun: URLs handed to clients' },
  { env: 'TURN_URLS', def: '', help: 'comma-separated turn:/turns: URLs handed to clients' },
  {
    env: 'TURN_SECRET',
    def: '',
    help: 'shared secret for short-lived TURN credentials (coturn use-auth-secret)',
  },
  { env: 'TURN_TTL_S', def: '3600', help: 'lifetime of minted TURN credentials, in seconds (at most 86400)' },
  {
    env: 'RELAY_ONLY',
    def: 'false',
    help: 'true to make every client use TURN relays only (hides IP addresses)',
  },
  { env: 'AUTH_RATE_PER_IP', def: '30', help: 'prelogin/register/login requests per minute per IP' },
  { env: 'AUTH_RATE_PER_USER', def: '10', help: 'login attempts per minute per username' },
  { env: 'SEARCH_RATE', def: '60', help: 'user searches and name lookups per minute per account' },
  { env: 'WS_FRAMES_PER_S', def: '200', help: 'WebSocket frames per second per connection' },
  { env: 'SHUTDOWN_GRACE_MS', def: '5000', help: 'on SIGTERM, how long to wait for connections to move' },
  // ---- what one account may do, and what the database keeps ----
  {
    env: 'FRIEND_REQUESTS_PER_USER',
    def: '3',
    help: 'friend requests per hour from one account to the same user, repeats included',
  },
  { env: 'MAX_GROUPS_PER_USER', def: '100', help: 'groups one account may be a member of' },
  {
    env: 'SQLITE_CHECKPOINT_S',
    def: '60',
    help: 'seconds between SQLite checkpoints that empty the WAL file, so deleted data leaves the disk',
  },
  // ---- connections and back-pressure ----
  {
    env: 'WS_MAX_QUEUED_BYTES',
    def: '1048576',
    help: 'bytes waiting for one socket before signals to it are refused (recipient-busy)',
  },
  { env: 'WS_MAX_QUEUED_FRAMES', def: '1024', help: 'frames waiting for one socket, likewise' },
  {
    env: 'WS_NODE_MAX_QUEUED_BYTES',
    def: '67108864',
    help: 'bytes waiting for all sockets of this node; past it, slow sockets get no signals',
  },
  {
    env: 'WS_SLOW_READER_MS',
    def: '10000',
    help: 'a socket over its queue cap this long is closed with 4408',
  },
  { env: 'WS_MAX_PER_USER', def: '32', help: 'sockets one account may hold (over it: close 4429)' },
  {
    env: 'WS_MAX_UNAUTHENTICATED_PER_IP',
    def: '32',
    help: 'sockets not yet authenticated per client address (over it: close 1013)',
  },
  {
    env: 'MAX_CONNECTIONS_PER_IP',
    def: '256',
    help: 'TCP connections per address, IPv6 per /64 (0 = no cap; not applied with TRUST_PROXY)',
  },
  { env: 'HEADERS_TIMEOUT_MS', def: '10000', help: "time to receive a request's headers" },
  { env: 'REQUEST_TIMEOUT_MS', def: '30000', help: 'time to receive a whole request, body included' },
  { env: 'KEEP_ALIVE_TIMEOUT_MS', def: '72000', help: 'idle time before a keep-alive connection is closed' },
  {
    env: 'IDLE_TIMEOUT_MS',
    def: '120000',
    help: 'a connection silent both ways this long is closed (not WebSockets)',
  },
  {
    env: 'SESSION_CHECK_MS',
    def: '60000',
    help: 'how often open sockets are checked against stored sessions (logout elsewhere)',
  },
]

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

function positiveInt(env: string, raw: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${env} must be a positive integer, got "${raw}"`)
  return n
}

function nonNegativeInt(env: string, raw: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`${env} must be 0 or a positive integer, got "${raw}"`)
  return n
}

function bool(env: string, raw: string): boolean {
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0' || raw === '') return false
  throw new ConfigError(`${env} must be true or false, got "${raw}"`)
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

function urls(env: string, raw: string, schemes: readonly string[]): string[] {
  const all = list(raw)
  const bad = all.find((u) => !schemes.some((s) => u.startsWith(`${s}:`)))
  if (bad !== undefined) throw new ConfigError(`${env} takes ${schemes.join(':, ')}: URLs, got "${bad}"`)
  return all
}

const namedProxyRanges = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isAddressOrRange(entry: string): boolean {
  if (namedProxyRanges.has(entry)) return true
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}

function trustProxy(raw: string): TrustProxy {
  const value = raw.trim()
  if (value === '' || value === 'false' || value === '0') return false
  // Trusting every hop lets a client name its own address (it writes the first X-Forwarded-For
  // entry itself), which defeats every per-IP limit: refused, with what to write instead.
  if (value === 'true')
    throw new ConfigError(
      'TRUST_PROXY=true would trust every X-Forwarded-For entry, which clients can forge; set the addresses of your proxies (TRUST_PROXY=127.0.0.1) or how many are in front (TRUST_PROXY=1)',
    )
  if (/^[0-9]+$/.test(value)) return positiveInt('TRUST_PROXY', value)
  const entries = list(value)
  const bad = entries.find((e) => !isAddressOrRange(e))
  if (bad !== undefined)
    throw new ConfigError(
      `TRUST_PROXY takes a number of proxies or IP addresses and CIDR ranges, got "${bad}"`,
    )
  return entries
}

/** TURN credentials are meant to be short-lived: a day at most. */
const maxTurnTtlS = 86_400

/** Reads the configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const get = (name: string): string => env[name] ?? settings.find((s) => s.env === name)?.def ?? ''
  const port = Number(get('PORT'))
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be 0–65535`)
  const turnUrls = urls('TURN_URLS', get('TURN_URLS'), ['turn', 'turns'])
  const turnSecret = get('TURN_SECRET') || undefined
  if (turnUrls.length > 0 && turnSecret === undefined) throw new ConfigError('TURN_URLS needs TURN_SECRET')
  const relayOnly = bool('RELAY_ONLY', get('RELAY_ONLY'))
  if (relayOnly && turnUrls.length === 0) throw new ConfigError('RELAY_ONLY needs TURN_URLS')
  const turnTtlS = positiveInt('TURN_TTL_S', get('TURN_TTL_S'))
  if (turnTtlS > maxTurnTtlS) throw new ConfigError(`TURN_TTL_S must be at most ${maxTurnTtlS} (one day)`)
  const databaseUrl = get('DATABASE_URL') || undefined
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//i.test(databaseUrl))
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL (unset it for SQLite)')
  const redisUrl = get('REDIS_URL') || undefined
  if (redisUrl !== undefined && !/^rediss?:\/\//i.test(redisUrl))
    throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL')
  return {
    host: get('HOST'),
    port,
    dataDir: resolve(get('DATA_DIR')),
    databaseUrl,
    databasePoolSize: positiveInt('DATABASE_POOL_SIZE', get('DATABASE_POOL_SIZE')),
    redisUrl,
    redisPrefix: get('REDIS_PREFIX'),
    clientDir: resolve(get('CLIENT_DIR')),
    logLevel: get('LOG_LEVEL'),
    trustProxy: trustProxy(get('TRUST_PROXY')),
    tokenTtlMs: positiveInt('TOKEN_TTL_DAYS', get('TOKEN_TTL_DAYS')) * 86_400_000,
    stunUrls: urls('STUN_URLS', get('STUN_URLS'), ['stun', 'stuns']),
    turnUrls,
    turnSecret,
    turnTtlS,
    relayOnly,
    authPerIpPerMin: positiveInt('AUTH_RATE_PER_IP', get('AUTH_RATE_PER_IP')),
    authPerUserPerMin: positiveInt('AUTH_RATE_PER_USER', get('AUTH_RATE_PER_USER')),
    searchPerMin: positiveInt('SEARCH_RATE', get('SEARCH_RATE')),
    wsFramesPerS: positiveInt('WS_FRAMES_PER_S', get('WS_FRAMES_PER_S')),
    shutdownGraceMs: positiveInt('SHUTDOWN_GRACE_MS', get('SHUTDOWN_GRACE_MS')),
    // ---- what one account may do, and what the database keeps ----
    friendRequestsPerUserPerHour: positiveInt('FRIEND_REQUESTS_PER_USER', get('FRIEND_REQUESTS_PER_USER')),
    maxGroupsPerUser: positiveInt('MAX_GROUPS_PER_USER', get('MAX_GROUPS_PER_USER')),
    sqliteCheckpointS: positiveInt('SQLITE_CHECKPOINT_S', get('SQLITE_CHECKPOINT_S')),
    ...connectionSettings(get),
  }
}

/** Caps and timeouts of connections (issue 15); throws ConfigError naming the bad variable. */
function connectionSettings(
  get: (name: string) => string,
): Pick<
  Config,
  | 'wsMaxQueuedBytes'
  | 'wsMaxQueuedFrames'
  | 'wsNodeMaxQueuedBytes'
  | 'wsSlowReaderMs'
  | 'wsMaxPerUser'
  | 'wsMaxUnauthenticatedPerIp'
  | 'maxConnectionsPerIp'
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'idleTimeoutMs'
  | 'sessionCheckMs'
> {
  const int = (env: string): number => positiveInt(env, get(env))
  const wsMaxQueuedBytes = int('WS_MAX_QUEUED_BYTES')
  // One signal of the largest size must fit, or no signal could ever be delivered.
  if (wsMaxQueuedBytes < limits.maxFrameBytes)
    throw new ConfigError(`WS_MAX_QUEUED_BYTES must be at least ${limits.maxFrameBytes} (one frame)`)
  const wsNodeMaxQueuedBytes = int('WS_NODE_MAX_QUEUED_BYTES')
  if (wsNodeMaxQueuedBytes < wsMaxQueuedBytes)
    throw new ConfigError('WS_NODE_MAX_QUEUED_BYTES must be at least WS_MAX_QUEUED_BYTES')
  const headersTimeoutMs = int('HEADERS_TIMEOUT_MS')
  const requestTimeoutMs = int('REQUEST_TIMEOUT_MS')
  if (headersTimeoutMs > requestTimeoutMs)
    throw new ConfigError('HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS')
  return {
    wsMaxQueuedBytes,
    wsMaxQueuedFrames: int('WS_MAX_QUEUED_FRAMES'),
    wsNodeMaxQueuedBytes,
    wsSlowReaderMs: int('WS_SLOW_READER_MS'),
    wsMaxPerUser: int('WS_MAX_PER_USER'),
    wsMaxUnauthenticatedPerIp: int('WS_MAX_UNAUTHENTICATED_PER_IP'),
    maxConnectionsPerIp: nonNegativeInt('MAX_CONNECTIONS_PER_IP', get('MAX_CONNECTIONS_PER_IP')),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: int('KEEP_ALIVE_TIMEOUT_MS'),
    idleTimeoutMs: int('IDLE_TIMEOUT_MS'),
    sessionCheckMs: int('SESSION_CHECK_MS'),
  }
}

export function helpText(): string {
  const width = Math.max(...settings.map((s) => s.env.length))
  const lines = settings.map(
    (s) => `  ${s.env.padEnd(width)}  ${s.help}${s.def === '' ? '' : ` (default: ${s.def})`}`,
  )
  return [
    'Tincan signaling server',
    '',
    'Usage: npm start            build the web client if needed, then serve it and the API',
    '       npm run serve        serve only (the client must be built)',
    '',
    'Settings come from environment variables:',
    ...lines,
    '',
  ].join('\n')
}
