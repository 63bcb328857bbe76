// CPU time of each Chromium process type between two moments, from Chromium itself (SystemInfo
// over CDP): where a step's time goes when the page's own clock cannot say (IndexedDB's work is
// in the browser process, the page's in the renderer).
import type { Browser } from 'playwright-core'

export interface ProcessCpu {
  readonly type: string
  readonly id: number
  /** Seconds. */
  readonly cpuTime: number
}

export async function processCpu(browser: Browser): Promise<ProcessCpu[]> {
  const session = await browser.newBrowserCDPSession()
  try {
    return (await session.send('SystemInfo.getProcessInfo')).processInfo
  } finally {
    await session.detach()
  }
}

/**
 * Where the CPU went between two snapshots, per process type, and how many cores were busy on
 * average: "CPU µs per message: renderer 180, browser 150 (1.6 cores busy)". `per` is what the
 * work is counted in (`message`, or `MiB` with `unit: 'ms'` for throughput runs).
 */
export function cpuPerItem(
  before: readonly ProcessCpu[],
  after: readonly ProcessCpu[],
  items: number,
  wallMs: number,
  per = 'message',
  unit: 'µs' | 'ms' = 'µs',
): string {
  const scale = unit === 'µs' ? 1e6 : 1e3
  const by = new Map<string, number>()
  for (const p of after) {
    const was = before.find((q) => q.id === p.id)?.cpuTime ?? 0
    const type = p.type === 'network.mojom.NetworkService' ? 'network service' : p.type
    by.set(type, (by.get(type) ?? 0) + p.cpuTime - was)
  }
  const total = [...by.values()].reduce((x, y) => x + y, 0)
  const parts = [...by.entries()]
    .filter(([, sec]) => (sec * scale) / items >= 1)
    .sort((x, y) => y[1] - x[1])
    .map(([t, sec]) => `${t} ${Math.round((sec * scale) / items)}`)
  return `CPU ${unit} per ${per}: ${parts.join(', ')} (${((total * 1000) / wallMs).toFixed(2)} cores busy)`
}
