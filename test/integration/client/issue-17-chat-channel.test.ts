import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import type { FrameSource } from '../../../client/core/peer/send-scheduler.ts'
import { directConversationId, type Message } from '../../../client/core/store/history.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { internals } from '../../helpers/internals.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'

// Issue 17, target 3: chat while a file is moving. File chunks fill the data channel's send
// buffer up to the flow-control mark (1 MiB); a chat frame sent on the same ordered channel would
// arrive only after all of it. Chat travels on its own channel instead.

/** Bulk frames with a file id nobody knows (the receiver drops them after counting), as the file bench's raw run does. */
function bulk(count: number, frameBytes: number): { source: FrameSource; fileId: Uint8Array } {
  const fileId = new Uint8Array(16).fill(0xab)
  const frame = new Uint8Array(frameBytes)
  frame[0] = 0x04
  frame.set(fileId, 1)
  let left = count
  return {
    fileId,
    source: {
      nextFrame: () => {
        if (left === 0) return undefined
        left--
        return frame
      },
      detached: () => undefined,
    },
  }
}

async function connected(from: TincanClient, to: TincanClient): Promise<void> {
  from.connect(to.username)
  await until('the connection', () => internals(from).peers.fileLink(to.username) !== undefined)
  await until('the other side of it', () => internals(to).peers.fileLink(from.username) !== undefined)
}

describe('chat while the data channel is full of file data', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    const env = await nodeClientEnv(server.baseUrl)
    alice = await registerClient(env, 'alice')
    bob = await registerClient(env, 'bob')
    await befriend(alice, bob)
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('delivers a text sent while the buffer is full ahead of the file data queued before it', async () => {
    await connected(alice, bob)
    const frameBytes = 255 * 1024
    const { source, fileId } = bulk(200, frameBytes)
    let bulkReceived = 0
    const offData = internals(bob).peers.on('file-data', ({ data }) => {
      if (fileId.every((b, i) => data[i] === b)) bulkReceived += data.length + 1
    })
    let bulkAtArrival: number | undefined
    const offMessage = bob.on('message', (m: Message) => {
      if (m.content.text === 'overtakes the file') bulkAtArrival = bulkReceived
    })
    const link = internals(alice).peers.fileLink(bob.username)
    if (link === undefined) throw new Error('no connection')
    link.scheduler.add(source)
    // The scheduler keeps the channel's buffer at its high-water mark (1 MiB) from now on.
    await until(
      'a few MiB of file data handed to the channel',
      () => link.scheduler.sentBytes >= 4 * 1024 * 1024,
    )
    const handedBefore = link.scheduler.sentBytes
    await alice.sendText(directConversationId(bob.username), 'overtakes the file')
    const arrivedWith = await until('the text at bob', () => bulkAtArrival)
    // On one ordered channel it would come after everything handed over before it.
    expect(arrivedWith).toBeLessThan(handedBefore)
    await until('all the file data at bob', () => bulkReceived === 200 * frameBytes, 60_000)
    offData()
    offMessage()
  })
})

describe('a client without the chat channel (an older version)', () => {
  let server: TestServer
  let alice: TincanClient
  let older: TincanClient

  beforeAll(async () => {
    server = await startServer()
    alice = await registerClient(await nodeClientEnv(server.baseUrl), 'alice')
    older = await registerClient(await nodeClientEnv(server.baseUrl, { chatChannel: false }), 'older')
    await befriend(alice, older)
  })

  afterAll(async () => {
    alice.close()
    older.close()
    await server.close()
  })

  async function texts(client: TincanClient, peer: string): Promise<string[]> {
    return (await client.loadMessages(directConversationId(peer), undefined, 100)).map((m) => m.content.text)
  }

  it('chats both ways, in order, over the one data channel', async () => {
    for (const [from, to] of [
      [alice, older],
      [older, alice],
    ] as const) {
      // Each side opens the connection once, so each is the initiator once.
      internals(from).peers.disconnect(to.username)
      const sent = Array.from({ length: 20 }, (_, i) => `${from.username} ${i}`)
      for (const text of sent) await from.sendText(directConversationId(to.username), text)
      await until(`${to.username} has them all`, async () => {
        const got = await texts(to, from.username)
        return sent.every((t) => got.includes(t))
      })
      expect((await texts(to, from.username)).filter((t) => t.startsWith(from.username))).toEqual(sent)
    }
  })
})
