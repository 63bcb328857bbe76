import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import { type ClientEnv } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { ed25519KeyPair, signEnvelope } from '../../../crypto/index.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { WsProxy } from '../../helpers/ws-proxy.ts'
import { internals } from '../../helpers/internals.ts'

interface PeerErrorEvent {
  peer: string
  code: string
  message: string
}

/** Bob reaches the server through a hostile relay; Alice connects directly. */
describe('connections through a relay that tampers with signaling', () => {
  let server: TestServer
  let proxy: WsProxy
  let env: ClientEnv
  let alice: TincanClient
  let bob: TincanClient
  let bobErrors: PeerErrorEvent[]

  beforeAll(async () => {
    server = await startServer()
    proxy = await WsProxy.start(server.wsUrl)
    env = await nodeClientEnv(server.baseUrl, { connectTimeoutMs: 8_000 })
    alice = await registerClient(env, 'alice')
    bob = await registerClient({ ...env, createSocket: () => env.createSocket(proxy.url) }, 'bob')
    bobErrors = []
    bob.on('peer-error', (e) => bobErrors.push(e))
    await befriend(alice, bob)
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await proxy.close()
    await server.close()
  })

  it('refuses an offer whose DTLS fingerprint was swapped, and says why', async () => {
    proxy.tamper = (frame, direction) => {
      if (direction !== 'to-client' || frame.type !== 'signal') return frame
      const envelope = JSON.parse(frame.envelope as string) as { type: string; payload: string }
      if (envelope.type !== 'offer') return frame
      // The relay puts its own certificate's fingerprint in the SDP, as a man in the middle would.
      envelope.payload = envelope.payload.replace(
        /a=fingerprint:sha-256 [0-9A-F:]+/i,
        `a=fingerprint:sha-256 ${'AB:'.repeat(31)}AB`,
      )
      return { ...frame, envelope: JSON.stringify(envelope) }
    }
    alice.connect(bob.username)
    const error = await until('bob to refuse the tampered offer', () =>
      bobErrors.find((e) => e.peer === alice.username),
    )
    expect(error.code).toBe('bad-signature')
    expect(error.message).toMatch(/refused a connection attempt/)
    expect(bob.isConnected(alice.username)).toBe(false)
    internals(alice).peers.disconnect(bob.username)
    proxy.tamper = (f) => f
  })

  it('refuses an envelope signed by a key other than the pinned one', async () => {
    bobErrors.length = 0
    const forged = signEnvelope(ed25519KeyPair(), {
      type: 'offer',
      from: alice.username,
      to: bob.username,
      sessionId: 'forgedsession000',
      sequence: 1,
      timestampMs: Date.now(),
      fingerprints: [`sha-256 ${'CD:'.repeat(31)}CD`],
      payload: `v=0\r\na=fingerprint:sha-256 ${'CD:'.repeat(31)}CD\r\n`,
    })
    proxy.inject({
      type: 'signal',
      from: alice.username,
      sid: 'forgedsession000',
      envelope: JSON.stringify(forged),
    })
    const error = await until('bob to refuse the forged envelope', () =>
      bobErrors.find((e) => e.peer === alice.username),
    )
    expect(error.code).toBe('untrusted-key')
    expect(bob.peerState(alice.username)).toBe('idle')
  })

  it('connects through the relay when it is honest, and ignores a replayed offer: no warning, the same connection goes on', async () => {
    bobErrors.length = 0
    const seen: Record<string, unknown>[] = []
    proxy.tamper = (frame, direction) => {
      if (direction === 'to-client' && frame.type === 'signal') seen.push(frame)
      return frame
    }
    await alice.sendText(directConversationId(bob.username), 'hello through the relay')
    await until('the message at bob', async () =>
      (await bob.loadMessages(directConversationId(alice.username))).some(
        (m) => m.content.text === 'hello through the relay',
      ),
    )
    const offer = seen.find((f) => (JSON.parse(f.envelope as string) as { type: string }).type === 'offer')
    expect(offer).toBeDefined()
    const sid = internals(bob).peers.fileLink(alice.username)?.sid
    expect(sid).toBe(offer?.sid)
    // The replay is the very envelope Bob already acted on: it can start nothing, and it is what
    // an honest server re-sends after losing its acknowledgment, so it is dropped without a word.
    // Bob handles a friend's signals one at a time, so once the forged one that follows is
    // refused, the replay has been handled too.
    proxy.inject(offer ?? {})
    proxy.inject({ type: 'signal', from: alice.username, sid: 'forgedsession001', envelope: forgedOffer() })
    const error = await until('bob to refuse the forged envelope after the replay', () =>
      bobErrors.find((e) => e.peer === alice.username),
    )
    expect(error.code).toBe('untrusted-key')
    expect(bobErrors).toHaveLength(1)
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(sid)
    await alice.sendText(directConversationId(bob.username), 'still here')
    await until('the chat to keep working', async () =>
      (await bob.loadMessages(directConversationId(alice.username))).some(
        (m) => m.content.text === 'still here',
      ),
    )
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(sid)
  })

  it('refuses an envelope forged for the open connection, says why, and keeps the connection', async () => {
    proxy.tamper = (f) => f
    await alice.sendText(directConversationId(bob.username), 'before the forged envelope')
    const sid = await until(
      'an open connection at bob',
      () => internals(bob).peers.fileLink(alice.username)?.sid,
    )
    bobErrors.length = 0
    proxy.inject({ type: 'signal', from: alice.username, sid, envelope: forgedOffer(sid) })
    const error = await until('bob to refuse the forged envelope', () =>
      bobErrors.find((e) => e.peer === alice.username),
    )
    expect(error.code).toBe('untrusted-key')
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(sid)
    await alice.sendText(directConversationId(bob.username), 'the forged envelope changed nothing')
    await until('the chat to keep working', async () =>
      (await bob.loadMessages(directConversationId(alice.username))).some(
        (m) => m.content.text === 'the forged envelope changed nothing',
      ),
    )
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(sid)
    expect(bobErrors).toHaveLength(1)
  })

  /** An offer from Alice signed by a key that is not hers, as only a forger could make. */
  function forgedOffer(sessionId = 'forgedsession001'): string {
    return JSON.stringify(
      signEnvelope(ed25519KeyPair(), {
        type: 'offer',
        from: alice.username,
        to: bob.username,
        sessionId,
        sequence: 1,
        timestampMs: Date.now(),
        fingerprints: [`sha-256 ${'CD:'.repeat(31)}CD`],
        payload: `v=0\r\na=fingerprint:sha-256 ${'CD:'.repeat(31)}CD\r\n`,
      }),
    )
  }
})
