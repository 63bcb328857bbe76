import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import type { PeerLink } from '../../../client/core/peer/link.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { WsProxy, type ProxiedConnection, type Tamper } from '../../helpers/ws-proxy.ts'
import { internals } from '../../helpers/internals.ts'

/**
 * Issue 14, F3 and F4: an honest server that loses an acknowledgment or delivers signals out of
 * order must cause no security warning and no failed connection attempt.
 */

interface PeerErrorEvent {
  peer: string
  code: string
  message: string
}

type Frame = Record<string, unknown>

function envelopeType(frame: Frame): string {
  return (JSON.parse(frame.envelope as string) as { type: string }).type
}

function linkTo(client: TincanClient, peer: string): PeerLink | undefined {
  return (internals(client).peers as unknown as { links: Map<string, PeerLink> }).links.get(peer)
}

/** True once the client's connection attempt to `peer` has handed every ICE candidate to the socket. */
function gatheringDone(client: TincanClient, peer: string): boolean {
  return linkTo(client, peer)?.rtc.pc.iceGatheringState === 'complete'
}

/** What the connection to `peer` knows of the other side: its SDP and every candidate added since. */
function remoteSdp(client: TincanClient, peer: string): string {
  return linkTo(client, peer)?.rtc.pc.remoteDescription?.sdp ?? ''
}

/** The candidate in a signal frame as an SDP line starts: foundation, component, protocol, priority, address, port. */
function candidateLine(frame: Frame): string {
  const envelope = JSON.parse(frame.envelope as string) as { payload: string }
  const { candidate } = JSON.parse(envelope.payload) as { candidate: string }
  return `a=${candidate.split(' ').slice(0, 6).join(' ')} `
}

async function delivered(reader: TincanClient, author: TincanClient, text: string): Promise<void> {
  await until(
    `"${text}" at ${reader.username}`,
    async () =>
      (await reader.loadMessages(directConversationId(author.username))).some((m) => m.content.text === text),
    60_000,
  )
}

/** Alice and Bob, friends, both reaching the server through one relay the test controls. */
async function pairBehindRelay(server: TestServer): Promise<{
  proxy: WsProxy
  alice: TincanClient
  bob: TincanClient
  errors: PeerErrorEvent[]
}> {
  const env = await nodeClientEnv(server.baseUrl)
  const proxy = await WsProxy.start(server.wsUrl)
  const relayed = { ...env, createSocket: () => env.createSocket(proxy.url) }
  const alice = await registerClient(relayed, 'alice')
  const bob = await registerClient(relayed, 'bob')
  const errors: PeerErrorEvent[] = []
  alice.on('peer-error', (e) => errors.push(e))
  bob.on('peer-error', (e) => errors.push(e))
  await befriend(alice, bob)
  return { proxy, alice, bob, errors }
}

describe('a server that relays an offer but loses its acknowledgment (issue 14, F3)', () => {
  let server: TestServer
  let proxy: WsProxy
  let alice: TincanClient
  let bob: TincanClient
  let errors: PeerErrorEvent[]

  beforeAll(async () => {
    server = await startServer()
    ;({ proxy, alice, bob, errors } = await pairBehindRelay(server))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await proxy.close()
    await server.close()
  })

  it('connects at the first attempt, with no warning, when the sender re-sends the offer after reconnecting', async () => {
    // The server relays Alice's offer and never acknowledges it; once Bob has answered, Alice's
    // connection to the server drops, as when the server dies with the acknowledgment unsent.
    // Alice reconnects and re-sends the offer, byte for byte: Bob already has it.
    let offer: { ref: string; sid: string } | undefined
    let aliceConnection: ProxiedConnection | undefined
    const relayedToServer = new Map<string, number>()
    let cut = false
    let resentAcknowledged = false
    proxy.tamper = (frame, direction, connection) => {
      if (direction === 'to-server') {
        if (frame.type === 'signal' && frame.to === bob.username) {
          const ref = String(frame.ref)
          relayedToServer.set(ref, (relayedToServer.get(ref) ?? 0) + 1)
          if (offer === undefined && envelopeType(frame) === 'offer') offer = { ref, sid: String(frame.sid) }
          if (ref === offer?.ref) aliceConnection = connection
        }
        return frame
      }
      if (offer === undefined || connection !== aliceConnection) return frame
      if (frame.type === 'sent' && frame.ref === offer.ref) {
        if (!cut) return null
        resentAcknowledged = true
      }
      if (!cut && frame.type === 'signal' && envelopeType(frame) === 'answer') {
        cut = true
        setTimeout(() => connection.cut(), 0)
      }
      return frame
    }

    await alice.sendText(directConversationId(bob.username), 'after a lost acknowledgment')
    await delivered(bob, alice, 'after a lost acknowledgment')
    // The server acknowledges the re-sent offer once it has relayed it to Bob, who had it already.
    await until('the re-sent offer relayed and acknowledged', () => resentAcknowledged)
    await alice.sendText(directConversationId(bob.username), 'and the same connection goes on')
    await delivered(bob, alice, 'and the same connection goes on')

    expect(errors).toEqual([])
    expect(relayedToServer.get(offer?.ref ?? '')).toBe(2)
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(offer?.sid)
    expect(internals(alice).peers.fileLink(bob.username)?.sid).toBe(offer?.sid)
  })

  it('goes on connecting, with no warning, when the friend seems to go and come back meanwhile', async () => {
    // A restarting server drops everyone and tells who left and who came back, while the offer
    // it relayed is being answered. A presence frame is a hint: it must not end the attempt.
    internals(alice).peers.disconnect(bob.username)
    internals(bob).peers.disconnect(alice.username)
    errors.length = 0
    let held: { frame: Frame; connection: ProxiedConnection } | undefined
    let released = false
    proxy.tamper = (frame, direction, connection) => {
      if (direction !== 'to-client' || released || frame.type !== 'signal' || frame.from !== bob.username)
        return frame
      if (held === undefined && envelopeType(frame) === 'answer') held = { frame, connection }
      return held === undefined ? frame : null
    }
    const sending = alice.sendText(directConversationId(bob.username), 'while presence flaps')
    const { frame, connection } = await until('bob to answer', () => held)
    await until('alice to be waiting for the answer', () => alice.peerState(bob.username) === 'connecting')
    connection.toClient({ type: 'presence', username: bob.username, online: false })
    connection.toClient({ type: 'presence', username: bob.username, online: true })
    await until('alice to see bob online again', () => alice.isOnline(bob.username))
    released = true
    connection.toClient(frame)
    await sending
    await delivered(bob, alice, 'while presence flaps')

    expect(errors).toEqual([])
    expect(internals(alice).peers.fileLink(bob.username)?.sid).toBe(frame.sid)
  })

  it('keeps a working connection when a signal it never acknowledged is refused later', async () => {
    // The server relays the offer but holds the acknowledgment back; long after the connection
    // opened, it answers for that signal with an error (or the sender's queue gives it up).
    internals(alice).peers.disconnect(bob.username)
    internals(bob).peers.disconnect(alice.username)
    errors.length = 0
    let offer: { ref: string; sid: string; connection: ProxiedConnection } | undefined
    proxy.tamper = (frame, direction, connection) => {
      if (direction === 'to-server' && frame.type === 'signal' && offer === undefined) {
        if (frame.to === bob.username && envelopeType(frame) === 'offer')
          offer = { ref: String(frame.ref), sid: String(frame.sid), connection }
      }
      if (direction === 'to-client' && frame.type === 'sent' && connection === offer?.connection)
        return frame.ref === offer.ref ? null : frame
      return frame
    }
    await alice.sendText(directConversationId(bob.username), 'before the late refusal')
    await delivered(bob, alice, 'before the late refusal')
    const { ref, sid, connection } = await until('the offer seen', () => offer)
    expect(internals(alice).peers.fileLink(bob.username)?.sid).toBe(sid)

    connection.toClient({ type: 'error', ref, code: 'peer-offline', message: 'not online' })
    // Frames are handled in order: once this one is seen, the refusal has been handled.
    const marker = { type: 'presence', username: `${bob.username}-marker`, online: true }
    connection.toClient(marker)
    await until('alice to handle the refusal', () => alice.isOnline(marker.username))

    expect(alice.isConnected(bob.username)).toBe(true)
    await alice.sendText(directConversationId(bob.username), 'after the late refusal')
    await delivered(bob, alice, 'after the late refusal')
    expect(internals(alice).peers.fileLink(bob.username)?.sid).toBe(sid)
    expect(errors).toEqual([])
  })
})

describe('a server that delivers ICE candidates before the offer or answer they belong to (issue 14, F4)', () => {
  let server: TestServer
  let proxy: WsProxy
  let alice: TincanClient
  let bob: TincanClient
  let errors: PeerErrorEvent[]

  beforeAll(async () => {
    server = await startServer()
    ;({ proxy, alice, bob, errors } = await pairBehindRelay(server))
  })

  afterEach(async () => {
    proxy.tamper = (f) => f
    internals(alice).peers.disconnect(bob.username)
    internals(bob).peers.disconnect(alice.username)
    await until(
      'both sides idle',
      () => alice.peerState(bob.username) === 'idle' && bob.peerState(alice.username) === 'idle',
    )
    errors.length = 0
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await proxy.close()
    await server.close()
  })

  /**
   * Holds back the first `kind` envelope from `sender` to `receiver` until every ICE candidate
   * of that attempt has reached `receiver`.
   */
  function candidatesFirst(
    sender: TincanClient,
    receiver: TincanClient,
    kind: 'offer' | 'answer',
  ): { tamper: Tamper; release: () => Promise<{ sid: string; early: string[] }> } {
    let held: { frame: Frame; connection: ProxiedConnection } | undefined
    let released = false
    let sent = 0
    const early: string[] = []
    const tamper: Tamper = (frame, direction, connection) => {
      if (frame.type !== 'signal') return frame
      if (direction === 'to-server') {
        if (frame.to === receiver.username && envelopeType(frame) === 'candidate') sent++
        return frame
      }
      if (frame.from !== sender.username || released) return frame
      if (held === undefined && envelopeType(frame) === kind) {
        held = { frame, connection }
        return null
      }
      if (held !== undefined && frame.sid === held.frame.sid && envelopeType(frame) === 'candidate')
        early.push(candidateLine(frame))
      return frame
    }
    const release = async (): Promise<{ sid: string; early: string[] }> => {
      const { frame, connection } = await until(
        `${sender.username}'s ${kind} held and every candidate through`,
        () =>
          held !== undefined && gatheringDone(sender, receiver.username) && early.length === sent
            ? held
            : undefined,
      )
      released = true
      connection.toClient(frame)
      return { sid: String(frame.sid), early }
    }
    return { tamper, release }
  }

  it('connects at the first attempt, with no warning, when every candidate comes before the offer', async () => {
    const order = candidatesFirst(alice, bob, 'offer')
    proxy.tamper = order.tamper
    const sending = alice.sendText(directConversationId(bob.username), 'candidates before the offer')
    const { sid, early } = await order.release()
    await sending
    await delivered(bob, alice, 'candidates before the offer')

    expect(errors).toEqual([])
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(sid)
    // Not one candidate was lost for having come early.
    expect(early.length).toBeGreaterThan(1)
    const known = remoteSdp(bob, alice.username)
    for (const line of early) expect(known).toContain(line)
  })

  it('connects at the first attempt, with no warning, when every candidate comes before the answer', async () => {
    const order = candidatesFirst(bob, alice, 'answer')
    proxy.tamper = order.tamper
    const sending = alice.sendText(directConversationId(bob.username), 'candidates before the answer')
    const { sid, early } = await order.release()
    await sending
    await delivered(bob, alice, 'candidates before the answer')

    expect(errors).toEqual([])
    expect(internals(alice).peers.fileLink(bob.username)?.sid).toBe(sid)
    expect(early.length).toBeGreaterThan(1)
    const known = remoteSdp(alice, bob.username)
    for (const line of early) expect(known).toContain(line)
  })
})
