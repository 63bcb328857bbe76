// Issue 15, D6: the security headers API.md promises on every answer, including the ones the
// framework writes before any route runs (bad percent-encoding, 414, 415, 431, malformed
// requests) and a refused WebSocket handshake. Sent over a raw TCP socket, so nothing in
// between (fetch, undici) can tidy up a request the server must see as it is.
import { connect } from 'node:net'
import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contentSecurityPolicy } from '../../../signaling/app.ts'
import { ErrorBody } from '../../../shared/index.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'

let server: TestServer

beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

const promised = {
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(self), microphone=(), geolocation=(), payment=()',
}

interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: unknown
}

/** Writes `request` as bytes and reads the answer until the server closes the connection. */
function send(request: string): Promise<RawAnswer> {
  const port = Number(new URL(server.baseUrl).port)
  return new Promise((done, fail) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => socket.destroy())
    socket.setTimeout(5_000, () => {
      socket.destroy()
      fail(new Error(`no complete answer to ${JSON.stringify(request.slice(0, 80))}`))
    })
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const bodyText = rest.join('\r\n\r\n')
      let body: unknown = bodyText
      try {
        body = JSON.parse(bodyText) as unknown
      } catch {
        // kept as text: the assertion on the body reports it
      }
      done({ status: Number(statusLine.split(' ')[1]), headers, body })
    })
  })
}

const get = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`
const post = (path: string, type: string, body: string, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`
const upgrade = (key: string, version: string): string =>
  `GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n\r\n`

describe('security headers on framework-level answers', () => {
  it.each([
    ['a path with bad percent-encoding', get('/api/users/%E0%A4%A'), 400, 'bad-request'],
    [
      'a path parameter over the length limit (414)',
      get(`/api/groups/${'a'.repeat(200)}`),
      414,
      'bad-request',
    ],
    ['a body that is not JSON (415)', post('/api/prelogin', 'application/xml', '<hi/>'), 415, 'bad-request'],
    [
      'headers over 16 KiB (431)',
      get('/healthz', `X-Padding: ${'a'.repeat(20_000)}\r\n`),
      431,
      'bad-request',
    ],
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400, 'bad-request'],
    ['an unknown method', get('/api').replace('GET', 'BREW'), 400, 'bad-request'],
    [
      'a Content-Length that is not a number',
      post('/api/prelogin', 'application/json', '{}').replace('Content-Length: 2', 'Content-Length: two'),
      400,
      'bad-request',
    ],
    [
      'both Transfer-Encoding and Content-Length',
      post('/api/prelogin', 'application/json', '{}', 'Transfer-Encoding: chunked\r\n'),
      400,
      'bad-request',
    ],
    ['a WebSocket handshake with a malformed key', upgrade('not-a-key', '13'), 400, 'bad-request'],
    [
      'a WebSocket handshake of an unknown version',
      upgrade('dGhlIHNhbXBsZSBub25jZQ==', '99'),
      400,
      'bad-request',
    ],
    ['invalid JSON', post('/api/prelogin', 'application/json', '{"username":'), 400, 'bad-json'],
    [
      'a body over 64 KiB (413)',
      post('/api/prelogin', 'application/json', `"${'a'.repeat(70_000)}"`),
      413,
      'payload-too-large',
    ],
    ['plain HTTP to the WebSocket endpoint (426)', get('/ws'), 426, 'bad-request'],
  ])('come with %s, on a typed error body', async (_what, request, status, code) => {
    const answer = await send(request)

    expect(answer.status).toBe(status)
    expect(answer.headers).toMatchObject(promised)
    expect(Value.Check(ErrorBody, answer.body)).toBe(true)
    expect(answer.body).toMatchObject({ error: { code } })
  })

  it('still let a well-formed WebSocket handshake through', async () => {
    // The socket stays open after a 101 until the auth timeout: the status line is enough.
    const port = Number(new URL(server.baseUrl).port)
    const status = await new Promise<string>((done) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(upgrade('dGhlIHNhbXBsZSBub25jZQ==', '13')))
      socket.once('data', (chunk: Buffer) => {
        done(chunk.toString('utf8').split('\r\n')[0] ?? '')
        socket.destroy()
      })
    })
    expect(status).toBe('HTTP/1.1 101 Switching Protocols')
  })
})
