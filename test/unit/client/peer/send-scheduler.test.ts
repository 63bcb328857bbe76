import { describe, expect, it } from 'vitest'
import {
  SendScheduler,
  type DataChannelLike,
  type FrameSource,
} from '../../../../client/core/peer/send-scheduler.ts'

// The scheduler against stand-in channels (the test is about how it waits, not about WebRTC):
// one with a browser's `bufferedamountlow` event, one without (as @roamhq/wrtc in Node). The
// "network" drains the buffer when the test says so.

class Channel implements DataChannelLike {
  readyState = 'open'
  sent = 0
  /** How often the scheduler looked at `bufferedAmount`. */
  looks = 0
  bufferedAmountLowThreshold?: number
  addEventListener?: NonNullable<DataChannelLike['addEventListener']>
  removeEventListener?: NonNullable<DataChannelLike['removeEventListener']>
  private amount = 0
  private listener: (() => void) | undefined

  constructor(evented: boolean) {
    if (!evented) return
    this.bufferedAmountLowThreshold = 0
    this.addEventListener = (_type, listener) => (this.listener = listener)
    this.removeEventListener = () => (this.listener = undefined)
  }

  get bufferedAmount(): number {
    this.looks++
    return this.amount
  }

  send(data: Uint8Array): void {
    this.sent++
    this.amount += data.length
  }

  /** The network takes everything buffered; the event fires as a browser fires it. */
  drain(): void {
    const was = this.amount
    this.amount = 0
    if (this.listener !== undefined && was > (this.bufferedAmountLowThreshold ?? 0)) this.listener()
  }
}

function frames(count: number, bytes: number): FrameSource & { left: () => number } {
  let left = count
  return {
    nextFrame: () => (left-- > 0 ? new Uint8Array(bytes) : undefined),
    detached: () => undefined,
    left: () => Math.max(0, left),
  }
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('file data back-pressure', () => {
  it('waits for the channel’s bufferedamountlow event where it has one, without polling', async () => {
    const channel = new Channel(true)
    const scheduler = new SendScheduler(channel, () => undefined, {
      highWaterBytes: 4096,
      lowWaterBytes: 1024,
    })
    expect(channel.bufferedAmountLowThreshold).toBe(1024)
    const source = frames(20, 1024)
    scheduler.add(source)
    await tick(0)
    expect(channel.sent).toBe(4)
    const looks = channel.looks
    await tick(50)
    // Nothing was sent and nobody looked while the buffer stayed full.
    expect(channel.sent).toBe(4)
    expect(channel.looks).toBe(looks)
    channel.drain()
    await tick(0)
    expect(channel.sent).toBe(8)
    scheduler.close()
  })

  it('polls the buffered amount where the channel has no such event', async () => {
    const channel = new Channel(false)
    const scheduler = new SendScheduler(channel, () => undefined, {
      highWaterBytes: 4096,
      lowWaterBytes: 1024,
      pollMs: 2,
    })
    const source = frames(20, 1024)
    scheduler.add(source)
    await tick(0)
    expect(channel.sent).toBe(4)
    const looks = channel.looks
    await tick(50)
    expect(channel.looks).toBeGreaterThan(looks)
    channel.drain()
    await tick(20)
    expect(channel.sent).toBe(8)
    scheduler.close()
  })
})
