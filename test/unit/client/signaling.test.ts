import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { SignalingConnection, type SocketLike } from '../../../client/core/signaling.ts'

type Listener = (ev: never) => void

/** A WebSocket stand-in the test drives by hand: what the client sent, and what the server says. */
class FakeSocket implements SocketLike {
  readyState = 0
  readonly sent: Record<string, unknown>[] = []
  private readonly listeners = new Map<string, Listener[]>()

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  private fire(type: string, ev: unknown): void {
    for (const l of this.listeners.get(type) ?? []) (l as (e: unknown) => void)(ev)
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }
  close(): void {
    this.readyState = 3
  }
  open(): void {
    this.readyState = 1
    this.fire('open', {})
  }
  receive(frame: unknown): void {
    this.fire('message', { data: JSON.stringify(frame) })
  }
  drop(code = 1006): void {
    this.readyState = 3
    this.fire('close', { code })
  }
  ready(online: string[] = []): void {
    this.open()
    this.receive({ type: 'ready', username: 'alice', sessionId: 'A'.repeat(22), online, ref: 'auth' })
  }
}

describe('the signaling connection', () => {
  let sockets: FakeSocket[]
  let conn: SignalingConnection

  beforeEach(() => {
    vi.useFakeTimers()
    sockets = []
    conn = new SignalingConnection({
      url: 'ws://server/ws',
      token: () => 't'.repeat(43),
      createSocket: () => {
        const s = new FakeSocket()
        sockets.push(s)
        return s
      },
      random: () => 0.999,
      baseDelayMs: 100,
      maxDelayMs: 1_000,
    })
  })
  afterEach(() => {
    conn.stop()
    vi.useRealTimers()
  })

  it('authenticates in its first frame, never in the URL', () => {
    conn.start()
    sockets[0]?.open()
    expect(sockets[0]?.sent[0]).toMatchObject({ type: 'auth', token: 't'.repeat(43) })
  })

  it('reconnects with growing, capped, jittered delays and resets them once back', () => {
    conn.start()
    const delays: number[] = []
    for (let i = 0; i < 6; i++) {
      sockets.at(-1)?.drop()
      const before = sockets.length
      let waited = 0
      while (sockets.length === before && waited < 5_000) {
        vi.advanceTimersByTime(10)
        waited += 10
      }
      delays.push(waited)
    }
    // Full jitter with random() ≈ 1: the ceiling doubles from 100 ms and stops at 1,000 ms.
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000])
    sockets.at(-1)?.ready()
    sockets.at(-1)?.drop()
    const before = sockets.length
    vi.advanceTimersByTime(100)
    expect(sockets.length).toBe(before + 1)
  })

  it('re-sends a signal that was not acknowledged before the connection dropped', async () => {
    conn.start()
    sockets[0]?.ready()
    const result = conn.sendSignal('bob', 'session-1', 'envelope-1')
    expect(sockets[0]?.sent.filter((f) => f.type === 'signal')).toHaveLength(1)
    sockets[0]?.drop()
    vi.advanceTimersByTime(200)
    sockets[1]?.ready(['bob'])
    const resent = sockets[1]?.sent.filter((f) => f.type === 'signal') ?? []
    expect(resent).toHaveLength(1)
    expect(resent[0]).toMatchObject({ to: 'bob', sid: 'session-1', envelope: 'envelope-1' })
    sockets[1]?.receive({ type: 'sent', ref: resent[0]?.ref })
    await expect(result).resolves.toEqual({ ok: true })
    expect(conn.online.has('bob')).toBe(true)
  })

  it('reports a refused signal with the server’s error code', async () => {
    conn.start()
    sockets[0]?.ready()
    const result = conn.sendSignal('mallory', 'session-2', 'x')
    const frame = sockets[0]?.sent.find((f) => f.type === 'signal')
    sockets[0]?.receive({ type: 'error', code: 'not-friends', message: 'no', ref: frame?.ref })
    await expect(result).resolves.toEqual({ ok: false, code: 'not-friends' })
  })

  it('sends a signal again later when the peer is busy, and the caller only sees it delivered (issue 15)', async () => {
    conn.start()
    sockets[0]?.ready()
    let settled: unknown
    const result = conn.sendSignal('bob', 'session-3', 'offer')
    void result.then((r) => (settled = r))
    const first = sockets[0]?.sent.find((f) => f.type === 'signal')
    sockets[0]?.receive({ type: 'error', code: 'recipient-busy', message: 'busy', ref: first?.ref })
    await Promise.resolve()
    expect(settled).toBeUndefined()

    // random() ≈ 1 doubles the 1 s retry delay.
    vi.advanceTimersByTime(2_000)
    const signals = sockets[0]?.sent.filter((f) => f.type === 'signal') ?? []
    expect(signals).toHaveLength(2)
    expect(signals[1]).toEqual(first)
    sockets[0]?.receive({ type: 'sent', ref: first?.ref })
    await expect(result).resolves.toEqual({ ok: true })
  })

  it('gives up on a signal the peer stays too busy for once it is stale, as for one never sent', async () => {
    conn.start()
    sockets[0]?.ready()
    const result = conn.sendSignal('bob', 'session-4', 'offer')
    for (let t = 0; t < 40; t++) {
      const last = sockets[0]?.sent.filter((f) => f.type === 'signal').at(-1)
      sockets[0]?.receive({ type: 'error', code: 'recipient-busy', message: 'busy', ref: last?.ref })
      vi.advanceTimersByTime(2_000)
    }
    await expect(result).resolves.toEqual({ ok: false, code: 'expired' })
  })

  it('stops and says so when the server ends the session', () => {
    const ended: number[] = []
    conn.on('session-ended', (e) => ended.push(e.code))
    conn.start()
    sockets[0]?.ready()
    sockets[0]?.drop(4403)
    vi.advanceTimersByTime(10_000)
    expect(ended).toEqual([4403])
    expect(conn.state).toBe('ended')
    expect(sockets).toHaveLength(1)
  })

  it('keeps its session and reconnects when the server ran out of time to read its auth frame (issue 17)', () => {
    const ended: number[] = []
    conn.on('session-ended', (e) => ended.push(e.code))
    conn.start()
    sockets[0]?.open()
    // A node swamped by a reconnect wave did not get to the auth frame within its timeout.
    sockets[0]?.receive({ type: 'error', code: 'auth-timeout', message: 'authenticate within 5000 ms' })
    sockets[0]?.drop(4401)
    vi.advanceTimersByTime(1_000)
    expect(ended).toEqual([])
    expect(sockets).toHaveLength(2)
    sockets[1]?.ready()
    expect(conn.state).toBe('online')
    // A token the server refuses still ends the session.
    sockets[1]?.drop(4401)
    vi.advanceTimersByTime(10_000)
    expect(ended).toEqual([4401])
    expect(conn.state).toBe('ended')
  })

  it('ignores frames that do not match the protocol', () => {
    const presence: unknown[] = []
    conn.on('presence', (p) => presence.push(p))
    conn.start()
    sockets[0]?.ready()
    sockets[0]?.receive({ type: 'presence', username: 'bob', online: 'yes' })
    sockets[0]?.receive({ type: 'presence', username: 'bob', online: true, extra: 1 })
    sockets[0]?.receive({ type: 'presence', username: 'bob', online: true })
    expect(presence).toEqual([{ type: 'presence', username: 'bob', online: true }])
  })
})
