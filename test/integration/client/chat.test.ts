import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { directConversationId, type Message } from '../../../client/core/store/history.ts'
import { testPassword, twoFriends } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

async function texts(client: TincanClient, peer: string): Promise<string[]> {
  return (await client.loadMessages(directConversationId(peer), undefined, 5000)).map((m) => m.content.text)
}

describe('one-to-one chat between two clients in Node', () => {
  let server: TestServer
  let env: ClientEnv
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    ;({ env, alice, bob } = await twoFriends(server.baseUrl))
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
    const sent = Array.from({ length: 1000 }, (_, i) => `message ${i} 你好 👋`)
    for (const text of sent) await alice.sendText(directConversationId(bob.username), text)
    await until(
      'all 1,000 messages at bob',
      async () => (await internals(bob).history.count(directConversationId(alice.username))) >= 1000,
      60_000,
    )
    off()
    expect(await texts(bob, alice.username)).toEqual(sent)
    expect(new Set(received.map((m) => m.id)).size).toBe(1000)
    await until('every message delivered at alice', async () => {
      const mine = await alice.loadMessages(directConversationId(bob.username), undefined, 2000)
      return mine.length === 1000 && mine.every((m) => m.state === 'delivered')
    })
    expect(await internals(bob).messenger['o'].outbox.size()).toBe(0)
  })

  it('loses no message when the server restarts in the middle of a conversation', async () => {
    const before = await internals(bob).history.count(directConversationId(alice.username))
    const sent: string[] = []
    const restarting = server.restart()
    for (let i = 0; i < 50; i++) {
      const text = `during restart ${i}`
      sent.push(text)
      await alice.sendText(directConversationId(bob.username), text)
      await new Promise((r) => setTimeout(r, 10))
    }
    await restarting
    await until(
      'both back online after the restart',
      () => alice.connectionState === 'online' && bob.connectionState === 'online',
      30_000,
    )
    for (let i = 0; i < 10; i++) {
      const text = `after restart ${i}`
      sent.push(text)
      await bob.sendText(directConversationId(alice.username), text)
    }
    await until(
      'all messages across the restart',
      async () => (await internals(bob).history.count(directConversationId(alice.username))) >= before + 60,
      30_000,
    )
    const all = await texts(bob, alice.username)
    for (const text of sent) expect(all.filter((t) => t === text)).toHaveLength(1)
  })

  it('delivers messages written while the friend was offline when the friend comes back', async () => {
    const bobName = bob.username
    bob.close()
    await until('alice to see bob offline', () => !alice.isOnline(bobName))
    const queued = ['are you there?', 'I will wait', '再见 👋']
    for (const t of queued) await alice.sendText(directConversationId(bobName), t)
    const mine = await alice.loadMessages(directConversationId(bobName), undefined, 5000)
    expect(mine.slice(-3).map((m) => m.state)).toEqual(['queued', 'queued', 'queued'])
    bob = await TincanClient.login(env, bobName, testPassword)
    await until(
      'the queued messages at bob',
      async () => {
        const all = await texts(bob, alice.username)
        return queued.every((t) => all.includes(t))
      },
      40_000,
    )
    expect((await texts(bob, alice.username)).slice(-3)).toEqual(queued)
    await until('alice to see them delivered', async () => {
      const m = await alice.loadMessages(directConversationId(bobName), undefined, 3)
      return m.every((x) => x.state === 'delivered' || x.state === 'read')
    })
  })
})
