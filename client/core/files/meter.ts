/** Speed over a sliding window, and time left at that speed. */
export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = []

  constructor(
    private readonly windowMs = 3000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records that `bytesDone` bytes are done now. */
  record(bytesDone: number): void {
    const t = this.now()
    this.samples.push({ t, bytes: bytesDone })
    while (this.samples.length > 2 && (this.samples[1]?.t ?? t) < t - this.windowMs) this.samples.shift()
  }

  /** Bytes per second over the window (0 until there are two samples). */
  bytesPerSecond(): number {
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    if (first === undefined || last === undefined || last.t <= first.t) return 0
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t)
  }

  /** Seconds until `total` at the current speed; null while the speed is unknown. */
  etaSeconds(total: number): number | null {
    const last = this.samples[this.samples.length - 1]
    const speed = this.bytesPerSecond()
    if (last === undefined) return null
    if (last.bytes >= total) return 0
    return speed > 0 ? (total - last.bytes) / speed : null
  }

  reset(): void {
    this.samples.length = 0
  }
}
