import type { FastifyInstance } from 'fastify'
import {
  BlockBody,
  BlockList,
  canonicalUsername,
  ErrorBody,
  FriendList,
  FriendRequestBody,
  FriendRequestResult,
  PendingRequests,
  UserSearchQuery,
  UserSearchResponse,
  UsernameParams,
  PublicUser,
  limits,
} from '../../shared/index.ts'
import type { Context } from '../context.ts'
import { HttpError } from '../http-error.ts'

const errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
}

export function friendRoutes(app: FastifyInstance, ctx: Context): void {
  const { storage, hub } = ctx

  async function publicUser(username: string): Promise<PublicUser> {
    const user = await storage.getUser(username)
    if (user === undefined) throw new HttpError('not-found', 'no such user')
    return { username: user.username, identityKey: user.identityKey }
  }

  /**
   * The user as `viewer` may see them: someone who blocked the viewer gets the very answer of a
   * name nobody has (search leaves them out too), so being blocked cannot be told from that.
   */
  async function visibleUser(viewer: string, username: string): Promise<PublicUser> {
    const [user, blockedViewer] = await Promise.all([
      publicUser(username),
      storage.isBlocked(username, viewer),
    ])
    if (blockedViewer) throw new HttpError('not-found', 'no such user')
    return user
  }

  function limitLookups(username: string): void {
    if (!ctx.limiters.search.take(username))
      throw new HttpError('rate-limited', 'too many searches', ctx.limiters.search.retryAfterS(username))
  }

  /**
   * Blocking hides each from the other's presence, even in a shared group: whoever is online
   * goes offline for the other now, and comes back on unblock.
   */
  async function retellPresence(a: string, b: string, visible: boolean): Promise<void> {
    if (!(await storage.shareGroup(a, b))) return
    const [aOnline, bOnline] = await Promise.all([hub.isOnline(a), hub.isOnline(b)])
    if (aOnline) await hub.deliver(b, { type: 'presence', username: a, online: visible })
    if (bOnline) await hub.deliver(a, { type: 'presence', username: b, online: visible })
  }

  /** Both sides learn of the new friendship, with each other's key and presence. */
  async function announceFriendship(a: string, b: string): Promise<void> {
    const [ua, ub] = await Promise.all([publicUser(a), publicUser(b)])
    const [aOnline, bOnline] = await Promise.all([hub.isOnline(a), hub.isOnline(b)])
    ctx.relayPolicy.forget(a, b)
    await hub.deliver(a, { type: 'friend-added', friend: ub, online: bOnline })
    await hub.deliver(b, { type: 'friend-added', friend: ua, online: aOnline })
  }

  app.get<{ Querystring: UserSearchQuery }>(
    '/api/users',
    { schema: { querystring: UserSearchQuery, response: { 200: UserSearchResponse, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      limitLookups(me.username)
      const users = await storage.searchUsers(
        canonicalUsername(request.query.prefix),
        limits.searchMaxResults,
        me.username,
      )
      return { users }
    },
  )

  app.get<{ Params: UsernameParams }>(
    '/api/users/:username',
    { schema: { params: UsernameParams, response: { 200: PublicUser, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      // A lookup tells whether a name exists, as a search does: both share one budget.
      limitLookups(me.username)
      return visibleUser(me.username, canonicalUsername(request.params.username))
    },
  )

  app.get('/api/friends', { schema: { response: { 200: FriendList, ...errors } } }, async (request) => {
    const me = await ctx.caller(request)
    const friends = await storage.listFriends(me.username)
    const online = new Set(await hub.onlineAmong(friends.map((f) => f.username)))
    return { friends: friends.map((f) => ({ ...f, online: online.has(f.username) })) }
  })

  app.get(
    '/api/friends/requests',
    { schema: { response: { 200: PendingRequests, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      const [incoming, outgoing] = await Promise.all([
        storage.listIncoming(me.username),
        storage.listOutgoing(me.username),
      ])
      return { incoming, outgoing }
    },
  )

  app.post<{ Body: FriendRequestBody }>(
    '/api/friends/requests',
    {
      schema: {
        body: FriendRequestBody,
        response: { 200: FriendRequestResult, 201: FriendRequestResult, ...errors },
      },
    },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const to = canonicalUsername(request.body.to)
      const note = request.body.note ?? ''
      if (to === me.username) throw new HttpError('self', 'you cannot befriend yourself')
      await visibleUser(me.username, to)
      if (await storage.isBlocked(me.username, to))
        throw new HttpError('blocked', 'you blocked this user; unblock first')
      if (await storage.areFriends(me.username, to))
        throw new HttpError('already-friends', 'you are already friends')
      if ((await storage.getRequest(to, me.username)) !== undefined) {
        await storage.addFriendship(me.username, to, Date.now())
        await announceFriendship(me.username, to)
        return reply.code(200).send({ status: 'accepted' })
      }
      // Each request notifies the recipient: asking the same person again and again is limited.
      const pair = `${me.username}\n${to}`
      if (!ctx.limiters.friendRequest.take(pair))
        throw new HttpError(
          'rate-limited',
          'you asked this user too often; wait before asking again',
          ctx.limiters.friendRequest.retryAfterS(pair),
        )
      const existing = await storage.getRequest(me.username, to)
      const createdAt = existing?.createdAt ?? Date.now()
      await storage.putRequest(me.username, to, note, createdAt)
      const sender = await publicUser(me.username)
      await hub.deliver(to, { type: 'friend-request', request: { ...sender, note, createdAt } })
      return reply.code(201).send({ status: 'pending' })
    },
  )

  app.post<{ Params: UsernameParams }>(
    '/api/friends/requests/:username/accept',
    { schema: { params: UsernameParams, response: { 200: FriendRequestResult, ...errors } } },
    async (request) => {
      const me = await ctx.caller(request)
      const from = canonicalUsername(request.params.username)
      if ((await storage.getRequest(from, me.username)) === undefined)
        throw new HttpError('not-found', 'no request from that user')
      await storage.addFriendship(me.username, from, Date.now())
      await announceFriendship(me.username, from)
      return { status: 'accepted' as const }
    },
  )

  app.post<{ Params: UsernameParams }>(
    '/api/friends/requests/:username/decline',
    { schema: { params: UsernameParams, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const from = canonicalUsername(request.params.username)
      if (!(await storage.deleteRequest(from, me.username)))
        throw new HttpError('not-found', 'no request from that user')
      // Each side is told the other's name: the decliner's other devices drop the request from `from`.
      await hub.deliver(from, { type: 'friend-request-closed', username: me.username, reason: 'declined' })
      await hub.deliver(me.username, { type: 'friend-request-closed', username: from, reason: 'declined' })
      return reply.code(204).send()
    },
  )

  app.delete<{ Params: UsernameParams }>(
    '/api/friends/requests/:username',
    { schema: { params: UsernameParams, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const to = canonicalUsername(request.params.username)
      if (!(await storage.deleteRequest(me.username, to)))
        throw new HttpError('not-found', 'no request to that user')
      await hub.deliver(to, { type: 'friend-request-closed', username: me.username, reason: 'cancelled' })
      await hub.deliver(me.username, { type: 'friend-request-closed', username: to, reason: 'cancelled' })
      return reply.code(204).send()
    },
  )

  app.delete<{ Params: UsernameParams }>(
    '/api/friends/:username',
    { schema: { params: UsernameParams, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const other = canonicalUsername(request.params.username)
      if (!(await storage.removeFriendship(me.username, other)))
        throw new HttpError('not-friends', 'not friends')
      ctx.relayPolicy.forget(me.username, other)
      await hub.deliver(other, { type: 'friend-removed', username: me.username })
      await hub.deliver(me.username, { type: 'friend-removed', username: other })
      return reply.code(204).send()
    },
  )

  app.get('/api/blocks', { schema: { response: { 200: BlockList, ...errors } } }, async (request) => {
    const me = await ctx.caller(request)
    return { blocked: await storage.listBlocked(me.username) }
  })

  app.post<{ Body: BlockBody }>(
    '/api/blocks',
    { schema: { body: BlockBody, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const other = canonicalUsername(request.body.username)
      if (other === me.username) throw new HttpError('self', 'you cannot block yourself')
      await visibleUser(me.username, other)
      const wereFriends = await storage.areFriends(me.username, other)
      await storage.block(me.username, other, Date.now())
      ctx.relayPolicy.forget(me.username, other)
      if (wereFriends) {
        await hub.deliver(other, { type: 'friend-removed', username: me.username })
        await hub.deliver(me.username, { type: 'friend-removed', username: other })
      }
      await retellPresence(me.username, other, false)
      return reply.code(204).send()
    },
  )

  app.delete<{ Params: UsernameParams }>(
    '/api/blocks/:username',
    { schema: { params: UsernameParams, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const other = canonicalUsername(request.params.username)
      if (!(await storage.unblock(me.username, other)))
        throw new HttpError('not-found', 'that user is not blocked')
      ctx.relayPolicy.forget(me.username, other)
      // Still hidden while the other side blocks this one.
      if (!(await storage.isBlocked(other, me.username))) await retellPresence(me.username, other, true)
      return reply.code(204).send()
    },
  )
}
