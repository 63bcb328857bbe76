import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient } from '../../../client/core/client.ts'
import { directConversationId, type Message } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { uniqueName } from '../../helpers/api.ts'

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('one-to-one chat between two clients in Node', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    const env = await nodeClientEnv(server.baseUrl)
    alice = await TincanClient.register(env, uniqueName('alice'), 'correct horse battery staple')
    bob = await TincanClient.register(env, uniqueName('bob'), 'another long passphrase')
    await alice.sendFriendRequest(bob.username)
    await until('the request to reach bob', () => bob.requests.incoming.some((r) => r.username === alice.username))
    await bob.acceptFriendRequest(alice.username)
    await until('alice to see bob online', () => alice.signaling.online.has(bob.username))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('exchanges 1,000 messages with none lost or duplicated, in order', async () => {
    const received: Message[] = []
    const off = bob.on('message', (m) => {
      if (m.author === alice.username) received.push(m)
    })
    for (let i = 0; i < 1000; i++) await alice.sendText(bob.username, `message ${i} 你好 👋`)
    await until('all 1,000 messages at bob', async () => (await bob.history.count(directConversationId(alice.username))) >= 1000 || undefined, 60_000)
    off()
    const stored = await bob.loadMessages(directConversationId(alice.username), undefined, 2000)
    expect(stored).toHaveLength(1000)
    expect(stored.map((m) => m.content.text)).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i} 你好 👋`))
    expect(new Set(received.map((m) => m.id)).size).toBe(1000)
    await until('every message delivered at alice', async () => {
      const mine = await alice.loadMessages(directConversationId(bob.username), undefined, 2000)
      return mine.length === 1000 && mine.every((m) => m.state === 'delivered') ? true : undefined
    })
  })
})
