/** One measured figure, as written to docs/BENCHMARKS.md and bench/results.json. */
export interface BenchResult {
  /** The issue whose benchmark this is. */
  readonly issue: number
  readonly metric: string
  readonly value: number
  readonly unit: string
  /** Human-readable target, e.g. "≥ 250 MB/s"; empty when the figure is informative only. */
  readonly target: string
  /** Whether the target was met; null when there is no target. */
  readonly met: boolean | null
  /** What the figure was measured under (sizes, counts, processes). */
  readonly conditions: string
  /** The figure this one replaces, with where it was measured (e.g. the issue that set the target). */
  readonly before?: string | undefined
}

/** Each bench/*.bench.ts default-exports one of these. */
export interface Bench {
  readonly name: string
  run(): Promise<BenchResult[]>
}
