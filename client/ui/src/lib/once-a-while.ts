/**
 * Lets a notice with the same key through once per `windowMs`: a warning about a friend is
 * worth saying once, not at every attempt to reconnect (a relay that keeps tampering with the
 * friend's calls would otherwise repeat it every few seconds).
 */
export class OnceAWhile {
  private readonly last = new Map<string, number>()

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** True (and remembered) when `key` was not let through within the window. */
  due(key: string): boolean {
    const at = this.now()
    const previous = this.last.get(key)
    if (previous !== undefined && at - previous < this.windowMs) return false
    this.last.set(key, at)
    return true
  }
}
