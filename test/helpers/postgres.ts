import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** Where tests create and drop their databases: the machine's PostgreSQL, trust auth. */
export const postgresAdminUrl =
  process.env['TINCAN_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  readonly name: string
  /** DATABASE_URL for the server. */
  readonly url: string
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/**
 * A fresh, empty database `tincan_test_<random>`. It sorts text by an English ICU collation
 * when the server has ICU, as many production databases do, so that code relying on byte
 * order is caught here and not in production.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tincan_test_${randomBytes(6).toString('hex')}`
  await admin(async (c) => {
    try {
      await c.query(
        `create database ${name} template template0 locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'`,
      )
    } catch {
      await c.query(`create database ${name}`)
    }
  })
  const url = new URL(postgresAdminUrl)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () => admin(async (c) => void (await c.query(`drop database if exists ${name} with (force)`))),
  }
}
