import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import wrtc from '@roamhq/wrtc'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import type { PeerLink } from '../../../client/core/peer/link.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { turnCredential } from '../../../signaling/routes/ice.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { serviceOrSkip } from '../../helpers/services.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

/**
 * coturn (Debian's `coturn`, binary `turnserver`) on loopback: TURNSERVER_PATH when set, else
 * where Debian puts it (.ci/run installs it). Missing, the suite is skipped with one line, unless
 * TINCAN_REQUIRE_SERVICES=1, when it fails.
 */
function findTurnserver(): string | undefined {
  const configured = process.env['TURNSERVER_PATH'] ?? ''
  const candidates = configured !== '' ? [configured] : ['/usr/bin/turnserver', '/usr/local/bin/turnserver']
  return candidates.find((p) => existsSync(p))
}

const turnserver = serviceOrSkip(
  findTurnserver(),
  'connections through a TURN relay',
  (process.env['TURNSERVER_PATH'] ?? '') !== ''
    ? `coturn (nothing at TURNSERVER_PATH=${process.env['TURNSERVER_PATH']})`
    : "coturn's turnserver (apt-get install coturn, or set TURNSERVER_PATH)",
)

/** A port free for both TCP and UDP on loopback, for coturn's listener. */
async function freeTurnPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address()
        srv.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
      })
      srv.on('error', reject)
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4')
      socket.once('error', () => resolve(false))
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)))
    })
    if (udpFree) return port
  }
}

/** coturn's log line for a successful allocation by this TURN username (a regex source). */
function allocated(username: string): RegExp {
  return new RegExp(`user <${username}>: incoming packet ALLOCATE processed, success`)
}

/** One STUN Binding request over UDP: resolves when the server answers (it is up). */
function stunPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    // Binding request: type 0x0001, length 0, magic cookie, 12-byte transaction id.
    const request = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)])
    const timer = setTimeout(() => finish(false), timeoutMs)
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      socket.close()
      resolve(ok)
    }
    socket.on('message', (m) => finish(m.readUInt16BE(0) === 0x0101))
    socket.on('error', () => finish(false))
    socket.send(request, port, '127.0.0.1')
  })
}

/** Gathers ICE candidates for a bare peer connection limited to relays; returns their types. */
async function gatherRelayCandidates(iceServer: RTCIceServer, timeoutMs = 8_000): Promise<string[]> {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [iceServer], iceTransportPolicy: 'relay' })
  const types: string[] = []
  try {
    pc.createDataChannel('probe')
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      pc.onicecandidate = (ev: { candidate: RTCIceCandidate | null }) => {
        if (ev.candidate === null) {
          clearTimeout(timer)
          resolve()
        } else types.push(/ typ (\w+)/.exec(ev.candidate.candidate)?.[1] ?? '?')
      }
    })
    await pc.setLocalDescription(await pc.createOffer())
    await done
  } finally {
    pc.close()
  }
  return types
}

interface CandidatePair {
  local: string
  remote: string
}

/** The candidate types of the pair a live peer connection selected, from getStats. */
async function selectedPair(client: TincanClient, peer: string): Promise<CandidatePair | undefined> {
  const link = (internals(client).peers as unknown as { links: Map<string, PeerLink> }).links.get(peer)
  const pc = link?.rtc.pc
  if (pc === undefined) return undefined
  const stats = await pc.getStats()
  const all = new Map<string, Record<string, unknown>>()
  stats.forEach((s: Record<string, unknown>) => all.set(String(s['id']), s))
  for (const s of all.values()) {
    const selected =
      s['type'] === 'candidate-pair' &&
      s['state'] === 'succeeded' &&
      (s['nominated'] === true || s['selected'] === true)
    if (!selected) continue
    const local = all.get(String(s['localCandidateId']))
    const remote = all.get(String(s['remoteCandidateId']))
    return { local: String(local?.['candidateType']), remote: String(remote?.['candidateType']) }
  }
  return undefined
}

// Skipped only when coturn is missing and TINCAN_REQUIRE_SERVICES is not set (serviceOrSkip says so).
describe.skipIf(turnserver === undefined)('connections through a TURN relay (coturn)', () => {
  const secret = randomBytes(24).toString('base64url')
  let port: number
  let turn: ChildProcess
  let turnLog = ''
  let workDir: string
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient

  beforeAll(async () => {
    if (turnserver === undefined) throw new Error('unreachable: the suite is skipped without coturn')
    workDir = mkdtempSync(join(tmpdir(), 'tincan-turn-'))
    port = await freeTurnPort()
    // Relay ports: a slice of the high range; coturn skips any that are taken.
    const relayFrom = 50_000 + Math.floor(Math.random() * 10_000)
    turn = spawn(
      turnserver,
      [
        '-c',
        '/dev/null',
        '--use-auth-secret',
        `--static-auth-secret=${secret}`,
        '--realm=tincan',
        '--listening-ip=127.0.0.1',
        '--relay-ip=127.0.0.1',
        '--no-tls',
        '--no-dtls',
        '-p',
        String(port),
        `--min-port=${relayFrom}`,
        `--max-port=${relayFrom + 500}`,
        '--allow-loopback-peers',
        '--no-cli',
        `--userdb=${join(workDir, 'turndb')}`,
        `--pidfile=${join(workDir, 'turnserver.pid')}`,
        '--log-file=stdout',
        '--simple-log',
        '--verbose',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    turn.stdout?.on('data', (c: Buffer) => (turnLog += c.toString()))
    turn.stderr?.on('data', (c: Buffer) => (turnLog += c.toString()))
    await until('coturn to answer STUN', () => stunPing(port), 15_000).catch((e: unknown) => {
      throw new Error(`coturn did not start:\n${turnLog}`, { cause: e })
    })

    server = await startServer({
      env: {
        TURN_URLS: `turn:127.0.0.1:${port}?transport=udp`,
        TURN_SECRET: secret,
        TURN_TTL_S: '600',
        RELAY_ONLY: 'true',
      },
    })
    const env = await nodeClientEnv(server.baseUrl, { connectTimeoutMs: 15_000 })
    alice = await registerClient(env, 'alice')
    bob = await registerClient(env, 'bob')
  })

  afterAll(async () => {
    alice?.close()
    bob?.close()
    await server?.close()
    turn?.kill('SIGTERM')
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true })
  })

  it('gives each logged-in client its own short-lived TURN credentials and the relay-only policy', async () => {
    const before = Math.floor(Date.now() / 1000)
    const [a, b] = await Promise.all([internals(alice).api.ice(), internals(bob).api.ice()])
    for (const [ice, name] of [
      [a, alice.username],
      [b, bob.username],
    ] as const) {
      expect(ice.iceTransportPolicy).toBe('relay')
      const turnServer = ice.iceServers.find((s) => s.urls.some((u) => u.startsWith('turn:')))
      const [expiry, account] = (turnServer?.username ?? '').split(':')
      expect(account).toBe(name)
      expect(Number(expiry)).toBeGreaterThanOrEqual(before + 600)
      expect(Number(expiry)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600)
      expect(ice.expiresAt).toBe(Number(expiry) * 1000)
      expect(turnServer?.credential).toBe(turnCredential(secret, name, Number(expiry)).credential)
    }
    // No shared password: each account's credential is its own, and no cache may keep it.
    expect(a.iceServers[0]?.credential).not.toBe(b.iceServers[0]?.credential)
    const raw = await fetch(`${server.baseUrl}/api/ice`, {
      headers: { authorization: `Bearer ${internals(alice).api.token ?? ''}` },
    })
    expect(raw.headers.get('cache-control')).toBe('no-store')
    // Without a session there are no credentials at all.
    expect((await fetch(`${server.baseUrl}/api/ice`)).status).toBe(401)
  })

  it('connects two relay-only clients through coturn with server-minted credentials, and they chat', async () => {
    await befriend(alice, bob)
    const texts = ['through the relay 1', 'through the relay 2', 'through the relay 3']
    for (const t of texts) await alice.sendText(directConversationId(bob.username), t)
    await bob.sendText(directConversationId(alice.username), 'and back')
    await until(
      'the messages at bob',
      async () => (await internals(bob).history.count(directConversationId(alice.username))) >= 4,
      40_000,
    )
    await until(
      'the reply at alice',
      async () => (await internals(alice).history.count(directConversationId(bob.username))) >= 4,
      20_000,
    )
    const atBob = (await bob.loadMessages(directConversationId(alice.username), undefined, 10))
      .filter((m) => m.author === alice.username)
      .map((m) => m.content.text)
    expect(atBob).toEqual(texts)
    // The selected candidate pair runs over relayed candidates on both ends…
    const pair = await until('a selected candidate pair', () => selectedPair(alice, bob.username), 10_000)
    expect(pair).toEqual({ local: 'relay', remote: 'relay' })
    // …allocated by coturn for the accounts the server minted credentials for.
    for (const name of [alice.username, bob.username]) expect(turnLog).toMatch(allocated(`\\d+:${name}`))
  })

  it('refuses an allocation with an expired credential, and grants one with a fresh credential', async () => {
    const url = `turn:127.0.0.1:${port}?transport=udp`
    const now = Math.floor(Date.now() / 1000)
    const expired = turnCredential(secret, alice.username, now - 60)
    expect(await gatherRelayCandidates({ urls: url, ...expired })).toEqual([])
    expect(turnLog).not.toMatch(allocated(expired.username))
    const fresh = turnCredential(secret, alice.username, now + 60)
    expect(await gatherRelayCandidates({ urls: url, ...fresh })).toContain('relay')
    expect(turnLog).toMatch(allocated(fresh.username))
    const forged = { username: `${now + 60}:${alice.username}`, credential: 'not the hmac' }
    expect(await gatherRelayCandidates({ urls: url, ...forged })).toEqual([])
  })
})
