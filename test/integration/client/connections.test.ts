import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

async function hasText(client: TincanClient, peer: string, text: string): Promise<boolean> {
  const page = await client.loadMessages(directConversationId(peer), undefined, 200)
  return page.some((m) => m.content.text === text)
}

/** The WebRTC connection behind a client's link to a friend (test-only reach-in). */
function rawPeer(client: TincanClient, peer: string): { destroy(): void } | undefined {
  const links = (internals(client).peers as unknown as { links: Map<string, { rtc: { destroy(): void } }> })
    .links
  return links.get(peer)?.rtc
}

describe('connections between two friends', () => {
  let server: TestServer
  const clients: TincanClient[] = []

  beforeAll(async () => {
    server = await startServer()
  })
  afterEach(() => {
    for (const c of clients.splice(0)) c.close()
  })
  afterAll(async () => {
    await server.close()
  })

  async function pair(idleTimeoutMs?: number): Promise<[TincanClient, TincanClient]> {
    const env = await nodeClientEnv(server.baseUrl, idleTimeoutMs === undefined ? {} : { idleTimeoutMs })
    const a = await registerClient(env, 'alice')
    const b = await registerClient(env, 'bob')
    clients.push(a, b)
    await befriend(a, b)
    return [a, b]
  }

  it('ends with one working connection when both sides call at the same moment', async () => {
    const [alice, bob] = await pair()
    const opened: string[] = []
    internals(alice).peers.on('open', () => opened.push('alice'))
    internals(bob).peers.on('open', () => opened.push('bob'))
    alice.connect(bob.username)
    bob.connect(alice.username)
    await until('both connected', () => alice.isConnected(bob.username) && bob.isConnected(alice.username))
    await new Promise((r) => setTimeout(r, 500))
    expect(opened.sort()).toEqual(['alice', 'bob'])
    await alice.sendText(directConversationId(bob.username), 'one connection')
    await bob.sendText(directConversationId(alice.username), 'works both ways')
    await until(
      'both messages',
      async () =>
        (await hasText(bob, alice.username, 'one connection')) &&
        (await hasText(alice, bob.username, 'works both ways')),
    )
  })

  it('re-establishes a broken connection by itself and delivers what was written meanwhile', async () => {
    const [alice, bob] = await pair()
    await alice.sendText(directConversationId(bob.username), 'before the break')
    await until('first message', () => hasText(bob, alice.username, 'before the break'))
    rawPeer(alice, bob.username)?.destroy()
    await until('the broken link to be noticed', () => !alice.isConnected(bob.username))
    await alice.sendText(directConversationId(bob.username), 'after the break')
    await until('the message after the break', () => hasText(bob, alice.username, 'after the break'), 30_000)
    expect(alice.isConnected(bob.username)).toBe(true)
  })

  it('closes a connection nobody has used for the idle timeout', async () => {
    const [alice, bob] = await pair(1_500)
    await alice.sendText(directConversationId(bob.username), 'hello then silence')
    await until('connected and delivered', () => hasText(bob, alice.username, 'hello then silence'))
    expect(alice.isConnected(bob.username)).toBe(true)
    await until(
      'the idle connection to close',
      () => !alice.isConnected(bob.username) && !bob.isConnected(alice.username),
      20_000,
    )
    await alice.sendText(directConversationId(bob.username), 'waking up again')
    await until('a new connection when there is something to say', () =>
      hasText(bob, alice.username, 'waking up again'),
    )
  })
})
