/**
 * Token buckets keyed by a string (IP, username, socket). Each key holds up to `burst` tokens
 * and regains `perSecond` tokens a second. Idle keys are forgotten, so memory stays bounded by
 * the number of keys active within one refill period.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()
  private lastSweepMs = 0

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token; false when the key is over its rate. */
  take(key: string): boolean {
    const t = this.now()
    this.sweep(t)
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond)
    b.at = t
    this.buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  /** Seconds until the key has a token again. */
  retryAfterS(key: string): number {
    const b = this.buckets.get(key)
    if (b === undefined || b.tokens >= 1) return 0
    return Math.ceil((1 - b.tokens) / this.perSecond)
  }

  private sweep(t: number): void {
    const fullAfterMs = (this.burst / this.perSecond) * 1000
    if (t - this.lastSweepMs < Math.max(fullAfterMs, 1000)) return
    this.lastSweepMs = t
    for (const [k, b] of this.buckets) if (t - b.at >= fullAfterMs) this.buckets.delete(k)
  }
}

/** A limiter for "N per minute", with a burst of N. */
export const perMinute = (n: number): RateLimiter => new RateLimiter(n, n / 60)

/** A limiter for "N per hour", with a burst of N. */
export const perHour = (n: number): RateLimiter => new RateLimiter(n, n / 3600)
