import { describe, expect, it } from 'vitest'
import { utf8Decode } from '../../../../crypto/index.ts'
import { GroupOutgoing } from '../../../../client/core/groups/outgoing.ts'
import { decodePeerFrame } from '../../../../client/core/peer-router.ts'
import { decodeGroupFrame, type GroupFrame } from '../../../../shared/index.ts'

function sink(maxMessageBytes = 16 * 1024) {
  const sent: GroupFrame[] = []
  const raw: Uint8Array[] = []
  return {
    sent,
    raw,
    sink: {
      maxMessageBytes: () => maxMessageBytes,
      send: (_peer: string, plaintext: Uint8Array) => {
        raw.push(plaintext)
        const decoded = decodeGroupFrame(JSON.parse(utf8Decode(plaintext)))
        if (!decoded.ok) throw new Error(`invalid frame: ${JSON.stringify(decoded)}`)
        sent.push(decoded.value)
        return Promise.resolve(true)
      },
    },
  }
}

const g = 'AAAAAAAAAAAAAAAAAAAAAA'
const anyone = (): boolean => true

describe('outgoing group frames', () => {
  it('batch items of one kind, keep the order across kinds, and route as group frames', () => {
    const s = sink()
    const out = new GroupOutgoing(s.sink, anyone)
    out.list('p', g, { version: 1 })
    out.key('p', g, { epoch: 1 })
    out.message('p', g, 'bWVzc2FnZTE')
    out.message('p', g, 'bWVzc2FnZTI')
    out.frame('p', { type: 'group-leave', g })
    out.message('p', g, 'bWVzc2FnZTM')
    out.flush('p')
    expect(s.sent.map((f) => f.type)).toEqual([
      'group-list',
      'group-keys',
      'group-msgs',
      'group-leave',
      'group-msgs',
    ])
    expect(s.sent[2]).toMatchObject({ m: ['bWVzc2FnZTE', 'bWVzc2FnZTI'] })
    expect(s.raw.every((r) => decodePeerFrame(r)?.channel === 'group')).toBe(true)
  })

  it('split messages across frames that fit the connection', () => {
    const s = sink(16 * 1024)
    const out = new GroupOutgoing(s.sink, anyone)
    const ct = 'A'.repeat(2000)
    for (let i = 0; i < 40; i++) out.message('p', g, ct)
    out.flush('p')
    expect(s.sent.length).toBeGreaterThan(5)
    for (const r of s.raw) expect(r.length).toBeLessThan(16 * 1024)
    expect(s.sent.flatMap((f) => (f.type === 'group-msgs' ? f.m : []))).toHaveLength(40)
  })

  it('acknowledge many scattered messages in valid frames (ranges capped per entry)', () => {
    const s = sink()
    const out = new GroupOutgoing(s.sink, anyone)
    for (let i = 0; i < 300; i += 2) out.ack('p', g, 'ann', 4, i)
    out.ack('p', g, 'ann', 4, 1)
    out.flush('p')
    const acks = s.sent.flatMap((f) => (f.type === 'group-ack' ? f.a : []))
    const held = new Set(
      acks.flatMap((a) => a.r.flatMap(([from, to]) => Array.from({ length: to - from }, (_, k) => from + k))),
    )
    expect(held.size).toBe(151)
    expect(held.has(1)).toBe(true)
    expect(acks.every((a) => a.r.length <= 64)).toBe(true)
  })

  it('are held back, every kind of them, from a connection the group may not use at the moment they leave', () => {
    const s = sink()
    const other = 'BBBBBBBBBBBBBBBBBBBBBB'
    let trusted = true
    const out = new GroupOutgoing(s.sink, (_peer, groupId) => trusted || groupId === other)
    out.key('p', g, { epoch: 1 })
    out.message('p', g, 'bWVzc2FnZTE')
    out.frame('p', { type: 'group-leave', g })
    out.message('p', other, 'bWVzc2FnZTI')
    // Decided when the frames go, not when they were queued.
    trusted = false
    out.flush('p')
    expect(s.sent).toEqual([{ type: 'group-msgs', g: other, m: ['bWVzc2FnZTI'] }])
  })

  it('are not sent for a member whose connection closed', () => {
    const s = sink()
    const out = new GroupOutgoing(s.sink, anyone)
    out.message('p', g, 'bWVzc2FnZTE')
    out.drop('p')
    out.flush('p')
    expect(s.sent).toEqual([])
  })
})

describe('group frame decoding', () => {
  it('refuses unknown types and malformed fields', () => {
    expect(decodeGroupFrame({ type: 'group-nope', g }).ok).toBe(false)
    expect(decodeGroupFrame({ type: 'group-msgs', g, m: ['not base64!'] }).ok).toBe(false)
    expect(decodeGroupFrame({ type: 'group-msgs', g, m: [] }).ok).toBe(false)
    expect(decodeGroupFrame({ type: 'group-sync', g, v: -2, h: '', s: [] }).ok).toBe(false)
    expect(decodeGroupFrame({ type: 'group-sync', g, v: 0, h: '', s: [], extra: 1 }).ok).toBe(false)
    expect(decodeGroupFrame({ type: 'group-sync', g, v: -1, h: '', s: [] }).ok).toBe(true)
  })

  it('tells group frames from one-to-one frames by their tag, wherever it is, and drops the rest', () => {
    const enc = new TextEncoder()
    const ack = { type: 'group-ack', g, a: [{ s: 'ann', e: 1, r: [[0, 1]] }] }
    expect(decodePeerFrame(enc.encode(JSON.stringify(ack)))).toEqual({ channel: 'group', frame: ack })
    // Field order does not matter: it is the decoded tag that routes, not a text prefix.
    const reordered = '{"g":"' + g + '","a":[{"s":"ann","e":1,"r":[[0,1]]}],"type":"group-ack"}'
    expect(decodePeerFrame(enc.encode(reordered))?.channel).toBe('group')
    const text = { type: 'text', id: 'abcdefghij', ts: 1, text: 'hi' }
    expect(decodePeerFrame(enc.encode(JSON.stringify(text)))).toEqual({ channel: 'direct', frame: text })
    // Catch-up batches fill whole data channel messages, far over the server's 64 KiB frames.
    const batch = { type: 'group-msgs', g, m: Array.from({ length: 150 }, () => 'A'.repeat(1500)) }
    expect(decodePeerFrame(enc.encode(JSON.stringify(batch)))?.channel).toBe('group')
    // A group type with a bad body, an unknown type, bad JSON and bad UTF-8 are all dropped.
    expect(decodePeerFrame(enc.encode('{"type":"group-ack","g":"x"}'))).toBeUndefined()
    expect(decodePeerFrame(enc.encode('{"type":"group-nope","g":"x"}'))).toBeUndefined()
    expect(decodePeerFrame(enc.encode('{"type":'))).toBeUndefined()
    expect(decodePeerFrame(Uint8Array.of(0xff, 0xfe))).toBeUndefined()
  })
})
