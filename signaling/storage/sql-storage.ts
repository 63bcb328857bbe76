// Long: one Storage implementation for SQLite and PostgreSQL alike (Kysely), every aggregate in one place; splitting it by aggregate is the server issue's (issue 20).
import { Migrator, sql, type Kysely, type Selectable } from 'kysely'
import { lookAlikeKey } from '../look-alike.ts'
import type { Database } from './schema.ts'
import { migrationProvider } from './migrations.ts'
import {
  StorageError,
  type FriendRecord,
  type GroupMemberRecord,
  type GroupRecord,
  type RequestRecord,
  type SessionRecord,
  type Storage,
  type UserRecord,
} from './storage.ts'

/** PostgreSQL returns BIGINT as a string; SQLite as a number. Timestamps fit a double exactly. */
const num = (v: number | string | bigint): number => Number(v)

/** Error codes meaning "the row already exists" (SQLite, PostgreSQL). */
const uniqueViolation = new Set(['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE', '23505'])

/** Error codes meaning "the database cannot serve now" — disk full, read-only, I/O, locked, connection lost. */
function isUnavailable(code: string): boolean {
  return (
    /^SQLITE_(READONLY|FULL|IOERR|BUSY|LOCKED|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code) ||
    /^(08|53|57P|58)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code)
  )
}

function classify(e: unknown): unknown {
  if (e instanceof StorageError) return e
  const raw = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined
  const code = typeof raw === 'string' ? raw : ''
  if (uniqueViolation.has(code)) return new StorageError('conflict', 'already exists', { cause: e })
  // PostgreSQL's data exceptions (class 22: a NUL in text, a bad encoding) are about the value,
  // not the database: a typed refusal, never a 500.
  if (/^22[0-9A-Z]{3}$/.test(code))
    return new StorageError('invalid', 'the database cannot store this value', { cause: e })
  if (isUnavailable(code)) return new StorageError('unavailable', 'the database is unavailable', { cause: e })
  // pg-pool's "timeout exceeded when trying to connect": every connection busy for its whole wait.
  if (
    e instanceof Error &&
    /closed|not open|destroyed|Connection terminated|timeout exceeded/i.test(e.message)
  )
    return new StorageError('unavailable', 'the database is unavailable', { cause: e })
  return e
}

function toUser(r: Selectable<Database['users']>): UserRecord {
  return {
    username: r.username,
    salt: r.salt,
    kdfOps: num(r.kdf_ops),
    kdfMem: num(r.kdf_mem),
    authSalt: r.auth_salt,
    authHash: r.auth_hash,
    identityKey: r.identity_key,
    keyBundle: r.key_bundle,
    createdAt: num(r.created_at),
  }
}

function toSession(r: Selectable<Database['sessions']>): SessionRecord {
  return {
    id: r.id,
    username: r.username,
    tokenHash: r.token_hash,
    userAgent: r.user_agent,
    createdAt: num(r.created_at),
    lastSeenAt: num(r.last_seen_at),
    expiresAt: num(r.expires_at),
  }
}

/** The one Storage implementation: dialect-neutral queries through Kysely, parameterized throughout. */
export class SqlStorage implements Storage {
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: 'sqlite' | 'postgres',
  ) {
    // Every public method maps driver errors to StorageError, so callers see one vocabulary.
    for (const name of Object.getOwnPropertyNames(SqlStorage.prototype)) {
      if (name === 'constructor') continue
      const method = (this as unknown as Record<string, unknown>)[name]
      if (typeof method !== 'function') continue
      const fn = method as (...args: unknown[]) => unknown
      // Synchronous helpers (withMembers) must stay synchronous: only promises are awaited.
      ;(this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        try {
          const result = fn.apply(this, args)
          return result instanceof Promise
            ? result.catch((e: unknown) => {
                throw classify(e)
              })
            : result
        } catch (e: unknown) {
          throw classify(e)
        }
      }
    }
  }

  async migrate(): Promise<void> {
    const { error, results } = await new Migrator({
      db: this.db,
      provider: migrationProvider(this.dialect),
    }).migrateToLatest()
    const failed = results?.find((r) => r.status === 'Error')
    if (error !== undefined || failed !== undefined) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${reason}`.replace('  ', ' '), {
        cause: error,
      })
    }
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('meta').select('key').limit(1).execute()
  }

  async compact(): Promise<void> {
    // Old versions of changed pages stay in the WAL until a checkpoint copies the new ones back
    // and TRUNCATE empties the file.
    if (this.dialect === 'sqlite') await sql`pragma wal_checkpoint(truncate)`.execute(this.db)
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst()
    return row?.value
  }

  async initMeta(key: string, value: string): Promise<string> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute()
    return (await this.getMeta(key)) ?? value
  }

  async createUser(u: UserRecord): Promise<void> {
    await this.db
      .insertInto('users')
      .values({
        username: u.username,
        salt: u.salt,
        kdf_ops: u.kdfOps,
        kdf_mem: u.kdfMem,
        auth_salt: u.authSalt,
        auth_hash: u.authHash,
        identity_key: u.identityKey,
        key_bundle: u.keyBundle,
        created_at: u.createdAt,
        updated_at: u.createdAt,
        skeleton: lookAlikeKey(u.username),
      })
      .execute()
  }

  async lookAlike(username: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select('username')
      .where('skeleton', '=', lookAlikeKey(username))
      .where('username', '!=', username)
      .limit(1)
      .executeTakeFirst()
    return row?.username
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', username)
      .executeTakeFirst()
    return row && toUser(row)
  }

  async searchUsers(prefix: string, limit: number, exclude: string) {
    // A range on the primary key instead of LIKE: uses the index on both engines, no escaping needed.
    const rows = await this.db
      .selectFrom('users')
      .select(['username', 'identity_key'])
      .where('username', '>=', prefix)
      .where('username', '<', prefix + '\u{ffff}')
      .where('username', '!=', exclude)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('blocks')
              .select('blocker')
              .where('blocks.blocker', '=', eb.ref('users.username'))
              .where('blocks.blocked', '=', exclude),
          ),
        ),
      )
      .orderBy('username')
      .limit(limit)
      .execute()
    return rows.map((r) => ({ username: r.username, identityKey: r.identity_key }))
  }

  async updateCredentials(
    username: string,
    c: Pick<UserRecord, 'salt' | 'kdfOps' | 'kdfMem' | 'authSalt' | 'authHash' | 'keyBundle'>,
  ): Promise<void> {
    await this.db
      .updateTable('users')
      .set({
        salt: c.salt,
        kdf_ops: c.kdfOps,
        kdf_mem: c.kdfMem,
        auth_salt: c.authSalt,
        auth_hash: c.authHash,
        key_bundle: c.keyBundle,
        updated_at: Date.now(),
      })
      .where('username', '=', username)
      .execute()
  }

  async updateIdentity(username: string, identityKey: string, keyBundle: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ identity_key: identityKey, key_bundle: keyBundle, updated_at: Date.now() })
      .where('username', '=', username)
      .execute()
  }

  async deleteUser(username: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Foreign keys cascade, but deleting explicitly keeps the behaviour independent of PRAGMA state.
      await trx.deleteFrom('sessions').where('username', '=', username).execute()
      await trx
        .deleteFrom('friend_requests')
        .where((eb) => eb.or([eb('from_user', '=', username), eb('to_user', '=', username)]))
        .execute()
      await trx
        .deleteFrom('friendships')
        .where((eb) => eb.or([eb('username', '=', username), eb('friend', '=', username)]))
        .execute()
      await trx
        .deleteFrom('blocks')
        .where((eb) => eb.or([eb('blocker', '=', username), eb('blocked', '=', username)]))
        .execute()
      await trx.deleteFrom('group_members').where('username', '=', username).execute()
      await trx
        .deleteFrom('groups')
        .where((eb) =>
          eb.not(
            eb.exists(
              eb.selectFrom('group_members').select('username').whereRef('group_id', '=', 'groups.id'),
            ),
          ),
        )
        .execute()
      await trx.deleteFrom('users').where('username', '=', username).execute()
    })
  }

  async createSession(s: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id: s.id,
        username: s.username,
        token_hash: s.tokenHash,
        user_agent: s.userAgent,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
      })
      .execute()
  }

  async getSessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
    return row && toSession(row)
  }

  async touchSession(id: string, lastSeenAt: number): Promise<void> {
    await this.db.updateTable('sessions').set({ last_seen_at: lastSeenAt }).where('id', '=', id).execute()
  }

  async touchSessions(ids: readonly string[], lastSeenAt: number): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db
        .updateTable('sessions')
        .set({ last_seen_at: lastSeenAt })
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()
    }
  }

  async listSessions(username: string): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('username', '=', username)
      .orderBy('created_at')
      .execute()
    return rows.map(toSession)
  }

  async deleteSession(username: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('sessions')
      .where('username', '=', username)
      .where('id', '=', id)
      .executeTakeFirst()
    return r.numDeletedRows > 0n
  }

  async deleteOtherSessions(username: string, keepId: string): Promise<string[]> {
    const rows = await this.db
      .deleteFrom('sessions')
      .where('username', '=', username)
      .where('id', '!=', keepId)
      .returning('id')
      .execute()
    return rows.map((r) => r.id)
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const r = await this.db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst()
    return Number(r.numDeletedRows)
  }

  async liveSessionIds(ids: readonly string[]): Promise<Set<string>> {
    const live = new Set<string>()
    // In chunks: SQLite allows 32,766 bound parameters, and one huge IN list helps nobody.
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('sessions')
        .select('id')
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()
      for (const r of rows) live.add(r.id)
    }
    return live
  }

  async getRequest(from: string, to: string) {
    const row = await this.db
      .selectFrom('friend_requests')
      .select(['note', 'created_at'])
      .where('from_user', '=', from)
      .where('to_user', '=', to)
      .executeTakeFirst()
    return row && { note: row.note, createdAt: num(row.created_at) }
  }

  async putRequest(from: string, to: string, note: string, createdAt: number): Promise<void> {
    await this.db
      .insertInto('friend_requests')
      .values({ from_user: from, to_user: to, note, created_at: createdAt })
      .onConflict((oc) => oc.columns(['from_user', 'to_user']).doUpdateSet({ note }))
      .execute()
  }

  async deleteRequest(from: string, to: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('friend_requests')
      .where('from_user', '=', from)
      .where('to_user', '=', to)
      .executeTakeFirst()
    return r.numDeletedRows > 0n
  }

  async listIncoming(username: string): Promise<RequestRecord[]> {
    const rows = await this.db
      .selectFrom('friend_requests')
      .innerJoin('users', 'users.username', 'friend_requests.from_user')
      .select([
        'friend_requests.from_user as username',
        'users.identity_key',
        'note',
        'friend_requests.created_at',
      ])
      .where('to_user', '=', username)
      .orderBy('friend_requests.created_at')
      .execute()
    return rows.map((r) => ({
      username: r.username,
      identityKey: r.identity_key,
      note: r.note,
      createdAt: num(r.created_at),
    }))
  }

  async listOutgoing(username: string): Promise<RequestRecord[]> {
    const rows = await this.db
      .selectFrom('friend_requests')
      .innerJoin('users', 'users.username', 'friend_requests.to_user')
      .select([
        'friend_requests.to_user as username',
        'users.identity_key',
        'note',
        'friend_requests.created_at',
      ])
      .where('from_user', '=', username)
      .orderBy('friend_requests.created_at')
      .execute()
    return rows.map((r) => ({
      username: r.username,
      identityKey: r.identity_key,
      note: r.note,
      createdAt: num(r.created_at),
    }))
  }

  async addFriendship(a: string, b: string, createdAt: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('friend_requests')
        .where((eb) =>
          eb.or([
            eb.and([eb('from_user', '=', a), eb('to_user', '=', b)]),
            eb.and([eb('from_user', '=', b), eb('to_user', '=', a)]),
          ]),
        )
        .execute()
      await trx
        .insertInto('friendships')
        .values([
          { username: a, friend: b, created_at: createdAt },
          { username: b, friend: a, created_at: createdAt },
        ])
        .onConflict((oc) => oc.columns(['username', 'friend']).doNothing())
        .execute()
    })
  }

  async removeFriendship(a: string, b: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('friendships')
      .where((eb) =>
        eb.or([
          eb.and([eb('username', '=', a), eb('friend', '=', b)]),
          eb.and([eb('username', '=', b), eb('friend', '=', a)]),
        ]),
      )
      .executeTakeFirst()
    return r.numDeletedRows > 0n
  }

  async areFriends(a: string, b: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('friendships')
      .select('username')
      .where('username', '=', a)
      .where('friend', '=', b)
      .executeTakeFirst()
    return row !== undefined
  }

  async listFriends(username: string): Promise<FriendRecord[]> {
    const rows = await this.db
      .selectFrom('friendships')
      .innerJoin('users', 'users.username', 'friendships.friend')
      .select(['friendships.friend', 'users.identity_key', 'friendships.created_at'])
      .where('friendships.username', '=', username)
      .orderBy('friendships.friend')
      .execute()
    return rows.map((r) => ({ username: r.friend, identityKey: r.identity_key, since: num(r.created_at) }))
  }

  async friendNames(username: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('friendships')
      .select('friend')
      .where('username', '=', username)
      .execute()
    return rows.map((r) => r.friend)
  }

  async block(blocker: string, blocked: string, createdAt: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('blocks')
        .values({ blocker, blocked, created_at: createdAt })
        .onConflict((oc) => oc.columns(['blocker', 'blocked']).doNothing())
        .execute()
      await trx
        .deleteFrom('friendships')
        .where((eb) =>
          eb.or([
            eb.and([eb('username', '=', blocker), eb('friend', '=', blocked)]),
            eb.and([eb('username', '=', blocked), eb('friend', '=', blocker)]),
          ]),
        )
        .execute()
      await trx
        .deleteFrom('friend_requests')
        .where((eb) =>
          eb.or([
            eb.and([eb('from_user', '=', blocker), eb('to_user', '=', blocked)]),
            eb.and([eb('from_user', '=', blocked), eb('to_user', '=', blocker)]),
          ]),
        )
        .execute()
    })
  }

  async unblock(blocker: string, blocked: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('blocks')
      .where('blocker', '=', blocker)
      .where('blocked', '=', blocked)
      .executeTakeFirst()
    return r.numDeletedRows > 0n
  }

  async isBlocked(blocker: string, blocked: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('blocks')
      .select('blocker')
      .where('blocker', '=', blocker)
      .where('blocked', '=', blocked)
      .executeTakeFirst()
    return row !== undefined
  }

  async listBlocked(blocker: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('blocks')
      .select('blocked')
      .where('blocker', '=', blocker)
      .orderBy('blocked')
      .execute()
    return rows.map((r) => r.blocked)
  }

  async blockPartners(username: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('blocks')
      .select('blocked as other')
      .where('blocker', '=', username)
      .union(this.db.selectFrom('blocks').select('blocker as other').where('blocked', '=', username))
      .execute()
    return rows.map((r) => r.other)
  }

  async createGroup(g: GroupRecord): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('groups')
        .values({
          id: g.id,
          name: g.name,
          member_list: g.memberList,
          version: g.version,
          created_at: g.createdAt,
          updated_at: g.updatedAt,
        })
        .execute()
      await trx
        .insertInto('group_members')
        .values(
          g.members.map((m) => ({
            group_id: g.id,
            username: m.username,
            role: m.role,
            added_at: g.createdAt,
          })),
        )
        .execute()
    })
  }

  private async membersOf(ids: readonly string[]): Promise<Map<string, GroupMemberRecord[]>> {
    const byGroup = new Map<string, GroupMemberRecord[]>()
    if (ids.length === 0) return byGroup
    const rows = await this.db
      .selectFrom('group_members')
      .select(['group_id', 'username', 'role'])
      .where('group_id', 'in', ids)
      .orderBy('added_at')
      .orderBy('username')
      .execute()
    for (const r of rows) {
      const list = byGroup.get(r.group_id) ?? []
      list.push({ username: r.username, role: r.role })
      byGroup.set(r.group_id, list)
    }
    return byGroup
  }

  private withMembers(
    rows: Selectable<Database['groups']>[],
    members: Map<string, GroupMemberRecord[]>,
  ): GroupRecord[] {
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      memberList: r.member_list,
      version: num(r.version),
      createdAt: num(r.created_at),
      updatedAt: num(r.updated_at),
      members: members.get(r.id) ?? [],
    }))
  }

  async getGroup(id: string): Promise<GroupRecord | undefined> {
    const rows = await this.db.selectFrom('groups').selectAll().where('id', '=', id).execute()
    return this.withMembers(rows, await this.membersOf([id]))[0]
  }

  async listGroups(username: string): Promise<GroupRecord[]> {
    const rows = await this.db
      .selectFrom('groups')
      .selectAll()
      .where('id', 'in', (eb) =>
        eb.selectFrom('group_members').select('group_id').where('username', '=', username),
      )
      .orderBy('created_at')
      .execute()
    return this.withMembers(rows, await this.membersOf(rows.map((r) => r.id)))
  }

  async listGroupsPage(
    username: string,
    after: { readonly createdAt: number; readonly id: string } | undefined,
    limit: number,
  ): Promise<GroupRecord[]> {
    let query = this.db
      .selectFrom('groups')
      .selectAll()
      .where('id', 'in', (eb) =>
        eb.selectFrom('group_members').select('group_id').where('username', '=', username),
      )
    if (after !== undefined)
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '>', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '>', after.id)]),
        ]),
      )
    const rows = await query.orderBy('created_at').orderBy('id').limit(limit).execute()
    return this.withMembers(rows, await this.membersOf(rows.map((r) => r.id)))
  }

  async groupCounts(usernames: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map(usernames.map((u) => [u, 0]))
    if (usernames.length === 0) return counts
    const rows = await this.db
      .selectFrom('group_members')
      .select(['username', (eb) => eb.fn.countAll().as('n')])
      .where('username', 'in', usernames)
      .groupBy('username')
      .execute()
    for (const r of rows) counts.set(r.username, num(r.n))
    return counts
  }

  async updateGroup(
    id: string,
    expectedVersion: number,
    u: { name: string; memberList: string; members: readonly GroupMemberRecord[]; updatedAt: number },
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('groups')
        .set({
          name: u.name,
          member_list: u.memberList,
          version: expectedVersion + 1,
          updated_at: u.updatedAt,
        })
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .executeTakeFirst()
      if (r.numUpdatedRows === 0n) throw new StorageError('conflict', 'the group changed meanwhile')
      const before = await trx
        .selectFrom('group_members')
        .select(['username', 'added_at'])
        .where('group_id', '=', id)
        .execute()
      const addedAt = new Map(before.map((m) => [m.username, num(m.added_at)]))
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute()
      if (u.members.length > 0) {
        await trx
          .insertInto('group_members')
          .values(
            u.members.map((m) => ({
              group_id: id,
              username: m.username,
              role: m.role,
              added_at: addedAt.get(m.username) ?? u.updatedAt,
            })),
          )
          .execute()
      }
    })
  }

  async deleteGroup(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute()
      await trx.deleteFrom('groups').where('id', '=', id).execute()
    })
  }

  async shareGroup(a: string, b: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('group_members as ma')
      .innerJoin('group_members as mb', 'ma.group_id', 'mb.group_id')
      .select('ma.group_id')
      .where('ma.username', '=', a)
      .where('mb.username', '=', b)
      .limit(1)
      .executeTakeFirst()
    return row !== undefined
  }

  async groupPeers(username: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('group_members as ma')
      .innerJoin('group_members as mb', 'ma.group_id', 'mb.group_id')
      .select('mb.username')
      .distinct()
      .where('ma.username', '=', username)
      .where('mb.username', '!=', username)
      .execute()
    return rows.map((r) => r.username)
  }
}
