import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { ServerFrame } from '../../../shared/index.ts'
import type { Connection } from '../../../signaling/realtime/hub.ts'
import { RedisHub } from '../../../signaling/realtime/redis-hub.ts'
import { redisOrSkip } from '../../helpers/services.ts'
import { until } from '../../helpers/until.ts'

/** The Redis hub on its own, with fast heartbeats, for what is slow or hard to provoke with whole servers. */
const redisUrl = redisOrSkip('RedisHub') ?? ''
const prefix = `tincan-test:${randomBytes(6).toString('hex')}:`
const hubs: RedisHub[] = []

async function hub(lost: string[] = []): Promise<RedisHub> {
  const h = await RedisHub.open({ url: redisUrl, prefix, heartbeatMs: 100, leaseMs: 500 })
  h.listen({
    presenceLost: (u) => {
      lost.push(u)
      return Promise.resolve()
    },
    relayChanged: () => undefined,
  })
  hubs.push(h)
  return h
}

interface FakeConnection extends Connection {
  readonly frames: ServerFrame[]
  closedWith: number | undefined
  /** Set by a test: the socket refuses signals as one over its send queue cap does. */
  busy: boolean
}

function connection(username: string, sessionId = randomBytes(8).toString('hex')): FakeConnection {
  const conn: FakeConnection = {
    username,
    sessionId,
    expiresAt: Number.MAX_SAFE_INTEGER,
    frames: [],
    closedWith: undefined,
    busy: false,
    send: (frame) => void conn.frames.push(frame),
    sendText: (json) => void conn.frames.push(JSON.parse(json) as ServerFrame),
    offerSignal: (json) => {
      if (conn.busy) return 'busy'
      conn.frames.push(JSON.parse(json) as ServerFrame)
      return 'queued'
    },
    close: (code) => {
      conn.closedWith = code
    },
  }
  return conn
}

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()))
})

afterAll(async () => {
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

// Skipped only when Redis does not answer and TINCAN_REQUIRE_SERVICES is not set (redisOrSkip says so).
describe.skipIf(redisUrl === '')('RedisHub', () => {
  it('counts a user online once across nodes, and offline only when the last socket goes', async () => {
    const [a, b] = await Promise.all([hub(), hub()])
    const c1 = connection('ann')
    const c2 = connection('ann')
    expect(await a.attach(c1)).toBe(true)
    expect(await b.attach(c2)).toBe(false)
    expect(await b.isOnline('ann')).toBe(true)
    expect(await a.onlineAmong(['ann', 'ben'])).toEqual(['ann'])
    expect(await a.detach(c1)).toBe(false)
    expect(await a.isOnline('ann')).toBe(true)
    expect(await b.detach(c2)).toBe(true)
    expect(await a.isOnline('ann')).toBe(false)
  })

  it('never leaves a socket registered when it closes while still attaching', async () => {
    const a = await hub()
    const c = connection('cat')
    const attaching = a.attach(c)
    const detaching = a.detach(c)
    await Promise.all([attaching, detaching])
    expect(await a.isOnline('cat')).toBe(false)
    const other = await hub()
    expect(await other.isOnline('cat')).toBe(false)
  })

  it('takes the users of a node that stops renewing its lease offline, and tells the others', async () => {
    const lost: string[] = []
    const [hanging, survivor] = await Promise.all([hub(), hub(lost)])
    const c = connection('dan')
    await hanging.attach(c)
    expect(await survivor.isOnline('dan')).toBe(true)
    // The node hangs: its Redis connections stay open, but it no longer renews its lease.
    clearInterval((hanging as unknown as { heartbeat: ReturnType<typeof setInterval> }).heartbeat)
    await until('the survivor to report dan lost', () => lost.includes('dan'), 5_000)
    expect(await survivor.isOnline('dan')).toBe(false)
    expect(lost).toEqual(['dan'])

    // When it wakes up it finds its lease gone, takes a new one, and sends its clients elsewhere.
    const oldId = hanging.nodeId
    await (hanging as unknown as { beat(): Promise<void> }).beat()
    expect(hanging.nodeId).not.toBe(oldId)
    expect(c.frames).toContainEqual(expect.objectContaining({ type: 'reconnect' }))
    expect(c.closedWith).toBe(1012)
  })

  it('delivers to every socket of a user on every node, and says when nobody got it', async () => {
    const [a, b] = await Promise.all([hub(), hub()])
    const here = connection('eve')
    const there = connection('eve')
    await a.attach(here)
    await b.attach(there)
    const frame: ServerFrame = { type: 'presence', username: 'fay', online: true }
    expect(await a.deliver('eve', frame)).toBe(true)
    await until('the frame on the other node', () => there.frames.length === 1)
    expect(here.frames).toEqual([frame])
    expect(there.frames).toEqual([frame])
    expect(await a.deliver('nobody', frame)).toBe(false)
    await a.detach(here)
    expect(await a.deliver('eve', frame)).toBe(true)
    await b.detach(there)
    expect(await a.deliver('eve', frame)).toBe(false)
  })

  it('answers busy for a user whose every socket, on another node, refuses signals; sent once one has room (issue 15)', async () => {
    const [a, b] = await Promise.all([hub(), hub()])
    const slow = connection('gus')
    await b.attach(slow)
    const signal = { type: 'signal', from: 'hal', sid: 'session-1', envelope: 'offer' } as const
    expect(await a.relay('gus', signal)).toBe('sent')
    await until('the signal on the other node', () => slow.frames.length === 1)

    slow.busy = true
    b.busyChanged(slow)
    await until('the sender to hear gus is busy', async () => (await a.relay('gus', signal)) === 'busy')
    const other = connection('gus')
    await b.attach(other)
    b.busyChanged(slow)
    expect(await a.relay('gus', signal)).toBe('sent')
    await until('the signal on the socket with room', () => other.frames.length === 1)
    expect(slow.frames).toHaveLength(1)

    await b.detach(other)
    await until('busy again', async () => (await a.relay('gus', signal)) === 'busy')
    slow.busy = false
    b.busyChanged(slow)
    await until('gus to take signals again', async () => (await a.relay('gus', signal)) === 'sent')
    await b.detach(slow)
    expect(await a.relay('gus', signal)).toBe('offline')
  })

  it("counts a user's sockets on every live node", async () => {
    const [a, b] = await Promise.all([hub(), hub()])
    await a.attach(connection('ida'))
    await b.attach(connection('ida'))
    await b.attach(connection('ida'))
    expect(await a.userSockets('ida')).toBe(3)
    expect(await b.userSockets('nobody')).toBe(0)
  })
})
