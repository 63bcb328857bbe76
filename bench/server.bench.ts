// Issue 2: how many authenticated WebSocket connections one node holds, in how much memory,
// and how fast it relays signals between friends. Issue 15: the same node under the slow-reader
// attack (D1). The server runs in its own process; this process is the load generator.
import WebSocket from 'ws'
import { limits } from '../shared/index.ts'
import { runSlowReaderAttack } from '../test/helpers/slow-reader-attack.ts'
import type { Bench, BenchResult } from './types.ts'
import {
  mapLimit,
  percentile,
  postJson,
  registerUser,
  startServerProcess,
  type ServerProcess,
} from './server-process.ts'

const connectionTarget = 10_000
const rssTargetBytes = 256 * 2 ** 20
const rssTarget17Bytes = 200 * 2 ** 20
const relayPairs = 200
const relayOfferedPerS = 25_000
const relayDurationMs = 10_000

interface Client {
  readonly ws: WebSocket
  readonly username: string
}

function connect(
  port: number,
  token: string,
  username: string,
  onRaw?: (raw: string) => void,
): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false })
    ws.once('error', reject)
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
    let ready = false
    ws.on('message', (data: Buffer) => {
      const raw = data.toString()
      if (!ready) {
        const frame = JSON.parse(raw) as { type: string }
        if (frame.type === 'ready') {
          ready = true
          resolve({ ws, username })
        } else if (frame.type === 'error') reject(new Error(raw))
        return
      }
      onRaw?.(raw)
    })
  })
}

async function measureConnections(): Promise<BenchResult[]> {
  const server = await startServerProcess({ AUTH_RATE_PER_IP: '10000000' })
  const clients: Client[] = []
  try {
    const names = Array.from({ length: connectionTarget }, (_, i) => `conn${i}`)
    const tokens = await mapLimit(names, 32, (name) => registerUser(server.url, name))
    const idleRss = server.rssBytes()
    let failed = 0
    await mapLimit(names, 200, async (name, i) => {
      try {
        clients.push(await connect(server.port, tokens[i] ?? '', name))
      } catch {
        failed++
      }
    })
    await new Promise((r) => setTimeout(r, 2000))
    const rss = server.rssBytes()
    const held = clients.filter((c) => c.ws.readyState === WebSocket.OPEN).length
    const perSocketKiB = (rss - idleRss) / Math.max(1, held) / 1024
    return [
      {
        issue: 2,
        metric: 'concurrent authenticated WebSocket connections',
        value: held,
        unit: 'connections',
        target: `≥ ${connectionTarget.toLocaleString('en-US')}`,
        met: held >= connectionTarget,
        conditions: `one node, SQLite; ${failed} failed to connect; clients in another process`,
      },
      {
        issue: 2,
        metric: `server RSS with ${held.toLocaleString('en-US')} connections`,
        value: rss / 2 ** 20,
        unit: 'MiB',
        target: '≤ 256 MiB',
        met: held >= connectionTarget && rss <= rssTargetBytes,
        conditions: `idle RSS before connecting ${(idleRss / 2 ** 20).toFixed(0)} MiB`,
      },
      {
        issue: 17,
        metric: `server RSS with ${held.toLocaleString('en-US')} authenticated sockets`,
        value: rss / 2 ** 20,
        unit: 'MiB',
        target: '≤ 200 MiB',
        met: held >= connectionTarget && rss <= rssTarget17Bytes,
        before: '285 MiB (255–292 across runs; 4db99a7, issue 17)',
        conditions: `idle RSS (started, accounts registered, no socket) ${(idleRss / 2 ** 20).toFixed(1)} MiB; ${perSocketKiB.toFixed(2)} KiB per socket; 2 s after the last one connected`,
      },
      {
        issue: 17,
        metric: 'server memory per authenticated socket',
        value: perSocketKiB,
        unit: 'KiB',
        target: '',
        met: null,
        conditions: `(RSS with the sockets − idle RSS) ÷ ${held.toLocaleString('en-US')}`,
      },
    ]
  } finally {
    for (const c of clients) c.ws.terminate()
    await server.stop()
  }
}

async function befriend(
  server: ServerProcess,
  a: { name: string; token: string },
  b: { name: string; token: string },
): Promise<void> {
  await postJson(`${server.url}/api/friends/requests`, { to: b.name }, a.token)
  await postJson(`${server.url}/api/friends/requests/${a.name}/accept`, {}, b.token)
}

async function measureRelay(): Promise<BenchResult[]> {
  const server = await startServerProcess({ AUTH_RATE_PER_IP: '10000000' })
  const clients: Client[] = []
  try {
    const users = await mapLimit(
      Array.from({ length: relayPairs * 2 }, (_, i) => `relay${i}`),
      32,
      async (name) => ({ name, token: await registerUser(server.url, name) }),
    )
    await mapLimit(
      Array.from({ length: relayPairs }, (_, i) => i),
      16,
      (i) =>
        befriend(
          server,
          users[2 * i] as { name: string; token: string },
          users[2 * i + 1] as { name: string; token: string },
        ),
    )
    const latencies: number[] = []
    let received = 0
    let errors = 0
    let measuring = false
    // The generator must not be the bottleneck: frames are recognised by prefix, not parsed.
    const onRaw = (raw: string): void => {
      if (raw.startsWith('{"type":"sent"')) return
      if (raw.startsWith('{"type":"signal"')) {
        if (!measuring) return
        const at = raw.indexOf('"envelope":"') + 12
        received++
        latencies.push(performance.now() - Number(raw.slice(at, raw.indexOf('|', at))))
        return
      }
      if (raw.startsWith('{"type":"error"')) errors++
    }
    for (const u of users) clients.push(await connect(server.port, u.token, u.name, onRaw))

    // Open-loop load: every 10 ms each client sends its share of the offered rate to its friend.
    const perTickPerClient = relayOfferedPerS / clients.length / 100
    const padding = 'x'.repeat(600) // about the size of an ICE candidate envelope
    let carry = 0
    let sent = 0
    const tick = (): void => {
      carry += perTickPerClient
      const n = Math.floor(carry)
      carry -= n
      for (let i = 0; i < clients.length; i++) {
        const c = clients[i] as Client
        const to = (clients[i ^ 1] as Client).username
        for (let k = 0; k < n; k++) {
          c.ws.send(
            JSON.stringify({
              type: 'signal',
              to,
              sid: 'benchsession',
              envelope: `${performance.now()}|${padding}`,
            }),
          )
          sent++
        }
      }
    }
    // Warm up for a second, then measure.
    const timer = setInterval(tick, 10)
    await new Promise((r) => setTimeout(r, 1000))
    measuring = true
    const sentBefore = sent
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, relayDurationMs))
    const elapsedS = (performance.now() - t0) / 1000
    clearInterval(timer)
    const offered = (sent - sentBefore) / elapsedS
    await new Promise((r) => setTimeout(r, 500))
    measuring = false
    latencies.sort((a, b) => a - b)
    const rate = received / elapsedS
    const p50 = percentile(latencies, 50)
    const p99 = percentile(latencies, 99)
    const conditions = `${relayPairs} friend pairs, both directions, ~700-byte envelopes, offered ${Math.round(offered).toLocaleString('en-US')} frames/s for ${relayDurationMs / 1000} s; load generator in another process; ${errors} errors`
    return [
      {
        issue: 2,
        metric: 'relayed signal frames per second',
        value: rate,
        unit: 'frames/s',
        target: '≥ 20,000',
        met: rate >= 20_000,
        conditions,
      },
      {
        issue: 2,
        metric: 'relay latency p50',
        value: p50,
        unit: 'ms',
        target: '',
        met: null,
        conditions: 'send to receive, same clock',
      },
      {
        issue: 2,
        metric: 'relay latency p99',
        value: p99,
        unit: 'ms',
        target: '< 20 ms',
        met: p99 < 20,
        conditions: 'send to receive, same clock',
      },
    ]
  } finally {
    for (const c of clients) c.ws.terminate()
    await server.stop()
  }
}

const attackDurationMs = 20_000
const attackSockets = 2
const mib = 2 ** 20

/**
 * Issue 15, D1: a friend floods a socket that stopped reading with the largest signals, at the
 * default frame rate, while an honest client pings. Before the fix the node grew 25–50 MB/s
 * without levelling off and pings took 736 ms.
 */
async function measureSlowReader(): Promise<BenchResult[]> {
  const server = await startServerProcess({ AUTH_RATE_PER_IP: '10000000' })
  try {
    const r = await runSlowReaderAttack({
      readerBaseUrl: server.url,
      flooderBaseUrl: server.url,
      honestBaseUrl: server.url,
      flooderSockets: attackSockets,
      framesPerS: 200,
      minDurationMs: attackDurationMs,
      maxDurationMs: attackDurationMs,
      pingEveryMs: 20,
      rssBytes: () => server.rssBytes(),
    })
    const pings = [...r.pingsMs].sort((a, b) => a - b)
    const grewBytes = r.rssPeakBytes - r.rssStartBytes
    const conditions = `${attackSockets} sockets × 200 frames/s of ${limits.envelopeMaxLength.toLocaleString('en-US')}-character envelopes to a friend whose socket stopped reading, ${attackDurationMs / 1000} s; ${r.framesSent.toLocaleString('en-US')} sent, ${(r.answers['recipient-busy'] ?? 0).toLocaleString('en-US')} answered recipient-busy; reader closed with ${String(r.readerClosedWith)}`
    const row = (metric: string, value: number, unit: string, target = '', met: boolean | null = null) => ({
      issue: 15,
      metric: `slow-reader attack: ${metric}`,
      value,
      unit,
      target,
      met,
      conditions,
    })
    return [
      row('server RSS at start', r.rssStartBytes / mib, 'MiB'),
      row('server RSS peak', r.rssPeakBytes / mib, 'MiB', '≤ start + 100 MiB', grewBytes <= 100 * mib),
      row('server RSS at end', r.rssEndBytes / mib, 'MiB'),
      row('honest client ping p50', percentile(pings, 50), 'ms'),
      row('honest client ping p99', percentile(pings, 99), 'ms', '< 50 ms', percentile(pings, 99) < 50),
    ]
  } finally {
    await server.stop()
  }
}

const bench: Bench = {
  name: 'server',
  async run() {
    return [...(await measureConnections()), ...(await measureRelay()), ...(await measureSlowReader())]
  },
}
export default bench
