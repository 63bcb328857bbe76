import { randomBytes } from 'node:crypto'
import { createTestDatabase } from './test/helpers/postgres.ts'
import { startServerProcess } from './test/helpers/server.ts'
import { rssOf, runSlowReaderAttack } from './test/helpers/slow-reader-attack.ts'
const db = await createTestDatabase()
const prefix = `tincan-test:${randomBytes(6).toString('hex')}:`
const env = { DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: prefix }
const a = await startServerProcess({ env }); const b = await startServerProcess({ env })
const one = process.argv[2] === 'one'
const m = async (u: string) => { const t = await (await fetch(u + '/metrics')).text(); return [/frames_received_total (\d+)/.exec(t)?.[1], /relayed_total (\d+)/.exec(t)?.[1], /queued_bytes (\d+)/.exec(t)?.[1]].join('/') }
const r = await runSlowReaderAttack({ flooderSockets: 2, framesPerS: 200, minDurationMs: 10000, maxDurationMs: 10000, pingEveryMs: 20,
  readerBaseUrl: b.baseUrl, flooderBaseUrl: one ? b.baseUrl : a.baseUrl, honestBaseUrl: b.baseUrl, rssBytes: () => rssOf(b.child.pid!),
  onSample: async () => console.log('A', await m(a.baseUrl), 'B', await m(b.baseUrl)) })
console.log(JSON.stringify({ ...r, pingsMs: r.pingsMs.length }))
console.log(a.output().slice(-2000)); await a.stop(); await b.stop(); await db.drop()
