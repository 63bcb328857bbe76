import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClientEnv, TincanClient } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import type { Health } from '../../../shared/index.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts'
import { startServerProcess, type ServerProcess } from '../../helpers/server.ts'
import { servicesOrSkip } from '../../helpers/services.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

const services = servicesOrSkip('two server nodes sharing PostgreSQL and Redis', ['postgres', 'redis'])
const postgresUrl = services?.postgres ?? ''
const redisUrl = services?.redis ?? ''

/**
 * What a load balancer does for one client: sends each new connection to the next node in its
 * list (round robin from the client's starting point), and retries a request that could not
 * reach a node on the next one. It knows nothing of users: no sticky sessions.
 */
class Balancer {
  private cursor: number

  constructor(
    private readonly nodes: () => readonly string[],
    start: number,
  ) {
    this.cursor = start
  }

  private origin(): string {
    const nodes = this.nodes()
    return nodes[this.cursor % nodes.length] ?? ''
  }

  env(base: ClientEnv): ClientEnv {
    return {
      ...base,
      createSocket: (url) => {
        const ws = new WebSocket(this.rewrite(url))
        // Whatever ended this connection (a crash, a drain), the next one goes elsewhere.
        ws.on('close', () => this.cursor++)
        return ws
      },
      fetch: async (input, init) => {
        let lastError: unknown
        for (let tries = 0; tries < this.nodes().length; tries++) {
          try {
            return await fetch(this.rewrite(String(input instanceof Request ? input.url : input)), init)
          } catch (e: unknown) {
            lastError = e
            this.cursor++
          }
        }
        throw lastError
      },
    }
  }

  private rewrite(url: string): string {
    const u = new URL(url)
    const target = new URL(this.origin())
    u.host = target.host
    return u.toString()
  }
}

async function health(node: ServerProcess): Promise<Health> {
  return (await (await fetch(`${node.baseUrl}/healthz`)).json()) as Health
}

async function relayed(node: ServerProcess): Promise<number> {
  const text = await (await fetch(`${node.baseUrl}/metrics`)).text()
  return Number(/tincan_frames_relayed_total (\d+)/.exec(text)?.[1] ?? NaN)
}

async function received(client: TincanClient, from: string): Promise<string[]> {
  const messages = await client.loadMessages(directConversationId(from), undefined, 5000)
  return messages.filter((m) => m.author === from).map((m) => m.content.text)
}

/** Every presence entry in Redis belongs to a node that is alive: nobody is online on a dead node. */
async function stalePresence(redis: Redis, prefix: string): Promise<string[]> {
  const stale: string[] = []
  for (const key of await redis.keys(`${prefix}presence:*`)) {
    for (const node of await redis.hkeys(key))
      if ((await redis.exists(`${prefix}node:${node}`)) === 0) stale.push(`${key} on ${node}`)
  }
  return stale
}

// Skipped only when PostgreSQL or Redis cannot be had and TINCAN_REQUIRE_SERVICES is not set
// (servicesOrSkip says so).
describe.skipIf(services === undefined)('two server nodes sharing PostgreSQL and Redis', () => {
  const prefix = `tincan-test:${randomBytes(6).toString('hex')}:`
  let db: TestDatabase
  let redis: Redis
  let env: Record<string, string>
  const nodes: ServerProcess[] = []
  /** The nodes the load balancer sends clients to. */
  let pool: ServerProcess[] = []
  let alice: TincanClient
  let bob: TincanClient
  const bobSawAlice: boolean[] = []

  beforeAll(async () => {
    db = await createTestDatabase(postgresUrl)
    redis = new Redis(redisUrl)
    env = { DATABASE_URL: db.url, REDIS_URL: redisUrl, REDIS_PREFIX: prefix, SHUTDOWN_GRACE_MS: '4000' }
    // Both start at once on an empty database: migrations must run exactly once.
    nodes.push(...(await Promise.all([startServerProcess({ env }), startServerProcess({ env })])))
    pool = [...nodes]
    const origins = (): string[] => pool.map((n) => n.baseUrl)
    const base = await nodeClientEnv(nodes[0]?.baseUrl ?? '', { connectTimeoutMs: 10_000 })
    // Alice starts on node 1, Bob on node 2.
    alice = await registerClient(new Balancer(origins, 0).env(base), 'alice')
    bob = await registerClient(new Balancer(origins, 1).env(base), 'bob')
    internals(bob).signaling.on('presence', (f) => {
      if (f.username === alice.username) bobSawAlice.push(f.online)
    })
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
    await db.drop()
    for (const key of await redis.keys(`${prefix}*`)) await redis.del(key)
    redis.disconnect()
  })

  it('befriends, shows presence and chats over WebRTC between clients on different nodes', async () => {
    const [n1, n2] = nodes as [ServerProcess, ServerProcess]
    await until(
      'alice and bob connected',
      () => alice.connectionState === 'online' && bob.connectionState === 'online',
    )
    expect((await health(n1)).connections).toBe(1)
    expect((await health(n2)).connections).toBe(1)

    await befriend(alice, bob)

    const fromAlice = Array.from({ length: 20 }, (_, i) => `hello from node 1, #${i}`)
    for (const text of fromAlice) await alice.sendText(directConversationId(bob.username), text)
    await bob.sendText(directConversationId(alice.username), 'hello from node 2')
    await until('bob to get every message', async () => (await received(bob, alice.username)).length === 20)
    await until('alice to get the reply', async () => (await received(alice, bob.username)).length === 1)
    expect(await received(bob, alice.username)).toEqual(fromAlice)
    // The offer, answer and candidates went from one node to the other through Redis.
    expect((await relayed(n1)) + (await relayed(n2))).toBeGreaterThan(0)
  })

  it('carries on through the other node when one is killed: friends see the user offline, then online again', async () => {
    const [n1, n2] = nodes as [ServerProcess, ServerProcess]
    bobSawAlice.length = 0
    n1.child.kill('SIGKILL')
    await n1.exited

    await until(
      'bob to see alice offline and back online',
      () => bobSawAlice.includes(false) && bobSawAlice.at(-1) === true,
      20_000,
    )
    expect(bobSawAlice.indexOf(false)).toBeLessThan(bobSawAlice.lastIndexOf(true))
    expect(bob.isOnline(alice.username)).toBe(true)
    await until('alice back online', () => alice.connectionState === 'online')
    expect((await health(n2)).connections).toBe(2)
    await until(
      'no presence left on the dead node',
      async () => (await stalePresence(redis, prefix)).length === 0,
      15_000,
    )

    // A fresh peer connection has to be negotiated now, and only node 2 can carry it.
    const relayedBefore = await relayed(n2)
    internals(bob).peers.disconnect(alice.username)
    const after = ['after the crash 1', 'after the crash 2', 'after the crash 3']
    for (const text of after) await bob.sendText(directConversationId(alice.username), text)
    await until(
      'alice to get the messages sent after the crash',
      async () => {
        const got = await received(alice, bob.username)
        return after.every((t) => got.includes(t))
      },
      40_000,
    )
    expect(await relayed(n2)).toBeGreaterThan(relayedBefore)
    expect((await received(alice, bob.username)).filter((t) => t.startsWith('after the crash'))).toEqual(
      after,
    )
  })

  it('loses no message while a node drains on SIGTERM and its clients move to another', async () => {
    const n2 = nodes[1] as ServerProcess
    const n3 = await startServerProcess({ env })
    nodes.push(n3)
    pool = [n2, n3]

    const before = (await received(bob, alice.username)).length
    const sent: string[] = []
    let stopped: Promise<{ code: number | null }> | undefined
    for (let i = 0; i < 60; i++) {
      if (i === 15) {
        // The rolling restart: node 2 drains; the load balancer stops sending clients to it.
        pool = [n3]
        stopped = n2.stop('SIGTERM')
        // And the peer connection drops at the same moment, so reconnecting needs signaling.
        internals(alice).peers.disconnect(bob.username)
      }
      const text = `during the restart #${i}`
      sent.push(text)
      await alice.sendText(directConversationId(bob.username), text)
      await new Promise((r) => setTimeout(r, 25))
    }
    expect((await stopped)?.code).toBe(0)
    await until(
      'every message at bob',
      async () => (await received(bob, alice.username)).length >= before + sent.length,
      40_000,
    )
    const got = await received(bob, alice.username)
    for (const text of sent) expect(got.filter((t) => t === text)).toHaveLength(1)
    expect(got.slice(before)).toEqual(sent)

    await until('both clients on node 3', async () => (await health(n3)).connections === 2)
    expect(alice.isOnline(bob.username)).toBe(true)
    expect(bob.isOnline(alice.username)).toBe(true)
    expect(await stalePresence(redis, prefix)).toEqual([])
  })

  it('leaves no stale presence: a user who closes is offline for friends on every node', async () => {
    const name = alice.username
    alice.close()
    await until('bob to see alice offline', () => !bob.isOnline(name))
    expect(await redis.exists(`${prefix}presence:${name}`)).toBe(0)
  })
})
