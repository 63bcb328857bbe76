// Issue 15, D8: a blocked user still saw the blocker's presence through a shared group, and could
// tell they were blocked (a direct lookup answered 200 while search hid the blocker). Blocking
// now hides presence everywhere, and the blocker looks to the blocked person like a name nobody
// has.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { makeFriends, registerAccount, uniqueName, type Account } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets, type WsClient } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  server = await startServer()
})
afterEach(() => sockets.closeAll())
afterAll(() => server.close())

/** Carol is friends with Alice and Bob; all three are in Carol's group, unless `bobInGroup` is false. */
async function sharedGroup(
  bobInGroup = true,
): Promise<{ alice: Account; bob: Account; carol: Account; groupId: string }> {
  const [alice, bob, carol] = await Promise.all([
    registerAccount(server.api, 'alice'),
    registerAccount(server.api, 'bob'),
    registerAccount(server.api, 'carol'),
  ])
  await makeFriends(carol, alice)
  await makeFriends(carol, bob)
  const members = bobInGroup ? [alice.username, bob.username] : [alice.username]
  const group = await carol.api.createGroup({ name: 'Shared', members, memberList: 'AA' })
  return { alice, bob, carol, groupId: group.id }
}

/** Presence frames about `username` the socket received so far, after everything sent before now arrived. */
async function presenceOf(socket: WsClient, username: string): Promise<boolean[]> {
  await socket.sync()
  return socket
    .received('presence')
    .filter((f) => f.username === username)
    .map((f) => f.online)
}

describe('blocking hides presence in shared groups', () => {
  it('shows a blocker to the one they blocked as never online, while the rest of the group sees them', async () => {
    const { alice, bob, carol } = await sharedGroup()
    await alice.api.block(bob.username)
    const bobSocket = await sockets.connect(bob.token)
    const carolSocket = await sockets.connect(carol.token)

    const aliceSocket = await sockets.connect(alice.token)
    await carolSocket.next('presence', (f) => f.username === alice.username && f.online)
    const bobAgain = await sockets.connect(bob.token)
    await aliceSocket.close()
    await carolSocket.next('presence', (f) => f.username === alice.username && !f.online)

    expect(await presenceOf(bobSocket, alice.username)).toEqual([])
    expect(bobAgain.ready.online).not.toContain(alice.username)
    expect(bobAgain.ready.online).toContain(carol.username)
    expect(aliceSocket.ready.online).not.toContain(bob.username)
    expect(aliceSocket.ready.online).toContain(carol.username)
  })

  it('takes each out of the other’s sight when the block happens, and brings them back on unblock', async () => {
    const { alice, bob, carol } = await sharedGroup()
    const aliceSocket = await sockets.connect(alice.token)
    const bobSocket = await sockets.connect(bob.token)
    const carolSocket = await sockets.connect(carol.token)
    expect(bobSocket.ready.online).toContain(alice.username)
    await aliceSocket.next('presence', (f) => f.username === bob.username && f.online)

    await alice.api.block(bob.username)
    expect(await bobSocket.next('presence', (f) => f.username === alice.username)).toMatchObject({
      online: false,
    })
    expect(await aliceSocket.next('presence', (f) => f.username === bob.username)).toMatchObject({
      online: false,
    })

    await alice.api.unblock(bob.username)
    expect(await bobSocket.next('presence', (f) => f.username === alice.username)).toMatchObject({
      online: true,
    })
    expect(await aliceSocket.next('presence', (f) => f.username === bob.username)).toMatchObject({
      online: true,
    })
    expect(await presenceOf(carolSocket, alice.username)).toEqual([])
  })

  it('does not introduce a blocker as online to the one they blocked when both end up in a group', async () => {
    const { alice, bob, carol, groupId } = await sharedGroup(false)
    await alice.api.block(bob.username)
    await sockets.connect(alice.token)
    const bobSocket = await sockets.connect(bob.token)

    const group = await carol.api.group(groupId)
    await carol.api.updateMembers(groupId, {
      members: [...group.members, { username: bob.username, role: 'member' }],
      memberList: 'AB',
    })

    await bobSocket.next('group-updated', (f) => f.group.id === groupId)
    expect(await presenceOf(bobSocket, alice.username)).toEqual([])
  })
})

describe('to the blocked person, a blocker is a name nobody has', () => {
  it('answers lookup, friend request and block exactly as for a name nobody has, and search leaves them out', async () => {
    const alice = await registerAccount(server.api, 'hider')
    const bob = await registerAccount(server.api, 'seeker')
    await alice.api.block(bob.username)
    const nobody = uniqueName('nobody')

    const asked = async (name: string): Promise<unknown[]> =>
      Promise.all([
        bob.api.raw('GET', `/api/users/${name}`),
        bob.api.raw('POST', '/api/friends/requests', { body: { to: name } }),
        bob.api.raw('POST', '/api/blocks', { body: { username: name } }),
      ]).then((replies) => replies.map((r) => ({ status: r.status, body: r.body })))

    const [blocker, none] = await Promise.all([asked(alice.username), asked(nobody)])
    expect(blocker).toEqual(none)
    expect(blocker.every((r) => (r as { status: number }).status === 404)).toBe(true)
    expect((await bob.api.searchUsers(alice.username)).users).toEqual([])
    // The blocker still finds the blocked user: the block is theirs to see.
    expect(await alice.api.user(bob.username)).toEqual({
      username: bob.username,
      identityKey: bob.identityKey,
    })
  })
})
