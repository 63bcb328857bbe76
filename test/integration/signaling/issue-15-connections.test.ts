// Issue 15: what one client may hold open and how long it may dawdle. D4: one anonymous client
// opened 19,975 connections trickling a byte every 10 s and the node ran out of descriptors,
// with nothing in the log. D9: a client's invalid frames were logged at `error` with a stack.
// D10: sockets per account had no limit. D12: a bad first frame left the socket open until the
// auth timeout.
import { connect, type Socket } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { closeCodes, limits } from '../../../shared/index.ts'
import { Api, registerAccount } from '../../helpers/api.ts'
import { startServer, startServerProcess, type ServerProcess, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { Sockets, WsClient } from '../../helpers/ws-client.ts'

/** A raw TCP connection to the server, keeping what it received and whether it closed. */
class Raw {
  received = ''
  closed = false
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => (this.received += chunk.toString('latin1')))
    socket.on('close', () => (this.closed = true))
    socket.on('error', () => undefined)
  }

  static async open(port: number): Promise<Raw> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new Raw(socket)
  }

  /** Sends a request on this connection and waits for a whole answer (or the close). */
  async get(path: string): Promise<string> {
    const before = this.received.length
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: tincan\r\n\r\n`)
    await until(
      'an answer',
      () => this.closed || /\r\n\r\n[\s\S]*\}/.test(this.received.slice(before)),
      10_000,
    )
    return this.received.slice(before)
  }
}

/** Log lines (pino JSON) the server process wrote. */
/** Waits (bounded) for a warning naming `setting`: the child's log arrives on its own schedule. */
async function untilWarned(server: ServerProcess, setting: string): Promise<boolean> {
  return until(`a warning naming ${setting}`, () =>
    logLines(server).some((l) => l.level === 40 && l.msg.includes(setting)),
  )
}

function logLines(server: ServerProcess): { level: number; msg: string; raw: string }[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((raw) => ({ ...(JSON.parse(raw) as { level: number; msg: string }), raw }))
}

describe('connections per address (issue 15, D4)', () => {
  let server: ServerProcess
  const raws: Raw[] = []

  beforeAll(async () => {
    server = await startServerProcess({
      env: { MAX_CONNECTIONS_PER_IP: '5', WS_MAX_UNAUTHENTICATED_PER_IP: '3' },
    })
  })
  afterEach(() => {
    for (const r of raws.splice(0)) r.socket.destroy()
  })
  afterAll(() => server.stop())

  it('refuses the connection past MAX_CONNECTIONS_PER_IP at once, says so in the log, and takes one again when a slot frees', async () => {
    for (let i = 0; i < 5; i++) raws.push(await Raw.open(server.port))

    const sixth = await Raw.open(server.port)
    raws.push(sixth)

    await until('the sixth connection to be closed', () => sixth.closed, 10_000)
    expect(sixth.received).toBe('')
    // The five are served.
    expect(await raws[0]?.get('/healthz')).toMatch(/^HTTP\/1\.1 200/)
    raws.shift()?.socket.destroy()
    await until('a free slot', async () => {
      const again = await Raw.open(server.port)
      raws.push(again)
      return /^HTTP\/1\.1 200/.test(await again.get('/healthz'))
    })
    expect(await untilWarned(server, 'MAX_CONNECTIONS_PER_IP')).toBe(true)
  })

  it('refuses a socket past WS_MAX_UNAUTHENTICATED_PER_IP with rate-limited and 1013, and takes one again once one authenticates', async () => {
    const account = await registerAccount(new Api(server.baseUrl), 'capped')
    const waiting = await Promise.all([0, 1, 2].map(() => WsClient.open(server.wsUrl)))

    const fourth = await WsClient.open(server.wsUrl)
    expect(await fourth.next('error')).toMatchObject({ code: 'rate-limited' })
    expect((await fourth.closed).code).toBe(closeCodes.tryAgainLater)

    await waiting[0]?.auth(account.token)
    const fifth = await WsClient.open(server.wsUrl)
    expect(await fifth.auth(account.token)).toMatchObject({ username: account.username })
    expect(await untilWarned(server, 'WS_MAX_UNAUTHENTICATED_PER_IP')).toBe(true)
    await Promise.all([...waiting, fifth].map((s) => s.close()))
  })
})

describe('slow requests (issue 15, D4)', () => {
  let server: ServerProcess

  beforeAll(async () => {
    server = await startServerProcess({ env: { HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '1500' } })
  })
  afterAll(() => server.stop())

  // Long enough that trickling all of it takes far longer than the timeouts (JSON allows the spaces).
  const body = `{"username": "trickler"${' '.repeat(100)}}`
  const headers = (length: number): string =>
    `POST /api/prelogin HTTP/1.1\r\nHost: tincan\r\nX-Padding: ${'p'.repeat(100)}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`
  const trickles: [string, string, string][] = [
    ['its headers', '', `${headers(body.length)}${body}`],
    ['its body', headers(body.length), body],
  ]

  it.each(trickles)(
    'cuts a request trickling in (%s) with 408 once its timeout passed, and logs it',
    async (_what, head, trickled) => {
      const raw = await Raw.open(server.port)
      raw.socket.write(head)
      let sent = 0
      // A byte every 200 ms: the whole request would take seconds more than the timeout allows.
      while (!raw.closed && sent < trickled.length) {
        raw.socket.write(trickled[sent++] ?? '')
        await new Promise((r) => setTimeout(r, 200))
      }

      await until('the connection to be closed', () => raw.closed, 10_000)
      expect(sent).toBeLessThan(trickled.length)
      expect(raw.received).toMatch(/^HTTP\/1\.1 408/)
      expect(raw.received).toContain('"code":"bad-request"')
      expect(await untilWarned(server, 'REQUEST_TIMEOUT_MS')).toBe(true)
    },
  )
})

describe('client-caused WebSocket errors (issue 15, D9)', () => {
  let server: ServerProcess

  beforeAll(async () => {
    server = await startServerProcess({ env: { LOG_LEVEL: 'debug' } })
  })
  afterAll(() => server.stop())

  it('closes on invalid UTF-8 (1007) and an oversized frame (1009), logging one debug line each, no error and no stack', async () => {
    const account = await registerAccount(new Api(server.baseUrl), 'garbled')
    const unauthenticated = await WsClient.open(server.wsUrl)
    unauthenticated.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false })
    const authenticated = await WsClient.connect(server.wsUrl, account.token)
    authenticated.sendRaw('x'.repeat(5 * limits.maxFrameBytes))

    expect((await unauthenticated.closed).code).toBe(closeCodes.invalidPayload)
    expect((await authenticated.closed).code).toBe(closeCodes.tooBig)
    await until(
      'the log lines',
      () => logLines(server).filter((l) => l.msg.startsWith('websocket closed')).length === 2,
    )
    const lines = logLines(server)
    expect(lines.filter((l) => l.level >= 50)).toEqual([])
    const closedLines = lines.filter((l) => l.msg.startsWith('websocket closed'))
    expect(closedLines.map((l) => l.level)).toEqual([20, 20])
    expect(closedLines.map((l) => l.raw).join('\n')).not.toContain('stack')
    expect(closedLines.map((l) => l.raw).join('\n')).toContain('WS_ERR_INVALID_UTF8')
  })
})

describe('sockets per account (issue 15, D10) and the first frame (D12)', () => {
  let server: TestServer
  const sockets = new Sockets(() => server.wsUrl)

  beforeAll(async () => {
    server = await startServer({ env: { WS_MAX_PER_USER: '2' } })
  })
  afterEach(() => sockets.closeAll())
  afterAll(() => server.close())

  it('refuses a socket past WS_MAX_PER_USER with too-many-sockets and 4429, leaves other accounts alone, and takes one again when one closes', async () => {
    const [busy, other] = await Promise.all([
      registerAccount(server.api, 'many'),
      registerAccount(server.api, 'other'),
    ])
    const first = await sockets.connect(busy.token)
    await sockets.connect(busy.token)

    const third = await sockets.raw()
    third.send({ type: 'auth', token: busy.token, ref: 'third' })
    expect(await third.next('error')).toMatchObject({ code: 'too-many-sockets', ref: 'third' })
    expect((await third.closed).code).toBe(closeCodes.tooManySockets)
    expect(third.received('ready')).toEqual([])

    await sockets.connect(other.token)
    await first.close()
    await until('a free slot', () => server.app.ctx.hub.userSockets(busy.username).then((n) => n === 1))
    expect((await sockets.connect(busy.token)).ready.username).toBe(busy.username)
  })

  const badFirstFrames: [string, (ws: WsClient) => void, string][] = [
    ['text that is not JSON', (ws) => ws.sendRaw('{"type": auth'), 'bad-json'],
    ['a binary frame', (ws) => ws.sendRaw(Buffer.from('{"type":"auth"}'), { binary: true }), 'bad-frame'],
    ['an unknown type', (ws) => ws.send({ type: 'hello' }), 'unknown-type'],
    ['an auth frame with a malformed token', (ws) => ws.send({ type: 'auth', token: 'short' }), 'bad-frame'],
    ['a ping', (ws) => ws.send({ type: 'ping' }), 'not-authenticated'],
    [
      `a frame over ${limits.maxFrameBytes} bytes`,
      (ws) => ws.sendRaw(JSON.stringify({ type: 'auth', pad: 'p'.repeat(limits.maxFrameBytes) })),
      'frame-too-large',
    ],
  ]

  it.each(badFirstFrames)(
    'closes with 4401 at once on %s as the first frame, after a typed error (D12)',
    async (_what, sendBad, code) => {
      const socket = await sockets.raw()

      sendBad(socket)

      expect((await socket.closed).code).toBe(closeCodes.unauthorized)
      // Not the auth timeout, which says `auth-timeout` first.
      expect(socket.received('error').map((e) => e.code)).toEqual([code])
    },
  )
})
