import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GroupView, TincanClient, TypingEvent } from '../../../client/core/client.ts'
import type { TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { groupMessages, startGroup, untilTexts } from './helpers.ts'
import { groupConversationId } from '../../../client/core/index.ts'

/**
 * Typing and read receipts in a group of three real clients in Node (real server, real WebRTC):
 * Ann made the group with her friends Bob and Cat, who are not friends of each other.
 */
describe('typing and read receipts in a group', () => {
  let server: TestServer
  let ann: TincanClient
  let bob: TincanClient
  let cat: TincanClient
  let group: GroupView

  beforeAll(async () => {
    const started = await startGroup(['ann', 'bob', 'cat'], 'Choir', 8)
    ;({ server, group } = started)
    ;[ann, bob, cat] = started.clients as [TincanClient, TincanClient, TincanClient]
    for (const c of [ann, bob, cat])
      await until(`${c.username} connected to both others`, () =>
        c.group(group.id)?.members.every((m) => m.me || m.connected),
      )
  })

  afterAll(async () => {
    for (const c of [ann, bob, cat]) c.close()
    await server.close()
  })

  function typingSeen(client: TincanClient): TypingEvent[] {
    const seen: TypingEvent[] = []
    client.on('typing', (e) => seen.push(e))
    return seen
  }

  async function stateOf(client: TincanClient, id: string): Promise<string | undefined> {
    return (await groupMessages(client, group.id)).find((m) => m.id === id)?.state
  }

  it('shows who is typing to the other members, and when they stop', async () => {
    const atAnn = typingSeen(ann)
    const atCat = typingSeen(cat)
    await bob.setTyping(groupConversationId(group.id), true)
    const started = { conversationId: groupConversationId(group.id), username: bob.username, typing: true }
    await until('ann and cat to see bob typing', () =>
      [atAnn, atCat].every((seen) => seen.some((e) => e.typing && e.username === bob.username)),
    )
    expect(atAnn).toContainEqual(started)
    expect(atCat).toContainEqual(started)
    await bob.setTyping(groupConversationId(group.id), false)
    await until('ann and cat to see bob stop', () =>
      [atAnn, atCat].every((seen) => seen.at(-1)?.typing === false),
    )
    expect(atCat.at(-1)).toEqual({ ...started, typing: false })
  })

  it('marks a message read once every other member has read it', async () => {
    const sent = await ann.sendText(groupConversationId(group.id), 'Rehearsal moved to Thursday')
    await untilTexts(bob, group.id, [sent.content.text])
    await untilTexts(cat, group.id, [sent.content.text])
    await until('delivered to both', async () => (await stateOf(ann, sent.id)) === 'delivered')

    await bob.markRead(groupConversationId(group.id))
    // Bob's read reached Ann (a later message from Bob arrives after it on the same connection).
    const probe = await bob.sendText(groupConversationId(group.id), 'seen it')
    await untilTexts(ann, group.id, [probe.content.text])
    expect(await stateOf(ann, sent.id)).toBe('delivered')

    await cat.markRead(groupConversationId(group.id))
    await until('read by all', async () => (await stateOf(ann, sent.id)) === 'read')
  })

  it('sends no reads and no typing when the member switched them off', async () => {
    cat.setReadReceipts(false)
    cat.setTypingIndicators(false)
    try {
      const atAnn = typingSeen(ann)
      await cat.setTyping(groupConversationId(group.id), true)
      const sent = await ann.sendText(groupConversationId(group.id), 'Bring the scores')
      await untilTexts(cat, group.id, [sent.content.text])
      await untilTexts(bob, group.id, [sent.content.text])
      await bob.markRead(groupConversationId(group.id))
      await cat.markRead(groupConversationId(group.id))
      // Cat's next message travels after anything Cat would have sent before it.
      const probe = await cat.sendText(groupConversationId(group.id), 'will do')
      await untilTexts(ann, group.id, [probe.content.text])
      expect(await stateOf(ann, sent.id)).not.toBe('read')
      expect(atAnn.filter((e) => e.username === cat.username)).toEqual([])
    } finally {
      cat.setReadReceipts(true)
      cat.setTypingIndicators(true)
    }
  })
})
