import 'fake-indexeddb/auto'
import { openDB } from 'idb'
import { beforeAll, describe, expect, it } from 'vitest'
import { ExpirySweeper } from '../../../client/core/disappearing.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { dbName, dbVersion, type Db } from '../../../client/core/store/db.ts'
import {
  directConversationId,
  History,
  type Message,
  type MessageContent,
} from '../../../client/core/store/history.ts'
import { generateVaultKey, initCrypto } from '../../../crypto/index.ts'
import { until } from '../../helpers/until.ts'

beforeAll(async () => {
  await initCrypto()
})

let n = 0
async function fresh(): Promise<{ history: History; db: Db }> {
  const db = await openHistoryDb(`changes-test-${n++}`)
  return { history: new History(db, generateVaultKey()), db }
}

const conv = directConversationId('bob')
const fromBob = { by: 'bob', conversationId: conv }
const fromMe = { by: 'me', conversationId: conv }

function message(
  id: string,
  sentAt: number,
  text: string,
  author = 'bob',
  extra: Partial<Message> & { content?: MessageContent } = {},
): Message {
  return {
    id,
    conversationId: conv,
    author,
    sentAt,
    receivedAt: sentAt,
    type: 'text',
    state: author === 'me' ? 'delivered' : 'received',
    content: { text },
    ...extra,
  }
}

async function add(history: History, m: Message): Promise<void> {
  await history.add(m, { incoming: m.author !== 'me', peer: 'bob' })
}

/** A file message with its record and two stored chunks, as the file transfers leave them. */
async function addFile(history: History, db: Db, id: string, sentAt: number, author = 'bob'): Promise<void> {
  await add(
    history,
    message(id, sentAt, 'holiday.jpg', author, {
      type: 'image',
      content: {
        text: 'holiday.jpg',
        file: { fileId: id, kind: 'image', name: 'holiday.jpg', size: 10, mime: 'image/jpeg' },
      },
    }),
  )
  await db.put('files', {
    fileId: id,
    peer: 'bob',
    direction: author === 'me' ? 'out' : 'in',
    kind: 'image',
    size: 10,
    chunkSize: 1024,
    createdAt: sentAt,
    state: 'done',
    storedChunks: 2,
    doneChunks: 2,
    error: null,
    sealed: new Uint8Array([1]),
  })
  await db.put('fileChunks', new Uint8Array([1, 2]), [id, 0])
  await db.put('fileChunks', new Uint8Array([3, 4]), [id, 1])
}

async function fileData(db: Db, id: string): Promise<{ record: boolean; chunks: number }> {
  return {
    record: (await db.get('files', id)) !== undefined,
    chunks: await db.count('fileChunks', IDBKeyRange.bound([id, 0], [id, Infinity])),
  }
}

describe('edits', () => {
  it('replace the author’s text and its search tokens, and mark the message edited', async () => {
    const { history } = await fresh()
    await add(history, message('m1', 1, 'see you at the station'))
    const out = await history.edit('m1', 'see you at the harbour', { ...fromBob, at: 10 })
    expect(out.ok).toBe(true)
    const m = await history.get('m1')
    expect(m?.content.text).toBe('see you at the harbour')
    expect(m?.content.editedAt).toBe(10)
    expect(await history.search('station')).toEqual([])
    expect((await history.search('harbour')).map((h) => h.message.id)).toEqual(['m1'])
    expect((await history.conversations())[0]?.preview).toBe('see you at the harbour')
  })

  it('are refused from anyone but the author, and from another conversation', async () => {
    const { history } = await fresh()
    await add(history, message('mine', 1, 'my words', 'me'))
    expect(await history.edit('mine', 'bob’s words', { ...fromBob, at: 10 })).toEqual({
      ok: false,
      reason: 'not-author',
    })
    expect(
      await history.edit('mine', 'carol’s words', {
        by: 'me',
        conversationId: directConversationId('carol'),
        at: 11,
      }),
    ).toEqual({ ok: false, reason: 'wrong-conversation' })
    expect((await history.get('mine'))?.content.text).toBe('my words')
  })

  it('apply only when newer than the last edit, so a resent older edit changes nothing', async () => {
    const { history } = await fresh()
    await add(history, message('m1', 1, 'first'))
    await history.edit('m1', 'second', { ...fromBob, at: 20 })
    expect(await history.edit('m1', 'stale', { ...fromBob, at: 15 })).toEqual({ ok: false, reason: 'stale' })
    expect(await history.edit('m1', 'second', { ...fromBob, at: 20 })).toEqual({ ok: false, reason: 'stale' })
    expect((await history.get('m1'))?.content.text).toBe('second')
  })

  it('do not apply to files, timer lines or deleted messages', async () => {
    const { history, db } = await fresh()
    await addFile(history, db, 'f1', 1)
    expect(await history.edit('f1', 'renamed', { ...fromBob, at: 5 })).toEqual({
      ok: false,
      reason: 'not-editable',
    })
    await add(history, message('gone', 2, 'oops'))
    await history.deleteForEveryone('gone', { ...fromBob, at: 6 })
    expect(await history.edit('gone', 'back', { ...fromBob, at: 7 })).toEqual({
      ok: false,
      reason: 'deleted',
    })
  })
})

describe('reactions', () => {
  it('keep one per person: a later one replaces it, an empty one removes it', async () => {
    const { history } = await fresh()
    await add(history, message('m1', 1, 'hello'))
    await history.react('m1', '👍', { ...fromMe, at: 10 })
    await history.react('m1', '😂', { ...fromBob, at: 11 })
    await history.react('m1', '❤️', { ...fromMe, at: 12 })
    expect((await history.get('m1'))?.content.reactions).toEqual([
      { author: 'bob', emoji: '😂', at: 11 },
      { author: 'me', emoji: '❤️', at: 12 },
    ])
    await history.react('m1', '', { ...fromBob, at: 13 })
    expect((await history.get('m1'))?.content.reactions).toEqual([{ author: 'me', emoji: '❤️', at: 12 }])
    await history.react('m1', '', { ...fromMe, at: 14 })
    expect((await history.get('m1'))?.content.reactions).toBeUndefined()
  })

  it('ignore a reaction older than the one stored, a removal included', async () => {
    const { history } = await fresh()
    await add(history, message('m1', 1, 'hello'))
    await history.react('m1', '👍', { ...fromBob, at: 10 })
    await history.react('m1', '', { ...fromBob, at: 20 })
    // The 👍 frame sent again after a lost receipt must not bring it back.
    expect(await history.react('m1', '👍', { ...fromBob, at: 10 })).toEqual({ ok: false, reason: 'stale' })
    expect((await history.get('m1'))?.content.reactions).toBeUndefined()
  })
})

describe('delete for everyone', () => {
  it('leaves a marker with no text, tokens, file data, quote or reactions', async () => {
    const { history, db } = await fresh()
    await addFile(history, db, 'f1', 1, 'me')
    await add(
      history,
      message('r1', 2, 'nice photo', 'me', {
        content: { text: 'nice photo', replyTo: { id: 'f1', author: 'me', excerpt: 'holiday.jpg' } },
      }),
    )
    await history.react('r1', '🔥', { ...fromBob, at: 3 })
    const out = await history.deleteForEveryone('r1', { ...fromMe, at: 4 })
    expect(out.ok).toBe(true)
    const marker = await history.get('r1')
    expect(marker?.content).toEqual({ text: '', deleted: true, deletedAt: 4 })
    expect(await history.search('photo')).toEqual([])
    const raw = await db.getFromIndex('messages', 'byId', 'r1')
    expect(raw?.tokens).toEqual([])
    expect(raw?.replyTo).toBeUndefined()

    const file = await history.deleteForEveryone('f1', { ...fromMe, at: 5 })
    expect(file.ok && file.fileId).toBe('f1')
    expect(await fileData(db, 'f1')).toEqual({ record: false, chunks: 0 })
    expect((await history.get('f1'))?.content).toEqual({ text: '', deleted: true, deletedAt: 5 })
  })

  it('clears the excerpt in replies that quote the deleted message', async () => {
    const { history } = await fresh()
    await add(history, message('q', 1, 'the secret is out'))
    await add(
      history,
      message('reply', 2, 'what?!', 'me', {
        content: { text: 'what?!', replyTo: { id: 'q', author: 'bob', excerpt: 'the secret is out' } },
      }),
    )
    const out = await history.deleteForEveryone('q', { ...fromBob, at: 3 })
    expect(out.ok && out.quotes.map((m) => m.id)).toEqual(['reply'])
    expect((await history.get('reply'))?.content.replyTo).toEqual({
      id: 'q',
      author: 'bob',
      excerpt: '',
      deleted: true,
    })
  })

  it('is refused from anyone but the author; a second one changes nothing', async () => {
    const { history } = await fresh()
    await add(history, message('mine', 1, 'keep me', 'me'))
    expect(await history.deleteForEveryone('mine', { ...fromBob, at: 2 })).toEqual({
      ok: false,
      reason: 'not-author',
    })
    expect((await history.get('mine'))?.content.text).toBe('keep me')
    await history.deleteForEveryone('mine', { ...fromMe, at: 3 })
    expect(await history.deleteForEveryone('mine', { ...fromMe, at: 4 })).toEqual({
      ok: false,
      reason: 'stale',
    })
  })

  it('takes an unsent message out of the outbox, so its text is never sent', async () => {
    const { history, db } = await fresh()
    await history.add(
      { ...message('queued', 1, 'typo', 'me'), state: 'queued' },
      {
        incoming: false,
        peer: 'bob',
        outbox: {
          id: 'queued',
          to: 'bob',
          conversationId: conv,
          queuedAt: 1,
          payload: new Uint8Array([1]),
          attempts: 0,
        },
      },
    )
    await history.deleteForEveryone('queued', { ...fromMe, at: 2 })
    expect(await db.get('outbox', 'queued')).toBeUndefined()
  })
})

describe('delete for me', () => {
  it('removes the message, its tokens and file data, and its unread count', async () => {
    const { history, db } = await fresh()
    await add(history, message('m1', 1, 'older'))
    await addFile(history, db, 'f1', 2)
    expect((await history.conversations())[0]?.unread).toBe(2)
    const out = await history.remove('f1')
    expect(out.removed).toEqual({ id: 'f1', conversationId: conv, fileId: 'f1' })
    expect(await history.get('f1')).toBeUndefined()
    expect(await history.search('holiday')).toEqual([])
    expect(await fileData(db, 'f1')).toEqual({ record: false, chunks: 0 })
    const [c] = await history.conversations()
    expect(c?.unread).toBe(1)
    expect(c?.preview).toBe('older')
    expect((await history.remove('f1')).removed).toBeUndefined()
  })
})

describe('disappearing messages in storage', () => {
  it('removes due messages with their tokens, file data, outbox entries and preview, and nothing else', async () => {
    const { history, db } = await fresh()
    await add(history, message('stays', 1, 'no timer here'))
    await add(history, message('later', 2, 'not yet due', 'bob', { expiresAt: 5000 }))
    await add(history, message('due', 3, 'disappear please', 'bob', { expiresAt: 1000 }))
    await addFile(history, db, 'f-due', 4)
    const raw = await db.getFromIndex('messages', 'byId', 'f-due')
    if (raw !== undefined) await db.put('messages', { ...raw, expiresAt: 1500 })
    await history.add(
      { ...message('mine-due', 5, 'unsent and due', 'me', { expiresAt: 1200 }), state: 'queued' },
      {
        incoming: false,
        peer: 'bob',
        outbox: {
          id: 'mine-due',
          to: 'bob',
          conversationId: conv,
          queuedAt: 5,
          payload: new Uint8Array([1]),
          attempts: 0,
        },
      },
    )
    expect(await history.nextExpiry()).toBe(1000)

    const out = await history.expire(2000)
    expect(out.removed.map((r) => r.id).sort()).toEqual(['due', 'f-due', 'mine-due'])
    expect((await history.page(conv)).map((m) => m.id)).toEqual(['stays', 'later'])
    expect(await history.search('disappear')).toEqual([])
    expect(await history.search('unsent')).toEqual([])
    expect(await fileData(db, 'f-due')).toEqual({ record: false, chunks: 0 })
    expect(await db.get('outbox', 'mine-due')).toBeUndefined()
    const [c] = await history.conversations()
    expect(c?.preview).toBe('not yet due')
    expect(c?.unread).toBe(2)
    expect(await history.nextExpiry()).toBe(5000)

    await history.expire(6000)
    expect((await history.page(conv)).map((m) => m.id)).toEqual(['stays'])
    expect(await history.nextExpiry()).toBeUndefined()
  })

  it('keeps one timer per conversation: the later change wins, whatever order two arrive in', async () => {
    const a = (await fresh()).history
    const b = (await fresh()).history
    const first = { seconds: 300, setAt: 10, setBy: 'me' }
    const second = { seconds: 3600, setAt: 11, setBy: 'bob' }
    expect(await a.setTimer(conv, 'bob', first)).toBe(true)
    expect(await a.setTimer(conv, 'bob', second)).toBe(true)
    expect(await b.setTimer(conv, 'bob', second)).toBe(true)
    expect(await b.setTimer(conv, 'bob', first)).toBe(false)
    expect(await a.timer(conv)).toBe(3600)
    expect(await b.timer(conv)).toBe(3600)
    expect(await a.setTimer(conv, 'bob', second)).toBe(false)
  })

  it('are deleted by the sweeper when their time comes, on an injected clock', async () => {
    const { history } = await fresh()
    let now = 0
    const removed: string[] = []
    const sweeper = new ExpirySweeper({
      history,
      now: () => now,
      // Short waits so the test's clock is looked at often; the outcome, not the timing, is checked.
      maxWaitMs: 10,
      onExpired: (out) => {
        removed.push(...out.removed.map((r) => r.id))
        return Promise.resolve()
      },
    })
    await add(history, message('soon', 1, 'bye', 'bob', { expiresAt: 1000 }))
    await sweeper.sweep()
    expect(await history.get('soon')).toBeDefined()
    now = 1000
    await until('the sweeper to remove the due message', () => removed.includes('soon'))
    expect(await history.get('soon')).toBeUndefined()
    await add(history, message('next', 2, 'bye too', 'bob', { expiresAt: 1500 }))
    sweeper.schedule(1500)
    now = 1600
    await until('the scheduled message to go', () => removed.includes('next'))
    sweeper.close()
  })
})

describe('history database upgrade to version 3 (disappearing messages, quotes)', () => {
  it('adds the expiry and reply indexes and keeps messages written under version 2', async () => {
    const username = 'upgrade-v3'
    const key = generateVaultKey()
    const v2 = await openDB(dbName(username), 2, {
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
        const files = db.createObjectStore('files', { keyPath: 'fileId' })
        files.createIndex('byActive', 'active')
        files.createIndex('byPeer', ['peer', 'createdAt'])
        db.createObjectStore('fileChunks')
      },
    })
    await new History(v2 as never, key).add(message('old', 1, 'written before timers'), {
      incoming: true,
      peer: 'bob',
    })
    v2.close()

    expect(dbVersion).toBeGreaterThanOrEqual(3)
    const db = await openHistoryDb(username)
    expect(db.version).toBe(dbVersion)
    const indexes = [...db.transaction('messages').store.indexNames].sort()
    expect(indexes).toEqual(['byConversation', 'byExpiry', 'byId', 'byReplyTo', 'byToken'])
    const history = new History(db, key)
    expect((await history.page(conv)).map((m) => m.content.text)).toEqual(['written before timers'])
    expect(await history.nextExpiry()).toBeUndefined()
    expect((await history.expire(Date.now())).removed).toEqual([])
    expect(await history.get('old')).toBeDefined()
  })
})
