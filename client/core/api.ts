import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import {
  BlockList,
  FriendList,
  FriendRequestResult,
  Group,
  GroupListResponse,
  IceConfig,
  PendingRequests,
  PreloginResponse,
  PublicUser,
  SessionGrant,
  SessionList,
  UserSearchResponse,
  type ChangePasswordRequest,
  ErrorBody,
  errorCodes,
  type CreateGroupRequest,
  type RegisterRequest,
  type UpdateMembersRequest,
} from '../../shared/index.ts'
import { TincanError } from './errors.ts'

/** What a request can fail with: the server's codes, and two of the client's own. */
export const apiErrorCodes = [...errorCodes, 'network', 'bad-response'] as const
export type ApiErrorCode = (typeof apiErrorCodes)[number]

/**
 * A request the server refused (`code` from shared/errors.ts), that never reached it (`network`),
 * or whose answer does not match the shared schema (`bad-response`: the server is not trusted to
 * send what it should).
 */
export class ApiError extends TincanError<ApiErrorCode> {
  override readonly name = 'ApiError'
  constructor(
    code: ApiErrorCode,
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options)
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** An answer that says nothing readable: server trouble on a 5xx (a proxy's page), else not what a server sends. */
const troubleCode = (status: number): ApiErrorCode => (status >= 500 ? 'internal' : 'bad-response')

/** Pages of `GET /api/groups` read at most: 1,000 groups at 20 a page. */
const maxGroupPages = 50

/** The server's REST API, typed by the shared schemas. The only module that calls fetch. */
export class Api {
  /** Bearer token of the current session, set after login. */
  token: string | undefined

  constructor(
    private readonly baseUrl: string,
    private readonly fetchFn: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  /** A request whose answer is checked against `schema` before anyone uses it. */
  private async call<S extends TSchema>(
    method: Method,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<Static<S>> {
    const json = await this.send(method, path, body)
    if (!Value.Check(schema, json)) {
      const first = Value.Errors(schema, json).First()
      throw new ApiError(
        'bad-response',
        `the server's answer to ${method} ${path.split('?')[0] ?? ''} is malformed at ${first?.path || '/'}`,
        200,
      )
    }
    return json
  }

  /** A request answered with no content (204). */
  private async callVoid(method: Method, path: string, body?: unknown): Promise<void> {
    await this.send(method, path, body)
  }

  private async send(method: Method, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    let res: Response
    try {
      res = await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (e: unknown) {
      throw new ApiError('network', 'the server cannot be reached', 0, { cause: e })
    }
    if (res.status === 204) return undefined
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new ApiError(troubleCode(res.status), `unexpected answer (${res.status})`, res.status)
    }
    if (!res.ok) {
      // A refusal is read through its schema too: a code outside the list is no code at all.
      if (Value.Check(ErrorBody, json)) throw new ApiError(json.error.code, json.error.message, res.status)
      throw new ApiError(troubleCode(res.status), `unexpected answer (${res.status})`, res.status)
    }
    return json
  }

  prelogin(username: string): Promise<PreloginResponse> {
    return this.call('POST', '/api/prelogin', PreloginResponse, { username })
  }
  register(body: RegisterRequest): Promise<SessionGrant> {
    return this.call('POST', '/api/register', SessionGrant, body)
  }
  login(username: string, authKey: string): Promise<SessionGrant> {
    return this.call('POST', '/api/login', SessionGrant, { username, authKey })
  }
  logout(): Promise<void> {
    return this.callVoid('POST', '/api/logout')
  }
  sessions(): Promise<SessionList> {
    return this.call('GET', '/api/sessions', SessionList)
  }
  revokeSession(id: string): Promise<void> {
    return this.callVoid('DELETE', `/api/sessions/${encodeURIComponent(id)}`)
  }
  changePassword(body: ChangePasswordRequest): Promise<void> {
    return this.callVoid('POST', '/api/password', body)
  }
  deleteAccount(authKey: string): Promise<void> {
    return this.callVoid('DELETE', '/api/account', { authKey })
  }
  searchUsers(prefix: string): Promise<UserSearchResponse> {
    return this.call('GET', `/api/users?prefix=${encodeURIComponent(prefix)}`, UserSearchResponse)
  }
  user(username: string): Promise<PublicUser> {
    return this.call('GET', `/api/users/${encodeURIComponent(username)}`, PublicUser)
  }
  friends(): Promise<FriendList> {
    return this.call('GET', '/api/friends', FriendList)
  }
  requests(): Promise<PendingRequests> {
    return this.call('GET', '/api/friends/requests', PendingRequests)
  }
  sendRequest(to: string, note?: string): Promise<FriendRequestResult> {
    return this.call(
      'POST',
      '/api/friends/requests',
      FriendRequestResult,
      note === undefined ? { to } : { to, note },
    )
  }
  acceptRequest(from: string): Promise<FriendRequestResult> {
    return this.call('POST', `/api/friends/requests/${encodeURIComponent(from)}/accept`, FriendRequestResult)
  }
  declineRequest(from: string): Promise<void> {
    return this.callVoid('POST', `/api/friends/requests/${encodeURIComponent(from)}/decline`)
  }
  cancelRequest(to: string): Promise<void> {
    return this.callVoid('DELETE', `/api/friends/requests/${encodeURIComponent(to)}`)
  }
  removeFriend(username: string): Promise<void> {
    return this.callVoid('DELETE', `/api/friends/${encodeURIComponent(username)}`)
  }
  blocked(): Promise<BlockList> {
    return this.call('GET', '/api/blocks', BlockList)
  }
  block(username: string): Promise<void> {
    return this.callVoid('POST', '/api/blocks', { username })
  }
  unblock(username: string): Promise<void> {
    return this.callVoid('DELETE', `/api/blocks/${encodeURIComponent(username)}`)
  }
  /** Every group of the user, following the server's pages. */
  async groups(): Promise<{ groups: Group[] }> {
    const groups: Group[] = []
    let after: string | undefined
    // A server that never stops paging (or pages in circles) is stopped: nobody is in that many groups.
    for (let page = 0; page < maxGroupPages; page++) {
      const query = after === undefined ? '' : `?after=${encodeURIComponent(after)}`
      const answer = await this.call('GET', `/api/groups${query}`, GroupListResponse)
      groups.push(...answer.groups)
      if (answer.next === undefined || answer.next === after) break
      after = answer.next
    }
    return { groups }
  }
  createGroup(body: CreateGroupRequest): Promise<Group> {
    return this.call('POST', '/api/groups', Group, body)
  }
  updateMembers(id: string, body: UpdateMembersRequest): Promise<Group> {
    return this.call('PUT', `/api/groups/${encodeURIComponent(id)}/members`, Group, body)
  }
  renameGroup(id: string, name: string, memberList?: string): Promise<Group> {
    return this.call(
      'PATCH',
      `/api/groups/${encodeURIComponent(id)}`,
      Group,
      memberList === undefined ? { name } : { name, memberList },
    )
  }
  leaveGroup(id: string): Promise<void> {
    return this.callVoid('POST', `/api/groups/${encodeURIComponent(id)}/leave`)
  }
  ice(): Promise<IceConfig> {
    return this.call('GET', '/api/ice', IceConfig)
  }
}
