import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GroupView, TincanClient } from '../../../client/core/client.ts'
import type { MessageRelay } from '../../../client/core/groups/relay.ts'
import { newMessageId } from '../../../client/core/messenger.ts'
import type { Message } from '../../../client/core/store/history.ts'
import type { GroupContent } from '../../../shared/index.ts'
import type { TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { groupMessages, startGroup, untilTexts } from './helpers.ts'
import { internals } from '../../helpers/internals.ts'
import { groupConversationId } from '../../../client/core/index.ts'

/** A group message's content before its id is chosen, for each kind of content. */
type Unidentified<T> = T extends unknown ? Omit<T, 'id'> : never

/** 1 January 2286. */
const year2286 = Date.UTC(2286, 0, 1)

/**
 * Issue 14, F5 and F6 in a group of three real clients in Node (real server, real WebRTC): Bob's
 * device is changed to write its own group messages, signed with his real sender key, so every
 * member accepts them as his — what they show of the quote and the time is what is tested.
 */
describe('a member’s reply and time in a group (issue 14)', () => {
  let server: TestServer
  let ann: TincanClient
  let bob: TincanClient
  let cat: TincanClient
  let group: GroupView

  beforeAll(async () => {
    const started = await startGroup(['ann', 'bob', 'cat'], 'Allotment', 8)
    ;({ server, group } = started)
    ;[ann, bob, cat] = started.clients as [TincanClient, TincanClient, TincanClient]
  })

  afterAll(async () => {
    for (const c of [ann, bob, cat]) c.close()
    await server.close()
  })

  /** A group message Bob's changed device writes as it likes: encrypted, signed and relayed as usual. */
  async function bobWrites(content: Unidentified<GroupContent>): Promise<string> {
    const id = newMessageId()
    const relay = (internals(bob).groups as unknown as { relay: MessageRelay }).relay
    await relay.post(group.id, () => ({ ...content, id }), undefined, id)
    return id
  }

  async function untilMessage(client: TincanClient, id: string): Promise<Message> {
    return until(`${client.username}'s copy of ${id}`, async () =>
      (await groupMessages(client, group.id)).find((x) => x.id === id),
    )
  }

  it('shows a reply’s quote from each member’s own copy, and "not found" for a message the member does not have', async () => {
    const question = await ann.sendText(groupConversationId(group.id), 'Who brings the spade on Saturday?')
    await untilTexts(bob, group.id, [question.content.text])
    const forged = { author: ann.username, excerpt: 'Ann pays everyone 100 EUR' }
    const misquote = await bobWrites({
      type: 'text',
      ts: Date.now(),
      text: 'As Ann said',
      replyTo: { id: question.id, ...forged },
    })
    const quotesNothing = await bobWrites({
      type: 'text',
      ts: Date.now(),
      text: 'As Ann promised',
      replyTo: { id: newMessageId(), ...forged },
    })
    for (const member of [ann, cat]) {
      expect((await untilMessage(member, misquote)).content.replyTo).toEqual({
        id: question.id,
        author: ann.username,
        excerpt: 'Who brings the spade on Saturday?',
      })
      const missing = (await untilMessage(member, quotesNothing)).content.replyTo
      expect(missing).toMatchObject({ author: '', excerpt: '', missing: true })
    }
  })

  it('files a member’s message dated 2286 at its arrival, before what is written after it', async () => {
    const future = await bobWrites({ type: 'text', ts: year2286, text: 'Dated 2286' })
    const atCat = await untilMessage(cat, future)
    expect(atCat.sentAt).toBeLessThanOrEqual(Date.now())
    const later = await cat.sendText(groupConversationId(group.id), 'Written after it')
    await untilTexts(ann, group.id, ['Dated 2286', later.content.text])
    for (const member of [ann, cat]) {
      const texts = (await groupMessages(member, group.id)).map((m) => m.content.text)
      expect(texts.slice(-2)).toEqual(['Dated 2286', 'Written after it'])
    }
    const list = await cat.conversations()
    expect(list.find((c) => c.peer === group.id)?.lastMessageAt).toBe(later.sentAt)
  })
})
