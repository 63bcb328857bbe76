import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { closeCodes, defaultKdf } from '../../../shared/index.ts'
import {
  loginAgain,
  makeFriends,
  newCredentials,
  randomB64,
  registerAccount,
  registerRequest,
  uniqueName,
} from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  server = await startServer()
})
afterEach(() => sockets.closeAll())
afterAll(() => server.close())

const badRequest = (field: string) => ({
  status: 400,
  body: { error: { code: 'bad-request', message: expect.stringContaining(field) as unknown } },
})

describe('prelogin', () => {
  it('answers a real user with the salt and KDF parameters they registered with', async () => {
    const kdf = { alg: 'argon2id13' as const, opsLimit: 4, memLimitBytes: 128 * 1024 * 1024 }
    const alice = await registerAccount(server.api, 'alice', { kdf })

    expect(await server.api.prelogin(alice.username)).toEqual({ salt: alice.salt, kdf })
  })

  it('answers an unknown name with the same fake salt every time, and another name with a different one', async () => {
    const ghost = uniqueName('ghost')
    const first = await server.api.prelogin(ghost)
    const again = await server.api.prelogin(ghost)
    const shouted = await server.api.prelogin(ghost.toUpperCase())
    const other = await server.api.prelogin(uniqueName('ghost'))

    expect(first).toEqual({ salt: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) as unknown, kdf: defaultKdf })
    expect(again).toEqual(first)
    expect(shouted).toEqual(first)
    expect(other.salt).not.toBe(first.salt)
  })

  it.each([
    ['too short', 'ab'],
    ['too long', 'a'.repeat(33)],
    ['with a space', 'bad name'],
  ])('rejects a username that is %s', async (_what, username) => {
    expect(await server.api.raw('POST', '/api/prelogin', { body: { username } })).toMatchObject(
      badRequest('username'),
    )
  })
})

describe('registration', () => {
  it('creates the account under its lower-case name and logs it in with its key bundle', async () => {
    const credentials = newCredentials(uniqueName('Carol'))
    const before = Date.now()
    const grant = await server.api.register(registerRequest(credentials))

    expect(grant).toMatchObject({
      username: credentials.username.toLowerCase(),
      identityKey: credentials.identityKey,
      keyBundle: credentials.keyBundle,
    })
    expect(grant.expiresAt).toBeGreaterThanOrEqual(before + server.config.tokenTtlMs)
    const sessions = await server.api.as(grant.token).sessions()
    expect(sessions.sessions).toEqual([expect.objectContaining({ id: grant.sessionId, current: true })])
  })

  it('answers 201 Created', async () => {
    const reply = await server.api.raw('POST', '/api/register', { body: registerRequest(newCredentials()) })
    expect(reply.status).toBe(201)
  })

  it('refuses a username that differs from an existing one only in case', async () => {
    const taken = await registerAccount(server.api, 'dave')
    const again = registerRequest(newCredentials(taken.username.toUpperCase()))

    await expect(server.api.register(again)).rejects.toMatchObject({ status: 409, code: 'username-taken' })
    // The first owner keeps the name.
    expect((await server.api.login(taken.username, taken.authKey)).identityKey).toBe(taken.identityKey)
  })

  const valid = () => registerRequest(newCredentials())
  it.each<[string, () => unknown, string]>([
    ['a missing field', () => ({ ...valid(), keyBundle: undefined }), 'keyBundle'],
    ['an extra field', () => ({ ...valid(), admin: true }), 'admin'],
    ['a number for a string', () => ({ ...valid(), authKey: 42 }), 'authKey'],
    ['a string for an integer', () => ({ ...valid(), kdf: { ...defaultKdf, opsLimit: '3' } }), 'opsLimit'],
    ['an unknown KDF', () => ({ ...valid(), kdf: { ...defaultKdf, alg: 'pbkdf2' } }), 'alg'],
    ['a username of 33 characters', () => ({ ...valid(), username: 'u'.repeat(33) }), 'username'],
    ['a key bundle over 8192 characters', () => ({ ...valid(), keyBundle: 'A'.repeat(8193) }), 'keyBundle'],
    ['an identity key of 31 bytes', () => ({ ...valid(), identityKey: randomB64(31) }), 'identityKey'],
    ['a salt that is not base64url', () => ({ ...valid(), salt: '+'.repeat(22) }), 'salt'],
    ['an array for the body', () => [valid()], 'body'],
  ])('rejects a body with %s, naming it, and creates nothing', async (_what, body, field) => {
    const sent = body() as { username?: unknown }
    const reply = await server.api.raw('POST', '/api/register', { body: sent })

    expect(reply).toMatchObject(badRequest(field))
    if (typeof sent.username === 'string' && sent.username.length <= 32) {
      await expect(server.api.login(sent.username, randomB64(32))).rejects.toMatchObject({ status: 401 })
    }
  })
})

describe('login', () => {
  it('returns a new session with the registered identity key and key bundle, whatever the case of the name', async () => {
    const erin = await registerAccount(server.api, 'erin')
    const grant = await server.api.login(erin.username.toUpperCase(), erin.authKey)

    expect(grant).toMatchObject({
      username: erin.username,
      identityKey: erin.identityKey,
      keyBundle: erin.keyBundle,
    })
    expect(grant.sessionId).not.toBe(erin.sessionId)
    expect(grant.token).not.toBe(erin.token)
  })

  it('answers a wrong auth key and an unknown user alike, with 401 invalid-credentials', async () => {
    const frank = await registerAccount(server.api, 'frank')
    const wrongKey = await server.api.raw('POST', '/api/login', {
      body: { username: frank.username, authKey: randomB64(32) },
    })
    const unknown = await server.api.raw('POST', '/api/login', {
      body: { username: uniqueName('nobody'), authKey: randomB64(32) },
    })

    expect(wrongKey).toMatchObject({ status: 401, body: { error: { code: 'invalid-credentials' } } })
    expect(unknown.status).toBe(wrongKey.status)
    expect(unknown.body).toEqual(wrongKey.body)
  })

  it.each<[string, Record<string, unknown>, string]>([
    ['without an auth key', { username: 'someone' }, 'authKey'],
    ['with an extra field', { username: 'someone', authKey: randomB64(32), remember: true }, 'remember'],
    ['with a too long auth key', { username: 'someone', authKey: randomB64(33) }, 'authKey'],
  ])('rejects a request %s', async (_what, body, field) => {
    expect(await server.api.raw('POST', '/api/login', { body })).toMatchObject(badRequest(field))
  })
})

describe('sessions', () => {
  it('lists every session of the account and marks the current one', async () => {
    const gina = await registerAccount(server.api, 'gina')
    const laptop = await loginAgain(server.api, gina)

    const { sessions } = await laptop.api.sessions()
    expect(sessions.map((s) => [s.id, s.current])).toEqual([
      [gina.sessionId, false],
      [laptop.sessionId, true],
    ])
  })

  it('a revoked session answers 401 and its open socket is closed with 4403', async () => {
    const hank = await registerAccount(server.api, 'hank')
    const phone = await loginAgain(server.api, hank)
    const phoneSocket = await sockets.connect(phone.token)
    const mySocket = await sockets.connect(hank.token)

    await hank.api.revokeSession(phone.sessionId)

    expect((await phoneSocket.closed).code).toBe(closeCodes.sessionEnded)
    await expect(phone.api.sessions()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
    await mySocket.sync()
    expect((await hank.api.sessions()).sessions.map((s) => s.id)).toEqual([hank.sessionId])
  })

  it('revoking a session that is not one of the account answers 404 and leaves it alone', async () => {
    const ivy = await registerAccount(server.api, 'ivy')
    const jack = await registerAccount(server.api, 'jack')

    await expect(ivy.api.revokeSession(jack.sessionId)).rejects.toMatchObject({
      status: 404,
      code: 'not-found',
    })
    await expect(ivy.api.revokeSession(randomB64(16))).rejects.toMatchObject({
      status: 404,
      code: 'not-found',
    })
    expect((await jack.api.sessions()).sessions).toHaveLength(1)
  })

  it('logging out ends the session: its token answers 401 and its socket is closed with 4403', async () => {
    const kate = await registerAccount(server.api, 'kate')
    const socket = await sockets.connect(kate.token)

    await kate.api.logout()

    expect((await socket.closed).code).toBe(closeCodes.sessionEnded)
    await expect(kate.api.sessions()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
  })

  it.each<[string, Record<string, string>]>([
    ['no Authorization header', {}],
    ['a token that is not a Bearer token', { authorization: `Basic ${randomB64(32)}` }],
    ['a malformed token', { authorization: 'Bearer short' }],
    ['a token no session has', { authorization: `Bearer ${randomB64(32)}` }],
  ])('answers a request with %s with 401 unauthorized', async (_what, headers) => {
    const reply = await server.api.raw('GET', '/api/sessions', { headers })
    expect(reply).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
  })

  it('a revoked token cannot authenticate a new socket', async () => {
    const rita = await registerAccount(server.api, 'rita')
    const old = await loginAgain(server.api, rita)
    await rita.api.revokeSession(old.sessionId)

    const socket = await sockets.raw()
    socket.send({ type: 'auth', token: old.token, ref: 'late' })

    expect(await socket.next('error')).toMatchObject({ code: 'unauthorized', ref: 'late' })
    expect((await socket.closed).code).toBe(closeCodes.unauthorized)
  })

  it('rejects a malformed session id', async () => {
    const sid = await registerAccount(server.api, 'sid')
    expect(await sid.api.raw('DELETE', '/api/sessions/not-an-id')).toMatchObject(badRequest('id'))
  })

  it('an expired session answers 401 and cannot authenticate a socket, until the user logs in again', async () => {
    const liam = await registerAccount(server.api, 'liam')
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + server.config.tokenTtlMs + 60_000)

      await expect(liam.api.sessions()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
      const socket = await sockets.raw()
      socket.send({ type: 'auth', token: liam.token })
      expect(await socket.next('error')).toMatchObject({ code: 'unauthorized' })
      expect((await socket.closed).code).toBe(closeCodes.unauthorized)

      const fresh = await loginAgain(server.api, liam)
      expect((await fresh.api.sessions()).sessions.map((s) => s.id)).toContain(fresh.sessionId)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('password change', () => {
  const newPassword = () => ({
    newAuthKey: randomB64(32),
    newSalt: randomB64(16),
    newKdf: { ...defaultKdf, opsLimit: 4 },
    newKeyBundle: randomB64(120),
  })

  it('makes the old auth key stop working and the new one work, with the new salt and key bundle', async () => {
    const mia = await registerAccount(server.api, 'mia')
    const change = newPassword()

    await mia.api.changePassword({ authKey: mia.authKey, ...change })

    await expect(server.api.login(mia.username, mia.authKey)).rejects.toMatchObject({
      code: 'invalid-credentials',
    })
    const grant = await server.api.login(mia.username, change.newAuthKey)
    expect(grant.keyBundle).toBe(change.newKeyBundle)
    expect(await server.api.prelogin(mia.username)).toEqual({ salt: change.newSalt, kdf: change.newKdf })
  })

  it('ends every other session and closes its sockets with 4403, and keeps the one that made the change', async () => {
    const noah = await registerAccount(server.api, 'noah')
    const tablet = await loginAgain(server.api, noah)
    const tabletSocket = await sockets.connect(tablet.token)
    const mySocket = await sockets.connect(noah.token)

    await noah.api.changePassword({ authKey: noah.authKey, ...newPassword() })

    expect((await tabletSocket.closed).code).toBe(closeCodes.sessionEnded)
    await expect(tablet.api.sessions()).rejects.toMatchObject({ status: 401 })
    await mySocket.sync()
    expect((await noah.api.sessions()).sessions.map((s) => s.id)).toEqual([noah.sessionId])
  })

  it('refuses a wrong current auth key and changes nothing', async () => {
    const olga = await registerAccount(server.api, 'olga')
    const change = newPassword()

    await expect(olga.api.changePassword({ authKey: randomB64(32), ...change })).rejects.toMatchObject({
      status: 401,
      code: 'invalid-credentials',
    })
    await expect(server.api.login(olga.username, change.newAuthKey)).rejects.toMatchObject({ status: 401 })
    expect((await server.api.login(olga.username, olga.authKey)).keyBundle).toBe(olga.keyBundle)
  })

  it('rejects a request without the new key bundle', async () => {
    const pia = await registerAccount(server.api, 'pia')
    const { newKeyBundle: _dropped, ...partial } = newPassword()
    const reply = await pia.api.raw('POST', '/api/password', { body: { authKey: pia.authKey, ...partial } })
    expect(reply).toMatchObject(badRequest('newKeyBundle'))
  })
})

describe('identity reset', () => {
  it('publishes the new identity key and key bundle', async () => {
    const quinn = await registerAccount(server.api, 'quinn')
    const rosa = await registerAccount(server.api, 'rosa')
    const identityKey = randomB64(32)
    const keyBundle = randomB64(64)

    await quinn.api.resetIdentity({ authKey: quinn.authKey, identityKey, keyBundle })

    expect(await rosa.api.user(quinn.username)).toEqual({ username: quinn.username, identityKey })
    expect((await server.api.login(quinn.username, quinn.authKey)).keyBundle).toBe(keyBundle)
  })

  it('refuses a wrong auth key and keeps the old identity', async () => {
    const sam = await registerAccount(server.api, 'sam')
    const request = { authKey: randomB64(32), identityKey: randomB64(32), keyBundle: randomB64(64) }

    await expect(sam.api.resetIdentity(request)).rejects.toMatchObject({
      status: 401,
      code: 'invalid-credentials',
    })
    expect((await sam.api.user(sam.username)).identityKey).toBe(sam.identityKey)
  })
})

describe('account deletion', () => {
  it('removes the account: login fails, friends are told, groups drop it, and the name is free again', async () => {
    const tom = await registerAccount(server.api, 'tom')
    const uma = await registerAccount(server.api, 'uma')
    const vic = await registerAccount(server.api, 'vic')
    await makeFriends(tom, uma)
    await makeFriends(uma, vic)
    const group = await uma.api.createGroup({
      name: 'trio',
      members: [tom.username, vic.username],
      memberList: 'AA',
    })
    const tomSocket = await sockets.connect(tom.token)
    const umaSocket = await sockets.connect(uma.token)
    const vicSocket = await sockets.connect(vic.token)

    await tom.api.deleteAccount(tom.authKey)

    expect(await umaSocket.next('friend-removed')).toEqual({ type: 'friend-removed', username: tom.username })
    const updated = await vicSocket.next('group-updated', (f) => f.group.id === group.id)
    expect(updated.group.members.map((m) => m.username)).toEqual([uma.username, vic.username])
    expect((await tomSocket.closed).code).toBe(closeCodes.sessionEnded)
    await expect(server.api.login(tom.username, tom.authKey)).rejects.toMatchObject({
      code: 'invalid-credentials',
    })
    await expect(tom.api.sessions()).rejects.toMatchObject({ status: 401 })
    expect((await uma.api.friends()).friends.map((f) => f.username)).toEqual([vic.username])
    await expect(uma.api.user(tom.username)).rejects.toMatchObject({ status: 404 })

    const newcomer = newCredentials(tom.username)
    expect((await server.api.register(registerRequest(newcomer))).username).toBe(tom.username)
    expect(await uma.api.friends()).toEqual({
      friends: [expect.objectContaining({ username: vic.username })],
    })
  })

  it('refuses a wrong auth key and keeps the account', async () => {
    const wes = await registerAccount(server.api, 'wes')

    await expect(wes.api.deleteAccount(randomB64(32))).rejects.toMatchObject({
      status: 401,
      code: 'invalid-credentials',
    })
    expect((await server.api.login(wes.username, wes.authKey)).username).toBe(wes.username)
  })
})

describe('every route that needs a session', () => {
  const id = randomB64(16)
  const key = () => randomB64(32)
  const routes: [string, string, unknown?][] = [
    ['POST', '/api/logout'],
    ['GET', '/api/sessions'],
    ['DELETE', `/api/sessions/${id}`],
    [
      'POST',
      '/api/password',
      { authKey: key(), newAuthKey: key(), newSalt: randomB64(16), newKdf: defaultKdf, newKeyBundle: 'AA' },
    ],
    ['PUT', '/api/identity', { authKey: key(), identityKey: key(), keyBundle: 'AA' }],
    ['DELETE', '/api/account', { authKey: key() }],
    ['GET', '/api/users?prefix=a'],
    ['GET', '/api/users/someone'],
    ['GET', '/api/friends'],
    ['GET', '/api/friends/requests'],
    ['POST', '/api/friends/requests', { to: 'someone' }],
    ['POST', '/api/friends/requests/someone/accept'],
    ['POST', '/api/friends/requests/someone/decline'],
    ['DELETE', '/api/friends/requests/someone'],
    ['DELETE', '/api/friends/someone'],
    ['GET', '/api/blocks'],
    ['POST', '/api/blocks', { username: 'someone' }],
    ['DELETE', '/api/blocks/someone'],
    ['GET', '/api/groups'],
    ['GET', `/api/groups/${id}`],
    ['POST', '/api/groups', { name: 'g', members: [], memberList: 'AA' }],
    [
      'PUT',
      `/api/groups/${id}/members`,
      { members: [{ username: 'someone', role: 'admin' }], memberList: 'AA' },
    ],
    ['PATCH', `/api/groups/${id}`, { name: 'g' }],
    ['POST', `/api/groups/${id}/leave`],
    ['GET', '/api/ice'],
  ]

  it.each(routes)('%s %s answers 401 to a token that was logged out', async (method, path, body) => {
    const yan = await registerAccount(server.api, 'yan')
    await yan.api.logout()

    const reply = await yan.api.raw(method, path, body === undefined ? {} : { body })

    expect(reply).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
  })
})
