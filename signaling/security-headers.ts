import { STATUS_CODES } from 'node:http'
import { clipErrorMessage, type ErrorBody, type ErrorCode } from '../shared/index.ts'

/**
 * The page may run its own scripts and libsodium's WebAssembly, talk to this origin (HTTP and
 * WebSocket), show images it made itself (blob:, data:), and nothing else: no inline script or
 * style, no plugins, no framing.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ')

/** Sent on every HTTP answer: routes, errors, and the answers written before any route runs. */
export const securityHeaders: Readonly<Record<string, string>> = {
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // The page itself may open the camera: scanning a friend's safety-number QR code.
  'permissions-policy': 'camera=(self), microphone=(), geolocation=(), payment=()',
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message: clipErrorMessage(message) } }
}

/**
 * A complete HTTP/1.1 error answer as bytes to write on a raw socket, for the requests that
 * never become a Fastify request (Node's parser refused them, or the WebSocket handshake was
 * malformed): the same JSON body and headers as any other error, then the connection closes.
 */
export function rawErrorResponse(
  status: number,
  message: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): string {
  const body = JSON.stringify(errorBody('bad-request', message))
  // The standard reason phrase, never the message: that may quote the request.
  const reason = STATUS_CODES[status] ?? 'Error'
  const headers = {
    ...securityHeaders,
    ...extraHeaders,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  }
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`)
  return `HTTP/1.1 ${status} ${reason}\r\n${lines.join('\r\n')}\r\n\r\n${body}`
}
