import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { closeCodes } from '../../../shared/index.ts'
import { registerAccount } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  // Only the clock and the server's periodic sweeps are simulated; sockets and I/O are real.
  vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
  server = await startServer()
})
afterEach(() => sockets.closeAll())
afterAll(async () => {
  vi.useRealTimers()
  await server.close()
})

describe('a socket whose session expires while it is connected', () => {
  it('is closed with 4403, while a socket of a live session stays open', async () => {
    const old = await registerAccount(server.api, 'old')
    const oldSocket = await sockets.connect(old.token)
    vi.setSystemTime(Date.now() + server.config.tokenTtlMs - 60_000)
    const fresh = await registerAccount(server.api, 'fresh')
    const freshSocket = await sockets.connect(fresh.token)

    vi.setSystemTime(Date.now() + 120_000)
    vi.advanceTimersByTime(30_000)

    expect((await oldSocket.closed).code).toBe(closeCodes.sessionEnded)
    freshSocket.send({ type: 'ping', ref: 'still-here' })
    expect(await freshSocket.next('pong')).toEqual({ type: 'pong', ref: 'still-here' })
  })
})
