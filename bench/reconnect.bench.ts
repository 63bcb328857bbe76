// Issue 17: a reconnect wave. 10,000 clients, each with 5 friends online, all connected; then the
// node is killed (SIGKILL, as in a crash) and started again on the same port and data — and, on
// two nodes over Redis and PostgreSQL, one node of the two. Every client is the real client's
// signaling connection (client/core/signaling.ts: its back-off, its jitter, its answers to
// `reconnect`, `recipient-busy` and close codes), and, like the peer manager, sends an offer to
// each friend it learns is online. Measured: the time from the kill until all 10,000 are
// authenticated again, and until each has had an offer to every friend accepted; clients given
// up; error answers by code; the server's peak RSS during the wave.
//
//   npm run bench reconnect
//   WAVE_CLIENTS=2000 npx tsx bench/reconnect.bench.ts   (prints only)
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { SignalingConnection } from '../client/core/signaling.ts'
import { hashToken, newId, newToken } from '../signaling/secrets.ts'
import { openStorage } from '../signaling/storage/open.ts'
import { createTestDatabase, defaultPostgresUrl } from '../test/helpers/postgres.ts'
import { freePort, startServerProcess, type ServerProcess } from './server-process.ts'
import type { Bench, BenchResult } from './types.ts'

const clientCount = Number(process.env['WAVE_CLIENTS'] ?? 10_000)
const redisUrl = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const postgresUrl = process.env['TINCAN_TEST_POSTGRES_URL'] ?? defaultPostgresUrl
const targetS = 30
const rssTargetMiB = 512
/** Give up measuring after this long: a wave that takes longer has failed its target anyway. */
const waveLimitMs = 120_000
const mib = 2 ** 20

interface Account {
  readonly name: string
  readonly token: string
  readonly friends: readonly string[]
}

/**
 * Everyone has 5 friends: i±1, i±2 and i+n/2 on a ring of n (n even). Written straight into the
 * database, as the HTTP API would leave it, so setting up 25,000 friendships takes seconds.
 */
async function seed(storage: { dataDir: string; databaseUrl?: string }): Promise<Account[]> {
  const n = clientCount
  const name = (i: number): string => `wave${((i % n) + n) % n}`
  const db = await openStorage(storage)
  try {
    const now = Date.now()
    const accounts: Account[] = []
    for (let i = 0; i < n; i++) {
      const token = newToken()
      accounts.push({
        name: name(i),
        token,
        friends: [name(i - 2), name(i - 1), name(i + 1), name(i + 2), name(i + n / 2)],
      })
      await db.createUser({
        username: name(i),
        salt: randomBytes(16).toString('base64url'),
        kdfOps: 3,
        kdfMem: 67_108_864,
        authSalt: randomBytes(16).toString('base64url'),
        authHash: randomBytes(32).toString('base64url'),
        identityKey: randomBytes(32).toString('base64url'),
        keyBundle: randomBytes(96).toString('base64url'),
        createdAt: now,
      })
      await db.createSession({
        id: newId(),
        username: name(i),
        tokenHash: hashToken(token),
        userAgent: 'bench',
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + 86_400_000,
      })
    }
    for (let i = 0; i < n; i++) {
      await db.addFriendship(name(i), name(i + 1), now)
      await db.addFriendship(name(i), name(i + 2), now)
      if (i < n / 2) await db.addFriendship(name(i), name(i + n / 2), now)
    }
    return accounts
  } finally {
    await db.close()
  }
}

/** One simulated browser: the real signaling connection, and offers to friends as they come online. */
class WaveClient {
  readonly conn: SignalingConnection
  /** Friends whose offer since the last (re)connect was accepted. */
  readonly offered = new Set<string>()
  readyAt = 0
  doneAt = 0
  ended = false
  /** Where the current (or last) socket went. */
  url = ''

  constructor(
    readonly account: Account,
    url: () => string,
    private readonly stats: WaveStats,
  ) {
    this.conn = new SignalingConnection({
      url: '',
      token: () => account.token,
      createSocket: () => {
        this.url = url()
        const ws = new WebSocket(this.url, { perMessageDeflate: false })
        ws.on('message', (data: Buffer) => {
          const text = data.toString()
          if (!text.startsWith('{"type":"error"')) return
          const code = /"code":"([^"]+)"/.exec(text)?.[1] ?? '?'
          stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1)
        })
        return ws
      },
    })
    this.conn.on('ready', () => {
      this.readyAt = performance.now()
      this.offered.clear()
      this.doneAt = 0
      for (const f of this.conn.online) this.offer(f)
    })
    this.conn.on('presence', (p) => {
      if (p.online) this.offer(p.username)
    })
    this.conn.on('session-ended', () => {
      this.ended = true
    })
  }

  private offer(friend: string): void {
    if (this.offered.has(friend) || !this.account.friends.includes(friend)) return
    const connectedAt = this.readyAt
    void this.conn.sendSignal(friend, 'wavesession', `offer|${this.account.name}`).then((r) => {
      // An offer sent before a reconnect counts for that connection only.
      if (this.readyAt !== connectedAt) return
      if (!r.ok) {
        this.stats.refused.set(r.code, (this.stats.refused.get(r.code) ?? 0) + 1)
        return // the friend is not online (yet): their presence brings the next offer
      }
      this.offered.add(friend)
      if (this.offered.size === this.account.friends.length) this.doneAt = performance.now()
    })
  }
}

interface WaveStats {
  /** Error frames from the server, by code. */
  readonly errors: Map<string, number>
  /** Offers answered with an error, by code. */
  readonly refused: Map<string, number>
}

interface WaveFigures {
  /** Clients whose connection the kill cut. */
  readonly affected: number
  readonly allReadyS: number
  readonly allOfferedS: number
  readonly readyCount: number
  readonly offeredCount: number
  readonly gaveUp: number
  readonly rssPeakMiB: number
  readonly rssBeforeMiB: number
  readonly errors: string
  readonly refused: string
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const list = (m: Map<string, number>): string =>
  m.size === 0
    ? 'none'
    : [...m]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${v.toLocaleString('en-US')} ${k}`)
        .join(', ')

async function until(done: () => boolean, limitMs: number, tick?: () => void): Promise<number> {
  const t0 = performance.now()
  while (!done() && performance.now() - t0 < limitMs) {
    tick?.()
    await sleep(50)
  }
  return performance.now() - t0
}

/**
 * Connects every client (in batches, as a population that arrived over time), waits until
 * every offer went through, then kills `victim`, restarts it with `restart` and measures.
 */
async function wave(
  clients: readonly WaveClient[],
  victim: () => ServerProcess,
  victimUrl: string,
  restart: () => Promise<ServerProcess>,
  stats: WaveStats,
): Promise<WaveFigures> {
  for (let i = 0; i < clients.length; i += 500) {
    for (const c of clients.slice(i, i + 500)) c.conn.start()
    await until(() => clients.slice(i, i + 500).every((c) => c.readyAt > 0), 30_000)
  }
  const settled = await until(() => clients.every((c) => c.doneAt > 0), 60_000)
  console.log(
    `  ${clients.filter((c) => c.doneAt > 0).length} of ${clients.length} clients connected with every offer through (${(settled / 1000).toFixed(1)} s after the last connected)`,
  )
  const rssBeforeMiB = victim().rssBytes() / mib
  stats.errors.clear()
  stats.refused.clear()
  const killedAt = performance.now()
  const dead = victim()
  await dead.kill()
  const t0 = performance.now()
  const affected = clients.filter((c) => c.url === victimUrl)
  console.log(`  node killed; ${affected.length} clients lost their connection`)
  const started = await restart()
  console.log(`  node restarted after ${((performance.now() - killedAt) / 1000).toFixed(1)} s`)
  let rssPeak = 0
  const sample = (): void => {
    rssPeak = Math.max(rssPeak, started.rssBytes())
  }
  await until(() => affected.every((c) => c.readyAt > t0 || c.ended), waveLimitMs, sample)
  const allReadyMs = Math.max(...affected.map((c) => (c.readyAt > t0 ? c.readyAt - killedAt : Infinity)))
  await until(() => affected.every((c) => c.doneAt > t0 || c.ended), waveLimitMs, sample)
  const allOfferedMs = Math.max(...affected.map((c) => (c.doneAt > t0 ? c.doneAt - killedAt : Infinity)))
  sample()
  const readyS = affected
    .filter((c) => c.readyAt > t0)
    .map((c) => (c.readyAt - killedAt) / 1000)
    .sort((a, b) => a - b)
  const at = (q: number): string => (readyS[Math.floor(q * (readyS.length - 1))] ?? NaN).toFixed(1)
  console.log(
    `  authenticated again after (s): p10 ${at(0.1)}, p50 ${at(0.5)}, p90 ${at(0.9)}, p99 ${at(0.99)}, last ${at(1)}`,
  )
  return {
    affected: affected.length,
    allReadyS: allReadyMs / 1000,
    allOfferedS: allOfferedMs / 1000,
    readyCount: affected.filter((c) => c.readyAt > t0).length,
    offeredCount: affected.filter((c) => c.doneAt > t0).length,
    gaveUp: clients.filter((c) => c.ended).length,
    rssPeakMiB: rssPeak / mib,
    rssBeforeMiB,
    errors: list(stats.errors),
    refused: list(stats.refused),
  }
}

function rows(f: WaveFigures, where: string, affected: number): BenchResult[] {
  const conditions = `${clientCount.toLocaleString('en-US')} clients, 5 friends each, ${where}; the real client's back-off (client/core/signaling.ts); ${affected.toLocaleString('en-US')} reconnected (${f.readyCount.toLocaleString('en-US')} authenticated, ${f.offeredCount.toLocaleString('en-US')} with every offer accepted); ${f.gaveUp} gave up; error frames: ${f.errors}; offers refused: ${f.refused}`
  const met = (s: number): boolean => s <= targetS && f.gaveUp === 0 && f.readyCount === affected
  return [
    {
      issue: 17,
      metric: `reconnect wave, ${where}: all authenticated again`,
      value: f.allReadyS,
      unit: 's after the kill',
      target: `≤ ${targetS} s`,
      met: met(f.allReadyS),
      conditions,
    },
    {
      issue: 17,
      metric: `reconnect wave, ${where}: every offer to every friend re-sent and accepted`,
      value: f.allOfferedS,
      unit: 's after the kill',
      target: `≤ ${targetS} s`,
      met: met(f.allOfferedS) && f.offeredCount === affected,
      conditions,
    },
    {
      issue: 17,
      metric: `reconnect wave, ${where}: server RSS peak`,
      value: f.rssPeakMiB,
      unit: 'MiB',
      target: `≤ ${rssTargetMiB} MiB`,
      met: f.rssPeakMiB <= rssTargetMiB,
      conditions: `the restarted node; ${f.rssBeforeMiB.toFixed(0)} MiB on the node before it was killed`,
    },
  ]
}

// Per-address caps off: the 10,000 clients are one address here, not 10,000.
const serverEnv = {
  MAX_CONNECTIONS_PER_IP: '0',
  WS_MAX_UNAUTHENTICATED_PER_IP: '1000000',
}

async function oneNode(): Promise<BenchResult[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tincan-wave-'))
  const port = await freePort()
  let node: ServerProcess | undefined
  const clients: WaveClient[] = []
  try {
    const accounts = await seed({ dataDir })
    node = await startServerProcess(serverEnv, undefined, { port, dataDir })
    const url = `ws://127.0.0.1:${port}/ws`
    const stats: WaveStats = { errors: new Map(), refused: new Map() }
    for (const a of accounts) clients.push(new WaveClient(a, () => url, stats))
    const f = await wave(
      clients,
      () => node as ServerProcess,
      url,
      async () => (node = await startServerProcess(serverEnv, undefined, { port, dataDir })),
      stats,
    )
    console.log(`  one node: ${JSON.stringify(f)}`)
    return rows(f, 'one node (SQLite) killed and restarted', f.affected)
  } finally {
    for (const c of clients) c.conn.stop()
    await node?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function twoNodes(): Promise<BenchResult[]> {
  const db = await createTestDatabase(postgresUrl)
  const prefix = `tincan-wave:${randomBytes(6).toString('hex')}:`
  const env = { ...serverEnv, DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix }
  const ports = [await freePort(), await freePort()] as const
  const nodes: (ServerProcess | undefined)[] = [undefined, undefined]
  const clients: WaveClient[] = []
  try {
    const accounts = await seed({ dataDir: '', databaseUrl: db.url })
    nodes[0] = await startServerProcess(env, undefined, { port: ports[0] })
    nodes[1] = await startServerProcess(env, undefined, { port: ports[1] })
    const stats: WaveStats = { errors: new Map(), refused: new Map() }
    // A load balancer without health checks: each connection goes to either node at random, so
    // while one is down, half the attempts fail and the clients back off.
    const anyNode = (): string => `ws://127.0.0.1:${ports[Math.random() < 0.5 ? 0 : 1]}/ws`
    accounts.forEach((a, i) => {
      const first = `ws://127.0.0.1:${ports[i % 2]}/ws`
      let connects = 0
      clients.push(new WaveClient(a, () => (connects++ === 0 ? first : anyNode()), stats))
    })
    const f = await wave(
      clients,
      () => nodes[0] as ServerProcess,
      `ws://127.0.0.1:${ports[0]}/ws`,
      async () => (nodes[0] = await startServerProcess(env, undefined, { port: ports[0] })),
      stats,
    )
    console.log(`  two nodes: ${JSON.stringify(f)}`)
    return rows(f, 'one of two nodes (PostgreSQL + Redis) killed and restarted', f.affected)
  } finally {
    for (const c of clients) c.conn.stop()
    await Promise.all(nodes.map((n) => n?.stop() ?? Promise.resolve()))
    await db.drop()
    const redis = new Redis(redisUrl)
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  }
}

async function measure(): Promise<BenchResult[]> {
  return [...(await oneNode()), ...(await twoNodes())]
}

const bench: Bench = { name: 'reconnect', run: measure }
export default bench

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const which = process.argv[2]
  const rows = which === 'one' ? await oneNode() : which === 'two' ? await twoNodes() : await measure()
  for (const r of rows) console.log(`${r.metric}: ${r.value.toFixed(2)} ${r.unit} — ${r.conditions}`)
}
