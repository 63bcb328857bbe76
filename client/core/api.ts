import type {
  ChangePasswordRequest,
  CreateGroupRequest,
  ErrorCode,
  FriendList,
  FriendRequestResult,
  Group,
  GroupListResponse,
  IceConfig,
  PendingRequests,
  PreloginResponse,
  PublicUser,
  RegisterRequest,
  SessionGrant,
  SessionList,
  UpdateMembersRequest,
  UserSearchResponse,
  BlockList,
} from '../../shared/index.ts'

/** A request the server refused (`code` from shared/errors.ts), or that never reached it (`network`). */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly code: ErrorCode | 'network',
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  static is(e: unknown, code?: ApiError['code']): e is ApiError {
    return e instanceof ApiError && (code === undefined || e.code === code)
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

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

  private async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
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
    if (res.status === 204) return undefined as T
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new ApiError('internal', `unexpected answer (${res.status})`, res.status)
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: ErrorCode; message?: string } } | undefined)?.error
      throw new ApiError(err?.code ?? 'internal', err?.message ?? `HTTP ${res.status}`, res.status)
    }
    return json as T
  }

  prelogin(username: string): Promise<PreloginResponse> {
    return this.call('POST', '/api/prelogin', { username })
  }
  register(body: RegisterRequest): Promise<SessionGrant> {
    return this.call('POST', '/api/register', body)
  }
  login(username: string, authKey: string): Promise<SessionGrant> {
    return this.call('POST', '/api/login', { username, authKey })
  }
  logout(): Promise<void> {
    return this.call('POST', '/api/logout')
  }
  sessions(): Promise<SessionList> {
    return this.call('GET', '/api/sessions')
  }
  revokeSession(id: string): Promise<void> {
    return this.call('DELETE', `/api/sessions/${encodeURIComponent(id)}`)
  }
  changePassword(body: ChangePasswordRequest): Promise<void> {
    return this.call('POST', '/api/password', body)
  }
  deleteAccount(authKey: string): Promise<void> {
    return this.call('DELETE', '/api/account', { authKey })
  }
  searchUsers(prefix: string): Promise<UserSearchResponse> {
    return this.call('GET', `/api/users?prefix=${encodeURIComponent(prefix)}`)
  }
  user(username: string): Promise<PublicUser> {
    return this.call('GET', `/api/users/${encodeURIComponent(username)}`)
  }
  friends(): Promise<FriendList> {
    return this.call('GET', '/api/friends')
  }
  requests(): Promise<PendingRequests> {
    return this.call('GET', '/api/friends/requests')
  }
  sendRequest(to: string, note?: string): Promise<FriendRequestResult> {
    return this.call('POST', '/api/friends/requests', note === undefined ? { to } : { to, note })
  }
  acceptRequest(from: string): Promise<FriendRequestResult> {
    return this.call('POST', `/api/friends/requests/${encodeURIComponent(from)}/accept`)
  }
  declineRequest(from: string): Promise<void> {
    return this.call('POST', `/api/friends/requests/${encodeURIComponent(from)}/decline`)
  }
  cancelRequest(to: string): Promise<void> {
    return this.call('DELETE', `/api/friends/requests/${encodeURIComponent(to)}`)
  }
  removeFriend(username: string): Promise<void> {
    return this.call('DELETE', `/api/friends/${encodeURIComponent(username)}`)
  }
  blocked(): Promise<BlockList> {
    return this.call('GET', '/api/blocks')
  }
  block(username: string): Promise<void> {
    return this.call('POST', '/api/blocks', { username })
  }
  unblock(username: string): Promise<void> {
    return this.call('DELETE', `/api/blocks/${encodeURIComponent(username)}`)
  }
  /** Every group of the user, following the server's pages. */
  async groups(): Promise<{ groups: Group[] }> {
    const groups: Group[] = []
    let after: string | undefined
    // A server that never stops paging (or pages in circles) is stopped: nobody is in that many groups.
    for (let page = 0; page < maxGroupPages; page++) {
      const query = after === undefined ? '' : `?after=${encodeURIComponent(after)}`
      const answer = await this.call<GroupListResponse>('GET', `/api/groups${query}`)
      groups.push(...answer.groups)
      if (answer.next === undefined || answer.next === after) break
      after = answer.next
    }
    return { groups }
  }
  createGroup(body: CreateGroupRequest): Promise<Group> {
    return this.call('POST', '/api/groups', body)
  }
  updateMembers(id: string, body: UpdateMembersRequest): Promise<Group> {
    return this.call('PUT', `/api/groups/${encodeURIComponent(id)}/members`, body)
  }
  renameGroup(id: string, name: string, memberList?: string): Promise<Group> {
    return this.call(
      'PATCH',
      `/api/groups/${encodeURIComponent(id)}`,
      memberList === undefined ? { name } : { name, memberList },
    )
  }
  leaveGroup(id: string): Promise<void> {
    return this.call('POST', `/api/groups/${encodeURIComponent(id)}/leave`)
  }
  ice(): Promise<IceConfig> {
    return this.call('GET', '/api/ice')
  }
}
