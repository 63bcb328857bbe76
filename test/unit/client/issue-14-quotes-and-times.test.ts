// Issue 14, F5 and F6, on one device with its real history (fake-indexeddb): a friend's reply
// cannot put words in anyone's mouth (the quote comes from this device's own copy), and a
// friend's clock (or a hostile client) cannot date messages and changes in the future.
import 'fake-indexeddb/auto'
import { openDB } from 'idb'
import { beforeAll, describe, expect, it } from 'vitest'
import { MessageActions } from '../../../client/core/message-actions.ts'
import { Messenger, type PeerTransport } from '../../../client/core/messenger.ts'
import { Outbox } from '../../../client/core/outbox.ts'
import { missingQuote, receivedQuote } from '../../../client/core/quotes.ts'
import { maxClockAheadMs, plausibleSentAt } from '../../../client/core/sender-time.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { dbName, type TincanDb } from '../../../client/core/store/db.ts'
import { directConversationId, History, type Message } from '../../../client/core/store/history.ts'
import { generateVaultKey, initCrypto, utf8Encode } from '../../../crypto/index.ts'
import type { PeerMessage } from '../../../shared/index.ts'
import { PeerRouter, type PeerRouterParts } from '../../../client/core/peer-router.ts'

beforeAll(async () => {
  await initCrypto()
})

/** A friend who is never connected: what alice sends waits in her outbox. */
const offline: PeerTransport = {
  isOpen: () => false,
  send: () => Promise.resolve(false),
  connect: () => undefined,
}

/** This device has no file transfers and no groups here: what the router would hand them is dropped. */
const noFiles: PeerRouterParts['files'] = {
  offer: () => Promise.resolve(undefined),
  offerStored: () => Promise.resolve(),
  control: () => Promise.resolve(),
}
const noGroups: PeerRouterParts['groups'] = { receive: () => Promise.resolve(), isGroupOnly: () => false }

/** 1 March 2025, 09:00 UTC: "now" on alice's device. */
const start = Date.UTC(2025, 2, 1, 9, 0)
/** 1 January 2286: where a hostile friend dates messages to keep them at the bottom. */
const year2286 = Date.UTC(2286, 0, 1)

let n = 0
/** Alice's device: her history, her messenger, and the message actions wired as in the client. */
async function aliceDevice() {
  const clock = { now: start }
  const db = await openHistoryDb(`issue-14-alice-${n++}`)
  const vaultKey = generateVaultKey()
  const history = new History(db, vaultKey)
  let messenger: Messenger | undefined = undefined
  const actions = new MessageActions({
    me: 'alice',
    history,
    messenger: {
      nextTimestamp: () => (messenger as Messenger).nextTimestamp(),
      sendWritten: (peer, frame, write) => (messenger as Messenger).sendWritten(peer, frame, write),
    },
    canSend: () => Promise.resolve(true),
    now: () => clock.now,
  })
  messenger = new Messenger({
    me: 'alice',
    history,
    outbox: new Outbox(db),
    transport: offline,
    vaultKey,
    canSend: () => Promise.resolve(true),
    now: () => clock.now,
  })
  // Frames reach the parts as in the client: through the peer router, over an authenticated connection.
  const router = new PeerRouter({ messenger, actions, files: noFiles, groups: noGroups })
  const from = (peer: string, frame: PeerMessage) =>
    router.receive(peer, utf8Encode(JSON.stringify(frame)), new Uint8Array(32))
  return { clock, history, messenger, actions, from }
}

const bobs = directConversationId('bob')

describe('F5: a reply quotes what this device has, not what the friend says was written', () => {
  it('shows the quoted message’s real author and words however the friend’s reply misquotes them', async () => {
    const { history, messenger, from } = await aliceDevice()
    const mine = await messenger.sendText('bob', 'Shall we split the bill?')
    await from('bob', {
      type: 'text',
      id: 'bobsReply01',
      ts: start,
      text: 'Deal',
      replyTo: { id: mine.id, author: 'alice', excerpt: 'I, alice, agree to pay bob 1000 EUR' },
    })
    expect((await history.get('bobsReply01'))?.content.replyTo).toEqual({
      id: mine.id,
      author: 'alice',
      excerpt: 'Shall we split the bill?',
    })
    // Naming a third person as the author changes nothing either: the author is ours to know.
    await from('bob', {
      type: 'text',
      id: 'bobsReply02',
      ts: start,
      text: 'Deal again',
      replyTo: { id: mine.id, author: 'carol', excerpt: 'carol said so' },
    })
    expect((await history.get('bobsReply02'))?.content.replyTo).toMatchObject({
      author: 'alice',
      excerpt: 'Shall we split the bill?',
    })
    messenger.close()
  })

  it('shows a quote of a message this device does not have as "not found", naming no one', async () => {
    const { history, messenger, from } = await aliceDevice()
    await from('bob', {
      type: 'text',
      id: 'bobsReply03',
      ts: start,
      text: 'As you said',
      replyTo: { id: 'neverArrived01', author: 'alice', excerpt: 'I, alice, agree to pay bob 1000 EUR' },
    })
    expect((await history.get('bobsReply03'))?.content.replyTo).toEqual({
      id: 'neverArrived01',
      author: '',
      excerpt: '',
      missing: true,
    })
    messenger.close()
  })

  it('does not let a friend quote a message of another conversation: not found, and its words stay private', async () => {
    const { history, messenger, from } = await aliceDevice()
    const toCarol = await messenger.sendText('carol', 'my PIN is 4321')
    await from('bob', {
      type: 'text',
      id: 'bobsReply04',
      ts: start,
      text: 'what did you tell carol?',
      replyTo: { id: toCarol.id, author: 'alice', excerpt: '' },
    })
    expect((await history.get('bobsReply04'))?.content.replyTo).toEqual(missingQuote(toCarol.id))
    messenger.close()
  })

  it('shows a quote of a message deleted here as deleted, with its real author', async () => {
    const { history, messenger, from } = await aliceDevice()
    await from('bob', { type: 'text', id: 'bobsWords01', ts: start, text: 'meet at 6' })
    await history.deleteForEveryone('bobsWords01', { by: 'bob', conversationId: bobs, at: start + 1 })
    await from('bob', {
      type: 'text',
      id: 'bobsReply05',
      ts: start + 2,
      text: 'see above',
      replyTo: { id: 'bobsWords01', author: 'alice', excerpt: 'alice will pay' },
    })
    expect((await history.get('bobsReply05'))?.content.replyTo).toEqual({
      id: 'bobsWords01',
      author: 'bob',
      excerpt: '',
      deleted: true,
    })
    messenger.close()
  })

  it('fills a group reply’s missing quote from the message once it arrives after the reply', async () => {
    const { history, actions } = await aliceDevice()
    const conversationId = 'group:garden'
    const at = (id: string, sentAt: number, author: string, content: Message['content']): Message => ({
      id,
      conversationId,
      author,
      sentAt,
      receivedAt: start,
      type: 'text',
      state: 'received',
      content,
    })
    // The reply came first (down another member's forwarding tree): its quote is missing here.
    const claimed = { id: 'groupOriginal', author: 'bob', excerpt: 'words bob never wrote' }
    const reply = at('groupReply01', 2, 'cat', {
      text: 'agreed',
      replyTo: await receivedQuote(history, conversationId, claimed),
    })
    await history.add(reply, { incoming: true, kind: 'group', peer: 'garden' })
    expect((await history.get(reply.id))?.content.replyTo).toEqual(missingQuote('groupOriginal'))
    const updated: Message[] = []
    actions.on('message-updated', (m) => updated.push(m))
    const original = at('groupOriginal', 1, 'bob', { text: 'tomatoes on Sunday' })
    await history.add(original, { incoming: true, kind: 'group', peer: 'garden' })
    await actions.groupMessageStored(original)
    const filled = { id: 'groupOriginal', author: 'bob', excerpt: 'tomatoes on Sunday' }
    expect((await history.get(reply.id))?.content.replyTo).toEqual(filled)
    expect(updated.map((m) => m.content.replyTo)).toEqual([filled])
  })
})

describe('F6: a sender’s time is believed only up to a few minutes ahead of this device’s clock', () => {
  it('keeps a sender’s time that is earlier or at most five minutes ahead, and uses the arrival beyond that', () => {
    expect(plausibleSentAt(start - 86_400_000, start)).toBe(start - 86_400_000)
    expect(plausibleSentAt(start + maxClockAheadMs, start)).toBe(start + maxClockAheadMs)
    expect(plausibleSentAt(start + maxClockAheadMs + 1, start)).toBe(start)
    expect(plausibleSentAt(year2286, start)).toBe(start)
  })

  it('files a message dated 2286 at its arrival: later messages come after it, and the chat list shows the arrival', async () => {
    const { clock, history, messenger, from } = await aliceDevice()
    await from('bob', { type: 'text', id: 'fromTheFuture', ts: year2286, text: 'pinned at the bottom?' })
    clock.now = start + 60_000
    await messenger.sendText('bob', 'a reply a minute later')
    clock.now = start + 120_000
    await from('bob', { type: 'text', id: 'honestLater', ts: start + 119_000, text: 'honest clock' })
    // A clock two minutes fast is honest enough: its time is kept.
    await from('bob', { type: 'text', id: 'twoMinutesFast', ts: start + 240_000, text: 'slightly fast' })
    const page = await history.page(bobs)
    expect(page.map((m) => m.content.text)).toEqual([
      'pinned at the bottom?',
      'a reply a minute later',
      'honest clock',
      'slightly fast',
    ])
    expect(page.map((m) => m.sentAt)).toEqual([start, start + 60_000, start + 119_000, start + 240_000])
    const [conversation] = await history.conversations()
    expect(conversation?.lastMessageAt).toBe(start + 240_000)
    expect(conversation?.preview).toBe('slightly fast')
    messenger.close()
  })

  it('files a message dated beyond any calendar (1e300 ms) at its arrival, so its time can be shown', async () => {
    const { history, messenger, from } = await aliceDevice()
    await from('bob', { type: 'text', id: 'beyondDates', ts: 1e300, text: 'when?' })
    const stored = await history.get('beyondDates')
    expect(stored?.sentAt).toBe(start)
    expect(new Date(stored?.sentAt ?? NaN).toISOString()).toBe('2025-03-01T09:00:00.000Z')
    messenger.close()
  })

  it('lets a disappearing message dated 2286 disappear on time: neither never nor at once', async () => {
    const { history, messenger, from } = await aliceDevice()
    await from('bob', {
      type: 'text',
      id: 'futureTimer',
      ts: year2286,
      text: 'for one minute',
      expiresAfter: 60,
    })
    expect((await history.get('futureTimer'))?.expiresAt).toBe(start + 60_000)
    messenger.close()
  })

  it('does not let a timer change dated 2286 outrank the user’s own later change', async () => {
    const { clock, history, messenger, from } = await aliceDevice()
    await from('bob', { type: 'timer', id: 'futureTimer1', ts: year2286, seconds: 60 })
    expect(await history.timer(bobs)).toBe(60)
    clock.now = start + 1000
    await messenger.sendTimer('bob', 0)
    expect(await history.timer(bobs)).toBe(0)
    messenger.close()
  })

  it('does not let an edit or a reaction dated 2286 block the friend’s later ones, nor show 2286 as the edit time', async () => {
    const { clock, history, messenger, from } = await aliceDevice()
    const mine = await messenger.sendText('bob', 'pick an emoji')
    await from('bob', { type: 'text', id: 'bobsNote001', ts: start, text: 'first words' })
    clock.now = start + 1000
    await from('bob', {
      type: 'edit',
      id: 'futureEdit1',
      ts: year2286,
      of: 'bobsNote001',
      text: 'second words',
    })
    await from('bob', { type: 'reaction', id: 'futureReact', ts: year2286, of: mine.id, emoji: '👍' })
    expect((await history.get('bobsNote001'))?.content).toMatchObject({
      text: 'second words',
      editedAt: start + 1000,
    })
    clock.now = start + 2000
    await from('bob', {
      type: 'edit',
      id: 'laterEdit01',
      ts: start + 2000,
      of: 'bobsNote001',
      text: 'third words',
    })
    await from('bob', { type: 'reaction', id: 'laterReact1', ts: start + 2000, of: mine.id, emoji: '🎉' })
    expect((await history.get('bobsNote001'))?.content.text).toBe('third words')
    expect((await history.get(mine.id))?.content.reactions).toEqual([
      { author: 'bob', emoji: '🎉', at: start + 2000 },
    ])
    messenger.close()
  })

  it('refiles, when the database is upgraded, messages a friend dated 2286 before this fix', async () => {
    const username = `issue-14-upgrade-${n++}`
    // The database as version 3 made it, and a message filed under 2286 as that version did.
    const v3 = await openDB<TincanDb>(dbName(username), 3, {
      upgrade(db) {
        db.createObjectStore('meta')
        const messages = db.createObjectStore('messages', { keyPath: 'key' })
        messages.createIndex('byConversation', ['conversationId', 'sentAt'])
        messages.createIndex('byId', 'id', { unique: true })
        messages.createIndex('byToken', 'tokens', { multiEntry: true })
        messages.createIndex('byExpiry', 'expiresAt')
        messages.createIndex('byReplyTo', 'replyTo')
        db.createObjectStore('conversations', { keyPath: 'id' }).createIndex('byLastMessage', 'lastMessageAt')
        db.createObjectStore('contacts', { keyPath: 'username' })
        db.createObjectStore('outbox', { keyPath: 'id' }).createIndex('byPeer', ['to', 'queuedAt'])
        db.createObjectStore('sessions', { keyPath: 'peer' })
        const files = db.createObjectStore('files', { keyPath: 'fileId' })
        files.createIndex('byActive', 'active')
        files.createIndex('byPeer', ['peer', 'createdAt'])
        db.createObjectStore('fileChunks')
      },
    })
    const vaultKey = generateVaultKey()
    const old = new History(v3, vaultKey)
    const incoming = (id: string, sentAt: number, receivedAt: number, text: string): Message => ({
      id,
      conversationId: bobs,
      author: 'bob',
      sentAt,
      receivedAt,
      type: 'text',
      state: 'received',
      content: { text },
    })
    await old.add(incoming('filedIn2286', year2286, start, 'pinned at the bottom'), {
      incoming: true,
      peer: 'bob',
    })
    await old.add(incoming('honestAfter', start + 60_000, start + 60_000, 'written after it'), {
      incoming: true,
      peer: 'bob',
    })
    expect((await old.conversations())[0]?.lastMessageAt).toBe(year2286)
    v3.close()

    const history = new History(await openHistoryDb(username), vaultKey)
    expect((await history.page(bobs)).map((m) => [m.content.text, m.sentAt])).toEqual([
      ['pinned at the bottom', start],
      ['written after it', start + 60_000],
    ])
    expect((await history.get('filedIn2286'))?.content.text).toBe('pinned at the bottom')
    expect((await history.conversations())[0]?.lastMessageAt).toBe(start + 60_000)
  })
})
