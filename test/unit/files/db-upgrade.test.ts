import 'fake-indexeddb/auto'
import { openDB } from 'idb'
import { beforeAll, describe, expect, it } from 'vitest'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { dbName, dbVersion } from '../../../client/core/store/db.ts'
import { directConversationId, History } from '../../../client/core/store/history.ts'
import { generateVaultKey, initCrypto } from '../../../crypto/index.ts'

beforeAll(async () => {
  await initCrypto()
})

/** The database exactly as version 1 of the client created it. */
async function createVersion1(username: string): Promise<void> {
  const db = await openDB(dbName(username), 1, {
    upgrade(db) {
      db.createObjectStore('meta')
      const messages = db.createObjectStore('messages', { keyPath: 'key' })
      messages.createIndex('byConversation', ['conversationId', 'sentAt'])
      messages.createIndex('byId', 'id', { unique: true })
      messages.createIndex('byToken', 'tokens', { multiEntry: true })
      const conversations = db.createObjectStore('conversations', { keyPath: 'id' })
      conversations.createIndex('byLastMessage', 'lastMessageAt')
      db.createObjectStore('contacts', { keyPath: 'username' })
      const outbox = db.createObjectStore('outbox', { keyPath: 'id' })
      outbox.createIndex('byPeer', ['to', 'queuedAt'])
      db.createObjectStore('sessions', { keyPath: 'peer' })
    },
  })
  db.close()
}

describe('history database upgrade to version 2 (files)', () => {
  it('keeps every message, contact, outbox entry and session, and adds the file stores', async () => {
    const username = 'upgrade-user'
    await createVersion1(username)
    const old = await openDB(dbName(username), 1)
    await old.put('meta', new Uint8Array([1, 2, 3]), 'vault')
    await old.put('contacts', {
      username: 'bob',
      identityKey: 'k',
      pendingKey: null,
      verified: true,
      addedAt: 5,
    })
    await old.put('sessions', { peer: 'bob', sealed: new Uint8Array([9]) })
    old.close()

    expect(dbVersion).toBeGreaterThanOrEqual(2)
    const db = await openHistoryDb(username)
    expect(db.version).toBe(dbVersion)
    expect([...db.objectStoreNames].sort()).toEqual(
      ['contacts', 'conversations', 'fileChunks', 'files', 'messages', 'meta', 'outbox', 'sessions'].sort(),
    )
    expect(await db.get('meta', 'vault')).toEqual(new Uint8Array([1, 2, 3]))
    expect((await db.get('contacts', 'bob'))?.verified).toBe(true)
    expect((await db.get('sessions', 'bob'))?.sealed).toEqual(new Uint8Array([9]))
    db.close()
  })

  it('keeps messages written under version 1, readable and searchable', async () => {
    const username = 'upgrade-messages'
    const key = generateVaultKey()
    await createVersion1(username)
    // History's records are the same in both versions; only stores were added.
    const v1 = await openDB(dbName(username), 1)
    const history = new History(v1 as never, key)
    const conv = directConversationId('bob')
    await history.add(
      {
        id: 'old1',
        conversationId: conv,
        author: 'bob',
        sentAt: 10,
        type: 'text',
        state: 'received',
        content: { text: 'from before files' },
      },
      { incoming: true, peer: 'bob' },
    )
    v1.close()
    const upgraded = new History(await openHistoryDb(username), key)
    expect((await upgraded.page(conv)).map((m) => m.content.text)).toEqual(['from before files'])
    expect((await upgraded.search('before')).map((h) => h.message.id)).toEqual(['old1'])
  })
})
