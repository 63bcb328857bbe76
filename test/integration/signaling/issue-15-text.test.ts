// Issue 15, D5 and D7: text people type. One length measure (UTF-16 code units) on the server
// and in every client, and text the database cannot keep (NUL, unpaired surrogates) refused with
// a typed 400 on SQLite and PostgreSQL alike, instead of a 500 or a silently altered name.
import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStorage } from '../../../signaling/storage/open.ts'
import { StorageError, type Storage } from '../../../signaling/storage/storage.ts'
import { FriendRequestBody, GroupName, limits } from '../../../shared/index.ts'
import { makeFriends, registerAccount, type Account } from '../../helpers/api.ts'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { postgresOrSkip } from '../../helpers/services.ts'
import { Sockets } from '../../helpers/ws-client.ts'

const postgresUrl = postgresOrSkip('ill-formed text on postgres and PostgreSQL storage') ?? ''

const emoji = '\u{1F600}' // 😀: one code point, two UTF-16 code units
const accented = 'e\u0301' // é as a letter and a combining accent: two code points, two units

/** Names around the 64-unit limit, each with what every client's schema says of it. */
const names: readonly (readonly [string, string])[] = [
  ['64 ASCII letters', 'a'.repeat(64)],
  ['65 ASCII letters', 'a'.repeat(65)],
  ['32 emoji (64 units)', emoji.repeat(32)],
  ['33 emoji (66 units, 33 code points)', emoji.repeat(33)],
  ['64 emoji (128 units, 64 code points)', emoji.repeat(64)],
  ['32 letters with a combining accent (64 units)', accented.repeat(32)],
  ['33 letters with a combining accent (66 units)', accented.repeat(33)],
  ['64 CJK characters', '汉'.repeat(64)],
  ['63 letters and an emoji (65 units)', `${'a'.repeat(63)}${emoji}`],
]

const illFormed: readonly (readonly [string, string])[] = [
  ['a NUL', 'before\u0000after'],
  ['a lone high surrogate', 'x\ud83dy'],
  ['a lone low surrogate', 'x\ude00y'],
  ['a surrogate pair the wrong way round', 'x\ude00\ud83dy'],
  ['a high surrogate at the end', `abc\ud83d`],
]

describe('one length measure for server and client', () => {
  let server: TestServer
  const sockets = new Sockets(() => server.wsUrl)
  let admin: Account
  let member: Account

  beforeAll(async () => {
    server = await startServer()
    admin = await registerAccount(server.api, 'measure_admin')
    member = await registerAccount(server.api, 'measure_member')
    await makeFriends(admin, member)
  })
  afterAll(async () => {
    await sockets.closeAll()
    await server.close()
  })

  it.each(names)('accepts a group name of %s exactly when the client schema does', async (_what, name) => {
    const clientAccepts = Value.Check(GroupName, name)
    const reply = await admin.api.raw('POST', '/api/groups', {
      body: { name, members: [], memberList: 'AA' },
    })
    expect({ status: reply.status, clientAccepts }).toEqual({
      status: clientAccepts ? 201 : 400,
      clientAccepts,
    })
  })

  it('counts 32 emoji as 64, so a member receives every update of a group named with them', async () => {
    const memberSocket = await sockets.connect(member.token)
    const group = await admin.api.createGroup({
      name: emoji.repeat(32),
      members: [member.username],
      memberList: 'AA',
    })

    const renamed = await admin.api.renameGroup(group.id, { name: `${accented.repeat(31)}${emoji}` })

    // The test socket decodes with the shared schemas, as the client does: a frame it would
    // drop fails `next`.
    expect((await memberSocket.next('group-updated', (f) => f.group.version === 1)).group.name).toBe(
      group.name,
    )
    expect((await memberSocket.next('group-updated', (f) => f.group.version === 2)).group.name).toBe(
      renamed.name,
    )
    const tooLong = await admin.api.raw('PATCH', `/api/groups/${group.id}`, {
      body: { name: emoji.repeat(33) },
    })
    expect(tooLong).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
    expect((await admin.api.group(group.id)).name).toBe(renamed.name)
  })

  it(`counts a friend note in UTF-16 code units too: ${limits.friendNoteMaxLength} fit, one emoji more does not`, async () => {
    const to = await registerAccount(server.api, 'measure_note')
    const fits = emoji.repeat(limits.friendNoteMaxLength / 2)
    const over = `${fits}${emoji}`
    expect(Value.Check(FriendRequestBody, { to: to.username, note: over })).toBe(false)

    const refused = await admin.api.raw('POST', '/api/friends/requests', {
      body: { to: to.username, note: over },
    })
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
    expect(await admin.api.requestFriend(to.username, fits)).toEqual({ status: 'pending' })
    expect((await to.api.friendRequests()).incoming.map((r) => r.note)).toEqual([fits])
  })
})

describe('ill-formed text on sqlite', () => illFormedTextSuite('sqlite'))
// Skipped only when no PostgreSQL can be had and TINCAN_REQUIRE_SERVICES is not set (postgresOrSkip says so).
describe.skipIf(postgresUrl === '')('ill-formed text on postgres', () => illFormedTextSuite('postgres'))

function illFormedTextSuite(engine: 'sqlite' | 'postgres'): void {
  let server: TestServer
  let database: TestDatabase | undefined
  let alice: Account
  let bob: Account

  beforeAll(async () => {
    database = engine === 'postgres' ? await createTestDatabase(postgresUrl) : undefined
    server = await startServer(database === undefined ? {} : { env: { DATABASE_URL: database.url } })
    alice = await registerAccount(server.api, 'text_alice')
    bob = await registerAccount(server.api, 'text_bob')
  })
  afterAll(async () => {
    await server.close()
    await database?.drop()
  })

  it.each(illFormed)(
    'refuses a friend-request note with %s: typed 400, nothing kept',
    async (_what, note) => {
      const reply = await alice.api.raw('POST', '/api/friends/requests', { body: { to: bob.username, note } })

      expect(reply).toMatchObject({
        status: 400,
        body: {
          error: { code: 'bad-request', message: 'body/note must not contain NUL or unpaired surrogates' },
        },
      })
      expect(await bob.api.friendRequests()).toEqual({ incoming: [], outgoing: [] })
    },
  )

  it.each(illFormed)(
    'refuses a group name with %s, at creation and rename: typed 400, nothing kept',
    async (_what, name) => {
      const created = await alice.api.raw('POST', '/api/groups', {
        body: { name, members: [], memberList: 'AA' },
      })
      expect(created).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
      expect((await alice.api.groups()).groups).toEqual([])

      const group = await alice.api.createGroup({ name: 'kept', members: [], memberList: 'AA' })
      const renamed = await alice.api.raw('PATCH', `/api/groups/${group.id}`, { body: { name } })
      expect(renamed).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
      expect(await alice.api.group(group.id)).toEqual(group)
      await alice.api.leaveGroup(group.id)
    },
  )

  it('keeps emoji, accents, CJK and line breaks exactly as sent, and keeps serving', async () => {
    const note = `hi ${emoji}\n${accented} 汉字 \u200d\ufeff`
    const name = `${emoji}${accented}汉`

    await alice.api.requestFriend(bob.username, note)
    const group = await alice.api.createGroup({ name, members: [], memberList: 'AA' })

    expect((await bob.api.friendRequests()).incoming.map((r) => r.note)).toEqual([note])
    expect((await alice.api.group(group.id)).name).toBe(name)
    expect((await server.api.health()).status).toBe('ok')
  })
}

describe.skipIf(postgresUrl === '')('PostgreSQL storage', () => {
  let database: TestDatabase
  let storage: Storage

  beforeAll(async () => {
    database = await createTestDatabase(postgresUrl)
    storage = await openStorage({ dataDir: '/nonexistent', databaseUrl: database.url, databasePoolSize: 2 })
  })
  afterAll(async () => {
    await storage.close()
    await database.drop()
  })

  it('turns a value it cannot store into a typed refusal, should one get past the schemas', async () => {
    const user = {
      salt: 's',
      kdfOps: 3,
      kdfMem: 64 * 1024 * 1024,
      authSalt: 'a',
      authHash: 'h',
      identityKey: 'k',
      keyBundle: 'b',
      createdAt: 1,
    }
    await storage.createUser({ ...user, username: 'nul_from' })
    await storage.createUser({ ...user, username: 'nul_to' })

    const error = await storage.putRequest('nul_from', 'nul_to', 'a\u0000b', 1).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(StorageError)
    expect(error).toMatchObject({ code: 'invalid' })
    expect(await storage.listIncoming('nul_to')).toEqual([])
  })
})
