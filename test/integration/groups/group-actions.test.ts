import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MessageActionError } from '../../../client/core/message-actions.ts'
import { TincanClient, type ClientEnv, type GroupView } from '../../../client/core/client.ts'
import type { Message } from '../../../client/core/store/history.ts'
import { testPassword } from '../../helpers/clients.ts'
import type { TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { patternSource, untilState } from '../files/helpers.ts'
import { copiesOf, deliver, groupMessages, startGroup, untilTexts } from './helpers.ts'
import { toBase64Url } from '../../../crypto/index.ts'
import { internals } from '../../helpers/internals.ts'
import { groupConversationId } from '../../../client/core/index.ts'

/**
 * Replies, reactions, edits and deletions in a group of three real clients in Node (real server,
 * real WebRTC): Ann made the group with her friends Bob and Cat, who are not friends of each other.
 */
describe('message actions in a group', () => {
  let server: TestServer
  let env: ClientEnv
  let ann: TincanClient
  let bob: TincanClient
  let cat: TincanClient
  let group: GroupView

  beforeAll(async () => {
    const started = await startGroup(['ann', 'bob', 'cat'], 'Garden', 8)
    ;({ server, env, group } = started)
    ;[ann, bob, cat] = started.clients as [TincanClient, TincanClient, TincanClient]
  })

  afterAll(async () => {
    for (const c of [ann, bob, cat]) c.close()
    await server.close()
  })

  /** A client's copy of a group message, once `check` holds for it. */
  async function untilMessage(client: TincanClient, id: string, check: (m: Message) => boolean) {
    return until(`${client.username}'s copy of ${id}`, async () => {
      const m = (await groupMessages(client, group.id)).find((x) => x.id === id)
      return m !== undefined && check(m) ? m : undefined
    })
  }

  it('carries a reply with its quote, and reactions from any member, to everyone', async () => {
    const question = await ann.sendText(groupConversationId(group.id), 'Who waters the tomatoes this week?')
    await untilTexts(bob, group.id, [question.content.text])
    const answer = await bob.sendText(groupConversationId(group.id), 'I will 🍅', { replyTo: question.id })
    expect(answer.content.replyTo).toEqual({
      id: question.id,
      author: ann.username,
      excerpt: question.content.text,
    })
    for (const c of [ann, cat]) {
      const got = await untilMessage(c, answer.id, () => true)
      expect(got.content.replyTo).toEqual({
        id: question.id,
        author: ann.username,
        excerpt: question.content.text,
      })
    }
    await cat.react(question.id, '👍')
    await bob.react(question.id, '❤️')
    for (const c of [ann, bob, cat]) {
      const got = await untilMessage(c, question.id, (m) => (m.content.reactions?.length ?? 0) === 2)
      expect(got.content.reactions?.map((r) => [r.author, r.emoji]).sort()).toEqual(
        [
          [bob.username, '❤️'],
          [cat.username, '👍'],
        ].sort(),
      )
    }
  })

  it("lets the author edit and delete their message for everyone, and no one else's", async () => {
    const note = await cat.sendText(groupConversationId(group.id), 'Compost bin is full')
    await untilTexts(ann, group.id, [note.content.text])
    await untilTexts(bob, group.id, [note.content.text])
    await cat.editMessage(note.id, 'Compost bin is full — emptied on Sunday')
    for (const c of [ann, bob])
      await untilMessage(c, note.id, (m) => m.content.text === 'Compost bin is full — emptied on Sunday')
    // Someone else's message is not theirs to edit or delete: refused on their own device.
    await expect(bob.editMessage(note.id, 'changed by bob')).rejects.toSatisfy((e) =>
      MessageActionError.is(e, 'not-author'),
    )
    await expect(ann.deleteForEveryone(note.id)).rejects.toSatisfy((e) =>
      MessageActionError.is(e, 'not-author'),
    )
    await cat.deleteForEveryone(note.id)
    for (const c of [ann, bob]) {
      const gone = await untilMessage(c, note.id, (m) => m.content.deleted === true)
      expect(gone.content.text).toBe('')
    }
  })

  it('refuses an edit that a member forges for another member’s message', async () => {
    const original = await ann.sendText(groupConversationId(group.id), 'Meeting at the shed at six')
    await untilTexts(bob, group.id, [original.content.text])
    // Bob's device sends an edit of Ann's message as its own group message: its signature is
    // Bob's, so the others see it is not Ann's change to make.
    const refusals: string[] = []
    cat.on('peer-error', (r) => {
      if (r.code === 'not-author') refusals.push(r.peer)
    })
    await internals(bob).groups.postChange(group.id, {
      type: 'edit',
      id: 'forged-edit-0001',
      ts: Date.now(),
      of: original.id,
      text: 'Meeting cancelled',
    })
    await until('cat to refuse bob’s edit', () => refusals.includes(bob.username))
    const atCat = await untilMessage(cat, original.id, () => true)
    expect(atCat.content.text).toBe('Meeting at the shed at six')
  })

  it('keeps a change that overtakes its message, and applies it when the message comes', async () => {
    // Cat's device drops group messages for a moment, as if they were still on their way.
    const receive = internals(cat).groups.receive.bind(internals(cat).groups)
    let holding = true
    internals(cat).groups.receive = async (peer, frame, identityKey) => {
      if (holding && frame.type === 'group-msgs') return
      return receive(peer, frame, identityKey)
    }
    try {
      const note = await ann.sendText(groupConversationId(group.id), 'Tools are in the blue box')
      await untilTexts(bob, group.id, [note.content.text])
      await ann.react(note.id, '🧰')
      await untilMessage(bob, note.id, (m) => (m.content.reactions?.length ?? 0) === 1)
      const copies = await copiesOf(ann, group.id)
      const text = copies.find((c) => c.messageId === note.id)
      const reaction = copies.at(-1)
      if (text === undefined || reaction === undefined || reaction === text) throw new Error('no copies')
      holding = false
      // The reaction reaches Cat before the message it is about.
      await deliver(cat, bob, {
        type: 'group-msgs',
        g: group.id,
        m: [toBase64Url(reaction.ct), toBase64Url(text.ct)],
      })
      const got = await untilMessage(cat, note.id, (m) => (m.content.reactions?.length ?? 0) === 1)
      expect(got.content.reactions?.[0]).toMatchObject({ author: ann.username, emoji: '🧰' })
    } finally {
      holding = false
      internals(cat).groups.receive = receive
    }
  })

  it('gives a member who was away the changes made meanwhile, from the others', async () => {
    const plan = await ann.sendText(groupConversationId(group.id), 'Seeds arrive Tuesday')
    await untilTexts(cat, group.id, [plan.content.text])
    cat.close()
    await ann.editMessage(plan.id, 'Seeds arrive Wednesday')
    await bob.react(plan.id, '🌱')
    const image = await ann.sendFile(
      groupConversationId(group.id),
      patternSource('bed.png', 40 * 1024, 3, 'image/png'),
    )
    await untilState(bob, image.fileId, ['done'])
    await ann.deleteForEveryone(image.fileId)
    await untilMessage(bob, image.fileId, (m) => m.content.deleted === true)

    cat = await TincanClient.login(env, cat.username, testPassword)
    const got = await untilMessage(
      cat,
      plan.id,
      (m) => m.content.text === 'Seeds arrive Wednesday' && (m.content.reactions?.length ?? 0) === 1,
    )
    expect(got.content.reactions?.[0]).toMatchObject({ author: bob.username, emoji: '🌱' })
    const deleted = await untilMessage(cat, image.fileId, (m) => m.content.deleted === true)
    expect(deleted.content.file).toBeUndefined()
    expect(await cat.fileTransfer(image.fileId)).toBeUndefined()
  })
})
