import { createHmac } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { closeCodes } from '../../../shared/index.ts'
import { settings } from '../../../signaling/config.ts'
import { Api, makeFriends, randomB64, registerAccount, uniqueName } from '../../helpers/api.ts'
import {
  runServerCommand,
  startServer,
  startServerProcess,
  type ServerOptions,
  type TestServer,
} from '../../helpers/server.ts'
import { Sockets, WsClient } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)
const extraServers: TestServer[] = []

beforeAll(async () => {
  server = await startServer()
})
afterEach(async () => {
  await sockets.closeAll()
  await Promise.all(extraServers.splice(0).map((s) => s.close()))
})
afterAll(() => server.close())

async function serverWith(options: ServerOptions): Promise<TestServer> {
  const s = await startServer(options)
  extraServers.push(s)
  return s
}

/** The value of one Prometheus sample, 0 when the series has not appeared yet. */
async function metric(series: string): Promise<number> {
  const reply = await server.api.raw('GET', '/metrics')
  const line = String(reply.body)
    .split('\n')
    .find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

describe('/healthz', () => {
  it('reports ok and how many sockets the node holds', async () => {
    const me = await registerAccount(server.api, 'healthy')
    await sockets.connect(me.token)

    await vi.waitFor(async () => expect((await server.api.health()).connections).toBe(1), { timeout: 5_000 })
    expect(await server.api.health()).toEqual({
      status: 'ok',
      uptimeS: expect.any(Number) as unknown,
      connections: 1,
    })
  })
})

describe('/metrics', () => {
  it('is Prometheus text and counts relayed frames, and errors by transport and code', async () => {
    const [a, b] = await Promise.all([registerAccount(server.api, 'm_a'), registerAccount(server.api, 'm_b')])
    await makeFriends(a, b)
    const aSocket = await sockets.connect(a.token)
    await sockets.connect(b.token)
    const relayed = await metric('tincan_frames_relayed_total')
    const notFriends = await metric('tincan_errors_total{transport="ws",code="not-friends"}')
    const unauthorized = await metric('tincan_errors_total{transport="http",code="unauthorized"}')

    aSocket.send({ type: 'signal', to: b.username, sid: 'session-1', envelope: 'e', ref: 'ok' })
    await aSocket.next('sent')
    aSocket.send({ type: 'signal', to: 'a_stranger', sid: 'session-1', envelope: 'e', ref: 'no' })
    await aSocket.next('error')
    await server.api.raw('GET', '/api/friends')

    expect(await metric('tincan_frames_relayed_total')).toBe(relayed + 1)
    expect(await metric('tincan_errors_total{transport="ws",code="not-friends"}')).toBe(notFriends + 1)
    expect(await metric('tincan_errors_total{transport="http",code="unauthorized"}')).toBe(unauthorized + 1)
    const reply = await server.api.raw('GET', '/metrics')
    expect(reply.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(String(reply.body)).toContain('# TYPE tincan_ws_connections gauge')
  })
})

describe('security headers', () => {
  it.each([
    ['a health check', '/healthz', 200],
    ['an unauthenticated API call', '/api/friends', 401],
    ['an unknown route', '/api/nothing-here', 404],
  ])('are sent on %s', async (_what, path, status) => {
    const reply = await server.api.raw('GET', path)
    expect(reply.status).toBe(status)

    const csp = reply.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).not.toContain("'unsafe-inline'")
    expect(csp).not.toMatch(/'unsafe-eval'/)
    expect(reply.headers.get('x-content-type-options')).toBe('nosniff')
    expect(reply.headers.get('referrer-policy')).toBe('no-referrer')
    expect(reply.headers.get('x-frame-options')).toBe('DENY')
  })

  it('come with a JSON not-found error for unknown routes', async () => {
    const reply = await server.api.raw('DELETE', '/api/nothing-here?x=1')
    expect(reply).toMatchObject({
      status: 404,
      body: { error: { code: 'not-found', message: 'no route DELETE /api/nothing-here' } },
    })
  })
})

describe('ICE configuration', () => {
  it('is empty by default and requires a session', async () => {
    const me = await registerAccount(server.api, 'ice')
    expect(await me.api.ice()).toEqual({ iceServers: [], iceTransportPolicy: 'all' })
    await expect(server.api.ice()).rejects.toMatchObject({ status: 401 })
  })

  it('hands out STUN URLs and short-lived TURN credentials in the coturn REST scheme', async () => {
    const turnSecret = randomB64(24)
    const s = await serverWith({
      env: {
        STUN_URLS: 'stun:stun.example.org:3478',
        TURN_URLS: 'turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349',
        TURN_SECRET: turnSecret,
        TURN_TTL_S: '600',
        RELAY_ONLY: 'true',
      },
    })
    const me = await registerAccount(s.api, 'ice')

    const ice = await me.api.ice()

    const [stun, turn] = ice.iceServers
    expect(stun).toEqual({ urls: ['stun:stun.example.org:3478'] })
    expect(turn?.urls).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349'])
    const [expiry, account] = (turn?.username ?? '').split(':')
    expect(account).toBe(me.username)
    expect(Number(expiry) * 1000).toBe(ice.expiresAt)
    expect(turn?.credential).toBe(
      createHmac('sha1', turnSecret)
        .update(turn?.username ?? '')
        .digest('base64'),
    )
    expect(ice.iceTransportPolicy).toBe('relay')
  })
})

describe('restart on the same data folder', () => {
  it('keeps accounts, sessions, friends, requests, blocks and groups, and the fake prelogin salts', async () => {
    const s = await serverWith({})
    const [amy, bo, cy, dee] = await Promise.all([
      registerAccount(s.api, 'amy'),
      registerAccount(s.api, 'bo'),
      registerAccount(s.api, 'cy'),
      registerAccount(s.api, 'dee'),
    ])
    await makeFriends(amy, bo)
    await makeFriends(amy, cy)
    await dee.api.requestFriend(amy.username, 'later?')
    await cy.api.block(bo.username)
    const group = await amy.api.createGroup({
      name: 'Survivors',
      members: [bo.username, cy.username],
      memberList: 'AA',
    })
    const ghost = uniqueName('ghost')
    const fakeBefore = await s.api.prelogin(ghost)
    const before = {
      friends: await amy.api.friends(),
      requests: await amy.api.friendRequests(),
      blocks: await cy.api.blocks(),
      groups: await bo.api.groups(),
      sessions: await amy.api.sessions(),
    }

    await s.restart()

    const api = new Api(s.baseUrl)
    const again = (token: string) => api.as(token)
    expect((await api.login(amy.username, amy.authKey)).keyBundle).toBe(amy.keyBundle)
    expect(await again(amy.token).friends()).toEqual(before.friends)
    expect(await again(amy.token).friendRequests()).toEqual(before.requests)
    expect(await again(cy.token).blocks()).toEqual(before.blocks)
    expect(await again(bo.token).groups()).toEqual(before.groups)
    expect(await again(bo.token).group(group.id)).toEqual(group)
    expect((await again(amy.token).sessions()).sessions.map((x) => x.id)).toEqual(
      expect.arrayContaining(before.sessions.sessions.map((x) => x.id)),
    )
    expect(await api.prelogin(ghost)).toEqual(fakeBefore)
  })

  it('tells connected clients to reconnect, closes them with 1012, and lets them back in', async () => {
    const s = await serverWith({})
    const me = await registerAccount(s.api, 'connected')
    const socket = await WsClient.connect(s.wsUrl, me.token)

    await s.restart()

    expect(await socket.next('reconnect')).toEqual({
      type: 'reconnect',
      retryAfterMs: expect.any(Number) as unknown,
    })
    expect((await socket.closed).code).toBe(closeCodes.serviceRestart)
    const back = await WsClient.connect(s.wsUrl, me.token)
    expect(back.ready.username).toBe(me.username)
    await back.close()
  })
})

describe('the server process', () => {
  it('on SIGTERM tells clients to reconnect, closes those that stay with 1012, and exits 0', async () => {
    const proc = await startServerProcess({ env: { SHUTDOWN_GRACE_MS: '1000' } })
    try {
      const api = new Api(proc.baseUrl)
      const [leaver, stayer] = await Promise.all([
        registerAccount(api, 'leaver'),
        registerAccount(api, 'stayer'),
      ])
      const leaving = await WsClient.connect(proc.wsUrl, leaver.token)
      const staying = await WsClient.connect(proc.wsUrl, stayer.token)

      proc.child.kill('SIGTERM')

      expect(await leaving.next('reconnect')).toMatchObject({ type: 'reconnect' })
      await leaving.close()
      expect(await staying.next('reconnect')).toMatchObject({ type: 'reconnect' })
      expect((await staying.closed).code).toBe(closeCodes.serviceRestart)
      expect(await proc.exited).toEqual({ code: 0, signal: null })
    } finally {
      await proc.stop('SIGKILL')
    }
  })

  it('prints every setting for --help and exits 0', async () => {
    const run = runServerCommand(['--help'])
    expect(await run.exited).toEqual({ code: 0, signal: null })
    for (const s of settings) expect(run.output()).toContain(s.env)
  })

  it('refuses a bad setting with a message naming it, and exits 2', async () => {
    const run = runServerCommand([], { PORT: 'eighty', LOG_LEVEL: 'silent' })
    expect(await run.exited).toEqual({ code: 2, signal: null })
    expect(run.output()).toContain('PORT must be')
  })
})
