// Issue 8: several nodes behind a load balancer. Signal relay between friends on two nodes
// (every frame crosses Redis) against one node, in the same run on the same PostgreSQL
// database; then authenticated connections held across two nodes. Servers run in their own
// processes; this process is the load generator. Redis and PostgreSQL share the same 2 cores.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { createTestDatabase, defaultPostgresUrl } from '../test/helpers/postgres.ts'
import type { Bench, BenchResult } from './types.ts'
import {
  mapLimit,
  percentile,
  postJson,
  registerUser,
  startServerProcess,
  type ServerProcess,
} from './server-process.ts'

const redisUrl = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const postgresUrl = process.env['TINCAN_TEST_POSTGRES_URL'] ?? defaultPostgresUrl
const relayPairs = 200
const saturatingPerS = 30_000
const steadyPerS = 4_000
const warmupMs = 1_000
const measureMs = 6_000
const connectionsPerNode = 5_000

interface User {
  readonly name: string
  readonly token: string
}

interface Frame {
  type: string
  envelope?: string
}

function connect(port: number, token: string, onFrame?: (frame: Frame) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false })
    ws.once('error', reject)
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame
      if (frame.type === 'ready') resolve(ws)
      else if (frame.type === 'error' && onFrame === undefined) reject(new Error(data.toString()))
      onFrame?.(frame)
    })
  })
}

interface RelayFigures {
  readonly ratePerS: number
  readonly offeredPerS: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
}

/**
 * Friend pairs, the first of each pair on `left`, the second on `right`; each client sends its
 * share of `offeredPerS` to its friend every 10 ms (open loop) and the receiver timestamps it.
 */
async function relay(
  left: ServerProcess,
  right: ServerProcess,
  users: readonly User[],
  offeredPerS: number,
): Promise<RelayFigures> {
  const latencies: number[] = []
  let received = 0
  let errors = 0
  let measuring = false
  const onFrame = (frame: Frame): void => {
    if (frame.type === 'signal' && frame.envelope !== undefined) {
      if (!measuring) return
      received++
      latencies.push(performance.now() - Number(frame.envelope.slice(0, frame.envelope.indexOf('|'))))
    } else if (frame.type === 'error') errors++
  }
  const sockets = await mapLimit(users, 50, (u, i) =>
    connect((i % 2 === 0 ? left : right).port, u.token, onFrame),
  )
  try {
    const perTickPerClient = offeredPerS / sockets.length / 100
    const padding = 'x'.repeat(600) // about the size of an ICE candidate envelope
    let carry = 0
    let sent = 0
    const tick = (): void => {
      carry += perTickPerClient
      const n = Math.floor(carry)
      carry -= n
      for (let i = 0; i < sockets.length; i++) {
        const to = (users[i ^ 1] as User).name
        for (let k = 0; k < n; k++) {
          const envelope = `${performance.now()}|${padding}`
          ;(sockets[i] as WebSocket).send(
            JSON.stringify({ type: 'signal', to, sid: 'benchsession', envelope }),
          )
          sent++
        }
      }
    }
    const timer = setInterval(tick, 10)
    await new Promise((r) => setTimeout(r, warmupMs))
    measuring = true
    errors = 0
    const sentBefore = sent
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, measureMs))
    const elapsedS = (performance.now() - t0) / 1000
    clearInterval(timer)
    const offered = (sent - sentBefore) / elapsedS
    const rate = received / elapsedS
    await new Promise((r) => setTimeout(r, 500))
    measuring = false
    latencies.sort((a, b) => a - b)
    return {
      ratePerS: rate,
      offeredPerS: offered,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors,
    }
  } finally {
    for (const ws of sockets) ws.terminate()
  }
}

async function relayBoth(left: ServerProcess, right: ServerProcess, users: readonly User[]) {
  const saturated = await relay(left, right, users, saturatingPerS)
  const steady = await relay(left, right, users, steadyPerS)
  return { saturated, steady }
}

async function measureConnections(nodes: readonly ServerProcess[]): Promise<BenchResult[]> {
  const total = connectionsPerNode * nodes.length
  const names = Array.from({ length: total }, (_, i) => `conn${i}`)
  // Registration goes to any node, as a load balancer would spread it.
  const tokens = await mapLimit(names, 32, (name, i) =>
    registerUser((nodes[i % nodes.length] as ServerProcess).url, name),
  )
  const sockets: WebSocket[] = []
  let failed = 0
  try {
    const idle = nodes.map((n) => n.rssBytes())
    const t0 = performance.now()
    await mapLimit(names, 200, async (_name, i) => {
      try {
        sockets.push(await connect((nodes[i % nodes.length] as ServerProcess).port, tokens[i] ?? ''))
      } catch {
        failed++
      }
    })
    const connectS = (performance.now() - t0) / 1000
    await new Promise((r) => setTimeout(r, 2000))
    const held = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length
    const rss = nodes.map((n) => n.rssBytes() / 2 ** 20)
    return [
      {
        issue: 8,
        metric: 'authenticated WebSocket connections held across two nodes',
        value: held,
        unit: 'connections',
        target: `≥ ${total.toLocaleString('en-US')}`,
        met: held >= total,
        conditions: `${connectionsPerNode.toLocaleString('en-US')} per node, PostgreSQL + Redis hub; ${failed} failed; all connected in ${connectS.toFixed(1)} s (${Math.round(total / connectS)} auth/s)`,
      },
      {
        issue: 8,
        metric: 'server RSS per node with those connections',
        value: Math.max(...rss),
        unit: 'MiB',
        target: '≤ 256 MiB',
        met: Math.max(...rss) <= 256,
        conditions: `largest of ${rss.map((r) => r.toFixed(0)).join(' / ')} MiB; idle before connecting ${idle.map((r) => (r / 2 ** 20).toFixed(0)).join(' / ')} MiB`,
      },
    ]
  } finally {
    for (const ws of sockets) ws.terminate()
  }
}

const bench: Bench = {
  name: 'scale',
  async run() {
    const db = await createTestDatabase(postgresUrl)
    const prefix = `tincan-bench:${randomBytes(6).toString('hex')}:`
    const common = {
      DATABASE_URL: db.url,
      AUTH_RATE_PER_IP: '10000000',
      WS_FRAMES_PER_S: '100000',
      SHUTDOWN_GRACE_MS: '200',
    }
    const clustered = { ...common, REDIS_URL: redisUrl, REDIS_PREFIX: prefix }
    const running: ServerProcess[] = []
    try {
      // One node, in-process hub: the baseline.
      const single = await startServerProcess(common)
      running.push(single)
      const users = await mapLimit(
        Array.from({ length: relayPairs * 2 }, (_, i) => `relay${i}`),
        32,
        async (name) => ({ name, token: await registerUser(single.url, name) }),
      )
      await mapLimit(
        Array.from({ length: relayPairs }, (_, i) => i),
        16,
        async (i) => {
          const [a, b] = [users[2 * i] as User, users[2 * i + 1] as User]
          await postJson(`${single.url}/api/friends/requests`, { to: b.name }, a.token)
          await postJson(`${single.url}/api/friends/requests/${a.name}/accept`, {}, b.token)
        },
      )
      const one = await relayBoth(single, single, users)
      await single.stop()
      running.length = 0

      // Two nodes over Redis, each pair split across them.
      const [n1, n2] = await Promise.all([startServerProcess(clustered), startServerProcess(clustered)])
      running.push(n1, n2)
      const two = await relayBoth(n1, n2, users)
      // Fresh nodes for the connection count, so their memory is the connections' and not the relay's.
      await Promise.all([n1.stop(), n2.stop()])
      running.length = 0
      const fresh = await Promise.all([startServerProcess(clustered), startServerProcess(clustered)])
      running.push(...fresh)
      const connections = await measureConnections(fresh)

      const ratio = two.saturated.ratePerS / one.saturated.ratePerS
      const load = (f: RelayFigures): string =>
        `offered ${Math.round(f.offeredPerS).toLocaleString('en-US')} frames/s for ${measureMs / 1000} s; ${f.errors} errors`
      const pairsNote = `${relayPairs} friend pairs, both directions, ~700-byte envelopes, PostgreSQL`
      return [
        {
          issue: 8,
          metric: 'relayed signal frames per second, one node (in-process hub)',
          value: one.saturated.ratePerS,
          unit: 'frames/s',
          target: '',
          met: null,
          conditions: `${pairsNote}; ${load(one.saturated)}`,
        },
        {
          issue: 8,
          metric: 'relayed signal frames per second, two nodes over Redis (every frame crosses nodes)',
          value: two.saturated.ratePerS,
          unit: 'frames/s',
          target: '',
          met: null,
          conditions: `${pairsNote}; ${load(two.saturated)}; both nodes, Redis and the load generator share 2 cores`,
        },
        {
          issue: 8,
          metric: 'relay throughput, two nodes over Redis ÷ one node',
          value: ratio,
          unit: '×',
          target: '',
          met: null,
          conditions: 'same run, same database, same load generator',
        },
        {
          issue: 8,
          metric: 'relay latency p50 / p99, one node',
          value: one.steady.p50Ms,
          unit: 'ms (p50)',
          target: '',
          met: null,
          conditions: `p99 ${one.steady.p99Ms.toFixed(2)} ms; ${load(one.steady)}; send to receive, same clock`,
        },
        {
          issue: 8,
          metric: 'relay latency p50 / p99, two nodes over Redis',
          value: two.steady.p50Ms,
          unit: 'ms (p50)',
          target: '',
          met: null,
          conditions: `p99 ${two.steady.p99Ms.toFixed(2)} ms; ${load(two.steady)}; send to receive, same clock`,
        },
        ...connections,
      ]
    } finally {
      await Promise.all(running.map((n) => n.stop()))
      await db.drop()
      const redis = new Redis(redisUrl)
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    }
  },
}
export default bench
