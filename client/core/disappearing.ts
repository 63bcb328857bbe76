import type { History, Message, RemovedMessage } from './store/history.ts'

export interface ExpirySweeperOptions {
  readonly history: History
  /** Told what left the history (and whose quotes were cleared), after each sweep that removed something. */
  readonly onExpired: (out: { removed: RemovedMessage[]; updated: Message[] }) => Promise<void>
  readonly now?: () => number
  /**
   * The longest single wait (default one hour): a timer far in the future is re-armed in steps,
   * so a clock that jumped or a machine that slept is caught up with.
   */
  readonly maxWaitMs?: number
  readonly onError?: (e: unknown) => void
}

/**
 * Deletes disappearing messages when their time runs out: once at start (whatever expired while
 * the app was closed), then by one timer set for the next message due (the `byExpiry` index
 * gives it), moved earlier whenever a message due sooner is stored.
 */
export class ExpirySweeper {
  private readonly now: () => number
  private readonly maxWaitMs: number
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer fires; Infinity when none is armed. */
  private armedFor = Infinity
  private running: Promise<void> = Promise.resolve()
  private closed = false

  constructor(private readonly o: ExpirySweeperOptions) {
    this.now = o.now ?? Date.now
    this.maxWaitMs = o.maxWaitMs ?? 60 * 60 * 1000
  }

  /** Sweeps now and arms the timer for the next message due. Resolves when this sweep is done. */
  sweep(): Promise<void> {
    const run = this.running.then(async () => {
      if (this.closed) return
      const out = await this.o.history.expire(this.now())
      if (this.closed) return
      if (out.removed.length > 0 || out.updated.length > 0) await this.o.onExpired(out)
      this.disarm()
      const next = await this.o.history.nextExpiry()
      if (next !== undefined) this.arm(next)
    })
    this.running = run.catch((e: unknown) => {
      if (!this.closed) this.o.onError?.(e)
    })
    return this.running
  }

  /** A message due at `expiresAt` was stored: make sure the timer fires by then. */
  schedule(expiresAt: number): void {
    if (!this.closed && expiresAt < this.armedFor) this.arm(expiresAt)
  }

  close(): void {
    this.closed = true
    this.disarm()
  }

  private arm(at: number): void {
    this.disarm()
    const waitMs = Math.min(Math.max(0, at - this.now()), this.maxWaitMs)
    this.armedFor = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.armedFor = Infinity
      void this.sweep()
    }, waitMs)
  }

  private disarm(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.armedFor = Infinity
  }
}
