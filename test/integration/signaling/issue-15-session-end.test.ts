// Issue 15, D2: a socket must not outlive its session. The server read the session, then
// attached the socket, and never looked again: a logout (or password change, revocation,
// account deletion) that ran between the two left a socket open for the victim's whole session
// lifetime, able to send and receive signals as them. Here those endings race authentications
// with the same token, on one node and on two nodes sharing PostgreSQL and Redis.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { closeCodes, defaultKdf } from '../../../shared/index.ts'
import { hashToken, newId, newToken } from '../../../signaling/secrets.ts'
import { randomB64, registerAccount, type Account } from '../../helpers/api.ts'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { servicesOrSkip } from '../../helpers/services.ts'
import { Sockets, WsClient } from '../../helpers/ws-client.ts'

const trials = 200
const socketsPerTrial = 3
/** After the session ended and the socket was answered: long enough for any close to arrive. */
const settleMs = 2_000

// The race needs PostgreSQL (SQLite's one connection serialises it away) and, across nodes, Redis.
const services = servicesOrSkip('session end (PostgreSQL, Redis)', ['postgres', 'redis'])
const postgresUrl = services?.postgres ?? ''
const redisUrl = services?.redis ?? ''

interface Cluster {
  readonly nodes: readonly TestServer[]
  close(): Promise<void>
}

/** PostgreSQL, whose pool runs a session read and a logout's delete side by side, as in production. */
async function oneNode(): Promise<Cluster> {
  const db = await createTestDatabase(postgresUrl)
  const node = await startServer({ env: { DATABASE_URL: db.url } })
  return {
    nodes: [node],
    async close() {
      await node.close()
      await db.drop()
    },
  }
}

async function twoNodes(): Promise<Cluster> {
  const db: TestDatabase = await createTestDatabase(postgresUrl)
  const prefix = `tincan-test:${randomBytes(6).toString('hex')}:`
  const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix }
  const nodes = [await startServer({ env }), await startServer({ env })]
  return {
    nodes,
    async close() {
      await Promise.all(nodes.map((n) => n.close()))
      await db.drop()
      const redis = new Redis(redisUrl)
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    },
  }
}

/**
 * Another session of the user, last seen two hours ago, as a device that comes back after a
 * while has: authenticating with it records the new last-seen time first.
 */
async function staleSession(node: TestServer, username: string): Promise<string> {
  const token = newToken()
  const longAgo = Date.now() - 2 * 3_600_000
  await node.app.ctx.storage.createSession({
    id: newId(),
    username,
    tokenHash: hashToken(token),
    userAgent: 'issue-15 race',
    createdAt: longAgo,
    lastSeenAt: longAgo,
    expiresAt: Date.now() + 86_400_000,
  })
  return token
}

/**
 * Opens sockets on every node, sends `auth` with `token` on all of them and runs `end` at the
 * same moment; returns how many sockets are still open once the session ended and each socket
 * was answered.
 */
async function race(
  nodes: readonly TestServer[],
  token: string,
  end: () => Promise<unknown>,
): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: socketsPerTrial }, (_, i) => WsClient.open(nodes[i % nodes.length]?.wsUrl ?? '')),
  )
  const refs = sockets.map(() => WsClient.newRef())
  sockets.forEach((s, i) => s.send({ type: 'auth', token, ref: refs[i] }))
  await end()
  const open = await Promise.all(
    sockets.map(async (s, i) => {
      await s
        .next((f) => ('ref' in f && f.ref === refs[i]) || f.type === 'error', 10_000)
        .catch(() => undefined)
      const closed = await Promise.race([
        s.closed.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), settleMs)),
      ])
      await s.close()
      return closed ? 0 : 1
    }),
  )
  return open.reduce<number>((a, b) => a + b, 0)
}

// Skipped (with one line, above) when PostgreSQL or Redis is missing and services are not required.
describe.skipIf(services === undefined).each([
  ['one node (in-process hub)', oneNode],
  ['two nodes (Redis hub, PostgreSQL)', twoNodes],
])('session end on %s', (_name, makeCluster) => {
  let cluster: Cluster
  let nodes: readonly TestServer[]
  const on = (t: number): TestServer => nodes[t % nodes.length] as TestServer

  beforeAll(async () => {
    cluster = await makeCluster()
    nodes = cluster.nodes
  })
  afterAll(() => cluster.close())

  it(`leaves no socket open when logout races ${socketsPerTrial} authentications with the token, in ${trials} trials`, async () => {
    const account = await registerAccount(on(0).api, 'logout')
    let survivors = 0
    for (let t = 0; t < trials; t++) {
      const token = await staleSession(on(0), account.username)
      survivors += await race(nodes, token, () => on(t).api.as(token).logout())
    }
    expect(survivors).toBe(0)
  })

  it(`leaves no socket of another session open when a password change races its authentications, in ${trials} trials`, async () => {
    let account: Account = await registerAccount(on(0).api, 'password')
    let survivors = 0
    for (let t = 0; t < trials; t++) {
      const victim = await staleSession(on(0), account.username)
      const newAuthKey = randomB64(32)
      const api = on(t).api.as(account.token)
      survivors += await race(nodes, victim, () =>
        api.changePassword({
          authKey: account.authKey,
          newAuthKey,
          newSalt: randomB64(16),
          newKdf: { ...defaultKdf },
          newKeyBundle: randomB64(96),
        }),
      )
      account = { ...account, authKey: newAuthKey }
    }
    expect(survivors).toBe(0)
  })

  it(`leaves no socket open when a revocation from another session races its authentications, in ${trials} trials`, async () => {
    const account = await registerAccount(on(0).api, 'revoke')
    let survivors = 0
    for (let t = 0; t < trials; t++) {
      const token = await staleSession(on(0), account.username)
      const { sessions } = await account.api.sessions()
      const target = sessions.find((s) => !s.current && s.userAgent === 'issue-15 race')
      if (target === undefined) throw new Error('the session to revoke is not listed')
      survivors += await race(nodes, token, () => on(t).api.as(account.token).revokeSession(target.id))
    }
    expect(survivors).toBe(0)
  })

  it(`leaves no socket open when account deletion races authentications, in ${trials / 4} trials`, async () => {
    let survivors = 0
    for (let t = 0; t < trials / 4; t++) {
      const account = await registerAccount(on(0).api, 'deleted')
      const token = await staleSession(on(0), account.username)
      survivors += await race(nodes, token, () => on(t).api.as(account.token).deleteAccount(account.authKey))
    }
    expect(survivors).toBe(0)
  })
})

describe('the periodic session check', () => {
  let server: TestServer
  const sockets = new Sockets(() => server.wsUrl)

  beforeAll(async () => {
    server = await startServer({ env: { SESSION_CHECK_MS: '200' } })
  })
  afterEach(() => sockets.closeAll())
  afterAll(() => server.close())

  it('closes with 4403 a socket whose session was deleted without word to this node, and keeps the others', async () => {
    const [gone, kept] = await Promise.all([
      registerAccount(server.api, 'gone'),
      registerAccount(server.api, 'kept'),
    ])
    const goneSocket = await sockets.connect(gone.token)
    const keptSocket = await sockets.connect(kept.token)

    // What another node does when it cannot reach this one (Redis away): storage only.
    await server.app.ctx.storage.deleteSession(gone.username, gone.sessionId)

    const closed = await Promise.race([
      goneSocket.closed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
    ])
    expect(closed?.code).toBe(closeCodes.sessionEnded)
    await keptSocket.sync()
  })
})
