// Drives client/core in a real page: real IndexedDB, real WebRTC, real libsodium WebAssembly.
import { TincanClient, type ClientEnv } from '../../client/core/client.ts'
import type { FileSource } from '../../client/core/files/file-source.ts'
import { createReceiveWorker } from '../../client/core/files/receive-worker-client.ts'
import type { FileTuning, TransferState } from '../../client/core/files/transfers.ts'
import type { FrameSource, SendSchedulerOptions } from '../../client/core/peer/send-scheduler.ts'
import { directConversationId, type Message } from '../../client/core/store/history.ts'
import { workerKdf } from '../../client/core/index.ts'
import { initCrypto, randomBytes } from '../../crypto/index.ts'
import { internals } from '../../test/helpers/internals.ts'

const now = (): number => performance.timeOrigin + performance.now()
const benchPassword = 'bench password 1234'
const log = document.getElementById('log') as HTMLDivElement
let client: TincanClient | undefined
/** The backup made by `createBackup`, for `restoreFresh`. */
let backup: Blob | undefined
const arrivals = new Map<string, number>()
const doneAt = new Map<string, number>()

/** Flow-control and transfer knobs a benchmark may set before registering. */
interface FileKnobs {
  readonly flowControl?: SendSchedulerOptions
  readonly files?: Partial<FileTuning>
  /** Receive in the page's main thread instead of a Worker (for comparison). */
  readonly receiveInPage?: boolean
}

function env(knobs: FileKnobs = {}): ClientEnv {
  return {
    serverUrl: location.origin,
    // As in the app: Argon2id in a Worker that ends afterwards, so its 64 MiB do not stay in the page.
    kdf: workerKdf(() => undefined),
    createSocket: (url) => new WebSocket(url),
    peers: knobs.flowControl === undefined ? {} : { flowControl: knobs.flowControl },
    ...(knobs.files === undefined ? {} : { files: knobs.files }),
    ...(knobs.receiveInPage === true ? {} : { receiveWorker: createReceiveWorker }),
  }
}

/**
 * A file that exists only as a function of (seed, position): each 32-bit word is a hash of its
 * index, so any range can be produced on demand and the page never holds the file.
 */
function generatedFile(name: string, size: number, seed: number): FileSource {
  return {
    name,
    size,
    type: 'application/octet-stream',
    read(offset, length) {
      const out = new Uint8Array(length + 8)
      const firstWord = Math.floor(offset / 4)
      const words = new Uint32Array(out.buffer, 0, Math.ceil((length + (offset % 4)) / 4))
      for (let i = 0; i < words.length; i++) {
        // splitmix32 of seed and word index
        let z = (seed * 0x9e3779b9 + (firstWord + i) * 0x6d2b79f5) | 0
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
        words[i] = z ^ (z >>> 16)
      }
      return Promise.resolve(out.subarray(offset % 4, (offset % 4) + length))
    },
  }
}

// Raw throughput: frames of the same size through the same scheduler and flow control, with a
// file id nobody knows (the receiver's transfers look it up and drop it), counted on arrival.
let rawFileId = new Uint8Array(16)
let rawReceived = 0
let rawTotal = 0
let rawDoneAt: number | null = null

function me(): TincanClient {
  if (client === undefined) throw new Error('not registered')
  return client
}

const api = {
  async register(username: string, knobs: FileKnobs = {}): Promise<void> {
    await initCrypto()
    client = await TincanClient.register(env(knobs), username, benchPassword)
    internals(client).peers.on('file-data', ({ data }) => {
      for (let i = 0; i < 16; i++) if (data[i] !== rawFileId[i]) return
      rawReceived += data.length + 1
      if (rawReceived >= rawTotal && rawDoneAt === null) rawDoneAt = now()
    })
    client.on('message', (m: Message) => {
      if (m.author === client?.username || arrivals.has(m.content.text)) return
      // "Rendered": the text is in the DOM when the time is taken.
      const div = document.createElement('div')
      div.textContent = m.content.text
      log.append(div)
      arrivals.set(m.content.text, now())
      if (log.childElementCount > 200) log.firstElementChild?.remove()
    })
  },
  async request(to: string): Promise<void> {
    await me().sendFriendRequest(to)
  },
  async accept(from: string): Promise<void> {
    for (let i = 0; i < 100 && !me().requests.incoming.some((r) => r.username === from); i++)
      await new Promise((r) => setTimeout(r, 50))
    await me().acceptFriendRequest(from)
  },
  isOnline(peer: string): boolean {
    return me().isOnline(peer)
  },
  /** Sends one message (connecting first if needed) and returns the send time. */
  async send(peer: string, text: string): Promise<number> {
    const t = now()
    await me().sendText(directConversationId(peer), text)
    return t
  },
  /** Sends `count` messages, one every `intervalMs`; returns each text with its send time. */
  async sendMany(peer: string, count: number, intervalMs: number, tag: string): Promise<[string, number][]> {
    const sent: [string, number][] = []
    for (let i = 0; i < count; i++) {
      const text = `${tag} ${i}`
      sent.push([text, now()])
      await me().sendText(directConversationId(peer), text)
      await new Promise((r) => setTimeout(r, intervalMs))
    }
    return sent
  },
  arrivals(texts: string[]): (number | null)[] {
    return texts.map((t) => arrivals.get(t) ?? null)
  },
  /** Stores `count` messages with `peer` (ids `<idPrefix><n>`); returns the time it took. */
  async fill(peer: string, count: number, idPrefix = 'fill'): Promise<number> {
    const c = me()
    const conversationId = directConversationId(peer)
    const words = [
      'meeting',
      'lunch',
      'tomorrow',
      'project',
      'photo',
      '北京',
      '周末',
      'coffee',
      'deadline',
      'weekend',
    ]
    const start = Date.now() - count * 1000
    const messages: Message[] = []
    for (let i = 0; i < count; i++) {
      const text = `${words[i % words.length] ?? ''} note ${i} about ${words[(i * 7) % words.length] ?? ''}${i === Math.floor(count / 2) ? ' needle' : ''}`
      messages.push({
        id: `${idPrefix}${i.toString().padStart(8, '0')}`,
        conversationId,
        author: i % 2 === 0 ? peer : c.username,
        sentAt: start + i * 1000,
        receivedAt: start + i * 1000,
        type: 'text',
        state: i % 2 === 0 ? 'received' : 'read',
        content: { text },
      })
    }
    const t0 = now()
    await internals(c).history.addMany(messages, { peer })
    return now() - t0
  },
  async openConversation(peer: string): Promise<number> {
    const t0 = now()
    const page = await me().loadMessages(directConversationId(peer), undefined, 50)
    const ms = now() - t0
    if (page.length !== 50) throw new Error(`opened ${page.length} messages`)
    return ms
  },
  /** Connects to the friend and waits for the channel; returns the remote max-message-size. */
  async connect(peer: string): Promise<number> {
    me().connect(peer)
    for (let i = 0; i < 600 && internals(me()).peers.fileLink(peer) === undefined; i++)
      await new Promise((r) => setTimeout(r, 50))
    const link = internals(me()).peers.fileLink(peer)
    if (link === undefined) throw new Error('no connection')
    return link.maxMessageBytes
  },
  /** Receiver side of the raw run: expect `total` bytes of frames for this file id. */
  rawExpect(fileId: number[], total: number): void {
    rawFileId = new Uint8Array(fileId)
    rawReceived = 0
    rawTotal = total
    rawDoneAt = null
  },
  rawDone(): { received: number; doneAt: number | null } {
    return { received: rawReceived, doneAt: rawDoneAt }
  },
  /** Sender side of the raw run: `count` frames of `frameBytes` (a chunk frame's size); returns the start time. */
  rawSend(peer: string, fileId: number[], count: number, frameBytes: number): number {
    const link = internals(me()).peers.fileLink(peer)
    if (link === undefined) throw new Error('no connection')
    const frame = randomBytes(frameBytes)
    frame[0] = 0x04
    frame.set(fileId, 1)
    let left = count
    const source: FrameSource = {
      nextFrame: () => {
        if (left === 0) return undefined
        left--
        return frame
      },
      detached: () => undefined,
    }
    const t0 = now()
    link.scheduler.add(source)
    return t0
  },
  /** Offers a generated file of `size` bytes; resolves when it is offered, with the preparation time. */
  async offerFile(peer: string, size: number, seed: number): Promise<{ fileId: string; prepareMs: number }> {
    const t0 = now()
    const view = await me().sendFile(
      directConversationId(peer),
      generatedFile(`bench-${seed}.bin`, size, seed),
    )
    for (;;) {
      const t = await me().fileTransfer(view.fileId)
      if (t?.state === 'failed') throw new Error(`preparing failed: ${t.error?.message ?? ''}`)
      if (t !== undefined && t.state !== 'preparing') break
      await new Promise((r) => setTimeout(r, 20))
    }
    return { fileId: view.fileId, prepareMs: now() - t0 }
  },
  /** Accepts the file once its offer is here; returns the time of accepting. */
  async acceptFile(fileId: string): Promise<number> {
    for (;;) {
      const t = await me().fileTransfer(fileId)
      if (t?.state === 'offered') break
      await new Promise((r) => setTimeout(r, 10))
    }
    const t0 = now()
    await me().acceptFile(fileId)
    return t0
  },
  /** The transfer's state, and when it was first seen done (set by `watchFile`). */
  async fileState(
    fileId: string,
  ): Promise<{ state: TransferState; error: string | null; doneAt: number | null }> {
    const t = await me().fileTransfer(fileId)
    return {
      state: t?.state ?? 'failed',
      error: t?.error?.message ?? null,
      doneAt: doneAt.get(fileId) ?? null,
    }
  },
  /** Records when the file completes (from its `file` event, not a poll). */
  watchFile(fileId: string): void {
    me().on('file', (f) => {
      if (f.fileId === fileId && f.state === 'done' && !doneAt.has(fileId)) doneAt.set(fileId, now())
    })
  },
  async deleteFile(fileId: string): Promise<void> {
    await internals(me()).files.deleteFile(fileId)
  },
  /** JavaScript heap in use (Chromium's performance.memory). */
  heapBytes(): number {
    return (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0
  },
  /** Spreads `total` messages over the conversations with `peers`; returns the time it took. */
  async fillAcross(peers: string[], total: number): Promise<number> {
    const per = Math.ceil(total / peers.length)
    let ms = 0
    for (const [i, peer] of peers.entries())
      ms += await api.fill(peer, Math.max(0, Math.min(per, total - i * per)), `c${i}-`)
    return ms
  },
  /** Readable JSON export of every conversation. */
  async exportJson(): Promise<{ ms: number; bytes: number; messages: number }> {
    const t0 = now()
    const blob = await me().exportJson()
    const ms = now() - t0
    const doc = JSON.parse(await blob.text()) as { conversations: { messageCount: number }[] }
    return { ms, bytes: blob.size, messages: doc.conversations.reduce((n, c) => n + c.messageCount, 0) }
  },
  async exportHtml(): Promise<{ ms: number; bytes: number }> {
    const t0 = now()
    const blob = await me().exportHtml()
    return { ms: now() - t0, bytes: blob.size }
  },
  /** Makes the encrypted backup and keeps it in the page for `restoreFresh`. */
  async createBackup(passphrase: string): Promise<{ ms: number; bytes: number }> {
    const t0 = now()
    backup = await me().createBackup(passphrase)
    return { ms: now() - t0, bytes: backup.size }
  },
  /**
   * Clears the account's storage as "clear site data" would, logs in again and restores the
   * backup; the time is the restore's alone.
   */
  async restoreFresh(passphrase: string): Promise<{ ms: number; messages: number }> {
    if (backup === undefined) throw new Error('no backup made')
    const username = me().username
    me().close()
    await new Promise<void>((resolve, reject) => {
      const request = indexedDB.deleteDatabase(`tincan:${username}`)
      request.onsuccess = () => resolve()
      request.onerror = () => reject(request.error ?? new Error('deleteDatabase failed'))
    })
    client = await TincanClient.login(env(), username, benchPassword)
    if ((await me().conversations()).length !== 0) throw new Error('storage was not cleared')
    const t0 = now()
    const summary = await me().restoreBackup(backup, passphrase)
    return { ms: now() - t0, messages: summary.added['messages'] ?? 0 }
  },
  async search(query: string): Promise<{ ms: number; hits: number }> {
    const t0 = now()
    const hits = await me().search(query)
    return { ms: now() - t0, hits: hits.length }
  },
}

;(window as unknown as { bench: typeof api }).bench = api
document.title = 'ready'
