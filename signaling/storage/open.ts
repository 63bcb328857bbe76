import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import type { Database } from './schema.ts'
import { SqlStorage } from './sql-storage.ts'
import type { Storage } from './storage.ts'

export interface StorageConfig {
  readonly dataDir: string
  readonly databaseUrl?: string | undefined
}

/** Opens the configured database and applies pending migrations. */
export async function openStorage(config: StorageConfig): Promise<Storage> {
  if (config.databaseUrl !== undefined && config.databaseUrl !== '') {
    throw new Error('DATABASE_URL (PostgreSQL) is not supported by this build; unset it to use SQLite')
  }
  mkdirSync(config.dataDir, { recursive: true })
  const sqlite = new BetterSqlite3(join(config.dataDir, 'tincan.sqlite'))
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const storage = new SqlStorage(
    new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }),
    'sqlite',
  )
  await storage.migrate()
  return storage
}
