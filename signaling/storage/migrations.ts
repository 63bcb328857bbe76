import { type Kysely, type Migration, type MigrationProvider } from 'kysely'

/**
 * Migrations in code, applied in name order at start. Add new ones at the end with the next
 * number; never edit one that has shipped.
 */
const migrations: Record<string, Migration> = {
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
}

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
}
