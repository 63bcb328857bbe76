import 'fake-indexeddb/auto'
import { beforeAll, describe, expect, it } from 'vitest'
import { generateVaultKey, initCrypto } from '../../../crypto/index.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { directConversationId, History } from '../../../client/core/store/history.ts'

let n = 0
async function freshHistory(): Promise<{ history: History; key: Uint8Array; name: string }> {
  const name = `history-test-${n++}`
  const key = generateVaultKey()
  return { history: new History(await openHistoryDb(name), key), key, name }
}

function textMessage(conversationId: string, id: string, sentAt: number, text: string, author = 'bob') {
  return { id, conversationId, author, sentAt, type: 'text', state: 'received' as const, content: { text } }
}

beforeAll(async () => {
  await initCrypto()
})

describe('message history', () => {
  it('pages backwards through a conversation in time order', async () => {
    const { history } = await freshHistory()
    const conv = directConversationId('bob')
    for (let i = 0; i < 120; i++)
      await history.add(textMessage(conv, `m${i}`, 1000 + i, `message ${i}`), { incoming: true, peer: 'bob' })
    await history.add(textMessage(directConversationId('carol'), 'c1', 5000, 'other'), {
      incoming: true,
      peer: 'carol',
    })
    const newest = await history.page(conv, { limit: 50 })
    expect(newest.map((m) => m.content.text)).toEqual(
      Array.from({ length: 50 }, (_, i) => `message ${70 + i}`),
    )
    const older = await history.page(conv, { beforeSentAt: newest[0]?.sentAt ?? 0, limit: 50 })
    expect(older[0]?.id).toBe('m20')
    expect(older.at(-1)?.id).toBe('m69')
    expect(await history.count(conv)).toBe(120)
  })

  it('pages forwards from a message, for a chat opened at a search hit', async () => {
    const { history } = await freshHistory()
    const conv = directConversationId('bob')
    for (let i = 0; i < 120; i++)
      await history.add(textMessage(conv, `m${i}`, 1000 + i, `message ${i}`), { incoming: true, peer: 'bob' })
    const around = await history.page(conv, { beforeSentAt: 1000 + 40 + 1, limit: 10 })
    expect(around.map((m) => m.id)).toEqual(Array.from({ length: 10 }, (_, i) => `m${31 + i}`))
    const newer = await history.page(conv, { afterSentAt: around.at(-1)?.sentAt ?? 0, limit: 50 })
    expect(newer.map((m) => m.id)).toEqual(Array.from({ length: 50 }, (_, i) => `m${41 + i}`))
    const last = await history.page(conv, { afterSentAt: newer.at(-1)?.sentAt ?? 0, limit: 50 })
    expect(last.map((m) => m.id)).toEqual(Array.from({ length: 29 }, (_, i) => `m${91 + i}`))
    expect(await history.page(conv, { afterSentAt: 1119 })).toEqual([])
  })

  it('drops a message whose id it has already stored', async () => {
    const { history } = await freshHistory()
    const conv = directConversationId('bob')
    expect(await history.add(textMessage(conv, 'dup', 1, 'first'), { incoming: true, peer: 'bob' })).toBe(
      true,
    )
    expect(await history.add(textMessage(conv, 'dup', 2, 'again'), { incoming: true, peer: 'bob' })).toBe(
      false,
    )
    expect((await history.page(conv)).map((m) => m.content.text)).toEqual(['first'])
    expect((await history.conversations())[0]?.unread).toBe(1)
  })

  it('keeps bodies encrypted at rest and unreadable under another key', async () => {
    const { history, name } = await freshHistory()
    const conv = directConversationId('bob')
    await history.add(textMessage(conv, 'secret', 1, 'the launch code is 1234'), {
      incoming: true,
      peer: 'bob',
    })
    const db = await openHistoryDb(name)
    const raw = await db.getFromIndex('messages', 'byId', 'secret')
    expect(new TextDecoder().decode(raw?.body)).not.toContain('launch')
    expect(JSON.stringify(raw?.tokens)).not.toContain('launch')
    await expect(new History(db, generateVaultKey()).page(conv)).rejects.toThrow()
  })

  it('moves message states forward only', async () => {
    const { history } = await freshHistory()
    const conv = directConversationId('bob')
    await history.add(
      { ...textMessage(conv, 'out', 1, 'hi', 'alice'), state: 'queued' },
      { incoming: false, peer: 'bob' },
    )
    expect((await history.setState('out', 'delivered'))?.state).toBe('delivered')
    expect((await history.setState('out', 'sent'))?.state).toBe('delivered')
    expect((await history.setState('out', 'read'))?.state).toBe('read')
  })

  it('finds words by prefix and Chinese text by substring, newest first, with match positions', async () => {
    const { history } = await freshHistory()
    const bob = directConversationId('bob')
    const carol = directConversationId('carol')
    await history.add(textMessage(bob, 'a', 1, 'Hello there'), { incoming: true, peer: 'bob' })
    await history.add(textMessage(carol, 'b', 2, 'well, hello again'), { incoming: true, peer: 'carol' })
    await history.add(textMessage(bob, 'c', 3, '我们明天去北京吧'), { incoming: true, peer: 'bob' })
    await history.add(textMessage(bob, 'd', 4, 'help me'), { incoming: true, peer: 'bob' })
    expect((await history.search('hello')).map((h) => h.message.id)).toEqual(['b', 'a'])
    expect((await history.search('hel')).map((h) => h.message.id)).toEqual(['d', 'b', 'a'])
    expect((await history.search('hello', { conversationId: bob })).map((h) => h.message.id)).toEqual(['a'])
    const chinese = await history.search('北京')
    expect(chinese.map((h) => h.message.id)).toEqual(['c'])
    expect(chinese[0]?.matches).toEqual([{ start: 5, end: 7 }])
    expect(await history.search('京')).toHaveLength(1)
    expect(await history.search('nowhere')).toEqual([])
  })

  it('finds short words and numbers whole, and longer words by their first three letters', async () => {
    const { history } = await freshHistory()
    const bob = directConversationId('bob')
    await history.add(textMessage(bob, 'a', 1, 'ok, see you at 5 in room 42b'), {
      incoming: true,
      peer: 'bob',
    })
    await history.add(textMessage(bob, 'b', 2, 'okay, seen it'), { incoming: true, peer: 'bob' })
    const ids = async (q: string) => (await history.search(q)).map((h) => h.message.id)
    expect(await ids('ok')).toEqual(['a'])
    expect(await ids('at 5')).toEqual(['a'])
    expect(await ids('42b')).toEqual(['a'])
    expect(await ids('see')).toEqual(['b', 'a'])
    expect(await ids('seen')).toEqual(['b'])
    expect(await ids('okay')).toEqual(['b'])
    // Two letters match a whole word only, not the start of a longer one.
    expect(await ids('se')).toEqual([])
  })
})

describe('reading a busy conversation (issue 17)', () => {
  it('marks the friend’s received messages read and zeroes the unread count, returning them for receipts', async () => {
    const { history } = await freshHistory()
    const conv = directConversationId('bob')
    for (let i = 0; i < 5; i++)
      await history.add(textMessage(conv, `in${i}`, 100 + 2 * i, `from bob ${i}`), {
        incoming: true,
        peer: 'bob',
      })
    await history.add(
      { ...textMessage(conv, 'mine', 105, 'from me', 'alice'), state: 'delivered' },
      { incoming: false, peer: 'bob' },
    )
    expect(await history.markRead(conv, 'alice')).toEqual(
      [0, 1, 2, 3, 4].map((i) => ({ id: `in${i}`, author: 'bob' })),
    )
    expect((await history.conversation(conv))?.unread).toBe(0)
    expect((await history.page(conv)).map((m) => [m.id, m.state])).toEqual([
      ['in0', 'read'],
      ['in1', 'read'],
      ['in2', 'read'],
      ['mine', 'delivered'],
      ['in3', 'read'],
      ['in4', 'read'],
    ])
    // Nothing new: nothing to tell the friend again.
    expect(await history.markRead(conv, 'alice')).toEqual([])
  })

  it('marks a new message read without walking back through the older, read ones', async () => {
    const { history } = await freshHistory()
    const conv = directConversationId('bob')
    for (let i = 0; i < 30; i++)
      await history.add(textMessage(conv, `m${i}`, 1000 + i, `message ${i}`), { incoming: true, peer: 'bob' })
    await history.markRead(conv, 'alice')
    // Stored below messages already read and never counted unread: a walk back through the
    // whole conversation would find it, the walk that stops at the first read message does not.
    await history.add(textMessage(conv, 'late', 1028, 'late, below read ones'), {
      incoming: false,
      peer: 'bob',
    })
    await history.add(textMessage(conv, 'new', 2000, 'the newest'), { incoming: true, peer: 'bob' })
    expect(await history.markRead(conv, 'alice')).toEqual([{ id: 'new', author: 'bob' }])
  })

  it('reads one conversation as the list shows it, with its preview opened', async () => {
    const { history } = await freshHistory()
    await history.add(textMessage(directConversationId('bob'), 'b', 1, 'hi from bob'), {
      incoming: true,
      peer: 'bob',
    })
    await history.add(textMessage(directConversationId('carol'), 'c', 2, 'hi from carol'), {
      incoming: true,
      peer: 'carol',
    })
    expect(await history.conversation(directConversationId('bob'))).toMatchObject({
      peer: 'bob',
      unread: 1,
      preview: 'hi from bob',
    })
    expect(await history.conversation(directConversationId('dave'))).toBeUndefined()
  })
})
