import wrtc from '@roamhq/wrtc'
import { afterEach, describe, expect, it } from 'vitest'
import { RtcPeer, RtcPeerError, type RtcSignal } from '../../../client/core/peer/rtc-peer.ts'
import { until } from '../../helpers/until.ts'

// The connection layer on its own, over real WebRTC (@roamhq/wrtc), with the signaling server
// replaced by handing each side's signals to the other in the test.

const open: RtcPeer[] = []
afterEach(() => {
  for (const p of open.splice(0)) p.destroy()
})

function pair(): { a: RtcPeer; b: RtcPeer; fromA: RtcSignal[]; fromB: RtcSignal[] } {
  const make = (initiator: boolean) =>
    new RtcPeer({ initiator, config: { iceServers: [] }, RTCPeerConnection: wrtc.RTCPeerConnection })
  const a = make(true)
  const b = make(false)
  open.push(a, b)
  const fromA: RtcSignal[] = []
  const fromB: RtcSignal[] = []
  a.on('signal', (s) => fromA.push(s))
  b.on('signal', (s) => fromB.push(s))
  return { a, b, fromA, fromB }
}

/** Hands over whatever each side has said so far, until both are connected. */
async function relayUntilConnected(p: ReturnType<typeof pair>): Promise<void> {
  await until('both sides connected', () => {
    for (const s of p.fromA.splice(0)) p.b.signal(s)
    for (const s of p.fromB.splice(0)) p.a.signal(s)
    return p.a.connected && p.b.connected
  })
}

describe('a WebRTC connection with one data channel (rtc-peer.ts)', () => {
  it('connects and carries binary frames both ways, in order', async () => {
    const p = pair()
    const atA: number[] = []
    const atB: number[] = []
    p.a.on('data', (d) => atA.push(d[0] ?? -1))
    p.b.on('data', (d) => atB.push(d[0] ?? -1))
    await relayUntilConnected(p)
    expect(p.a.channel?.readyState).toBe('open')
    // Both DTLS fingerprints are readable from the public connection: the handshake binds them.
    expect(p.a.pc.localDescription?.sdp).toMatch(/a=fingerprint:sha-256 /)
    expect(p.a.pc.remoteDescription?.sdp).toMatch(/a=fingerprint:sha-256 /)
    for (let i = 1; i <= 50; i++) p.a.send(new Uint8Array([i, 0, 0]))
    p.b.send(new Uint8Array([200]))
    await until('every frame', () => atB.length === 50 && atA.length === 1)
    expect(atB).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(atA).toEqual([200])
  })

  it('connects when the answerer’s candidates arrive before its answer', async () => {
    const p = pair()
    await until('the offer', () => p.fromA.some((s) => s.type === 'offer'))
    for (const s of p.fromA.splice(0)) p.b.signal(s)
    await until('the answer and a candidate', () =>
      ['answer', 'candidate'].every((t) => p.fromB.some((s) => s.type === t)),
    )
    const reordered = [
      ...p.fromB.filter((s) => s.type === 'candidate'),
      ...p.fromB.filter((s) => s.type !== 'candidate'),
    ]
    p.fromB.splice(0)
    for (const s of reordered) p.a.signal(s)
    await relayUntilConnected(p)
  })

  it('closes both sides once when one side ends it, and refuses to send afterwards with a typed error', async () => {
    const p = pair()
    await relayUntilConnected(p)
    const closes = { a: 0, b: 0 }
    p.a.on('close', () => closes.a++)
    p.b.on('close', () => closes.b++)
    p.a.destroy()
    p.a.destroy()
    await until('the other side to notice', () => closes.b === 1)
    expect(closes.a).toBe(1)
    expect(p.b.destroyed).toBe(true)
    expect(() => p.a.send(new Uint8Array([1]))).toThrow(RtcPeerError)
    expect(() => p.b.send(new Uint8Array([1]))).toThrow(expect.objectContaining({ code: 'not-open' }))
    // Signals for a closed connection are dropped, not thrown into the caller.
    expect(() => p.a.signal({ type: 'answer', sdp: 'v=0' })).not.toThrow()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(closes).toEqual({ a: 1, b: 1 })
  })

  it('ends with a typed error, not a hang, when the other side’s description is unreadable', async () => {
    const p = pair()
    const errors: RtcPeerError[] = []
    let closed = false
    p.b.on('error', (e) => errors.push(e))
    p.b.on('close', () => (closed = true))
    p.b.signal({ type: 'offer', sdp: 'this is not SDP' })
    await until('the failure', () => closed)
    expect(errors.map((e) => e.code)).toEqual(['negotiation-failed'])
  })
})
