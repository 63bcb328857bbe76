import type { FastifyInstance, FastifyRequest } from 'fastify'
import { randomBytes } from 'node:crypto'
import {
  canonicalUsername,
  ChangePasswordRequest,
  closeCodes,
  defaultKdf,
  DeleteAccountRequest,
  ErrorBody,
  LoginRequest,
  PreloginRequest,
  PreloginResponse,
  RegisterRequest,
  ResetIdentityRequest,
  SessionGrant,
  SessionList,
  SessionParams,
  limits,
} from '../../shared/index.ts'
import type { Context } from '../context.ts'
import { HttpError } from '../http-error.ts'
import { authKeyMatches, b64url, fakeSalt, hashAuthKey, hashToken, newId, newToken } from '../secrets.ts'
import { StorageError, type UserRecord } from '../storage/storage.ts'

const errors = {
  400: ErrorBody,
  401: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  503: ErrorBody,
}

/** A well-formed hash of nothing, compared against when the user does not exist, so timing matches. */
const decoySalt = b64url(randomBytes(16))
const decoyHash = hashAuthKey(b64url(randomBytes(32)), decoySalt)

export function accountRoutes(app: FastifyInstance, ctx: Context): void {
  const { storage, limiters, config } = ctx

  function limitAuth(request: FastifyRequest, username?: string): void {
    if (!limiters.authIp.take(request.ip))
      throw new HttpError(
        'rate-limited',
        'too many attempts from this address',
        limiters.authIp.retryAfterS(request.ip),
      )
    if (username !== undefined && !limiters.authUser.take(username))
      throw new HttpError(
        'rate-limited',
        'too many attempts for this account',
        limiters.authUser.retryAfterS(username),
      )
  }

  async function grantSession(request: FastifyRequest, user: UserRecord): Promise<SessionGrant> {
    const token = newToken()
    const now = Date.now()
    const session = {
      id: newId(),
      username: user.username,
      tokenHash: hashToken(token),
      userAgent: (request.headers['user-agent'] ?? '').slice(0, limits.userAgentMaxLength),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + config.tokenTtlMs,
    }
    await storage.createSession(session)
    return {
      token,
      sessionId: session.id,
      expiresAt: session.expiresAt,
      username: user.username,
      identityKey: user.identityKey,
      keyBundle: user.keyBundle,
    }
  }

  /** Re-checks the auth key for sensitive changes, even with a valid session. */
  async function reauthenticate(
    username: string,
    authKey: string,
    request: FastifyRequest,
  ): Promise<UserRecord> {
    limitAuth(request, username)
    const user = await storage.getUser(username)
    if (user === undefined || !authKeyMatches(authKey, user.authSalt, user.authHash))
      throw new HttpError('invalid-credentials', 'wrong password')
    return user
  }

  app.post<{ Body: PreloginRequest }>(
    '/api/prelogin',
    { schema: { body: PreloginRequest, response: { 200: PreloginResponse, ...errors } } },
    async (request) => {
      limitAuth(request)
      const username = canonicalUsername(request.body.username)
      const user = await storage.getUser(username)
      if (user === undefined) return { salt: fakeSalt(ctx.serverSecret, username), kdf: { ...defaultKdf } }
      return {
        salt: user.salt,
        kdf: { alg: 'argon2id13' as const, opsLimit: user.kdfOps, memLimitBytes: user.kdfMem },
      }
    },
  )

  app.post<{ Body: RegisterRequest }>(
    '/api/register',
    { schema: { body: RegisterRequest, response: { 201: SessionGrant, ...errors } } },
    async (request, reply) => {
      limitAuth(request)
      const b = request.body
      const username = canonicalUsername(b.username)
      // A name that reads like someone else's is how one impersonates them (docs/SECURITY.md).
      if ((await storage.lookAlike(username)) !== undefined)
        throw new HttpError('username-taken', 'that username looks too much like an existing one')
      const authSalt = b64url(randomBytes(16))
      const user: UserRecord = {
        username,
        salt: b.salt,
        kdfOps: b.kdf.opsLimit,
        kdfMem: b.kdf.memLimitBytes,
        authSalt,
        authHash: hashAuthKey(b.authKey, authSalt),
        identityKey: b.identityKey,
        keyBundle: b.keyBundle,
        createdAt: Date.now(),
      }
      try {
        await storage.createUser(user)
      } catch (e: unknown) {
        if (e instanceof StorageError && e.code === 'conflict')
          throw new HttpError('username-taken', 'that username is taken')
        throw e
      }
      request.log.info({ username }, 'account registered')
      return reply.code(201).send(await grantSession(request, user))
    },
  )

  app.post<{ Body: LoginRequest }>(
    '/api/login',
    { schema: { body: LoginRequest, response: { 200: SessionGrant, ...errors } } },
    async (request) => {
      const username = canonicalUsername(request.body.username)
      limitAuth(request, username)
      const user = await storage.getUser(username)
      const ok = authKeyMatches(
        request.body.authKey,
        user?.authSalt ?? decoySalt,
        user?.authHash ?? decoyHash,
      )
      if (user === undefined || !ok) throw new HttpError('invalid-credentials', 'wrong username or password')
      return grantSession(request, user)
    },
  )

  app.post('/api/logout', async (request, reply) => {
    const me = await ctx.caller(request)
    await storage.deleteSession(me.username, me.sessionId)
    await ctx.hub.closeSession(me.sessionId, closeCodes.sessionEnded, 'logged out')
    return reply.code(204).send()
  })

  app.get(
    '/api/sessions',
    { schema: { response: { 200: SessionList, 401: ErrorBody } } },
    async (request) => {
      const me = await ctx.caller(request)
      const sessions = await storage.listSessions(me.username)
      return {
        sessions: sessions.map((s) => ({
          id: s.id,
          createdAt: s.createdAt,
          lastSeenAt: s.lastSeenAt,
          expiresAt: s.expiresAt,
          userAgent: s.userAgent,
          current: s.id === me.sessionId,
        })),
      }
    },
  )

  app.delete<{ Params: SessionParams }>(
    '/api/sessions/:id',
    { schema: { params: SessionParams, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      if (!(await storage.deleteSession(me.username, request.params.id)))
        throw new HttpError('not-found', 'no such session')
      await ctx.hub.closeSession(request.params.id, closeCodes.sessionEnded, 'session revoked')
      return reply.code(204).send()
    },
  )

  app.post<{ Body: ChangePasswordRequest }>(
    '/api/password',
    { schema: { body: ChangePasswordRequest, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      const b = request.body
      await reauthenticate(me.username, b.authKey, request)
      const authSalt = b64url(randomBytes(16))
      await storage.updateCredentials(me.username, {
        salt: b.newSalt,
        kdfOps: b.newKdf.opsLimit,
        kdfMem: b.newKdf.memLimitBytes,
        authSalt,
        authHash: hashAuthKey(b.newAuthKey, authSalt),
        keyBundle: b.newKeyBundle,
      })
      // Anyone holding another session learned nothing new, but a changed password should end them.
      for (const id of await storage.deleteOtherSessions(me.username, me.sessionId))
        await ctx.hub.closeSession(id, closeCodes.sessionEnded, 'password changed')
      return reply.code(204).send()
    },
  )

  app.put<{ Body: ResetIdentityRequest }>(
    '/api/identity',
    { schema: { body: ResetIdentityRequest, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      await reauthenticate(me.username, request.body.authKey, request)
      await storage.updateIdentity(me.username, request.body.identityKey, request.body.keyBundle)
      await ctx.push(await ctx.contactsOf(me.username), {
        type: 'key-changed',
        username: me.username,
        identityKey: request.body.identityKey,
      })
      return reply.code(204).send()
    },
  )

  app.delete<{ Body: DeleteAccountRequest }>(
    '/api/account',
    { schema: { body: DeleteAccountRequest, response: errors } },
    async (request, reply) => {
      const me = await ctx.caller(request)
      await reauthenticate(me.username, request.body.authKey, request)
      const friends = await storage.friendNames(me.username)
      const groups = await storage.listGroups(me.username)
      await storage.deleteUser(me.username)
      ctx.relayPolicy.forgetAll()
      await ctx.push(friends, { type: 'friend-removed', username: me.username })
      for (const g of groups) {
        const after = await storage.getGroup(g.id)
        if (after !== undefined)
          await ctx.push(
            after.members.map((m) => m.username),
            { type: 'group-updated', group: after },
          )
      }
      await ctx.hub.closeUser(me.username, closeCodes.sessionEnded, 'account deleted')
      request.log.info({ username: me.username }, 'account deleted')
      return reply.code(204).send()
    },
  )
}
