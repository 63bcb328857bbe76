import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { FileTransferError } from '../../../client/core/files/transfers.ts'
import { FileEncryptor, fromBase64Url } from '../../../crypto/index.ts'
import type { GroupView } from '../../../client/core/groups/groups.ts'
import { registerClient, befriend, testPassword } from '../../helpers/clients.ts'
import type { TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { MiB, patternSource, progressPast, sha256Of, sha256OfSource, untilState } from '../files/helpers.ts'
import { deliver, groupErrors, groupMessages, startGroup } from './helpers.ts'
import { internals } from '../../helpers/internals.ts'
import { directConversationId, groupConversationId } from '../../../client/core/index.ts'

/**
 * Files and images in a group, with four real clients in Node (real server, real WebRTC): Ann
 * made the group with her friends Bob, Cat and Dan, who are not friends of one another. A shared
 * file is described once in a signed group message; each member fetches the chunks from any
 * member who holds the whole file.
 */
describe('files and images in a group', () => {
  let server: TestServer
  let env: ClientEnv
  let ann: TincanClient
  let bob: TincanClient
  let cat: TincanClient
  let dan: TincanClient
  let group: GroupView

  const members = (): TincanClient[] => [ann, bob, cat, dan]

  beforeAll(async () => {
    const started = await startGroup(['ann', 'bob', 'cat', 'dan'], 'Photos', 2)
    ;({ server, env, group } = started)
    ;[ann, bob, cat, dan] = started.clients as [TincanClient, TincanClient, TincanClient, TincanClient]
  })

  afterAll(async () => {
    for (const c of members()) c.close()
    await server.close()
  })

  /** The file message a member holds, once it is there. */
  async function untilFileMessage(client: TincanClient, fileId: string) {
    return until(`${client.username} to have the file message ${fileId}`, async () =>
      (await groupMessages(client, group.id)).find((m) => m.id === fileId),
    )
  }

  /** Chunk bytes the clients moved for a file since they started. */
  async function wireOf(clients: readonly TincanClient[], fileId: string): Promise<number> {
    let sum = 0
    for (const c of clients) sum += (await c.fileTransfer(fileId))?.wireBytes ?? 0
    return sum
  }

  it('shares an image and a file: every member gets the message, the image by itself, the file when accepted, byte for byte', async () => {
    const photo = patternSource('summit.png', 300 * 1024, 11, 'image/png')
    const thumbnail = new Uint8Array(2048).fill(7)
    const image = await ann.sendFile(groupConversationId(group.id), photo, {
      thumbnail,
      thumbnailMime: 'image/png',
      width: 640,
      height: 480,
    })
    const source = patternSource('route <b>map</b>.gpx', 6 * MiB + 123, 12)
    const file = await ann.sendFile(groupConversationId(group.id), source)
    expect(image.groupId).toBe(group.id)
    await untilState(ann, file.fileId, ['done'])
    expect((await ann.fileTransfer(file.fileId))?.available).toBe(true)

    for (const c of [bob, cat, dan]) {
      const m = await untilFileMessage(c, image.fileId)
      expect(m).toMatchObject({ author: ann.username, type: 'image', state: 'received' })
      expect(m.content.file).toMatchObject({ name: 'summit.png', kind: 'image', width: 640, height: 480 })
      const fm = await untilFileMessage(c, file.fileId)
      // The name is kept as text (the UI never renders it as markup); only path separators go.
      expect(fm).toMatchObject({
        type: 'file',
        content: { file: { name: 'route <b>map<_b>.gpx', size: source.size } },
      })
      // Images under the auto-accept size come by themselves; files wait to be accepted.
      await untilState(c, image.fileId, ['done'])
      expect((await c.fileTransfer(file.fileId))?.state).toBe('offered')
    }
    // The chat list shows the newest message, a file, by its name after a sign.
    const conversation = (await bob.conversations()).find((x) => x.id === group.conversationId)
    expect(conversation?.preview).toBe('📎 route <b>map<_b>.gpx')
    const photoHash = await sha256OfSource(photo)
    for (const c of [bob, cat, dan])
      expect(await sha256Of(internals(c).files.readFile(image.fileId))).toBe(photoHash)

    await Promise.all([bob, cat, dan].map((c) => c.acceptFile(file.fileId)))
    const fileHash = await sha256OfSource(source)
    for (const c of [bob, cat, dan]) {
      const view = await untilState(c, file.fileId, ['done', 'failed'], 120_000)
      expect(view).toMatchObject({ state: 'done', available: true, groupId: group.id, from: ann.username })
      expect(await sha256Of(internals(c).files.readFile(file.fileId))).toBe(fileHash)
    }
  })

  it('a member who was away gets a file from another member while its author is offline', async () => {
    dan.close()
    const source = patternSource('minutes.pdf', 3 * MiB + 5, 21, 'application/pdf')
    // Bob is a friend of Ann only: Cat and Dan reach him as fellow members.
    const sent = await bob.sendFile(groupConversationId(group.id), source)
    for (const c of [ann, cat]) {
      await untilFileMessage(c, sent.fileId)
      await c.acceptFile(sent.fileId)
      await untilState(c, sent.fileId, ['done'], 120_000)
    }
    bob.close()

    dan = await TincanClient.login(env, dan.username, testPassword)
    const m = await untilFileMessage(dan, sent.fileId)
    expect(m.author).toBe(bob.username)
    const servedBefore = await wireOf([ann, cat], sent.fileId)
    await dan.acceptFile(sent.fileId)
    const view = await untilState(dan, sent.fileId, ['done', 'failed'], 120_000)
    expect(view.state).toBe('done')
    expect(await sha256Of(internals(dan).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    // Ann and Cat sent it (chunk bytes on their side grew by at least the file).
    expect((await wireOf([ann, cat], sent.fileId)) - servedBefore).toBeGreaterThanOrEqual(source.size)
    // Bob was offline the whole time Dan fetched it.
    expect(dan.group(group.id)?.members.find((x) => x.username === bob.username)?.online).toBe(false)

    bob = await TincanClient.login(env, bob.username, testPassword)
    await until('bob back in touch with the group', () =>
      bob.group(group.id)?.members.some((x) => x.connected),
    )
  })

  it('carries on from another member, where it stopped, when the member sending a file goes away', async () => {
    const source = patternSource('rehearsal.mp4', 40 * MiB + 7, 51, 'video/mp4')
    const sent = await cat.sendFile(groupConversationId(group.id), source)
    await untilFileMessage(ann, sent.fileId)
    await ann.acceptFile(sent.fileId)
    await untilState(ann, sent.fileId, ['done'], 120_000)
    // Cat and Ann hold it now; Dan fetches it from one of them and loses that one on the way.
    await untilFileMessage(dan, sent.fileId)
    const past = progressPast(dan, sent.fileId, 0.3)
    await dan.acceptFile(sent.fileId)
    await past
    const lives = (internals(dan).files as unknown as { lives: { byId: Map<string, { source?: string }> } })
      .lives
    const source1 = lives.byId.get(sent.fileId)?.source
    expect([cat.username, ann.username]).toContain(source1)
    const gone = source1 === cat.username ? cat : ann
    gone.close()

    const view = await untilState(dan, sent.fileId, ['done', 'failed'], 120_000)
    expect(view.state).toBe('done')
    expect(await sha256Of(internals(dan).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
    // Resumed, not started over: what came over the wire is about one file, not one and a third.
    expect(view.wireBytes).toBeLessThan(source.size * 1.25)

    const back = await TincanClient.login(env, gone.username, testPassword)
    if (gone === cat) cat = back
    else ann = back
    await until('the member back in touch with the group', () =>
      back.group(group.id)?.members.some((x) => x.connected),
    )
  })

  it('gives up a member that goes silent while sending a file, and fetches it from another', async () => {
    const source = patternSource('choir.ogg', 5 * MiB + 3, 71, 'audio/ogg')
    const sent = await cat.sendFile(groupConversationId(group.id), source)
    await untilFileMessage(ann, sent.fileId)
    await ann.acceptFile(sent.fileId)
    await untilState(ann, sent.fileId, ['done'], 120_000)
    // Cat and Ann hold it. Whichever of them Dan asks first never answers, as a stuck device would.
    type Serving = { server: { get: (...args: unknown[]) => Promise<void> } }
    const silent: string[] = []
    const restore: (() => void)[] = []
    for (const holder of [ann, cat]) {
      const server = (internals(holder).files as unknown as Serving).server
      const get = server.get.bind(server)
      server.get = async (...args: unknown[]) => {
        if (silent.length === 0) {
          silent.push(holder.username)
          return
        }
        return get(...args)
      }
      restore.push(() => (server.get = get))
    }
    const tuning = (internals(dan).files as unknown as { tuning: { silentSourceMs: number } }).tuning
    tuning.silentSourceMs = 1500
    try {
      await untilFileMessage(dan, sent.fileId)
      await dan.acceptFile(sent.fileId)
      const view = await untilState(dan, sent.fileId, ['done', 'failed'], 60_000)
      expect(view.state).toBe('done')
      expect(await sha256Of(internals(dan).files.readFile(sent.fileId))).toBe(await sha256OfSource(source))
      expect(silent).toHaveLength(1)
    } finally {
      tuning.silentSourceMs = 30_000
      for (const r of restore) r()
    }
  })

  it('refuses a file a member serves altered under the right key: the signed hash catches it and nothing is kept', async () => {
    const source = patternSource('ledger.csv', 200 * 1024, 41, 'text/csv')
    const shared = await ann.sendFile(groupConversationId(group.id), source)
    await untilState(ann, shared.fileId, ['done'])
    // Every member holds the file key, so one can make chunks that pass the per-chunk check:
    // Ann's device now serves another text, encrypted as the real file would be.
    const store = internals(ann).files['store']
    const record = (await store.get(shared.fileId))!
    const meta = store.meta(record)
    const forger = new FileEncryptor({
      key: fromBase64Url(meta.key),
      fileId: fromBase64Url(shared.fileId),
      fileSize: record.size,
      chunkSize: record.chunkSize,
    })
    const other = patternSource('other', record.size, 42)
    const forged: Uint8Array[] = []
    for (let at = 0; at < record.size; at += record.chunkSize)
      forged.push(
        forger.encryptChunk(await other.read(at, Math.min(record.chunkSize, record.size - at))).data,
      )
    expect(await store.putChunks(shared.fileId, 0, forged, new Set(['done']))).toBeDefined()

    await untilFileMessage(bob, shared.fileId)
    await bob.acceptFile(shared.fileId)
    const failed = await untilState(bob, shared.fileId, ['failed', 'done'])
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'hash-mismatch' }, available: false })
    expect(await internals(bob).files['store'].countChunks(shared.fileId)).toBe(0)
  })

  it('serves nobody outside the signed member list, and a former member cannot share', async () => {
    const source = patternSource('plans.txt', 64 * 1024, 31, 'text/plain')
    const shared = await ann.sendFile(groupConversationId(group.id), source)
    await untilState(ann, shared.fileId, ['done'])
    const eve = await registerClient(env, 'eve')
    try {
      await befriend(ann, eve)
      await until('a connection between ann and eve', async () => {
        if (!ann.isConnected(eve.username)) await eve.sendText(directConversationId(ann.username), 'hi')
        return ann.isConnected(eve.username)
      })
      const errors = groupErrors(ann)
      await deliver(ann, eve, { type: 'group-file-get', g: group.id, f: shared.fileId, c: 0 })
      expect(errors.map((e) => e.code)).toContain('not-a-member')
      expect((await ann.fileTransfer(shared.fileId))?.wireBytes).toBe(0)
      // The same request from a member is served: the refusal is about membership only.
      await deliver(ann, bob, { type: 'group-file-get', g: group.id, f: shared.fileId, c: 0 })
      await until(
        'ann to send the file to bob',
        async () => ((await ann.fileTransfer(shared.fileId))?.wireBytes ?? 0) > 0,
      )
      await deliver(ann, bob, { type: 'group-file-stop', g: group.id, f: shared.fileId })
      expect(await eve.fileTransfer(shared.fileId)).toBeUndefined()
    } finally {
      eve.close()
    }

    await ann.removeGroupMembers(group.id, [cat.username])
    await until('cat to see the removal', () => cat.group(group.id)?.state === 'removed')
    const refused = await cat.sendFile(groupConversationId(group.id), source).catch((e: unknown) => e)
    expect(FileTransferError.is(refused, 'not-member')).toBe(true)
    // A file offered before the removal cannot be fetched any more: members serve only members.
    await untilFileMessage(cat, shared.fileId)
    await cat.acceptFile(shared.fileId)
    const failed = await untilState(cat, shared.fileId, ['failed', 'done'])
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'not-member' }, available: false })
  })
})
