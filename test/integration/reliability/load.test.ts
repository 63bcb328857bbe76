// Issue 9, load: the short version of bench/load.bench.ts. 200 simulated clients (real sockets,
// real accounts) log in, exchange presence and signals, drop off and come back for 30 s against a
// server in its own process. Figures are printed; only outcomes are asserted, never timings.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { formatReport, runLoad, serverErrorMetrics } from '../../../bench/load.ts'
import { startServerProcess, type ServerProcess } from '../../helpers/server.ts'

let server: ServerProcess

beforeAll(async () => {
  server = await startServerProcess()
})
afterAll(async () => {
  await server.stop()
})

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return Number(kb ?? 0) * 1024
}

it('serves 200 clients that come and go for 30 s without a server error, answers every frame, and gives its memory back', async () => {
  const pid = server.child.pid ?? 0
  const report = await runLoad(
    { baseUrl: server.baseUrl, wsUrl: server.wsUrl, rssBytes: () => rssBytes(pid) },
    { clients: 200, durationMs: 30_000, warmupMs: 10_000, quietMs: 5_000, reconnectEveryMs: 15_000 },
  )
  console.log(`load:\n${formatReport(report)}`)

  expect(report.serverErrorDetail).toEqual([])
  expect(await serverErrorMetrics(server.baseUrl)).toBe(0)
  expect(server.child.exitCode).toBeNull()
  expect(
    server
      .output()
      .split('\n')
      .filter((l) => /"level":(50|60)/.test(l)),
  ).toEqual([])

  // Every well-formed frame was answered, and signals reached the right friend.
  expect(report.framesSent).toBeGreaterThan(1_000)
  expect(report.unanswered).toBe(0)
  expect(report.framesAnswered).toBe(report.framesSent)
  expect(report.misrouted).toBe(0)
  expect(report.reconnects).toBeGreaterThan(100)
  // Once everyone is back, everyone sees exactly their friends online.
  expect(report.presenceMismatches).toBe(0)

  // Memory: back within 10 % of its level after warm-up.
  expect(report.rssEndBytes).toBeLessThanOrEqual(report.rssAfterWarmupBytes * 1.1)
})
