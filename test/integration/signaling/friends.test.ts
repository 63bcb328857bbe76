import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { limits } from '../../../shared/index.ts'
import { loginAgain, makeFriends, randomB64, registerAccount, uniqueName } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  server = await startServer()
})
afterEach(() => sockets.closeAll())
afterAll(() => server.close())

describe('user search', () => {
  it('finds users by name prefix, in any case, leaving out the searcher', async () => {
    const stem = uniqueName('zed').slice(0, 12)
    const me = await registerAccount(server.api, `${stem}me`)
    const one = await registerAccount(server.api, `${stem}one`)
    const two = await registerAccount(server.api, `${stem}two`)

    const { users } = await me.api.searchUsers(stem.toUpperCase())

    expect(users).toEqual(
      [one, two]
        .map((a) => ({ username: a.username, identityKey: a.identityKey }))
        .sort((a, b) => a.username.localeCompare(b.username)),
    )
  })

  it(`returns at most ${limits.searchMaxResults} users`, async () => {
    const stem = uniqueName('many').slice(0, 12)
    const accounts = await Promise.all(
      Array.from({ length: limits.searchMaxResults + 2 }, (_, i) =>
        registerAccount(server.api, `${stem}${i}`),
      ),
    )
    const searcher = await registerAccount(server.api, 'searcher')

    const { users } = await searcher.api.searchUsers(stem)

    expect(users).toHaveLength(limits.searchMaxResults)
    expect(accounts.map((a) => a.username)).toEqual(expect.arrayContaining(users.map((u) => u.username)))
  })

  it('does not show the searcher to users who blocked them', async () => {
    const hider = await registerAccount(server.api, 'hider')
    const seeker = await registerAccount(server.api, 'seeker')
    await hider.api.block(seeker.username)

    expect((await seeker.api.searchUsers(hider.username)).users).toEqual([])
    expect((await hider.api.searchUsers(seeker.username)).users).toHaveLength(1)
  })

  it('requires a session', async () => {
    const reply = await server.api.raw('GET', '/api/users?prefix=abc')
    expect(reply).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
  })

  it.each([
    ['no prefix', ''],
    ['an empty prefix', '?prefix='],
    ['a prefix with %', '?prefix=a%25'],
    [`a prefix over ${limits.searchPrefixMaxLength} characters`, `?prefix=${'a'.repeat(33)}`],
    ['an extra parameter', '?prefix=abc&limit=1000'],
  ])('rejects a search with %s', async (_what, query) => {
    const me = await registerAccount(server.api, 'asker')
    const reply = await me.api.raw('GET', `/api/users${query}`)
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
  })

  it("looks up one user's public key, and answers 404 for an unknown name", async () => {
    const me = await registerAccount(server.api, 'looker')
    const them = await registerAccount(server.api, 'looked')

    expect(await me.api.user(them.username.toUpperCase())).toEqual({
      username: them.username,
      identityKey: them.identityKey,
    })
    await expect(me.api.user(uniqueName('ghost'))).rejects.toMatchObject({ status: 404, code: 'not-found' })
    await expect(server.api.user(them.username)).rejects.toMatchObject({ status: 401 })
  })
})

describe('friend requests', () => {
  it('reach the recipient live, with the note and key, and show in both pending lists', async () => {
    const ann = await registerAccount(server.api, 'ann')
    const ben = await registerAccount(server.api, 'ben')
    const benSocket = await sockets.connect(ben.token)

    const reply = await ann.api.raw('POST', '/api/friends/requests', {
      body: { to: ben.username, note: 'hi, Ben' },
    })

    expect(reply).toMatchObject({ status: 201, body: { status: 'pending' } })
    const { request } = await benSocket.next('friend-request')
    expect(request).toEqual({
      username: ann.username,
      identityKey: ann.identityKey,
      note: 'hi, Ben',
      createdAt: expect.any(Number) as unknown,
    })
    expect((await ben.api.friendRequests()).incoming).toEqual([request])
    expect((await ann.api.friendRequests()).outgoing).toEqual([
      { username: ben.username, identityKey: ben.identityKey, note: 'hi, Ben', createdAt: request.createdAt },
    ])
  })

  it('once accepted, make both friends: both are told with friend-added and both lists show it', async () => {
    const cat = await registerAccount(server.api, 'cat')
    const dan = await registerAccount(server.api, 'dan')
    const catSocket = await sockets.connect(cat.token)
    const danSocket = await sockets.connect(dan.token)
    await cat.api.requestFriend(dan.username)

    expect(await dan.api.acceptFriend(cat.username)).toEqual({ status: 'accepted' })

    expect(await catSocket.next('friend-added')).toEqual({
      type: 'friend-added',
      friend: { username: dan.username, identityKey: dan.identityKey },
      online: true,
    })
    expect(await danSocket.next('friend-added')).toMatchObject({
      friend: { username: cat.username },
      online: true,
    })
    expect((await cat.api.friends()).friends).toEqual([
      {
        username: dan.username,
        identityKey: dan.identityKey,
        online: true,
        since: expect.any(Number) as unknown,
      },
    ])
    expect((await dan.api.friends()).friends.map((f) => f.username)).toEqual([cat.username])
    expect(await dan.api.friendRequests()).toEqual({ incoming: [], outgoing: [] })
  })

  it('from someone who already asked you, accept at once', async () => {
    const eve = await registerAccount(server.api, 'eve')
    const fay = await registerAccount(server.api, 'fay')
    await eve.api.requestFriend(fay.username)

    const reply = await fay.api.raw('POST', '/api/friends/requests', {
      body: { to: eve.username.toUpperCase() },
    })

    expect(reply).toMatchObject({ status: 200, body: { status: 'accepted' } })
    expect((await eve.api.friends()).friends.map((f) => f.username)).toEqual([fay.username])
  })

  it('declined: the requester and the decliner’s other devices learn which request closed', async () => {
    const gus = await registerAccount(server.api, 'gus')
    const hal = await registerAccount(server.api, 'hal')
    const halPhone = await loginAgain(server.api, hal)
    const gusSocket = await sockets.connect(gus.token)
    const halPhoneSocket = await sockets.connect(halPhone.token)
    await gus.api.requestFriend(hal.username)

    await hal.api.declineFriend(gus.username)

    expect(await gusSocket.next('friend-request-closed')).toEqual({
      type: 'friend-request-closed',
      username: hal.username,
      reason: 'declined',
    })
    expect(await halPhoneSocket.next('friend-request-closed')).toEqual({
      type: 'friend-request-closed',
      username: gus.username,
      reason: 'declined',
    })
    expect((await gus.api.friendRequests()).outgoing).toEqual([])
    expect((await gus.api.friends()).friends).toEqual([])
  })

  it('cancelled: the recipient and the canceller’s other devices are told, and both lists drop it', async () => {
    const ida = await registerAccount(server.api, 'ida')
    const jon = await registerAccount(server.api, 'jon')
    const idaPhone = await loginAgain(server.api, ida)
    const jonSocket = await sockets.connect(jon.token)
    const idaPhoneSocket = await sockets.connect(idaPhone.token)
    await ida.api.requestFriend(jon.username)

    await ida.api.cancelFriendRequest(jon.username)

    expect(await jonSocket.next('friend-request-closed')).toEqual({
      type: 'friend-request-closed',
      username: ida.username,
      reason: 'cancelled',
    })
    expect(await idaPhoneSocket.next('friend-request-closed')).toEqual({
      type: 'friend-request-closed',
      username: jon.username,
      reason: 'cancelled',
    })
    expect(await jon.api.friendRequests()).toEqual({ incoming: [], outgoing: [] })
    expect((await ida.api.friendRequests()).outgoing).toEqual([])
  })

  it('to yourself, to an unknown user or to a friend are refused', async () => {
    const kim = await registerAccount(server.api, 'kim')
    const lou = await registerAccount(server.api, 'lou')
    await makeFriends(kim, lou)

    await expect(kim.api.requestFriend(kim.username.toUpperCase())).rejects.toMatchObject({
      status: 400,
      code: 'self',
    })
    await expect(kim.api.requestFriend(uniqueName('ghost'))).rejects.toMatchObject({
      status: 404,
      code: 'not-found',
    })
    await expect(kim.api.requestFriend(lou.username)).rejects.toMatchObject({
      status: 409,
      code: 'already-friends',
    })
  })

  it.each<[string, Record<string, unknown>]>([
    ['a note over 280 characters', { to: 'someone', note: 'n'.repeat(limits.friendNoteMaxLength + 1) }],
    ['no recipient', { note: 'hello' }],
    ['an extra field', { to: 'someone', priority: 'high' }],
    ['a number for the note', { to: 'someone', note: 7 }],
  ])('with %s are rejected', async (_what, body) => {
    const max = await registerAccount(server.api, 'max')
    const reply = await max.api.raw('POST', '/api/friends/requests', { body })
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
  })

  it('that do not exist cannot be accepted, declined or cancelled', async () => {
    const ned = await registerAccount(server.api, 'ned')
    const oz = await registerAccount(server.api, 'oz')

    await expect(ned.api.acceptFriend(oz.username)).rejects.toMatchObject({ status: 404, code: 'not-found' })
    await expect(ned.api.declineFriend(oz.username)).rejects.toMatchObject({ status: 404, code: 'not-found' })
    await expect(ned.api.cancelFriendRequest(oz.username)).rejects.toMatchObject({
      status: 404,
      code: 'not-found',
    })
    expect((await ned.api.friends()).friends).toEqual([])
  })

  it.each([
    ['POST', '/api/friends/requests/a%20b/accept'],
    ['POST', '/api/friends/requests/ab/decline'],
    ['DELETE', `/api/friends/requests/${'x'.repeat(33)}`],
    ['DELETE', '/api/friends/no%2Fslash'],
    ['GET', '/api/users/%F0%9F%98%80%F0%9F%98%80'],
  ])('answer %s %s, with a malformed name, 400', async (method, path) => {
    const pat = await registerAccount(server.api, 'pat')
    expect(await pat.api.raw(method, path)).toMatchObject({
      status: 400,
      body: { error: { code: 'bad-request' } },
    })
  })

  it('require a session', async () => {
    const reply = await server.api.raw('POST', '/api/friends/requests', { body: { to: 'someone' } })
    expect(reply).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
  })
})

describe('friends', () => {
  it('removing a friend tells both sides with friend-removed and empties both lists', async () => {
    const pam = await registerAccount(server.api, 'pam')
    const rex = await registerAccount(server.api, 'rex')
    await makeFriends(pam, rex)
    const pamSocket = await sockets.connect(pam.token)
    const rexSocket = await sockets.connect(rex.token)

    await pam.api.removeFriend(rex.username)

    expect(await rexSocket.next('friend-removed')).toEqual({ type: 'friend-removed', username: pam.username })
    expect(await pamSocket.next('friend-removed')).toEqual({ type: 'friend-removed', username: rex.username })
    expect((await pam.api.friends()).friends).toEqual([])
    expect((await rex.api.friends()).friends).toEqual([])
  })

  it('removing someone who is not a friend answers 403 not-friends', async () => {
    const sue = await registerAccount(server.api, 'sue')
    const ted = await registerAccount(server.api, 'ted')
    await expect(sue.api.removeFriend(ted.username)).rejects.toMatchObject({
      status: 403,
      code: 'not-friends',
    })
  })

  it("show each friend's presence", async () => {
    const una = await registerAccount(server.api, 'una')
    const val = await registerAccount(server.api, 'val')
    const wim = await registerAccount(server.api, 'wim')
    await makeFriends(una, val)
    await makeFriends(una, wim)
    await sockets.connect(val.token)

    const { friends } = await una.api.friends()

    expect(friends.map((f) => [f.username, f.online])).toEqual(
      [
        [val.username, true],
        [wim.username, false],
      ].sort(),
    )
  })
})

describe('blocking', () => {
  it('ends a friendship, tells both sides, and lists the blocked user', async () => {
    const abe = await registerAccount(server.api, 'abe')
    const bea = await registerAccount(server.api, 'bea')
    await makeFriends(abe, bea)
    const beaSocket = await sockets.connect(bea.token)

    await abe.api.block(bea.username.toUpperCase())

    expect(await beaSocket.next('friend-removed')).toEqual({ type: 'friend-removed', username: abe.username })
    expect(await abe.api.blocks()).toEqual({ blocked: [bea.username] })
    expect((await bea.api.friends()).friends).toEqual([])
  })

  it("answers the blocked user's requests as for a name nobody has; the blocker sees nothing", async () => {
    const cy = await registerAccount(server.api, 'cy')
    const di = await registerAccount(server.api, 'di')
    await cy.api.block(di.username)
    const cySocket = await sockets.connect(cy.token)

    const toBlocker = await di.api.raw('POST', '/api/friends/requests', { body: { to: cy.username } })
    const toNobody = await di.api.raw('POST', '/api/friends/requests', { body: { to: uniqueName('nobody') } })
    expect(toBlocker).toMatchObject({ status: 404, body: toNobody.body })

    await cySocket.sync()
    expect(cySocket.received('friend-request')).toEqual([])
    expect((await cy.api.friendRequests()).incoming).toEqual([])
  })

  it('drops pending requests between the two', async () => {
    const ed = await registerAccount(server.api, 'ed')
    const flo = await registerAccount(server.api, 'flo')
    await ed.api.requestFriend(flo.username)

    await flo.api.block(ed.username)

    expect(await ed.api.friendRequests()).toEqual({ incoming: [], outgoing: [] })
    await flo.api.unblock(ed.username)
    await expect(flo.api.acceptFriend(ed.username)).rejects.toMatchObject({ status: 404 })
  })

  it('stops the blocker from asking the blocked user until they unblock', async () => {
    const gil = await registerAccount(server.api, 'gil')
    const hue = await registerAccount(server.api, 'hue')
    await gil.api.block(hue.username)

    await expect(gil.api.requestFriend(hue.username)).rejects.toMatchObject({ status: 409, code: 'blocked' })
    await gil.api.unblock(hue.username)
    expect(await gil.api.blocks()).toEqual({ blocked: [] })
    expect(await gil.api.requestFriend(hue.username)).toEqual({ status: 'pending' })
  })

  it('refuses to block yourself or an unknown user, and to unblock someone not blocked', async () => {
    const ike = await registerAccount(server.api, 'ike')

    await expect(ike.api.block(ike.username)).rejects.toMatchObject({ status: 400, code: 'self' })
    await expect(ike.api.block(uniqueName('ghost'))).rejects.toMatchObject({ status: 404, code: 'not-found' })
    await expect(ike.api.unblock(uniqueName('ghost'))).rejects.toMatchObject({
      status: 404,
      code: 'not-found',
    })
    const reply = await ike.api.raw('POST', '/api/blocks', {
      body: { username: 'ok_name', reason: randomB64(4) },
    })
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
  })
})
