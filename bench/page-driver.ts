import type { Page } from 'playwright-core'

/**
 * Calls a method of `window.bench` in a bench page (bench/page/main.ts), typed by the
 * interface `Api` that the caller declares for the methods it uses.
 */
export function callPage<Api, M extends keyof Api>(
  page: Page,
  method: M,
  ...args: Api[M] extends (...a: infer A) => unknown ? A : never
): Promise<Api[M] extends (...a: never[]) => infer R ? Awaited<R> : never> {
  return page.evaluate(
    ([m, a]) => {
      const bench = (window as unknown as { bench: Record<string, (...x: unknown[]) => unknown> }).bench
      return bench[m as string]?.(...(a as unknown[]))
    },
    [method, args] as const,
  ) as Promise<Api[M] extends (...a: never[]) => infer R ? Awaited<R> : never>
}

/** Polls `probe` until it yields a value, or fails naming what it waited for. */
export async function waitFor<T>(
  probe: () => Promise<T | null | false>,
  timeoutMs: number,
  what: string,
  intervalMs = 5,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== null && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
