// Issue 17: the relay at the limit of the machine. In one run, the same load through Tincan's
// /ws and through a bare `ws` relay of the same frames (bench/bare-relay.ts: no auth, no
// checks): each one's maximum (closed loop), then latency at half of Tincan's maximum with a
// smooth open-loop generator (bench/relay-load.ts), on SQLite and on PostgreSQL. Servers run in
// their own processes; this process is the load generator, on the same 2 cores.
//
//   npm run bench relay
//   BENCH_CPU_PROF=/tmp/prof npx tsx bench/relay.bench.ts   (CPU profiles of the servers, prints only)
import { pathToFileURL } from 'node:url'
import { createTestDatabase, defaultPostgresUrl } from '../test/helpers/postgres.ts'
import { relayClosedLoop, relayOpenLoop, type RelayFigures, type RelayUser } from './relay-load.ts'
import { mapLimit, postJson, registerUser, startServerProcess, type ServerProcess } from './server-process.ts'
import type { Bench, BenchResult } from './types.ts'

const postgresUrl = process.env['TINCAN_TEST_POSTGRES_URL'] ?? defaultPostgresUrl
const pairs = 200
const window = 8
const warmupMs = 1_500
const measureMs = 6_000

// Per-address caps off (the generator is one address), and no per-socket frame rate: the
// closed loop runs each socket as fast as the server answers.
const serverEnv = {
  AUTH_RATE_PER_IP: '10000000',
  WS_FRAMES_PER_S: '100000',
}

async function tincanUsers(server: ServerProcess): Promise<RelayUser[]> {
  const users = await mapLimit(
    Array.from({ length: pairs * 2 }, (_, i) => `relay${i}`),
    32,
    async (name) => ({ name, token: await registerUser(server.url, name) }),
  )
  await mapLimit(
    Array.from({ length: pairs }, (_, i) => i),
    16,
    async (i) => {
      const [a, b] = [users[2 * i] as RelayUser, users[2 * i + 1] as RelayUser]
      await postJson(`${server.url}/api/friends/requests`, { to: b.name }, a.token)
      await postJson(`${server.url}/api/friends/requests/${a.name}/accept`, {}, b.token)
    },
  )
  return users
}

const wsUrl = (server: ServerProcess) => () => `ws://127.0.0.1:${server.port}/ws`

function errorsOf(f: RelayFigures): string {
  const list = Object.entries(f.errors)
  return list.length === 0 ? 'no errors' : list.map(([code, n]) => `${n} ${code}`).join(', ')
}

function log(what: string, f: RelayFigures): void {
  console.log(
    `  ${what}: ${Math.round(f.ratePerS)} frames/s received (offered ${Math.round(f.offeredPerS)}), p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms, max ${f.maxMs.toFixed(1)} ms; ${errorsOf(f)}`,
  )
}

async function measure(): Promise<BenchResult[]> {
  const running: ServerProcess[] = []
  const db = await createTestDatabase(postgresUrl)
  try {
    const tincan = await startServerProcess(serverEnv)
    running.push(tincan)
    const bare = await startServerProcess({}, 'bench/bare-relay.ts')
    running.push(bare)
    const users = await tincanUsers(tincan)
    const bareUsers = users.map((u) => ({ name: u.name, token: u.name }))
    const load = { warmupMs, measureMs }

    const tincanMax = await relayClosedLoop({ ...load, users, url: wsUrl(tincan) }, window)
    log('Tincan, closed loop', tincanMax)
    const bareMax = await relayClosedLoop({ ...load, users: bareUsers, url: wsUrl(bare) }, window)
    log('bare ws relay, closed loop', bareMax)
    const half = Math.round(tincanMax.ratePerS / 2)
    const tincanHalf = await relayOpenLoop({ ...load, users, url: wsUrl(tincan) }, half)
    log('Tincan, open loop at half its maximum', tincanHalf)
    const bareHalf = await relayOpenLoop({ ...load, users: bareUsers, url: wsUrl(bare) }, half)
    log('bare ws relay, same open loop', bareHalf)
    await Promise.all(running.map((s) => s.stop()))
    running.length = 0

    const pg = await startServerProcess({ ...serverEnv, DATABASE_URL: db.url })
    running.push(pg)
    const pgUsers = await tincanUsers(pg)
    const pgHalf = await relayOpenLoop({ ...load, users: pgUsers, url: wsUrl(pg) }, half)
    log('Tincan on PostgreSQL, same open loop', pgHalf)

    const ratio = tincanMax.ratePerS / bareMax.ratePerS
    const setup = `${pairs} friend pairs, both directions, ~700-byte envelopes; servers and this generator share 2 cores`
    const closed = (f: RelayFigures): string =>
      `closed loop, ${window} signals unanswered per client, ${measureMs / 1000} s; p50 ${f.p50Ms.toFixed(2)} ms; ${errorsOf(f)}`
    const open = (f: RelayFigures): string =>
      `smooth open loop (each frame due at its own time, latency from when it was due), offered ${Math.round(f.offeredPerS).toLocaleString('en-US')} frames/s = half of Tincan's maximum, ${measureMs / 1000} s; p99 ${f.p99Ms.toFixed(2)} ms, max ${f.maxMs.toFixed(1)} ms; ${errorsOf(f)}`
    return [
      {
        issue: 17,
        metric: 'relay maximum, Tincan /ws (SQLite)',
        before: '24,142 frames/s, bursty 10 ms generator (4db99a7, issue 17)',
        value: tincanMax.ratePerS,
        unit: 'frames/s',
        target: '',
        met: null,
        conditions: `${setup}; ${closed(tincanMax)}`,
      },
      {
        issue: 17,
        metric: 'relay maximum, bare ws relay of the same frames (baseline)',
        value: bareMax.ratePerS,
        unit: 'frames/s',
        target: '',
        met: null,
        conditions: `${setup}; ${closed(bareMax)}; no auth, no checks`,
      },
      {
        issue: 17,
        metric: 'relay maximum, Tincan ÷ bare ws relay',
        value: ratio,
        unit: '×',
        target: '≥ 0.7×',
        met: ratio >= 0.7,
        conditions: 'same run, same generator',
      },
      {
        issue: 17,
        metric: 'relay latency p50 / p99 at half of the maximum, Tincan (SQLite)',
        before: 'p50 5.9 ms, p99 43.3 ms at the maximum (4db99a7, issue 17)',
        value: tincanHalf.p50Ms,
        unit: 'ms (p50)',
        target: 'p99 ≤ 10 ms',
        met: tincanHalf.p99Ms <= 10,
        conditions: open(tincanHalf),
      },
      {
        issue: 17,
        metric: 'relay latency p50 / p99 at the same rate, bare ws relay',
        value: bareHalf.p50Ms,
        unit: 'ms (p50)',
        target: '',
        met: null,
        conditions: open(bareHalf),
      },
      {
        issue: 17,
        metric: 'relay latency p50 / p99 at the same rate, Tincan on PostgreSQL',
        before: 'p50 14.4 ms, p99 181 ms at 3,600 frames/s (4db99a7, issue 17)',
        value: pgHalf.p50Ms,
        unit: 'ms (p50)',
        target: 'p99 ≤ 10 ms',
        met: pgHalf.p99Ms <= 10,
        conditions: open(pgHalf),
      },
    ]
  } finally {
    await Promise.all(running.map((s) => s.stop()))
    await db.drop()
  }
}

const bench: Bench = { name: 'relay', run: measure }
export default bench

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await measure()
  for (const r of rows) console.log(`${r.metric}: ${r.value.toFixed(2)} ${r.unit} — ${r.conditions}`)
}
