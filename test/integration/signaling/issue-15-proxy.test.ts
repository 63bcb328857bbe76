// Issue 15, D3: behind a proxy, only the proxy may say who the client is. With the old
// TRUST_PROXY=true, a client wrote its own first X-Forwarded-For entry and nginx's
// `$proxy_add_x_forwarded_for` kept it: 100 of 100 prelogins passed a per-IP limit of 30, and
// the log recorded the forged address.
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../signaling/config.ts'
import { Api } from '../../helpers/api.ts'
import { startServer, startServerProcess, type ServerProcess } from '../../helpers/server.ts'

const limit = 5
/** The address the proxy saw, as nginx appends it after whatever the client sent. */
const clientAddress = '198.51.100.7'

let server: ServerProcess | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
})

/** `limit + 1` prelogins, each claiming a different address first, as a forging client would. */
async function forgedPrelogins(api: Api): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i <= limit; i++) {
    const reply = await api.raw('POST', '/api/prelogin', {
      body: { username: 'someone' },
      headers: { 'x-forwarded-for': `203.0.113.${i + 1}, ${clientAddress}` },
    })
    statuses.push(reply.status)
  }
  return statuses
}

describe('TRUST_PROXY', () => {
  it.each([
    ['the number of proxies in front', '1'],
    ["the proxy's address", '127.0.0.1'],
    ["a range holding the proxy's address", '10.0.0.0/8, 127.0.0.0/8'],
  ])('set to %s, counts the address the proxy saw, not the one the client wrote', async (_what, trust) => {
    const inProcess = await startServer({ env: { TRUST_PROXY: trust, AUTH_RATE_PER_IP: String(limit) } })
    try {
      expect(await forgedPrelogins(inProcess.api)).toEqual([...Array<number>(limit).fill(200), 429])
    } finally {
      await inProcess.close()
    }
  })

  it('logs the address the proxy saw', async () => {
    server = await startServerProcess({
      env: { TRUST_PROXY: '1', AUTH_RATE_PER_IP: String(limit), LOG_LEVEL: 'info' },
    })

    await forgedPrelogins(new Api(server.baseUrl))

    expect(server.output()).toContain(`"remoteAddress":"${clientAddress}"`)
    expect(server.output()).not.toMatch(/"remoteAddress":"203\.0\.113\./)
  })

  it('ignores X-Forwarded-For from an address that is not a trusted proxy', async () => {
    const inProcess = await startServer({
      env: { TRUST_PROXY: '192.0.2.1', AUTH_RATE_PER_IP: String(limit) },
    })
    try {
      expect(await forgedPrelogins(inProcess.api)).toEqual([...Array<number>(limit).fill(200), 429])
      const other = await inProcess.api.raw('POST', '/api/prelogin', {
        body: { username: 'someone' },
        headers: { 'x-forwarded-for': '192.0.2.200' },
      })
      expect(other.status).toBe(429)
    } finally {
      await inProcess.close()
    }
  })

  it('refuses true, which would trust every hop, saying what to set instead', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(ConfigError)
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY=127\.0\.0\.1.*TRUST_PROXY=1/)
  })

  it('takes nothing, a hop count, or addresses and ranges, and refuses anything else by name', () => {
    expect(loadConfig({}).trustProxy).toBe(false)
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false)
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2)
    expect(loadConfig({ TRUST_PROXY: '127.0.0.1, ::1, 10.0.0.0/8, fd00::/8, loopback' }).trustProxy).toEqual([
      '127.0.0.1',
      '::1',
      '10.0.0.0/8',
      'fd00::/8',
      'loopback',
    ])
    for (const bad of ['yes', '10.0.0.0/33', '10.0.0', 'nginx.local', '::1/129', '-1'])
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/)
  })
})
