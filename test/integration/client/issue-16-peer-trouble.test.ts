// Issue 16: a connection that breaks while it is being set up is trouble the client recovers
// from by itself, not a refusal. Before the fix, a connection dropped while the ratchet was being
// chosen was "opened" after it had closed, read the torn-down connection, and reported
// `peer-error` 'bad-state' with "Cannot read properties of null (reading 'remoteDescription')",
// which the page showed in red.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PeerErrorEvent, TincanClient } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'
import { faultyRtc, type Faults } from '../../helpers/faulty-rtc.ts'

describe('a connection that drops while it is being set up (issue 16)', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient
  const errors: PeerErrorEvent[] = []
  // Alice's first connections end right after Bob's hello arrives, as when his tab closes then.
  const dropping: Faults = { garbage: 0, drops: 0 }

  beforeAll(async () => {
    server = await startServer()
    const env = await nodeClientEnv(server.baseUrl)
    const aliceEnv = await nodeClientEnv(server.baseUrl, { RTCPeerConnection: faultyRtc(dropping) })
    alice = await registerClient(aliceEnv, 'alice')
    bob = await registerClient(env, 'bob')
    alice.on('peer-error', (e) => errors.push(e))
    bob.on('peer-error', (e) => errors.push(e))
    await befriend(alice, bob)
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('reports no refusal, opens again by itself, and delivers what was written meanwhile', async () => {
    dropping.drops = 2
    let opens = 0
    internals(alice).peers.on('open', () => opens++)
    await alice.sendText(directConversationId(bob.username), 'through a connection that dropped twice')
    await until('both drops to happen', () => dropping.drops === 0)
    await until(
      'the message to arrive over the third connection',
      async () =>
        (await bob.loadMessages(directConversationId(alice.username))).some(
          (m) => m.content.text === 'through a connection that dropped twice',
        ),
      60_000,
    )
    expect(alice.isConnected(bob.username)).toBe(true)
    // Only the connection that lasted opened: the dropped ones never counted as open.
    expect(opens).toBe(1)
    expect(errors).toEqual([])
  })
})
