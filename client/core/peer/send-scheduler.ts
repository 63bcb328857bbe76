/**
 * The part of RTCDataChannel the scheduler needs. In the browser `bufferedAmountLowThreshold` is
 * a number and `bufferedamountlow` fires; `@roamhq/wrtc` has neither, so there we poll.
 */
export interface DataChannelLike {
  readonly bufferedAmount: number
  bufferedAmountLowThreshold?: number
  readonly readyState: string
  send(data: Uint8Array): void
  addEventListener?(type: 'bufferedamountlow', listener: () => void): void
  removeEventListener?(type: 'bufferedamountlow', listener: () => void): void
}

/** Something with bulk frames to send (a file transfer): asked for one frame at a time. */
export interface FrameSource {
  /** The next frame, or undefined when none is ready now; call `wake()` when one is. */
  nextFrame(): Uint8Array | undefined
  /** Removed from the scheduler (by `remove`, or because the connection closed). */
  detached(): void
}

export interface SendSchedulerOptions {
  /** Stop handing frames to the channel once this much is buffered. */
  readonly highWaterBytes?: number
  /** Resume when the buffer has drained to this. */
  readonly lowWaterBytes?: number
  /** Polling period where the channel has no `bufferedamountlow` event. */
  readonly pollMs?: number
}

export const defaultHighWaterBytes = 1024 * 1024
export const defaultLowWaterBytes = 256 * 1024
const defaultPollMs = 2

/**
 * Browsers close a data channel whose send buffer overflows (16 MiB in Chromium), and everything
 * sent waits behind what is buffered. So bulk data is handed over only while the buffer is
 * below a high-water mark, and chat frames, which bypass this scheduler, are never more than
 * that much behind. Sources take turns, one frame each (round robin).
 */
export class SendScheduler {
  private readonly sources: FrameSource[] = []
  private turn = 0
  private readonly high: number
  private readonly low: number
  private readonly pollMs: number
  private readonly evented: boolean
  private pumpQueued = false
  private waitingForLow = false
  private pollTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  /** Bulk bytes handed to the channel (for tests and benchmarks). */
  sentBytes = 0

  constructor(
    private readonly channel: DataChannelLike,
    private readonly onSendError: (e: unknown) => void,
    o: SendSchedulerOptions = {},
  ) {
    this.high = o.highWaterBytes ?? defaultHighWaterBytes
    this.low = Math.min(o.lowWaterBytes ?? defaultLowWaterBytes, this.high)
    this.pollMs = o.pollMs ?? defaultPollMs
    this.evented =
      typeof channel.bufferedAmountLowThreshold === 'number' && typeof channel.addEventListener === 'function'
    if (this.evented) {
      channel.bufferedAmountLowThreshold = this.low
      channel.addEventListener?.('bufferedamountlow', this.onLow)
    }
  }

  add(source: FrameSource): void {
    if (this.closed) {
      source.detached()
      return
    }
    if (!this.sources.includes(source)) this.sources.push(source)
    this.wake()
  }

  remove(source: FrameSource): void {
    const i = this.sources.indexOf(source)
    if (i < 0) return
    this.sources.splice(i, 1)
    if (this.turn > i) this.turn--
    source.detached()
  }

  has(source: FrameSource): boolean {
    return this.sources.includes(source)
  }

  /** A source has a frame again (or the window opened): send soon. */
  wake(): void {
    if (this.closed || this.pumpQueued || this.waitingForLow) return
    this.pumpQueued = true
    queueMicrotask(this.pump)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.pollTimer)
    if (this.evented) this.channel.removeEventListener?.('bufferedamountlow', this.onLow)
    for (const s of this.sources.splice(0)) s.detached()
  }

  private readonly pump = (): void => {
    this.pumpQueued = false
    if (this.closed || this.channel.readyState !== 'open') return
    while (this.channel.bufferedAmount < this.high) {
      const frame = this.nextFrame()
      if (frame === undefined) return
      try {
        this.channel.send(frame)
      } catch (e: unknown) {
        this.onSendError(e)
        return
      }
      this.sentBytes += frame.length
    }
    this.waitForLow()
  }

  private nextFrame(): Uint8Array | undefined {
    const n = this.sources.length
    for (let i = 0; i < n; i++) {
      const at = (this.turn + i) % n
      const frame = this.sources[at]?.nextFrame()
      if (frame !== undefined) {
        this.turn = (at + 1) % n
        return frame
      }
    }
    return undefined
  }

  private waitForLow(): void {
    this.waitingForLow = true
    if (this.evented) {
      // The event fires on crossing the threshold; if it was crossed already, go on now.
      if (this.channel.bufferedAmount <= this.low) this.onLow()
      return
    }
    this.pollTimer = setTimeout(this.poll, this.pollMs)
  }

  private readonly poll = (): void => {
    this.pollTimer = undefined
    if (this.closed) return
    if (this.channel.bufferedAmount <= this.low) this.onLow()
    else this.pollTimer = setTimeout(this.poll, this.pollMs)
  }

  private readonly onLow = (): void => {
    if (!this.waitingForLow) return
    this.waitingForLow = false
    this.wake()
  }
}
