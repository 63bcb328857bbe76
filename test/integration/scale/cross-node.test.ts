import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { closeCodes } from '../../../shared/index.ts'
import { loginAgain, makeFriends, randomB64, registerAccount, type Account } from '../../helpers/api.ts'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { servicesOrSkip } from '../../helpers/services.ts'
import { Sockets, WsClient } from '../../helpers/ws-client.ts'

/**
 * Two nodes in this process on one PostgreSQL database and one Redis: what a user on one node
 * does must reach users on the other at once, as if there were one server.
 */
const services = servicesOrSkip('two nodes acting as one', ['postgres', 'redis'])
const postgresUrl = services?.postgres ?? ''
const redisUrl = services?.redis ?? ''
const prefix = `tincan-test:${randomBytes(6).toString('hex')}:`
let db: TestDatabase
let node1: TestServer
let node2: TestServer
const on1 = new Sockets(() => node1.wsUrl)
const on2 = new Sockets(() => node2.wsUrl)

beforeAll(async () => {
  db = await createTestDatabase(postgresUrl)
  const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix }
  ;[node1, node2] = await Promise.all([startServer({ env }), startServer({ env })])
})
afterEach(() => Promise.all([on1.closeAll(), on2.closeAll()]))
afterAll(async () => {
  await Promise.all([node1.close(), node2.close()])
  await db.drop()
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

async function friends(): Promise<[Account, Account]> {
  const [a, b] = await Promise.all([registerAccount(node1.api, 'amy'), registerAccount(node2.api, 'bo')])
  await makeFriends(a, b)
  return [a, b]
}

const offer = (to: string) => ({
  type: 'signal',
  to,
  sid: randomB64(12),
  envelope: `signed-offer:${randomB64(48)}`,
  ref: WsClient.newRef(),
})

// Skipped only when PostgreSQL or Redis cannot be had and TINCAN_REQUIRE_SERVICES is not set
// (servicesOrSkip says so); the file's hooks run only when a test does.
describe.skipIf(services === undefined)('two nodes acting as one', () => {
  it('shows a friend on the other node coming online and going offline', async () => {
    const [a, b] = await friends()
    const bob = await on2.connect(b.token)
    expect(bob.ready.online).toEqual([])
    const amy = await on1.connect(a.token)
    expect(amy.ready.online).toEqual([b.username])
    expect(await bob.next('presence')).toEqual({ type: 'presence', username: a.username, online: true })
    await amy.close()
    expect(await bob.next('presence')).toEqual({ type: 'presence', username: a.username, online: false })
  })

  it('relays a signal to a friend on the other node, and answers peer-offline when they are nowhere', async () => {
    const [a, b] = await friends()
    const amy = await on1.connect(a.token)
    const frame = offer(b.username)
    amy.send(frame)
    expect(await amy.next('error', (f) => f.ref === frame.ref)).toMatchObject({ code: 'peer-offline' })

    const bob = await on2.connect(b.token)
    const again = offer(b.username)
    amy.send(again)
    expect(await amy.next('sent', (f) => f.ref === again.ref)).toBeDefined()
    expect(await bob.next('signal')).toEqual({
      type: 'signal',
      from: a.username,
      sid: again.sid,
      envelope: again.envelope,
    })
  })

  it('keeps a user online while one of their devices is still connected on another node', async () => {
    const [a, b] = await friends()
    const bob = await on2.connect(b.token)
    const phone = await on1.connect(a.token)
    const laptop = await on2.connect((await loginAgain(node2.api, a)).token)
    expect(await bob.next('presence')).toMatchObject({ username: a.username, online: true })
    await phone.close()
    await bob.sync()
    expect(bob.received('presence')).toHaveLength(1)
    const frame = offer(a.username)
    bob.send(frame)
    expect(await bob.next('sent', (f) => f.ref === frame.ref)).toBeDefined()
    expect(await laptop.next('signal')).toMatchObject({ from: b.username })
    await laptop.close()
    expect(await bob.next('presence')).toMatchObject({ username: a.username, online: false })
  })

  it('stops relaying at once on every node when a friendship ends on one', async () => {
    const [a, b] = await friends()
    const bob = await on1.connect(b.token)
    const amy = await on2.connect(a.token)
    // Node 2 has now cached "amy may signal bo".
    const first = offer(b.username)
    amy.send(first)
    await amy.next('sent', (f) => f.ref === first.ref)

    // Bo ends it through node 1, which node 2 knows nothing about but what Redis tells it.
    await node1.api.as(b.token).removeFriend(a.username)
    expect(await amy.next('friend-removed')).toMatchObject({ username: b.username })
    const after = offer(b.username)
    amy.send(after)
    expect(await amy.next('error', (f) => f.ref === after.ref)).toMatchObject({ code: 'not-friends' })
    await bob.sync()
    expect(bob.received('signal')).toHaveLength(1)
  })

  it('delivers a friend request to the other node at once', async () => {
    const [a, b] = await Promise.all([registerAccount(node1.api, 'cy'), registerAccount(node2.api, 'di')])
    const di = await on2.connect(b.token)
    await a.api.requestFriend(b.username, 'hello from node 1')
    expect(await di.next('friend-request')).toMatchObject({
      request: { username: a.username, note: 'hello from node 1' },
    })
  })

  it('closes a revoked session on whichever node holds it, and every socket of a deleted account', async () => {
    const [a] = await friends()
    const other = await loginAgain(node1.api, a)
    const victim = await on2.connect(other.token)
    await a.api.revokeSession(other.sessionId)
    expect((await victim.closed).code).toBe(closeCodes.sessionEnded)

    const s1 = await on1.connect(a.token)
    const s2 = await on2.connect((await loginAgain(node2.api, a)).token)
    await a.api.deleteAccount(a.authKey)
    expect((await s1.closed).code).toBe(closeCodes.sessionEnded)
    expect((await s2.closed).code).toBe(closeCodes.sessionEnded)
  })
})
