import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import WebSocket from 'ws'
import { limits } from '../../shared/index.ts'
import { Api, makeFriends, registerAccount } from './api.ts'

/**
 * Issue 15, D1, as the attacker ran it: two friends, one of whose sockets stops reading while
 * the other sends the largest signals the protocol allows, as fast as the per-socket frame rate
 * lets it, on several sockets. Meanwhile an honest client pings the server. Used by the
 * regression test and by `npm run bench -- server`.
 */
export interface SlowReaderAttack {
  /** Where each party connects (several nodes: the reader on one, the flooder on another). */
  readonly readerBaseUrl: string
  readonly flooderBaseUrl: string
  readonly honestBaseUrl: string
  readonly flooderSockets: number
  /** Per flooding socket; the server's default WS_FRAMES_PER_S is 200. */
  readonly framesPerS: number
  /**
   * The flood lasts at least minDurationMs, then until the flooder has been told
   * `recipient-busy` (how long that takes depends on the machine), or maxDurationMs.
   */
  readonly minDurationMs: number
  readonly maxDurationMs: number
  readonly pingEveryMs: number
  /** Resident memory of the process that holds the reader's socket. */
  readonly rssBytes: () => number
  /** Called every ~250 ms during the attack (to sample /metrics, say). */
  readonly onSample?: () => Promise<void>
}

export interface SlowReaderResult {
  /** How long the flood lasted. */
  readonly durationMs: number
  readonly rssStartBytes: number
  readonly rssPeakBytes: number
  /** After the attack stopped and the reader's socket was let go. */
  readonly rssEndBytes: number
  readonly framesSent: number
  /** The flooder's answers: `sent`, and error codes (`recipient-busy`, `peer-offline`, …). */
  readonly answers: Readonly<Record<string, number>>
  /** Round trips of the honest client's pings, in ms, in order. */
  readonly pingsMs: readonly number[]
  /** Pings sent and never answered. */
  readonly pingsLost: number
  /** How the server closed the reader's socket, once it read again (undefined: still open). */
  readonly readerClosedWith: number | undefined
}

/**
 * The flooder runs on a thread of its own: sending 10 MB/s costs CPU, and on the same event loop
 * it would delay the honest client's pongs and count as the server's lateness. Plain CommonJS,
 * so the thread needs no TypeScript loader. Reports its tally every 250 ms and when told to stop.
 */
const flooderSource = `
const { parentPort, workerData: w } = require('node:worker_threads')
const WebSocket = require(w.wsPath)
const text = JSON.stringify({ type: 'signal', to: w.to, sid: 'flood-session', envelope: 'e'.repeat(w.envelopeLength) })
const answers = {}
let framesSent = 0
const sockets = []
const report = (done) => parentPort.postMessage({ answers, framesSent, open: sockets.length, done })
for (let i = 0; i < w.sockets; i++) {
  const ws = new WebSocket(w.wsUrl, { perMessageDeflate: false })
  let ready = false
  ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: w.token })))
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (!ready) {
      if (frame.type === 'ready') { ready = true; sockets.push(ws) }
      return
    }
    const key = frame.type === 'error' ? frame.code : frame.type
    answers[key] = (answers[key] || 0) + 1
  })
  ws.on('error', () => {})
}
const tickMs = 50
let carry = 0
const flood = setInterval(() => {
  carry += (w.framesPerS * tickMs) / 1000
  const n = Math.floor(carry)
  carry -= n
  for (const ws of sockets) {
    if (ws.readyState !== WebSocket.OPEN) continue
    for (let i = 0; i < n; i++) ws.send(text)
    framesSent += n
  }
}, tickMs)
const tally = setInterval(() => report(false), 250)
parentPort.on('message', (m) => {
  if (m === 'stop') clearInterval(flood)
  if (m === 'close') {
    clearInterval(tally)
    for (const ws of sockets) ws.terminate()
    report(true)
    parentPort.close()
  }
})
`

interface FloodTally {
  readonly answers: Record<string, number>
  readonly framesSent: number
  readonly open: number
  readonly done: boolean
}

async function authenticated(
  baseUrl: string,
  token: string,
  onFrame?: (raw: string) => void,
): Promise<WebSocket> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`, { perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
    let ready = false
    ws.on('message', (data: Buffer) => {
      const raw = data.toString()
      if (ready) {
        onFrame?.(raw)
        return
      }
      const frame = JSON.parse(raw) as { type: string }
      if (frame.type === 'ready') {
        ready = true
        resolve()
      } else reject(new Error(`auth refused: ${raw}`))
    })
  })
  return ws
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function runSlowReaderAttack(o: SlowReaderAttack): Promise<SlowReaderResult> {
  const [reader, flooder, honest] = await Promise.all([
    registerAccount(new Api(o.readerBaseUrl), 'reader'),
    registerAccount(new Api(o.flooderBaseUrl), 'flooder'),
    registerAccount(new Api(o.honestBaseUrl), 'honest'),
  ])
  await makeFriends(flooder, reader)

  const readerSocket = await authenticated(o.readerBaseUrl, reader.token)
  const readerClosed = new Promise<number>((r) => readerSocket.once('close', (code: number) => r(code)))
  // Stop reading: the kernel's buffers fill, then whatever the server queues stays with it.
  readerSocket.pause()
  const flooderThread = new Worker(flooderSource, {
    eval: true,
    workerData: {
      wsPath: createRequire(import.meta.url).resolve('ws'),
      wsUrl: `${o.flooderBaseUrl.replace(/^http/, 'ws')}/ws`,
      token: flooder.token,
      to: reader.username,
      sockets: o.flooderSockets,
      framesPerS: o.framesPerS,
      envelopeLength: limits.envelopeMaxLength,
    },
  })
  let tally: FloodTally = { answers: {}, framesSent: 0, open: 0, done: false }
  const finished = new Promise<void>((resolve, reject) => {
    flooderThread.on('message', (m: FloodTally) => {
      tally = m
      if (m.done) resolve()
    })
    flooderThread.once('error', reject)
  })
  const pingsMs: number[] = []
  const pingSentAt = new Map<string, number>()
  const honestSocket = await authenticated(o.honestBaseUrl, honest.token, (raw) => {
    const frame = JSON.parse(raw) as { type: string; ref?: string }
    const at = frame.ref === undefined ? undefined : pingSentAt.get(frame.ref)
    if (frame.type !== 'pong' || at === undefined || frame.ref === undefined) return
    pingSentAt.delete(frame.ref)
    pingsMs.push(performance.now() - at)
  })

  const rssStartBytes = o.rssBytes()
  let rssPeakBytes = rssStartBytes
  let pingRef = 0
  const ping = setInterval(() => {
    const ref = `p${pingRef++}`
    pingSentAt.set(ref, performance.now())
    honestSocket.send(JSON.stringify({ type: 'ping', ref }))
  }, o.pingEveryMs)
  const started = Date.now()
  const going = (): boolean => {
    const elapsed = Date.now() - started
    if (elapsed < o.minDurationMs) return true
    return elapsed < o.maxDurationMs && (tally.answers['recipient-busy'] ?? 0) === 0
  }
  while (going()) {
    await sleep(250)
    rssPeakBytes = Math.max(rssPeakBytes, o.rssBytes())
    await o.onSample?.()
  }
  flooderThread.postMessage('stop')
  clearInterval(ping)
  const durationMs = Date.now() - started
  // Answers still on their way are not lost (the machine may be busy).
  await sleep(3_000)
  const pingsLost = pingSentAt.size

  readerSocket.resume()
  const readerClosedWith = await Promise.race([readerClosed, sleep(5_000).then(() => undefined)])
  flooderThread.postMessage('close')
  await finished
  for (const ws of [readerSocket, honestSocket]) ws.terminate()
  await sleep(1_000)
  return {
    durationMs,
    rssStartBytes,
    rssPeakBytes,
    rssEndBytes: o.rssBytes(),
    framesSent: tally.framesSent,
    answers: tally.answers,
    pingsMs,
    pingsLost,
    readerClosedWith,
  }
}

/** Resident memory of a process, from /proc (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}
