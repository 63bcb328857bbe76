// Issue 16: a connection that breaks while it is being set up is trouble the client recovers
// from by itself, not a refusal. Before the fix, a connection dropped while the ratchet was being
// chosen was "opened" after it had closed, read simple-peer's torn-down connection, and reported
// `peer-error` 'bad-state' with "Cannot read properties of null (reading 'remoteDescription')",
// which the page showed in red.
import SimplePeer from 'simple-peer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PeerErrorEvent, TincanClient } from '../../../client/core/client.ts'
import type { SimplePeerConstructor, SimplePeerOptions } from '../../../client/core/peer/simple-peer-types.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

/** The first byte of the frame each side sends once the handshake is done (peer/link.ts). */
const helloFrame = 0x02

/**
 * simple-peer, except that the first `drops` connections end right after the friend's hello
 * arrived — while this side is still choosing its ratchet, as when the friend's tab closes then.
 */
function droppingAfterHello(state: { drops: number }): SimplePeerConstructor {
  return class {
    constructor(opts: SimplePeerOptions) {
      const sp = new SimplePeer(opts)
      const on = sp.on.bind(sp) as (event: string, handler: (...args: never[]) => void) => void
      Object.assign(sp, {
        on(event: string, handler: (data: Uint8Array) => void) {
          if (event !== 'data') return on(event, handler)
          return on('data', (data: Uint8Array) => {
            handler(data)
            if (data[0] === helloFrame && state.drops > 0) {
              state.drops--
              sp.destroy()
            }
          })
        },
      })
      return sp
    }
  } as unknown as SimplePeerConstructor
}

describe('a connection that drops while it is being set up (issue 16)', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient
  const errors: PeerErrorEvent[] = []
  const dropping = { drops: 0 }

  beforeAll(async () => {
    server = await startServer()
    const env = await nodeClientEnv(server.baseUrl)
    const aliceEnv = await nodeClientEnv(server.baseUrl, { SimplePeer: droppingAfterHello(dropping) })
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
