import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStorage } from '../../../signaling/storage/open.ts'
import {
  StorageError,
  type GroupRecord,
  type SessionRecord,
  type Storage,
  type UserRecord,
} from '../../../signaling/storage/storage.ts'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts'
import { postgresOrSkip } from '../../helpers/services.ts'

/**
 * The Storage interface exercised directly, once on SQLite and once on PostgreSQL (the machine's
 * or an embedded one; a fresh database per run, dropped afterwards): both engines must behave the same.
 */
const postgresUrl = postgresOrSkip('storage on PostgreSQL')

interface Engine {
  readonly name: 'sqlite' | 'postgres'
  /** Opens a new Storage on the same database (a second node, or a restart). */
  open(): Promise<Storage>
  dispose(): Promise<void>
}

function sqliteEngine(): Promise<Engine> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tincan-storage-'))
  return Promise.resolve({
    name: 'sqlite',
    open: () => openStorage({ dataDir }),
    dispose: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
  })
}

async function postgresEngine(): Promise<Engine> {
  const db: TestDatabase = await createTestDatabase(postgresUrl ?? '')
  return {
    name: 'postgres',
    open: () => openStorage({ dataDir: '/nonexistent', databaseUrl: db.url, databasePoolSize: 4 }),
    dispose: () => db.drop(),
  }
}

const t0 = 1_795_000_000_000

function user(username: string, extra: Partial<UserRecord> = {}): UserRecord {
  return {
    username,
    salt: `salt-${username}`,
    kdfOps: 3,
    // Above 2^31: stored as BIGINT, which PostgreSQL hands back as a string.
    kdfMem: 3 * 2 ** 30,
    authSalt: `as-${username}`,
    authHash: `ah-${username}`,
    identityKey: `ik-${username}`,
    keyBundle: `kb-${username}`,
    createdAt: t0,
    ...extra,
  }
}

function session(id: string, username: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    username,
    tokenHash: `th-${id}`,
    userAgent: 'test',
    createdAt: t0,
    lastSeenAt: t0,
    expiresAt: t0 + 86_400_000,
    ...extra,
  }
}

function group(id: string, admin: string, members: readonly string[]): GroupRecord {
  return {
    id,
    name: `group ${id}`,
    memberList: `signed list of ${id} v1`,
    version: 1,
    createdAt: t0,
    updatedAt: t0,
    members: [
      { username: admin, role: 'admin' },
      ...members.map((username) => ({ username, role: 'member' as const })),
    ],
  }
}

async function expectStorageError(work: Promise<unknown>, code: StorageError['code']): Promise<void> {
  const e: unknown = await work.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(StorageError)
  expect((e as StorageError).code).toBe(code)
}

describe('storage on SQLite', () => engineSuite(sqliteEngine))
// Skipped only when no PostgreSQL can be had and TINCAN_REQUIRE_SERVICES is not set (postgresOrSkip says so).
describe.skipIf(postgresUrl === undefined)('storage on PostgreSQL', () => engineSuite(postgresEngine))

function engineSuite(makeEngine: () => Promise<Engine>): void {
  let engine: Engine
  let s: Storage

  beforeAll(async () => {
    engine = await makeEngine()
    s = await engine.open()
  })

  afterAll(async () => {
    await s.close()
    await engine.dispose()
  })

  it('migrates an empty database, and migrating again changes nothing', async () => {
    expect(s.dialect).toBe(engine.name)
    await s.migrate()
    await s.ping()
  })

  it('keeps the first value of a meta key, as when two nodes start at once', async () => {
    expect(await s.getMeta('secret')).toBeUndefined()
    const [a, b] = await Promise.all([s.initMeta('secret', 'first'), s.initMeta('secret', 'second')])
    expect(a).toBe(b)
    expect(await s.initMeta('secret', 'third')).toBe(a)
    expect(await s.getMeta('secret')).toBe(a)
  })

  it('stores a user with every field and number type intact, and refuses the same name twice', async () => {
    await s.createUser(user('alice'))
    expect(await s.getUser('alice')).toEqual(user('alice'))
    expect(typeof (await s.getUser('alice'))?.kdfMem).toBe('number')
    expect(await s.getUser('nobody')).toBeUndefined()
    await expectStorageError(s.createUser(user('alice', { salt: 'other' })), 'conflict')
    expect((await s.getUser('alice'))?.salt).toBe('salt-alice')
  })

  it('replaces credentials and identity without touching the rest', async () => {
    await s.createUser(user('carol'))
    await s.updateCredentials('carol', {
      salt: 's2',
      kdfOps: 4,
      kdfMem: 2 ** 33,
      authSalt: 'as2',
      authHash: 'ah2',
      keyBundle: 'kb2',
    })
    expect(await s.getUser('carol')).toEqual({
      ...user('carol'),
      salt: 's2',
      kdfOps: 4,
      kdfMem: 2 ** 33,
      authSalt: 'as2',
      authHash: 'ah2',
      keyBundle: 'kb2',
    })
    await s.updateIdentity('carol', 'ik3', 'kb3')
    const after = await s.getUser('carol')
    expect(after?.identityKey).toBe('ik3')
    expect(after?.keyBundle).toBe('kb3')
    expect(after?.salt).toBe('s2')
  })

  it('searches by prefix in byte order, literally, up to the limit, without the searcher or who blocked them', async () => {
    for (const name of ['sx_b', 'sx-a', 'sx0', 'sxa', 'sxb', 'sxc', 'sy', 'sx%', 'sx'])
      await s.createUser(user(name))
    const names = async (prefix: string, limit = 20, exclude = 'alice'): Promise<string[]> =>
      (await s.searchUsers(prefix, limit, exclude)).map((u) => u.username)
    // Byte order: '%' < '-' < '0' < '_' < 'a', the same on every engine and locale.
    expect(await names('sx')).toEqual(['sx', 'sx%', 'sx-a', 'sx0', 'sx_b', 'sxa', 'sxb', 'sxc'])
    expect(await names('sx_')).toEqual(['sx_b'])
    expect(await names('sx%')).toEqual(['sx%'])
    expect(await names('sx', 3)).toEqual(['sx', 'sx%', 'sx-a'])
    expect(await names('sx', 20, 'sxa')).not.toContain('sxa')
    expect(await s.searchUsers('sxb', 5, 'alice')).toEqual([{ username: 'sxb', identityKey: 'ik-sxb' }])
    await s.block('sxc', 'alice', t0)
    expect(await names('sx')).not.toContain('sxc')
    expect(await names('sx', 20, 'bob')).toContain('sxc')
    expect(await names('zz')).toEqual([])
  })

  it('keeps sessions: by token hash, touched, listed in order, expired ones swept', async () => {
    await s.createUser(user('dave'))
    await s.createSession(session('d1', 'dave'))
    await s.createSession(session('d2', 'dave', { createdAt: t0 + 1 }))
    await s.createSession(session('d3', 'dave', { createdAt: t0 + 2, expiresAt: t0 + 10 }))
    expect(await s.getSessionByTokenHash('th-d1')).toEqual(session('d1', 'dave'))
    expect(await s.getSessionByTokenHash('th-none')).toBeUndefined()
    await s.touchSession('d1', t0 + 5_000)
    expect((await s.getSessionByTokenHash('th-d1'))?.lastSeenAt).toBe(t0 + 5_000)
    // Sockets of a reconnect wave are touched together (issue 17).
    await s.touchSessions(['d1', 'd2', 'nobody'], t0 + 6_000)
    expect((await s.getSessionByTokenHash('th-d1'))?.lastSeenAt).toBe(t0 + 6_000)
    expect((await s.getSessionByTokenHash('th-d2'))?.lastSeenAt).toBe(t0 + 6_000)
    expect((await s.getSessionByTokenHash('th-d3'))?.lastSeenAt).toBe(t0)
    expect((await s.listSessions('dave')).map((x) => x.id)).toEqual(['d1', 'd2', 'd3'])
    await expectStorageError(s.createSession(session('d4', 'dave', { tokenHash: 'th-d1' })), 'conflict')
    await expectStorageError(s.createSession(session('d1', 'dave', { tokenHash: 'th-other' })), 'conflict')
    expect(await s.deleteExpiredSessions(t0 + 10)).toBe(1)
    expect((await s.listSessions('dave')).map((x) => x.id)).toEqual(['d1', 'd2'])
  })

  it('deletes one session only for its owner, and all but one on request', async () => {
    await s.createUser(user('erin'))
    for (const id of ['e1', 'e2', 'e3']) await s.createSession(session(id, 'erin'))
    expect(await s.deleteSession('dave', 'e1')).toBe(false)
    expect(await s.deleteSession('erin', 'e1')).toBe(true)
    expect(await s.deleteSession('erin', 'e1')).toBe(false)
    expect((await s.deleteOtherSessions('erin', 'e3')).sort()).toEqual(['e2'])
    expect((await s.listSessions('erin')).map((x) => x.id)).toEqual(['e3'])
  })

  it('keeps friend requests: a repeat updates the note, listed both ways, deleted once', async () => {
    await s.createUser(user('fred'))
    await s.createUser(user('gina'))
    await s.putRequest('fred', 'gina', 'hi', t0 + 1)
    await s.putRequest('fred', 'gina', 'hello again', t0 + 9)
    expect(await s.getRequest('fred', 'gina')).toEqual({ note: 'hello again', createdAt: t0 + 1 })
    expect(await s.getRequest('gina', 'fred')).toBeUndefined()
    expect(await s.listIncoming('gina')).toEqual([
      { username: 'fred', identityKey: 'ik-fred', note: 'hello again', createdAt: t0 + 1 },
    ])
    expect(await s.listOutgoing('fred')).toEqual([
      { username: 'gina', identityKey: 'ik-gina', note: 'hello again', createdAt: t0 + 1 },
    ])
    expect(await s.deleteRequest('fred', 'gina')).toBe(true)
    expect(await s.deleteRequest('fred', 'gina')).toBe(false)
    expect(await s.listIncoming('gina')).toEqual([])
  })

  it('makes friends both ways and drops requests between them, once however often it is asked', async () => {
    await s.createUser(user('hank'))
    await s.createUser(user('ivy'))
    await s.createUser(user('hal'))
    await s.putRequest('hank', 'ivy', 'hi', t0)
    await s.putRequest('ivy', 'hank', 'hi', t0)
    await s.addFriendship('hank', 'ivy', t0 + 3)
    await s.addFriendship('ivy', 'hank', t0 + 4)
    await s.addFriendship('hank', 'hal', t0 + 5)
    expect(await s.getRequest('hank', 'ivy')).toBeUndefined()
    expect(await s.getRequest('ivy', 'hank')).toBeUndefined()
    expect(await s.areFriends('hank', 'ivy')).toBe(true)
    expect(await s.areFriends('ivy', 'hank')).toBe(true)
    expect(await s.areFriends('ivy', 'hal')).toBe(false)
    expect(await s.listFriends('hank')).toEqual([
      { username: 'hal', identityKey: 'ik-hal', since: t0 + 5 },
      { username: 'ivy', identityKey: 'ik-ivy', since: t0 + 3 },
    ])
    expect((await s.friendNames('ivy')).sort()).toEqual(['hank'])
    expect(await s.removeFriendship('ivy', 'hank')).toBe(true)
    expect(await s.removeFriendship('ivy', 'hank')).toBe(false)
    expect(await s.areFriends('hank', 'ivy')).toBe(false)
    expect(await s.friendNames('hank')).toEqual(['hal'])
  })

  it('blocks one way, ending friendship and requests, and unblocks', async () => {
    await s.createUser(user('jack'))
    await s.createUser(user('kim'))
    await s.addFriendship('jack', 'kim', t0)
    await s.putRequest('kim', 'jack', 'again?', t0)
    await s.block('jack', 'kim', t0 + 1)
    await s.block('jack', 'kim', t0 + 2)
    expect(await s.isBlocked('jack', 'kim')).toBe(true)
    expect(await s.isBlocked('kim', 'jack')).toBe(false)
    expect(await s.areFriends('jack', 'kim')).toBe(false)
    expect(await s.getRequest('kim', 'jack')).toBeUndefined()
    await s.block('jack', 'alice', t0)
    expect(await s.listBlocked('jack')).toEqual(['alice', 'kim'])
    expect(await s.unblock('jack', 'kim')).toBe(true)
    expect(await s.unblock('jack', 'kim')).toBe(false)
    expect(await s.listBlocked('jack')).toEqual(['alice'])
  })

  it('keeps groups with members in the order they joined, and refuses a duplicate id', async () => {
    for (const name of ['lea', 'max', 'ned', 'ola']) await s.createUser(user(name))
    await s.createGroup(group('g1', 'lea', ['ned', 'max']))
    const g = await s.getGroup('g1')
    // Members who joined together are listed by name.
    expect(g).toEqual(group('g1', 'lea', ['max', 'ned']))
    expect(await s.getGroup('none')).toBeUndefined()
    await expectStorageError(s.createGroup(group('g1', 'ola', [])), 'conflict')
    await s.createGroup({ ...group('g2', 'max', ['ola']), createdAt: t0 + 1 })
    expect((await s.listGroups('max')).map((x) => x.id)).toEqual(['g1', 'g2'])
    expect((await s.listGroups('ola')).map((x) => x.id)).toEqual(['g2'])
    expect(await s.shareGroup('lea', 'ned')).toBe(true)
    expect(await s.shareGroup('lea', 'ola')).toBe(false)
    expect((await s.groupPeers('max')).sort()).toEqual(['lea', 'ned', 'ola'])
  })

  it('updates a group only at the version it was read at, keeping when old members joined', async () => {
    const update = {
      name: 'renamed',
      memberList: 'signed v2',
      members: [
        { username: 'ola', role: 'member' as const },
        { username: 'lea', role: 'admin' as const },
        { username: 'ned', role: 'admin' as const },
      ],
      updatedAt: t0 + 100,
    }
    await s.updateGroup('g1', 1, update)
    // A second admin who read version 1 too loses, and nothing of theirs is written.
    await expectStorageError(s.updateGroup('g1', 1, { ...update, name: 'lost', members: [] }), 'conflict')
    await expectStorageError(s.updateGroup('none', 1, update), 'conflict')
    const g = await s.getGroup('g1')
    expect(g).toMatchObject({ name: 'renamed', memberList: 'signed v2', version: 2, updatedAt: t0 + 100 })
    // lea and ned keep their original join time, so they stay ahead of ola, who just joined.
    expect(g?.members).toEqual([
      { username: 'lea', role: 'admin' },
      { username: 'ned', role: 'admin' },
      { username: 'ola', role: 'member' },
    ])
    expect(await s.shareGroup('max', 'lea')).toBe(false)
    await s.updateGroup('g1', 2, { ...update, members: [], updatedAt: t0 + 200 })
    expect((await s.getGroup('g1'))?.members).toEqual([])
    await s.deleteGroup('g1')
    expect(await s.getGroup('g1')).toBeUndefined()
  })

  it('deletes a user with everything that refers to them, and groups they leave empty', async () => {
    for (const name of ['pam', 'quin', 'rex']) await s.createUser(user(name))
    await s.createSession(session('p1', 'pam'))
    await s.addFriendship('pam', 'quin', t0)
    await s.putRequest('pam', 'rex', 'hi', t0)
    await s.putRequest('rex', 'pam', 'hi', t0)
    await s.block('pam', 'rex', t0)
    await s.block('rex', 'pam', t0)
    await s.createGroup(group('solo', 'pam', []))
    await s.createGroup(group('shared', 'pam', ['quin']))
    await s.deleteUser('pam')
    expect(await s.getUser('pam')).toBeUndefined()
    expect(await s.getSessionByTokenHash('th-p1')).toBeUndefined()
    expect(await s.friendNames('quin')).toEqual([])
    expect(await s.listIncoming('rex')).toEqual([])
    expect(await s.listOutgoing('rex')).toEqual([])
    expect(await s.listBlocked('rex')).toEqual([])
    expect(await s.getGroup('solo')).toBeUndefined()
    expect((await s.getGroup('shared'))?.members).toEqual([{ username: 'quin', role: 'member' }])
    // The name is free again.
    await s.createUser(user('pam'))
    expect(await s.listFriends('pam')).toEqual([])
  })

  it('lets a second node open the same database at once and see the same data', async () => {
    const [other, third] = await Promise.all([engine.open(), engine.open()])
    try {
      expect(await other.getUser('alice')).toEqual(user('alice'))
      await third.createUser(user('zed'))
      expect((await s.getUser('zed'))?.username).toBe('zed')
    } finally {
      await other.close()
      await third.close()
    }
  })

  it('reports storage unavailable once closed', async () => {
    const other = await engine.open()
    await other.close()
    await expectStorageError(other.getUser('alice'), 'unavailable')
  })
}
