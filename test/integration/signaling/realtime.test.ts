import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { closeCodes, limits } from '../../../shared/index.ts'
import { loginAgain, makeFriends, randomB64, registerAccount, type Account } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets, WsClient } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  server = await startServer()
})
afterEach(() => sockets.closeAll())
afterAll(() => server.close())

async function friends(): Promise<[Account, Account]> {
  const [a, b] = await Promise.all([registerAccount(server.api, 'amy'), registerAccount(server.api, 'bo')])
  await makeFriends(a, b)
  return [a, b]
}

const offer = (to: string) => ({
  type: 'signal',
  to,
  sid: randomB64(12),
  envelope: `signed-offer:${randomB64(48)}`,
  ref: WsClient.newRef(),
})

/** Waits until the server holds this many sockets: its view of connects and closes has caught up. */
async function serverHolds(connections: number): Promise<void> {
  await vi.waitFor(() => expect(server.app.ctx.hub.localConnections()).toBe(connections), { timeout: 5_000 })
}

describe('socket authentication', () => {
  it(`closes a socket that does not authenticate within ${limits.authTimeoutMs} ms with 4401`, async () => {
    const socket = await sockets.raw()

    expect(await socket.next('error', undefined, limits.authTimeoutMs + 5_000)).toMatchObject({
      code: 'auth-timeout',
    })
    expect(await socket.closed).toMatchObject({ code: closeCodes.unauthorized })
  })

  it('answers an unknown token with unauthorized and closes with 4401', async () => {
    const socket = await sockets.raw()
    socket.send({ type: 'auth', token: randomB64(32), ref: 'a1' })

    expect(await socket.next('error')).toMatchObject({ code: 'unauthorized', ref: 'a1' })
    expect((await socket.closed).code).toBe(closeCodes.unauthorized)
  })

  it('answers a first frame other than auth with not-authenticated and closes with 4401', async () => {
    const socket = await sockets.raw()
    socket.send({ type: 'ping', ref: 'p1' })

    expect(await socket.next('error')).toMatchObject({ code: 'not-authenticated', ref: 'p1' })
    expect((await socket.closed).code).toBe(closeCodes.unauthorized)
    expect(socket.received('pong')).toEqual([])
  })

  it('answers auth with ready: who you are, the session, and which contacts are online, echoing the ref', async () => {
    const [amy, bo] = await friends()
    await sockets.connect(bo.token)
    const socket = await sockets.raw()
    socket.send({ type: 'auth', token: amy.token, ref: 'hello' })

    expect(await socket.next('ready')).toEqual({
      type: 'ready',
      username: amy.username,
      sessionId: amy.sessionId,
      online: [bo.username],
      ref: 'hello',
    })
  })

  it('answers a second auth on an authenticated socket with already-authenticated and stays open', async () => {
    const [amy] = await friends()
    const socket = await sockets.connect(amy.token)
    socket.send({ type: 'auth', token: amy.token, ref: 'again' })

    expect(await socket.next('error')).toMatchObject({ code: 'already-authenticated', ref: 'again' })
    await socket.sync()
  })
})

describe('ping', () => {
  it('is answered with pong echoing the ref, or without one when none was sent', async () => {
    const [amy] = await friends()
    const socket = await sockets.connect(amy.token)

    socket.send({ type: 'ping', ref: 'r-42' })
    expect(await socket.next('pong')).toEqual({ type: 'pong', ref: 'r-42' })
    socket.send({ type: 'ping' })
    expect(await socket.next('pong')).toEqual({ type: 'pong' })
  })
})

describe('signal relay', () => {
  it("delivers a friend's signal to every socket of the recipient, and answers the sender sent", async () => {
    const [amy, bo] = await friends()
    const boLaptop = await loginAgain(server.api, bo)
    const amySocket = await sockets.connect(amy.token)
    const boSocket = await sockets.connect(bo.token)
    const boLaptopSocket = await sockets.connect(boLaptop.token)
    const frame = offer(bo.username.toUpperCase())

    amySocket.send(frame)

    expect(await amySocket.next('sent')).toEqual({ type: 'sent', ref: frame.ref })
    const relayed = { type: 'signal', from: amy.username, sid: frame.sid, envelope: frame.envelope }
    expect(await boSocket.next('signal')).toEqual(relayed)
    expect(await boLaptopSocket.next('signal')).toEqual(relayed)
  })

  it('answers peer-offline for a friend who is not connected', async () => {
    const [amy, bo] = await friends()
    const amySocket = await sockets.connect(amy.token)
    const frame = offer(bo.username)

    amySocket.send(frame)

    expect(await amySocket.next('error')).toMatchObject({ code: 'peer-offline', ref: frame.ref })
  })

  it('refuses signals to strangers, unknown users and yourself with not-friends, and delivers nothing', async () => {
    const [amy] = await friends()
    const stranger = await registerAccount(server.api, 'stranger')
    const amySocket = await sockets.connect(amy.token)
    const strangerSocket = await sockets.connect(stranger.token)

    for (const to of [stranger.username, 'no_such_user', amy.username]) {
      const frame = offer(to)
      amySocket.send(frame)
      expect(await amySocket.next('error')).toMatchObject({ code: 'not-friends', ref: frame.ref })
    }
    await strangerSocket.sync()
    expect(strangerSocket.received('signal')).toEqual([])
  })

  it('stops relaying between former friends once the friendship ends', async () => {
    const [amy, bo] = await friends()
    const amySocket = await sockets.connect(amy.token)
    await sockets.connect(bo.token)
    amySocket.send(offer(bo.username))
    await amySocket.next('sent')

    await bo.api.removeFriend(amy.username)

    const frame = offer(bo.username)
    amySocket.send(frame)
    expect(await amySocket.next('error')).toMatchObject({ code: 'not-friends', ref: frame.ref })
  })

  it('relays between group members who are not friends, until one is removed from the group', async () => {
    const [admin, bo] = await friends()
    const cy = await registerAccount(server.api, 'cy')
    await makeFriends(admin, cy)
    const group = await admin.api.createGroup({
      name: 'g',
      members: [bo.username, cy.username],
      memberList: 'AA',
    })
    const boSocket = await sockets.connect(bo.token)
    const cySocket = await sockets.connect(cy.token)
    const first = offer(cy.username)

    boSocket.send(first)

    expect(await boSocket.next('sent')).toEqual({ type: 'sent', ref: first.ref })
    expect(await cySocket.next('signal')).toMatchObject({ from: bo.username, sid: first.sid })

    await admin.api.updateMembers(group.id, {
      members: group.members.filter((m) => m.username !== cy.username),
      memberList: 'AA',
    })
    const second = offer(cy.username)
    boSocket.send(second)
    expect(await boSocket.next('error')).toMatchObject({ code: 'not-friends', ref: second.ref })
  })

  it('refuses signals in both directions once one blocks the other, even within a shared group', async () => {
    const [admin, bo] = await friends()
    const cy = await registerAccount(server.api, 'cy')
    await makeFriends(admin, cy)
    await admin.api.createGroup({ name: 'g', members: [bo.username, cy.username], memberList: 'AA' })
    const boSocket = await sockets.connect(bo.token)
    const cySocket = await sockets.connect(cy.token)
    boSocket.send(offer(cy.username))
    await boSocket.next('sent')

    await cy.api.block(bo.username)

    const toBlocker = offer(cy.username)
    boSocket.send(toBlocker)
    expect(await boSocket.next('error')).toMatchObject({ code: 'not-friends', ref: toBlocker.ref })
    const fromBlocker = offer(bo.username)
    cySocket.send(fromBlocker)
    expect(await cySocket.next('error')).toMatchObject({ code: 'not-friends', ref: fromBlocker.ref })
    expect(cySocket.received('signal')).toHaveLength(1)
  })
})

describe('presence', () => {
  it('tells friends when a user comes online and goes offline, and tells strangers nothing', async () => {
    const [amy, bo] = await friends()
    const stranger = await registerAccount(server.api, 'stranger')
    const boSocket = await sockets.connect(bo.token)
    const strangerSocket = await sockets.connect(stranger.token)

    const amySocket = await WsClient.connect(server.wsUrl, amy.token)
    expect(await boSocket.next('presence')).toEqual({
      type: 'presence',
      username: amy.username,
      online: true,
    })
    await amySocket.close()
    expect(await boSocket.next('presence')).toEqual({
      type: 'presence',
      username: amy.username,
      online: false,
    })

    await strangerSocket.sync()
    expect(strangerSocket.received('presence')).toEqual([])
  })

  it('tells group members who are not friends', async () => {
    const [admin, bo] = await friends()
    const cy = await registerAccount(server.api, 'cy')
    await makeFriends(admin, cy)
    await admin.api.createGroup({ name: 'g', members: [bo.username, cy.username], memberList: 'AA' })
    const cySocket = await sockets.connect(cy.token)

    await sockets.connect(bo.token)

    expect(await cySocket.next('presence')).toEqual({ type: 'presence', username: bo.username, online: true })
  })

  it('keeps a user online and reachable while any of their sockets is open', async () => {
    const [amy, bo] = await friends()
    const bo2 = await loginAgain(server.api, bo)
    const amySocket = await sockets.connect(amy.token)
    const boPhone = await WsClient.connect(server.wsUrl, bo.token)
    const boLaptop = await sockets.connect(bo2.token)
    await amySocket.next('presence', (f) => f.online)

    await boPhone.close()
    await serverHolds(2)

    const frame = offer(bo.username)
    amySocket.send(frame)
    expect(await amySocket.next('sent')).toEqual({ type: 'sent', ref: frame.ref })
    expect(await boLaptop.next('signal')).toMatchObject({ sid: frame.sid })
    expect((await amy.api.friends()).friends).toEqual([
      expect.objectContaining({ username: bo.username, online: true }),
    ])
  })
})

describe('key changes', () => {
  it('are pushed to friends with the new key, and not to strangers', async () => {
    const [amy, bo] = await friends()
    const stranger = await registerAccount(server.api, 'stranger')
    const boSocket = await sockets.connect(bo.token)
    const strangerSocket = await sockets.connect(stranger.token)
    const identityKey = randomB64(32)

    await amy.api.resetIdentity({ authKey: amy.authKey, identityKey, keyBundle: randomB64(64) })

    expect(await boSocket.next('key-changed')).toEqual({
      type: 'key-changed',
      username: amy.username,
      identityKey,
    })
    await strangerSocket.sync()
    expect(strangerSocket.received('key-changed')).toEqual([])
  })
})
