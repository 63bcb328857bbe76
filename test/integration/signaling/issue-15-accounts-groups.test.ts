// Issue 15, D12 (part): one admin per group, as SECURITY.md says (an admin could make a second
// admin, who then removed the creator); no password hashing weaker than the client's minimum
// (the server took Argon2id settings far below it, making the stored auth-key hash cheap to
// brute-force back to the password); and no new name that reads like an existing one.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect } from 'kysely'
import { migrationProvider } from '../../../signaling/storage/migrations.ts'
import { openStorage } from '../../../signaling/storage/open.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { minimumKdfParams } from '../../../crypto/password.ts'
import { defaultKdf } from '../../../shared/index.ts'
import {
  makeFriends,
  newCredentials,
  randomB64,
  registerAccount,
  registerRequest,
  uniqueName,
} from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'

let server: TestServer

beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('one admin per group', () => {
  it('refuses to make a second admin, so nobody can then remove the creator', async () => {
    const [creator, helper, third] = await Promise.all([
      registerAccount(server.api, 'creator'),
      registerAccount(server.api, 'helper'),
      registerAccount(server.api, 'third'),
    ])
    await makeFriends(creator, helper)
    await makeFriends(creator, third)
    const group = await creator.api.createGroup({
      name: 'Mine',
      members: [helper.username, third.username],
      memberList: 'AA',
    })

    const promote = await creator.api.raw('PUT', `/api/groups/${group.id}/members`, {
      body: {
        members: [
          { username: creator.username, role: 'admin' },
          { username: helper.username, role: 'admin' },
          { username: third.username, role: 'member' },
        ],
        memberList: 'AB',
      },
    })
    const coup = await helper.api.raw('PUT', `/api/groups/${group.id}/members`, {
      body: {
        members: [
          { username: helper.username, role: 'admin' },
          { username: third.username, role: 'member' },
        ],
        memberList: 'AC',
      },
    })

    expect(promote).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
    expect(coup).toMatchObject({ status: 403, body: { error: { code: 'not-admin' } } })
    expect(await creator.api.group(group.id)).toEqual(group)
  })
})

describe('password hashing settings', () => {
  const weaker = [
    ['fewer passes', { ...defaultKdf, opsLimit: minimumKdfParams.opsLimit - 1 }],
    ['less memory', { ...defaultKdf, memLimitBytes: minimumKdfParams.memLimitBytes / 2 }],
    ['the least libsodium takes', { ...defaultKdf, opsLimit: 1, memLimitBytes: 8192 }],
    ['more memory than a client derives with', { ...defaultKdf, memLimitBytes: 2 * 1024 ** 3 }],
    ['memory that is not whole KiB', { ...defaultKdf, memLimitBytes: defaultKdf.memLimitBytes + 1 }],
  ] as const

  it.each(weaker)(
    'are refused at registration with %s than the client allows, naming the field',
    async (_what, kdf) => {
      const username = uniqueName('weak')
      const reply = await server.api.raw('POST', '/api/register', {
        body: { ...registerRequest(newCredentials(username)), kdf },
      })

      expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
      expect((reply.body as { error: { message: string } }).error.message).toMatch(/^body\/kdf\//)
      // Nothing was made: the name is still free.
      expect((await server.api.register(registerRequest(newCredentials(username)))).username).toBe(username)
    },
  )

  it.each(weaker)(
    'are refused on a password change with %s, and the old password still works',
    async (_what, kdf) => {
      const me = await registerAccount(server.api, 'changer')
      const reply = await me.api.raw('POST', '/api/password', {
        body: {
          authKey: me.authKey,
          newAuthKey: randomB64(32),
          newSalt: randomB64(16),
          newKdf: kdf,
          newKeyBundle: randomB64(96),
        },
      })

      expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
      expect(await server.api.prelogin(me.username)).toEqual({ salt: me.salt, kdf: defaultKdf })
      expect((await server.api.login(me.username, me.authKey)).username).toBe(me.username)
    },
  )

  it("accepts the client's own minimum and maximum", async () => {
    for (const kdf of [
      { ...defaultKdf, opsLimit: minimumKdfParams.opsLimit, memLimitBytes: minimumKdfParams.memLimitBytes },
      { ...defaultKdf, opsLimit: 16, memLimitBytes: 1024 ** 3 },
    ]) {
      const credentials = { ...newCredentials(uniqueName('bounds')), kdf }
      await server.api.register(registerRequest(credentials))
      expect((await server.api.prelogin(credentials.username)).kdf).toEqual(kdf)
    }
  })
})

describe('look-alike names', () => {
  it('refuses a new name that reads like an existing one, as taken', async () => {
    const suffix = randomB64(6)
      .toLowerCase()
      .replace(/[^a-z]/g, 'x')
    await server.api.register(registerRequest(newCredentials(`conf_${suffix}`)))

    for (const twin of [`c0nf_${suffix}`, `conf${suffix}`, `c.o.n.f-${suffix}`, `COnF__${suffix}`])
      await expect(server.api.register(registerRequest(newCredentials(twin))), twin).rejects.toMatchObject({
        status: 409,
        code: 'username-taken',
      })
    for (const [one, other] of [
      [`mary_${suffix}`, `rnary_${suffix}`],
      [`wave_${suffix}`, `vvave_${suffix}`],
      [`dan_${suffix}`, `clan_${suffix}`],
      [`bill_${suffix}`, `bi11_${suffix}`],
    ]) {
      await server.api.register(registerRequest(newCredentials(one)))
      await expect(server.api.register(registerRequest(newCredentials(other))), other).rejects.toMatchObject({
        status: 409,
        code: 'username-taken',
      })
    }

    expect(
      (await server.api.register(registerRequest(newCredentials(`conference_${suffix}`)))).username,
    ).toBe(`conference_${suffix}`)
  })

  it('knows the names registered before the check, once migrated', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tincan-skeleton-'))
    try {
      const db = new Kysely<Record<string, Record<string, unknown>>>({
        dialect: new SqliteDialect({ database: new BetterSqlite3(join(dataDir, 'tincan.sqlite')) }),
      })
      await new Migrator({ db, provider: migrationProvider('sqlite') }).migrateTo('0003-blocks-by-blocked')
      await db
        .insertInto('users')
        .values({
          username: 'conf',
          salt: 's',
          kdf_ops: 3,
          kdf_mem: 67_108_864,
          auth_salt: 'a',
          auth_hash: 'h',
          identity_key: 'k',
          key_bundle: 'b',
          created_at: 1,
          updated_at: 1,
        })
        .execute()
      await db.destroy()

      const storage = await openStorage({ dataDir })
      try {
        expect(await storage.lookAlike('c0nf')).toBe('conf')
        expect(await storage.lookAlike('conf')).toBeUndefined()
      } finally {
        await storage.close()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
