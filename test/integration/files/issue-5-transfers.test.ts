import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { FileStoreError, type FileStore } from '../../../client/core/files/file-store.ts'
import type { FileErrorEvent, FileProgress, FileTransferView } from '../../../client/core/files/transfers.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { utf8Decode, utf8Encode } from '../../../crypto/index.ts'
import { testPassword, twoFriends } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { MiB, patternSource, progressPast, rawLink, sha256Of, sha256OfSource, untilState } from './helpers.ts'
import { internals } from '../../helpers/internals.ts'

const storeOf = (client: TincanClient): FileStore => internals(client).files['store']

async function texts(client: TincanClient, peer: string): Promise<string[]> {
  const page = await client.loadMessages(directConversationId(peer), undefined, 5000)
  return page.filter((m) => m.type === 'text' && m.author === peer).map((m) => m.content.text)
}

function errors(client: TincanClient): FileErrorEvent[] {
  const seen: FileErrorEvent[] = []
  client.on('file-error', (e) => seen.push(e))
  return seen
}

/** Issue 5: offers, decisions, failures and several transfers at once, between two Node clients. */
describe('file transfers between two clients in Node', () => {
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

  async function connected(): Promise<void> {
    alice.connect(bob.username)
    await until(
      'alice and bob connected',
      () => alice.isConnected(bob.username) && bob.isConnected(alice.username),
    )
  }

  it('sends three files and a stream of text messages at once, sharing the connection', async () => {
    const files = [
      patternSource('holiday.mov', 12 * MiB, 31, 'video/quicktime'),
      patternSource('report.pdf', 6 * MiB, 32, 'application/pdf'),
      patternSource('photo.png', 300 * 1024, 33, 'image/png'),
    ]
    const progress: FileProgress[] = []
    bob.on('file-progress', (p) => progress.push(p))
    // Bob accepts the two large files once both are offered, so they move at the same time (a
    // small file can be sent whole while a large one is still being prepared); the image is
    // accepted for him, being under the limit.
    const offered = new Set<string>()
    const offAccept = bob.on('file', (f) => {
      if (f.state !== 'offered' || f.direction !== 'in' || f.kind !== 'file' || offered.has(f.fileId)) return
      offered.add(f.fileId)
      if (offered.size === 2) for (const id of offered) void bob.acceptFile(id)
    })
    // Where the larger file stands, as Bob's storage has it, at the moment the smaller one is done.
    const idsByName = new Map<string, string>()
    let movieAtReportDone: Promise<FileTransferView | undefined> | undefined
    const offWatch = bob.on('file', (f) => {
      idsByName.set(f.name, f.fileId)
      const movieId = idsByName.get('holiday.mov')
      if (f.name === 'report.pdf' && f.state === 'done' && movieId !== undefined)
        movieAtReportDone ??= bob.fileTransfer(movieId)
    })
    const chat = Array.from({ length: 150 }, (_, i) => `during the transfer ${i} 🚀`)
    const replies = Array.from({ length: 50 }, (_, i) => `reply ${i}`)
    const [views] = await Promise.all([
      alice.sendFiles(directConversationId(bob.username), files),
      (async () => {
        for (const text of chat) {
          await alice.sendText(directConversationId(bob.username), text)
          await new Promise((r) => setTimeout(r, 5))
        }
      })(),
      (async () => {
        for (const text of replies) {
          await bob.sendText(directConversationId(alice.username), text)
          await new Promise((r) => setTimeout(r, 15))
        }
      })(),
    ])
    for (const v of views) await untilState(bob, v.fileId, ['done'], 120_000)
    offAccept()
    offWatch()
    await until(
      'every chat message at bob',
      async () => (await texts(bob, alice.username)).length >= chat.length,
    )
    await until(
      'every reply at alice',
      async () => (await texts(alice, bob.username)).length >= replies.length,
    )
    expect(await texts(bob, alice.username)).toEqual(chat)
    expect(await texts(alice, bob.username)).toEqual(replies)
    for (const [i, v] of views.entries()) {
      const source = files[i]
      if (source === undefined) throw new Error('no source')
      expect(await sha256Of(internals(bob).files.readFile(v.fileId))).toBe(await sha256OfSource(source))
      await untilState(alice, v.fileId, ['done'])
    }
    // The two large files moved side by side: the smaller one finished while the larger was mid-way.
    const [, report] = views
    const movieThen = await movieAtReportDone
    expect(movieThen?.bytesDone).toBeGreaterThan(0)
    expect(movieThen?.bytesDone).toBeLessThan(12 * MiB)
    // Progress carries speed and time left.
    expect(progress.some((p) => p.bytesPerSecond > 0 && p.etaSeconds !== null)).toBe(true)
    // File messages are history messages, found by name.
    const messages = await bob.loadMessages(directConversationId(alice.username), undefined, 500)
    const image = messages.find((m) => m.id === views[2]?.fileId)
    expect(image?.type).toBe('image')
    expect(image?.content.file?.name).toBe('photo.png')
    expect((await bob.search('report.pdf')).map((h) => h.message.id)).toContain(report?.fileId)
  })

  it('accepts images under the size the user set without asking, with the thumbnail in the message', async () => {
    const thumbnail = new Uint8Array(2000).fill(7)
    const small = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('cat.jpg', 800 * 1024, 41, 'image/jpeg'),
      {
        thumbnail,
        thumbnailMime: 'image/jpeg',
        width: 1200,
        height: 800,
      },
    )
    await untilState(bob, small.fileId, ['done'])
    const message = (await bob.loadMessages(directConversationId(alice.username), undefined, 500)).find(
      (m) => m.id === small.fileId,
    )
    expect(message?.type).toBe('image')
    expect(message?.content.file?.thumbnail).toBeDefined()
    expect(message?.content.file?.width).toBe(1200)
    expect((await bob.openFile(small.fileId)).size).toBe(800 * 1024)

    bob.setAutoAcceptImagesUnderBytes(500 * 1024)
    const large = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('dog.jpg', 800 * 1024, 42, 'image/jpeg'),
    )
    await untilState(bob, large.fileId, ['offered'])
    await new Promise((r) => setTimeout(r, 300))
    expect((await bob.fileTransfer(large.fileId))?.state).toBe('offered')
    // A file that is not an image is never accepted by itself, however small.
    const doc = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('notes.txt', 1000, 43, 'text/plain'),
    )
    await untilState(bob, doc.fileId, ['offered'])
    await new Promise((r) => setTimeout(r, 300))
    expect((await bob.fileTransfer(doc.fileId))?.state).toBe('offered')
    bob.setAutoAcceptImagesUnderBytes(10 * MiB)
  })

  it('takes an accept that arrives before the sender has recorded its offer as sent', async () => {
    await connected()
    // The sender's "offered" write is held back until Bob's accept has reached Alice: on a busy
    // machine that moment is real, and an accept lost in it left Bob waiting for ever.
    const store = storeOf(alice)
    const update = store.update.bind(store)
    let releaseOffered!: () => void
    const offeredHeld = new Promise<void>((resolve) => (releaseOffered = resolve))
    store.update = async (fileId, change) => {
      if ((await store.get(fileId))?.state === 'preparing') await offeredHeld
      return update(fileId, change)
    }
    const control = internals(alice).files.control.bind(internals(alice).files)
    let acceptArrived!: () => void
    const acceptSeen = new Promise<void>((resolve) => (acceptArrived = resolve))
    internals(alice).files.control = async (peer, frame) => {
      if (frame.type === 'file-accept') acceptArrived()
      return control(peer, frame)
    }
    try {
      const source = patternSource('minutes.txt', 3 * MiB + 11, 61, 'text/plain')
      const sent = await alice.sendFile(directConversationId(bob.username), source)
      await untilState(bob, sent.fileId, ['offered'])
      await bob.acceptFile(sent.fileId)
      await acceptSeen
      releaseOffered()
      await untilState(bob, sent.fileId, ['done'])
      expect(await sha256Of(internals(bob).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    } finally {
      releaseOffered()
      store.update = update
      internals(alice).files.control = control
    }
  })

  it('tells the sender when the receiver declines, and frees the sender’s copy', async () => {
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('big.iso', 3 * MiB, 51),
    )
    await untilState(bob, sent.fileId, ['offered'])
    await bob.declineFile(sent.fileId)
    await untilState(alice, sent.fileId, ['declined'])
    expect(await storeOf(alice).countChunks(sent.fileId)).toBe(0)
    // The decline leaves bob's outbox once alice's device confirms it.
    await until(
      'bob’s outbox to empty',
      async () => (await internals(bob).messenger['o'].outbox.size()) === 0,
    )
  })

  it('cancels on the sender’s side mid-way: both sides stop and keep nothing', async () => {
    await connected()
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('movie.mkv', 60 * MiB, 61),
    )
    await untilState(bob, sent.fileId, ['offered'])
    const started = progressPast(bob, sent.fileId, 0.05)
    await bob.acceptFile(sent.fileId)
    await started
    await alice.cancelFile(sent.fileId)
    await untilState(bob, sent.fileId, ['cancelled'])
    expect((await alice.fileTransfer(sent.fileId))?.state).toBe('cancelled')
    await until(
      'bob to free the partial file',
      async () => (await storeOf(bob).countChunks(sent.fileId)) === 0,
    )
    expect(await storeOf(alice).countChunks(sent.fileId)).toBe(0)
    await expect(bob.openFile(sent.fileId)).rejects.toThrow(/not available/)
  })

  it('cancels on the receiver’s side mid-way: both sides stop and keep nothing', async () => {
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('archive.zip', 60 * MiB, 71),
    )
    await untilState(bob, sent.fileId, ['offered'])
    const started = progressPast(bob, sent.fileId, 0.05)
    await bob.acceptFile(sent.fileId)
    await started
    await bob.cancelFile(sent.fileId)
    await untilState(alice, sent.fileId, ['cancelled'])
    expect((await bob.fileTransfer(sent.fileId))?.state).toBe('cancelled')
    await until('alice to free her copy', async () => (await storeOf(alice).countChunks(sent.fileId)) === 0)
    expect(await storeOf(bob).countChunks(sent.fileId)).toBe(0)
    // The connection still carries chat.
    await alice.sendText(directConversationId(bob.username), 'still here after the cancel')
    await until('the message after the cancel', async () =>
      (await texts(bob, alice.username)).includes('still here after the cancel'),
    )
  })

  it('rejects an altered chunk and does not mark the file complete', async () => {
    await connected()
    const bobErrors = errors(bob)
    const link = rawLink(alice, bob.username)
    const channel = link?.rtc.channel
    if (channel === null || channel === undefined) throw new Error('no channel')
    const send = channel.send.bind(channel)
    // Flip one ciphertext byte of chunk 3 on its way out (after DTLS would be too late to matter).
    channel.send = (data: Uint8Array) => {
      if (data[0] === 0x04 && new DataView(data.buffer, data.byteOffset).getUint32(17) === 3) {
        const altered = data.slice()
        altered[40] = (altered[40] ?? 0) ^ 0x01
        send(altered)
      } else send(data)
    }
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('payroll.xlsx', 4 * MiB, 81),
    )
    await untilState(bob, sent.fileId, ['offered'])
    await bob.acceptFile(sent.fileId)
    const failed = await untilState(bob, sent.fileId, ['failed', 'done'])
    channel.send = send
    expect(failed.state).toBe('failed')
    expect(failed.error?.code).toBe('bad-data')
    expect(failed.available).toBe(false)
    await until('the error event', () => bobErrors.some((e) => e.code === 'bad-data'))
    expect((await untilState(alice, sent.fileId, ['failed'])).error?.code).toBe('peer-failed')
    expect(await storeOf(bob).countChunks(sent.fileId)).toBe(0)
    await expect(bob.openFile(sent.fileId)).rejects.toThrow(/not available/)
  })

  it('reports a file whose bytes do not match the offered hash, and does not offer it for saving', async () => {
    await connected()
    const bobErrors = errors(bob)
    const send = internals(alice).peers.send.bind(internals(alice).peers)
    // The offer is altered on the wire (after it was stored in alice's outbox as it should be).
    internals(alice).peers.send = (peer: string, plaintext: Uint8Array) => {
      const frame = JSON.parse(utf8Decode(plaintext)) as { type: string; hash?: string }
      if (frame.type !== 'file-offer') return send(peer, plaintext)
      frame.hash = `${'A'.repeat(42)}A`
      return send(peer, utf8Encode(JSON.stringify(frame)))
    }
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('contract.pdf', 2 * MiB, 91),
    )
    await untilState(bob, sent.fileId, ['offered'])
    internals(alice).peers.send = send
    await bob.acceptFile(sent.fileId)
    const failed = await untilState(bob, sent.fileId, ['failed', 'done'])
    expect(failed.state).toBe('failed')
    expect(failed.error?.code).toBe('hash-mismatch')
    await until('the error event', () => bobErrors.some((e) => e.code === 'hash-mismatch'))
    await expect(bob.openFile(sent.fileId)).rejects.toThrow(/not available/)
    expect(await storeOf(bob).countChunks(sent.fileId)).toBe(0)
  })

  it('says clearly when storage is full, frees the partial file and loses nothing else', async () => {
    const bobErrors = errors(bob)
    const before = await texts(bob, alice.username)
    const store = storeOf(bob)
    const putChunks = store.putChunks.bind(store)
    let writes = 0
    // IndexedDB refuses writes once the quota is used up; here after a few batches.
    store.putChunks = (...args: Parameters<FileStore['putChunks']>) => {
      if (++writes > 3)
        return Promise.reject(
          new FileStoreError('storage-full', 'storage is full', {
            cause: Object.assign(new Error('quota'), { name: 'QuotaExceededError' }),
          }),
        )
      return putChunks(...args)
    }
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('huge.bin', 20 * MiB, 101),
    )
    await untilState(bob, sent.fileId, ['offered'])
    await bob.acceptFile(sent.fileId)
    const failed = await untilState(bob, sent.fileId, ['failed', 'done'])
    store.putChunks = putChunks
    expect(failed.error?.code).toBe('storage-full')
    expect(bobErrors.find((e) => e.fileId === sent.fileId)?.code).toBe('storage-full')
    expect((await untilState(alice, sent.fileId, ['failed'])).error?.code).toBe('peer-storage-full')
    expect(await store.countChunks(sent.fileId)).toBe(0)
    expect(await texts(bob, alice.username)).toEqual(before)
    await alice.sendText(directConversationId(bob.username), 'after the disk filled up')
    await until('chat to go on', async () =>
      (await texts(bob, alice.username)).includes('after the disk filled up'),
    )
  })

  it('sends an empty file', async () => {
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('empty.txt', 0, 131, 'text/plain'),
    )
    await untilState(bob, sent.fileId, ['offered'])
    await bob.acceptFile(sent.fileId)
    expect((await untilState(bob, sent.fileId, ['done', 'failed'])).state).toBe('done')
    expect((await bob.openFile(sent.fileId)).size).toBe(0)
  })

  it('splits chunks into pieces on a connection that takes smaller messages', async () => {
    await connected()
    const source = patternSource('pieces.bin', 3 * MiB + 5, 141)
    const sent = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(bob, sent.fileId, ['offered'])
    // As if the friend's SDP allowed only 16 KiB: each 255 KiB chunk goes in 17 frames.
    const link = rawLink(alice, bob.username) as unknown as { maxMessageBytes: number }
    link.maxMessageBytes = 16 * 1024
    await bob.acceptFile(sent.fileId)
    expect((await untilState(bob, sent.fileId, ['done', 'failed'])).state).toBe('done')
    expect(await sha256Of(internals(bob).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    link.maxMessageBytes = 256 * 1024
  })

  it('tells the receiver when the sender no longer has the file', async () => {
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('gone.bin', 2 * MiB, 151),
    )
    await untilState(bob, sent.fileId, ['offered'])
    // The sender's stored copy disappears (storage cleared by the browser, say).
    await storeOf(alice).deleteChunks(sent.fileId)
    await bob.acceptFile(sent.fileId)
    const failed = await untilState(bob, sent.fileId, ['failed', 'done'])
    expect(failed.state).toBe('failed')
    expect(failed.error?.code).toBe('unavailable')
    expect((await untilState(alice, sent.fileId, ['failed'])).error?.code).toBe('unavailable')
  })

  it('offers a file to a friend who is offline, and delivers it when they are back', async () => {
    const bobName = bob.username
    bob.close()
    await until('alice to see bob offline', () => !alice.isOnline(bobName))
    const source = patternSource('while-away.pdf', 1 * MiB, 161, 'application/pdf')
    const sent = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(alice, sent.fileId, ['offered'])
    bob = await TincanClient.login(env, bobName, testPassword)
    await untilState(bob, sent.fileId, ['offered'], 40_000)
    await bob.acceptFile(sent.fileId)
    expect((await untilState(bob, sent.fileId, ['done', 'failed'])).state).toBe('done')
    await untilState(alice, sent.fileId, ['done'])
  })

  it('resumes where it stopped after the receiver reloads the page', async () => {
    const source = patternSource('dataset.csv', 40 * MiB, 111, 'text/csv')
    const sent = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(bob, sent.fileId, ['offered'])
    const halfway = progressPast(bob, sent.fileId, 0.4)
    await bob.acceptFile(sent.fileId)
    await halfway
    const bobName = bob.username
    bob.close()
    bob = await TincanClient.login(env, bobName, testPassword)
    const done = await untilState(bob, sent.fileId, ['done', 'failed'], 120_000)
    expect(done.state).toBe('done')
    expect(await sha256Of(internals(bob).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    const wire = (await internals(alice).files.transfer(sent.fileId))?.wireBytes ?? Infinity
    expect(wire).toBeLessThan(1.3 * source.size)
  })

  it('resumes where it stopped after the sender reloads the page, sending from its stored copy', async () => {
    const source = patternSource('thesis.pdf', 40 * MiB, 121, 'application/pdf')
    const sent = await alice.sendFile(directConversationId(bob.username), source)
    await untilState(bob, sent.fileId, ['offered'])
    const halfway = progressPast(bob, sent.fileId, 0.4)
    await bob.acceptFile(sent.fileId)
    await halfway
    const aliceName = alice.username
    alice.close()
    alice = await TincanClient.login(env, aliceName, testPassword)
    const done = await untilState(bob, sent.fileId, ['done', 'failed'], 120_000)
    expect(done.state).toBe('done')
    await untilState(alice, sent.fileId, ['done'])
    expect(await sha256Of(internals(bob).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    const wire = (await internals(bob).files.transfer(sent.fileId))?.wireBytes ?? Infinity
    expect(wire).toBeLessThan(1.3 * source.size)
  })
})
