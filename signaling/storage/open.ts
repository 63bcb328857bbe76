import { closeSync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.ts'
import { SqlStorage } from './sql-storage.ts'
import type { Storage } from './storage.ts'

export interface StorageConfig {
  readonly dataDir: string
  readonly databaseUrl?: string | undefined
  /** PostgreSQL connections this node may hold open at once. */
  readonly databasePoolSize?: number | undefined
}

/** Whether a DATABASE_URL names PostgreSQL (the only server database supported). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url)
}

/**
 * Opens the configured database and applies pending migrations: PostgreSQL when `databaseUrl`
 * is set, otherwise SQLite in `dataDir/tincan.sqlite`. Several nodes may start at once against
 * one PostgreSQL database: Kysely's migrator takes a lock, so each migration runs once.
 */
export async function openStorage(config: StorageConfig): Promise<Storage> {
  const storage =
    config.databaseUrl !== undefined && config.databaseUrl !== ''
      ? openPostgres(config.databaseUrl, config.databasePoolSize ?? 10)
      : openSqlite(config.dataDir)
  try {
    await storage.migrate()
  } catch (e: unknown) {
    await storage.close().catch(() => undefined)
    throw e
  }
  return storage
}

function openSqlite(dataDir: string): SqlStorage {
  // Only the server's user may read what it keeps. SQLite gives the -wal and -shm files the
  // mode of the database file, so creating that one 0600 covers all three. Existing folders
  // and files keep the mode their operator gave them (docs/DEPLOY.md says how to tighten it).
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, 'tincan.sqlite')
  closeSync(openSync(file, 'a', 0o600))
  const sqlite = new BetterSqlite3(file)
  // Deleted rows are overwritten with zeros instead of lingering in free space; compact()
  // then empties the WAL, where the old pages are still kept until a checkpoint.
  sqlite.pragma('secure_delete = ON')
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  return new SqlStorage(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite')
}

function openPostgres(url: string, poolSize: number): SqlStorage {
  if (!isPostgresUrl(url)) throw new Error('DATABASE_URL must start with postgres:// or postgresql://')
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A query that cannot get a connection soon fails (503) instead of piling up behind a dead server.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  })
  // An idle connection that the server drops (restart, failover) must not crash the node:
  // the pool replaces it, and queries in flight fail as StorageError('unavailable').
  pool.on('error', () => undefined)
  return new SqlStorage(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres')
}
