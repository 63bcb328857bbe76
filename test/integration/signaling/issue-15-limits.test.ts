// Issue 15, D10: limits with typed answers. Before: 300 repeat friend requests gave the recipient
// 300 notifications in 1.1 s, 500 name lookups went through in 1.1 s past SEARCH_RATE, and a
// friend inflated another user's GET /api/groups to 4.9 MB by adding them to group after group.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Api as ClientApi } from '../../../client/core/api.ts'
import { limits } from '../../../shared/index.ts'
import { makeFriends, registerAccount, type Account } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { Sockets } from '../../helpers/ws-client.ts'

const requestsPerUser = 3
const lookupsPerMin = 4
const maxGroups = 3

let server: TestServer
const sockets = new Sockets(() => server.wsUrl)

beforeAll(async () => {
  server = await startServer({
    env: {
      FRIEND_REQUESTS_PER_USER: String(requestsPerUser),
      SEARCH_RATE: String(lookupsPerMin),
      MAX_GROUPS_PER_USER: String(maxGroups),
    },
  })
})
afterEach(() => sockets.closeAll())
afterAll(() => server.close())

describe('repeat friend requests', () => {
  it(`notify the recipient at most ${requestsPerUser} times an hour; past that the sender gets 429 with Retry-After`, async () => {
    const [asker, asked, other] = await Promise.all([
      registerAccount(server.api, 'asker'),
      registerAccount(server.api, 'asked'),
      registerAccount(server.api, 'other'),
    ])
    const askedSocket = await sockets.connect(asked.token)

    for (let i = 0; i < requestsPerUser; i++)
      expect(await asker.api.requestFriend(asked.username, `please ${i}`)).toEqual({ status: 'pending' })
    const refused = await asker.api.raw('POST', '/api/friends/requests', {
      body: { to: asked.username, note: 'please, again' },
    })

    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'rate-limited' } } })
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    await askedSocket.sync()
    expect(askedSocket.received('friend-request').map((f) => f.request.note)).toEqual([
      'please 0',
      'please 1',
      'please 2',
    ])
    expect((await asked.api.friendRequests()).incoming.map((r) => r.note)).toEqual(['please 2'])
    // Another person, and the asked one answering, are not held up.
    expect(await asker.api.requestFriend(other.username)).toEqual({ status: 'pending' })
    expect(await asked.api.acceptFriend(asker.username)).toEqual({ status: 'accepted' })
  })
})

describe('name lookups', () => {
  it(`share the search budget of ${lookupsPerMin} a minute per account, with 429 and Retry-After`, async () => {
    const [nosy, calm, target] = await Promise.all([
      registerAccount(server.api, 'nosy'),
      registerAccount(server.api, 'calm'),
      registerAccount(server.api, 'target'),
    ])
    await nosy.api.searchUsers('tar')
    await nosy.api.searchUsers('tar')
    await nosy.api.user(target.username)
    await nosy.api.user(target.username)

    const refused = await nosy.api.raw('GET', `/api/users/${target.username}`)

    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'rate-limited' } } })
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    await expect(nosy.api.searchUsers('tar')).rejects.toMatchObject({ status: 429, code: 'rate-limited' })
    expect(await calm.api.user(target.username)).toEqual({
      username: target.username,
      identityKey: target.identityKey,
    })
  })
})

describe('groups per account', () => {
  it(`stop at ${maxGroups}: creating or being added past it is refused with 409 too-many-groups`, async () => {
    const [busy, friend, third] = await Promise.all([
      registerAccount(server.api, 'busy'),
      registerAccount(server.api, 'friend'),
      registerAccount(server.api, 'third'),
    ])
    await makeFriends(busy, friend)
    await makeFriends(friend, third)
    const mine = []
    for (let i = 0; i < maxGroups; i++)
      mine.push(await busy.api.createGroup({ name: `mine ${i}`, members: [], memberList: 'AA' }))

    await expect(
      busy.api.createGroup({ name: 'one more', members: [], memberList: 'AA' }),
    ).rejects.toMatchObject({ status: 409, code: 'too-many-groups' })
    await expect(
      friend.api.createGroup({ name: 'with busy', members: [busy.username], memberList: 'AA' }),
    ).rejects.toMatchObject({
      status: 409,
      code: 'too-many-groups',
      message: expect.stringContaining(busy.username) as string,
    })
    const theirs = await friend.api.createGroup({
      name: 'without',
      members: [third.username],
      memberList: 'AA',
    })
    const addBusy = {
      members: [...theirs.members, { username: busy.username, role: 'member' as const }],
      memberList: 'AB',
    }
    await expect(friend.api.updateMembers(theirs.id, addBusy)).rejects.toMatchObject({
      status: 409,
      code: 'too-many-groups',
    })
    expect((await busy.api.groups()).groups.map((g) => g.id)).toEqual(mine.map((g) => g.id))

    const first = mine[0]
    if (first === undefined) throw new Error('no group made')
    await busy.api.leaveGroup(first.id)
    expect((await friend.api.updateMembers(theirs.id, addBusy)).members.map((m) => m.username)).toContain(
      busy.username,
    )
  })
})

describe('GET /api/groups', () => {
  let big: TestServer
  let owner: Account

  beforeAll(async () => {
    big = await startServer()
    owner = await registerAccount(big.api, 'owner')
  })
  afterAll(() => big.close())

  it(`answers ${limits.groupsPageSize} groups a page with a cursor to the next; the client reads them all once`, async () => {
    const made: string[] = []
    for (let i = 0; i < 2 * limits.groupsPageSize + 5; i++)
      made.push((await owner.api.createGroup({ name: `g${i}`, members: [], memberList: 'AA' })).id)

    const first = await owner.api.groups()
    expect(first.groups).toHaveLength(limits.groupsPageSize)
    expect(first.next).toBeDefined()
    // A group made between two pages shows up at the end, and nothing shows up twice.
    made.push((await owner.api.createGroup({ name: 'late', members: [], memberList: 'AA' })).id)
    const pages = [first]
    for (let next = first.next; next !== undefined;) {
      const reply = await owner.api.raw('GET', `/api/groups?after=${encodeURIComponent(next)}`)
      const page = reply.body as typeof first
      pages.push(page)
      next = page.next
    }

    expect(pages.map((p) => p.groups.length)).toEqual([limits.groupsPageSize, limits.groupsPageSize, 6])
    // Groups made in the same millisecond are listed by id: compare without order.
    const listed = pages.flatMap((p) => p.groups.map((g) => g.id))
    expect(new Set(listed).size).toBe(listed.length)
    expect(listed.sort()).toEqual([...made].sort())
    const client = new ClientApi(big.baseUrl)
    client.token = owner.token
    expect((await client.groups()).groups.map((g) => g.id).sort()).toEqual([...made].sort())
  })

  it('refuses a malformed cursor with a typed 400', async () => {
    const reply = await owner.api.raw('GET', '/api/groups?after=not-a-cursor')
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
  })
})
