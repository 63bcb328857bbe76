import { startServerProcess } from './bench/server-process.ts'
import { runSlowReaderAttack } from './test/helpers/slow-reader-attack.ts'
const s = await startServerProcess({ AUTH_RATE_PER_IP: '100000' })
const r = await runSlowReaderAttack({ flooderSockets: 2, framesPerS: 200, minDurationMs: 10000, maxDurationMs: 10000, pingEveryMs: 20,
  readerBaseUrl: s.url, flooderBaseUrl: s.url, honestBaseUrl: s.url, rssBytes: () => s.rssBytes() })
const sorted = [...r.pingsMs].sort((a,b)=>a-b)
console.log(JSON.stringify({ ...r, pingsMs: r.pingsMs.length, p50: sorted[Math.floor(sorted.length/2)], late: r.pingsMs.filter(x=>x>50).length }))
await s.stop()
