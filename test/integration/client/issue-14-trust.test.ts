import { afterEach, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { WsProxy } from '../../helpers/ws-proxy.ts'
import { internals } from '../../helpers/internals.ts'

/** Issue 14: what the server says about friends and presence is a claim the client checks. */
describe('what the server says about friends', () => {
  let server: TestServer
  let proxy: WsProxy | undefined
  const open: TincanClient[] = []

  afterEach(async () => {
    for (const c of open.splice(0)) c.close()
    await proxy?.close()
    proxy = undefined
    await server.close()
  })

  it('shows a connected friend online when the server says they left', async () => {
    server = await startServer()
    proxy = await WsProxy.start(server.wsUrl)
    const env = await nodeClientEnv(server.baseUrl)
    const alice = await registerClient({ ...env, createSocket: () => env.createSocket(proxy!.url) }, 'alice')
    const bob = await registerClient(env, 'bob')
    open.push(alice, bob)
    await befriend(alice, bob)
    await alice.sendText(directConversationId(bob.username), 'hi')
    await until('the connection to open', () => alice.isConnected(bob.username))

    proxy.inject({ type: 'presence', username: bob.username, online: false })
    await until('alice to hear the server', () => !alice.isOnline(bob.username))
    const view = (await alice.friendViews()).find((f) => f.username === bob.username)
    expect(view).toMatchObject({ online: true, peerState: 'open' })
    // And the connection really is there: a message goes straight through.
    await alice.sendText(directConversationId(bob.username), 'still here?')
    await until('bob to get it', async () =>
      (await bob.loadMessages(directConversationId(alice.username))).some(
        (m) => m.content.text === 'still here?',
      ),
    )
  })

  it('lists a friend added on another browser as unconfirmed: nothing goes either way until the user confirms', async () => {
    server = await startServer()
    const env = await nodeClientEnv(server.baseUrl)
    const alice = await registerClient(env, 'alice')
    const dan = await registerClient(env, 'dan')
    open.push(alice, dan)
    const refusals: string[] = []
    alice.on('peer-error', (e) => refusals.push(e.code))
    await dan.sendFriendRequest(alice.username)
    await until('alice to get the request', () =>
      alice.requests.incoming.some((r) => r.username === dan.username),
    )
    // Alice accepts it on another browser (her session, not this device).
    await server.api.as(internals(alice).api.token ?? '').acceptFriend(dan.username)
    const view = await until('dan in alice’s list', async () =>
      (await alice.friendViews()).find((f) => f.username === dan.username),
    )
    expect(view).toMatchObject({ unconfirmed: true, keyChanged: false, verified: false })
    await expect(alice.sendText(directConversationId(dan.username), 'hello?')).rejects.toMatchObject({
      code: 'forbidden',
    })

    // Dan (who did send the request) writes; his device calls, and Alice's refuses, quietly.
    await dan.sendText(directConversationId(alice.username), 'hi alice, dan here')
    await until('dan’s call to be refused', () => dan.peerState(alice.username) === 'connecting')
    expect((await alice.loadMessages(directConversationId(dan.username))).length).toBe(0)

    // The safety number can be compared before confirming: it is made from the key the server claims.
    const safety = await alice.safetyNumber(dan.username)
    expect((await dan.safetyNumber(alice.username)).digits).toBe(safety.digits)
    await alice.acceptKeyChange(dan.username)
    expect((await alice.friendViews()).find((f) => f.username === dan.username)).toMatchObject({
      unconfirmed: false,
    })
    await until('dan’s message to arrive', async () =>
      (await alice.loadMessages(directConversationId(dan.username))).some(
        (m) => m.content.text === 'hi alice, dan here',
      ),
    )
    // The refusals before confirming were expected, not shown as attacks.
    expect(refusals).not.toContain('untrusted-key')
  })
})
