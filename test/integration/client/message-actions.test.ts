import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { newMessageId } from '../../../client/core/messenger.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { directConversationId, type Message } from '../../../client/core/store/history.ts'
import { testPassword, twoFriends } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { patternSource, untilState } from '../files/helpers.ts'
import { internals } from '../../helpers/internals.ts'

/** The message as the client has it stored now. */
function stored(client: TincanClient, id: string): Promise<Message | undefined> {
  return internals(client).history.get(id)
}

function untilStored(
  client: TincanClient,
  id: string,
  what: string,
  test: (m: Message) => boolean,
  timeoutMs?: number,
): Promise<Message> {
  return until(
    `${client.username}: ${what}`,
    async () => {
      const m = await stored(client, id)
      return m !== undefined && test(m) ? m : undefined
    },
    timeoutMs,
  )
}

/** What is left of a message in the account's IndexedDB: the record and the file's record and chunks. */
async function rawTraces(
  username: string,
  id: string,
): Promise<{ record: boolean; file: boolean; chunks: number }> {
  const db = await openHistoryDb(username)
  try {
    return {
      record: (await db.getFromIndex('messages', 'byId', id)) !== undefined,
      file: (await db.get('files', id)) !== undefined,
      chunks: await db.count('fileChunks', IDBKeyRange.bound([id, 0], [id, Infinity])),
    }
  } finally {
    db.close()
  }
}

/** Sends a text from one to the other and waits until it is stored there. */
async function say(from: TincanClient, to: TincanClient, text: string): Promise<Message> {
  const m = await from.sendText(directConversationId(to.username), text)
  await untilStored(to, m.id, `"${text}" from ${from.username}`, () => true)
  return m
}

const gone = { record: false, file: false, chunks: 0 }

describe('message actions between two clients in Node', () => {
  let server: TestServer
  let env: ClientEnv
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    ;({ env, alice, bob } = await twoFriends(server.baseUrl))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('carries a reply’s quote to the friend', async () => {
    const question = await say(alice, bob, 'shall we meet at the old lighthouse on Sunday?')
    const reply = await bob.sendText(directConversationId(alice.username), 'yes, at noon', {
      replyTo: question.id,
    })
    expect(reply.content.replyTo).toEqual({
      id: question.id,
      author: alice.username,
      excerpt: 'shall we meet at the old lighthouse on Sunday?',
    })
    const atAlice = await untilStored(alice, reply.id, 'the reply', () => true)
    expect(atAlice.content.replyTo).toEqual(reply.content.replyTo)
    expect(atAlice.content.text).toBe('yes, at noon')
    await expect(
      bob.sendText(directConversationId(alice.username), 'x', { replyTo: 'AAAAAAAAAAAAAAAAAAAAAA' }),
    ).rejects.toMatchObject({
      name: 'MessageActionError',
      code: 'not-found',
    })
  })

  it('delivers reactions, one per person, replaced and removed, and keeps them across a reload', async () => {
    const m = await say(alice, bob, 'I passed the exam')
    const updates: Message[] = []
    const off = alice.on('message-updated', (u) => updates.push(u))
    await bob.react(m.id, '👍')
    await untilStored(alice, m.id, 'bob’s 👍', (x) => x.content.reactions?.[0]?.emoji === '👍')
    await bob.react(m.id, '🎉')
    await alice.react(m.id, '😊')
    const both = await untilStored(bob, m.id, 'both reactions', (x) => x.content.reactions?.length === 2)
    expect(both.content.reactions?.map((r) => [r.author, r.emoji])).toEqual([
      [bob.username, '🎉'],
      [alice.username, '😊'],
    ])
    await untilStored(alice, m.id, 'bob’s 🎉 replacing 👍', (x) =>
      (x.content.reactions ?? []).some((r) => r.author === bob.username && r.emoji === '🎉'),
    )
    expect(updates.some((u) => u.id === m.id)).toBe(true)
    off()

    await alice.react(m.id, '')
    await untilStored(bob, m.id, 'alice’s reaction removed', (x) => x.content.reactions?.length === 1)

    const aliceName = alice.username
    alice.close()
    alice = await TincanClient.login(env, aliceName, testPassword)
    expect((await stored(alice, m.id))?.content.reactions).toEqual([
      expect.objectContaining({ author: bob.username, emoji: '🎉' }),
    ])
  })

  it('delivers an edit, updates search on both sides, and keeps it across a reload', async () => {
    const m = await say(alice, bob, 'the meeting is on Tuesday')
    const edited = await alice.editMessage(m.id, 'the meeting is on Thursday')
    expect(edited.content.editedAt).toBeGreaterThan(0)
    await untilStored(bob, m.id, 'the edit', (x) => x.content.text === 'the meeting is on Thursday')
    for (const c of [alice, bob]) {
      expect((await c.search('tuesday')).map((h) => h.message.id)).not.toContain(m.id)
      expect((await c.search('thursday')).map((h) => h.message.id)).toContain(m.id)
    }
    const bobName = bob.username
    bob.close()
    bob = await TincanClient.login(env, bobName, testPassword)
    const afterReload = await stored(bob, m.id)
    expect(afterReload?.content.text).toBe('the meeting is on Thursday')
    expect(afterReload?.content.editedAt).toBe(edited.content.editedAt)
  })

  it('deletes for everyone: both copies become markers, with no text or tokens left, across a reload', async () => {
    const m = await say(bob, alice, 'my bank PIN is 4711')
    const removedQuote = await alice.sendText(directConversationId(bob.username), 'delete that!', {
      replyTo: m.id,
    })
    await untilStored(bob, removedQuote.id, 'alice’s reply', () => true)
    await bob.deleteForEveryone(m.id)
    await untilStored(alice, m.id, 'the deletion', (x) => x.content.deleted === true)
    for (const c of [alice, bob]) {
      const marker = await stored(c, m.id)
      expect(marker?.content).toEqual({ text: '', deleted: true, deletedAt: expect.any(Number) as number })
      expect(await c.search('pin')).toEqual([])
      const quote = (await stored(c, removedQuote.id))?.content.replyTo
      expect(quote).toEqual({ id: m.id, author: bob.username, excerpt: '', deleted: true })
    }
    const aliceName = alice.username
    alice.close()
    alice = await TincanClient.login(env, aliceName, testPassword)
    expect((await stored(alice, m.id))?.content.deleted).toBe(true)
    const db = await openHistoryDb(aliceName)
    expect((await db.getFromIndex('messages', 'byId', m.id))?.tokens).toEqual([])
    db.close()
  })

  it('deletes a file for everyone: the message becomes a marker and both devices drop the file', async () => {
    const sent = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('plans.pdf', 40 * 1024, 7, 'application/pdf'),
    )
    await untilState(bob, sent.fileId, ['offered'])
    await bob.acceptFile(sent.fileId)
    await untilState(bob, sent.fileId, ['done'])
    expect((await rawTraces(bob.username, sent.fileId)).chunks).toBeGreaterThan(0)
    await alice.deleteForEveryone(sent.fileId)
    await untilStored(bob, sent.fileId, 'the file deleted', (x) => x.content.deleted === true)
    for (const c of [alice, bob]) {
      expect(await rawTraces(c.username, sent.fileId)).toEqual({ ...gone, record: true })
      expect((await stored(c, sent.fileId))?.content.file).toBeUndefined()
    }
  })

  it('deletes for me on this device only', async () => {
    const m = await say(alice, bob, 'just between us')
    const removed: string[] = []
    const off = bob.on('message-removed', (r) => removed.push(r.id))
    expect(await bob.deleteForMe(m.id)).toBe(true)
    off()
    expect(removed).toEqual([m.id])
    expect(await stored(bob, m.id)).toBeUndefined()
    expect(await bob.search('between')).toEqual([])
    expect((await stored(alice, m.id))?.content.text).toBe('just between us')
  })

  it('refuses an edit or a delete for everyone from someone who is not the author, and reports it', async () => {
    const m = await say(alice, bob, 'only I can change this')
    await expect(bob.editMessage(m.id, 'changed by bob')).rejects.toMatchObject({ code: 'not-author' })
    await expect(bob.deleteForEveryone(m.id)).rejects.toMatchObject({ code: 'not-author' })
    // A modified client would send the frames anyway.
    const errors: { peer: string; code: string }[] = []
    const off = alice.on('peer-error', (e) => errors.push(e))
    await internals(bob).messenger.sendReliable(alice.username, {
      type: 'edit',
      id: newMessageId(),
      ts: Date.now(),
      of: m.id,
      text: 'changed by bob',
    })
    await internals(bob).messenger.sendReliable(alice.username, {
      type: 'delete',
      id: newMessageId(),
      ts: Date.now(),
      of: m.id,
    })
    await until('alice to report both', () => errors.length >= 2)
    off()
    expect(errors).toEqual([
      expect.objectContaining({ peer: bob.username, code: 'not-author' }),
      expect.objectContaining({ peer: bob.username, code: 'not-author' }),
    ])
    expect((await stored(alice, m.id))?.content).toEqual({ text: 'only I can change this' })
    // Refused frames are still acknowledged, so they do not wait in bob's outbox for ever.
    await until(
      'bob’s outbox to empty',
      async () => (await internals(bob).messenger['o'].outbox.size()) === 0,
    )
  })

  it('queues actions for an offline friend and applies them when the friend is back', async () => {
    const a = await say(alice, bob, 'message to react to')
    const b = await say(alice, bob, 'message with a typo')
    const c = await say(alice, bob, 'message to take back')
    const bobName = bob.username
    bob.close()
    await until('alice to see bob offline', () => !alice.isOnline(bobName))
    await alice.react(a.id, '👀')
    await alice.editMessage(b.id, 'message without a typo')
    await alice.deleteForEveryone(c.id)
    expect(await internals(alice).messenger['o'].outbox.size()).toBeGreaterThanOrEqual(3)
    bob = await TincanClient.login(env, bobName, testPassword)
    await untilStored(bob, c.id, 'the deletion', (x) => x.content.deleted === true, 40_000)
    expect((await stored(bob, a.id))?.content.reactions?.map((r) => r.emoji)).toEqual(['👀'])
    expect((await stored(bob, b.id))?.content.text).toBe('message without a typo')
    await until(
      'alice’s outbox to empty',
      async () => (await internals(alice).messenger['o'].outbox.size()) === 0,
    )
  })
})

describe('disappearing messages between two clients in Node', () => {
  let server: TestServer
  let env: ClientEnv
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    ;({ env, alice, bob } = await twoFriends(server.baseUrl))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('shows the timer to both sides and deletes messages, tokens and files from both devices when it runs out', async () => {
    const line = await alice.setDisappearingTimer(directConversationId(bob.username), 2)
    expect(line).toMatchObject({
      type: 'timer',
      author: alice.username,
      content: { text: '', timerSeconds: 2 },
    })
    await untilStored(bob, line.id, 'the timer line', (m) => m.content.timerSeconds === 2)
    expect(await bob.disappearingTimer(directConversationId(alice.username))).toBe(2)
    expect(await alice.disappearingTimer(directConversationId(bob.username))).toBe(2)
    const bobsView = (await bob.conversations()).find((c) => c.peer === alice.username)
    expect(bobsView?.timerSeconds).toBe(2)

    const removed: string[] = []
    const off = bob.on('message-removed', (r) => removed.push(r.id))
    const fromAlice = await alice.sendText(directConversationId(bob.username), 'self-destructing secret')
    expect(fromAlice.expiresAt).toBe(fromAlice.sentAt + 2000)
    const fromBob = await bob.sendText(directConversationId(alice.username), 'vanishing answer')
    expect(fromBob.expiresAt).toBe(fromBob.sentAt + 2000)
    const image = await alice.sendFile(
      directConversationId(bob.username),
      patternSource('selfie.png', 20 * 1024, 9, 'image/png'),
    )

    for (const c of [alice, bob])
      await until(`${c.username}: every disappearing message gone`, async () => {
        const left = await Promise.all(
          [fromAlice.id, fromBob.id, image.fileId].map((id) => rawTraces(c.username, id)),
        )
        return left.every((t) => t.record === false && t.file === false && t.chunks === 0)
      })
    off()
    expect(removed).toEqual(expect.arrayContaining([fromAlice.id, fromBob.id]))
    for (const c of [alice, bob]) {
      expect(await c.search('secret')).toEqual([])
      expect(await c.search('vanishing')).toEqual([])
      const conv = (await c.conversations()).find(
        (x) => x.id === directConversationId(c === alice ? bob.username : alice.username),
      )
      expect(conv?.preview).not.toMatch(/secret|vanishing/)
      // The timer line stays: it is not itself a disappearing message.
      expect(await stored(c, line.id)).toBeDefined()
    }
  })

  it('deletes on start what ran out while the app was closed', async () => {
    const m = await alice.sendText(directConversationId(bob.username), 'read me before I go')
    await untilStored(bob, m.id, 'the message', () => true)
    const bobName = bob.username
    bob.close()
    await new Promise((r) => setTimeout(r, 2500))
    expect((await rawTraces(bobName, m.id)).record).toBe(true)
    bob = await TincanClient.login(env, bobName, testPassword)
    expect(await rawTraces(bobName, m.id)).toEqual(gone)
    expect(await bob.disappearingTimer(directConversationId(alice.username))).toBe(2)
  })

  it('never delivers a message whose time ran out before the friend came online', async () => {
    const bobName = bob.username
    bob.close()
    await until('alice to see bob offline', () => !alice.isOnline(bobName))
    const m = await alice.sendText(directConversationId(bobName), 'too late for bob')
    await until('alice’s copy to go', async () => (await rawTraces(alice.username, m.id)).record === false)
    expect(await internals(alice).messenger['o'].outbox.size()).toBe(0)
    bob = await TincanClient.login(env, bobName, testPassword)
    const after = await say(bob, alice, 'I am back')
    expect(after.id).toBeDefined()
    expect(await rawTraces(bobName, m.id)).toEqual(gone)
  })

  it('turns off for both sides, and later messages stay', async () => {
    const line = await bob.setDisappearingTimer(directConversationId(alice.username), 0)
    await untilStored(alice, line.id, 'the timer off line', (x) => x.content.timerSeconds === 0)
    expect(await alice.disappearingTimer(directConversationId(bob.username))).toBe(0)
    const m = await alice.sendText(directConversationId(bob.username), 'this one stays')
    expect(m.expiresAt).toBeUndefined()
    const atBob = await untilStored(bob, m.id, 'the lasting message', () => true)
    expect(atBob.expiresAt).toBeUndefined()
  })
})

describe('privacy settings between two clients in Node', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    server = await startServer()
    ;({ alice, bob } = await twoFriends(server.baseUrl))
    await alice.sendText(directConversationId(bob.username), 'hello')
    await until('the connection', () => alice.isConnected(bob.username) && bob.isConnected(alice.username))
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  /** The message's state at its sender once the friend's later message has arrived (receipts travel in order before it). */
  async function stateAfterFlush(m: Message): Promise<Message['state'] | undefined> {
    await say(bob, alice, `flush ${m.id}`)
    return (await stored(alice, m.id))?.state
  }

  it('sends no read receipts while they are off, and does again when they are on', async () => {
    bob.setReadReceipts(false)
    const unseen = await say(alice, bob, 'read this quietly')
    await untilStored(alice, unseen.id, 'delivered', (m) => m.state === 'delivered')
    await bob.markRead(directConversationId(alice.username))
    expect(await stateAfterFlush(unseen)).toBe('delivered')

    bob.setReadReceipts(true)
    const seen = await say(alice, bob, 'read this openly')
    await bob.markRead(directConversationId(alice.username))
    await untilStored(alice, seen.id, 'read', (m) => m.state === 'read')
    expect((await stored(alice, unseen.id))?.state).toBe('delivered')
  })

  it('does not show a friend’s read receipts to someone who has them off', async () => {
    alice.setReadReceipts(false)
    const m = await say(alice, bob, 'did you read it?')
    await bob.markRead(directConversationId(alice.username))
    expect(await stateAfterFlush(m)).toBe('delivered')
    alice.setReadReceipts(true)
  })

  it('sends no typing indicator while typing indicators are off, and shows none from the friend', async () => {
    const atBob: boolean[] = []
    const offBob = bob.on('typing', (t) => atBob.push(t.typing))
    alice.setTypingIndicators(false)
    await alice.setTyping(directConversationId(bob.username), true)
    await say(alice, bob, 'typed without telling')
    expect(atBob).toEqual([])

    alice.setTypingIndicators(true)
    await alice.setTyping(directConversationId(bob.username), true)
    await until('bob to see alice typing', () => atBob.includes(true))
    offBob()

    const atAlice: boolean[] = []
    const offAlice = alice.on('typing', (t) => atAlice.push(t.typing))
    alice.setTypingIndicators(false)
    await bob.setTyping(directConversationId(alice.username), true)
    await say(bob, alice, 'bob typed this')
    offAlice()
    expect(atAlice).toEqual([])
  })
})
