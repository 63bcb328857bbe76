// Issue 17: the relay load generator shared by bench/relay.bench.ts. Pairs of friends, each
// client sending signals of about an ICE candidate's size to its friend. Two ways to load:
//
// - open loop, smooth: frame k is due at t0 + k / rate, whatever happened to the ones before,
//   and its latency is counted from when it was due (so a stall in the generator or the server
//   shows up, instead of being hidden by sending later). The generator wakes every millisecond
//   and sends what is due, so frames leave evenly, not in bursts every 10 ms;
// - closed loop, for the maximum: each client keeps `window` signals unanswered, and sends the
//   next when one is answered (`sent`), so the server runs as fast as it can without queues
//   growing without bound.
//
// Frames are recognised by prefix, not parsed: the generator must not be the bottleneck.
import WebSocket from 'ws'
import { percentile } from './server-process.ts'

export interface RelayUser {
  readonly name: string
  /** The first frame's token (for the bare relay: the name). */
  readonly token: string
}

export interface RelayFigures {
  /** Signals received by friends per second during the measurement. */
  readonly ratePerS: number
  /** Signals sent per second during the measurement. */
  readonly offeredPerS: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Error frames received during the measurement, by code. */
  readonly errors: Readonly<Record<string, number>>
}

export interface RelayLoadOptions {
  /** WebSocket URL for the i-th user. */
  readonly url: (i: number) => string
  /** Users in pairs: 2k and 2k+1 are friends. */
  readonly users: readonly RelayUser[]
  readonly warmupMs: number
  readonly measureMs: number
}

const padding = 'x'.repeat(600) // about the size of an ICE candidate envelope
const signalPrefix = '{"type":"signal"'
const sentPrefix = '{"type":"sent"'

interface Counters {
  measuring: boolean
  received: number
  latencies: number[]
  errors: Map<string, number>
  onSent: (i: number) => void
}

function connectAll(options: RelayLoadOptions, counters: Counters): Promise<WebSocket[]> {
  return Promise.all(
    options.users.map(
      (u, i) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(options.url(i), { perMessageDeflate: false })
          let ready = false
          ws.once('error', reject)
          ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token: u.token })))
          ws.on('message', (data: Buffer) => {
            const raw = data.toString()
            if (!ready) {
              if (raw.startsWith('{"type":"ready"')) {
                ready = true
                resolve(ws)
              } else if (raw.startsWith('{"type":"error"')) reject(new Error(raw))
              return
            }
            if (raw.startsWith(sentPrefix)) {
              counters.onSent(i)
              return
            }
            if (raw.startsWith(signalPrefix)) {
              const at = raw.indexOf('"envelope":"') + 12
              const due = Number(raw.slice(at, raw.indexOf('|', at)))
              if (!counters.measuring || due < 0) return
              counters.received++
              counters.latencies.push(performance.now() - due)
              return
            }
            if (counters.measuring && raw.startsWith('{"type":"error"')) {
              const code = /"code":"([^"]+)"/.exec(raw)?.[1] ?? '?'
              counters.errors.set(code, (counters.errors.get(code) ?? 0) + 1)
            }
          })
        }),
    ),
  )
}

function frameFor(to: string, dueMs: number): string {
  return `{"type":"signal","to":"${to}","sid":"benchsession","envelope":"${dueMs.toFixed(3)}|${padding}"}`
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function figures(counters: Counters, sent: number, elapsedS: number): RelayFigures {
  const sorted = counters.latencies.sort((a, b) => a - b)
  return {
    ratePerS: counters.received / elapsedS,
    offeredPerS: sent / elapsedS,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    errors: Object.fromEntries(counters.errors),
  }
}

/** Open loop at `offeredPerS`, spread evenly over time and over the clients. */
export async function relayOpenLoop(options: RelayLoadOptions, offeredPerS: number): Promise<RelayFigures> {
  const counters: Counters = {
    measuring: false,
    received: 0,
    latencies: [],
    errors: new Map(),
    onSent: () => undefined,
  }
  const sockets = await connectAll(options, counters)
  const names = options.users.map((u) => u.name)
  try {
    const intervalMs = 1000 / offeredPerS
    const t0 = performance.now()
    let k = 0
    let running = true
    let sentInWindow = 0
    const pump = (): void => {
      if (!running) return
      const due = Math.floor((performance.now() - t0) / intervalMs)
      for (; k < due; k++) {
        const i = k % sockets.length
        ;(sockets[i] as WebSocket).send(frameFor(names[i ^ 1] as string, t0 + k * intervalMs))
        if (counters.measuring) sentInWindow++
      }
      setTimeout(pump, 1)
    }
    pump()
    await sleep(options.warmupMs)
    counters.measuring = true
    const m0 = performance.now()
    await sleep(options.measureMs)
    const elapsedS = (performance.now() - m0) / 1000
    running = false
    const received = counters.received
    // Frames still on their way are counted for latency, not for the rate.
    await sleep(500)
    counters.measuring = false
    const f = figures(counters, sentInWindow, elapsedS)
    return { ...f, ratePerS: received / elapsedS }
  } finally {
    for (const ws of sockets) ws.terminate()
  }
}

/** Closed loop: each client keeps `window` signals unanswered. The rate is the server's maximum. */
export async function relayClosedLoop(options: RelayLoadOptions, window: number): Promise<RelayFigures> {
  const names = options.users.map((u) => u.name)
  let sockets: WebSocket[] = []
  let running = false
  let sent = 0
  const counters: Counters = {
    measuring: false,
    received: 0,
    latencies: [],
    errors: new Map(),
    onSent: (i) => {
      if (!running) return
      ;(sockets[i] as WebSocket).send(frameFor(names[i ^ 1] as string, performance.now()))
      if (counters.measuring) sent++
    },
  }
  sockets = await connectAll(options, counters)
  try {
    running = true
    for (let w = 0; w < window; w++)
      sockets.forEach((ws, i) => ws.send(frameFor(names[i ^ 1] as string, performance.now())))
    await sleep(options.warmupMs)
    counters.measuring = true
    const m0 = performance.now()
    await sleep(options.measureMs)
    const elapsedS = (performance.now() - m0) / 1000
    const received = counters.received
    counters.measuring = false
    running = false
    const f = figures(counters, sent, elapsedS)
    return { ...f, ratePerS: received / elapsedS }
  } finally {
    for (const ws of sockets) ws.terminate()
  }
}
