/**
 * A set of non-negative integers (the iterations of one sender-key epoch) kept as sorted,
 * disjoint, half-open ranges [from, to): a member that holds messages 0 … 999 of an epoch
 * describes them as one pair, however many there are.
 */
export class RangeSet {
  /** Sorted, disjoint, non-adjacent [from, to) pairs. */
  private ranges: [number, number][] = []

  static of(pairs: readonly (readonly [number, number])[]): RangeSet {
    const set = new RangeSet()
    for (const [from, to] of pairs) set.addRange(from, to)
    return set
  }

  has(n: number): boolean {
    // Binary search for the last range starting at or before n.
    let lo = 0
    let hi = this.ranges.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const r = this.ranges[mid] as [number, number]
      if (r[0] <= n) {
        if (n < r[1]) return true
        lo = mid + 1
      } else hi = mid - 1
    }
    return false
  }

  add(n: number): boolean {
    if (this.has(n)) return false
    this.addRange(n, n + 1)
    return true
  }

  /** Adds [from, to), merging with overlapping and adjacent ranges. */
  addRange(from: number, to: number): void {
    if (!(to > from)) return
    const out: [number, number][] = []
    let placed = false
    for (const r of this.ranges) {
      if (r[1] < from) out.push(r)
      else if (r[0] > to) {
        if (!placed) {
          out.push([from, to])
          placed = true
        }
        out.push(r)
      } else {
        from = Math.min(from, r[0])
        to = Math.max(to, r[1])
      }
    }
    if (!placed) out.push([from, to])
    this.ranges = out
  }

  addAll(other: RangeSet): void {
    for (const [from, to] of other.ranges) this.addRange(from, to)
  }

  /** The first number not in the set from 0 on: everything below it is held. */
  get contiguous(): number {
    const first = this.ranges[0]
    return first !== undefined && first[0] === 0 ? first[1] : 0
  }

  /** One past the largest number held (0 when empty). */
  get end(): number {
    return this.ranges[this.ranges.length - 1]?.[1] ?? 0
  }

  get size(): number {
    return this.ranges.reduce((n, [from, to]) => n + (to - from), 0)
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0
  }

  /** The pairs, at most `max` of them: the rest are left out (a receiver then gets some twice, never misses one). */
  toPairs(max = Infinity): [number, number][] {
    return this.ranges.slice(0, max).map(([from, to]) => [from, to])
  }
}
