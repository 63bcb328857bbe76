// What the server gets to see, checked rather than claimed (docs/SECURITY.md cites this file).
// Two real clients (client/core in Node, Argon2id at the real parameters, WebRTC) register,
// befriend and chat. Everything Alice sends to the server and everything it sends back is
// recorded (HTTP through her fetch, the socket through a relay), and the database files are
// read afterwards.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend } from '../../helpers/clients.ts'
import { uniqueName } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { WsProxy } from '../../helpers/ws-proxy.ts'

const password = 'a passphrase the server must never see 🔑'
const secrets = ['the meeting moved to 7pm at the old bakery', 'bring the blue folder; the code is 4729']

describe('what the server sees of two friends chatting', () => {
  let server: TestServer
  let proxy: WsProxy
  let alice: TincanClient
  let bob: TincanClient
  /** Every request Alice made and every answer, as text. */
  const http: string[] = []
  /** Every socket frame between Alice and the server, both ways, as JSON text. */
  const frames: string[] = []

  beforeAll(async () => {
    server = await startServer()
    proxy = await WsProxy.start(server.wsUrl)
    proxy.tamper = (frame) => {
      frames.push(JSON.stringify(frame))
      return frame
    }
    const env = await nodeClientEnv(server.baseUrl)
    const recording: typeof fetch = async (input, init) => {
      const body = typeof init?.body === 'string' ? init.body : ''
      const res = await fetch(input, init)
      const copy = res.clone()
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
      http.push(`${init?.method ?? 'GET'} ${url} ${JSON.stringify(init?.headers ?? {})} ${body}`)
      http.push(await copy.text())
      return res
    }
    const aliceEnv: ClientEnv = { ...env, fetch: recording, createSocket: () => env.createSocket(proxy.url) }
    alice = await TincanClient.register(aliceEnv, uniqueName('alice'), password)
    bob = await TincanClient.register(env, uniqueName('bob'), 'another long passphrase')
    await befriend(alice, bob)
    for (const text of secrets) await alice.sendText(directConversationId(bob.username), text)
    await bob.sendText(directConversationId(alice.username), secrets[0] ?? '')
    await until('both messages at bob', async () => {
      const got = (await bob.loadMessages(directConversationId(alice.username))).map((m) => m.content.text)
      return secrets.every((s) => got.includes(s))
    })
    await until('the reply at alice', async () =>
      (await alice.loadMessages(directConversationId(bob.username))).some(
        (m) => m.content.text === secrets[0] && m.author === bob.username,
      ),
    )
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await proxy.close()
    await server.close()
  })

  /** The database as bytes (main file, write-ahead log), searched as text. */
  function databaseText(): string {
    return readdirSync(server.dataDir)
      .filter((f) => f.startsWith('tincan.sqlite'))
      .map((f) => readFileSync(join(server.dataDir, f)).toString('latin1'))
      .join('\n')
  }
  const utf8AsLatin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')

  it('never receives the password or a message, in any request, frame or database row', () => {
    expect(http.length).toBeGreaterThan(6)
    expect(frames.filter((f) => f.includes('"type":"signal"')).length).toBeGreaterThan(2)
    const seen = [...http, ...frames].join('\n')
    const stored = databaseText()
    for (const s of [password, ...secrets]) {
      expect(seen).not.toContain(s)
      expect(stored).not.toContain(utf8AsLatin1(s))
    }
    // Nor the password in the encodings a careless client might use.
    for (const encoded of [
      Buffer.from(password).toString('base64'),
      Buffer.from(password).toString('base64url'),
    ])
      expect(seen).not.toContain(encoded)
  })

  it('does learn who is friends with whom, when each is online, and the addresses in their WebRTC offers', () => {
    const stored = databaseText()
    expect(stored).toContain(alice.username)
    expect(stored).toContain(bob.username)
    // Presence and the social graph are the server's own knowledge, and it tells them to friends.
    const fromServer = frames.map(
      (f) => JSON.parse(f) as { type: string; friend?: { username: string }; online?: unknown },
    )
    expect(fromServer.some((f) => f.type === 'friend-added' && f.friend?.username === bob.username)).toBe(
      true,
    )
    expect(fromServer.some((f) => f.type === 'friend-added' && f.online === true)).toBe(true)
    // Offers and ICE candidates are signed, not encrypted: without RELAY_ONLY the server reads
    // the candidate addresses (here the loopback interface).
    const signals = frames.filter((f) => f.includes('"type":"signal"'))
    expect(signals.some((f) => /candidate|a=candidate/.test(f) && /\d+\.\d+\.\d+\.\d+/.test(f))).toBe(true)
  })
})
