import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import { lookAlikeKey } from '../look-alike.ts'

/**
 * Columns that hold usernames or ids and are compared, range-searched or sorted. On PostgreSQL
 * they get the "C" collation, so that ordering and prefix search compare bytes as SQLite does,
 * whatever locale the database was created with (en_US would sort "al_b" before "al-x" and
 * break the `>= prefix AND < prefix || U+FFFF` range of user search).
 */
const keyColumns: readonly (readonly [string, string])[] = [
  ['users', 'username'],
  ['sessions', 'username'],
  ['friend_requests', 'from_user'],
  ['friend_requests', 'to_user'],
  ['friendships', 'username'],
  ['friendships', 'friend'],
  ['blocks', 'blocker'],
  ['blocks', 'blocked'],
  ['groups', 'id'],
  ['group_members', 'group_id'],
  ['group_members', 'username'],
]

/**
 * Migrations in code, applied in name order at start. Add new ones at the end with the next
 * number; never edit one that has shipped. The same list runs on SQLite and PostgreSQL; a step
 * that only one engine needs is a no-op on the other, so both record the same history.
 */
function migrationsFor(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  return {
    '0001-initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('meta')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute()
        await db.schema
          .createTable('users')
          .addColumn('username', 'text', (c) => c.primaryKey())
          .addColumn('salt', 'text', (c) => c.notNull())
          .addColumn('kdf_ops', 'integer', (c) => c.notNull())
          .addColumn('kdf_mem', 'bigint', (c) => c.notNull())
          .addColumn('auth_salt', 'text', (c) => c.notNull())
          .addColumn('auth_hash', 'text', (c) => c.notNull())
          .addColumn('identity_key', 'text', (c) => c.notNull())
          .addColumn('key_bundle', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute()
        await db.schema
          .createTable('sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('user_agent', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute()
        await db.schema.createIndex('sessions_by_user').on('sessions').column('username').execute()
        await db.schema
          .createTable('friend_requests')
          .addColumn('from_user', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('to_user', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('note', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('friend_requests_pk', ['from_user', 'to_user'])
          .execute()
        await db.schema.createIndex('friend_requests_to').on('friend_requests').column('to_user').execute()
        await db.schema
          .createTable('friendships')
          .addColumn('username', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('friend', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('friendships_pk', ['username', 'friend'])
          .execute()
        await db.schema
          .createTable('blocks')
          .addColumn('blocker', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('blocked', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('blocks_pk', ['blocker', 'blocked'])
          .execute()
        await db.schema
          .createTable('groups')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('member_list', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute()
        await db.schema
          .createTable('group_members')
          .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
          .addColumn('username', 'text', (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('added_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'username'])
          .execute()
        await db.schema.createIndex('group_members_by_user').on('group_members').column('username').execute()
      },
    },
    '0002-byte-order-keys': {
      async up(db: Kysely<unknown>) {
        // SQLite's TEXT already compares bytes (BINARY).
        if (dialect !== 'postgres') return
        for (const [table, column] of keyColumns)
          await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} type text collate "C"`.execute(
            db,
          )
      },
    },
    '0003-blocks-by-blocked': {
      async up(db: Kysely<unknown>) {
        // Presence asks "who blocked this user" on every connect: by the second key column.
        await db.schema.createIndex('blocks_by_blocked').on('blocks').column('blocked').execute()
      },
    },
    '0004-username-skeletons': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('users')
          .addColumn('skeleton', 'text', (c) => c.notNull().defaultTo(''))
          .execute()
        const { rows } = await sql<{ username: string }>`select username from users`.execute(db)
        for (const { username } of rows)
          await sql`update users set skeleton = ${lookAlikeKey(username)} where username = ${username}`.execute(
            db,
          )
        // Not unique: names registered before this check may already read alike.
        await db.schema.createIndex('users_by_skeleton').on('users').column('skeleton').execute()
      },
    },
  }
}

export function migrationProvider(dialect: 'sqlite' | 'postgres'): MigrationProvider {
  const migrations = migrationsFor(dialect)
  return { getMigrations: () => Promise.resolve(migrations) }
}
