import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { limits, type Group } from '../../../shared/index.ts'
import { makeFriends, randomB64, registerAccount, type Account } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets } from '../../helpers/ws-client.ts'

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  server = await startServer()
})
afterEach(() => sockets.closeAll())
afterAll(() => server.close())

/** An admin with two friends, and a stranger nobody in the group knows. */
async function cast(): Promise<{ admin: Account; bob: Account; cleo: Account; stranger: Account }> {
  const [admin, bob, cleo, stranger] = await Promise.all([
    registerAccount(server.api, 'admin'),
    registerAccount(server.api, 'bob'),
    registerAccount(server.api, 'cleo'),
    registerAccount(server.api, 'stranger'),
  ])
  await makeFriends(admin, bob)
  await makeFriends(admin, cleo)
  return { admin, bob, cleo, stranger }
}

const roles = (group: Group): string[][] =>
  group.members.map((m) => [m.username, m.role]).sort((a, b) => String(a[0]).localeCompare(String(b[0])))

const expected = (...pairs: [Account, 'admin' | 'member'][]): string[][] =>
  pairs.map(([a, role]) => [a.username, role]).sort((a, b) => String(a[0]).localeCompare(String(b[0])))

describe('creating a group', () => {
  it('makes the creator admin and tells every member with group-updated', async () => {
    const { admin, bob, cleo } = await cast()
    const adminSocket = await sockets.connect(admin.token)
    const bobSocket = await sockets.connect(bob.token)

    const reply = await admin.api.raw('POST', '/api/groups', {
      body: { name: 'Hikers', members: [bob.username, cleo.username.toUpperCase()], memberList: 'c2lnbmVk' },
    })

    expect(reply.status).toBe(201)
    const group = reply.body as Group
    expect(group).toMatchObject({ name: 'Hikers', memberList: 'c2lnbmVk', version: 1 })
    expect(roles(group)).toEqual(expected([admin, 'admin'], [bob, 'member'], [cleo, 'member']))
    expect((await bobSocket.next('group-updated')).group).toEqual(group)
    expect((await adminSocket.next('group-updated')).group).toEqual(group)
    expect(await cleo.api.groups()).toEqual({ groups: [group] })
    expect(await bob.api.group(group.id)).toEqual(group)
  })

  it('refuses a member who is not a friend of the creator, and creates nothing', async () => {
    const { admin, bob, stranger } = await cast()

    await expect(
      admin.api.createGroup({ name: 'Nope', members: [bob.username, stranger.username], memberList: 'AA' }),
    ).rejects.toMatchObject({ status: 403, code: 'not-friends' })
    expect(await admin.api.groups()).toEqual({ groups: [] })
    expect(await bob.api.groups()).toEqual({ groups: [] })
  })

  it.each<[string, Record<string, unknown>]>([
    ['an empty name', { name: '', members: [], memberList: 'AA' }],
    [
      'a name over 64 characters',
      { name: 'n'.repeat(limits.groupNameMaxLength + 1), members: [], memberList: 'AA' },
    ],
    ['the same member twice', { name: 'g', members: ['same_one', 'same_one'], memberList: 'AA' }],
    [
      `more than ${limits.groupMaxMembers - 1} other members`,
      {
        name: 'g',
        members: Array.from({ length: limits.groupMaxMembers }, (_, i) => `m${i}xx`),
        memberList: 'AA',
      },
    ],
    ['no signed member list', { name: 'g', members: [] }],
    ['a member list that is not base64url', { name: 'g', members: [], memberList: 'not base64!' }],
    ['an extra field', { name: 'g', members: [], memberList: 'AA', public: true }],
  ])('rejects a request with %s', async (_what, body) => {
    const someone = await registerAccount(server.api, 'someone')
    expect(await someone.api.raw('POST', '/api/groups', { body })).toMatchObject({
      status: 400,
      body: { error: { code: 'bad-request' } },
    })
    expect(await someone.api.groups()).toEqual({ groups: [] })
  })

  it('requires a session', async () => {
    const reply = await server.api.raw('POST', '/api/groups', {
      body: { name: 'g', members: [], memberList: 'AA' },
    })
    expect(reply).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
  })
})

describe('a group', () => {
  it('is answered 404 to non-members for every route, as if it did not exist', async () => {
    const { admin, bob, stranger } = await cast()
    const group = await admin.api.createGroup({ name: 'Private', members: [bob.username], memberList: 'AA' })

    await expect(stranger.api.group(group.id)).rejects.toMatchObject({ status: 404, code: 'not-found' })
    await expect(stranger.api.renameGroup(group.id, { name: 'Mine' })).rejects.toMatchObject({ status: 404 })
    await expect(
      stranger.api.updateMembers(group.id, {
        members: [{ username: stranger.username, role: 'admin' }],
        memberList: 'AA',
      }),
    ).rejects.toMatchObject({ status: 404 })
    await expect(stranger.api.leaveGroup(group.id)).rejects.toMatchObject({ status: 404 })
    await expect(admin.api.group(randomB64(16))).rejects.toMatchObject({ status: 404, code: 'not-found' })
    expect(await admin.api.group(group.id)).toEqual(group)
  })

  it('rejects a malformed group id', async () => {
    const { admin } = await cast()
    expect(await admin.api.raw('GET', '/api/groups/short')).toMatchObject({
      status: 400,
      body: { error: { code: 'bad-request' } },
    })
  })

  it('cannot be changed by a member who is not an admin', async () => {
    const { admin, bob, cleo } = await cast()
    const group = await admin.api.createGroup({
      name: 'Book club',
      members: [bob.username],
      memberList: 'AA',
    })
    await makeFriends(bob, cleo)

    await expect(bob.api.renameGroup(group.id, { name: 'Bob club' })).rejects.toMatchObject({
      status: 403,
      code: 'not-admin',
    })
    await expect(
      bob.api.updateMembers(group.id, {
        members: [...group.members, { username: cleo.username, role: 'member' }],
        memberList: 'AA',
      }),
    ).rejects.toMatchObject({ status: 403, code: 'not-admin' })
    expect(await admin.api.group(group.id)).toEqual(group)
  })

  it('gains and loses members by an admin: the group is told, the removed member gets group-removed', async () => {
    const { admin, bob, cleo } = await cast()
    const group = await admin.api.createGroup({ name: 'Band', members: [bob.username], memberList: 'djE' })
    const bobSocket = await sockets.connect(bob.token)
    const cleoSocket = await sockets.connect(cleo.token)

    const updated = await admin.api.updateMembers(group.id, {
      members: [
        { username: admin.username, role: 'admin' },
        { username: cleo.username, role: 'member' },
      ],
      memberList: 'djI',
    })

    expect(roles(updated)).toEqual(expected([admin, 'admin'], [cleo, 'member']))
    expect(updated).toMatchObject({ version: 2, memberList: 'djI', name: 'Band' })
    expect(await cleoSocket.next('group-updated')).toEqual({ type: 'group-updated', group: updated })
    expect(await bobSocket.next('group-removed')).toEqual({
      type: 'group-removed',
      groupId: group.id,
      by: admin.username,
    })
    expect(await bob.api.groups()).toEqual({ groups: [] })
    await expect(bob.api.group(group.id)).rejects.toMatchObject({ status: 404 })
  })

  it('shows members who are not friends each other online, before telling them of the group', async () => {
    const { admin, bob, cleo } = await cast()
    const bobSocket = await sockets.connect(bob.token)
    const cleoSocket = await sockets.connect(cleo.token)
    expect(bobSocket.ready.online).not.toContain(cleo.username)

    const group = await admin.api.createGroup({ name: 'Trio', members: [bob.username], memberList: 'AA' })
    await bobSocket.next('group-updated')
    const added = await admin.api.updateMembers(group.id, {
      members: [
        { username: admin.username, role: 'admin' },
        { username: bob.username, role: 'member' },
        { username: cleo.username, role: 'member' },
      ],
      memberList: 'AA',
    })

    expect(await bobSocket.next('presence', (f) => f.username === cleo.username)).toMatchObject({
      online: true,
    })
    expect((await cleoSocket.next('group-updated')).group).toEqual(added)
    const seen = cleoSocket.frames.map((f) => (f.type === 'presence' ? `presence ${f.username}` : f.type))
    expect(seen.indexOf(`presence ${bob.username}`)).toBeGreaterThanOrEqual(0)
    expect(seen.indexOf(`presence ${bob.username}`)).toBeLessThan(seen.indexOf('group-updated'))
  })

  it('keeps one admin: a second admin, or handing the role on, is refused and nothing changes', async () => {
    const { admin, bob } = await cast()
    const group = await admin.api.createGroup({ name: 'Duo', members: [bob.username], memberList: 'AA' })

    for (const members of [
      [
        { username: admin.username, role: 'admin' as const },
        { username: bob.username, role: 'admin' as const },
      ],
      [
        { username: admin.username, role: 'member' as const },
        { username: bob.username, role: 'admin' as const },
      ],
    ])
      await expect(admin.api.updateMembers(group.id, { members, memberList: 'AB' })).rejects.toMatchObject({
        status: 400,
        code: 'bad-request',
      })

    expect(await admin.api.group(group.id)).toEqual(group)
    await expect(bob.api.renameGroup(group.id, { name: 'Taken over' })).rejects.toMatchObject({
      status: 403,
      code: 'not-admin',
    })
  })

  it("refuses to add someone who is not the admin's friend", async () => {
    const { admin, bob, stranger } = await cast()
    const group = await admin.api.createGroup({ name: 'Close', members: [bob.username], memberList: 'AA' })

    await expect(
      admin.api.updateMembers(group.id, {
        members: [...group.members, { username: stranger.username, role: 'member' }],
        memberList: 'AA',
      }),
    ).rejects.toMatchObject({ status: 403, code: 'not-friends' })
    expect((await admin.api.group(group.id)).members).toEqual(group.members)
  })

  it('refuses a member list without an admin', async () => {
    const { admin, bob } = await cast()
    const group = await admin.api.createGroup({ name: 'Headless', members: [bob.username], memberList: 'AA' })

    await expect(
      admin.api.updateMembers(group.id, {
        members: [{ username: bob.username, role: 'member' }],
        memberList: 'AA',
      }),
    ).rejects.toMatchObject({ status: 400, code: 'bad-request' })
    const reply = await admin.api.raw('PUT', `/api/groups/${group.id}/members`, {
      body: { members: [{ username: bob.username, role: 'owner' }], memberList: 'AA' },
    })
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
    expect(await admin.api.group(group.id)).toEqual(group)
  })

  it('is renamed by an admin, and every member is told', async () => {
    const { admin, bob } = await cast()
    const group = await admin.api.createGroup({ name: 'Old name', members: [bob.username], memberList: 'AA' })
    const bobSocket = await sockets.connect(bob.token)

    const renamed = await admin.api.renameGroup(group.id, { name: 'New name', memberList: 'BB' })

    expect(renamed).toMatchObject({ id: group.id, name: 'New name', memberList: 'BB', version: 2 })
    expect(renamed.members).toEqual(group.members)
    expect(await bobSocket.next('group-updated')).toEqual({ type: 'group-updated', group: renamed })
    const tooLong = await admin.api.raw('PATCH', `/api/groups/${group.id}`, {
      body: { name: 'x'.repeat(65) },
    })
    expect(tooLong).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
  })

  it('is left by a member: the rest are told, the leaver gets group-removed and no longer sees it', async () => {
    const { admin, bob, cleo } = await cast()
    const group = await admin.api.createGroup({
      name: 'Trio',
      members: [bob.username, cleo.username],
      memberList: 'AA',
    })
    const adminSocket = await sockets.connect(admin.token)
    const bobSocket = await sockets.connect(bob.token)

    await bob.api.leaveGroup(group.id)

    const { group: after } = await adminSocket.next('group-updated', (f) => f.group.id === group.id)
    expect(roles(after)).toEqual(expected([admin, 'admin'], [cleo, 'member']))
    expect(await bobSocket.next('group-removed')).toEqual({
      type: 'group-removed',
      groupId: group.id,
      by: bob.username,
    })
    expect(await bob.api.groups()).toEqual({ groups: [] })
    expect(await cleo.api.group(group.id)).toEqual(after)
  })

  it('keeps its admin while others remain, so it never ends up with none', async () => {
    const { admin, bob, cleo } = await cast()
    const group = await admin.api.createGroup({
      name: 'Trio',
      members: [bob.username, cleo.username],
      memberList: 'AA',
    })
    await expect(admin.api.leaveGroup(group.id)).rejects.toMatchObject({ status: 409, code: 'conflict' })
    expect(roles(await admin.api.group(group.id))).toEqual(
      expected([admin, 'admin'], [bob, 'member'], [cleo, 'member']),
    )
    await admin.api.updateMembers(group.id, {
      members: [{ username: admin.username, role: 'admin' }],
      memberList: 'AB',
    })
    await admin.api.leaveGroup(group.id)
    await expect(bob.api.group(group.id)).rejects.toMatchObject({ status: 404 })
  })

  it('is gone when its last member leaves', async () => {
    const { admin } = await cast()
    const group = await admin.api.createGroup({ name: 'Solo', members: [], memberList: 'AA' })

    await admin.api.leaveGroup(group.id)

    expect(await admin.api.groups()).toEqual({ groups: [] })
    await expect(admin.api.group(group.id)).rejects.toMatchObject({ status: 404 })
  })
})
