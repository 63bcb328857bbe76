import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import {
  CryptoError,
  GroupReceiver,
  GroupSender,
  groupMessageHeader,
  signSenderKey,
  toBase64Url,
  utf8Encode,
  fromBase64Url,
} from '../../../crypto/index.ts'
import type { GroupView } from '../../../client/core/groups/groups.ts'
import type { Message } from '../../../client/core/store/history.ts'
import { befriend, registerClient, testPassword } from '../../helpers/clients.ts'
import type { TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import {
  copiesOf,
  deliver,
  groupErrors,
  groupMessages,
  groupTexts,
  groupState,
  startGroup,
  untilTexts,
} from './helpers.ts'
import { internals } from '../../helpers/internals.ts'
import { groupConversationId } from '../../../client/core/index.ts'

/**
 * Four real clients in Node (real server, real WebRTC through @roamhq/wrtc): Ann creates a group
 * with her friends Bob, Cat and Dan, who are not friends of one another. Every device opens at
 * most two group connections itself, so a message to the member opposite on the ring is relayed.
 */
describe('group chat among four clients', () => {
  const maxLinks = 2
  let server: TestServer
  let env: ClientEnv
  let ann: TincanClient
  let bob: TincanClient
  let cat: TincanClient
  let dan: TincanClient
  let group: GroupView

  const everyone = (): TincanClient[] => [ann, bob, cat, dan]

  beforeAll(async () => {
    const started = await startGroup(['ann', 'bob', 'cat', 'dan'], 'Hikers', maxLinks)
    ;({ server, env, group } = started)
    ;[ann, bob, cat, dan] = started.clients as [TincanClient, TincanClient, TincanClient, TincanClient]
  })

  afterAll(async () => {
    for (const c of everyone()) c.close()
    await server.close()
  })

  it('gives every member the signed member list, each message reaches all, over at most two connections each', async () => {
    for (const c of everyone())
      await until(`${c.username} to see the group`, () => c.group(group.id)?.members.length === 4)
    for (const c of everyone()) {
      const view = c.group(group.id) as GroupView
      expect(view.name).toBe('Hikers')
      expect(view.admin).toBe(ann.username)
      expect(view.members.map((m) => m.username).sort()).toEqual(
        everyone()
          .map((x) => x.username)
          .sort(),
      )
    }
    const sent: string[] = []
    const received = new Map<string, Message[]>(everyone().map((c) => [c.username, []]))
    const offs = everyone().map((c) =>
      c.on('message', (m) => {
        if (m.conversationId === group.conversationId && m.author !== c.username)
          received.get(c.username)?.push(m)
      }),
    )
    for (const c of everyone()) {
      for (let i = 0; i < 3; i++) {
        const text = `${c.username} says ${i} 🥾`
        sent.push(text)
        await c.sendText(groupConversationId(group.id), text)
      }
    }
    for (const c of everyone()) await untilTexts(c, group.id, sent)
    for (const o of offs) o()
    // On the ring of four, the pair opposite each other without Ann are not friends and not
    // neighbors: they never connected, so their messages to each other were relayed.
    const ring = everyone()
      .map((c) => c.username)
      .sort()
    const at = ring.indexOf(ann.username)
    const [x, y] = [ring[(at + 1) % 4]!, ring[(at + 3) % 4]!]
    const client = everyone().find((c) => c.username === x)!
    expect(client.isConnected(y)).toBe(false)
    for (const c of everyone()) {
      const texts = await groupTexts(c, group.id)
      expect(texts).toEqual(sent)
      // Each message from the other three arrived once.
      expect(new Set(received.get(c.username)?.map((m) => m.id)).size).toBe(9)
      expect(received.get(c.username)).toHaveLength(9)
      expect(internals(c).groups.wantedLinks().length).toBeLessThanOrEqual(maxLinks)
    }
    const conversation = (await bob.conversations()).find((x) => x.id === group.conversationId)
    expect(conversation).toMatchObject({ kind: 'group', peer: group.id, unread: 9 })
    await until('ann to see her messages stored by another member', async () =>
      (await groupMessages(ann, group.id))
        .filter((m) => m.author === ann.username)
        .every((m) => m.state === 'sent' || m.state === 'delivered'),
    )
  })

  it('takes messages out of order and twice, keeps each once, and refuses an altered relay', async () => {
    dan.close()
    const bobText = 'bob, while dan is away'
    await bob.sendText(groupConversationId(group.id), bobText)
    const annTexts = Array.from({ length: 5 }, (_, i) => `ann, while dan is away ${i}`)
    for (const t of annTexts) await ann.sendText(groupConversationId(group.id), t)
    await untilTexts(cat, group.id, [bobText, ...annTexts])
    // The ciphertexts exactly as Ann's device keeps them for relaying.
    const copies = await copiesOf(ann, group.id)
    const annCopies = copies.filter((c) => c.sender === ann.username).slice(-5)
    const bobCopy = copies.filter((c) => c.sender === bob.username).at(-1)!

    dan = await TincanClient.login(env, dan.username, testPassword)
    // Before any connection of Dan's is up: what follows is all Dan gets of these messages.
    expect(everyone().some((c) => dan.isConnected(c.username))).toBe(false)
    const errors = groupErrors(dan)
    const events: Message[] = []
    dan.on('message', (m) => {
      if (m.conversationId === group.conversationId) events.push(m)
    })
    // Ann relays Bob's message with one bit of the ciphertext flipped, then with one bit of the
    // signature flipped: both refused, and the genuine one is still read afterwards.
    const flipped = (at: number): Uint8Array => {
      const bytes = Uint8Array.from(bobCopy.ct)
      bytes[at] = (bytes[at] ?? 0) ^ 1
      return bytes
    }
    const inBody = flipped(bobCopy.ct.length - 80)
    const inSignature = flipped(bobCopy.ct.length - 1)
    await deliver(dan, ann, {
      type: 'group-msgs',
      g: group.id,
      m: [toBase64Url(inBody), toBase64Url(inSignature)],
    })
    expect(errors.filter((e) => e.code === 'forged-message' && e.peer === ann.username)).not.toHaveLength(0)
    expect(await groupTexts(dan, group.id)).not.toContain(bobText)
    // Ann's five, shuffled, some twice.
    const order = [3, 0, 0, 4, 1, 3, 2, 4]
    await deliver(dan, ann, {
      type: 'group-msgs',
      g: group.id,
      m: order.map((i) => toBase64Url(annCopies[i]!.ct)),
    })
    expect((await groupTexts(dan, group.id)).filter((t) => annTexts.includes(t))).toEqual(annTexts)
    await untilTexts(dan, group.id, [bobText, ...annTexts])
    const texts = await groupTexts(dan, group.id)
    expect(texts.filter((t) => annTexts.includes(t))).toEqual(annTexts)
    expect(texts.filter((t) => t === bobText)).toHaveLength(1)
    const fresh = events.filter((m) => m.author !== dan.username)
    expect(fresh.map((m) => m.content.text).sort()).toEqual([bobText, ...annTexts].sort())
  })

  it('brings a member who was offline up to date from another member while the sender is offline', async () => {
    cat.close()
    // More than twice the 100 messages after which a sender key is replaced: Cat gets keys Ann
    // made while Cat was away, from someone else.
    const texts = Array.from({ length: 230 }, (_, i) => `ann, while cat is away ${i}`)
    for (const t of texts) await ann.sendText(groupConversationId(group.id), t)
    await untilTexts(bob, group.id, texts)
    await untilTexts(dan, group.id, texts)
    ann.close()

    cat = await TincanClient.login(env, cat.username, testPassword)
    const got = await untilTexts(cat, group.id, texts)
    expect(got.filter((t) => texts.includes(t))).toEqual(texts)
    expect(new Set(got).size).toBe(got.length)
    expect(cat.group(group.id)?.members.find((m) => m.username === ann.username)?.online).toBe(false)
    const annEpochs = groupState(cat)
      .groups.get(group.id)!
      .holdings.epochsOf(ann.username)
      .filter((h) => h.held.size > 0)
    expect(annEpochs.length).toBeGreaterThanOrEqual(3)
    ann = await TincanClient.login(env, ann.username, testPassword)
    await until('ann back in touch with the group', () =>
      ann.group(group.id)?.members.some((m) => m.connected),
    )
  })

  it('rekeys on removal: the removed member is told, and cannot decrypt what is sent afterwards', async () => {
    const live = groupState(cat).groups.get(group.id)!
    // Everything Cat could read with before the removal.
    const before = [...live.receivers.values()].map((r) => r.toJson())
    const removed = new Promise<{ groupId: string; by: string }>((done) => cat.on('group-removed', done))
    await ann.removeGroupMembers(group.id, [cat.username])
    expect(await removed).toMatchObject({ groupId: group.id, by: ann.username })
    expect(cat.group(group.id)).toMatchObject({ state: 'removed', removedBy: ann.username })
    for (const c of [ann, bob, dan])
      await until(`${c.username} to see cat removed`, () =>
        c.group(group.id)?.members.every((m) => m.username !== cat.username),
      )

    const after = ['ann, after cat left', 'bob, after cat left']
    await ann.sendText(groupConversationId(group.id), after[0]!)
    await bob.sendText(groupConversationId(group.id), after[1]!)
    await untilTexts(dan, group.id, after)
    const newCopies = (await copiesOf(dan, group.id)).filter(
      (c) => c.sender === ann.username || c.sender === bob.username,
    )
    const last = newCopies.slice(-2)
    expect(last).toHaveLength(2)
    for (const copy of last) {
      for (const json of before) {
        const receiver = GroupReceiver.restore(json)
        let error: unknown
        try {
          receiver.decrypt(copy.ct)
        } catch (e: unknown) {
          error = e
        }
        expect(CryptoError.is(error, 'no-sender-key')).toBe(true)
      }
    }
    await new Promise((r) => setTimeout(r, 1000))
    const catTexts = await groupTexts(cat, group.id)
    for (const t of after) expect(catTexts).not.toContain(t)
    expect(groupState(cat).groups.get(group.id)?.receivers.size).toBe(0)
  })

  it('lets an added member read only what is sent after they joined', async () => {
    const fay = await registerClient(env, 'fay')
    try {
      await befriend(ann, fay)
      const earlier = await groupTexts(ann, group.id)
      await ann.addGroupMembers(group.id, [fay.username])
      await until('fay to see the group', () => fay.group(group.id)?.state === 'active')
      await bob.sendText(groupConversationId(group.id), 'welcome fay')
      await untilTexts(fay, group.id, ['welcome fay'])
      await new Promise((r) => setTimeout(r, 500))
      const seen = await groupTexts(fay, group.id)
      for (const t of earlier) expect(seen).not.toContain(t)
      // Fay holds no key of an epoch from before the list version that added her.
      const joined = fay.group(group.id)!.version
      for (const h of groupState(fay).groups.get(group.id)!.holdings.all())
        expect(h.listVersion).toBeGreaterThanOrEqual(joined)
      await ann.renameGroup(group.id, 'Hikers & Fay')
      for (const c of [bob, dan, fay])
        await until(`${c.username} to see the new name`, () => c.group(group.id)?.name === 'Hikers & Fay')
      await fay.leaveGroup(group.id)
      expect(fay.group(group.id)?.state).toBe('left')
      await until('ann to sign fay off the list', () =>
        ann.group(group.id)?.members.every((m) => m.username !== fay.username),
      )
    } finally {
      fay.close()
    }
  })

  it('refuses a member the server injects: it gets nothing, and what it sends is refused', async () => {
    const eve = await registerClient(env, 'eve')
    try {
      await befriend(bob, eve)
      const errors = new Map(everyone().map((c) => [c.username, groupErrors(c)]))
      const ctx = server.app.ctx
      const stored = (await ctx.storage.getGroup(group.id))!
      await ctx.storage.updateGroup(group.id, stored.version, {
        name: stored.name,
        memberList: stored.memberList,
        members: [...stored.members, { username: eve.username, role: 'member' }],
        updatedAt: Date.now(),
      })
      ctx.relayPolicy.forgetAll()
      const injected = (await ctx.storage.getGroup(group.id))!
      await ctx.push([...injected.members.map((m) => m.username)], { type: 'group-updated', group: injected })

      for (const c of [ann, bob, dan]) {
        await until(`${c.username} to report the server's extra member`, () =>
          errors
            .get(c.username)
            ?.some((e) => e.code === 'server-membership' && e.members?.includes(eve.username)),
        )
        expect(c.group(group.id)?.members.map((m) => m.username)).not.toContain(eve.username)
        expect(c.group(group.id)?.serverView).toBe('differs')
      }
      expect(eve.group(group.id)).toBeUndefined()

      // Eve, a friend of Bob, sends him group data over their (authenticated) connection: a
      // summary, her own sender key and a message encrypted with it. All refused.
      const forged = GroupSender.create(group.id, eve.username, 1, Date.now())
      const key = signSenderKey(
        internals(eve).session.identity.identityKey.secretKey,
        forged.distribution(),
        { version: 0, hash: new Uint8Array(32) },
      )
      const ct = forged.encrypt(
        utf8Encode(JSON.stringify({ type: 'text', id: 'forgedmessage1', ts: 1, text: 'hi' })),
      )
      expect(groupMessageHeader(ct).sender).toBe(eve.username)
      const bobErrors = errors.get(bob.username)!
      await deliver(bob, eve, { type: 'group-keys', g: group.id, k: [key] })
      await deliver(bob, eve, { type: 'group-msgs', g: group.id, m: [toBase64Url(ct)] })
      expect(bobErrors.some((e) => e.code === 'not-a-member' && e.peer === eve.username)).toBe(true)
      expect(await groupTexts(bob, group.id)).not.toContain('hi')
      expect(fromBase64Url(toBase64Url(ct))).toEqual(ct)

      // Dan is not her friend: her connection attempt fails on his side (no key to check it by).
      const refused = new Promise<{ peer: string; code: string }>((done) =>
        dan.on('peer-error', (e) => {
          if (e.peer === eve.username) done(e)
        }),
      )
      internals(eve).signaling.online.add(dan.username)
      eve.connect(dan.username)
      expect((await refused).code).toBe('untrusted-key')

      // Messages sent now do not reach her.
      await ann.sendText(groupConversationId(group.id), 'not for eve')
      await untilTexts(dan, group.id, ['not for eve'])
      await new Promise((r) => setTimeout(r, 500))
      expect(await groupTexts(eve, group.id)).toEqual([])
    } finally {
      eve.close()
    }
  })

  it('shows the name of the signed member list: a server rename changes nothing, an admin rename does', async () => {
    const members = everyone().filter((c) => c.group(group.id)?.state === 'active')
    expect(members.map((c) => c.username)).toContain(ann.username)
    expect(members.length).toBeGreaterThan(1)
    const signed = ann.group(group.id)!.name
    for (const c of members) expect(c.group(group.id)?.name).toBe(signed)
    const before = ann.group(group.id)!.version
    const listed = ann.group(group.id)!.members.map((m) => m.username)
    const ctx = server.app.ctx
    const serverSays = async (change: { name?: string }): Promise<void> => {
      const stored = (await ctx.storage.getGroup(group.id))!
      await ctx.storage.updateGroup(group.id, stored.version, {
        name: change.name ?? stored.name,
        memberList: stored.memberList,
        // Only the signed members (an earlier test had the server add one), so names alone differ.
        members: stored.members.filter((m) => listed.includes(m.username)),
        updatedAt: Date.now(),
      })
      const now = (await ctx.storage.getGroup(group.id))!
      await ctx.push([...now.members.map((m) => m.username)], { type: 'group-updated', group: now })
    }
    await serverSays({})
    for (const c of members)
      await until(`${c.username} to agree with the server`, () => c.group(group.id)?.serverView === 'agrees')

    // The REST route, straight from the admin's session: the server names it, nobody signed it.
    const viaRest = await internals(ann).api.renameGroup(group.id, 'Renamed by the server')
    expect(viaRest.name).toBe('Renamed by the server')
    for (const c of members)
      await until(
        `${c.username} to see the server's name differ`,
        () => c.group(group.id)?.serverView === 'differs',
      )

    // The server's own storage, pushed to everyone as a group update.
    await serverSays({ name: 'Tampered in storage' })
    await new Promise((r) => setTimeout(r, 500))
    for (const c of members) {
      const view = c.group(group.id)!
      expect(view.name).toBe(signed)
      expect(view.version).toBe(before)
      expect(view.serverView).toBe('differs')
      expect(c.groups.find((g) => g.id === group.id)?.name).toBe(signed)
    }

    // The admin renames through the client: a new signed version, same members, new name.
    const renamed = await ann.renameGroup(group.id, 'Climbers')
    expect(renamed).toMatchObject({ name: 'Climbers', version: before + 1 })
    expect(renamed.members.map((m) => m.username)).toEqual(listed)
    expect((await ctx.storage.getGroup(group.id))?.name).toBe('Climbers')
    for (const c of members) {
      await until(`${c.username} to see the admin's new name`, () => c.group(group.id)?.name === 'Climbers')
      expect(c.group(group.id)?.version).toBe(before + 1)
      await until(
        `${c.username} to agree with the server again`,
        () => c.group(group.id)?.serverView === 'agrees',
      )
    }
  })
})
