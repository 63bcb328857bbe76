import { randomBytes } from 'node:crypto'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import {
  ErrorBody,
  FriendList,
  FriendRequestResult,
  Group,
  GroupListResponse,
  Health,
  IceConfig,
  PendingRequests,
  PreloginResponse,
  PublicUser,
  SessionGrant,
  SessionList,
  UserSearchResponse,
  BlockList,
  defaultKdf,
  type ChangePasswordRequest,
  type CreateGroupRequest,
  type ErrorCode,
  type Kdf,
  type RegisterRequest,
  type RenameGroupRequest,
  type ResetIdentityRequest,
  type UpdateMembersRequest,
} from '../../shared/index.ts'

/** Random base64url of `bytes` random bytes. */
export const randomB64 = (bytes: number): string => randomBytes(bytes).toString('base64url')

/** A fresh username with a readable stem, unique enough that tests sharing a server never collide. */
export function uniqueName(stem = 'user'): string {
  return `${stem.slice(0, 20)}_${randomBytes(5).toString('hex')}`
}

/** A failed REST call: the HTTP status and the `{ error: { code, message } }` the server answered. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'unexpected-body',
    message: string,
    readonly headers: Headers,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export interface RawReply {
  readonly status: number
  readonly headers: Headers
  /** Parsed JSON, the text when it is not JSON, or undefined when empty. */
  readonly body: unknown
}

export interface RawRequest {
  readonly token?: string
  /** Sent as JSON. */
  readonly body?: unknown
  /** Sent verbatim (with content-type application/json unless `headers` says otherwise). */
  readonly rawBody?: string
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * A small typed client for the REST API. Typed methods return the body checked against its
 * schema in shared/, or throw ApiError; `raw` sends anything and returns what came back.
 */
export class Api {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  /** The same client, authenticating with `token`. */
  as(token: string): Api {
    return new Api(this.baseUrl, token)
  }

  async raw(method: string, path: string, request: RawRequest = {}): Promise<RawReply> {
    const token = request.token ?? this.token
    const headers: Record<string, string> = {}
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`
    let body: string | undefined
    if (request.rawBody !== undefined) body = request.rawBody
    else if (request.body !== undefined) body = JSON.stringify(request.body)
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: { ...headers, ...request.headers },
      ...(body === undefined ? {} : { body }),
    })
    const text = await res.text()
    let parsed: unknown = text === '' ? undefined : text
    if (text !== '' && res.headers.get('content-type')?.includes('application/json') === true) {
      parsed = JSON.parse(text) as unknown
    }
    return { status: res.status, headers: res.headers, body: parsed }
  }

  private async call<S extends TSchema | undefined>(
    schema: S,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<S extends TSchema ? Static<S> : undefined> {
    const reply = await this.raw(method, path, body === undefined ? {} : { body })
    const where = `${method} ${path}`
    if (reply.status >= 400) {
      if (!Value.Check(ErrorBody, reply.body))
        throw new ApiError(
          reply.status,
          'unexpected-body',
          `${where}: ${JSON.stringify(reply.body)}`,
          reply.headers,
        )
      const { code, message } = reply.body.error
      throw new ApiError(reply.status, code, `${where}: ${reply.status} ${code}: ${message}`, reply.headers)
    }
    if (schema === undefined) {
      if (reply.body !== undefined)
        throw new ApiError(reply.status, 'unexpected-body', `${where}: expected no body`, reply.headers)
      return undefined as S extends TSchema ? Static<S> : undefined
    }
    if (!Value.Check(schema, reply.body)) {
      const first = Value.Errors(schema, reply.body).First()
      throw new ApiError(
        reply.status,
        'unexpected-body',
        `${where}: body does not match its schema at ${first?.path ?? '/'}: ${JSON.stringify(reply.body)}`,
        reply.headers,
      )
    }
    return reply.body as S extends TSchema ? Static<S> : undefined
  }

  // ---- accounts ----

  prelogin(username: string) {
    return this.call(PreloginResponse, 'POST', '/api/prelogin', { username })
  }
  register(request: RegisterRequest) {
    return this.call(SessionGrant, 'POST', '/api/register', request)
  }
  login(username: string, authKey: string) {
    return this.call(SessionGrant, 'POST', '/api/login', { username, authKey })
  }
  logout() {
    return this.call(undefined, 'POST', '/api/logout')
  }
  sessions() {
    return this.call(SessionList, 'GET', '/api/sessions')
  }
  revokeSession(id: string) {
    return this.call(undefined, 'DELETE', `/api/sessions/${encodeURIComponent(id)}`)
  }
  changePassword(request: ChangePasswordRequest) {
    return this.call(undefined, 'POST', '/api/password', request)
  }
  resetIdentity(request: ResetIdentityRequest) {
    return this.call(undefined, 'PUT', '/api/identity', request)
  }
  deleteAccount(authKey: string) {
    return this.call(undefined, 'DELETE', '/api/account', { authKey })
  }

  // ---- users and friends ----

  searchUsers(prefix: string) {
    return this.call(UserSearchResponse, 'GET', `/api/users?prefix=${encodeURIComponent(prefix)}`)
  }
  user(username: string) {
    return this.call(PublicUser, 'GET', `/api/users/${encodeURIComponent(username)}`)
  }
  friends() {
    return this.call(FriendList, 'GET', '/api/friends')
  }
  friendRequests() {
    return this.call(PendingRequests, 'GET', '/api/friends/requests')
  }
  requestFriend(to: string, note?: string) {
    return this.call(
      FriendRequestResult,
      'POST',
      '/api/friends/requests',
      note === undefined ? { to } : { to, note },
    )
  }
  acceptFriend(from: string) {
    return this.call(FriendRequestResult, 'POST', `/api/friends/requests/${encodeURIComponent(from)}/accept`)
  }
  declineFriend(from: string) {
    return this.call(undefined, 'POST', `/api/friends/requests/${encodeURIComponent(from)}/decline`)
  }
  cancelFriendRequest(to: string) {
    return this.call(undefined, 'DELETE', `/api/friends/requests/${encodeURIComponent(to)}`)
  }
  removeFriend(username: string) {
    return this.call(undefined, 'DELETE', `/api/friends/${encodeURIComponent(username)}`)
  }
  blocks() {
    return this.call(BlockList, 'GET', '/api/blocks')
  }
  block(username: string) {
    return this.call(undefined, 'POST', '/api/blocks', { username })
  }
  unblock(username: string) {
    return this.call(undefined, 'DELETE', `/api/blocks/${encodeURIComponent(username)}`)
  }

  // ---- groups ----

  groups() {
    return this.call(GroupListResponse, 'GET', '/api/groups')
  }
  group(id: string) {
    return this.call(Group, 'GET', `/api/groups/${encodeURIComponent(id)}`)
  }
  createGroup(request: CreateGroupRequest) {
    return this.call(Group, 'POST', '/api/groups', request)
  }
  updateMembers(id: string, request: UpdateMembersRequest) {
    return this.call(Group, 'PUT', `/api/groups/${encodeURIComponent(id)}/members`, request)
  }
  renameGroup(id: string, request: RenameGroupRequest) {
    return this.call(Group, 'PATCH', `/api/groups/${encodeURIComponent(id)}`, request)
  }
  leaveGroup(id: string) {
    return this.call(undefined, 'POST', `/api/groups/${encodeURIComponent(id)}/leave`)
  }

  // ---- operations ----

  ice() {
    return this.call(IceConfig, 'GET', '/api/ice')
  }
  health() {
    return this.call(Health, 'GET', '/healthz')
  }
}

/** What a client keeps about an account: its secrets in the clear, for tests only. */
export interface Credentials {
  readonly username: string
  readonly salt: string
  readonly kdf: Kdf
  readonly authKey: string
  readonly identityKey: string
  readonly keyBundle: string
}

/** Random key material for a new account, as a client would make it (minus the real derivation). */
export function newCredentials(username = uniqueName()): Credentials {
  return {
    username,
    salt: randomB64(16),
    kdf: { ...defaultKdf },
    authKey: randomB64(32),
    identityKey: randomB64(32),
    keyBundle: randomB64(96),
  }
}

export const registerRequest = (c: Credentials): RegisterRequest => ({
  username: c.username,
  salt: c.salt,
  kdf: c.kdf,
  authKey: c.authKey,
  identityKey: c.identityKey,
  keyBundle: c.keyBundle,
})

/** A registered account with a live session: `api` is authenticated with its token. */
export interface Account extends Credentials {
  /** Canonical (lower-case) username as the server knows it. */
  readonly username: string
  readonly token: string
  readonly sessionId: string
  readonly api: Api
}

/** Registers an account (name made unique from `stem`) and returns it logged in. */
export async function registerAccount(
  api: Api,
  stem = 'user',
  overrides: Partial<Credentials> = {},
): Promise<Account> {
  const credentials = { ...newCredentials(uniqueName(stem)), ...overrides }
  const grant = await api.register(registerRequest(credentials))
  return {
    ...credentials,
    username: grant.username,
    token: grant.token,
    sessionId: grant.sessionId,
    api: api.as(grant.token),
  }
}

/** Logs the account in again: another session (device) of the same user. */
export async function loginAgain(api: Api, account: Credentials): Promise<Account> {
  const grant = await api.login(account.username, account.authKey)
  return {
    ...account,
    username: grant.username,
    token: grant.token,
    sessionId: grant.sessionId,
    api: api.as(grant.token),
  }
}

/** `a` asks, `b` accepts: the two are friends. */
export async function makeFriends(a: Account, b: Account): Promise<void> {
  await a.api.requestFriend(b.username)
  await b.api.acceptFriend(a.username)
}
