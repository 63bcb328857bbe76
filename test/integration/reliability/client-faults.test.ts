import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import { directConversationId, type Message } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient, twoFriends } from '../../helpers/clients.ts'
import { startServer, startServerProcess, type ServerProcess, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { WsProxy } from '../../helpers/ws-proxy.ts'
import {
  cut,
  MiB,
  patternSource,
  progressPast,
  sha256Of,
  sha256OfSource,
  untilState,
} from '../files/helpers.ts'
import { internals } from '../../helpers/internals.ts'

/** Issue 9, client side: the server, the data channel and the relay misbehave; nothing is lost. */

/** What `reader` has from `author` in their conversation, oldest first. */
async function from(reader: TincanClient, author: TincanClient): Promise<Message[]> {
  const all = await reader.loadMessages(directConversationId(author.username), undefined, 10_000)
  return all.filter((m) => m.author === author.username)
}

/** The text messages `author` wrote to `friend`, as the author's device keeps them. */
async function written(author: TincanClient, friend: TincanClient): Promise<Message[]> {
  const all = await author.loadMessages(directConversationId(friend.username), undefined, 10_000)
  return all.filter((m) => m.author === author.username && m.content.file === undefined)
}

/** Waits until `reader` holds at least `count` text messages from `author`, then returns their texts. */
async function textsOnceAtLeast(
  reader: TincanClient,
  author: TincanClient,
  count: number,
): Promise<string[]> {
  const messages = await until(
    `${count} messages from ${author.username} at ${reader.username}`,
    async () => {
      const got = (await from(reader, author)).filter((m) => m.content.file === undefined)
      return got.length >= count ? got : undefined
    },
    60_000,
  )
  expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length)
  return messages.map((m) => m.content.text)
}

describe('the server killed with SIGKILL in the middle of a conversation', () => {
  let server: ServerProcess
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServerProcess()
    ;({ alice, bob } = await twoFriends(server.baseUrl))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.stop()
  })

  it('keeps the chat going over the open data channel, reconnects when the server returns, and loses or repeats nothing', async () => {
    const fromAlice: string[] = []
    const fromBob: string[] = []
    const say = async (who: TincanClient, text: string): Promise<void> => {
      ;(who === alice ? fromAlice : fromBob).push(text)
      await who.sendText(directConversationId((who === alice ? bob : alice).username), text)
    }

    for (let i = 0; i < 20; i++) {
      await say(alice, `before ${i}`)
      await say(bob, `reply before ${i}`)
    }
    await textsOnceAtLeast(bob, alice, 20)
    expect(alice.isConnected(bob.username)).toBe(true)

    // Mid-conversation: messages are in flight in both directions when the process dies.
    const inFlight = Promise.all(
      Array.from({ length: 10 }, (_, i) => [say(alice, `racing ${i}`), say(bob, `racing reply ${i}`)]).flat(),
    )
    const { port, dataDir } = server
    server.child.kill('SIGKILL')
    expect((await server.exited).signal).toBe('SIGKILL')
    await inFlight
    await until('both to notice the server is gone', () =>
      alice.connectionState !== 'online' && bob.connectionState !== 'online' ? true : undefined,
    )

    // The server is down: the friends keep talking directly.
    for (let i = 0; i < 30; i++) {
      await say(alice, `while down ${i} 🔌`)
      await say(bob, `reply while down ${i}`)
    }
    expect(await textsOnceAtLeast(bob, alice, fromAlice.length)).toEqual(fromAlice)
    expect(await textsOnceAtLeast(alice, bob, fromBob.length)).toEqual(fromBob)
    expect(alice.isConnected(bob.username)).toBe(true)
    expect(server.child.exitCode !== null || server.child.signalCode !== null).toBe(true)

    // Back on the same port and data: both clients reconnect by themselves.
    server = await startServerProcess({ dataDir, port })
    await until(
      'both clients back online',
      () => alice.connectionState === 'online' && bob.connectionState === 'online',
      60_000,
    )
    await until('each to see the other online again', () =>
      alice.isOnline(bob.username) && bob.isOnline(alice.username) ? true : undefined,
    )
    for (let i = 0; i < 10; i++) {
      await say(alice, `after ${i}`)
      await say(bob, `reply after ${i}`)
    }
    expect(await textsOnceAtLeast(bob, alice, fromAlice.length)).toEqual(fromAlice)
    expect(await textsOnceAtLeast(alice, bob, fromBob.length)).toEqual(fromBob)
    await until('every message of both marked delivered', async () => {
      const mine = [...(await written(alice, bob)), ...(await written(bob, alice))]
      return (
        mine.length === fromAlice.length + fromBob.length &&
        mine.every((m) => m.state === 'delivered' || m.state === 'read')
      )
    })
  })
})

describe('a data channel dropped while 500 messages and a file are being sent', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    ;({ alice, bob } = await twoFriends(server.baseUrl))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('delivers every message exactly once and in order, and the file verified', async () => {
    bob.setAutoAcceptImagesUnderBytes(0)
    const source = patternSource('photos.zip', 96 * MiB, 9)
    const offer = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(bob, offer.fileId, ['offered'])
    const halfway = progressPast(bob, offer.fileId, 0.5)
    await bob.acceptFile(offer.fileId)

    // The messages go out alongside the file; halfway through the file the connection dies, with
    // messages and chunks in flight, and the rest is written while it is being re-established.
    const sent = Array.from({ length: 500 }, (_, i) => `message ${i} · 数据 ${'x'.repeat(i % 40)}`)
    let count = 0
    const cutting = halfway.then(async () => {
      const atCut = await bob.fileTransfer(offer.fileId)
      cut(alice, bob.username)
      return { atCut, writtenAtCut: count }
    })
    for (const text of sent) {
      // However fast this machine writes, the second half is written after the cut.
      if (count === sent.length / 2) await cutting
      await alice.sendText(directConversationId(bob.username), text)
      count++
    }
    const { atCut, writtenAtCut } = await cutting
    expect(atCut?.state).toBe('transferring')
    expect(atCut?.bytesDone).toBeLessThan(source.size)
    expect(writtenAtCut).toBeGreaterThan(0)
    expect(writtenAtCut).toBeLessThan(sent.length)

    expect(await textsOnceAtLeast(bob, alice, 500)).toEqual(sent)
    const received = await untilState(bob, offer.fileId, ['done', 'failed'], 120_000)
    expect(received.error).toBeNull()
    expect(received.state).toBe('done')
    expect(await sha256Of(internals(bob).files.readFile(offer.fileId))).toBe(await sha256OfSource(source))
    await until('every message delivered at alice', async () => {
      const mine = await written(alice, bob)
      return mine.length === 500 && mine.every((m) => m.state === 'delivered' || m.state === 'read')
    })
    // Nothing left queued on either side.
    expect(await internals(alice).messenger['o'].outbox.size()).toBe(0)
  })
})

describe('a relay that reorders signaling frames', () => {
  let server: TestServer
  let proxy: WsProxy
  let alice: TincanClient
  let bob: TincanClient
  const bobErrors: { peer: string; code: string; message: string }[] = []

  beforeAll(async () => {
    server = await startServer()
    const env = await nodeClientEnv(server.baseUrl)
    proxy = await WsProxy.start(server.wsUrl)
    alice = await registerClient(env, 'alice')
    bob = await registerClient({ ...env, createSocket: () => env.createSocket(proxy.url) }, 'bob')
    bob.on('peer-error', (e) => bobErrors.push(e))
    await befriend(alice, bob)
  })

  afterEach(() => {
    proxy.tamper = (f) => f
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await proxy.close()
    await server.close()
  })

  it('takes a signal delivered after a later one of the same session without a warning, and connects at the first attempt', async () => {
    // Holds back the first signal of the connection attempt (the offer) until the next one has
    // passed. Envelopes carry their own order, so this is harmless (issue 14, F4).
    let held: Record<string, unknown> | undefined
    let heldSid: unknown
    let swapped = 0
    proxy.tamper = (frame, direction) => {
      if (direction !== 'to-client' || frame.type !== 'signal' || swapped > 0) return frame
      if (held === undefined) {
        held = frame
        heldSid = frame.sid
        return null
      }
      const late = held
      held = undefined
      swapped++
      setTimeout(() => proxy.inject(late), 20)
      return frame
    }
    const sending = alice.sendText(directConversationId(bob.username), 'through a reordering relay')
    await sending
    await until(
      'the message to arrive',
      async () => (await from(bob, alice)).some((m) => m.content.text === 'through a reordering relay'),
      60_000,
    )
    expect(swapped).toBe(1)
    expect(bobErrors).toEqual([])
    expect(internals(bob).peers.fileLink(alice.username)?.sid).toBe(heldSid)
  })
})
