import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeCodes, ErrorBody, limits } from '../../../shared/index.ts'
import { Value } from '@sinclair/typebox/value'
import { hashToken, newId, newToken } from '../../../signaling/secrets.ts'
import {
  makeFriends,
  newCredentials,
  registerAccount,
  registerRequest,
  type Account,
} from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { WsClient } from '../../helpers/ws-client.ts'
import { diskFull, readOnly, type StorageFault } from './storage-faults.ts'

/** What a write answers while the database cannot be written. */
const unavailable = {
  status: 503,
  body: { error: { code: 'storage-unavailable', message: 'storage is unavailable; try again shortly' } },
}

function errorCount(metrics: string, code: string): number {
  const series = `tincan_errors_total{transport="http",code="${code}"}`
  const line = metrics.split('\n').find((l) => l.startsWith(series))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

for (const fault of [diskFull, readOnly]) {
  if (fault.unavailable !== undefined)
    console.warn(`skipping the "${fault.name}" storage fault test: ${fault.unavailable}`)
}

describe.each([diskFull, readOnly].map((f) => [f.name, f] as const))(
  'a SQLite database whose disk is %s',
  (_name, fault: StorageFault) => {
    let dataDir: string
    let server: TestServer
    let alice: Account
    let bob: Account
    let carol: Account
    let aliceSocket: WsClient
    let bobSocket: WsClient
    /** A session last seen two hours ago: authenticating with it writes its last-seen time. */
    let staleToken: string

    beforeAll(async () => {
      if (fault.unavailable !== undefined) return
      dataDir = fault.makeDataDir()
      server = await startServer({ dataDir })
      ;[alice, bob, carol] = (await Promise.all(
        ['alice', 'bob', 'carol'].map((stem) => registerAccount(server.api, stem)),
      )) as [Account, Account, Account]
      await makeFriends(alice, bob)
      aliceSocket = await WsClient.connect(server.wsUrl, alice.token)
      bobSocket = await WsClient.connect(server.wsUrl, bob.token)
      staleToken = newToken()
      const twoHoursAgo = Date.now() - 2 * 3_600_000
      await server.app.ctx.storage.createSession({
        id: newId(),
        username: carol.username,
        tokenHash: hashToken(staleToken),
        userAgent: 'an older device',
        createdAt: twoHoursAgo,
        lastSeenAt: twoHoursAgo,
        expiresAt: Date.now() + 86_400_000,
      })
    })

    afterAll(async () => {
      if (fault.unavailable !== undefined) return
      try {
        fault.clear(dataDir)
      } catch {
        // already cleared by the test
      }
      await Promise.all([aliceSocket.close(), bobSocket.close()])
      await server.close()
      fault.dispose(dataDir)
    })

    it.skipIf(fault.unavailable !== undefined)(
      'answers writes with 503 storage-unavailable, keeps serving reads and sockets, and recovers without a restart',
      async () => {
        const app = server.app
        const dave = newCredentials()
        fault.apply(dataDir)

        // Writes: a clear 503, nothing half-done.
        expect(await server.api.raw('POST', '/api/register', { body: registerRequest(dave) })).toMatchObject(
          unavailable,
        )
        expect(
          await server.api.raw('POST', '/api/login', {
            body: { username: alice.username, authKey: alice.authKey },
          }),
        ).toMatchObject(unavailable)
        const request = await carol.api.raw('POST', '/api/friends/requests', { body: { to: alice.username } })
        expect(request).toMatchObject(unavailable)
        expect(Value.Check(ErrorBody, request.body)).toBe(true)

        // Reads still work, and so does the node: /healthz stays 200 while the database answers.
        expect((await alice.api.friends()).friends.map((f) => f.username)).toEqual([bob.username])
        expect((await server.api.prelogin(alice.username)).salt).toBe(alice.salt)
        expect(await server.api.health()).toMatchObject({ status: 'ok', connections: 2 })

        // Sockets opened before stay up and keep relaying.
        aliceSocket.send({
          type: 'signal',
          to: bob.username,
          sid: 'during-fault',
          envelope: 'offer',
          ref: 'f1',
        })
        expect(await aliceSocket.next('sent')).toEqual({ type: 'sent', ref: 'f1' })
        expect(await bobSocket.next('signal')).toMatchObject({ from: alice.username, sid: 'during-fault' })

        // A device whose session is due a last-seen update still gets in: that write is not needed to log in.
        const stale = await WsClient.connect(server.wsUrl, staleToken)
        expect(stale.ready.username).toBe(carol.username)
        await stale.sync()

        const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text()
        expect(errorCount(metrics, 'storage-unavailable')).toBeGreaterThanOrEqual(3)

        fault.clear(dataDir)

        // Same process, same app: writes work again.
        expect(server.app).toBe(app)
        const registered = await server.api.register(registerRequest(dave))
        expect(registered.username).toBe(dave.username)
        expect((await carol.api.requestFriend(alice.username)).status).toBe('pending')
        await alice.api.acceptFriend(carol.username)
        expect((await carol.api.friends()).friends.map((f) => f.username)).toEqual([alice.username])
        expect((await server.api.login(alice.username, alice.authKey)).username).toBe(alice.username)

        // Nothing was closed along the way.
        for (const s of [aliceSocket, bobSocket, stale]) await s.sync()
        expect(aliceSocket.received('error')).toEqual([])
        await stale.close()
      },
    )
  },
)

describe('a database that cannot be read at all', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(() => server.close())

  it(`closes a socket whose token check outlasts the ${limits.authTimeoutMs} ms auth timeout with 1013, not 4401`, async () => {
    const frank = await registerAccount(server.api, 'frank')
    const storage = server.app.ctx.storage
    const lookup = storage.getSessionByTokenHash.bind(storage)
    // Stands in for a database that hangs (a saturated PostgreSQL pool): the lookup never returns.
    const hung = new Promise<undefined>(() => undefined)
    storage.getSessionByTokenHash = () => hung
    try {
      const socket = await WsClient.open(server.wsUrl)
      socket.send({ type: 'auth', token: frank.token, ref: 'slow' })
      expect((await socket.closed).code).toBe(closeCodes.tryAgainLater)
      expect(socket.received('error')).toEqual([])
    } finally {
      storage.getSessionByTokenHash = lookup
    }
    // The session was never in doubt.
    await (await WsClient.connect(server.wsUrl, frank.token)).close()
  })

  it('closes a socket whose token cannot be checked with 1013 (try again later), never 4401, and /healthz answers 503', async () => {
    const erin = await registerAccount(server.api, 'erin')
    const connected = await WsClient.connect(server.wsUrl, erin.token)
    // Stands in for a database that went away (PostgreSQL down): every query now fails.
    await server.app.ctx.storage.close()

    const socket = await WsClient.open(server.wsUrl)
    socket.send({ type: 'auth', token: erin.token, ref: 'a1' })

    expect(await socket.next('error')).toMatchObject({ code: 'storage-unavailable', ref: 'a1' })
    // 4401 would tell the client its session is gone and log the user out.
    expect((await socket.closed).code).toBe(closeCodes.tryAgainLater)
    expect(await server.api.raw('GET', '/healthz')).toMatchObject({
      status: 503,
      body: { error: { code: 'storage-unavailable' } },
    })
    // An authenticated socket needs no storage for a ping.
    await connected.sync()
    await connected.close()
  })
})
