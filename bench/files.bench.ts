// Issue 5: file throughput between two headless Chromium pages on loopback, through the real
// server — raw data channel frames against Tincan's encrypted, stored, verified transfer, with the
// same chunk size and the same flow control, in the same run; and each page's memory meanwhile.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { chunkFrameHeaderBytes, chunkSizeFor } from '../client/core/files/chunk-frame.ts'
import type { FileTuning } from '../client/core/files/transfers.ts'
import type { SendSchedulerOptions } from '../client/core/peer/send-scheduler.ts'
import { findChromium, launchChromium } from '../test/e2e/browser.ts'
import { percentile, startServerProcess } from './server-process.ts'
import { callPage, waitFor as poll } from './page-driver.ts'
import { cpuPerItem, processCpu } from './process-cpu.ts'
import type { Bench, BenchResult } from './types.ts'

const MiB = 1024 * 1024
const fileBytes = Number(process.env.BENCH_FILE_MIB ?? 1024) * MiB
const rawBytes = Number(process.env.BENCH_RAW_MIB ?? 256) * MiB
interface Knobs {
  readonly flowControl?: SendSchedulerOptions
  readonly files?: Partial<FileTuning>
  readonly receiveInPage?: boolean
}
/** BENCH_FILE_KNOBS='{"flowControl":{"highWaterBytes":4194304}}' tries other settings. */
const knobs = JSON.parse(process.env.BENCH_FILE_KNOBS ?? '{}') as Knobs

interface BenchPage {
  register(username: string, knobs: Knobs): Promise<void>
  request(to: string): Promise<void>
  accept(from: string): Promise<void>
  isOnline(peer: string): boolean
  connect(peer: string): Promise<number>
  rawExpect(fileId: number[], total: number): void
  rawDone(): { received: number; doneAt: number | null }
  rawSend(peer: string, fileId: number[], count: number, frameBytes: number): number
  send(peer: string, text: string): Promise<number>
  arrivals(texts: string[]): (number | null)[]
  offerFile(peer: string, size: number, seed: number): Promise<{ fileId: string; prepareMs: number }>
  acceptFile(fileId: string): Promise<number>
  watchFile(fileId: string): void
  fileState(fileId: string): Promise<{ state: string; error: string | null; doneAt: number | null }>
  deleteFile(fileId: string): Promise<void>
  heapBytes(): number
}

/** File transfers run for minutes: poll the pages every 50 ms, not every 5. */
function waitFor<T>(probe: () => Promise<T | null | false>, timeoutMs: number, what: string): Promise<T> {
  return poll(probe, timeoutMs, what, 50)
}

function call<M extends keyof BenchPage>(page: Page, method: M, ...args: Parameters<BenchPage[M]>) {
  return callPage<BenchPage, M>(page, method, ...(args as never))
}

function rssBytes(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return Number(kb ?? 0) * 1024
  } catch {
    return 0
  }
}

/** Samples every renderer's resident memory; peak per process. */
function sampleMemory(browser: Browser): { stop(): Map<number, number>; peaks: Map<number, number> } {
  const peaks = new Map<number, number>()
  let stopped = false
  const timer = setInterval(() => {
    processCpu(browser).then(
      (list) => {
        if (stopped) return
        for (const p of list)
          if (p.type === 'renderer') peaks.set(p.id, Math.max(peaks.get(p.id) ?? 0, rssBytes(p.id)))
      },
      () => undefined,
    )
  }, 250)
  return {
    peaks,
    stop() {
      stopped = true
      clearInterval(timer)
      return peaks
    },
  }
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** BENCH_PROFILE=1: a CPU profile of each page's main thread during the transfer, top functions by self time. */
async function profiled<T>(pages: readonly Page[], work: () => Promise<T>): Promise<T> {
  if (process.env.BENCH_PROFILE !== '1') return work()
  const sessions = await Promise.all(pages.map((p) => p.context().newCDPSession(p)))
  for (const s of sessions) {
    await s.send('Profiler.enable')
    await s.send('Profiler.setSamplingInterval', { interval: 500 })
    await s.send('Profiler.start')
  }
  const result = await work()
  for (const [i, s] of sessions.entries()) {
    const { profile } = (await s.send('Profiler.stop')) as unknown as { profile: Profile }
    const self = new Map<number, number>()
    profile.samples.forEach((id, k) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[k] ?? 0)))
    const byName = new Map<string, number>()
    let total = 0
    for (const n of profile.nodes) {
      const us = self.get(n.id) ?? 0
      total += us
      const f = n.callFrame
      const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber}`
      byName.set(name, (byName.get(name) ?? 0) + us)
    }
    console.log(
      `  page ${i === 0 ? 'sender' : 'receiver'} main thread, ${(total / 1e6).toFixed(1)} s sampled:`,
    )
    for (const [name, us] of [...byName.entries()].sort((x, y) => y[1] - x[1]).slice(0, 12))
      console.log(`    ${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`)
    await s.detach()
  }
  return result
}

/**
 * Chat while bulk data moves: one message every 200 ms from a to b until `stop()`, then each
 * one's time from send to rendered at b (only those sent before `until`).
 */
function chatAlong(a: Page, b: Page, peer: string, tag: string): { stop(until: number): Promise<number[]> } {
  const sent: [string, number][] = []
  let going = true
  const loop = (async () => {
    for (let i = 0; going; i++) {
      const text = `${tag} ${i}`
      sent.push([text, await call(a, 'send', peer, text)])
      await new Promise((r) => setTimeout(r, 200))
    }
  })()
  return {
    async stop(until) {
      going = false
      await loop
      const arrived = await waitFor(
        async () => {
          const times = await call(
            b,
            'arrivals',
            sent.map(([t]) => t),
          )
          return times.every((t) => t !== null) ? times : null
        },
        30_000,
        `chat "${tag}"`,
      )
      return sent
        .map(([, at], i) => ({ at, ms: (arrived[i] ?? 0) - at }))
        .filter((l) => l.at < until)
        .map((l) => l.ms)
        .sort((x, y) => x - y)
    },
  }
}

const mibPerS = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000)

const bench: Bench = {
  name: 'files',
  async run() {
    const chromium = findChromium()
    if (chromium === undefined) throw new Error('Chromium is needed for the files benchmark')
    const built = spawnSync(
      process.execPath,
      ['node_modules/vite/bin/vite.js', 'build', '--config', 'bench/vite.config.ts'],
      { stdio: 'inherit' },
    )
    if (built.status !== 0) throw new Error('building the bench page failed')
    const server = await startServerProcess({ CLIENT_DIR: 'dist/bench', AUTH_RATE_PER_IP: '100000' })
    const browser = await launchChromium(chromium)
    const memory = sampleMemory(browser)
    try {
      const [a, b] = await Promise.all([browser.newPage(), browser.newPage()])
      if (a === undefined || b === undefined) throw new Error('no pages')
      for (const p of [a, b]) {
        p.on('console', (m) => {
          if (m.type() === 'error') console.error(`  page: ${m.text()}`)
        })
        await p.goto(server.url)
        await p.waitForFunction(() => document.title === 'ready')
      }
      const suffix = randomBytes(3).toString('hex')
      const alice = `alice${suffix}`
      const bob = `bob${suffix}`
      await call(a, 'register', alice, knobs)
      await call(b, 'register', bob, knobs)
      await call(a, 'request', bob)
      await call(b, 'accept', alice)
      await waitFor(() => call(a, 'isOnline', bob), 10_000, 'presence')
      await waitFor(() => call(b, 'isOnline', alice), 10_000, 'presence')
      const maxMessageBytes = await call(a, 'connect', bob)
      const chunkSize = chunkSizeFor(maxMessageBytes)
      const frameBytes = chunkFrameHeaderBytes + chunkSize + 17

      // Raw: frames of a chunk's size through the same scheduler, nothing else.
      const rawId = [...randomBytes(16)]
      const frames = Math.ceil(rawBytes / frameBytes)
      await call(b, 'rawExpect', rawId, frames * frameBytes)
      const cpu0 = await processCpu(browser)
      const chatDuringRaw = chatAlong(a, b, bob, 'while raw frames move')
      const rawStart = await call(a, 'rawSend', bob, rawId, frames, frameBytes)
      const rawEnd = await profiled([a, b], () =>
        waitFor(async () => (await call(b, 'rawDone')).doneAt, 600_000, 'raw frames'),
      )
      const rawRate = mibPerS(frames * frameBytes, rawEnd - rawStart)
      const rawLatencies = await chatDuringRaw.stop(rawEnd)
      const rawCpu = cpuPerItem(
        cpu0,
        await processCpu(browser),
        (frames * frameBytes) / MiB,
        rawEnd - rawStart,
        'MiB',
        'ms',
      )
      console.log(
        `  raw: ${rawRate.toFixed(1)} MiB/s in ${((rawEnd - rawStart) / 1000).toFixed(1)} s; ${rawCpu}`,
      )

      // Tincan: a generated file is prepared (hashed, encrypted, stored), offered, accepted, sent.
      const { fileId, prepareMs } = await call(a, 'offerFile', bob, fileBytes, 7)
      console.log(`  prepared ${fileBytes / MiB} MiB in ${(prepareMs / 1000).toFixed(1)} s`)
      if (process.env.BENCH_DEBUG === '1')
        console.log(
          '  peaks so far',
          [...memory.peaks.values()].map((v) => (v / 1e6).toFixed(0)),
        )
      await call(b, 'watchFile', fileId)
      const cpu1 = await processCpu(browser)
      const acceptedAt = await call(b, 'acceptFile', fileId)
      const heapPeaks = [0, 0]
      const chatDuringFile = chatAlong(a, b, bob, 'while the file moves')
      const done = await profiled([a, b], () =>
        waitFor(
          async () => {
            const [ha, hb] = await Promise.all([call(a, 'heapBytes'), call(b, 'heapBytes')])
            heapPeaks[0] = Math.max(heapPeaks[0] ?? 0, ha)
            heapPeaks[1] = Math.max(heapPeaks[1] ?? 0, hb)
            const s = await call(b, 'fileState', fileId)
            if (s.state === 'failed') throw new Error(`transfer failed: ${s.error ?? ''}`)
            return s.doneAt
          },
          1_800_000,
          'the file',
        ),
      )
      const latencies = await chatDuringFile.stop(done)
      const fileRate = mibPerS(fileBytes, done - acceptedAt)
      const fileCpu = cpuPerItem(
        cpu1,
        await processCpu(browser),
        fileBytes / MiB,
        done - acceptedAt,
        'MiB',
        'ms',
      )
      console.log(
        `  tincan: ${fileRate.toFixed(1)} MiB/s in ${((done - acceptedAt) / 1000).toFixed(1)} s; ${fileCpu}`,
      )
      await call(a, 'deleteFile', fileId)
      await call(b, 'deleteFile', fileId)
      const peaks = [...memory.stop().values()].sort((x, y) => y - x)
      const peakMb = (peaks[0] ?? 0) / 1e6
      const ratio = fileRate / rawRate
      const where = `two pages of one headless Chromium on loopback (2 shared cores), chunk ${chunkSize / 1024} KiB (remote max-message-size ${maxMessageBytes}), flow control high ${(knobs.flowControl?.highWaterBytes ?? MiB) / MiB} MiB / low ${(knobs.flowControl?.lowWaterBytes ?? MiB / 4) / 1024} KiB`
      const results: BenchResult[] = [
        {
          issue: 5,
          metric: 'raw data channel throughput (same frames, same flow control)',
          value: rawRate,
          unit: 'MiB/s',
          target: '',
          met: null,
          conditions: `${Math.round((frames * frameBytes) / MiB)} MiB; ${rawCpu}; ${where}`,
        },
        {
          issue: 5,
          metric: `Tincan encrypted file throughput, ${fileBytes / MiB} MiB (accept → verified and stored)`,
          value: fileRate,
          unit: 'MiB/s',
          target: '',
          met: null,
          conditions: `sender reads stored ciphertext; receiver decrypts, hashes (BLAKE2b) and writes to IndexedDB in a Worker; ${fileCpu}; ${where}`,
        },
        {
          issue: 5,
          metric: 'Tincan / raw',
          value: ratio,
          unit: '×',
          target: '≥ 0.92 (issue 17; issue 5 asked ≥ 0.85)',
          met: ratio >= 0.92,
          before: '0.87 (4db99a7, issue 17)',
          conditions: 'same run, same page pair',
        },
        {
          issue: 5,
          metric: 'Tincan file throughput in MB/s',
          value: (fileRate * MiB) / 1e6,
          unit: 'MB/s',
          target: '30–48 MB/s (Chrome to Chrome on one desktop)',
          met: (fileRate * MiB) / 1e6 >= 30,
          conditions:
            'the gap is the machine, not the protocol: raw frames alone reach only the figure above, with the CPU of 2 shared cores spent in Chromium’s WebRTC threads (renderer: SCTP, DTLS) and network service (UDP through IPC); Tincan adds decryption, BLAKE2b and IndexedDB (the CPU per MiB above)',
        },
        {
          issue: 5,
          metric: 'chat message latency during the file transfer, p50',
          value: percentile(latencies, 50),
          unit: 'ms',
          target: '≤ 20 ms (issue 17)',
          met: percentile(latencies, 50) <= 20,
          before: '141 ms (4db99a7, issue 17)',
          conditions: `${latencies.length} messages, one every 200 ms, send → rendered at the friend; p90 ${Math.round(percentile(latencies, 90))} ms; during the raw run p50 ${Math.round(percentile(rawLatencies, 50))} ms, p90 ${Math.round(percentile(rawLatencies, 90))} ms`,
        },
        {
          issue: 5,
          metric: `preparing a ${fileBytes / MiB} MiB file (read, hash, encrypt, store)`,
          value: mibPerS(fileBytes, prepareMs),
          unit: 'MiB/s',
          target: '',
          met: null,
          conditions: `${(prepareMs / 1000).toFixed(1)} s before the offer goes out; data generated in the page from a seeded PRNG`,
        },
        {
          issue: 5,
          metric: 'peak memory of a page during the transfer (renderer RSS)',
          before: '284 MB (4db99a7, issue 17)',
          value: peakMb,
          unit: 'MB',
          target: '< 300 MB',
          met: peakMb < 300,
          conditions: `highest of ${peaks.length} renderer processes, sampled every 250 ms; JS heap peaks ${(Math.max(...heapPeaks) / 1e6).toFixed(0)} MB`,
        },
      ]
      return results
    } finally {
      memory.stop()
      await browser.close()
      await server.stop()
    }
  },
}
export default bench
