import { describe, expect, it } from 'vitest'
import {
  SendScheduler,
  type DataChannelLike,
  type FrameSource,
} from '../../../client/core/peer/send-scheduler.ts'

/** A data channel whose buffer drains only when the test says so. */
class FakeChannel implements DataChannelLike {
  bufferedAmount = 0
  bufferedAmountLowThreshold?: number
  readyState = 'open'
  readonly sent: Uint8Array[] = []
  maxBuffered = 0
  private lowListeners: (() => void)[] = []

  constructor(evented: boolean) {
    if (evented) this.bufferedAmountLowThreshold = 0
  }

  send(data: Uint8Array): void {
    this.sent.push(data)
    this.bufferedAmount += data.length
    this.maxBuffered = Math.max(this.maxBuffered, this.bufferedAmount)
  }

  addEventListener(_type: 'bufferedamountlow', listener: () => void): void {
    this.lowListeners.push(listener)
  }

  removeEventListener(_type: 'bufferedamountlow', listener: () => void): void {
    this.lowListeners = this.lowListeners.filter((l) => l !== listener)
  }

  /** The network takes `bytes` off the buffer; fires the event when crossing the threshold. */
  drain(bytes: number): void {
    const before = this.bufferedAmount
    this.bufferedAmount = Math.max(0, before - bytes)
    const threshold = this.bufferedAmountLowThreshold
    if (threshold !== undefined && before > threshold && this.bufferedAmount <= threshold)
      for (const l of this.lowListeners) l()
  }
}

class CountingSource implements FrameSource {
  detachedCount = 0
  constructor(
    readonly tag: number,
    private left: number,
    private readonly bytes = 100,
  ) {}
  nextFrame(): Uint8Array | undefined {
    if (this.left === 0) return undefined
    this.left--
    return new Uint8Array(this.bytes).fill(this.tag)
  }
  detached(): void {
    this.detachedCount++
  }
}

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('send scheduler', () => {
  it('takes turns between sources, one frame each', async () => {
    const channel = new FakeChannel(true)
    const s = new SendScheduler(channel, () => undefined, { highWaterBytes: 10_000, lowWaterBytes: 1000 })
    s.add(new CountingSource(1, 3))
    s.add(new CountingSource(2, 5))
    await tick()
    expect(channel.sent.map((f) => f[0])).toEqual([1, 2, 1, 2, 1, 2, 2, 2])
  })

  it('stops at the high-water mark and goes on when the buffer drains (bufferedamountlow)', async () => {
    const channel = new FakeChannel(true)
    const s = new SendScheduler(channel, () => undefined, { highWaterBytes: 1000, lowWaterBytes: 300 })
    expect(channel.bufferedAmountLowThreshold).toBe(300)
    s.add(new CountingSource(1, 50))
    await tick()
    expect(channel.sent).toHaveLength(10)
    channel.drain(500)
    await tick()
    expect(channel.sent).toHaveLength(10)
    channel.drain(300)
    await tick()
    expect(channel.sent).toHaveLength(18)
    expect(channel.maxBuffered).toBeLessThanOrEqual(1000)
  })

  it('polls the buffer where the channel has no low-water event (wrtc)', async () => {
    const channel = new FakeChannel(false)
    const s = new SendScheduler(channel, () => undefined, {
      highWaterBytes: 1000,
      lowWaterBytes: 300,
      pollMs: 1,
    })
    s.add(new CountingSource(1, 30))
    await tick()
    expect(channel.sent).toHaveLength(10)
    channel.drain(800)
    await tick(20)
    expect(channel.sent).toHaveLength(18)
  })

  it('sends nothing before a source wakes it, and detaches every source when closed', async () => {
    const channel = new FakeChannel(true)
    const s = new SendScheduler(channel, () => undefined)
    let ready = false
    const source: FrameSource & { detachedCount: number } = {
      detachedCount: 0,
      nextFrame: () => (ready ? ((ready = false), new Uint8Array(10)) : undefined),
      detached() {
        this.detachedCount++
      },
    }
    s.add(source)
    await tick()
    expect(channel.sent).toHaveLength(0)
    ready = true
    s.wake()
    await tick()
    expect(channel.sent).toHaveLength(1)
    s.close()
    expect(source.detachedCount).toBe(1)
    const late = new CountingSource(3, 1)
    s.add(late)
    expect(late.detachedCount).toBe(1)
  })

  it('reports a send that throws instead of losing it silently', async () => {
    const channel = new FakeChannel(true)
    channel.send = () => {
      throw new Error('channel closing')
    }
    const failures: unknown[] = []
    const s = new SendScheduler(channel, (e) => failures.push(e))
    s.add(new CountingSource(1, 2))
    await tick()
    expect(failures).toHaveLength(1)
  })
})
