import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../signaling/config.ts'
import { AddressCounter, addressKey } from '../../../signaling/connection-guards.ts'

describe('the address a per-address cap counts', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('counts %s as %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key)
  })

  it('counts two addresses of one IPv6 /64 together, and of two /64s apart', () => {
    const counter = new AddressCounter(1)
    expect(counter.tryAdd(addressKey('2001:db8:1:2::1'))).toBe(true)
    expect(counter.tryAdd(addressKey('2001:db8:1:2::2'))).toBe(false)
    expect(counter.tryAdd(addressKey('2001:db8:1:3::1'))).toBe(true)
    counter.remove(addressKey('2001:db8:1:2::1'))
    expect(counter.tryAdd(addressKey('2001:db8:1:2::2'))).toBe(true)
  })
})

describe('connection settings', () => {
  it('has a cap and a timeout for everything by default', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      wsMaxQueuedBytes: 1_048_576,
      wsMaxQueuedFrames: 1024,
      wsMaxPerUser: 32,
      maxConnectionsPerIp: 256,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
    })
  })

  it.each([
    [{ WS_MAX_QUEUED_BYTES: '1000' }, 'WS_MAX_QUEUED_BYTES must be at least 65536'],
    [{ WS_NODE_MAX_QUEUED_BYTES: '65536' }, 'WS_NODE_MAX_QUEUED_BYTES must be at least WS_MAX_QUEUED_BYTES'],
    [{ HEADERS_TIMEOUT_MS: '60000' }, 'HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS'],
    [{ MAX_CONNECTIONS_PER_IP: '-1' }, 'MAX_CONNECTIONS_PER_IP must be 0 or a positive integer'],
    [{ WS_MAX_PER_USER: '0' }, 'WS_MAX_PER_USER must be a positive integer'],
  ])('refuses %o, naming the setting', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError)
    expect(() => loadConfig(env)).toThrow(message)
  })
})
