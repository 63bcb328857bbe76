import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import type { FileAcceptMessage, FileControlMessage } from '../../../shared/index.ts'
import { twoFriends } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { cut, MiB, patternSource, progressPast, sha256Of, sha256OfSource, untilState } from './helpers.ts'
import { internals } from '../../helpers/internals.ts'
import { directConversationId } from '../../../client/core/index.ts'

const size = 100 * MiB

/** Issue 5: large files over the data channel, through a real server and real WebRTC (wrtc). */
describe('large files between two clients in Node', () => {
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

  /** The resume points the receiver asked for, as the sender saw them. */
  function recordAccepts(client: TincanClient): FileAcceptMessage[] {
    const accepts: FileAcceptMessage[] = []
    const control = internals(client).files.control.bind(internals(client).files)
    internals(client).files.control = (peer: string, frame: FileControlMessage) => {
      if (frame.type === 'file-accept') accepts.push(frame)
      return control(peer, frame)
    }
    return accepts
  }

  it('delivers a 100 MiB file whose bytes hash the same as the original', async () => {
    const source = patternSource('video.mp4', size, 100, 'video/mp4')
    const sent = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(bob, sent.fileId, ['offered'])
    await bob.acceptFile(sent.fileId)
    const received = await untilState(bob, sent.fileId, ['done', 'failed'], 120_000)
    expect(received.error).toBeNull()
    expect(received.state).toBe('done')
    expect(received.available).toBe(true)
    expect((await untilState(alice, sent.fileId, ['done'])).bytesDone).toBe(size)
    expect(await sha256Of(internals(bob).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    const blob = await bob.openFile(sent.fileId)
    expect(blob.size).toBe(size)
    expect(blob.type).toBe('video/mp4')
    await internals(bob).files.deleteFile(sent.fileId)
    await internals(alice).files.deleteFile(sent.fileId)
  })

  it('resumes after the connection is cut at 30 % and at 60 %, without starting over', async () => {
    const accepts = recordAccepts(alice)
    const source = patternSource('backup.tar', size, 200)
    const sent = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(bob, sent.fileId, ['offered'])
    const at30 = progressPast(bob, sent.fileId, 0.3)
    await bob.acceptFile(sent.fileId)
    await at30
    cut(alice, bob.username)
    await until('the cut to be noticed', () => !alice.isConnected(bob.username))
    const at60 = progressPast(bob, sent.fileId, 0.6)
    await at60
    cut(bob, alice.username)
    const received = await untilState(bob, sent.fileId, ['done', 'failed'], 120_000)
    expect(received.state).toBe('done')
    await untilState(alice, sent.fileId, ['done'])
    expect(await sha256Of(internals(bob).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))

    // One accept per connection: from 0, then from where each cut left the stored chunks.
    const points = accepts.filter((a) => a.fileId === sent.fileId).map((a) => a.fromChunk)
    expect(points[0]).toBe(0)
    expect(points.length).toBeGreaterThanOrEqual(3)
    const view = await internals(alice).files.transfer(sent.fileId)
    const resumedAt = points.map((p) => (p * (view?.chunkSize ?? 0)) / size)
    expect(resumedAt.at(-2)).toBeGreaterThan(0.25)
    expect(resumedAt.at(-1)).toBeGreaterThan(0.55)
    // What actually went over the wire across the three connections.
    const wire = view?.wireBytes ?? Infinity
    expect(wire).toBeGreaterThanOrEqual(size)
    expect(wire).toBeLessThan(1.3 * size)
    await internals(bob).files.deleteFile(sent.fileId)
    await internals(alice).files.deleteFile(sent.fileId)
  })
})
