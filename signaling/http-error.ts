import type { ErrorCode } from '../shared/index.ts'

const statusOf: Partial<Record<ErrorCode, number>> = {
  'bad-request': 400,
  'bad-json': 400,
  'too-deep': 400,
  self: 400,
  'group-full': 400,
  'too-many-groups': 409,
  unauthorized: 401,
  'invalid-credentials': 401,
  forbidden: 403,
  'not-friends': 403,
  'not-member': 404,
  'not-admin': 403,
  blocked: 409,
  'not-found': 404,
  'username-taken': 409,
  'already-friends': 409,
  conflict: 409,
  'payload-too-large': 413,
  'rate-limited': 429,
  'storage-unavailable': 503,
  internal: 500,
}

/** An expected failure of a route: answered as `{ error: { code, message } }` with its status. */
export class HttpError extends Error {
  override readonly name = 'HttpError'
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message)
    this.status = statusOf[code] ?? 400
  }
}
