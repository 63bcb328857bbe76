import 'fake-indexeddb/auto'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { Messenger, type PeerTransport } from '../../../client/core/messenger.ts'
import { Outbox } from '../../../client/core/outbox.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import type { Db } from '../../../client/core/store/db.ts'
import { directConversationId, History, type Message } from '../../../client/core/store/history.ts'
import { generateVaultKey, initCrypto, utf8Decode } from '../../../crypto/index.ts'
import type { PeerMessage, TextMessage } from '../../../shared/index.ts'

// Issue 17, target 2: a message is shown before its write commits, on both sides, without a
// mark promising more than it did. The friend's `delivered` receipt goes only after its write.

beforeAll(async () => {
  await initCrypto()
})

// Only the messenger's own timers (receipt and `sent` batches) are faked: IndexedDB runs as usual.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** Lets IndexedDB and promises run (fake-indexeddb schedules with setImmediate, which is not faked). */
async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !until(); i++) await new Promise((r) => setImmediate(r))
  if (!until()) throw new Error('never happened')
}

/** Every timer the messenger could have armed has fired. */
const timersRun = () => vi.advanceTimersByTimeAsync(1000)

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** A connected friend whose frames are kept (and may be dropped: nothing comes back unless the test says so). */
function recordingTransport(): PeerTransport & { frames: PeerMessage[] } {
  const frames: PeerMessage[] = []
  return {
    frames,
    isOpen: () => true,
    send: (_peer, plaintext) => {
      frames.push(JSON.parse(utf8Decode(plaintext)) as PeerMessage)
      return Promise.resolve(true)
    },
    connect: () => undefined,
  }
}

let n = 0
async function device(): Promise<{ db: Db; vaultKey: Uint8Array }> {
  return { db: await openHistoryDb(`issue-17-marks-${n++}`), vaultKey: generateVaultKey() }
}

function messenger(
  d: { db: Db; vaultKey: Uint8Array },
  history: History,
  transport: PeerTransport,
  me = 'alice',
): { messenger: Messenger; shown: Message[] } {
  const m = new Messenger({
    me,
    history,
    outbox: new Outbox(d.db),
    transport,
    vaultKey: d.vaultKey,
    canSend: () => Promise.resolve(true),
  })
  const shown: Message[] = []
  m.on('message', (message) => shown.push(message))
  return { messenger: m, shown }
}

const receiptsIn = (frames: PeerMessage[]): string[][] =>
  frames.flatMap((f) => (f.type === 'receipt' && f.status === 'delivered' ? [f.of] : []))

describe('sending: shown at once, stored and sent side by side', () => {
  it('shows the message and sends it before its write commits, and marks it sent only once stored', async () => {
    const d = await device()
    const history = new History(d.db, d.vaultKey)
    const write = deferred()
    const add = history.add.bind(history)
    // A slow transaction: the write starts only when the test lets it.
    history.add = async (...args) => {
      await write.promise
      return add(...args)
    }
    const transport = recordingTransport()
    const { messenger: alice, shown } = messenger(d, history, transport)

    const sending = alice.sendText('bob', 'hello')
    await settle(() => transport.frames.length === 1)
    expect(shown.map((m) => m.state)).toEqual(['queued'])
    expect(transport.frames[0]).toMatchObject({ type: 'text', text: 'hello', id: shown[0]?.id })
    await timersRun()
    // Handed to the connection, but not stored: not `sent` yet.
    expect(shown.map((m) => m.state)).toEqual(['queued'])
    expect(await new Outbox(d.db).size()).toBe(0)

    write.resolve()
    await sending
    expect((await new Outbox(d.db).forPeer('bob')).map((e) => e.id)).toEqual([shown[0]?.id])
    await timersRun()
    await settle(() => shown.length === 2)
    expect(shown.map((m) => m.state)).toEqual(['queued', 'sent'])
    expect((await history.get(shown[0]?.id ?? ''))?.state).toBe('sent')
    alice.close()
  })

  it('keeps a message that was shown and sent in the outbox through a crash, and sends it again after', async () => {
    const d = await device()
    const lost = recordingTransport()
    const before = messenger(d, new History(d.db, d.vaultKey), lost)
    const message = await before.messenger.sendText('bob', 'survives')
    // The frame went out and no receipt came back; the page dies.
    expect(lost.frames.map((f) => f.id)).toEqual([message.id])
    before.messenger.close()

    const history = new History(d.db, d.vaultKey)
    const transport = recordingTransport()
    const after = messenger(d, history, transport)
    await after.messenger.connectionOpened('bob')
    expect(transport.frames.map((f) => f.id)).toEqual([message.id])
    expect((await new Outbox(d.db).forPeer('bob')).map((e) => e.id)).toEqual([message.id])
    // Only the friend's receipt clears it.
    await after.messenger.receive('bob', {
      type: 'receipt',
      id: 'r'.repeat(22),
      ts: 1,
      status: 'delivered',
      of: [message.id],
    })
    expect(await new Outbox(d.db).size()).toBe(0)
    expect((await history.get(message.id))?.state).toBe('delivered')
    after.messenger.close()
  })
})

describe('receiving: shown before the write commits, acknowledged after it', () => {
  const frame: TextMessage = { type: 'text', id: 'm'.repeat(22), ts: 1_000, text: 'from bob' }

  it('shows a friend’s message before its write has committed and sends the receipt only after', async () => {
    const d = await device()
    const history = new History(d.db, d.vaultKey)
    const commit = deferred()
    const add = history.add.bind(history)
    const order: string[] = []
    // As far as the messenger can tell, the write commits when the test says so.
    history.add = async (...args) => {
      const added = await add(...args)
      await commit.promise
      order.push('committed')
      return added
    }
    const transport = recordingTransport()
    const { messenger: alice, shown } = messenger(d, history, transport)
    alice.on('message', () => order.push('shown'))

    const receiving = alice.receive('bob', frame)
    await settle(() => shown.length === 1)
    await timersRun()
    expect(receiptsIn(transport.frames)).toEqual([])

    commit.resolve()
    await receiving
    await timersRun()
    expect(order).toEqual(['shown', 'committed'])
    expect(receiptsIn(transport.frames)).toEqual([[frame.id]])
    expect(shown.map((m) => [m.id, m.state])).toEqual([[frame.id, 'received']])
    alice.close()
  })

  it('gets a message again when the receiver died between showing and storing it, and stores and shows it once', async () => {
    const d = await device()
    const dying = new History(d.db, d.vaultKey)
    // The page dies after the message is on screen and before anything is written.
    dying.add = (_m, opts) => {
      opts.isNew?.()
      return Promise.reject(new Error('the page died'))
    }
    const before = recordingTransport()
    const first = messenger(d, dying, before)
    await expect(first.messenger.receive('bob', frame)).rejects.toThrow('the page died')
    expect(first.shown.map((m) => m.id)).toEqual([frame.id])
    await timersRun()
    // Never stored, so never acknowledged: it stays in the friend's outbox.
    expect(receiptsIn(before.frames)).toEqual([])
    first.messenger.close()

    // After the reload the friend sends it again — twice, as when a receipt is lost once more.
    const history = new History(d.db, d.vaultKey)
    const transport = recordingTransport()
    const second = messenger(d, history, transport)
    await second.messenger.receive('bob', frame)
    await second.messenger.receive('bob', frame)
    await timersRun()
    expect(second.shown.map((m) => m.id)).toEqual([frame.id])
    expect(await history.count(directConversationId('bob'))).toBe(1)
    expect(receiptsIn(transport.frames).flat()).toEqual([frame.id, frame.id])
    second.messenger.close()
  })
})
