import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { closeCodes, limits } from '../../../shared/index.ts'
import {
  makeFriends,
  newCredentials,
  randomB64,
  registerAccount,
  registerRequest,
} from '../../helpers/api.ts'
import { startServer, type ServerOptions, type TestServer } from '../../helpers/server.ts'
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

/** A server of its own for a test that changes limits; closed after the test. */
async function serverWith(options: ServerOptions): Promise<TestServer> {
  const s = await startServer(options)
  extraServers.push(s)
  return s
}

/** JSON text nested `depth` arrays deep inside a ping frame. */
const nested = (depth: number) => `{"type":"ping","x":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`

/** Two friends talking over sockets: proof that a server still does its job. */
async function expectRelayWorks(s: TestServer): Promise<void> {
  const [a, b] = await Promise.all([registerAccount(s.api, 'ok_a'), registerAccount(s.api, 'ok_b')])
  await makeFriends(a, b)
  const aSocket = await WsClient.connect(s.wsUrl, a.token)
  const bSocket = await WsClient.connect(s.wsUrl, b.token)
  try {
    aSocket.send({ type: 'signal', to: b.username, sid: 'session-1', envelope: 'offer', ref: 'still-ok' })
    expect(await aSocket.next('sent')).toEqual({ type: 'sent', ref: 'still-ok' })
    expect(await bSocket.next('signal')).toMatchObject({ from: a.username, envelope: 'offer' })
  } finally {
    await Promise.all([aSocket.close(), bSocket.close()])
  }
}

describe('malformed and oversized frames', () => {
  const cases: [string, (ws: WsClient) => void, Record<string, unknown>][] = [
    ['an unknown type', (ws) => ws.send({ type: 'shout', ref: 'u1' }), { code: 'unknown-type', ref: 'u1' }],
    ['no type at all', (ws) => ws.send({ to: 'someone', ref: 'u2' }), { code: 'unknown-type', ref: 'u2' }],
    ['a JSON value that is not an object', (ws) => ws.send([1, 2, 3]), { code: 'unknown-type' }],
    [
      'a session id that is too short',
      (ws) => ws.send({ type: 'signal', to: 'someone', sid: 'x', envelope: 'e', ref: 'b1' }),
      { code: 'bad-frame', ref: 'b1', message: expect.stringContaining('/sid') as unknown },
    ],
    [
      'a field of the wrong type',
      (ws) => ws.send({ type: 'signal', to: 42, sid: 'session-1', envelope: 'e', ref: 'b2' }),
      { code: 'bad-frame', ref: 'b2', message: expect.stringContaining('/to') as unknown },
    ],
    [
      'an extra field',
      (ws) => ws.send({ type: 'ping', ref: 'b3', admin: true }),
      { code: 'bad-frame', ref: 'b3' },
    ],
    [
      `an envelope over ${limits.envelopeMaxLength} characters`,
      (ws) =>
        ws.send({
          type: 'signal',
          to: 'someone',
          sid: 'session-1',
          envelope: 'e'.repeat(49 * 1024),
          ref: 'b4',
        }),
      { code: 'bad-frame', ref: 'b4', message: expect.stringContaining('/envelope') as unknown },
    ],
    [
      'a binary frame',
      (ws) => ws.sendRaw(Buffer.from('{"type":"ping"}'), { binary: true }),
      { code: 'bad-frame' },
    ],
    ['text that is not JSON', (ws) => ws.sendRaw('{"type": ping'), { code: 'bad-json' }],
    [
      `nesting deeper than ${limits.maxJsonDepth}`,
      (ws) => ws.sendRaw(nested(limits.maxJsonDepth + 1)),
      { code: 'too-deep' },
    ],
    [
      `a frame over ${limits.maxFrameBytes} bytes`,
      (ws) => ws.sendRaw(JSON.stringify({ type: 'ping', pad: 'p'.repeat(limits.maxFrameBytes) })),
      { code: 'frame-too-large' },
    ],
    [
      `a frame of multi-byte characters over ${limits.maxFrameBytes} bytes in UTF-8`,
      (ws) => ws.sendRaw(JSON.stringify({ type: 'ping', pad: 'é'.repeat(limits.maxFrameBytes / 2) })),
      { code: 'frame-too-large' },
    ],
  ]

  it.each(cases)('answers %s with a typed error and keeps the socket open', async (_what, sendBad, error) => {
    const me = await registerAccount(server.api, 'prober')
    const socket = await sockets.connect(me.token)

    sendBad(socket)

    expect(await socket.next('error')).toMatchObject(error)
    await socket.sync()
  })

  it(`accepts nesting of exactly ${limits.maxJsonDepth}`, async () => {
    const me = await registerAccount(server.api, 'prober')
    const socket = await sockets.connect(me.token)

    socket.sendRaw(nested(limits.maxJsonDepth))

    // Depth is fine, so the frame reaches the schema, which has no field `x`.
    expect(await socket.next('error')).toMatchObject({ code: 'bad-frame' })
  })

  it('answers garbage before authentication with a typed error and closes with 4401 at once (issue 15, D12)', async () => {
    const me = await registerAccount(server.api, 'early')
    const socket = await sockets.raw()

    socket.sendRaw('not json')

    expect(await socket.closed).toMatchObject({ code: closeCodes.unauthorized })
    // Closed for the frame, not by the auth timeout, which would have said `auth-timeout` first.
    expect(socket.received('error').map((e) => e.code)).toEqual(['bad-json'])
    // The next socket starts afresh.
    expect(await (await sockets.raw()).auth(me.token)).toMatchObject({ username: me.username })
  })

  it('closes a socket that sends a frame far over the limit with 1009, and serves others', async () => {
    const me = await registerAccount(server.api, 'huge')
    const socket = await sockets.connect(me.token)

    socket.sendRaw('x'.repeat(5 * limits.maxFrameBytes))

    expect((await socket.closed).code).toBe(closeCodes.tooBig)
    await expectRelayWorks(server)
  })

  it('keeps serving other clients after all of the above', async () => {
    await expectRelayWorks(server)
    expect((await server.api.health()).status).toBe('ok')
  })
})

describe('frame flood', () => {
  // WS_FRAMES_PER_S=5 allows a burst of 10 frames, the auth frame included.
  const framesPerS = '5'

  it('leaves a client within the burst alone', async () => {
    const limited = await serverWith({ env: { WS_FRAMES_PER_S: framesPerS } })
    const me = await registerAccount(limited.api, 'polite')
    const socket = await WsClient.connect(limited.wsUrl, me.token)

    for (let i = 0; i < 9; i++) socket.send({ type: 'ping', ref: `p${i}` })

    for (let i = 0; i < 9; i++) expect(await socket.next('pong')).toEqual({ type: 'pong', ref: `p${i}` })
    expect(socket.received('error')).toEqual([])
    await socket.close()
  })

  it('answers frames over the rate with rate-limited, then closes the socket with 1008, and serves others', async () => {
    const limited = await serverWith({ env: { WS_FRAMES_PER_S: framesPerS } })
    const me = await registerAccount(limited.api, 'flooder')
    const socket = await WsClient.connect(limited.wsUrl, me.token)

    for (let i = 0; i < 200; i++) socket.send({ type: 'ping', ref: `f${i}` })

    expect(await socket.next('error')).toMatchObject({ code: 'rate-limited' })
    expect((await socket.closed).code).toBe(closeCodes.policyViolation)
    expect(socket.received('error').every((e) => e.code === 'rate-limited')).toBe(true)
    await expectRelayWorks(limited)
  })
})

describe('malformed HTTP bodies', () => {
  it('answers invalid JSON with 400 bad-json', async () => {
    const reply = await server.api.raw('POST', '/api/login', { rawBody: '{"username": "x",' })
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-json' } } })
  })

  it(`answers nesting deeper than ${limits.maxJsonDepth} with 400 too-deep`, async () => {
    const reply = await server.api.raw('POST', '/api/login', {
      rawBody: `{"username":${'['.repeat(limits.maxJsonDepth + 1)}${']'.repeat(limits.maxJsonDepth + 1)}}`,
    })
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'too-deep' } } })
  })

  it(`answers a body over ${limits.maxFrameBytes} bytes with 413 payload-too-large`, async () => {
    const body = { ...registerRequest(newCredentials()), keyBundle: 'k'.repeat(limits.maxFrameBytes) }
    const reply = await server.api.raw('POST', '/api/register', { body })
    expect(reply).toMatchObject({ status: 413, body: { error: { code: 'payload-too-large' } } })
  })

  it('answers a form-encoded body with 415 and creates no account', async () => {
    const credentials = newCredentials()
    const reply = await server.api.raw('POST', '/api/register', {
      rawBody: new URLSearchParams({ username: credentials.username }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(reply.status).toBe(415)
    expect(reply.body).toMatchObject({ error: { code: 'bad-request' } })
    expect((await server.api.prelogin(credentials.username)).salt).not.toBe(credentials.salt)
  })
})

describe('rate limits', () => {
  it('limits auth requests per address, with 429 and Retry-After', async () => {
    const limited = await serverWith({ env: { AUTH_RATE_PER_IP: '5' } })
    for (let i = 0; i < 5; i++) await limited.api.prelogin(`someone${i}`)

    const reply = await limited.api.raw('POST', '/api/prelogin', { body: { username: 'one_more' } })
    const register = await limited.api.raw('POST', '/api/register', {
      body: registerRequest(newCredentials()),
    })

    expect(reply).toMatchObject({ status: 429, body: { error: { code: 'rate-limited' } } })
    expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(register).toMatchObject({ status: 429, body: { error: { code: 'rate-limited' } } })
  })

  it('limits login attempts per account, without locking out other accounts', async () => {
    const limited = await serverWith({ env: { AUTH_RATE_PER_USER: '3' } })
    const target = await registerAccount(limited.api, 'target')
    const bystander = await registerAccount(limited.api, 'bystander')
    for (let i = 0; i < 3; i++) {
      await expect(limited.api.login(target.username, randomB64(32))).rejects.toMatchObject({ status: 401 })
    }

    // Even the right key is refused now: guessing has to wait.
    await expect(limited.api.login(target.username, target.authKey)).rejects.toMatchObject({
      status: 429,
      code: 'rate-limited',
    })
    await expect(limited.api.login(target.username.toUpperCase(), target.authKey)).rejects.toMatchObject({
      status: 429,
    })
    expect((await limited.api.login(bystander.username, bystander.authKey)).username).toBe(bystander.username)
  })

  it('limits searches per account', async () => {
    const limited = await serverWith({ env: { SEARCH_RATE: '3' } })
    const nosy = await registerAccount(limited.api, 'nosy')
    const calm = await registerAccount(limited.api, 'calm')
    for (let i = 0; i < 3; i++) await nosy.api.searchUsers('a')

    await expect(nosy.api.searchUsers('a')).rejects.toMatchObject({ status: 429, code: 'rate-limited' })
    expect((await calm.api.searchUsers('nosy')).users).toHaveLength(1)
  })
})
