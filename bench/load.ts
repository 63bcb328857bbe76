// Long: one load generator, its simulated client and its report, kept together so a run is read in one place.
// Issue 9: a crowd of simulated clients against one server. Each is a real WebSocket client
// with a real account: it logs in, tells its friends it is online, sends them signal frames,
// pings, drops off and comes back (sometimes with a fresh login), like a browser tab on a bad
// network. Every frame it sends is well-formed, so every one must be answered: `sent` or a
// typed error for a signal, `pong` for a ping. Used by bench/load.bench.ts (1,000 clients,
// 5 minutes) and test/integration/reliability/load.test.ts (200 clients, 30 seconds).
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'

/** The server under load, in its own process. */
export interface LoadTarget {
  readonly baseUrl: string
  readonly wsUrl: string
  /** Resident set size of the server process, in bytes. */
  rssBytes(): number
}

export interface LoadOptions {
  readonly clients: number
  readonly durationMs: number
  /** Resident memory is taken as the baseline this long after the load starts. */
  readonly warmupMs: number
  /** After the load stops and every client is back online: idle time before the last RSS reading. */
  readonly quietMs: number
  /** Friends come in cliques of this size (everyone in a clique befriends everyone else). */
  readonly groupSize?: number
  /** Signal frames per online client per second, on average. */
  readonly signalsPerS?: number
  /** Pings per online client per second, on average. */
  readonly pingsPerS?: number
  /** How often a client drops its connection, on average. */
  readonly reconnectEveryMs?: number
  /** Of the reconnections, the share that logs in again (new session) and logs the old one out. */
  readonly freshLoginShare?: number
  readonly log?: (line: string) => void
}

export interface LoadReport {
  readonly clients: number
  readonly durationS: number
  readonly framesSent: number
  readonly framesAnswered: number
  /** Well-formed frames that got no answer at all. Must be 0. */
  readonly unanswered: number
  readonly answers: Readonly<Record<string, number>>
  readonly signalsReceived: number
  /** Relayed signals whose envelope names another sender than `from`. Must be 0. */
  readonly misrouted: number
  readonly presenceFrames: number
  readonly connections: number
  readonly reconnects: number
  readonly freshLogins: number
  readonly httpRequests: number
  /** HTTP answers 5xx, `internal` or `storage-unavailable` frames, closes the client did not ask for, failed connects. Must be 0. */
  readonly serverErrors: number
  readonly serverErrorDetail: readonly string[]
  /** Clients whose online-friends set differs from the truth once everyone is back. Must be 0. */
  readonly presenceMismatches: number
  readonly rssAfterWarmupBytes: number
  readonly rssPeakBytes: number
  readonly rssEndBytes: number
  /** (end − after warm-up) / after warm-up. */
  readonly rssGrowth: number
}

type Answerable = 'signal' | 'ping'

interface SimClient {
  readonly username: string
  readonly authKey: string
  token: string
  friends: string[]
  ws: WebSocket | undefined
  state: 'offline' | 'connecting' | 'online' | 'leaving'
  readonly online: Set<string>
  /** ref → what was sent */
  readonly pending: Map<string, Answerable>
  nextRef: number
  /** When a leaving client gives up waiting for answers, or when an offline one comes back. */
  dueAt: number
  signalBudget: number
  seq: number
}

const b64 = (bytes: number): string => randomBytes(bytes).toString('base64url')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const tickMs = 100

/** Runs `fn` over `items` with at most `concurrency` in flight. */
async function eachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T)
    }),
  )
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadReport> {
  const groupSize = options.groupSize ?? 5
  const signalsPerS = options.signalsPerS ?? 1
  const pingsPerS = options.pingsPerS ?? 0.2
  const reconnectEveryMs = options.reconnectEveryMs ?? 30_000
  const freshLoginShare = options.freshLoginShare ?? 0.3
  const log = options.log ?? (() => undefined)

  const counts = {
    framesSent: 0,
    framesAnswered: 0,
    unanswered: 0,
    signalsReceived: 0,
    misrouted: 0,
    presenceFrames: 0,
    connections: 0,
    reconnects: 0,
    freshLogins: 0,
    httpRequests: 0,
  }
  const answers = new Map<string, number>()
  const serverErrors: string[] = []
  const serverError = (what: string): void => {
    serverErrors.push(what)
    if (serverErrors.length <= 5) log(`server error: ${what}`)
  }

  async function http(method: string, path: string, body?: unknown, token?: string): Promise<unknown> {
    counts.httpRequests++
    let res: Response
    try {
      res = await fetch(target.baseUrl + path, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (e: unknown) {
      serverError(`${method} ${path}: ${e instanceof Error ? e.message : String(e)}`)
      throw e
    }
    const text = await res.text()
    if (res.status >= 500) serverError(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`)
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`)
    return text === '' ? undefined : (JSON.parse(text) as unknown)
  }

  // ---- accounts and friends ----
  const runId = b64(3)
    .replace(/[^A-Za-z0-9]/g, 'x')
    .toLowerCase()
  const clients: SimClient[] = []
  const started = Date.now()
  await eachLimit(
    Array.from({ length: options.clients }, (_, i) => i),
    32,
    async (i) => {
      const username = `load_${runId}_${i}`
      const authKey = b64(32)
      const grant = (await http('POST', '/api/register', {
        username,
        salt: b64(16),
        kdf: { alg: 'argon2id13', opsLimit: 3, memLimitBytes: 67_108_864 },
        authKey,
        identityKey: b64(32),
        keyBundle: b64(96),
      })) as { token: string }
      clients[i] = {
        username,
        authKey,
        token: grant.token,
        friends: [],
        ws: undefined,
        state: 'offline',
        online: new Set(),
        pending: new Map(),
        nextRef: 0,
        dueAt: 0,
        signalBudget: 0,
        seq: 0,
      }
    },
  )
  const pairs: [SimClient, SimClient][] = []
  for (let g = 0; g < clients.length; g += groupSize) {
    const group = clients.slice(g, g + groupSize)
    for (let i = 0; i < group.length; i++)
      for (let j = i + 1; j < group.length; j++) pairs.push([group[i] as SimClient, group[j] as SimClient])
  }
  await eachLimit(pairs, 32, async ([a, b]) => {
    await http('POST', '/api/friends/requests', { to: b.username }, a.token)
    await http('POST', `/api/friends/requests/${a.username}/accept`, undefined, b.token)
    a.friends.push(b.username)
    b.friends.push(a.username)
  })
  log(
    `${clients.length} accounts, ${pairs.length} friendships in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )

  // ---- one client's connection ----
  let running = true

  function send(c: SimClient, frame: Record<string, unknown>, kind: Answerable): void {
    const ref = `r${c.nextRef++}`
    c.pending.set(ref, kind)
    counts.framesSent++
    c.ws?.send(JSON.stringify({ ...frame, ref }))
  }

  function receive(c: SimClient, text: string): void {
    const frame = JSON.parse(text) as {
      type: string
      ref?: string
      code?: string
      from?: string
      envelope?: string
      username?: string
      online?: boolean | string[]
    }
    switch (frame.type) {
      case 'sent':
      case 'pong':
      case 'error': {
        const key = frame.type === 'error' ? `error:${frame.code ?? '?'}` : frame.type
        if (frame.code === 'internal' || frame.code === 'storage-unavailable')
          serverError(`${c.username}: error frame ${frame.code}`)
        if (frame.ref !== undefined && c.pending.delete(frame.ref)) {
          counts.framesAnswered++
          answers.set(key, (answers.get(key) ?? 0) + 1)
        } else if (frame.type === 'error')
          serverError(`${c.username}: unsolicited error ${frame.code ?? '?'}`)
        return
      }
      case 'signal':
        counts.signalsReceived++
        if (frame.envelope?.startsWith(`${frame.from ?? ''}|`) !== true) counts.misrouted++
        return
      case 'presence':
        counts.presenceFrames++
        if (frame.username !== undefined) {
          if (frame.online === true) c.online.add(frame.username)
          else c.online.delete(frame.username)
        }
        return
      default:
        return
    }
  }

  /** Connects (after a fresh login, sometimes); resolves once `ready` arrived or it failed. */
  async function connect(c: SimClient, freshLogin: boolean): Promise<void> {
    c.state = 'connecting'
    try {
      if (freshLogin) {
        const old = c.token
        const grant = (await http('POST', '/api/login', { username: c.username, authKey: c.authKey })) as {
          token: string
        }
        c.token = grant.token
        await http('POST', '/api/logout', undefined, old)
        counts.freshLogins++
      }
    } catch {
      c.state = 'offline'
      c.dueAt = Date.now() + 1_000
      return
    }
    await new Promise<void>((done) => {
      const ws = new WebSocket(target.wsUrl, { perMessageDeflate: false })
      c.ws = ws
      let ready = false
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: c.token, ref: 'auth' })))
      ws.on('message', (data: Buffer) => {
        const text = data.toString()
        if (ready) {
          receive(c, text)
          return
        }
        const frame = JSON.parse(text) as { type: string; online?: string[]; code?: string }
        if (frame.type === 'ready') {
          ready = true
          counts.connections++
          c.online.clear()
          for (const u of frame.online ?? []) c.online.add(u)
          c.state = 'online'
          done()
        } else if (frame.type === 'error') serverError(`${c.username}: auth answered ${frame.code ?? '?'}`)
        else if (frame.type === 'presence') receive(c, text)
      })
      ws.on('error', (e) => {
        if (!ready) serverError(`${c.username}: connect failed: ${e.message}`)
      })
      ws.on('close', (code) => {
        if (c.ws !== ws) return
        c.ws = undefined
        const lost = c.pending.size
        if (c.state !== 'leaving') serverError(`${c.username}: closed by the server (${code})`)
        if (lost > 0) {
          counts.unanswered += lost
          c.pending.clear()
        }
        c.online.clear()
        c.state = 'offline'
        // Back after a short random pause, like a client's backoff.
        c.dueAt = Date.now() + 200 + Math.random() * 1_800
        if (!ready) done()
      })
    })
  }

  function tick(now: number): void {
    const share = tickMs / 1000
    for (const c of clients) {
      switch (c.state) {
        case 'online': {
          if (!running) break
          c.signalBudget += signalsPerS * share * 2 * Math.random()
          while (c.signalBudget >= 1) {
            c.signalBudget--
            const friends = [...c.online]
            const to = friends[Math.floor(Math.random() * friends.length)]
            if (to === undefined) break
            // Roughly an SDP offer or an ICE candidate; the envelope names its sender.
            const envelope = `${c.username}|${c.seq++}|${'x'.repeat(200 + Math.floor(Math.random() * 1_800))}`
            send(
              c,
              { type: 'signal', to, sid: `sid_${c.seq % 1000}_${c.username.length}`, envelope },
              'signal',
            )
          }
          if (Math.random() < pingsPerS * share) send(c, { type: 'ping' }, 'ping')
          if (Math.random() < tickMs / reconnectEveryMs) {
            c.state = 'leaving'
            c.dueAt = now + 10_000
          }
          break
        }
        case 'leaving':
          // Leave once everything sent has been answered (or after 10 s, counting what was not).
          if (c.pending.size === 0 || now > c.dueAt) c.ws?.close(1000)
          break
        case 'offline':
          if (running && now >= c.dueAt) {
            counts.reconnects++
            void connect(c, Math.random() < freshLoginShare)
          }
          break
        case 'connecting':
          break
        default: {
          const unreachable: never = c.state
          return unreachable
        }
      }
    }
  }

  // ---- the run ----
  await eachLimit(clients, 50, (c) => connect(c, false))
  log(`${clients.filter((c) => c.state === 'online').length} clients online`)
  const loadStarted = Date.now()
  let rssAfterWarmupBytes = 0
  let rssPeakBytes = target.rssBytes()
  let lastReport = loadStarted
  while (Date.now() - loadStarted < options.durationMs) {
    const t = Date.now()
    tick(t)
    if (rssAfterWarmupBytes === 0 && t - loadStarted >= options.warmupMs) {
      rssAfterWarmupBytes = target.rssBytes()
      log(`after warm-up: RSS ${(rssAfterWarmupBytes / 2 ** 20).toFixed(1)} MiB`)
    }
    rssPeakBytes = Math.max(rssPeakBytes, target.rssBytes())
    if (t - lastReport >= 30_000) {
      lastReport = t
      log(
        `${Math.round((t - loadStarted) / 1000)} s: ${counts.framesSent} frames sent, ${counts.framesAnswered} answered, ${counts.reconnects} reconnects, RSS ${(target.rssBytes() / 2 ** 20).toFixed(1)} MiB`,
      )
    }
    await sleep(Math.max(0, tickMs - (Date.now() - t)))
  }
  if (rssAfterWarmupBytes === 0) rssAfterWarmupBytes = target.rssBytes()

  // ---- wind down: let answers arrive, bring everyone back, stay quiet, measure ----
  running = false
  const drainUntil = Date.now() + 20_000
  while (clients.some((c) => c.pending.size > 0 || c.state === 'leaving') && Date.now() < drainUntil) {
    tick(Date.now())
    await sleep(tickMs)
  }
  for (const c of clients) {
    counts.unanswered += c.pending.size
    c.pending.clear()
  }
  for (let attempt = 0; attempt < 100 && clients.some((c) => c.state !== 'online'); attempt++) {
    await eachLimit(
      clients.filter((c) => c.state === 'offline'),
      50,
      (c) => connect(c, false),
    )
    await sleep(tickMs)
  }
  await sleep(options.quietMs)
  const rssEndBytes = target.rssBytes()
  const everyone = new Set(clients.filter((c) => c.state === 'online').map((c) => c.username))
  let presenceMismatches = 0
  for (const c of clients) {
    const expected = c.friends.filter((f) => everyone.has(f)).sort()
    if (JSON.stringify([...c.online].sort()) !== JSON.stringify(expected)) presenceMismatches++
  }
  for (const c of clients) {
    c.state = 'leaving'
    c.ws?.close(1000)
  }
  await sleep(500)

  return {
    clients: clients.length,
    durationS: options.durationMs / 1000,
    ...counts,
    answers: Object.fromEntries([...answers].sort()),
    serverErrors: serverErrors.length,
    serverErrorDetail: serverErrors.slice(0, 20),
    presenceMismatches,
    rssAfterWarmupBytes,
    rssPeakBytes,
    rssEndBytes,
    rssGrowth: (rssEndBytes - rssAfterWarmupBytes) / rssAfterWarmupBytes,
  }
}

/** Errors the server counted itself, from /metrics: `internal` and `storage-unavailable`, by transport. */
export async function serverErrorMetrics(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text()
  return text
    .split('\n')
    .filter((l) => /^tincan_errors_total\{.*code="(internal|storage-unavailable)"\}/.test(l))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0)
}

export function formatReport(r: LoadReport): string {
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`
  return [
    `${r.clients} clients for ${r.durationS} s`,
    `frames sent ${r.framesSent}, answered ${r.framesAnswered}, unanswered ${r.unanswered}`,
    `answers ${JSON.stringify(r.answers)}`,
    `signals received by friends ${r.signalsReceived} (misrouted ${r.misrouted}), presence frames ${r.presenceFrames}`,
    `connections ${r.connections}, reconnects ${r.reconnects} (fresh logins ${r.freshLogins}), HTTP requests ${r.httpRequests}`,
    `server errors ${r.serverErrors}${r.serverErrors > 0 ? `: ${r.serverErrorDetail.join('; ')}` : ''}`,
    `presence mismatches once everyone is back ${r.presenceMismatches}`,
    `server RSS after warm-up ${mib(r.rssAfterWarmupBytes)}, peak ${mib(r.rssPeakBytes)}, at the end ${mib(r.rssEndBytes)} (${(r.rssGrowth * 100).toFixed(1)} %)`,
  ].join('\n')
}
