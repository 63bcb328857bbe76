import 'fake-indexeddb/auto'
import { beforeAll, describe, expect, it } from 'vitest'
import { Outbox } from '../../../client/core/outbox.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { directConversationId, History } from '../../../client/core/store/history.ts'
import { generateVaultKey, initCrypto } from '../../../crypto/index.ts'

beforeAll(async () => {
  await initCrypto()
})

/** File decisions wait in the outbox without a history message; receipts must still clear them, and only them. */
describe('outbox entries that are not history messages', () => {
  it('leave on a delivered receipt from the friend they were sent to, and not on anyone else’s', async () => {
    const db = await openHistoryDb('outbox-receipts')
    const history = new History(db, generateVaultKey())
    const outbox = new Outbox(db)
    const entry = (id: string, to: string) => ({
      id,
      to,
      conversationId: directConversationId(to),
      queuedAt: 1,
      payload: new Uint8Array([1]),
      attempts: 0,
    })
    await outbox.put(entry('cancel-to-bob', 'bob'))
    await outbox.put(entry('done-to-carol', 'carol'))

    // Carol acknowledges bob's entry: nothing happens.
    await history.advance(['cancel-to-bob'], 'delivered', {
      conversationId: directConversationId('carol'),
      author: 'me',
    })
    expect(await outbox.size()).toBe(2)
    // A 'sent' mark is not an acknowledgement.
    await history.advance(['cancel-to-bob'], 'sent', {
      conversationId: directConversationId('bob'),
      author: 'me',
    })
    expect(await outbox.size()).toBe(2)
    // Bob acknowledges it: gone; carol's stays.
    await history.advance(['cancel-to-bob'], 'delivered', {
      conversationId: directConversationId('bob'),
      author: 'me',
    })
    expect((await outbox.forPeer('bob')).length).toBe(0)
    expect((await outbox.forPeer('carol')).map((e) => e.id)).toEqual(['done-to-carol'])
  })
})
