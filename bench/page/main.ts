// Drives client/core in a real page: real IndexedDB, real WebRTC, real libsodium WebAssembly.
import SimplePeer from 'simple-peer/simplepeer.min.js'
import { TincanClient, type ClientEnv } from '../../client/core/client.ts'
import { directConversationId, type Message } from '../../client/core/store/history.ts'
import { derivePasswordKeys, initCrypto } from '../../crypto/index.ts'

const now = (): number => performance.timeOrigin + performance.now()
const log = document.getElementById('log') as HTMLDivElement
let client: TincanClient | undefined
const arrivals = new Map<string, number>()

function env(): ClientEnv {
  return {
    serverUrl: location.origin,
    kdf: (password, salt, params) => Promise.resolve(derivePasswordKeys(password, salt, params)),
    createSocket: (url) => new WebSocket(url),
    peers: { SimplePeer },
  }
}

function me(): TincanClient {
  if (client === undefined) throw new Error('not registered')
  return client
}

const api = {
  async register(username: string): Promise<void> {
    await initCrypto()
    client = await TincanClient.register(env(), username, 'bench password 1234')
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
    return me().signaling.online.has(peer)
  },
  /** Sends one message (connecting first if needed) and returns the send time. */
  async send(peer: string, text: string): Promise<number> {
    const t = now()
    await me().sendText(peer, text)
    return t
  },
  /** Sends `count` messages, one every `intervalMs`; returns each text with its send time. */
  async sendMany(peer: string, count: number, intervalMs: number, tag: string): Promise<[string, number][]> {
    const sent: [string, number][] = []
    for (let i = 0; i < count; i++) {
      const text = `${tag} ${i}`
      sent.push([text, now()])
      await me().sendText(peer, text)
      await new Promise((r) => setTimeout(r, intervalMs))
    }
    return sent
  },
  arrivals(texts: string[]): (number | null)[] {
    return texts.map((t) => arrivals.get(t) ?? null)
  },
  async fill(peer: string, count: number): Promise<number> {
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
        id: `fill${i.toString().padStart(8, '0')}`,
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
    await c.history.addMany(messages, { peer })
    return now() - t0
  },
  async openConversation(peer: string): Promise<number> {
    const t0 = now()
    const page = await me().loadMessages(directConversationId(peer), undefined, 50)
    const ms = now() - t0
    if (page.length !== 50) throw new Error(`opened ${page.length} messages`)
    return ms
  },
  async search(query: string): Promise<{ ms: number; hits: number }> {
    const t0 = now()
    const hits = await me().search(query)
    return { ms: now() - t0, hits: hits.length }
  },
}

;(window as unknown as { bench: typeof api }).bench = api
document.title = 'ready'
