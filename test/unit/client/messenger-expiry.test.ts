import 'fake-indexeddb/auto'
import { beforeAll, describe, expect, it } from 'vitest'
import { Messenger, type ChatFrame, type PeerTransport } from '../../../client/core/messenger.ts'
import { Outbox } from '../../../client/core/outbox.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import { directConversationId, History } from '../../../client/core/store/history.ts'
import { generateVaultKey, initCrypto } from '../../../crypto/index.ts'

beforeAll(async () => {
  await initCrypto()
})

/** A friend who is never connected: frames go nowhere, which these tests do not need. */
const offline: PeerTransport = {
  isOpen: () => false,
  send: () => Promise.resolve(false),
  connect: () => undefined,
}

let n = 0
async function messengerAt(clock: { now: number }): Promise<{ messenger: Messenger; history: History }> {
  const db = await openHistoryDb(`messenger-expiry-${n++}`)
  const vaultKey = generateVaultKey()
  const history = new History(db, vaultKey)
  const messenger = new Messenger({
    me: 'alice',
    history,
    outbox: new Outbox(db),
    transport: offline,
    vaultKey,
    canSend: () => Promise.resolve(true),
    now: () => clock.now,
  })
  return { messenger, history }
}

const receive = (m: Messenger, frame: ChatFrame) => m.receive('bob', frame)

describe('disappearing messages as they arrive', () => {
  it('counts from when they were sent, but never from later than their arrival', async () => {
    const clock = { now: 100_000 }
    const { messenger, history } = await messengerAt(clock)
    await receive(messenger, { type: 'text', id: 'sentEarlier', ts: 95_000, text: 'a', expiresAfter: 60 })
    // A sender whose clock runs ahead cannot make its message last longer here.
    await receive(messenger, { type: 'text', id: 'clockAhead', ts: 500_000, text: 'b', expiresAfter: 60 })
    expect((await history.get('sentEarlier'))?.expiresAt).toBe(95_000 + 60_000)
    expect((await history.get('clockAhead'))?.expiresAt).toBe(100_000 + 60_000)
    messenger.close()
  })

  it('never stores a message whose time ran out before it arrived', async () => {
    const clock = { now: 100_000 }
    const { messenger, history } = await messengerAt(clock)
    await receive(messenger, {
      type: 'text',
      id: 'tooLateMsg',
      ts: 10_000,
      text: 'old news',
      expiresAfter: 5,
    })
    expect(await history.get('tooLateMsg')).toBeUndefined()
    expect(await history.count(directConversationId('bob'))).toBe(0)
    messenger.close()
  })
})
